//! The open-loop writer: a pool of PostgreSQL connections fed by a
//! scheduler that offers each append at its intended instant (from the
//! integral of the stage rate) whether or not the database keeps up, so a
//! slow database shows as latency, never as a lower offered rate
//! (no coordinated omission). Latency = acknowledgement − intended instant.
//!
//! Owns connecting (TLS as libpq's parameters in the URL say, read by
//! [`bss_tls::postgres`]; never plaintext when the URL asks for more),
//! registering the shipped schemas, the scheduler, the workers and the
//! drain. Every append ends in exactly one of: acknowledged, failed
//! (counted by SQLSTATE), unknown (the connection failed while the
//! statement that commits was out: it may or may not have committed), not
//! sent (queue full, drain timed out), or abandoned in flight at the drain
//! deadline. Nothing is dropped silently.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use time::OffsetDateTime;
use tokio_postgres::types::{Json, Type};
use tokio_postgres::{Client, Statement};
use tracing::{info, warn};

use crate::report::Recorder;
use crate::schemas::SCHEMAS;
use crate::simulator::{Append, Simulator};
use crate::stages::Profile;

const APPEND_SQL: &str = "SELECT bss.append_events($1, $2::jsonb)";
const APPEND_STREAMS_SQL: &str = "SELECT bss.append_streams($1, $2::jsonb[])";
const REGISTER_SQL: &str = "SELECT bss.register_schema($1, $2::jsonb)";
/// A worker whose connection broke tries to reconnect at most this often.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Told about every append's fate; the Kafka watcher and the label writer
/// listen here. Called from the scheduler and the workers: keep it cheap.
pub trait AppendObserver: Send + Sync {
    fn offered(&self, _append: &Append, _intended: Instant) {}
    fn acknowledged(&self, _append: &Append, _at: Instant) {}
    /// The append failed, was never sent, or was abandoned in flight.
    fn not_stored(&self, _append: &Append) {}
    /// The append failed for certain (nothing of it committed); `sqlstate`
    /// is None for an error that did not come from the server.
    fn failed(&self, append: &Append, _sqlstate: Option<&str>, _at: Instant) {
        self.not_stored(append);
    }
    /// The append was never sent: the queue was full or the drain timed out.
    fn not_sent(&self, append: &Append) {
        self.not_stored(append);
    }
    /// The connection failed while the statement that commits the append
    /// was out: it may or may not be stored. `sqlstate` is None for an
    /// error that never came from the server.
    fn unknown(&self, _append: &Append, _sqlstate: Option<&str>, _at: Instant) {}
}

/// Why an append did not end acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendError {
    /// None for an error that did not come from the server.
    pub sqlstate: Option<String>,
    pub message: String,
    /// Whether it may have committed all the same (see [`Fate::of_commit_error`]).
    pub fate: Fate,
}

/// What an error says about whether an append committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Nothing of it committed.
    Failed,
    /// It may have committed: the client cannot tell.
    Unknown,
}

impl Fate {
    /// The fate of an append whose committing statement (the autocommit
    /// call, or COMMIT) returned an error with `sqlstate`. Without one the
    /// connection broke (or never answered); classes 08 (connection), 57
    /// (operator intervention: shutdown, crash), 58 (system error) and XX
    /// (internal) may end the session after the commit record was written.
    /// Every other error is the server refusing the statement: nothing
    /// committed.
    pub fn of_commit_error(sqlstate: Option<&str>) -> Fate {
        match sqlstate {
            None => Fate::Unknown,
            Some(code) => match code.get(..2) {
                Some("08" | "57" | "58" | "XX") => Fate::Unknown,
                _ => Fate::Failed,
            },
        }
    }
}

impl AppendError {
    /// An error before COMMIT was sent: nothing committed, whatever it was.
    fn before_commit(e: &tokio_postgres::Error) -> Self {
        AppendError {
            sqlstate: e.code().map(|c| c.code().to_owned()),
            message: describe(e),
            fate: Fate::Failed,
        }
    }

