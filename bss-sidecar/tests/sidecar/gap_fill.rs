//! The gap fill: when the replication slot the spool followed is gone (a
//! promoted standby has none; here the slot is dropped, which is what a
//! promotion does to it), the sidecar creates it anew and delivers, from
//! `bss.events`, every event committed before the new slot's start that
//! its spool lacked, once, in order per stream, then streams on. Checked
//! in Redis, whose category stream holds one entry per delivery.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::*;
use bss_tests::redis_server::RedisServer;

/// Drops the slot once its walsender is gone (the sidecar stopped).
fn drop_slot(c: &mut postgres::Client, slot: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let dropped = c
            .execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                 WHERE slot_name = $1 AND NOT active",
                &[&slot],
            )
            .unwrap();
        if dropped == 1 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "slot {slot} still active 20 s after the sidecar stopped"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A session with a transaction left open after appending `stream`'s
/// version 1: its position is taken, its commit comes later.
fn open_append(stream: &str) -> postgres::Client {
    let mut c = bss_tests::session();
    c.batch_execute("BEGIN").unwrap();
    append_range(&mut c, stream, 1, 1);
    c
}

struct Run {
    redis_server: RedisServer,
    redis: redis::Connection,
    slot: Slot,
    spool: tempfile::TempDir,
    category: String,
}

impl Run {
    fn new(tag: &str) -> Run {
        let redis_server = RedisServer::start();
        let redis = redis::Client::open(redis_server.url())
            .unwrap()
            .get_connection()
            .unwrap();
        Run {
            redis,
            redis_server,
            slot: Slot::new(tag),
            spool: tempfile::tempdir().unwrap(),
            category: bss_tests::unique(tag).replace(['-', '_'], ""),
        }
    }

    fn stream(&self, name: &str) -> String {
        format!("{}-{name}", self.category)
    }

    fn sidecar(&self) -> Sidecar {
        Sidecar::start(&SidecarArgs {
            spool_dir: &self.spool.path().join("spool"),
            slot: &self.slot.name,
            kafka_brokers: None,
            redis_url: Some(&self.redis_server.url()),
            spool_max_events: None,
            config: None,
        })
    }

    fn wait_delivered(&mut self, sidecar: &Sidecar, n: usize) {
        let category = self.category.clone();
        let redis = &mut self.redis;
        sidecar.wait_until(
            Duration::from_secs(60),
            Duration::from_millis(200),
            |_| format!("fewer than {n} events of {category} in Redis after 60 s"),
            |_| delivered(redis, &category).len() >= n,
        );
    }

    /// Waits until the sidecar's floor covers `position`.
    fn wait_floor(&self, sidecar: &Sidecar, position: i64) {
        sidecar.wait_until(
            Duration::from_secs(30),
            Duration::from_millis(200),
            |s| {
                format!(
                    "floor {:?} not at {position} after 30 s",
                    s.metric("bss_sidecar_source_floor_position")
                )
            },
            |s| s.metric("bss_sidecar_source_floor_position").unwrap_or(0.0) >= position as f64,
        );
    }
}

#[test]
fn a_lost_slots_gap_is_filled_once_in_order_with_transactions_open_across_it() {
    let mut run = Run::new("gapfill");
    let (a, b, c, d) = (
        run.stream("a"),
        run.stream("b"),
        run.stream("c"),
        run.stream("d"),
    );
    let mut db = bss_tests::session();

    let sidecar = run.sidecar();
    append_range(&mut db, &a, 1, 10);
    run.wait_delivered(&sidecar, 10);
    run.wait_floor(&sidecar, position(&mut db, &a, 10));

    // d-1 takes its position before a-11..20 and commits after them, after
    // the slot is gone: the floor stays below it, and a-11..20 (delivered,
    // above the floor) must not come again.
    let mut open_d = open_append(&d);
    append_range(&mut db, &a, 11, 20);
    run.wait_delivered(&sidecar, 20);
    assert!(sidecar.stop().success());

    open_d.batch_execute("COMMIT").unwrap();
    // A gap of more than two fill batches.
    append_range(&mut db, &b, 1, 2500);
    // c-1 is open while the new slot is created: the slot waits for it.
    let mut open_c = open_append(&c);
    drop_slot(&mut db, &run.slot.name);
    let committer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        open_c.batch_execute("COMMIT").unwrap();
    });

    let sidecar = run.sidecar();
    committer.join().unwrap();
    append_range(&mut db, &a, 21, 30);
    run.wait_delivered(&sidecar, 30 + 2500 + 1 + 1);
    // Nothing more arrives late.
    std::thread::sleep(Duration::from_secs(2));
    let want = BTreeMap::from([(a, 30), (b, 2500), (c, 1), (d, 1)]);
    assert_once_in_order(&delivered(&mut run.redis, &run.category), &want);
    assert_eq!(
        sidecar.metric("bss_sidecar_source_slots_recreated_total"),
        Some(1.0)
    );
    assert_eq!(
        sidecar.metric("bss_sidecar_source_gap_fill_events_total"),
        Some(2502.0),
        "the fill brings d-1, b-1..2500 and c-1; a-21..30 are streamed"
    );
    assert!(sidecar.stop().success());
}

#[test]
fn an_empty_gap_fills_nothing_and_the_new_slot_streams_on() {
    let mut run = Run::new("gapempty");
    let a = run.stream("a");
    let mut db = bss_tests::session();

    let sidecar = run.sidecar();
    append_range(&mut db, &a, 1, 5);
    run.wait_delivered(&sidecar, 5);
    run.wait_floor(&sidecar, position(&mut db, &a, 5));
    assert!(sidecar.stop().success());
    drop_slot(&mut db, &run.slot.name);

    let sidecar = run.sidecar();
    append_range(&mut db, &a, 6, 10);
    run.wait_delivered(&sidecar, 10);
    std::thread::sleep(Duration::from_secs(2));
    assert_once_in_order(
        &delivered(&mut run.redis, &run.category),
        &BTreeMap::from([(a, 10)]),
    );
    assert_eq!(
        sidecar.metric("bss_sidecar_source_slots_recreated_total"),
        Some(1.0)
    );
    assert_eq!(
        sidecar.metric("bss_sidecar_source_gap_fill_events_total"),
        Some(0.0)
    );
    assert!(sidecar.stop().success());
}
