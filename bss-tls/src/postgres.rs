//! Owns TLS to PostgreSQL, configured as libpq users configure it: `sslmode`
//! (disable, allow, prefer, require, verify-ca, verify-full), `sslrootcert`,
//! `sslcert` and `sslkey` in the database URL, for every PostgreSQL client
//! of pg_bss's programs (the sidecar's SQL sessions, the load generator's
//! connections). tokio-postgres knows three modes and no files: this reads
//! the URL once into its [`tokio_postgres::Config`] and a rustls connector,
//! and gives the parameters ([`PgTls`]) to a client that takes its own
//! configuration (the sidecar's replication client maps them itself). It
//! never weakens a mode: verify-* without a root certificate is an error,
//! not a connection that checks nothing.
//!
//! As in libpq: the default is prefer; disable, allow and prefer may end in
//! plaintext; require encrypts without checking the server's certificate,
//! unless a root certificate is given (then it is verify-ca); verify-ca
//! checks the chain; verify-full also checks that the certificate names the
//! host. A client certificate is sent when sslcert and sslkey are given.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};

/// The TLS connector of SQL sessions, named here so that its users need no
/// dependency of their own on tokio-postgres-rustls.
pub use tokio_postgres_rustls::MakeRustlsConnect;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// libpq's TLS parameters of one database URL.
#[derive(Debug, Clone)]
pub struct PgTls {
    pub mode: SslMode,
    pub root_cert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

const PARAMS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// The URL without libpq's TLS parameters (what tokio-postgres parses), and
/// those parameters. Takes both forms libpq does: a URL
/// (`postgresql://...?sslmode=verify-full&sslrootcert=/etc/bss/ca.crt`) and
/// `key=value` pairs.
pub fn split(url: &str) -> Result<(String, PgTls), String> {
    let mut found: Vec<(String, String)> = Vec::new();
    let rest = if url.contains("://") {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if PARAMS.contains(&k) {
                found.push((k.to_owned(), percent_decode(v)?));
            } else {
                kept.push(pair);
            }
        }
        if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    } else {
        let mut kept = Vec::new();
        for pair in url.split_whitespace() {
            match pair.split_once('=') {
                Some((k, v)) if PARAMS.contains(&k) => found.push((k.to_owned(), v.to_owned())),
                _ => kept.push(pair),
            }
        }
        kept.join(" ")
    };
    let value = |name: &str| {
        found
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mode = match value("sslmode").as_deref() {
        None | Some("prefer") | Some("allow") => SslMode::Prefer,
        Some("disable") => SslMode::Disable,
        Some("require") => SslMode::Require,
        Some("verify-ca") => SslMode::VerifyCa,
        Some("verify-full") => SslMode::VerifyFull,
        Some(other) => {
            return Err(format!(
            "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
        ))
        }
    };
    let mut tls = PgTls {
        mode,
        root_cert: value("sslrootcert").map(PathBuf::from),
        cert: value("sslcert").map(PathBuf::from),
        key: value("sslkey").map(PathBuf::from),
    };
    if tls.cert.is_some() != tls.key.is_some() {
        return Err(
            "sslcert and sslkey go together: the client certificate and its key".to_owned(),
        );
    }
    if tls.mode == SslMode::Require && tls.root_cert.is_some() {
        tls.mode = SslMode::VerifyCa;
    }
    if matches!(tls.mode, SslMode::VerifyCa | SslMode::VerifyFull) && tls.root_cert.is_none() {
        // libpq's default place for it.
        let default = std::env::var_os("HOME")
            .map(|home| Path::new(&home).join(".postgresql/root.crt"))
            .filter(|p| p.exists());
        match default {
            Some(path) => tls.root_cert = Some(path),
            None => {
                return Err(format!(
                    "sslmode={} needs the certificate of the CA that signed the server's: \
                     add sslrootcert=/path/to/ca.crt",
                    if tls.mode == SslMode::VerifyCa {
                        "verify-ca"
                    } else {
                        "verify-full"
                    }
                ))
            }
        }
    }
    Ok((rest, tls))
}

/// The URL as tokio-postgres takes it (its TLS mode set from sslmode), and
/// its TLS parameters.
pub fn parse(url: &str) -> Result<(tokio_postgres::Config, PgTls), String> {
    let (rest, tls) = split(url)?;
    let mut config: tokio_postgres::Config = rest.parse().map_err(|e| format!("{e}"))?;
    config.ssl_mode(tls.tokio_mode());
    Ok((config, tls))
}

fn percent_decode(v: &str) -> Result<String, String> {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = v
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-encoding in {v:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{v:?} is not UTF-8 once decoded"))
}

impl PgTls {
    /// tokio-postgres's mode: it has no verify-*, which the connector does.
    pub fn tokio_mode(&self) -> tokio_postgres::config::SslMode {
        match self.mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        }
    }

    /// The TLS connector of SQL sessions.
    pub fn connector(&self) -> Result<MakeRustlsConnect, String> {
        Ok(MakeRustlsConnect::new(self.client_config()?))
    }

    fn client_config(&self) -> Result<ClientConfig, String> {
        let provider = crate::provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?;
        let roots = || match &self.root_cert {
            Some(path) => crate::root_store(path, "sslrootcert"),
            None => Err("no sslrootcert".to_owned()),
        };
        let builder = match self.mode {
            SslMode::VerifyFull => builder.with_root_certificates(roots()?),
            SslMode::VerifyCa => {
                let chain = WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots()?),
                    provider.clone(),
                )
                .build()
                .map_err(|e| format!("sslrootcert: {e}"))?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(ChainOnly(chain)))
            }
            SslMode::Disable | SslMode::Prefer | SslMode::Require => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider))),
        };
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => builder
                .with_client_auth_cert(
                    crate::certificates(cert, "sslcert")?,
                    crate::private_key(key, "sslkey")?,
                )
                .map_err(|e| {
                    format!(
                        "sslcert {} with sslkey {}: {e}",
                        cert.display(),
                        key.display()
                    )
                }),
            _ => Ok(builder.with_no_client_auth()),
        }
    }
}

