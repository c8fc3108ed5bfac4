//! Compresses the bundled data for embedding: the canonical JSON stays readable in `data/`,
//! the binary carries it deflated (the index: about 21 KB instead of 76 KB; the effects of
//! every migration, `data/coder-effects.json`, likewise).
//!
//! It also tells the integration tests which outside tools are missing (cfg flags
//! `migtag_no_*`, see [`test_tools`]), so that a test needing one shows as ignored with the
//! reason on a developer's machine, and runs (and fails) under `CI=true`.

use std::path::{Path, PathBuf};

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
    test_tools();
}

/// One cfg per outside thing the integration tests need and may lack. Under `CI=true` (or
/// `1`) none is set: CI runs every test, and a missing tool fails the test that needs it.
/// The flags: `migtag_no_coder_sql` (`../shared/reference/coder-sql.tar.gz`),
/// `migtag_no_registry` (`docker-registry`, `skopeo`, `htpasswd`), `migtag_no_promtool`,
/// `migtag_no_pg13`/`16`/`17`/`18` (`.ci/pg-matrix`). `bash .ci/test` installs them all.
fn test_tools() {
    const FLAGS: [&str; 7] = [
        "migtag_no_coder_sql",
        "migtag_no_registry",
        "migtag_no_promtool",
        "migtag_no_pg13",
        "migtag_no_pg16",
        "migtag_no_pg17",
        "migtag_no_pg18",
    ];
    for flag in FLAGS {
        println!("cargo:rustc-check-cfg=cfg({flag})");
    }
    for var in ["CI", "PATH", "MIGTAG_PG_MATRIX"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path_dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .filter(|d| d.is_absolute())
        .collect();
    if matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1")) {
        return;
    }
    // A tool installed later changes its folder's mtime: watch the folders that exist, each
    // once (`/bin` is often `/usr/bin`); a missing watched path would re-run this script, and
    // rebuild the crate, every time.
    let mut watched = std::collections::BTreeSet::new();
    for dir in path_dirs.iter().filter(|d| d.is_dir()) {
        if watched.insert(dir.canonicalize().unwrap_or_else(|_| dir.clone())) {
            println!("cargo:rerun-if-changed={}", dir.display());
        }
    }
    let on_path = |tool: &str| path_dirs.iter().any(|d| d.join(tool).is_file());

    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let tarball = manifest.join("../shared/reference/coder-sql.tar.gz");
    watch_nearest(&tarball, &manifest.join("../shared"));
    if !tarball.is_file() {
        println!("cargo:rustc-cfg=migtag_no_coder_sql");
    }
    if !["docker-registry", "skopeo", "htpasswd"]
        .iter()
        .all(|t| on_path(t))
    {
        println!("cargo:rustc-cfg=migtag_no_registry");
    }
    if !on_path("promtool") {
        println!("cargo:rustc-cfg=migtag_no_promtool");
    }
    let matrix = std::env::var_os("MIGTAG_PG_MATRIX")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/migtag-pg"));
    for major in [13, 16, 17, 18] {
        let bins = [
            matrix.join(major.to_string()).join("bin"),
            PathBuf::from(format!("/usr/lib/postgresql/{major}/bin")),
        ];
        watch_nearest(&bins[0].join("initdb"), matrix.parent().unwrap_or(&matrix));
        watch_nearest(&bins[1].join("initdb"), Path::new("/usr/lib/postgresql"));
        if !bins
            .iter()
            .any(|b| b.join("initdb").is_file() && b.join("postgres").is_file())
        {
            println!("cargo:rustc-cfg=migtag_no_pg{major}");
        }
    }
}

/// Watches `path`, or while it is missing its nearest existing parent, never above `floor`
/// nor the root (a watched folder is scanned recursively: never one as wide as the machine).
fn watch_nearest(path: &Path, floor: &Path) {
    if !path.starts_with(floor) || floor.parent().is_none() {
        return;
    }
    for candidate in path.ancestors() {
        if candidate.exists() {
            println!("cargo:rerun-if-changed={}", candidate.display());
            return;
        }
        if candidate == floor {
            return;
        }
    }
}
