//! `bss-sidecar replay`: a Redis that lost its data (FLUSHALL) is rebuilt
//! from the store, with the sidecar stopped: every event once, in order per
//! stream, each stream's state as PostgreSQL folds it; the sidecar started
//! afterwards streams on without delivering anything twice, and a replay
//! beside a running sidecar is refused.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::support::*;
use bss_tests::redis_server::RedisServer;

/// Runs `bss-sidecar replay` with the sidecar's settings and `extra`.
fn replay(spool_dir: &Path, slot: &str, redis_url: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bss-sidecar"))
        .arg("--database-url")
        .arg(bss_tests::database_url())
        .arg("--spool-dir")
        .arg(spool_dir)
        .arg("--slot")
        .arg(slot)
        .arg("--redis-url")
        .arg(redis_url)
        .arg("replay")
        .args(extra)
        .env("BSS_LOG", "info")
        .output()
        .expect("run bss-sidecar replay")
}

/// Redis's state of `stream`: (state, version).
fn redis_state(redis: &mut redis::Connection, stream: &str) -> (serde_json::Value, i64) {
    let (state, version): (String, i64) = redis::cmd("HMGET")
        .arg(format!("bss:agg:{stream}"))
        .arg("state")
        .arg("version")
        .query(redis)
        .unwrap();
    (serde_json::from_str(&state).unwrap(), version)
}

/// Each stream of `category` in Redis with the one tenant its entries
/// name (fails if a stream's entries name more than one).
fn tenants(redis: &mut redis::Connection, category: &str) -> BTreeMap<String, String> {
    let entries: Vec<(String, BTreeMap<String, String>)> = redis::cmd("XRANGE")
        .arg(format!("bss:events:{category}"))
        .arg("-")
        .arg("+")
        .query(redis)
        .unwrap();
    let mut out = BTreeMap::new();
    for (id, f) in entries {
        let tenant = out
            .entry(f["stream_id"].clone())
            .or_insert_with(|| f["tenant"].clone());
        assert_eq!(
            *tenant, f["tenant"],
            "entry {id}: tenants differ within a stream"
        );
    }
    out
}

#[test]
fn a_flushed_redis_is_rebuilt_from_the_store_and_the_sidecar_streams_on_without_duplicates() {
    let redis_server = RedisServer::start();
    let mut redis = redis::Client::open(redis_server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let slot = Slot::new("replay");
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let category = bss_tests::unique("replay").replace(['-', '_'], "");
    let (a, b) = (format!("{category}-a"), format!("{category}-b"));
    let args = SidecarArgs {
        spool_dir: &spool_dir,
        slot: &slot.name,
        kafka_brokers: None,
        redis_url: Some(&redis_server.url()),
        spool_max_events: None,
        config: None,
    };
    let mut db = bss_tests::session();
    // b is another tenant's: the replay reads every tenant's events.
    let mut acme = bss_tests::session();
    acme.batch_execute("SET bss.tenant = 'acme'").unwrap();

    let sidecar = Sidecar::start(&args);
    append_range(&mut db, &a, 1, 50);
    append_range(&mut acme, &b, 1, 30);
    sidecar.wait_until(
        Duration::from_secs(60),
        Duration::from_millis(200),
        |_| "80 events not in Redis within 60 s".to_owned(),
        |_| delivered(&mut redis, &category).len() >= 80,
    );

    // Beside a running sidecar the replay is refused, naming why.
    let refused = replay(&spool_dir, &slot.name, &redis_server.url(), &[]);
    assert!(!refused.status.success(), "a replay ran beside the sidecar");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("stop the sidecar that uses it first"),
        "{stderr}"
    );
    assert!(sidecar.stop().success());

    // Redis loses everything; more is appended while the sidecar is down.
    let _: () = redis::cmd("FLUSHALL").query(&mut redis).unwrap();
    append_range(&mut db, &a, 51, 60);
    let before_a = (position(&mut db, &a, 1) - 1).to_string();
    let out = replay(
        &spool_dir,
        &slot.name,
        &redis_server.url(),
        &["--sink", "redis", "--from-position", &before_a],
    );
    assert!(
        out.status.success(),
        "replay failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = BTreeMap::from([(a.clone(), 60), (b.clone(), 30)]);
    assert_once_in_order(&delivered(&mut redis, &category), &want);
    for (stream, session) in [(&a, &mut db), (&b, &mut acme)] {
        assert_eq!(
            redis_state(&mut redis, stream),
            fold_in_postgres(session, stream),
            "{stream}: Redis's state after the replay"
        );
    }
    assert_eq!(
        tenants(&mut redis, &category),
        BTreeMap::from([(a.clone(), "default".into()), (b.clone(), "acme".into())]),
        "the replayed entries' tenants"
    );

    // The sidecar streams a-51..60 again (its slot had not sent them):
    // Redis has them. Then new events arrive once.
    let sidecar = Sidecar::start(&args);
    append_range(&mut db, &a, 61, 70);
    sidecar.wait_until(
        Duration::from_secs(60),
        Duration::from_millis(200),
        |_| "a-70 not in Redis within 60 s".to_owned(),
        |_| delivered(&mut redis, &category).len() >= 100,
    );
    std::thread::sleep(Duration::from_secs(2));
    let want = BTreeMap::from([(a.clone(), 70), (b.clone(), 30)]);
    assert_once_in_order(&delivered(&mut redis, &category), &want);
    assert_eq!(
        redis_state(&mut redis, &a),
        fold_in_postgres(&mut db, &a),
        "{a}: Redis's state once the sidecar streamed on"
    );
    assert!(sidecar.stop().success());
}

#[test]
fn a_replay_into_a_sink_that_is_not_configured_is_refused_before_anything_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bss-sidecar"))
        .arg("--database-url")
        .arg(bss_tests::database_url())
        .arg("--spool-dir")
        .arg(dir.path())
        .arg("replay")
        .arg("--sink")
        .arg("kafka")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--sink \"kafka\": not a configured sink (configured: none"),
        "{stderr}"
    );
}