    /// An error of the statement that commits.
    fn of_commit(e: &tokio_postgres::Error) -> Self {
        let sqlstate = e.code().map(|c| c.code().to_owned());
        AppendError {
            fate: Fate::of_commit_error(sqlstate.as_deref()),
            sqlstate,
            message: describe(e),
        }
    }

    /// No connection: nothing was sent.
    fn no_connection(message: String) -> Self {
        AppendError {
            sqlstate: Some("08006".to_owned()),
            message,
            fate: Fate::Failed,
        }
    }

    /// The SQLSTATE as the report counts it ("client" without one).
    pub fn code(&self) -> &str {
        self.sqlstate.as_deref().unwrap_or("client")
    }
}

/// How a worker sends a group of appends it commits together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupAppend {
    /// One `bss.append_streams` call, one statement (pg_bss 0.10.0).
    Streams,
    /// One `bss.append_events` call per append, pipelined in one transaction.
    Calls,
}

pub struct WriterConfig {
    pub database_url: String,
    pub connections: usize,
    /// Most appends committed in one transaction (see `Worker::run`).
    pub max_group: usize,
    pub group_append: GroupAppend,
    pub drain_timeout: Duration,
    /// Appends waiting for a connection beyond this are counted as not sent.
    pub max_queue: usize,
}

struct Scheduled {
    append: Append,
    intended: Instant,
    intended_second: u64,
}

/// Opens one connection, with TLS as the URL's libpq parameters say
/// (`sslmode`, default prefer; `sslrootcert`, `sslcert`, `sslkey`: see
/// [`bss_tls::postgres`]); its driver runs on its own task.
pub async fn connect(url: &str) -> Result<Client> {
    let (config, tls) = bss_tls::postgres::parse(url)
        .and_then(|(config, tls)| Ok((config, tls.connector()?)))
        .map_err(|e| anyhow!("database URL {}: {e}", redact(url)))?;
    let (client, connection) = tokio::time::timeout(CONNECT_TIMEOUT, config.connect(tls))
        .await
        .map_err(|_| anyhow!("connecting to PostgreSQL timed out after {CONNECT_TIMEOUT:?}"))?
        .with_context(|| format!("connecting to PostgreSQL at {}", redact(url)))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            warn!(error = %e, "PostgreSQL connection closed");
        }
    });
    Ok(client)
}

/// `url` without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The SQLSTATE of a failed call, or "client" when it never reached the server.
pub fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.code()
        .map_or_else(|| "client".to_owned(), |c| c.code().to_owned())
}

/// A PostgreSQL error with its detail and hint, on one line.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = db.message().to_owned();
            if let Some(d) = db.detail() {
                s.push_str(&format!(" (DETAIL: {d})"));
            }
            if let Some(h) = db.hint() {
                s.push_str(&format!(" (HINT: {h})"));
            }
            s
        }
        None => e.to_string(),
    }
}

/// What `bss.schemas` held for the shipped event types before a run
/// registered its own: the schema, or None for a type that had none.
pub type PreviousSchemas = Vec<(String, Option<serde_json::Value>)>;

/// Registers every shipped JSON Schema with `bss.register_schema`, and
/// returns what was registered for those types before.
pub async fn register_schemas(client: &Client) -> Result<PreviousSchemas> {
    let mut previous = PreviousSchemas::new();
    for s in SCHEMAS {
        let row = client
            .query_opt(
                "SELECT schema FROM bss.schemas WHERE type = $1",
                &[&s.event_type],
            )
            .await
            .map_err(|e| anyhow!("reading bss.schemas: {} [{}] (HINT: the pg_bss extension in this database has no \
                 bss.schemas; update it to 0.3.0, or pass --no-register-schemas)", describe(&e), sqlstate(&e)))?;
        let old = row.map(|r| r.get::<_, Json<serde_json::Value>>(0).0);
        previous.push((s.event_type.to_string(), old));
    }
    let stmt = client
        .prepare_typed(REGISTER_SQL, &[Type::TEXT, Type::JSONB])
        .await
        .map_err(|e| {
            anyhow!(
                "preparing {REGISTER_SQL}: {} [{}] (HINT: the pg_bss extension in this database has no \
                 bss.register_schema; update it, or pass --no-register-schemas)",
                describe(&e),
                sqlstate(&e)
            )
        })?;
    for s in SCHEMAS {
        let schema: serde_json::Value = serde_json::from_str(s.json)
            .with_context(|| format!("the shipped schema of {} is not JSON", s.event_type))?;
        client
            .execute(&stmt, &[&s.event_type, &Json(&schema)])
            .await
            .map_err(|e| {
                anyhow!(
                    "registering the schema of {}: {} [{}]",
                    s.event_type,
                    describe(&e),
                    sqlstate(&e)
                )
            })?;
    }
    info!(schemas = SCHEMAS.len(), "JSON Schemas registered");
    Ok(previous)
}

