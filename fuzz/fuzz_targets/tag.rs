//! Fuzz target: the `tag` parser's properties (`migtag::fuzz::tag`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| migtag::fuzz::tag(data));