#[test]
fn events_spooled_but_never_delivered_are_replayed_even_below_the_position_asked_for() {
    let mut redis_server = RedisServer::start();
    let slot = Slot::new("replayspool");
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let category = bss_tests::unique("replayspool").replace(['-', '_'], "");
    let a = format!("{category}-a");
    let url = redis_server.url();
    let args = SidecarArgs {
        spool_dir: &spool_dir,
        slot: &slot.name,
        kafka_brokers: None,
        redis_url: Some(&url),
        spool_max_events: None,
        config: None,
    };
    let mut db = bss_tests::session();

    let mut sidecar = Sidecar::start(&args);
    append_range(&mut db, &a, 1, 5);
    let mut redis = redis::Client::open(url.clone())
        .unwrap()
        .get_connection()
        .unwrap();
    sidecar.wait_until(
        Duration::from_secs(60),
        Duration::from_millis(200),
        |_| "a-1..5 not in Redis within 60 s".to_owned(),
        |_| delivered(&mut redis, &category).len() >= 5,
    );
    // Redis goes away: a-6..20 are spooled, never delivered.
    redis_server.stop();
    append_range(&mut db, &a, 6, 20);
    let last = position(&mut db, &a, 20);
    sidecar.wait_until(
        Duration::from_secs(30),
        Duration::from_millis(200),
        |_| "a-20 not below the floor within 30 s".to_owned(),
        |s| s.metric("bss_sidecar_source_floor_position").unwrap_or(0.0) >= last as f64,
    );
    sidecar.process.kill();
    sidecar.wait_exit(Duration::from_secs(10));

    // An empty Redis, and a replay asked to start at a-15: it starts at
    // a-6, the oldest event the spool never gave Redis (the sidecar would
    // deliver those below the replay's entry IDs, which Redis refuses).
    redis_server.restart();
    let mut redis = redis::Client::open(url.clone())
        .unwrap()
        .get_connection()
        .unwrap();
    let from = (position(&mut db, &a, 15) - 1).to_string();
    let out = replay(
        &spool_dir,
        &slot.name,
        &url,
        &["--sink", "redis", "--from-position", &from],
    );
    assert!(
        out.status.success(),
        "replay failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let versions = |redis: &mut redis::Connection| -> Vec<i64> {
        delivered(redis, &category)
            .into_iter()
            .map(|e| e.1)
            .collect()
    };
    assert_eq!(versions(&mut redis), (6..=20).collect::<Vec<_>>());

    let sidecar = Sidecar::start(&args);
    append_range(&mut db, &a, 21, 25);
    sidecar.wait_until(
        Duration::from_secs(60),
        Duration::from_millis(200),
        |_| "a-25 not in Redis within 60 s".to_owned(),
        |_| delivered(&mut redis, &category).len() >= 20,
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(versions(&mut redis), (6..=25).collect::<Vec<_>>());
    assert!(sidecar.stop().success());
}
