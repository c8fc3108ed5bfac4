//! Kubernetes object names (DNS-1123), checked before they reach a patch or a command line.
//!
//! Deployment names are DNS-1123 subdomains; namespaces and container names are DNS-1123
//! labels. The rules are Kubernetes' own (`k8s.io/apimachinery/pkg/util/validation`).

use crate::error::{Error, Result};

const LABEL_MAX: usize = 63;
const SUBDOMAIN_MAX: usize = 253;

/// Checks a DNS-1123 label: at most 63 characters, lowercase letters, digits and `-`,
/// starting and ending with a letter or digit. `what` names the flag or field.
pub fn check_label(what: &str, name: &str) -> Result<()> {
    label_problem(name, LABEL_MAX)
        .map_or(Ok(()), |p| Err(invalid(what, name, "a DNS-1123 label", &p)))
}

/// Checks a DNS-1123 subdomain: at most 253 characters, dot-separated labels.
pub fn check_subdomain(what: &str, name: &str) -> Result<()> {
    let problem = if name.is_empty() {
        Some("it is empty".to_string())
    } else if name.len() > SUBDOMAIN_MAX {
        Some(format!(
            "it is {} characters long, the limit is {SUBDOMAIN_MAX}",
            name.len()
        ))
    } else {
        name.split('.').find_map(|part| {
            label_problem(part, SUBDOMAIN_MAX).map(|p| {
                if part.is_empty() {
                    "it has an empty part between dots (or a dot at an end)".to_string()
                } else {
                    format!("part `{}`: {p}", printable(part))
                }
            })
        })
    };
    problem.map_or(Ok(()), |p| {
        Err(invalid(what, name, "a DNS-1123 subdomain", &p))
    })
}

fn label_problem(name: &str, max: usize) -> Option<String> {
    if name.is_empty() {
        return Some("it is empty".into());
    }
    if name.len() > max {
        return Some(format!(
            "it is {} characters long, the limit is {max}",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Some(format!(
            "character {} is not allowed (only lowercase letters, digits and `-`)",
            describe_char(c)
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Some("it must start and end with a letter or digit".into());
    }
    None
}

fn invalid(what: &str, name: &str, kind: &str, problem: &str) -> Error {
    Error::invalid_input(format!(
        "{what} `{}` is not {kind}: {problem}",
        printable(name)
    ))
    .with_hint(
        "Kubernetes names use lowercase letters, digits and `-` (and `.` in Deployment names)",
    )
}

/// A character as a user can read it in a message, even a control character.
pub fn describe_char(c: char) -> String {
    if c.is_control() || c.is_whitespace() {
        format!("{:?}", c)
    } else {
        format!("`{c}`")
    }
}

/// The input with control characters escaped, so that a message never carries raw escape
/// sequences or line breaks from user input.
pub fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_names_pass() {
        check_label("--namespace", "coder").unwrap();
        check_label("--container", "coder-2").unwrap();
        check_label("--namespace", &"a".repeat(63)).unwrap();
        check_subdomain("--deployment", "coder").unwrap();
        check_subdomain("--deployment", "coder.v2-prod").unwrap();
    }

    #[test]
    fn bad_names_say_what_is_wrong() {
        let e = check_label("--namespace", "Coder").unwrap_err();
        assert!(e.message().contains("`C` is not allowed"), "{e}");
        let e = check_label("--container", "coder;rm -rf /").unwrap_err();
        assert!(e.message().contains("`;`"), "{e}");
        let e = check_label("--namespace", "-coder").unwrap_err();
        assert!(e.message().contains("start and end"), "{e}");
        let e = check_label("--namespace", &"a".repeat(64)).unwrap_err();
        assert!(e.message().contains("64 characters"), "{e}");
        let e = check_label("--namespace", "a.b").unwrap_err();
        assert!(e.message().contains("`.`"), "{e}");
        let e = check_subdomain("--deployment", "coder..x").unwrap_err();
        assert!(e.message().contains("empty part"), "{e}");
        let e = check_subdomain("--deployment", "coder.-x").unwrap_err();
        assert!(e.message().contains("part `-x`"), "{e}");
        let e = check_subdomain("--deployment", "").unwrap_err();
        assert!(e.message().contains("empty"), "{e}");
        let e = check_label("--namespace", "a\nb").unwrap_err();
        assert!(
            e.message().contains("a\\nb") && !e.message().contains('\n'),
            "{e}"
        );
        assert_eq!(e.exit_code(), crate::error::ExitCode::InvalidInput);
    }
}
