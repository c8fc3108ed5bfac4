//! Parser for what psql prints for `SELECT * FROM schema_migrations;`, pasted by a user.
//!
//! Accepted: aligned (the default), expanded (`\x`, aligned or unaligned), unaligned (`-A`,
//! with or without headers), and CSV (`--csv`), with or without the echoed prompt line, the
//! `(N rows)` footer and `Time:` lines.
//!
//! No row means a fresh database only when the paste says so: `(0 rows)`, which aligned,
//! unaligned and expanded output print for an empty result, or a CSV header alone (CSV never
//! has a footer). A header with neither is ambiguous (a paste cut off after its first lines)
//! and refused. With `-t` (tuples only) an empty result prints nothing at all, which is
//! refused as empty input. A row without a footer is accepted: golang-migrate keeps one row. `ERROR: relation "schema_migrations" does not exist`
//! means a fresh database, as it does for Coder. Anything else is refused with a message that
//! shows what was expected: a wrong guess here would recommend a wrong image.

use crate::core::migration_set::Version;
use crate::core::state::DbState;
use crate::error::{Error, Result};

const EXPECTED: &str =
    "expected the output of `SELECT * FROM schema_migrations;` as psql prints it, for example:\n\
     \x20version | dirty\n\
     ---------+-------\n\
     \x20    168 | f\n\
     (1 row)\n\
     (also accepted: expanded `\\x`, unaligned `-A`, `--csv`, and `(0 rows)`)";

fn invalid(what: impl std::fmt::Display) -> Error {
    Error::invalid_input(format!("psql output: {what}")).with_hint(EXPECTED)
}

/// What a paste said about the table's absence: right for a fresh database, but also what
/// psql prints when it looked in the wrong schema or database.
pub const MISSING_TABLE_NOTE: &str = "psql found no schema_migrations table, read here as a fresh database; \
     if Coder's URL carries search_path=SCHEMA (psql ignores it), run `SET search_path TO SCHEMA;` first and paste again, \
     and check that psql was connected to Coder's database";

/// Parses pasted psql output into the database state.
pub fn parse(text: &str) -> Result<DbState> {
    parse_with_notes(text).map(|(state, _)| state)
}

/// Parses pasted psql output, with notes on how it was read that the user should see.
pub fn parse_with_notes(text: &str) -> Result<(DbState, Vec<String>)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim_end_matches('\r').trim())
        .filter(|l| !l.is_empty() && !is_noise(l))
        .collect();

    if lines.iter().any(|l| is_missing_table_error(l)) {
        return Ok((DbState::Fresh, vec![MISSING_TABLE_NOTE.to_string()]));
    }
    if let Some(err) = lines.iter().find(|l| l.starts_with("ERROR:")) {
        return Err(invalid(format!(
            "psql reported an error, not the table: `{err}`"
        )));
    }
    if lines.is_empty() {
        let prompt_only = text
            .lines()
            .map(|l| l.trim_end_matches('\r').trim())
            .any(|l| !l.is_empty());
        return Err(invalid(if prompt_only {
            "the paste holds only psql's prompt and banner lines (such as `coder=> SELECT * FROM schema_migrations;`), not the result: paste the lines psql printed below the query too"
        } else {
            "the input is empty"
        }));
    }

    let (footer, body): (Vec<&str>, Vec<&str>) =
        lines.iter().partition(|l| parse_footer(l).is_some());
    let footer_rows = footer.last().and_then(|l| parse_footer(l));

    let (rows, can_carry_footer) =
        if body.iter().any(|l| l.starts_with("-[ RECORD")) || looks_expanded(&body) {
            (parse_expanded(&body)?, true)
        } else {
            let csv = !body.iter().any(|l| l.contains('|'));
            (parse_table(&body)?, !csv)
        };

    // No row is only an answer when psql said so (`(0 rows)`), or when the form cannot say
    // so (CSV has no footer). A header alone is what a paste cut off after it looks like.
    if rows.is_empty() && footer_rows.is_none() && can_carry_footer {
        return Err(invalid(
            "a header but no row and no `(0 rows)` footer: the paste may have been cut off; \
             paste the whole output, down to the `(N rows)` line",
        ));
    }

    if let Some(n) = footer_rows {
        if n != rows.len() {
            return Err(invalid(format!(
                "the footer says {n} row{} but {} could be read (was the paste cut?)",
                if n == 1 { "" } else { "s" },
                rows.len()
            )));
        }
    }
    match rows.as_slice() {
        [] => Ok((DbState::Fresh, Vec::new())),
        [(version, dirty)] => Ok((DbState::from_row(*version, *dirty), Vec::new())),
        more => Err(Error::invalid_input(format!(
            "psql output: schema_migrations has {} rows; golang-migrate keeps at most one, so this table is not golang-migrate's or was edited by hand",
            more.len()
        ))),
    }
}

