//! Owns delivery to Redis: a stream per category, the latest state of each
//! event stream and per-minute counters per event type, all written by one
//! Redis Function (`redis_functions.lua`) that makes redelivery harmless.
//! Must never acknowledge a batch Redis has not fully applied, never write
//! outside its configured key prefixes, and never hang on a dead Redis.
//!
//! Key layout (default prefixes):
//! - `bss:events:<category>`: a stream; entry ID `<commit_lsn>-<txn_index>`
//!   (stable across restarts, increasing in commit order), fields `ce_id`,
//!   `stream_id`, `version`, `type`, `source`, `subject` (when set), `time`,
//!   `global_position`, `metadata`, `data`. An entry whose ID is not above
//!   the stream's last ID was delivered before and is not added again.
//! - `bss:agg:<stream_id>`: a hash, `state` = RFC 7396 merge patch of every
//!   event's `data` in version order (JSON text), `version` = the last
//!   applied version, `exact` = internal (1 when `state` survives Redis's
//!   cjson unchanged). An event at or below `version` changes nothing.
//! - `bss:count:<YYYYMMDDHHMM>`: a hash per UTC minute of commit time, field
//!   = event type, value = events of that type committed in that minute. It
//!   expires `counter_ttl_secs` after the end of its minute. A key per
//!   minute (not per type) lets each minute expire on its own. Counted only
//!   when the stream entry was added, so redelivery never counts twice.
//!
//! - `bss:sink:chain` (`chain_key`): a hash, `last` = the entry ID of the
//!   last event of the latest function call that ran.
//!
//! A batch goes out as one FCALL per chunk of at most
//! [`MAX_EVENTS_PER_CALL`] events (or [`MAX_BYTES_PER_CALL`] bytes), in
//! order, up to `max_calls_in_flight` (4) of them sent before the first is
//! answered. A function call is atomic and Redis refuses it as a whole when
//! it cannot run it (OOM, BUSY, LOADING, READONLY); each call in flight
//! names the last entry ID of the call before it and runs only if `last`
//! holds that ID. So a later event of a category stream never lands before
//! an earlier one that must be retried (its lower entry ID would then be
//! taken for a redelivery and lost).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::task::Poll;
use std::time::Duration;

use futures::future::BoxFuture;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ErrorKind, RedisError, RedisResult, ServerError, Value};
use serde::Deserialize;

use crate::event::Spooled;
use crate::sink::{Sink, SinkError};

/// The Redis Function library, loaded with `FUNCTION LOAD REPLACE`.
const LIBRARY: &str = include_str!("redis_functions.lua");
/// The function that applies a chunk of events (the library's only one).
const FUNCTION: &str = "bss_apply_events_v2";
/// Events per function call: bounds how long one call holds Redis (about
/// 15 us per event on the 2-core dev machine, so under 10 ms).
pub const MAX_EVENTS_PER_CALL: usize = 500;
/// Bytes of event data and metadata per function call (a chunk ends early
/// when its events are large), so one request stays small for Redis.
pub const MAX_BYTES_PER_CALL: usize = 4 << 20;

/// What waiting for one function call's reply ends with.
type Reply = Result<RedisResult<Value>, tokio::time::error::Elapsed>;

/// Where and how the Redis sink writes (`[redis]` in the sidecar's config).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSinkConfig {
    /// `redis://[user:password@]host:port[/db]`
    pub url: String,
    /// Stream per category: `<stream_prefix><category>`.
    pub stream_prefix: String,
    /// Latest state per event stream: `<agg_prefix><stream_id>`.
    pub agg_prefix: String,
    /// Counters per minute: `<counter_prefix><YYYYMMDDHHMM>`.
    pub counter_prefix: String,
    /// Trims each category stream to about this many entries (`MAXLEN ~`);
    /// none keeps every entry.
    pub stream_maxlen: Option<u64>,
    /// How long a minute's counters live after the minute ends.
    pub counter_ttl_secs: u64,
    /// A hash whose field `last` holds the entry id of the last event the
    /// sink's latest function call applied: it orders the calls in flight.
    pub chain_key: String,
    /// Function calls sent and not yet answered, at most (as Kafka's
    /// `max.in.flight.requests.per.connection`): Redis runs the next while
    /// the sidecar reads a reply and prepares the call after it. 1 waits for
    /// each reply.
    pub max_calls_in_flight: usize,
    /// Bound on establishing a connection (TCP and handshake).
    pub connect_timeout_ms: u64,
    /// Bound on any one request, a whole function call included.
    pub response_timeout_ms: u64,
    /// TLS (a `rediss://` URL), as redis.conf names the files: the CA
    /// certificate that signed the server's (none: the system's roots), and
    /// the client's certificate and key (for `tls-auth-clients yes`).
    pub tls_ca_cert_file: Option<PathBuf>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
}

