//! Two regions on this machine, each a PostgreSQL with pg_bss, joined both
//! ways (scripts/regions.sh; `make test-regions`): replication, ownership
//! (refusal, forwarding, homes), epochs and conflicts, fencing. BSS_REGION_URLS
//! names them: `eu=postgresql://...,us=postgresql://...`.
//!
//! The tests run one at a time (`--test-threads 1`): some cut the link
//! between the regions or move a region's streams. Each leaves both as it
//! found them: linked, every region serving its own streams.

mod epochs;
mod fencing;
mod ownership;
mod replication;

use std::time::{Duration, Instant};

use bss_tests::{sqlstate, Client, NoTls};
use serde_json::Value;

/// One region: its name (its bss.region) and a session on it.
pub struct Region {
    pub name: String,
    pub db: Client,
}

/// The two regions of BSS_REGION_URLS, in its order.
pub fn regions() -> (Region, Region) {
    let urls = std::env::var("BSS_REGION_URLS")
        .expect("BSS_REGION_URLS (eu=URL,us=URL) is not set: run make test-regions");
    let mut all: Vec<Region> = urls
        .split(',')
        .map(|pair| {
            let (name, url) = pair.split_once('=').expect("BSS_REGION_URLS: NAME=URL,...");
            let db = Client::connect(url, NoTls)
                .unwrap_or_else(|e| panic!("cannot connect to region {name} at {url}: {e}"));
            Region {
                name: name.to_owned(),
                db,
            }
        })
        .collect();
    assert_eq!(all.len(), 2, "two regions expected in BSS_REGION_URLS");
    let mut b = all.pop().unwrap();
    let mut a = all.pop().unwrap();
    for r in [&mut a, &mut b] {
        assert_eq!(
            local_region(r),
            r.name,
            "the database named {} in BSS_REGION_URLS is in another region",
            r.name
        );
    }
    (a, b)
}

pub fn local_region(r: &mut Region) -> String {
    r.db.query_one("SELECT bss.local_region()", &[])
        .unwrap()
        .get(0)
}

/// Waits until `done` holds, at most `secs` seconds; panics naming `what`.
pub fn wait_for(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: not within {secs} s");
}

/// Appends one event; the stream's version after it.
pub fn append(r: &mut Region, stream: &str, data: Value) -> Result<i64, postgres::Error> {
    r.db.query_one(
        "SELECT bss.append_event($1, 'test.happened', $2)",
        &[&stream, &data],
    )
    .map(|row| row.get(0))
}

/// The SQLSTATE, message and hint of a failed call.
pub fn failure(e: &postgres::Error) -> (String, String, String) {
    let db = e
        .as_db_error()
        .unwrap_or_else(|| panic!("not a database error: {e}"));
    (
        sqlstate(e).unwrap_or_default(),
        db.message().to_owned(),
        db.hint().unwrap_or_default().to_owned(),
    )
}

/// A stream as a region holds it, event by event: every field an event
/// keeps in every region (not its global_position nor recorded_at, which
/// are each region's own).
pub fn stream(r: &mut Region, stream: &str) -> Vec<Value> {
    r.db.query(
        "SELECT jsonb_build_object('version', stream_version, 'event_id', event_id, 'type', type, \
                'source', source, 'subject', subject, 'time', \"time\", 'data', data, 'metadata', metadata, \
                'region', region, 'tenant', tenant, 'datacontenttype', datacontenttype) \
         FROM bss.events WHERE stream_id = $1 ORDER BY stream_version",
        &[&stream],
    )
    .unwrap()
    .iter()
    .map(|row| row.get(0))
    .collect()
}

/// Waits until both regions hold each of `streams` alike, event by event,
/// with `len` events each (or any number, None); returns them.
pub fn converged(
    a: &mut Region,
    b: &mut Region,
    streams: &[&str],
    len: Option<usize>,
) -> Vec<Vec<Value>> {
    let mut last = Vec::new();
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        let here: Vec<Vec<Value>> = streams.iter().map(|s| stream(a, s)).collect();
        let there: Vec<Vec<Value>> = streams.iter().map(|s| stream(b, s)).collect();
        if here == there && len.is_none_or(|n| here.iter().all(|s| s.len() == n)) {
            return here;
        }
        last = vec![here, there];
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "regions {} and {} did not converge on {streams:?} within 30 s: {last:#?}",
        a.name, b.name
    );
}

/// Cuts replication between the regions both ways (their subscriptions
/// disabled); forwarding still reaches the other region.
pub fn cut(a: &mut Region, b: &mut Region) {
    subscriptions(a, b, "DISABLE");
}

pub fn heal(a: &mut Region, b: &mut Region) {
    subscriptions(a, b, "ENABLE");
}

fn subscriptions(a: &mut Region, b: &mut Region, verb: &str) {
    let (an, bn) = (a.name.clone(), b.name.clone());
    a.db.batch_execute(&format!("ALTER SUBSCRIPTION bss_from_{bn} {verb}"))
        .unwrap();
    b.db.batch_execute(&format!("ALTER SUBSCRIPTION bss_from_{an} {verb}"))
        .unwrap();
}

/// Who serves `home`'s streams in region `r`, and under which epoch.
pub fn served_by(r: &mut Region, home: &str) -> (String, i64) {
    let row =
        r.db.query_one(
            "SELECT coalesce((SELECT served_by FROM bss.region_owners WHERE region = $1), $1), \
                    coalesce((SELECT epoch FROM bss.region_owners WHERE region = $1), 0)",
            &[&home],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

/// Every region serving its own streams again, in both regions' view:
/// a region's streams moved to the other are handed back by it.
pub fn restore_homes(a: &mut Region, b: &mut Region) {
    for r in [&mut *a, &mut *b] {
        let moved: Vec<String> = r
            .db
            .query("SELECT region FROM bss.region_owners WHERE served_by <> region AND served_by = bss.local_region()", &[])
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        for home in moved {
            r.db.query_one(
                "SELECT bss.move_region($1, $1, 'test: handed back')",
                &[&home],
            )
            .unwrap();
        }
    }
    for home in [a.name.clone(), b.name.clone()] {
        wait_for(
            &format!("region {home} serving itself in both regions"),
            30,
            || served_by(a, &home).0 == home && served_by(b, &home).0 == home,
        );
    }
}