/// Lines psql or the terminal add around the result.
fn is_noise(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    lower.starts_with("select ")
        || lower.starts_with("time:")
        || lower.starts_with("expanded display is")
        || lower.starts_with("psql (")
        || lower.starts_with("type \"help\"")
        || lower.starts_with("ssl connection")
        || lower.starts_with("you are now connected")
        || is_prompt(line)
}

/// `coder=# SELECT ...` or `coder=> ...`: an echoed prompt.
fn is_prompt(line: &str) -> bool {
    let Some(pos) = line.find("=#").or_else(|| line.find("=>")) else {
        return false;
    };
    let db = &line[..pos];
    !db.is_empty()
        && db
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '['))
}

fn is_missing_table_error(line: &str) -> bool {
    line.starts_with("ERROR:") && line.contains("schema_migrations\" does not exist")
}

/// `(1 row)` / `(0 rows)`.
fn parse_footer(line: &str) -> Option<usize> {
    let inner = line.strip_prefix('(')?.strip_suffix(')')?;
    let (n, word) = inner.split_once(' ')?;
    matches!(word, "row" | "rows").then(|| n.parse().ok())?
}

fn looks_expanded(body: &[&str]) -> bool {
    !body.is_empty()
        && body.iter().all(|l| {
            l.split_once('|')
                .is_some_and(|(k, v)| matches!(k.trim(), "version" | "dirty") && !v.contains('|'))
        })
        && body.iter().any(|l| {
            l.split_once('|')
                .is_some_and(|(k, _)| k.trim() == "version")
        })
        && !body.iter().any(|l| {
            let parts: Vec<&str> = l.split('|').map(str::trim).collect();
            parts == ["version", "dirty"]
        })
}

fn parse_expanded(body: &[&str]) -> Result<Vec<(Version, bool)>> {
    let mut rows = Vec::new();
    let mut version: Option<Version> = None;
    let mut dirty: Option<bool> = None;
    let mut flush = |version: &mut Option<Version>, dirty: &mut Option<bool>| -> Result<()> {
        match (version.take(), dirty.take()) {
            (None, None) => Ok(()),
            (Some(v), Some(d)) => {
                rows.push((v, d));
                Ok(())
            }
            _ => Err(invalid("a record lacks its version or its dirty field")),
        }
    };
    for line in body {
        if line.starts_with("-[ RECORD") {
            flush(&mut version, &mut dirty)?;
            continue;
        }
        let Some((key, value)) = line.split_once('|') else {
            return Err(invalid(format!(
                "unexpected line in expanded output: `{line}`"
            )));
        };
        match key.trim() {
            "version" => {
                if version.is_some() {
                    flush(&mut version, &mut dirty)?;
                }
                version = Some(parse_version(value.trim())?);
            }
            "dirty" => dirty = Some(parse_bool(value.trim())?),
            other => {
                return Err(Error::invalid_input(format!(
                    "psql output: column `{other}` is not part of golang-migrate's schema_migrations (version, dirty)"
                )))
            }
        }
    }
    flush(&mut version, &mut dirty)?;
    Ok(rows)
}

/// Aligned, unaligned or CSV: a header naming the columns (or none, with `-t`), then rows.
fn parse_table(body: &[&str]) -> Result<Vec<(Version, bool)>> {
    let sep = if body.iter().any(|l| l.contains('|')) {
        '|'
    } else {
        ','
    };
    let split = |l: &str| -> Vec<String> {
        l.split(sep)
            .map(|c| c.trim().trim_matches('"').to_string())
            .collect()
    };
    let mut lines = body.iter().copied().peekable();
    let first = split(lines.peek().copied().unwrap_or_default());
    let (version_col, dirty_col) = if first.iter().any(|c| c == "version" || c == "dirty") {
        lines.next();
        let find = |name: &str| first.iter().position(|c| c == name);
        let extra: Vec<&String> = first
            .iter()
            .filter(|c| *c != "version" && *c != "dirty")
            .collect();
        if let Some(col) = extra.first() {
            return Err(Error::invalid_input(format!(
                "psql output: column `{col}` is not part of golang-migrate's schema_migrations (version, dirty)"
            )));
        }
        let once = |name: &str| first.iter().filter(|c| *c == name).count() == 1;
        if first.len() != 2 || !once("version") || !once("dirty") {
            return Err(invalid(
                "the header must name the two columns once each: version and dirty",
            ));
        }
        match (find("version"), find("dirty")) {
            (Some(v), Some(d)) => (v, d),
            _ => {
                return Err(invalid(
                    "the header must name both columns, version and dirty",
                ))
            }
        }
    } else {
        (0, 1)
    };
    let mut rows = Vec::new();
    for line in lines {
        if is_rule(line) {
            continue;
        }
        let cols = split(line);
        if cols.len() != 2 {
            return Err(invalid(format!(
                "expected two columns (version, dirty) in `{line}`"
            )));
        }
        rows.push((
            parse_version(&cols[version_col])?,
            parse_bool(&cols[dirty_col])?,
        ));
    }
    Ok(rows)
}

