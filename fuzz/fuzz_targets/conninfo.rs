//! Fuzz target: the `conninfo` parser's properties (`migtag::fuzz::conninfo`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| migtag::fuzz::conninfo(data));
