//! Shared test harness: the real binary, a clean environment, fixture paths.

use std::path::PathBuf;

use assert_cmd::Command;

/// The `migtag` binary with a cleared environment: only PATH (for kubectl, git, psql) and a
/// HOME/XDG cache inside a fresh temporary folder, so no user config or cache leaks in.
pub fn migtag() -> Command {
    let mut cmd = Command::cargo_bin("migtag").expect("the migtag binary is built");
    cmd.env_clear();
    cmd.env("PATH", std::env::var_os("PATH").unwrap_or_default());
    let home = scratch_home();
    cmd.env("HOME", &home);
    cmd.env("XDG_CACHE_HOME", home.join(".cache"));
    // A fixed "now", so that the index's age (in every JSON report) and the stale-index
    // warning do not change the snapshots from one day to the next.
    cmd.env("MIGTAG_NOW", TEST_NOW);
    cmd
}

/// The time every test run of migtag answers at (`MIGTAG_NOW`).
pub const TEST_NOW: &str = "2026-11-30T00:00:00Z";

/// A per-process scratch HOME that is never the user's.
pub fn scratch_home() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("migtag-test-home-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    dir
}

/// A file under `fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// Runs and returns (stdout, stderr, exit code).
pub fn run(cmd: &mut Command) -> (String, String, i32) {
    let out = cmd.output().expect("migtag runs");
    (
        String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        String::from_utf8(out.stderr).expect("stderr is UTF-8"),
        out.status
            .code()
            .expect("migtag exits with a code, not a signal"),
    )
}