/// `---------+-------`
fn is_rule(line: &str) -> bool {
    line.chars().all(|c| matches!(c, '-' | '+' | ' ')) && line.contains('-')
}

fn parse_version(text: &str) -> Result<Version> {
    if let Some(rest) = text.strip_prefix('-') {
        if rest.parse::<u64>().is_ok() {
            return Err(Error::invalid_input(format!(
                "psql output: version {text} is negative; golang-migrate records only migration numbers, so this row is not golang-migrate's (or was edited by hand)"
            )));
        }
    }
    text.parse()
        .map_err(|_| invalid(format!("`{text}` is not a migration version number")))
}

fn parse_bool(text: &str) -> Result<bool> {
    match text {
        "t" | "true" | "TRUE" | "True" => Ok(true),
        "f" | "false" | "FALSE" | "False" => Ok(false),
        other => Err(invalid(format!(
            "`{other}` is not a boolean (psql prints t or f)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the psql fuzz target: a header naming a column twice made the row index
    /// point past the two values of a row (index out of bounds).
    #[test]
    fn a_header_must_name_each_column_once() {
        for text in [
            "version,version,dirty\n169,t\n8,t\n",
            " version | dirty | dirty\n---------+-------+------\n 1 | t\n",
            "version|version\n1|t\n(1 row)\n",
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(
                e.exit_code(),
                crate::error::ExitCode::InvalidInput,
                "{text:?}"
            );
        }
    }

    fn ok(text: &str) -> DbState {
        parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn reads_every_psql_output_form() {
        let cases: &[(&str, DbState)] = &[
            (" version | dirty \n---------+-------\n     168 | t\n(1 row)\n", DbState::Dirty(168)),
            ("coder=# SELECT * FROM schema_migrations;\n version | dirty\n---------+-------\n     165 | f\n(1 row)\n\n", DbState::Clean(165)),
            (" version | dirty \n---------+-------\n(0 rows)\n", DbState::Fresh),
            ("-[ RECORD 1 ]\nversion | 412\ndirty   | f\n", DbState::Clean(412)),
            ("Expanded display is on.\n-[ RECORD 1 ]--\nversion | 59\ndirty   | t\n\nTime: 0.412 ms\n", DbState::Dirty(59)),
            ("(0 rows)\n", DbState::Fresh),
            ("version|dirty\n316|f\n(1 row)\n", DbState::Clean(316)),
            ("316|f\n", DbState::Clean(316)),
            ("version|316\ndirty|f\n", DbState::Clean(316)),
            ("version,dirty\n168,t\n", DbState::Dirty(168)),
            ("version,dirty\n", DbState::Fresh),
            (" dirty | version\n-------+---------\n f     |     100\n(1 row)\n", DbState::Clean(100)),
            ("ERROR:  relation \"schema_migrations\" does not exist\nLINE 1: SELECT * FROM schema_migrations;\n", DbState::Fresh),
            ("\u{feff}version,dirty\n42,f\n", DbState::Clean(42)),
            ("\r\n version | dirty \r\n---------+-------\r\n     7 | false\r\n(1 row)\r\n", DbState::Clean(7)),
        ];
        for (text, expected) in cases {
            assert_eq!(&ok(text), expected, "{text:?}");
        }
    }

    #[test]
    fn refuses_what_is_not_schema_migrations() {
        let cases = [
            ("", "empty"),
            ("hello world\n", "two columns"),
            (
                " version | dirty\n---------+-------\n 1 | f\n 2 | f\n(2 rows)\n",
                "2 rows",
            ),
            (
                " version | dirty\n---------+-------\n -1 | t\n(1 row)\n",
                "negative",
            ),
            (
                " version | dirty | extra\n---+---+---\n 1 | f | x\n",
                "column `extra`",
            ),
            (
                " version | dirty\n---------+-------\n abc | f\n(1 row)\n",
                "not a migration version",
            ),
            (
                " version | dirty\n---------+-------\n 5 | maybe\n(1 row)\n",
                "not a boolean",
            ),
            (
                " version | dirty\n---------+-------\n(1 row)\n",
                "footer says 1 row",
            ),
            (
                "ERROR:  permission denied for table schema_migrations\n",
                "psql reported an error",
            ),
            ("-[ RECORD 1 ]\nversion | 3\n", "lacks"),
        ];
        for (text, expected) in cases {
            let err = parse(text).expect_err(expected);
            assert!(
                err.to_string().contains(expected),
                "{text:?}: expected `{expected}` in `{err}`"
            );
            assert_eq!(err.exit_code(), crate::error::ExitCode::InvalidInput);
        }
    }
}
