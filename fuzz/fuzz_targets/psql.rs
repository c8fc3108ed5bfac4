//! Fuzz target: the `psql` parser's properties (`migtag::fuzz::psql`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| migtag::fuzz::psql(data));
