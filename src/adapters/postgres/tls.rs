//! TLS through rustls with libpq's `sslmode` meanings:
//!
//! | sslmode | TLS | certificate chain | host name |
//! |---|---|---|---|
//! | disable | never | - | - |
//! | allow, prefer | if the server offers it | not checked | not checked |
//! | require | always | checked only when a root file is given (libpq's rule) | not checked |
//! | verify-ca | always | checked | not checked |
//! | verify-full | always | checked | checked |
//!
//! Roots: `sslrootcert=FILE`, `sslrootcert=system`, else `~/.postgresql/root.crt` when it exists,
//! else the system's roots (as lib/pq, Coder's driver, does; libpq would refuse). Unix-socket
//! connections never use TLS, as with libpq.
//!
//! A failed handshake is turned into a message that names the check that failed.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{Error, Result};

use super::settings::{ConnectSettings, RootCert, SslMode};

/// What the handshake checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Encrypted, but any certificate is accepted.
    None,
    /// The certificate must chain to a trusted root.
    Ca,
    /// The chain, and the host name.
    Full,
}

pub struct TlsPlan {
    pub mode: tokio_postgres::config::SslMode,
    pub connector: MakeRustlsConnect,
    pub verification: Verification,
    /// Where the roots come from, for messages.
    pub roots: String,
}

pub fn plan(settings: &ConnectSettings) -> Result<TlsPlan> {
    use tokio_postgres::config::SslMode as Wire;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (mode, verification) = match settings.sslmode {
        _ if settings.only_unix_sockets() => (Wire::Disable, Verification::None),
        SslMode::Disable => (Wire::Disable, Verification::None),
        SslMode::Allow | SslMode::Prefer => (Wire::Prefer, Verification::None),
        SslMode::Require if settings.sslrootcert.is_some() => (Wire::Require, Verification::Ca),
        SslMode::Require => (Wire::Require, Verification::None),
        SslMode::VerifyCa => (Wire::Require, Verification::Ca),
        SslMode::VerifyFull => (Wire::Require, Verification::Full),
    };
    let root_source = settings.sslrootcert.clone().unwrap_or(RootCert::System);
    let roots = match &root_source {
        RootCert::File(p) => format!("sslrootcert {}", p.display()),
        RootCert::System => "the system's trusted roots".to_string(),
    };
    let verifier: Arc<dyn ServerCertVerifier> = match verification {
        Verification::None => Arc::new(AcceptAnyCertificate(provider.clone())),
        Verification::Ca | Verification::Full if mode == Wire::Disable => {
            Arc::new(AcceptAnyCertificate(provider.clone()))
        }
        Verification::Ca | Verification::Full => {
            let store = Arc::new(root_store(&root_source)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(store, provider.clone())
                .build()
                .map_err(|e| {
                    Error::database(format!("cannot use the root certificates ({roots}): {e}"))
                })?;
            if verification == Verification::Ca {
                Arc::new(ChainOnly(webpki))
            } else {
                webpki
            }
        }
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&settings.sslcert, &settings.sslkey) {
        (Some(cert), Some(key)) if mode != Wire::Disable => {
            let certs = read_certs(cert, "sslcert")?;
            let key_pem = read_pem(key, "sslkey")?;
            let key_der = rustls_pemfile::private_key(&mut key_pem.as_slice())
                .ok()
                .flatten()
                .ok_or_else(|| {
                    Error::database(format!("sslkey {} holds no PEM private key", key.display()))
                })?;
            builder.with_client_auth_cert(certs, key_der).map_err(|e| {
                Error::database(format!("the client certificate cannot be used: {e}"))
            })?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(TlsPlan {
        mode,
        connector: MakeRustlsConnect::new(config),
        verification,
        roots,
    })
}

fn root_store(source: &RootCert) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    match source {
        RootCert::File(path) => {
            for cert in read_certs(path, "sslrootcert")? {
                store.add(cert).map_err(|e| {
                    Error::database(format!(
                        "sslrootcert {} holds a certificate rustls refuses: {e}",
                        path.display()
                    ))
                })?;
            }
        }
        RootCert::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(
                    Error::database("no trusted root certificates found on this system")
                        .with_hint("install the ca-certificates package, or give sslrootcert=FILE"),
                );
            }
        }
    }
    Ok(store)
}

/// A PEM file, bounded (`sslrootcert=/dev/zero` stops at the limit, exit 12).
fn read_pem(path: &std::path::Path, what: &str) -> Result<Vec<u8>> {
    use crate::adapters::bounded;
    bounded::read_bytes_path(path, bounded::PEM).map_err(|f| {
        f.or_io(|e| {
            Error::database(format!(
                "cannot read {what} {}: {}",
                path.display(),
                e.kind()
            ))
        })
    })
}

fn read_certs(path: &std::path::Path, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let pem = read_pem(path, what)?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| {
            Error::database(format!(
                "{what} {} is not a PEM certificate file",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::database(format!(
            "{what} {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// sslmode=prefer/require without a root file: encrypt, check nothing about the peer (libpq).
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// sslmode=verify-ca: the full WebPKI check, except that a name mismatch is accepted (the
/// chain is checked before the name, so reaching the name check means the chain passed).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Finds the rustls error inside a handshake failure, if there is one.
pub fn find_rustls_error<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                if let Some(r) = inner.downcast_ref::<rustls::Error>() {
                    return Some(r);
                }
            }
        }
        cur = e.source();
    }
    None
}

/// Which check failed, in words.
pub fn describe_failure(err: &rustls::Error, host: &str, roots: &str) -> (String, String) {
    match err {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => (
                format!("certificate chain check failed: the server's certificate is not signed by a CA in {roots}"),
                "give the CA that signed the server certificate with sslrootcert=FILE (or PGSSLROOTCERT)".into(),
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => (
                format!("host name check failed: the server's certificate is not valid for `{host}` (sslmode=verify-full checks the name)"),
                "connect with the name the certificate was issued for, or use sslmode=verify-ca to check only the chain".into(),
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => (
                "certificate validity check failed: the server's certificate has expired".into(),
                "renew the server certificate".into(),
            ),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => (
                "certificate validity check failed: the server's certificate is not valid yet (check the clocks)".into(),
                "check the clock of this machine and of the server".into(),
            ),
            CertificateError::Revoked => ("certificate check failed: the server's certificate is revoked".into(), "renew the server certificate".into()),
            other => (
                format!("certificate check failed: {other:?}"),
                "check the server certificate and sslrootcert".into(),
            ),
        },
        rustls::Error::AlertReceived(alert) => (
            format!("the server ended the TLS handshake with the alert {alert:?}"),
            "the server may require a client certificate (sslcert/sslkey) or a newer TLS version".into(),
        ),
        other => (format!("TLS handshake failed: {other}"), "check the server's TLS settings".into()),
    }
}