impl Default for RedisSinkConfig {
    fn default() -> Self {
        RedisSinkConfig {
            url: "redis://127.0.0.1:6379/".to_owned(),
            stream_prefix: "bss:events:".to_owned(),
            agg_prefix: "bss:agg:".to_owned(),
            counter_prefix: "bss:count:".to_owned(),
            stream_maxlen: None,
            counter_ttl_secs: 172_800,
            chain_key: "bss:sink:chain".to_owned(),
            max_calls_in_flight: 4,
            connect_timeout_ms: 2_000,
            response_timeout_ms: 5_000,
            tls_ca_cert_file: None,
            tls_cert_file: None,
            tls_key_file: None,
        }
    }
}

impl RedisSinkConfig {
    /// The defaults, writing to `url`.
    pub fn new(url: impl Into<String>) -> Self {
        RedisSinkConfig {
            url: url.into(),
            ..Default::default()
        }
    }

    /// Everything the sink checks before it connects: calls may be sent,
    /// the URL parses, the TLS files are read.
    pub fn check(&self) -> Result<(), String> {
        if self.max_calls_in_flight == 0 {
            return Err("redis: max_calls_in_flight must be at least 1".to_owned());
        }
        self.client().map(|_| ())
    }

    /// The client of the URL: over TLS for `rediss://`, with the files given.
    fn client(&self) -> Result<redis::Client, String> {
        let invalid = |e: &dyn std::fmt::Display| format!("redis: invalid url {:?}: {e}", self.url);
        // A function call is one large request and the sink waits for its
        // reply: Nagle's algorithm would hold its last segment back until the
        // previous ones are acknowledged (with TLS, each record is a write).
        let info = redis::IntoConnectionInfo::into_connection_info(self.url.as_str())
            .map_err(|e| invalid(&e))?
            .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
        let files = [
            &self.tls_ca_cert_file,
            &self.tls_cert_file,
            &self.tls_key_file,
        ];
        if !self.url.starts_with("rediss://") {
            if files.iter().any(|f| f.is_some()) {
                return Err(format!(
                    "redis: tls_* files are set but the url {:?} is not rediss:// (TLS)",
                    self.url
                ));
            }
            return redis::Client::open(info).map_err(|e| invalid(&e));
        }
        let read = |path: &PathBuf, what: &str| {
            std::fs::read(path).map_err(|e| format!("redis: {what} {}: {e}", path.display()))
        };
        let client_tls = match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
                client_cert: read(cert, "tls_cert_file")?,
                client_key: read(key, "tls_key_file")?,
            }),
            (None, None) => None,
            _ => return Err("redis: tls_cert_file and tls_key_file go together".to_owned()),
        };
        let root_cert = match &self.tls_ca_cert_file {
            Some(ca) => Some(read(ca, "tls_ca_cert_file")?),
            None => None,
        };
        // The Redis client builds its TLS configuration from the process's provider.
        bss_tls::provider();
        redis::Client::build_with_tls(
            info,
            redis::TlsCertificates {
                client_tls,
                root_cert,
            },
        )
        .map_err(|e| invalid(&e))
    }

    fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms.max(1))
    }

    fn response_timeout(&self) -> Duration {
        Duration::from_millis(self.response_timeout_ms.max(1))
    }
}

/// Delivers events to Redis; see the module doc for what it writes.
pub struct RedisSink {
    cfg: RedisSinkConfig,
    client: redis::Client,
    /// None until connected, and again after a connection error: the next
    /// delivery connects afresh and loads the library again.
    conn: Option<MultiplexedConnection>,
}

impl RedisSink {
    /// Connects and loads the function library. Err(Retry) when Redis cannot
    /// be reached now, Err(Fatal) for a bad URL or a Redis without Functions.
    pub async fn connect(cfg: RedisSinkConfig) -> Result<RedisSink, SinkError> {
        let mut sink = RedisSink::lazy(cfg)?;
        sink.connection().await.map_err(|f| f.into_sink_error())?;
        Ok(sink)
    }

