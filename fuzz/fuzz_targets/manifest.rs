//! Fuzz target: the `manifest` parser's properties (`migtag::fuzz::manifest`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| migtag::fuzz::manifest(data));
