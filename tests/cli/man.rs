//! `migtag man`: a roff man page generated from the clap definitions, naming every command;
//! `man -l` renders it; `--out-dir` writes the pages the release archive installs.

use clap::CommandFactory;

use crate::common::{migtag, run};

#[test]
fn man_page_is_roff_naming_every_command() {
    let (page, err, code) = run(migtag().arg("man"));
    assert_eq!(code, 0, "{err}");
    // clap_mangen's two-line quote preamble, then the title line.
    let first_macro = page
        .lines()
        .find(|l| !l.starts_with(".ie") && !l.starts_with(".el"))
        .unwrap();
    assert_eq!(first_macro.trim_end(), r#".TH migtag 1  "migtag 0.1.0""#);
    for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SUBCOMMANDS"] {
        assert!(page.contains(&format!(".SH {section}")), "{section}");
    }
    let cli = migtag::cli::Cli::command();
    let names: Vec<String> = cli
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    assert!(names.len() >= 9 && names.contains(&"man".to_string()));
    for name in &names {
        assert!(
            page.contains(&format!("migtag\\-{}(1)", name.replace('-', "\\-"))),
            "the page names {name}"
        );
    }
    assert!(
        page.contains("Exit codes:"),
        "the exit codes are in the page"
    );

    // man renders it, when man is installed.
    if std::process::Command::new("man")
        .arg("--version")
        .output()
        .is_ok()
    {
        let out = crate::common::output_with_stdin(
            std::process::Command::new("man")
                .args(["-l", "-"])
                .env("MANPAGER", "cat")
                .env("MANWIDTH", "100"),
            &page,
        );
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("migtag-patch(1)"), "{text}");
        assert!(text.contains("--offline"), "{text}");
    }
}

#[test]
fn man_out_dir_writes_a_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let (_, err, code) = run(migtag().args(["man", "--out-dir"]).arg(dir.path()));
    assert_eq!(code, 0, "{err}");
    for page in [
        "migtag.1",
        "migtag-patch.1",
        "migtag-index-update.1",
        "migtag-repair-clear-dirty.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(text.contains(".TH "), "{page}");
    }
    let patch = std::fs::read_to_string(dir.path().join("migtag-patch.1")).unwrap();
    assert!(
        patch.contains("\\-\\-emit"),
        "the patch page documents --emit"
    );
}