    /// Checks the URL only; connects on the first delivery, so the sidecar
    /// can start (and spool) while Redis is down.
    pub fn lazy(cfg: RedisSinkConfig) -> Result<RedisSink, SinkError> {
        let client = cfg.client().map_err(SinkError::Fatal)?;
        Ok(RedisSink {
            cfg,
            client,
            conn: None,
        })
    }

    /// The open connection, or a new one with the library loaded.
    async fn connection(&mut self) -> Result<&mut MultiplexedConnection, Failure> {
        if self.conn.is_none() {
            let conn_cfg = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(self.cfg.connect_timeout()))
                .set_response_timeout(Some(self.cfg.response_timeout()));
            let connecting = self
                .client
                .get_multiplexed_async_connection_with_config(&conn_cfg);
            let mut conn = match tokio::time::timeout(self.cfg.connect_timeout(), connecting).await
            {
                Ok(Ok(conn)) => conn,
                Ok(Err(e)) => return Err(classify_request_error(&e, "connect")),
                Err(_) => {
                    return Err(Failure::Connection(format!(
                        "connect: no connection within {:?}",
                        self.cfg.connect_timeout()
                    )))
                }
            };
            load_library(&mut conn, self.cfg.response_timeout()).await?;
            tracing::info!(url = %redacted(&self.cfg.url), "redis: connected, function library loaded");
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }

