//! bss-tls: owns what every TLS client of pg_bss's programs shares: the
//! process's crypto provider (aws-lc-rs, rustls's default) and reading PEM
//! certificates and keys; [`postgres`] owns TLS to PostgreSQL configured
//! as libpq's is, for the sidecar and the load generator alike. This file
//! knows nothing of PostgreSQL, Kafka or Redis, and must never install a
//! provider other than aws-lc-rs nor hand out an empty certificate list.

pub mod postgres;

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;

/// The provider every rustls configuration of pg_bss's programs uses.
/// Installed as the process default too: the sidecar's Redis client and
/// replication client build their configurations from the default, and two
/// providers are compiled in there (the replication client brings ring), so
/// rustls cannot choose one itself. Call it once at the start of `main`,
/// before any TLS client builds a configuration.
pub fn provider() -> Arc<CryptoProvider> {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    // Err: one is installed already (ours, from an earlier call).
    let _ = provider.clone().install_default();
    Arc::new(provider)
}

/// The certificates of a PEM file, for a root store or a client chain.
pub fn certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{what} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{what} {}: no certificate in it", path.display()));
    }
    Ok(certs)
}

/// A root store of the CA certificates in a PEM file.
pub fn root_store(path: &Path, what: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(path, what)? {
        roots
            .add(cert)
            .map_err(|e| format!("{what} {}: {e}", path.display()))?;
    }
    Ok(roots)
}

/// The private key of a PEM file.
pub fn private_key(path: &Path, what: &str) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| format!("{what} {}: {e}", path.display()))
}
