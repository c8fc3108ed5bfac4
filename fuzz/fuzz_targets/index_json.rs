//! Fuzz target: the `index_json` parser's properties (`migtag::fuzz::index_json`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| migtag::fuzz::index_json(data));
