//! Compresses the bundled index for embedding: the canonical JSON stays readable in `data/`,
//! the binary carries it deflated (about 21 KB instead of 76 KB).

use std::path::PathBuf;

fn main() {
    let source = "data/coder-index.json";
    println!("cargo:rerun-if-changed={source}");
    let json = std::fs::read(source).expect("data/coder-index.json is part of the repository");
    let packed = miniz_oxide::deflate::compress_to_vec(&json, 10);
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("coder-index.json.deflate"), packed).expect("OUT_DIR is writable");
}