/// sslmode=require: the session is encrypted, the server not identified
/// (libpq's meaning). The handshake's signatures are still checked.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
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
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
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

/// sslmode=verify-ca: the chain up to the root certificate is checked, the
/// name in the server's certificate is not.
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
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The chain is checked first; a name mismatch comes only after it held.
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
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// One SQL session's way to a database URL: where, and how to secure it.
#[derive(Clone)]
pub struct SqlConnector {
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
}

impl SqlConnector {
    pub fn from_url(url: &str) -> Result<SqlConnector, String> {
        let (config, tls) = parse(url)?;
        Ok(SqlConnector {
            config,
            tls: tls.connector()?,
        })
    }

    /// The URL's way to the server (host, port, database, TLS and its
    /// checks) for sessions opened as other roles with [`Self::as_user`]:
    /// without the URL's client certificate, which is its own role's.
    pub fn for_callers(url: &str) -> Result<SqlConnector, String> {
        let (config, mut tls) = parse(url)?;
        tls.cert = None;
        tls.key = None;
        Ok(SqlConnector {
            config,
            tls: tls.connector()?,
        })
    }

    /// The same way in, as `user` with `password`.
    pub fn as_user(&self, user: &str, password: &str) -> SqlConnector {
        let mut config = self.config.clone();
        config.user(user).password(password);
        SqlConnector {
            config,
            tls: self.tls.clone(),
        }
    }

    /// A session; its connection runs on a task of its own.
    pub async fn connect(&self) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, conn) = self.config.connect(self.tls.clone()).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_leave_the_url_and_the_rest_stays() {
        let (url, tls) = split(
            "postgresql://bss_sidecar@db1:5432,db2:5432/bss?target_session_attrs=read-write\
             &sslmode=verify-full&sslrootcert=%2Fetc%2Fbss%2Fca.crt&sslcert=/etc/bss/c.crt&sslkey=/etc/bss/c.key\
             &connect_timeout=2",
        )
        .unwrap();
        assert_eq!(
            url,
            "postgresql://bss_sidecar@db1:5432,db2:5432/bss?target_session_attrs=read-write&connect_timeout=2"
        );
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(tls.root_cert.as_deref(), Some(Path::new("/etc/bss/ca.crt")));
        assert_eq!(tls.cert.as_deref(), Some(Path::new("/etc/bss/c.crt")));
        assert_eq!(tls.key.as_deref(), Some(Path::new("/etc/bss/c.key")));
        let (kv, tls) = split("host=db1 sslmode=disable dbname=bss").unwrap();
        assert_eq!(kv, "host=db1 dbname=bss");
        assert_eq!(tls.mode, SslMode::Disable);
    }

    #[test]
    fn modes_are_libpqs() {
        let mode = |q: &str| split(&format!("postgresql://h/d{q}")).map(|(_, t)| t.mode);
        assert_eq!(mode(""), Ok(SslMode::Prefer));
        assert_eq!(mode("?sslmode=allow"), Ok(SslMode::Prefer));
        assert_eq!(mode("?sslmode=require"), Ok(SslMode::Require));
        // require with a root certificate is verify-ca, as in libpq.
        assert_eq!(
            mode("?sslmode=require&sslrootcert=/ca.crt"),
            Ok(SslMode::VerifyCa)
        );
        assert!(mode("?sslmode=verify-everything")
            .unwrap_err()
            .contains("not one of"));
    }

    #[test]
    fn a_verifying_mode_without_a_root_certificate_is_refused() {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        assert!(
            !home.join(".postgresql/root.crt").exists(),
            "libpq's default root certificate exists here: this test needs it absent"
        );
        let err = split("postgresql://h/d?sslmode=verify-full").unwrap_err();
        assert!(err.contains("add sslrootcert="), "{err}");
        let err = split("postgresql://h/d?sslmode=require&sslcert=/c.crt").unwrap_err();
        assert!(err.contains("sslcert and sslkey go together"), "{err}");
    }
}
