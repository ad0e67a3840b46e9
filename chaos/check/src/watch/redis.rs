//! Watching Redis: the sidecar's category streams (`<prefix><category>`,
//! entry ids `<commit_lsn>-<txn_index>`, fields `ce_id`, `stream_id`,
//! `version`), read with XRANGE from after the last entry seen, every
//! [`POLL_INTERVAL`]; and at the end the `version` of each stream's
//! aggregate hash (`<agg prefix><stream_id>`). A lost connection is
//! reopened and the reading resumes where it was. Told that Redis was
//! rebuilt (`rebuilt`, the watch's SIGUSR1: the sidecar's replay after a
//! point-in-time restore removed its keys and wrote them anew), it forgets
//! what it saw there and reads every stream again from its start, so the
//! arrivals are what Redis holds. Must never write to Redis and never give
//! up on a Redis error.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redis::{Connection, Value};
use tracing::{info, warn};

use super::collected::{unix_now, Collected};
use crate::arrivals::{AggregateVersion, RedisArrival};

/// How often the streams are read.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Entries per XRANGE reply.
const ENTRIES_PER_READ: usize = 1_000;
/// Bounds on connecting and on any one reply: a stalled Redis must not
/// stall the watch.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// Wait after a failed connection before the next try.
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);
/// Aggregate hashes read per pipeline.
const AGGREGATES_PER_PIPELINE: usize = 500;
const ERRORS_LOGGED: u64 = 10;

#[derive(Debug, thiserror::Error)]
#[error("redis: invalid url: {0}")]
pub struct RedisWatchError(redis::RedisError);

fn connect(client: &redis::Client) -> redis::RedisResult<Connection> {
    let conn = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
    conn.set_read_timeout(Some(REPLY_TIMEOUT))?;
    conn.set_write_timeout(Some(REPLY_TIMEOUT))?;
    Ok(conn)
}