    /// Removes every key under the sink's three prefixes and its chain key
    /// (for a rebuild after a restore: the keys of a history the store no
    /// longer has), with SCAN and UNLINK, a page at a time. Returns how
    /// many it removed.
    pub async fn remove_keys(&mut self) -> Result<u64, SinkError> {
        let prefixes = [
            self.cfg.stream_prefix.clone(),
            self.cfg.agg_prefix.clone(),
            self.cfg.counter_prefix.clone(),
        ];
        let chain_key = self.cfg.chain_key.clone();
        let timeout = self.cfg.response_timeout();
        let conn = self.connection().await.map_err(|f| f.into_sink_error())?;
        let mut removed = 0u64;
        for prefix in prefixes {
            let pattern = format!("{}*", glob_escaped(&prefix));
            let mut cursor = 0u64;
            loop {
                let (next, keys): (u64, Vec<String>) = tokio::time::timeout(
                    timeout,
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(conn),
                )
                .await
                .map_err(|_| {
                    SinkError::Retry(format!("redis: SCAN did not answer within {timeout:?}"))
                })?
                .map_err(|e| classify_request_error(&e, "SCAN").into_sink_error())?;
                if !keys.is_empty() {
                    let n: u64 = redis::cmd("UNLINK")
                        .arg(&keys)
                        .query_async(conn)
                        .await
                        .map_err(|e| classify_request_error(&e, "UNLINK").into_sink_error())?;
                    removed += n;
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        let n: u64 = redis::cmd("UNLINK")
            .arg(&chain_key)
            .query_async(conn)
            .await
            .map_err(|e| classify_request_error(&e, "UNLINK").into_sink_error())?;
        Ok(removed + n)
    }

    async fn deliver_batch(&mut self, batch: &[Spooled]) -> Result<(), SinkError> {
        // Redis would store malformed data as it is; refuse it before
        // sending anything (the store's jsonb never produces it).
        for s in batch {
            let checked = serde_json::from_str::<serde::de::IgnoredAny>(&s.event.data);
            // Nesting deeper than serde_json's limit (128) is still JSON.
            let too_deep = |e: &serde_json::Error| e.to_string().starts_with("recursion limit");
            if let Some(e) = checked.err().filter(|e| !too_deep(e)) {
                return Err(SinkError::Fatal(format!(
                    "redis: event seq {} of stream {:?} (version {}) has data that is not JSON: {e}",
                    s.seq, s.event.stream_id, s.event.stream_version
                )));
            }
        }
        let mut rest = batch;
        let mut fresh_connection_tried = false;
        let mut library_reloaded = false;
        let mut chain_restarted = false;
        while !rest.is_empty() {
            let was_connected = self.conn.is_some();
            let (done, outcome) = self.deliver_calls(rest).await;
            if done > 0 {
                // Progress: each recovery below is allowed once more.
                (fresh_connection_tried, library_reloaded, chain_restarted) = (false, false, false);
            }
            rest = &rest[done..];
            match outcome {
                Ok(()) => {}
                Err(Failure::Connection(msg)) => {
                    self.conn = None;
                    if !was_connected || fresh_connection_tried {
                        return Err(Failure::Connection(msg).into_sink_error());
                    }
                    fresh_connection_tried = true;
                    tracing::info!(error = %msg, "redis: connection lost, reconnecting");
                }
                Err(Failure::FunctionMissing) if !library_reloaded => {
                    library_reloaded = true;
                    tracing::warn!(
                        "redis: function {FUNCTION} missing (Redis restarted empty?), loading it again"
                    );
                    let timeout = self.cfg.response_timeout();
                    let Some(conn) = self.conn.as_mut() else {
                        continue; // connects and loads it afresh
                    };
                    if let Err(f) = load_library(conn, timeout).await {
                        if matches!(f, Failure::Connection(_)) {
                            self.conn = None;
                        }
                        return Err(f.into_sink_error());
                    }
                }
                // The first call in flight found the chain moved by someone
                // else (every call before it was answered): sent again
                // without a predecessor, it is not checked.
                Err(Failure::ChainBroken(msg)) if !chain_restarted => {
                    chain_restarted = true;
                    tracing::warn!(error = %msg, "redis: the chain key changed under the sink");
                }
                Err(f) => return Err(f.into_sink_error()),
            }
        }
        Ok(())
    }

    /// Sends function calls for the chunks of `rest` in order, at most
    /// `max_calls_in_flight` unanswered at once on the connection, each
    /// chained to the one before it (see redis_functions.lua), and prepares
    /// the next while Redis runs them. Returns how many events from the
    /// front were applied, and why it stopped before the end. Calls still
    /// in flight after a failure are not waited for: the chain refuses them
    /// if the failed one did not run, and they are sent again anyway.
    async fn deliver_calls(&mut self, rest: &[Spooled]) -> (usize, Result<(), Failure>) {
        let conn = match self.connection().await {
            Ok(conn) => conn.clone(),
            Err(f) => {
                self.conn = None;
                return (0, Err(f));
            }
        };
        let timeout = self.cfg.response_timeout();
        let mut in_flight: VecDeque<(usize, BoxFuture<'static, Reply>)> = VecDeque::new();
        let (mut sent, mut done) = (0, 0);
        let mut prev: Option<String> = None;
        loop {
            while in_flight.len() < self.cfg.max_calls_in_flight.max(1) && sent < rest.len() {
                let len = chunk_len(&rest[sent..]);
                let chunk = &rest[sent..sent + len];
                let call = function_call(&self.cfg, chunk, prev.as_deref());
                let mut c = conn.clone();
                let mut reply: BoxFuture<'static, Reply> = Box::pin(async move {
                    tokio::time::timeout(timeout, call.query_async::<Value>(&mut c)).await
                });
                // Polled once, the request is queued on the connection: the
                // calls go out in the order they were made.
                if let Poll::Ready(r) = futures::poll!(reply.as_mut()) {
                    reply = Box::pin(std::future::ready(r));
                }
                in_flight.push_back((len, reply));
                prev = Some(entry_id(&chunk[len - 1]));
                sent += len;
            }
            let Some((len, reply)) = in_flight.pop_front() else {
                return (done, Ok(()));
            };
            let chunk = &rest[done..done + len];
            let checked = match reply.await {
                Ok(Ok(reply)) => check_reply(chunk, reply),
                Ok(Err(e)) => Err(classify_call_error(chunk, &e)),
                Err(_) => Err(Failure::Connection(format!(
                    "{FUNCTION}: no reply within {timeout:?}"
                ))),
            };
            if let Err(f) = checked {
                return (done, Err(f));
            }
            done += len;
        }
    }
}

impl Sink for RedisSink {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn deliver<'a>(&'a mut self, batch: &'a [Spooled]) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(self.deliver_batch(batch))
    }
}

/// `FCALL bss_apply_events_v2` for `chunk`, chained to the call before it
/// when that one ended with entry id `prev` and is still unanswered; see
/// redis_functions.lua for the arguments.
fn function_call(cfg: &RedisSinkConfig, chunk: &[Spooled], prev: Option<&str>) -> redis::Cmd {
    let maxlen = cfg.stream_maxlen.map(|n| n.to_string()).unwrap_or_default();
    // Each key once, the chain key first; events refer to keys by 1-based
    // position.
    let mut keys: Vec<String> = vec![cfg.chain_key.clone()];
    let mut position: HashMap<String, usize> = HashMap::from([(cfg.chain_key.clone(), 1)]);
    let mut key_of = |key: String| -> usize {
        *position.entry(key).or_insert_with_key(|k| {
            keys.push(k.clone());
            keys.len()
        })
    };
    let mut refs = Vec::with_capacity(chunk.len());
    let mut minutes = Vec::with_capacity(chunk.len());
    for s in chunk {
        let e = &s.event;
        let minute = e.commit_time_us.div_euclid(60_000_000);
        refs.push([
            key_of(format!("{}{}", cfg.stream_prefix, e.category())),
            key_of(format!("{}{}", cfg.agg_prefix, e.stream_id)),
            key_of(format!("{}{}", cfg.counter_prefix, minute_label(minute))),
        ]);
        minutes.push(minute);
    }

    let mut cmd = redis::cmd("FCALL");
    cmd.arg(FUNCTION).arg(keys.len()).arg(&keys);
    cmd.arg(&maxlen).arg(prev.unwrap_or("")).arg(chunk.len());
    for ((s, [stream, agg, counter]), minute) in chunk.iter().zip(refs).zip(minutes) {
        let e = &s.event;
        let expire_at = (minute + 1)
            .saturating_mul(60)
            .saturating_add_unsigned(cfg.counter_ttl_secs);
        // The field/value pairs pushed below: ten, and subject when set.
        let fields = 10 + usize::from(e.subject.is_some());
        cmd.arg(stream)
            .arg(agg)
            .arg(counter)
            .arg(entry_id(s))
            .arg(e.stream_version)
            .arg(&e.event_type)
            .arg(expire_at)
            .arg(if cjson_exact(&e.data) { "1" } else { "0" })
            .arg(fields)
            .arg("ce_id")
            .arg(e.ce_id().as_ref())
            .arg("stream_id")
            .arg(&e.stream_id)
            .arg("version")
            .arg(e.stream_version)
            .arg("type")
            .arg(&e.event_type)
            .arg("source")
            .arg(&e.source)
            .arg("tenant")
            .arg(&e.tenant);
        if let Some(subject) = &e.subject {
            cmd.arg("subject").arg(subject);
        }
        cmd.arg("time")
            .arg(&e.time)
            .arg("global_position")
            .arg(e.global_position)
            .arg("metadata")
            .arg(&e.metadata)
            .arg("data")
            .arg(&e.data);
    }
    cmd
}

/// The stream entry id of an event: `<commit_lsn>-<txn_index>`.
fn entry_id(s: &Spooled) -> String {
    format!("{}-{}", s.event.commit_lsn, s.event.txn_index)
}

/// How many events from the front of `rest` go into one function call: at
/// least one, at most MAX_EVENTS_PER_CALL, and no more once
/// MAX_BYTES_PER_CALL is reached.
fn chunk_len(rest: &[Spooled]) -> usize {
    let mut bytes = 0;
    let mut n = 0;
    for s in rest.iter().take(MAX_EVENTS_PER_CALL) {
        if n > 0 && bytes >= MAX_BYTES_PER_CALL {
            break;
        }
        bytes += s.event.data.len() + s.event.metadata.len() + 256;
        n += 1;
    }
    n
}

/// Why a request failed, as far as what to do next is concerned.
#[derive(Debug)]
enum Failure {
    /// The connection is unusable: drop it, retry on a new one.
    Connection(String),
    /// Redis refused for now (loading, busy, out of memory, read-only).
    Retry(String),
    /// The function library is not loaded.
    FunctionMissing,
    /// The call was refused because the one sent before it did not run.
    ChainBroken(String),
    /// Retrying cannot help.
    Fatal(String),
}

impl Failure {
    fn into_sink_error(self) -> SinkError {
        match self {
            Failure::Connection(m) | Failure::Retry(m) | Failure::ChainBroken(m) => {
                SinkError::Retry(format!("redis: {m}"))
            }
            Failure::FunctionMissing => SinkError::Retry(format!(
                "redis: function {FUNCTION} is missing again after loading it"
            )),
            Failure::Fatal(m) => SinkError::Fatal(format!("redis: {m}")),
        }
    }
}

/// `FUNCTION LOAD REPLACE` of the library on `conn`.
async fn load_library(conn: &mut MultiplexedConnection, timeout: Duration) -> Result<(), Failure> {
    let mut cmd = redis::cmd("FUNCTION");
    cmd.arg("LOAD").arg("REPLACE").arg(LIBRARY);
    match tokio::time::timeout(timeout, cmd.query_async::<Value>(conn)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => match classify_request_error(&e, "FUNCTION LOAD") {
            Failure::Fatal(m) => Err(Failure::Fatal(format!(
                "{m} (the sink needs Redis 7.0 or newer, with FUNCTION allowed for its user)"
            ))),
            f => Err(f),
        },
        Err(_) => Err(Failure::Connection(format!(
            "FUNCTION LOAD: no reply within {timeout:?}"
        ))),
    }
}

/// A failed request, without a reply to look at.
fn classify_request_error(e: &RedisError, what: &str) -> Failure {
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
        return Failure::Connection(format!("{what}: {e}"));
    }
    if let Some(errors) = e.clone().into_server_errors() {
        return match errors.first().map(|(_, se)| classify_server_error(se)) {
            Some(Failure::Fatal(m)) => Failure::Fatal(format!("{what}: {m}")),
            Some(Failure::FunctionMissing) => Failure::FunctionMissing,
            Some(Failure::ChainBroken(m)) => Failure::ChainBroken(m),
            Some(Failure::Retry(m)) | Some(Failure::Connection(m)) => {
                Failure::Retry(format!("{what}: {m}"))
            }
            None => Failure::Retry(format!("{what}: {e}")),
        };
    }
    match e.kind() {
        ErrorKind::AuthenticationFailed | ErrorKind::InvalidClientConfig => {
            Failure::Fatal(format!("{what}: {e}"))
        }
        ErrorKind::Parse => Failure::Connection(format!("{what}: {e}")),
        _ => Failure::Retry(format!("{what}: {e}")),
    }
}

