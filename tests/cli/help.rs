//! `--help` snapshots of every command, and clap's own consistency check.

use clap::CommandFactory;

use crate::common::{migtag, run};

#[test]
fn clap_definition_is_consistent() {
    migtag::cli::Cli::command().debug_assert();
}

#[test]
fn help_snapshots() {
    let cmd = migtag::cli::Cli::command();
    let mut paths: Vec<Vec<String>> = vec![vec![]];
    for sub in cmd.get_subcommands() {
        paths.push(vec![sub.get_name().to_string()]);
        for subsub in sub.get_subcommands() {
            paths.push(vec![
                sub.get_name().to_string(),
                subsub.get_name().to_string(),
            ]);
        }
    }
    for path in paths {
        let mut args = path.clone();
        args.push("--help".into());
        let (out, err, code) = run(migtag().env("COLUMNS", "100").args(&args));
        assert_eq!(code, 0, "{args:?}: {err}");
        let name = if path.is_empty() {
            "migtag".to_string()
        } else {
            format!("migtag_{}", path.join("_"))
        };
        insta::assert_snapshot!(format!("help_{name}"), out);
    }
}

#[test]
fn help_documents_every_exit_code() {
    let (out, _, _) = run(migtag().arg("--help"));
    for code in ["0 ", "1 ", "2 ", "3 ", "4 ", "5 ", "10 ", "11 ", "12 "] {
        assert!(
            out.contains(&format!("\n  {code}")),
            "exit code {code}missing from --help"
        );
    }
}

#[test]
fn completions_are_generated_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (out, err, code) = run(migtag().args(["completions", shell]));
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(out.contains("migtag") && out.contains("check"), "{shell}");
    }
    let (_, _, code) = run(migtag().args(["completions", "tcsh"]));
    assert_eq!(code, 2);
}
