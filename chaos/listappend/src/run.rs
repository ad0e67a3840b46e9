//! One whole run: the clients until the duration ends, a grace period for
//! appends the server may still commit, then the final list of every
//! stream handed out, read from the store. Owns the order of those steps;
//! it must never judge the history (the checker does).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;
use tracing::{info, warn};

use crate::client::{run_client, ClientConfig};
use crate::history::{Clock, List, Operation, Outcome};
use crate::store::{Session, STATEMENT_TIMEOUT};
use crate::stream_pool::StreamPool;

/// After the clients stop, wait this long before reading the final lists:
/// an append a client gave up on may still be running on the server until
/// its statement_timeout cancels it.
const GRACE: Duration = Duration::from_millis(STATEMENT_TIMEOUT.as_millis() as u64 + 1000);
/// How long the final reads keep trying (reconnecting) before the run
/// fails: the database may still be recovering from the last fault.
const FINAL_READ_PATIENCE: Duration = Duration::from_secs(120);
const FINAL_READ_RETRY: Duration = Duration::from_secs(1);
/// The longest run id: stream ids stay far below pg_bss's 512 bytes.
pub const MAX_RUN_ID_CHARS: usize = 64;

pub struct RunConfig {
    pub database_url: String,
    pub run_id: String,
    pub streams: usize,
    pub clients: u32,
    pub duration: Duration,
    pub seed: u64,
    /// Operations a second over all clients; 0 for no bound.
    pub rate: u32,
}

/// What the checker needs: the history, and every stream's final list.
pub struct Run {
    pub history: Vec<Operation>,
    pub finals: BTreeMap<String, List>,
}

#[derive(Debug, Error)]
pub enum RunError {
    #[error("run id {0:?} must be 1 to {MAX_RUN_ID_CHARS} ASCII letters, digits, '_' or '-'")]
    BadRunId(String),
    #[error("--database-url is not a libpq URL or key=value string: {0}")]
    BadDatabaseUrl(tokio_postgres::Error),
    #[error("--database-url names no host")]
    NoHost,
    #[error("--streams and --clients must be at least 1")]
    NothingToRun,
    #[error("could not read the final list of {stream} (trying for up to {FINAL_READ_PATIENCE:?}): {last_error}")]
    FinalRead { stream: String, last_error: String },
    #[error("a client task failed: {0}")]
    Client(#[from] tokio::task::JoinError),
}

pub fn check_run_id(run_id: &str) -> Result<(), RunError> {
    let ok = !run_id.is_empty()
        && run_id.len() <= MAX_RUN_ID_CHARS
        && run_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match ok {
        true => Ok(()),
        false => Err(RunError::BadRunId(run_id.to_string())),
    }
}

pub async fn run(config: &RunConfig) -> Result<Run, RunError> {
    check_run_id(&config.run_id)?;
    // A typo would otherwise show only as clients failing to connect, then
    // as the final reads giving up minutes later.
    let database = config
        .database_url
        .parse::<tokio_postgres::Config>()
        .map_err(RunError::BadDatabaseUrl)?;
    if database.get_hosts().is_empty() {
        return Err(RunError::NoHost);
    }
    if config.streams == 0 || config.clients == 0 {
        return Err(RunError::NothingToRun);
    }
    let pool = Arc::new(StreamPool::new(&config.run_id, config.streams));
    let clock = Clock::start();
    let deadline = Instant::now() + config.duration;
    info!(run_id = %config.run_id, clients = config.clients, streams = config.streams,
          duration = ?config.duration, seed = config.seed, "running");
    let tasks: Vec<_> = (1..=config.clients)
        .map(|id| {
            let client = ClientConfig {
                id,
                database_url: config.database_url.clone(),
                run_id: config.run_id.clone(),
                seed: config
                    .seed
                    .wrapping_mul(1_000_003)
                    .wrapping_add(u64::from(id)),
                deadline,
                clock,
                // Each client's share of the rate: one operation per this.
                pace: (config.rate > 0).then(|| {
                    Duration::from_secs_f64(f64::from(config.clients) / f64::from(config.rate))
                }),
            };
            tokio::spawn(run_client(client, pool.clone()))
        })
        .collect();
    let mut history = Vec::new();
    for task in tasks {
        history.extend(task.await?);
    }
    info!(operations = history.len(), grace = ?GRACE, "clients done; waiting before the final reads");
    tokio::time::sleep(GRACE).await;
    let finals = read_finals(config, &pool.all_streams()).await?;
    Ok(Run { history, finals })
}

/// The list of every stream, each in one statement, reconnecting as needed.
async fn read_finals(
    config: &RunConfig,
    streams: &[String],
) -> Result<BTreeMap<String, List>, RunError> {
    let give_up = Instant::now() + FINAL_READ_PATIENCE;
    let mut finals = BTreeMap::new();
    let mut session: Option<Session> = None;
    for stream in streams {
        loop {
            let attempt = match &session {
                Some(s) if !s.is_closed() => s.read(stream).await,
                _ => match Session::connect(&config.database_url, &config.run_id).await {
                    Ok(s) => {
                        session = Some(s);
                        continue;
                    }
                    Err(e) => Outcome::Info {
                        sqlstate: None,
                        message: e.to_string(),
                    },
                },
            };
            let last_error = match attempt {
                Outcome::Ok { result } => {
                    finals.insert(stream.clone(), result);
                    break;
                }
                // The server answered: asking again gets the same answer.
                Outcome::Fail { sqlstate, message } => {
                    return Err(RunError::FinalRead {
                        stream: stream.clone(),
                        last_error: format!("{sqlstate}: {message}"),
                    })
                }
                Outcome::Info {
                    sqlstate: Some(sqlstate),
                    message,
                } => format!("{sqlstate}: {message}"),
                Outcome::Info {
                    sqlstate: None,
                    message,
                } => message,
            };
            if Instant::now() >= give_up {
                return Err(RunError::FinalRead {
                    stream: stream.clone(),
                    last_error,
                });
            }
            warn!(%stream, error = %last_error, "final read failed; retrying");
            session = None;
            tokio::time::sleep(FINAL_READ_RETRY).await;
        }
    }
    Ok(finals)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(database_url: &str, clients: u32) -> RunConfig {
        RunConfig {
            database_url: database_url.to_string(),
            run_id: "r".to_string(),
            streams: 1,
            clients,
            duration: Duration::from_secs(1),
            seed: 1,
            rate: 0,
        }
    }

    #[tokio::test]
    async fn a_bad_database_url_or_no_clients_are_refused_before_anything_runs() {
        let refused = |r: Result<Run, RunError>| r.err().map(|e| e.to_string());
        let no_host = refused(run(&config("postgresql://u@/db", 1)).await);
        assert!(no_host.is_some_and(|e| e.contains("no host")));
        let garbage = refused(run(&config("postgresql://[", 1)).await);
        assert!(garbage.is_some_and(|e| e.contains("--database-url")));
        let idle = refused(run(&config("postgresql://u@127.0.0.1/db", 0)).await);
        assert!(idle.is_some_and(|e| e.contains("at least 1")));
    }

    #[test]
    fn a_run_id_is_letters_digits_underscores_and_dashes() {
        assert!(check_run_id("chaos_db-latency1").is_ok());
        for bad in ["", "a b", "a'b", "ä", &"x".repeat(MAX_RUN_ID_CHARS + 1)] {
            assert!(check_run_id(bad).is_err(), "{bad:?}");
        }
    }
}
