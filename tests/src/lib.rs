//! Helpers for tests that need real, separate PostgreSQL sessions (concurrency,
//! gap-safety), run against the devdb that `make devdb` starts.
//!
//! Each test names its streams with a run-unique prefix, so the devdb may hold
//! earlier events and tests never see each other's streams.

use std::time::{SystemTime, UNIX_EPOCH};

pub mod broker;
pub mod process;
pub mod redis_server;

pub use postgres::{Client, NoTls};

/// `BSS_DATABASE_URL`, else the devdb's default address.
pub fn database_url() -> String {
    std::env::var("BSS_DATABASE_URL")
        .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:28815/bss".to_string())
}

/// A new session.
pub fn session() -> Client {
    Client::connect(&database_url(), NoTls).unwrap_or_else(|e| {
        panic!(
            "cannot connect to {} (run `make devdb`): {e}",
            database_url()
        )
    })
}

/// A prefix no other test run uses.
pub fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{name}{}x{}", nanos % 1_000_000_000_000, std::process::id())
}

/// The highest global position committed so far: read_all cursors start here.
pub fn head_position(c: &mut Client) -> i64 {
    c.query_one(
        "SELECT coalesce(max(global_position), 0) FROM bss.events",
        &[],
    )
    .unwrap()
    .get(0)
}

/// Positions `read_all` returns after `after`, one page of at most `max`.
pub fn read_all_positions(c: &mut Client, after: i64, max: i32) -> Vec<i64> {
    c.query(
        "SELECT global_position FROM bss.read_all($1, $2)",
        &[&after, &max],
    )
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// Appends one event and returns the new stream version.
pub fn append(c: &mut Client, stream: &str) -> Result<i64, postgres::Error> {
    c.query_one(
        "SELECT bss.append_event($1, 'test.happened', '{}'::jsonb)",
        &[&stream],
    )
    .map(|r| r.get(0))
}

/// The SQLSTATE of a database error, if it is one.
pub fn sqlstate(e: &postgres::Error) -> Option<String> {
    e.as_db_error().map(|d| d.code().code().to_string())
}

/// A small deterministic generator for test schedules (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// RFC 7396 JSON merge patch: the reference fold the store's default
/// reducer and the sidecar's Redis state are checked against.
pub fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    use serde_json::Value;
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let t = target.as_object_mut().expect("just made an object");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}