/// Starts the thread that reads `keys` (the category streams) from `url`
/// into `seen` until `stop` is set, from the start again whenever
/// `rebuilt` is set.
pub fn spawn(
    url: &str,
    keys: Vec<String>,
    seen: Arc<Collected>,
    stop: Arc<AtomicBool>,
    rebuilt: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, RedisWatchError> {
    let client = redis::Client::open(url).map_err(RedisWatchError)?;
    std::thread::Builder::new()
        .name("watch-redis".into())
        .spawn(move || run(&client, &keys, &seen, &stop, &rebuilt))
        .map_err(|e| RedisWatchError(redis::RedisError::from(e)))
}

fn run(
    client: &redis::Client,
    keys: &[String],
    seen: &Collected,
    stop: &AtomicBool,
    rebuilt: &AtomicBool,
) {
    // The last entry id read per key ("-": none yet).
    let mut last: HashMap<String, String> = keys.iter().map(|k| (k.clone(), "-".into())).collect();
    let mut conn: Option<Connection> = None;
    let mut errors = 0u64;
    let mut error = |what: &str, e: &dyn std::fmt::Display| {
        errors += 1;
        if errors <= ERRORS_LOGGED || errors.is_multiple_of(1000) {
            warn!(error = %e, errors, "{what}");
        }
    };
    while !stop.load(Ordering::SeqCst) {
        if rebuilt.swap(false, Ordering::SeqCst) {
            seen.lock().forget_redis();
            last.values_mut().for_each(|l| *l = "-".into());
            info!("Redis was rebuilt: reading its streams again from the start");
        }
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match connect(client) {
                Ok(c) => {
                    info!("redis watch connected");
                    conn.insert(c)
                }
                Err(e) => {
                    error("redis not reachable", &e);
                    std::thread::sleep(RECONNECT_PAUSE);
                    continue;
                }
            },
        };
        let mut failed = false;
        for key in keys {
            if let Err(e) = read_new(c, key, &mut last, seen) {
                error("redis read failed; reconnecting", &e);
                failed = true;
                break;
            }
        }
        if failed {
            conn = None;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    info!("redis watch stopped");
}

/// Reads the entries of `key` after the last one seen, all of them.
fn read_new(
    conn: &mut Connection,
    key: &str,
    last: &mut HashMap<String, String>,
    seen: &Collected,
) -> redis::RedisResult<()> {
    loop {
        let from = match last.get(key).map(String::as_str) {
            Some("-") | None => "-".to_owned(),
            Some(id) => format!("({id}"),
        };
        let reply: Value = redis::cmd("XRANGE")
            .arg(key)
            .arg(&from)
            .arg("+")
            .arg("COUNT")
            .arg(ENTRIES_PER_READ)
            .query(conn)?;
        let entries = entries(&reply);
        let at = unix_now();
        let n = entries.len();
        if let Some((id, _)) = entries.last() {
            last.insert(key.to_owned(), id.clone());
        }
        {
            let mut g = seen.lock();
            for (entry_id, fields) in entries {
                let field = |name: &str| fields.iter().find(|(f, _)| f == name).map(|(_, v)| v);
                let (Some(ce_id), Some(stream_id), Some(version)) = (
                    field("ce_id"),
                    field("stream_id"),
                    field("version").and_then(|v| v.parse::<i64>().ok()),
                ) else {
                    continue;
                };
                g.redis(RedisArrival {
                    ce_id: ce_id.to_ascii_lowercase(),
                    stream_id: stream_id.clone(),
                    version,
                    key: key.to_owned(),
                    entry_id,
                    at_unix: at,
                });
            }
        }
        if n < ENTRIES_PER_READ {
            return Ok(());
        }
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// The entries of an XRANGE reply: id and fields (only text fields, and
/// not `data`, which the account does not need).
fn entries(reply: &Value) -> Vec<(String, Vec<(String, String)>)> {
    let Value::Array(items) = reply else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Array(pair) = item else { continue };
        let (Some(id), Some(fields)) = (pair.first().and_then(text), pair.get(1)) else {
            continue;
        };
        let flat: Vec<&Value> = match fields {
            Value::Array(f) => f.iter().collect(),
            Value::Map(m) => m.iter().flat_map(|(k, v)| [k, v]).collect(),
            _ => Vec::new(),
        };
        let mut kv = Vec::with_capacity(4);
        for p in flat.chunks(2) {
            if let [k, v] = p {
                if let Some(name) = text(k) {
                    if matches!(name.as_str(), "ce_id" | "stream_id" | "version") {
                        kv.push((name, text(v).unwrap_or_default()));
                    }
                }
            }
        }
        out.push((id, kv));
    }
    out
}

/// The `version` field of each stream's aggregate hash, trying for at
/// most `patience` while Redis is unreachable; streams it could not read
/// are left out.
pub fn read_aggregates(
    url: &str,
    agg_prefix: &str,
    streams: &[String],
    patience: Duration,
) -> Vec<AggregateVersion> {
    let Ok(client) = redis::Client::open(url) else {
        return Vec::new();
    };
    let started = Instant::now();
    let mut out = Vec::with_capacity(streams.len());
    let mut rest = streams;
    let mut conn: Option<Connection> = None;
    while !rest.is_empty() && started.elapsed() < patience {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match connect(&client) {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    warn!(error = %e, "redis not reachable for the aggregates");
                    std::thread::sleep(RECONNECT_PAUSE);
                    continue;
                }
            },
        };
        let chunk = &rest[..rest.len().min(AGGREGATES_PER_PIPELINE)];
        let mut pipe = redis::pipe();
        for s in chunk {
            pipe.cmd("HGET")
                .arg(format!("{agg_prefix}{s}"))
                .arg("version");
        }
        match pipe.query::<Vec<Option<String>>>(c) {
            Ok(versions) => {
                let at = unix_now();
                for (s, v) in chunk.iter().zip(versions) {
                    out.push(AggregateVersion {
                        stream_id: s.clone(),
                        version: v.and_then(|v| v.parse().ok()),
                        at_unix: at,
                    });
                }
                rest = &rest[chunk.len()..];
            }
            Err(e) => {
                warn!(error = %e, "reading the aggregates failed; reconnecting");
                conn = None;
                std::thread::sleep(RECONNECT_PAUSE);
            }
        }
    }
    if !rest.is_empty() {
        warn!(
            unread = rest.len(),
            "the aggregates of some streams could not be read from Redis"
        );
    }
    out
}
