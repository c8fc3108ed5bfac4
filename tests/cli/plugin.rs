//! `kubectl migtag`: the same binary, found by kubectl's plugin lookup as `kubectl-migtag` on
//! PATH (here a symlink to the test binary, as the README documents), run by the real kubectl.

use std::path::Path;
use std::process::Command;

use crate::common::scratch_home;

/// A PATH whose first folder holds only the `kubectl-migtag` symlink.
fn plugin_path(dir: &Path) -> std::ffi::OsString {
    let bin = assert_cmd::cargo::cargo_bin("migtag");
    std::os::unix::fs::symlink(&bin, dir.join("kubectl-migtag")).unwrap();
    let mut paths = vec![dir.to_path_buf()];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).unwrap()
}

fn kubectl(path: &std::ffi::OsStr, args: &[&str]) -> (String, String, i32) {
    let home = scratch_home();
    let out = Command::new("kubectl")
        .args(args)
        .env_clear()
        .env("PATH", path)
        .env("HOME", &home)
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .output()
        .expect("kubectl runs");
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.code().unwrap(),
    )
}

#[test]
fn kubectl_finds_and_runs_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let path = plugin_path(dir.path());

    let (out, err, code) = kubectl(&path, &["plugin", "list"]);
    assert_eq!(code, 0, "{err}");
    let link = dir.path().join("kubectl-migtag");
    assert!(
        out.lines().any(|l| l.trim() == link.display().to_string()),
        "kubectl plugin list: {out}{err}"
    );

    let (out, err, code) = kubectl(&path, &["migtag", "check", "--version", "165"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("exact: run ghcr.io/coder/coder:v2.3.1"),
        "{out}"
    );
    // kubectl hands the exit code through: a dirty database is still 4.
    let (_, _, code) = kubectl(&path, &["migtag", "check", "--version", "165", "--dirty"]);
    assert_eq!(code, 4);

    // Usage and help name the command as it was typed.
    let (out, _, code) = kubectl(&path, &["migtag", "--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("Usage: kubectl migtag [OPTIONS] <COMMAND>"),
        "{out}"
    );
    let (out, err, code) = kubectl(&path, &["migtag", "check", "--bogus", "--format", "json"]);
    assert_eq!(code, 2);
    assert!(err.contains("Usage: kubectl migtag check"), "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["error"]["hint"], "run `kubectl migtag --help`");
}
