//! Connection strings as text: a `postgres://` URL or a libpq `key=value` string becomes
//! (keyword, value) pairs, and a libpq `options` string becomes its `-c name=value` settings.
//! Pure parsing; which pairs win over the environment is `adapters::postgres::settings`.
//!
//! Errors never echo a value from the string: a malformed URL can put part of the password
//! anywhere.

use crate::error::{Error, Result};

/// Splits a connection string into (keyword, value) pairs, in order.
pub fn parse_conninfo(s: &str) -> Result<Vec<(String, String)>> {
    let trimmed = s.trim();
    if let Some(rest) = trimmed
        .strip_prefix("postgresql://")
        .or_else(|| trimmed.strip_prefix("postgres://"))
    {
        parse_url(rest)
    } else if trimmed.contains("://") {
        Err(Error::invalid_input(
            "the connection URL must start with postgres:// or postgresql://",
        ))
    } else {
        parse_key_values(trimmed)
    }
}

fn url_error(what: &str) -> Error {
    // Never echo the URL or a part of it: a malformed URL can put the password anywhere.
    Error::invalid_input(format!("the connection URL is malformed: {what}")).with_hint(
        "use postgres://USER:PASSWORD@HOST:PORT/DBNAME?sslmode=...; percent-encode special \
         characters in the password (@ as %40, / as %2F, : as %3A, ? as %3F, # as %23)",
    )
}

fn parse_url(rest: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let (before_query, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    if before_query.contains('#') || query.is_some_and(|q| q.contains('#')) {
        return Err(url_error("it contains `#` (percent-encode it as %23)"));
    }
    let (authority, path) = match before_query.find('/') {
        Some(i) => (&before_query[..i], Some(&before_query[i + 1..])),
        None => (before_query, None),
    };
    let hostspec = match authority.rfind('@') {
        Some(i) => {
            let userinfo = &authority[..i];
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                out.push(("user".into(), decode(user, "the user name")?));
            }
            if let Some(p) = password {
                out.push(("password".into(), decode(p, "the password")?));
            }
            &authority[i + 1..]
        }
        None => authority,
    };
    if !hostspec.is_empty() {
        let mut hosts = Vec::new();
        let mut ports = Vec::new();
        for part in hostspec.split(',') {
            let (host, port) = split_host_port(part)?;
            hosts.push(decode(host, "a host name")?);
            ports.push(
                port.map(|p| decode(p, "a port"))
                    .transpose()?
                    .unwrap_or_default(),
            );
        }
        out.push(("host".into(), hosts.join(",")));
        if ports.iter().any(|p| !p.is_empty()) {
            out.push(("port".into(), ports.join(",")));
        }
    }
    if let Some(db) = path.filter(|p| !p.is_empty()) {
        out.push(("dbname".into(), decode(db, "the database name")?));
    }
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(url_error("a query parameter has no `=`"));
        };
        let key = decode(k, "a query parameter name")?;
        let value = decode(v, "a query parameter value")?;
        // libpq's URI spelling of the SSL flag.
        if key == "ssl" && value == "true" {
            out.push(("sslmode".into(), "require".into()));
        } else {
            out.push((key, value));
        }
    }
    Ok(out)
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn split_host_port(part: &str) -> Result<(&str, Option<&str>)> {
    if let Some(rest) = part.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return Err(url_error("an IPv6 address lacks its closing `]`"));
        };
        let host = &rest[..end];
        let after = &rest[end + 1..];
        return match after.strip_prefix(':') {
            Some(p) => Ok((host, Some(p))),
            None if after.is_empty() => Ok((host, None)),
            None => Err(url_error("unexpected characters after an IPv6 address")),
        };
    }
    Ok(match part.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (part, None),
    })
}

fn decode(s: &str, what: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| url_error(&format!("{what} has a bad percent-escape")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| url_error(&format!("{what} is not UTF-8 after decoding")))
}

fn parse_key_values(s: &str) -> Result<Vec<(String, String)>> {
    let bad = |what: &str| {
        Error::invalid_input(format!("the connection string is malformed: {what}")).with_hint(
            "use key=value pairs separated by spaces, such as `host=db port=5432 dbname=coder \
             user=coder`; quote values with spaces as 'like this'",
        )
    };
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(bad("a keyword is not followed by `=`"));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => value.push(
                        chars
                            .next()
                            .ok_or_else(|| bad("unterminated quoted value"))?,
                    ),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => return Err(bad("unterminated quoted value")),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        value.push(n);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
    Ok(out)
}

/// A PostgreSQL setting name: letters, digits, `_` and `.` (for extension settings).
pub fn is_parameter_name(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
}

/// The settings of a libpq `options` string (`-c name=value`, `-cname=value`,
/// `--name=value`), for a server that refuses the `options` startup parameter (a pooler),
/// where migtag must set them itself. Other server switches cannot be set that way: an error.
pub fn option_settings(options: &str) -> Result<Vec<(String, String)>> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut chars = options.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            c if c.is_whitespace() => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    let unsupported = || {
        Error::database(
            "the `options` of the connection string hold a server switch other than `-c name=value`, \
             and the server (a connection pooler) refuses the options startup parameter, so migtag cannot apply it",
        )
        .with_hint("write each setting as -c name=value, or connect to PostgreSQL directly")
    };
    let mut out = Vec::new();
    let mut tokens = tokens.into_iter();
    while let Some(t) = tokens.next() {
        let setting = if t == "-c" {
            tokens.next().ok_or_else(unsupported)?
        } else if let Some(rest) = t.strip_prefix("--") {
            match rest.split_once('=') {
                Some((k, v)) => format!("{}={v}", k.replace('-', "_")),
                None => return Err(unsupported()),
            }
        } else if let Some(rest) = t.strip_prefix("-c") {
            rest.to_string()
        } else {
            return Err(unsupported());
        };
        match setting.split_once('=') {
            Some((k, v)) if is_parameter_name(k) => out.push((k.to_string(), v.to_string())),
            _ => return Err(unsupported()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_settings_reads_the_c_switches_and_refuses_others() {
        assert_eq!(
            option_settings("-c search_path=coder\\,\\ public  -cwork_mem=4MB --lock-timeout=1s")
                .unwrap(),
            vec![
                ("search_path".to_string(), "coder, public".to_string()),
                ("work_mem".to_string(), "4MB".to_string()),
                ("lock_timeout".to_string(), "1s".to_string()),
            ]
        );
        assert_eq!(option_settings("  ").unwrap(), vec![]);
        for bad in ["-e", "-c", "-c novalue", "-c a-b=1", "search_path=x", "--x"] {
            assert!(option_settings(bad).is_err(), "{bad:?}");
        }
    }
}
