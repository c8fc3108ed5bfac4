//! After a failed connect, one look at whether the server speaks PostgreSQL at all: an HTTP
//! service or a proxy on the port otherwise shows up as a timeout, `does not accept TLS`, or
//! a protocol error from the driver, none of which says what is wrong.
//!
//! The probe opens one TCP connection to the same host and port and sends PostgreSQL's
//! 8-byte SSLRequest, which every PostgreSQL since 7.2 (and PgBouncer) answers at once with
//! one byte, `S` or `N`, before any authentication. Anything else (another byte, HTTP text,
//! the connection closed) means the server is not PostgreSQL. Silence is left undecided: a
//! loaded server can be slow.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::settings::{ConnectSettings, Host};

/// How long the probe waits for the one byte.
const PROBE_WAIT: Duration = Duration::from_millis(1500);

/// PostgreSQL's SSLRequest: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// What the first TCP host answered, when it is certainly not PostgreSQL: `(host:port,
/// what it did)`.
pub async fn not_postgres(settings: &ConnectSettings) -> Option<(String, String)> {
    let (i, host) = settings
        .hosts
        .iter()
        .enumerate()
        .find_map(|(i, h)| match h {
            Host::Tcp(t) => Some((i, t.clone())),
            Host::Unix(_) => None,
        })?;
    let port = settings.port_of(i);
    let addr = match settings.hostaddrs.get(i) {
        Some(ip) => ip.to_string(),
        None => host.clone(),
    };
    let shown = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let answer = tokio::time::timeout(PROBE_WAIT, async {
        let mut s = tokio::net::TcpStream::connect((addr.as_str(), port))
            .await
            .ok()?;
        // Once connected, a reset or a broken pipe is the server hanging up: no answer.
        let hung_up = |e: std::io::Error| {
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            )
            .then(Vec::new)
        };
        if let Err(e) = s.write_all(&SSL_REQUEST).await {
            return hung_up(e);
        }
        let mut buf = [0u8; 64];
        match s.read(&mut buf).await {
            Ok(n) => Some(buf[..n].to_vec()),
            Err(e) => hung_up(e),
        }
    })
    .await
    .ok()??;
    describe(&answer).map(|what| (shown, what))
}

/// `None` for PostgreSQL's answers; else what the bytes say about the server.
fn describe(answer: &[u8]) -> Option<String> {
    match answer {
        [] => Some("it closed the connection without answering".into()),
        // Exactly one byte: PostgreSQL then waits for the TLS handshake or the startup.
        [b'S'] | [b'N'] => None,
        // A pre-7.2 server or one refusing at once sends an ErrorResponse ('E'): PostgreSQL.
        [b'E', ..] => None,
        bytes => {
            let text: String = bytes
                .iter()
                .take_while(|b| b.is_ascii_graphic() || **b == b' ')
                .map(|b| *b as char)
                .take(40)
                .collect();
            Some(if text.starts_with("HTTP/") {
                format!("it answered like an HTTP server (`{text}`)")
            } else if text.len() >= 4 {
                format!("it answered `{text}`")
            } else {
                format!(
                    "it answered byte 0x{:02x} where PostgreSQL answers S or N",
                    bytes[0]
                )
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn postgresql_answers_are_not_flagged() {
        assert_eq!(describe(b"S"), None);
        assert_eq!(describe(b"N"), None);
        assert_eq!(describe(b"E\0\0\0\x10"), None);
        assert!(describe(b"").unwrap().contains("closed"));
        assert!(describe(b"HTTP/1.1 400 Bad Request\r\n")
            .unwrap()
            .contains("HTTP server"));
        assert!(describe(b"\x16\x03\x01").unwrap().contains("0x16"));
        assert!(describe(b"SSH-2.0-OpenSSH_9.6\r\n")
            .unwrap()
            .contains("SSH-2.0"));
    }
}
