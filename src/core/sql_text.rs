//! Splitting Coder's migration files into statements, the way PostgreSQL's parser sees them:
//! semicolons inside quotes, dollar-quoted bodies and comments do not end a statement.
//!
//! Used to name the statement a replayed migration failed on (from the server's error
//! position), to drop a file's own `BEGIN`/`COMMIT` so the replay can measure it inside its
//! transaction, and to show a `.down.sql` statement by statement for review.

/// One statement: its byte offset in the file and its text (trimmed, without the `;`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub offset: usize,
    pub text: String,
}

/// The statements of `sql`, in order. Comment-only pieces are dropped.
pub fn split_statements(sql: &str) -> Vec<Statement> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let push = |out: &mut Vec<Statement>, from: usize, to: usize| {
        let piece = &sql[from..to];
        if strip_comments(piece).trim().is_empty() {
            return;
        }
        let lead = piece.len() - piece.trim_start().len();
        out.push(Statement {
            offset: from + lead,
            text: piece.trim().to_string(),
        });
    };
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => {
                let q = b[i];
                i += 1;
                while i < b.len() {
                    if b[i] == q {
                        if i + 1 < b.len() && b[i + 1] == q {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'$' => match dollar_tag(&sql[i..]) {
                Some(tag) => {
                    let body = i + tag.len();
                    i = match sql[body..].find(tag) {
                        Some(end) => body + end + tag.len(),
                        None => b.len(),
                    };
                }
                None => i += 1,
            },
            b';' => {
                push(&mut out, start, i);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < b.len() {
        push(&mut out, start, b.len());
    }
    out
}

/// `$tag$` at the start of `s`, when it opens a dollar-quoted string.
fn dollar_tag(s: &str) -> Option<&str> {
    let rest = &s[1..];
    let end = rest.find('$')?;
    let tag = &rest[..end];
    let ok = tag
        .chars()
        .enumerate()
        .all(|(n, c)| c == '_' || c.is_ascii_alphabetic() || (n > 0 && c.is_ascii_digit()));
    ok.then(|| &s[..end + 2])
}

/// The text without `--` line comments and `/* */` block comments (outside quotes).
pub fn strip_comments(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.char_indices().peekable();
    let mut in_quote: Option<char> = None;
    while let Some((_, c)) = chars.next() {
        if let Some(q) = in_quote {
            out.push(c);
            if c == q {
                in_quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                in_quote = Some(c);
                out.push(c);
            }
            '-' if chars.peek().map(|(_, n)| *n) == Some('-') => {
                for (_, n) in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek().map(|(_, n)| *n) == Some('*') => {
                chars.next();
                let mut prev = ' ';
                for (_, n) in chars.by_ref() {
                    if prev == '*' && n == '/' {
                        break;
                    }
                    prev = n;
                }
                out.push(' ');
            }
            _ => out.push(c),
        }
    }
    out
}

/// The identifiers of a statement in order, repeats included: comments and string literals
/// left out, unquoted names folded to lower case as PostgreSQL folds them, quoted ones as
/// written. What the forecast matches against table names (which tables a statement reads).
pub fn identifiers(stmt: &str) -> Vec<String> {
    let text = strip_comments(stmt);
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                // A literal: skipped ('' inside is two quotes in a row, same effect).
                for n in chars.by_ref() {
                    if n == '\'' {
                        break;
                    }
                }
            }
            '"' => {
                let mut name = String::new();
                while let Some(n) = chars.next() {
                    if n == '"' {
                        if chars.peek() == Some(&'"') {
                            chars.next();
                            name.push('"');
                            continue;
                        }
                        break;
                    }
                    name.push(n);
                }
                out.push(name);
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut name = c.to_lowercase().to_string();
                while let Some(&n) = chars.peek() {
                    if n.is_alphanumeric() || n == '_' || n == '$' {
                        name.extend(n.to_lowercase());
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(name);
            }
            _ => {}
        }
    }
    out
}

/// True for a statement that only opens or ends a transaction (`BEGIN`, `COMMIT`, ...): the
/// files of Coder before v2.5.0 carry their own, golang-migrate ran them as one string.
pub fn is_transaction_control(stmt: &str) -> bool {
    let words: Vec<String> = strip_comments(stmt)
        .split_whitespace()
        .map(|w| w.trim_end_matches(';').to_ascii_uppercase())
        .collect();
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    matches!(
        w.as_slice(),
        ["BEGIN"]
            | ["BEGIN", "TRANSACTION" | "WORK"]
            | ["START", "TRANSACTION"]
            | ["COMMIT"]
            | ["COMMIT", "TRANSACTION" | "WORK"]
            | ["END"]
            | ["END", "TRANSACTION" | "WORK"]
    )
}

/// The text a fingerprint is taken of: comments removed, every run of whitespace one space,
/// trimmed, without a trailing `;`. The same statement sent by another client (reindented,
/// with or without its comments) normalises to the same text.
pub fn normalize(stmt: &str) -> String {
    let text = strip_comments(stmt);
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    joined.trim_end_matches(';').trim_end().to_string()
}

/// A statement's fingerprint: FNV-1a (64 bits) of its [`normalize`]d text, as 12 hex digits
/// (48 bits: among Coder's few thousand statements a collision is not a practical concern,
/// and the matcher also needs the order of the statements). What `index effects` records per
/// migration and what `watch` compares `pg_stat_activity.query` with (docs/watch.md); a hash
/// keeps Coder's SQL itself out of the data file.
pub fn fingerprint(stmt: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in normalize(stmt).bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:012x}", h >> 16)
}

/// The fingerprints of a migration file's statements as Coder's batch runs them: in order,
/// without the transaction control the files before v2.5.0 carry.
pub fn file_fingerprints(sql: &str) -> Vec<String> {
    split_statements(sql)
        .into_iter()
        .filter(|s| !is_transaction_control(&s.text))
        .map(|s| fingerprint(&s.text))
        .collect()
}

/// The statement that contains byte `offset` of the file (the server's error position).
pub fn statement_at(statements: &[Statement], offset: usize) -> Option<&Statement> {
    statements.iter().rev().find(|s| s.offset <= offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_the_server() {
        let sql = "BEGIN;\n-- a; comment\nCREATE FUNCTION f() RETURNS trigger AS $$\nBEGIN\n  x := 'a;b';\nEND;\n$$ LANGUAGE plpgsql;\n/* c; */ INSERT INTO t VALUES ('it''s; ok', \"we;ird\");\nCOMMIT;\n-- trailing\n";
        let s = split_statements(sql);
        let texts: Vec<&str> = s.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts.len(), 4, "{texts:#?}");
        assert_eq!(texts[0], "BEGIN");
        assert!(
            texts[1].starts_with("-- a; comment\nCREATE FUNCTION")
                && texts[1].ends_with("LANGUAGE plpgsql")
        );
        assert!(texts[2].contains("it''s; ok"));
        assert_eq!(texts[3], "COMMIT");
        assert!(is_transaction_control(texts[0]) && is_transaction_control(texts[3]));
        assert!(!is_transaction_control(texts[1]));
        assert_eq!(
            statement_at(&s, sql.find("INSERT").unwrap()).unwrap().text,
            texts[2]
        );
        let tagged = split_statements("DO $body$ BEGIN PERFORM 1; END $body$; SELECT $1");
        assert_eq!(tagged.len(), 2);
    }

    #[test]
    fn fingerprints_ignore_layout_and_comments_but_not_content() {
        let a = fingerprint(
            "-- backfill\nUPDATE api_keys SET\n    scopes = ARRAY[scope::api_key_scope];",
        );
        assert_eq!(
            a,
            fingerprint("UPDATE api_keys SET scopes = ARRAY[scope::api_key_scope]")
        );
        assert_eq!(a.len(), 12);
        assert_ne!(
            a,
            fingerprint("UPDATE api_keys SET scopes = ARRAY[scope::text]")
        );
        assert_eq!(
            file_fingerprints("BEGIN;\nCREATE TABLE a (id int);\n-- c\nDROP TABLE b;\nCOMMIT;\n"),
            vec![
                fingerprint("CREATE TABLE a (id int)"),
                fingerprint("DROP TABLE b")
            ]
        );
    }
}