/// Puts back what `register_schemas` found: the old schema, or none.
pub async fn restore_schemas(client: &Client, previous: &PreviousSchemas) -> Result<()> {
    for (event_type, schema) in previous {
        client
            .execute(
                "SELECT bss.register_schema($1, $2)",
                &[event_type, &schema.as_ref().map(Json)],
            )
            .await
            .map_err(|e| {
                anyhow!(
                    "restoring the schema of {event_type}: {} [{}]",
                    describe(&e),
                    sqlstate(&e)
                )
            })?;
    }
    info!(
        schemas = previous.len(),
        "JSON Schemas restored as they were before the run"
    );
    Ok(())
}

/// The statements a worker appends with: `append_events` for one append,
/// and `append_streams` for a group when the group is sent that way.
struct Statements {
    one: Statement,
    group: Option<Statement>,
}

async fn prepare_append(client: &Client, group_append: GroupAppend) -> Result<Statements> {
    let prepare = |sql: &'static str, types: &'static [Type], hint: &'static str| async move {
        client.prepare_typed(sql, types).await.map_err(|e| {
            anyhow!(
                "preparing {sql}: {} [{}] (HINT: {hint})",
                describe(&e),
                sqlstate(&e)
            )
        })
    };
    let one = prepare(
        APPEND_SQL,
        &[Type::TEXT, Type::JSONB],
        "is the pg_bss extension installed in this database?",
    )
    .await?;
    let group = match group_append {
        GroupAppend::Calls => None,
        GroupAppend::Streams => Some(
            prepare(
                APPEND_STREAMS_SQL,
                &[Type::TEXT_ARRAY, Type::JSONB_ARRAY],
                "pg_bss 0.10.0 or later has it (ALTER EXTENSION pg_bss UPDATE), or run with --group-append calls",
            )
            .await?,
        ),
    };
    Ok(Statements { one, group })
}

/// When the load phase ended and how.
pub struct LoadOutcome {
    /// Seconds from the start until the workers finished (or were abandoned).
    pub finished_s: f64,
    pub drain_timed_out: bool,
}

