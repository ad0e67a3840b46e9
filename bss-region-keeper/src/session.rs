//! Owns opening a session to a region's PostgreSQL, local or peer: its URL
//! or conninfo read as libpq reads it (sslmode and its certificate files,
//! through bss-tls), a connect timeout, the keeper's application_name; and
//! what can go wrong with a session. Must never connect with weaker TLS than
//! the URL asks for, nor wait longer than the timeout it is given.

use std::future::Future;
use std::time::Duration;

use tokio_postgres::Client;

use crate::duration::format_duration;

/// What `pg_stat_activity` shows for the keeper's sessions, unless the URL names another.
pub const APPLICATION_NAME: &str = "bss-region-keeper";

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("connection string: {0}")]
    Conninfo(String),
    #[error("{}", with_causes(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("no answer within {}", format_duration(*.0))]
    Timeout(Duration),
    #[error("heartbeat answer not understood: {0}")]
    Answer(#[from] serde_json::Error),
    #[error("no session open")]
    NotConnected,
    #[error("the connection string of region {expected} reaches region {found}")]
    WrongRegion { expected: String, found: String },
}

/// The error and its causes, as one line: tokio-postgres leaves the cause
/// ("Connection refused", the server's message) out of its own text.
fn with_causes(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// A session to `url`, giving up on connecting after `timeout` (or the
/// URL's own connect_timeout when shorter); its connection runs on a task
/// of its own and ends when the client is dropped.
pub async fn connect(url: &str, timeout: Duration) -> Result<Client, SessionError> {
    // Read at each connection: certificates renewed on disk are read again.
    let (mut config, tls) = bss_tls::postgres::parse(url).map_err(SessionError::Conninfo)?;
    let timeout = config
        .get_connect_timeout()
        .map_or(timeout, |own| (*own).min(timeout));
    config.connect_timeout(timeout);
    if config.get_application_name().is_none() {
        config.application_name(APPLICATION_NAME);
    }
    let connector = tls.connector().map_err(SessionError::Conninfo)?;
    let (client, connection) = config.connect(connector).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// `step`, or a timeout error once `timeout` has passed (the step is dropped).
pub async fn within<T>(
    timeout: Duration,
    step: impl Future<Output = Result<T, SessionError>>,
) -> Result<T, SessionError> {
    tokio::time::timeout(timeout, step)
        .await
        .unwrap_or(Err(SessionError::Timeout(timeout)))
}
