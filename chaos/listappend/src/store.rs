//! One session on pg_bss and the two statements the workload sends through
//! it (append one value to a stream, read a whole stream), each bounded in
//! time, each ending in an `Outcome`. Owns the SQL, the timeouts and which
//! errors leave an append's fate unknown; it must never retry (a retried
//! append would be a second append of the same value) and never decide
//! which stream or value comes next.

use std::time::Duration;

use serde_json::json;
use thiserror::Error;
use tokio::task::JoinHandle;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Statement};
use tracing::debug;

use crate::history::{Element, List, Outcome};

/// The event type every append carries.
pub const EVENT_TYPE: &str = "listappend.value";

/// The server cancels a statement after this long: a stalled backend gives
/// up by itself, so an append whose client left cannot commit much later.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(4);
/// The client gives up on a statement after this long, whatever the server
/// does: longer than `STATEMENT_TIMEOUT`, so that a reachable server
/// usually answers with its own cancellation first.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Connecting (TCP, startup, the session's settings and statements) takes at most this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

const _: () = assert!(CLIENT_TIMEOUT.as_millis() > STATEMENT_TIMEOUT.as_millis());

const APPEND_SQL: &str = "SELECT bss.append_event(stream_id => $1, type => $2, \
     data => $3::text::jsonb, expected_version => $4::bigint)";
/// The whole stream in one statement, so in one snapshot. max_count is an
/// int; streams here hold a few hundred events (see `stream_pool`).
const READ_SQL: &str = "SELECT stream_version, (data->'value')::bigint \
     FROM bss.read_stream($1, from_version => 1, max_count => 2147483647)";

/// The `application_name` of run `run_id`'s sessions, by which a test or
/// an operator finds (or terminates) exactly them in `pg_stat_activity`.
pub fn application_name(run_id: &str) -> String {
    format!("bss-listappend-{run_id}")
}

#[derive(Debug, Error)]
pub enum ConnectError {
    #[error("connecting to the database timed out after {0:?}")]
    TimedOut(Duration),
    #[error("connecting to the database: {0}")]
    Postgres(#[from] tokio_postgres::Error),
}

/// A connection with the statements prepared. Dropping it closes the
/// connection.
pub struct Session {
    client: Client,
    driver: JoinHandle<()>,
    append: Statement,
    read: Statement,
}

impl Drop for Session {
    fn drop(&mut self) {
        // A connection given up on may still be stuck on a dead socket.
        self.driver.abort();
    }
}

impl Session {
    /// Connects as run `run_id`'s client (its `application_name`).
    pub async fn connect(database_url: &str, run_id: &str) -> Result<Session, ConnectError> {
        let mut config: Config = database_url.parse()?;
        config.application_name(application_name(run_id));
        tokio::time::timeout(CONNECT_TIMEOUT, Self::connect_unbounded(&config))
            .await
            .map_err(|_| ConnectError::TimedOut(CONNECT_TIMEOUT))?
    }

    async fn connect_unbounded(config: &Config) -> Result<Session, ConnectError> {
        let (client, connection) = config.connect(NoTls).await?;
        let driver = tokio::spawn(async move {
            if let Err(e) = connection.await {
                debug!(error = %e, "connection ended");
            }
        });
        let session = async {
            client
                .batch_execute(&format!(
                    "SET statement_timeout = {}",
                    STATEMENT_TIMEOUT.as_millis()
                ))
                .await?;
            let append = client.prepare(APPEND_SQL).await?;
            let read = client.prepare(READ_SQL).await?;
            Ok::<_, tokio_postgres::Error>((append, read))
        }
        .await;
        match session {
            Ok((append, read)) => Ok(Session {
                client,
                driver,
                append,
                read,
            }),
            Err(e) => {
                driver.abort();
                Err(e.into())
            }
        }
    }

