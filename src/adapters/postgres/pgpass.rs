//! The libpq password file (`~/.pgpass`, `PGPASSFILE`, `passfile=`):
//! `hostname:port:database:username:password` lines, `*` matching anything, `\:` and `\\`
//! escaping, `#` starting a comment. Like libpq, a file that group or others may read is
//! ignored (with a note), and `localhost` matches a connection through the default socket
//! folder.

use std::path::Path;

use crate::error::{Error, Result};

use super::settings::{Host, Secret};

/// The socket folder libpq on Debian/Ubuntu uses by default (matched by `localhost`).
const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

#[derive(Debug)]
pub enum Lookup {
    Found(Secret),
    NotFound,
    /// The file exists but libpq would not read it; the text says why.
    Ignored(String),
}

pub fn lookup(file: &Path, host: &Host, port: u16, dbname: &str, user: &str) -> Result<Lookup> {
    let meta = match std::fs::metadata(file) {
        Ok(m) => m,
        Err(_) => return Ok(Lookup::NotFound),
    };
    if !meta.is_file() {
        return Ok(Lookup::Ignored(format!(
            "password file {} is not a plain file; ignored",
            file.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            return Ok(Lookup::Ignored(format!(
                "password file {} has group or world access and is ignored, as libpq does (chmod 0600 it)",
                file.display()
            )));
        }
    }
    let text = crate::adapters::bounded::read_path(file, crate::adapters::bounded::PASSFILE)
        .map_err(|f| {
            f.or_io(|e| {
                Error::database(format!(
                    "cannot read the password file {}: {}",
                    file.display(),
                    e.kind()
                ))
            })
        })?;
    let host_name = match host {
        Host::Tcp(h) => h.clone(),
        Host::Unix(p) if p.as_os_str() == DEFAULT_SOCKET_DIR => "localhost".to_string(),
        Host::Unix(p) => p.display().to_string(),
    };
    let port = port.to_string();
    Ok(
        find(&text, [host_name.as_str(), port.as_str(), dbname, user])
            .map(Lookup::Found)
            .unwrap_or(Lookup::NotFound),
    )
}

/// The password of the first line whose four fields match.
pub fn find(text: &str, wanted: [&str; 4]) -> Option<Secret> {
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_fields(line);
        if fields.len() < 5 {
            continue;
        }
        let matches = fields[..4]
            .iter()
            .zip(wanted)
            .all(|(f, w)| f == "*" || f == w);
        if matches {
            return Some(Secret::new(fields[4..].join(":")));
        }
    }
    None
}

fn split_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    fields.last_mut().expect("one field").push(n);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_line_wins_with_wildcards_and_escapes() {
        let text = "# comment\n\
                    other:5432:*:*:nope\n\
                    db.example:5432:coder:coder:pa\\:ss\\\\w:rd\n\
                    *:*:*:coder:fallback\n";
        assert_eq!(
            find(text, ["db.example", "5432", "coder", "coder"])
                .unwrap()
                .expose(),
            "pa:ss\\w:rd"
        );
        assert_eq!(
            find(text, ["elsewhere", "5433", "x", "coder"])
                .unwrap()
                .expose(),
            "fallback"
        );
        assert!(find(text, ["elsewhere", "5433", "x", "someone"]).is_none());
    }

    #[test]
    fn loose_permissions_are_ignored_and_default_socket_is_localhost() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(&file, "localhost:5432:d:u:secret\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let host = Host::Unix(DEFAULT_SOCKET_DIR.into());
        assert!(matches!(
            lookup(&file, &host, 5432, "d", "u").unwrap(),
            Lookup::Ignored(_)
        ));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        match lookup(&file, &host, 5432, "d", "u").unwrap() {
            Lookup::Found(p) => assert_eq!(p.expose(), "secret"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            lookup(&dir.path().join("none"), &host, 5432, "d", "u").unwrap(),
            Lookup::NotFound
        ));
    }
}