/// Runs the load: the stages of `profile`, starting at `start` (wall clock
/// `wall_start`), over `cfg.connections` connections.
pub async fn run_load(
    cfg: &WriterConfig,
    mut sim: Simulator,
    profile: Profile,
    recorder: Arc<Recorder>,
    observers: Vec<Arc<dyn AppendObserver>>,
    start: Instant,
    wall_start: OffsetDateTime,
) -> Result<(LoadOutcome, Simulator)> {
    let observers: Arc<[Arc<dyn AppendObserver>]> = observers.into();
    let mut workers = Vec::with_capacity(cfg.connections);
    let (tx, rx) = async_channel::bounded::<Scheduled>(cfg.max_queue.max(1));
    let in_flight = Arc::new(AtomicU64::new(0));
    for id in 0..cfg.connections.max(1) {
        let client = connect(&cfg.database_url).await?;
        let stmt = prepare_append(&client, cfg.group_append).await?;
        let w = Worker {
            id,
            url: cfg.database_url.clone(),
            conn: Some((client, stmt)),
            max_group: cfg.max_group.max(1),
            group_append: cfg.group_append,
            last_reconnect: None,
            rx: rx.clone(),
            recorder: recorder.clone(),
            observers: observers.clone(),
            in_flight: in_flight.clone(),
            start,
        };
        workers.push(tokio::spawn(w.run()));
    }
    info!(connections = workers.len(), "connected; offering load");

    // The scheduler: open loop, one append at a time at its intended instant.
    let mut offered: u64 = 0;
    let total = profile.total_secs();
    while let Some(t_first) = profile.time_of_event(offered as f64 + 1.0) {
        let append = sim.next_append(wall_start + time::Duration::seconds_f64(t_first));
        let n = append.events.len() as u64;
        let t = profile.time_of_event((offered + n) as f64).unwrap_or(total);
        let intended = start + Duration::from_secs_f64(t);
        if intended > Instant::now() {
            tokio::time::sleep_until(intended.into()).await;
        }
        // The last append is due at the very end; count it in the last second.
        let intended_second = (t as u64).min((total.ceil() as u64).saturating_sub(1));
        recorder.offered(intended_second, n);
        for o in observers.iter() {
            o.offered(&append, intended);
        }
        offered += n;
        let job = Scheduled {
            append,
            intended,
            intended_second,
        };
        if let Err(e) = tx.try_send(job) {
            let job = e.into_inner();
            recorder.not_sent(n);
            for o in observers.iter() {
                o.not_sent(&job.append);
            }
        }
    }
    tx.close();
    info!(offered, "stages done; draining");

    let deadline = Instant::now() + cfg.drain_timeout;
    let mut drain_timed_out = false;
    for handle in workers.iter_mut() {
        let left = deadline.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, &mut *handle).await.is_err() {
            drain_timed_out = true;
            break;
        }
    }
    if drain_timed_out {
        for handle in &workers {
            handle.abort();
        }
        rx.close();
        let mut left = 0u64;
        while let Ok(job) = rx.try_recv() {
            left += job.append.events.len() as u64;
            recorder.not_sent(job.append.events.len() as u64);
            for o in observers.iter() {
                o.not_sent(&job.append);
            }
        }
        for handle in workers {
            let _ = handle.await;
        }
        let abandoned = in_flight.load(Ordering::SeqCst);
        recorder.in_flight_abandoned(abandoned);
        warn!(
            not_sent = left,
            in_flight = abandoned,
            timeout = ?cfg.drain_timeout,
            "drain timed out; queued appends were not sent"
        );
    }
    Ok((
        LoadOutcome {
            finished_s: start.elapsed().as_secs_f64(),
            drain_timed_out,
        },
        sim,
    ))
}

struct Worker {
    id: usize,
    url: String,
    conn: Option<(Client, Statements)>,
    max_group: usize,
    group_append: GroupAppend,
    last_reconnect: Option<Instant>,
    rx: async_channel::Receiver<Scheduled>,
    recorder: Arc<Recorder>,
    observers: Arc<[Arc<dyn AppendObserver>]>,
    in_flight: Arc<AtomicU64>,
    start: Instant,
}

