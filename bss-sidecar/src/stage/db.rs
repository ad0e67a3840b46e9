//! Owns the stages' connection to PostgreSQL (the sidecar's normal
//! connection, not the replication one): connected when first needed and
//! again after a failure, and what a failure means. Must tell an
//! unavailable server (retry) from a refusal no retry fixes.

use bss_tls::postgres::SqlConnector;

use crate::failure::Failure;

/// A connection made when first asked for.
pub struct Db {
    url: String,
    client: Option<tokio_postgres::Client>,
}

impl Db {
    pub fn new(url: String) -> Db {
        Db { url, client: None }
    }

    /// The connection, made now if there is none or it closed.
    pub async fn client(&mut self) -> Result<&mut tokio_postgres::Client, Failure> {
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            // Built at each connection: certificates renewed on disk are read again.
            let connector = SqlConnector::from_url(&self.url)
                .map_err(|e| Failure::Fatal(format!("invalid database URL: {e}")))?;
            self.client = Some(connector.connect().await.map_err(classify)?);
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    /// Drops the connection after `failure` if it is one to retry: the
    /// next call connects again.
    pub fn after(&mut self, failure: &Failure) {
        if let Failure::Retry(_) = failure {
            self.client = None;
        }
    }
}

/// Connection trouble, a server shutting down, lock conflicts and resource
/// shortage pass; anything else the server says does not.
pub fn classify(e: tokio_postgres::Error) -> Failure {
    let text = match e.as_db_error() {
        Some(db) => format!("{}: {} ({})", db.severity(), db.message(), db.code().code()),
        None => return Failure::Retry(e.to_string()),
    };
    let code = e.code().map(|c| c.code()).unwrap_or("");
    let passes = ["08", "53", "57", "58"]
        .iter()
        .any(|class| code.starts_with(class))
        || matches!(code, "40001" | "40P01" | "55P03");
    if passes {
        Failure::Retry(text)
    } else {
        Failure::Fatal(text)
    }
}