/// A failed function call: an error the function raised for one event
/// (`BSSEVENT <i> ...`) names that event's seq and stream.
fn classify_call_error(chunk: &[Spooled], e: &RedisError) -> Failure {
    let server_error = e.clone().into_server_errors().and_then(|errors| {
        errors
            .first()
            .filter(|(_, se)| se.code() == "BSSEVENT")
            .map(|(_, se)| se.details().unwrap_or("").to_owned())
    });
    let Some(detail) = server_error else {
        return classify_request_error(e, FUNCTION);
    };
    let (index, message) = detail.split_once(' ').unwrap_or((detail.as_str(), ""));
    let event = index
        .parse::<usize>()
        .ok()
        .and_then(|i| chunk.get(i.wrapping_sub(1)));
    match event {
        Some(s) => Failure::Fatal(format!(
            "event seq {} of stream {:?} (version {}, type {:?}) was refused: {message}",
            s.seq, s.event.stream_id, s.event.stream_version, s.event.event_type
        )),
        None => Failure::Fatal(format!("{FUNCTION} refused an event: {detail}")),
    }
}

/// Error codes that mean "not now": the same request can succeed later.
const TRANSIENT_CODES: &[&str] = &[
    "LOADING",
    "BUSY",
    "OOM",
    "TRYAGAIN",
    "MASTERDOWN",
    "READONLY",
    "MISCONF",
    "NOREPLICAS",
    "CLUSTERDOWN",
];

