//! Fuzz target: the `image_ref` parser's properties (`migtag::fuzz::image_ref`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| migtag::fuzz::image_ref(data));