impl Worker {
    /// Takes the next append, and whatever else is queued at that moment up
    /// to `max_group` (it never waits for more: batching comes only from a
    /// backlog), and commits them in one transaction.
    async fn run(mut self) {
        let mut group = Vec::with_capacity(self.max_group);
        while let Ok(job) = self.rx.recv().await {
            group.push(job);
            while group.len() < self.max_group {
                match self.rx.try_recv() {
                    Ok(job) => group.push(job),
                    Err(_) => break,
                }
            }
            let n: u64 = group.iter().map(|j| j.append.events.len() as u64).sum();
            self.in_flight.fetch_add(n, Ordering::SeqCst);
            let result = self.append(&mut group).await;
            if result.is_ok() {
                self.recorder.committed();
            }
            let now = Instant::now();
            let at_s = now.duration_since(self.start).as_secs_f64();
            for job in group.drain(..) {
                match &result {
                    Ok(()) => {
                        let latency = now.saturating_duration_since(job.intended);
                        self.recorder.acknowledged(
                            job.intended_second,
                            at_s,
                            latency.as_micros() as u64,
                            job.append.events.iter().map(|e| e.event_type.as_str()),
                        );
                        for o in self.observers.iter() {
                            o.acknowledged(&job.append, now);
                        }
                    }
                    Err(e) => {
                        let len = job.append.events.len() as u64;
                        let stream = &job.append.stream_id;
                        match e.fate {
                            Fate::Failed => {
                                self.recorder
                                    .failed(at_s, len, e.code(), stream, &e.message);
                                for o in self.observers.iter() {
                                    o.failed(&job.append, e.sqlstate.as_deref(), now);
                                }
                            }
                            Fate::Unknown => {
                                self.recorder
                                    .unknown(at_s, len, e.code(), stream, &e.message);
                                for o in self.observers.iter() {
                                    o.unknown(&job.append, e.sqlstate.as_deref(), now);
                                }
                            }
                        }
                    }
                }
            }
            self.in_flight.fetch_sub(n, Ordering::SeqCst);
        }
    }

    /// One append in its own transaction, or a group in one transaction,
    /// in stream order (so that two groups lock shared streams in the same
    /// order and cannot deadlock): one `append_streams` statement, or the
    /// `append_events` calls pipelined on the connection and one COMMIT.
    /// All are stored or, on any error, none; when the connection fails
    /// during the statement that commits (the single append, the
    /// `append_streams` call, or COMMIT), the client cannot tell which:
    /// [`Fate::Unknown`].
    async fn append(&mut self, group: &mut [Scheduled]) -> Result<(), AppendError> {
        if self.conn.as_ref().is_none_or(|(c, _)| c.is_closed()) {
            self.reconnect().await?;
        }
        let Some((client, stmt)) = self.conn.as_mut() else {
            return Err(AppendError::no_connection(
                "no connection to PostgreSQL".into(),
            ));
        };
        let failed = |e: tokio_postgres::Error| AppendError::before_commit(&e);
        if let [one] = group {
            return client
                .query_one(
                    &stmt.one,
                    &[&one.append.stream_id, &Json(&one.append.events)],
                )
                .await
                .map(drop)
                .map_err(|e| AppendError::of_commit(&e));
        }
        group.sort_by(|a, b| a.append.stream_id.cmp(&b.append.stream_id));
        if let (GroupAppend::Streams, Some(many)) = (self.group_append, &stmt.group) {
            let streams: Vec<&str> = group.iter().map(|j| j.append.stream_id.as_str()).collect();
            let events: Vec<Json<&Vec<_>>> = group.iter().map(|j| Json(&j.append.events)).collect();
            return client
                .query_one(many, &[&streams, &events])
                .await
                .map(drop)
                .map_err(|e| AppendError::of_commit(&e));
        }
        let tx = client.transaction().await.map_err(failed)?;
        let (tx_ref, stmt) = (&tx, &stmt.one);
        let calls = group.iter().map(|j| async move {
            let events = Json(&j.append.events);
            tx_ref
                .query_one(stmt, &[&j.append.stream_id, &events])
                .await
        });
        futures_util::future::try_join_all(calls)
            .await
            .map_err(failed)?;
        tx.commit().await.map_err(|e| AppendError::of_commit(&e))
    }