fn classify_server_error(se: &ServerError) -> Failure {
    let code = se.code();
    let detail = se.details().unwrap_or("");
    if TRANSIENT_CODES.contains(&code) {
        Failure::Retry(format!("{code} {detail}"))
    } else if code == "BSSCHAIN" {
        Failure::ChainBroken(format!("{code} {detail}"))
    } else if code == "ERR" && detail.starts_with("Function not found") {
        Failure::FunctionMissing
    } else {
        Failure::Fatal(format!("{code} {detail}"))
    }
}

/// Checks the function's reply: `[entries added, states changed]`.
fn check_reply(chunk: &[Spooled], reply: Value) -> Result<(), Failure> {
    match reply {
        Value::Array(counts) if counts.len() == 2 => {
            tracing::debug!(events = chunk.len(), reply = ?counts, "redis: chunk applied");
            Ok(())
        }
        Value::ServerError(se) => Err(classify_server_error(&se)),
        other => Err(Failure::Fatal(format!(
            "{FUNCTION}: unexpected reply for {} events: {other:?}",
            chunk.len()
        ))),
    }
}

/// Whether Redis 7.0's cjson decodes and re-encodes `json` (valid JSON) to
/// the same value, which lets the function take its fast path: no empty
/// array (cjson turns it into `{}`), no number with more than 14
/// significant digits (cjson prints 14) or near the ends of the double
/// range. False when unsure: that only costs the function's exact path.
fn cjson_exact(json: &str) -> bool {
    let b = json.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'[' => {
                i += 1;
                let mut j = i;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if b.get(j) == Some(&b']') {
                    return false;
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                let (mut significant, mut leading_zeros) = (0, true);
                while i < b.len() && matches!(b[i], b'-' | b'.' | b'0'..=b'9') {
                    if b[i].is_ascii_digit() && (b[i] != b'0' || !leading_zeros) {
                        leading_zeros = false;
                        significant += 1;
                    }
                    i += 1;
                }
                let mantissa_len = i - start;
                let mut exponent: i64 = 0;
                if i < b.len() && matches!(b[i], b'e' | b'E') {
                    i += 1;
                    let from = i;
                    while i < b.len() && matches!(b[i], b'+' | b'-' | b'0'..=b'9') {
                        i += 1;
                    }
                    exponent = json[from..i].parse().unwrap_or(i64::MAX);
                }
                if significant > 14 || mantissa_len > 20 || exponent.unsigned_abs() > 280 {
                    return false;
                }
            }
            _ => i += 1,
        }
    }
    true
}