    /// True once the connection is known to be gone.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Appends one event carrying `value`; ok is the version it got.
    pub async fn append(
        &self,
        stream: &str,
        value: i64,
        expected_version: Option<i64>,
    ) -> Outcome<i64> {
        let data = json!({ "value": value }).to_string();
        let params: [&(dyn ToSql + Sync); 4] = [&stream, &EVENT_TYPE, &data, &expected_version];
        let call = self.client.query_one(&self.append, &params);
        match tokio::time::timeout(CLIENT_TIMEOUT, call).await {
            Err(_) => timed_out(),
            Ok(Err(e)) => outcome_of_error(&e),
            Ok(Ok(row)) => match row.try_get::<_, i64>(0) {
                Ok(version) => Outcome::Ok { result: version },
                // The append ran; what it returned cannot be read.
                Err(e) => Outcome::Info {
                    sqlstate: None,
                    message: format!("unreadable result: {e}"),
                },
            },
        }
    }

    /// Reads the whole stream, in version order.
    pub async fn read(&self, stream: &str) -> Outcome<List> {
        let params: [&(dyn ToSql + Sync); 1] = [&stream];
        let call = self.client.query(&self.read, &params);
        let rows = match tokio::time::timeout(CLIENT_TIMEOUT, call).await {
            Err(_) => return timed_out(),
            Ok(Err(e)) => return outcome_of_error(&e),
            Ok(Ok(rows)) => rows,
        };
        let mut list = List::with_capacity(rows.len());
        for row in rows {
            let element = row
                .try_get::<_, i64>(0)
                .and_then(|version| Ok((version, row.try_get::<_, Option<i64>>(1)?)));
            match element {
                Ok((version, Some(value))) => list.push(Element { version, value }),
                Ok((version, None)) => {
                    return Outcome::Fail {
                        sqlstate: "client".into(),
                        message: format!(
                            "the event at version {version} of {stream} has no integer data.value: \
                             something else appends to this run's streams"
                        ),
                    }
                }
                Err(e) => {
                    return Outcome::Fail {
                        sqlstate: "client".into(),
                        message: format!("unreadable row: {e}"),
                    }
                }
            }
        }
        Outcome::Ok { result: list }
    }
}

fn timed_out<T>() -> Outcome<T> {
    Outcome::Info {
        sqlstate: None,
        message: format!("no answer within {CLIENT_TIMEOUT:?}"),
    }
}

/// A statement's error: unknown when the connection broke, the server went
/// away or cancelled it (classes 08, 57, 58) or never answered (no
/// SQLSTATE); failed, with nothing stored, for any other SQLSTATE.
pub fn outcome_of_error<T>(e: &tokio_postgres::Error) -> Outcome<T> {
    let message = match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => e.to_string(),
    };
    outcome_of_sqlstate(e.code().map(|c| c.code()), message)
}

fn outcome_of_sqlstate<T>(sqlstate: Option<&str>, message: String) -> Outcome<T> {
    match sqlstate {
        Some(code) if !matches!(code.get(..2), Some("08" | "57" | "58")) => Outcome::Fail {
            sqlstate: code.to_string(),
            message,
        },
        _ => Outcome::Info {
            sqlstate: sqlstate.map(str::to_string),
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_expected_version_is_a_definite_failure() {
        let outcome: Outcome<i64> = outcome_of_sqlstate(Some("XB001"), "wrong".into());
        assert_eq!(
            outcome,
            Outcome::Fail {
                sqlstate: "XB001".into(),
                message: "wrong".into()
            }
        );
    }

    #[test]
    fn lost_connections_cancellations_and_silence_leave_the_outcome_unknown() {
        for code in [
            Some("08006"),
            Some("57014"),
            Some("57P01"),
            Some("58030"),
            None,
        ] {
            let outcome: Outcome<i64> = outcome_of_sqlstate(code, "m".into());
            assert_eq!(outcome.label(), "info", "{code:?}");
        }
    }

    #[test]
    fn other_errors_are_definite_failures() {
        for code in ["XB002", "40001", "23505", "XX000"] {
            let outcome: Outcome<i64> = outcome_of_sqlstate(Some(code), "m".into());
            assert_eq!(outcome.label(), "fail", "{code}");
        }
    }
}
