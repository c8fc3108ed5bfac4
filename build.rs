//! Compresses the bundled data for embedding: the canonical JSON stays readable in `data/`,
//! the binary carries it deflated (the index: about 21 KB instead of 76 KB; the effects of
//! every migration, `data/coder-effects.json`, likewise).

use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for name in ["coder-index.json", "coder-effects.json"] {
        let source = format!("data/{name}");
        println!("cargo:rerun-if-changed={source}");
        let json = std::fs::read(&source)
            .unwrap_or_else(|e| panic!("{source} is part of the repository: {e}"));
        let packed = miniz_oxide::deflate::compress_to_vec(&json, 10);
        std::fs::write(out.join(format!("{name}.deflate")), packed).expect("OUT_DIR is writable");
    }
}
