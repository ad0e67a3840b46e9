//! Owns sessions on the devdb that `make devdb` starts (or the database
//! `BSS_DATABASE_URL` names) and the few queries tests share on it. Never
//! starts, stops or resets the database: the caller's harness does that.

use postgres::{Client, NoTls};

/// The devdb's address when `BSS_DATABASE_URL` is not set.
const DEFAULT_DATABASE_URL: &str = "postgresql://postgres@127.0.0.1:28815/bss";

/// `BSS_DATABASE_URL`, else the devdb's default address.
pub fn database_url() -> String {
    std::env::var("BSS_DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_string())
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
