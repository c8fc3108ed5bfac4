//! Quoting for everything migtag prints as a shell command.
//!
//! Inputs are validated before they reach a command line, but quoting does not rely on that:
//! every word goes through [`quote`], so no input can add shell syntax (`;`, `$(..)`,
//! backquotes, globs, newlines) to a printed command. The quoting is POSIX `sh` single
//! quoting, which bash, zsh and dash all read the same way.

/// Quotes one word for a POSIX shell. Words made only of characters that no shell treats
/// specially are left as they are, so that the common case stays readable.
pub fn quote(word: &str) -> String {
    if !word.is_empty() && word.bytes().all(is_plain) {
        return word.to_string();
    }
    // Inside single quotes nothing is special except the closing quote itself, which is
    // written as: close the quote, an escaped quote, reopen.
    let mut out = String::with_capacity(word.len() + 2);
    out.push('\'');
    for c in word.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Characters that are literal in every position of an unquoted word. `=` and `:` are safe
/// inside a word; `~` is not in the list (tilde expansion), nor `#` (a comment at the start).
fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'/' | b':' | b'=' | b'@' | b'%' | b'+' | b','
        )
}

/// A command as an argument vector and as the quoted line a user pastes into a shell.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ShellCommand {
    pub argv: Vec<String>,
    pub text: String,
}

impl ShellCommand {
    pub fn new(argv: Vec<String>) -> Self {
        let text = join(&argv);
        ShellCommand { argv, text }
    }
}

/// `kubectl`, with `-n NAMESPACE` when a namespace is known, then `rest`.
pub fn kubectl(namespace: Option<&str>, rest: &[&str]) -> ShellCommand {
    let mut argv = vec!["kubectl".to_string()];
    if let Some(ns) = namespace {
        argv.push("-n".into());
        argv.push(ns.to_string());
    }
    argv.extend(rest.iter().map(|s| s.to_string()));
    ShellCommand::new(argv)
}

/// Joins an argument vector into one command line, quoting each word.
pub fn join<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter()
        .map(|w| quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_readable() {
        assert_eq!(
            quote("coder=ghcr.io/coder/coder:v2.3.1"),
            "coder=ghcr.io/coder/coder:v2.3.1"
        );
        assert_eq!(quote("deployment/coder"), "deployment/coder");
        assert_eq!(quote("--replicas=1"), "--replicas=1");
    }

    #[test]
    fn special_words_are_single_quoted() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("~root"), "'~root'");
        assert_eq!(quote("#x"), "'#x'");
        assert_eq!(quote(r#"{"a":1}"#), r#"'{"a":1}'"#);
    }

    /// The real test: a POSIX shell reads every quoted word back as exactly the input, and
    /// runs nothing.
    #[test]
    fn hostile_words_round_trip_through_sh() {
        let hostile = [
            "$(touch /tmp/migtag-pwned)",
            "`id`",
            "a;b",
            "a && b",
            "x' ; echo pwned ; '",
            "'",
            "''",
            "\\",
            "\\'",
            "line\nbreak",
            "tab\there",
            "*",
            "?",
            "[a]",
            "$HOME",
            "${HOME}",
            "!",
            "!!",
            "a|b",
            "a>b",
            "<x",
            "~",
            "#comment",
            "-n",
            "é ü 中",
            "\"double\"",
            "{a,b}",
            "a\rb",
        ];
        let line = join(&hostile);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("for a in {line}; do printf '%s\\0' \"$a\"; done"))
            .output()
            .expect("sh runs");
        assert!(
            out.status.success(),
            "sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let words: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .split_terminator('\0')
            .map(str::to_string)
            .collect();
        assert_eq!(words, hostile);
        assert!(!std::path::Path::new("/tmp/migtag-pwned").exists());
    }
}