    async fn reconnect(&mut self) -> Result<(), AppendError> {
        self.conn = None;
        if self
            .last_reconnect
            .is_some_and(|t| t.elapsed() < RECONNECT_INTERVAL)
        {
            return Err(AppendError::no_connection(
                "connection to PostgreSQL lost; reconnecting".into(),
            ));
        }
        self.last_reconnect = Some(Instant::now());
        let client = connect(&self.url)
            .await
            .map_err(|e| AppendError::no_connection(format!("{e:#}")))?;
        let stmt = prepare_append(&client, self.group_append)
            .await
            .map_err(|e| AppendError::no_connection(format!("{e:#}")))?;
        info!(worker = self.id, "reconnected to PostgreSQL");
        self.conn = Some((client, stmt));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_without_a_reply_has_an_unknown_outcome() {
        assert_eq!(Fate::of_commit_error(None), Fate::Unknown);
    }

    #[test]
    fn connection_shutdown_system_and_internal_errors_of_the_commit_are_unknown() {
        // 08006 connection failure, 08003 no connection, 57P01 admin
        // shutdown, 57P02 crash shutdown, 57014 canceled, 58030 I/O error,
        // XX000 internal error.
        for code in [
            "08006", "08003", "08000", "57P01", "57P02", "57014", "58030", "XX000",
        ] {
            assert_eq!(Fate::of_commit_error(Some(code)), Fate::Unknown, "{code}");
        }
    }

    #[test]
    fn errors_the_server_raised_for_the_statement_are_failures() {
        // XB001 a stale expected version, XB003 an invalid event, 23505 a
        // duplicate, 40001 serialization failure, 53100 disk full, 25P02 an
        // aborted transaction: the statement (or COMMIT) was refused whole.
        for code in [
            "XB001", "XB003", "23505", "40001", "53100", "25P02", "P0001",
        ] {
            assert_eq!(Fate::of_commit_error(Some(code)), Fate::Failed, "{code}");
        }
    }

    #[test]
    fn no_connection_before_sending_is_a_failure_counted_as_08006() {
        let e = AppendError::no_connection("connection refused".into());
        assert_eq!(e.fate, Fate::Failed);
        assert_eq!(e.code(), "08006");
    }

    #[tokio::test]
    async fn tls_parameters_are_checked_before_connecting_and_the_password_stays_hidden() {
        let err = connect("postgresql://u:secret@localhost:1/bss?sslmode=verify-everything")
            .await
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("sslmode=verify-everything"), "{msg}");
        assert!(!msg.contains("secret"), "{msg}");
        let err = connect(
            "postgresql://u@localhost:1/bss?sslmode=verify-full&sslrootcert=/nonexistent/ca.crt",
        )
        .await
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("sslrootcert /nonexistent/ca.crt"), "{msg}");
    }

    /// A server without TLS: answers one SSLRequest with 'N', then the
    /// startup message with an error of SQLSTATE 28000.
    async fn plaintext_server() -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 8];
            sock.read_exact(&mut request).await.unwrap();
            assert_eq!(request, [0, 0, 0, 8, 4, 210, 22, 47], "an SSLRequest");
            sock.write_all(b"N").await.unwrap();
            // A client that wants TLS or nothing hangs up here.
            let Ok(len) = sock.read_u32().await else {
                return;
            };
            let mut startup = vec![0u8; (len as usize).saturating_sub(4)];
            sock.read_exact(&mut startup).await.unwrap();
            let fields = b"SFATAL\0C28000\0Mplaintext server\0\0";
            let mut reply = vec![b'E'];
            reply.extend_from_slice(&(fields.len() as u32 + 4).to_be_bytes());
            reply.extend_from_slice(fields);
            sock.write_all(&reply).await.unwrap();
        });
        port
    }

    #[tokio::test]
    async fn a_url_without_sslmode_prefers_tls_and_goes_on_in_plaintext_without_it() {
        let port = plaintext_server().await;
        let err = connect(&format!("postgresql://u@127.0.0.1:{port}/bss"))
            .await
            .unwrap_err();
        let pg = err.downcast_ref::<tokio_postgres::Error>().unwrap();
        assert_eq!(sqlstate(pg), "28000", "{err:#}");
    }

    #[tokio::test]
    async fn sslmode_require_never_goes_on_in_plaintext() {
        let port = plaintext_server().await;
        let err = connect(&format!(
            "postgresql://u@127.0.0.1:{port}/bss?sslmode=require"
        ))
        .await
        .unwrap_err();
        let pg = err.downcast_ref::<tokio_postgres::Error>().unwrap();
        assert_eq!(sqlstate(pg), "client", "{err:#}");
        assert!(format!("{err:#}").contains("TLS"), "{err:#}");
    }
}