/// `YYYYMMDDHHMM` (UTC) of a minute counted from the Unix epoch.
fn minute_label(minute: i64) -> String {
    let days = minute.div_euclid(1440);
    let in_day = minute.rem_euclid(1440);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}{:02}{:02}", in_day / 60, in_day % 60)
}

/// (year, month, day) of a day counted from 1970-01-01 (proleptic
/// Gregorian; Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `prefix` as a SCAN pattern that matches it literally.
fn glob_escaped(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The URL without its password, for logs.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minute_label_is_the_utc_minute_of_commit_time() {
        assert_eq!(minute_label(0), "197001010000");
        assert_eq!(minute_label(1_795_000_000 / 60), "202611181106");
        assert_eq!(minute_label((951_782_400 + 59) / 60), "200002290000");
        assert_eq!(minute_label(-1), "196912312359");
    }

    #[test]
    fn config_defaults_fill_what_toml_leaves_out() {
        let cfg: RedisSinkConfig = serde_json::from_str(r#"{"url":"redis://h:1/"}"#).unwrap();
        assert_eq!(cfg.url, "redis://h:1/");
        assert_eq!(cfg.stream_prefix, "bss:events:");
        assert_eq!(cfg.agg_prefix, "bss:agg:");
        assert_eq!(cfg.counter_prefix, "bss:count:");
        assert_eq!(cfg.counter_ttl_secs, 172_800);
        assert_eq!(cfg.stream_maxlen, None);
    }

    #[test]
    fn cjson_exact_refuses_empty_arrays_and_long_numbers_outside_strings() {
        for ok in [
            r#"{"a": [1, {}], "b": 12345678901234, "c": 0.1, "d": -1.5e-200}"#,
            r#"{"s": "[] 123456789012345678 \" []"}"#,
            r#"{"z": 0.00012345678901234}"#,
            "null",
            r#""x""#,
        ] {
            assert!(cjson_exact(ok), "{ok}");
        }
        for not in [
            r#"{"a": []}"#,
            r#"{"a": [ ]}"#,
            "[]",
            r#"{"n": 123456789012345}"#,
            r#"{"f": 0.30000000000000004}"#,
            r#"{"f": 1.0000000000000000000001}"#,
            r#"{"e": 1e400}"#,
            r#"{"e": 1E-300}"#,
            r#"{"s": "\"", "a": []}"#,
        ] {
            assert!(!cjson_exact(not), "{not}");
        }
    }

    #[test]
    fn glob_escaped_matches_a_prefix_literally() {
        assert_eq!(glob_escaped("bss:events:"), "bss:events:");
        assert_eq!(glob_escaped("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }

    #[test]
    fn redacted_hides_the_password() {
        assert_eq!(redacted("redis://u:pw@h:1/0"), "redis://***@h:1/0");
        assert_eq!(redacted("redis://h:1/"), "redis://h:1/");
    }
}
