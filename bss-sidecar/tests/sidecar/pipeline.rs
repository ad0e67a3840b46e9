//! End to end, with real processes: the devdb (PostgreSQL with pg_bss),
//! the `bss-sidecar` binary, a tansu broker and a redis-server started by
//! the test. What arrives is read back independently: Kafka through
//! Python's confluent-kafka, Redis with plain commands, and compared with
//! what PostgreSQL holds.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::support::*;
use bss_tests::broker::Broker;
use bss_tests::redis_server::RedisServer;
use serde_json::Value;

const STREAMS: usize = 1_000;
const VERSIONS: i64 = 100;
const WRITERS: usize = 4;

/// The tenant of a stream of [`load`]: `acme` for even numbers, the
/// default tenant for odd ones.
fn tenant_of(stream: &str) -> &'static str {
    let n: u64 = stream.rsplit('-').next().unwrap().parse().unwrap();
    if n.is_multiple_of(2) {
        "acme"
    } else {
        "default"
    }
}

/// Appends VERSIONS events to each of `streams`, each under its tenant,
/// from WRITERS sessions.
fn load(streams: &[String]) {
    std::thread::scope(|s| {
        for chunk in streams.chunks(streams.len().div_ceil(WRITERS)) {
            s.spawn(move || {
                let mut c = bss_tests::session();
                for stream in chunk {
                    c.batch_execute(&format!("SET bss.tenant = '{}'", tenant_of(stream)))
                        .unwrap();
                    append_range(&mut c, stream, 1, VERSIONS);
                }
            });
        }
    });
}

/// Waits until Redis holds version VERSIONS of every stream.
fn wait_for_redis(redis: &mut redis::Connection, streams: &[String], sidecar: &Sidecar) {
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut pending: Vec<&String> = streams.iter().collect();
    while !pending.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} streams not complete in Redis after 180 s; sidecar log:\n{}",
            pending.len(),
            sidecar.log_tail()
        );
        pending.retain(|s| {
            let v: Option<i64> = redis::cmd("HGET")
                .arg(format!("bss:agg:{s}"))
                .arg("version")
                .query(redis)
                .unwrap();
            v != Some(VERSIONS)
        });
        if !pending.is_empty() {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn every_event_reaches_kafka_in_stream_order_and_redis_state_matches_postgres() {
    let broker = Broker::start();
    let redis_server = RedisServer::start();
    let slot = Slot::new("pipeline");
    let spool = tempfile::tempdir().unwrap();
    let category = bss_tests::unique("e2e").replace(['-', '_'], "");
    let streams: Vec<String> = (0..STREAMS).map(|i| format!("{category}-{i}")).collect();

    let sidecar = Sidecar::start(&SidecarArgs {
        spool_dir: &spool.path().join("spool"),
        slot: &slot.name,
        kafka_brokers: Some(&broker.bootstrap()),
        redis_url: Some(&redis_server.url()),
        spool_max_events: None,
        config: None,
    });
    load(&streams);

    let mut redis = redis::Client::open(redis_server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    wait_for_redis(&mut redis, &streams, &sidecar);

    // Redis: the state of every stream is the fold of its events in PostgreSQL.
    let mut pg = bss_tests::session();
    pg.batch_execute("SET bss.tenant = '*'").unwrap();
    for s in &streams {
        let (state, version) = fold_in_postgres(&mut pg, s);
        assert_eq!(version, VERSIONS);
        let got: BTreeMap<String, String> = redis::cmd("HGETALL")
            .arg(format!("bss:agg:{s}"))
            .query(&mut redis)
            .unwrap();
        let got_state: Value = serde_json::from_str(&got["state"]).unwrap();
        assert_eq!(got_state, state, "bss:agg:{s}");
        assert_eq!(got["version"], VERSIONS.to_string(), "bss:agg:{s}");
    }
    let entries: i64 = redis::cmd("XLEN")
        .arg(format!("bss:events:{category}"))
        .query(&mut redis)
        .unwrap();
    assert_eq!(
        entries,
        STREAMS as i64 * VERSIONS,
        "stream entries in Redis"
    );
    // Each entry names its event's tenant.
    let mut tenants: BTreeMap<String, usize> = BTreeMap::new();
    let page: Vec<(String, BTreeMap<String, String>)> = redis::cmd("XRANGE")
        .arg(format!("bss:events:{category}"))
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(2_000)
        .query(&mut redis)
        .unwrap();
    for (id, fields) in &page {
        let stream = &fields["stream_id"];
        assert_eq!(fields["tenant"], tenant_of(stream), "tenant of entry {id}");
        *tenants.entry(fields["tenant"].clone()).or_default() += 1;
    }
    assert_eq!(
        tenants.len(),
        2,
        "both tenants among the first entries: {tenants:?}"
    );

    // Kafka: every event once, each stream's versions 1..=VERSIONS in order,
    // with the CloudEvents headers of its row in PostgreSQL.
    let total = STREAMS * VERSIONS as usize;
    let msgs = kafka_dump(
        &broker.bootstrap(),
        &[format!("bss.{category}")],
        total,
        Duration::from_secs(120),
    );
    assert_eq!(msgs.len(), total);
    let mut versions: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for m in &msgs {
        let h = |k: &str| m.headers.get(k).cloned().flatten().unwrap_or_default();
        assert_eq!(h("ce_specversion"), "1.0");
        assert_eq!(h("ce_type"), "test.loaded");
        assert_eq!(h("content-type"), "application/json");
        let key = m.key.clone().expect("message key");
        let v: i64 = h("bss_stream_version").parse().unwrap();
        assert_eq!(h("bss_tenant"), tenant_of(&key), "tenant of {key} v{v}");
        let data: Value = serde_json::from_str(m.value.as_deref().unwrap()).unwrap();
        assert_eq!(data, payload(v), "value of {key} v{v}");
        versions.entry(key).or_default().push(v);
    }
    assert_eq!(versions.len(), STREAMS);
    let expected: Vec<i64> = (1..=VERSIONS).collect();
    for (stream, vs) in &versions {
        assert_eq!(vs, &expected, "versions of {stream} in Kafka");
    }
    // The ce_id of a sample is the event's id in PostgreSQL.
    let sample = &msgs[msgs.len() / 2];
    let key = sample.key.clone().unwrap();
    let v: i64 = sample.headers["bss_stream_version"]
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    let row = pg
        .query_one(
            "SELECT event_id::text, global_position FROM bss.events WHERE stream_id = $1 AND stream_version = $2",
            &[&key, &v],
        )
        .unwrap();
    assert_eq!(
        sample.headers["ce_id"].as_deref(),
        Some(row.get::<_, &str>(0))
    );
    assert_eq!(
        sample.headers["bss_global_position"].as_deref(),
        Some(row.get::<_, i64>(1).to_string().as_str())
    );

    let status = sidecar.stop();
    assert!(
        status.success(),
        "sidecar exit status after SIGTERM: {status}"
    );
}

/// Rounds of appends: each round appends VERSIONS / ROUNDS versions to
/// every stream, so the load lasts long enough to be killed into.
const ROUNDS: i64 = 10;
const KILLS: usize = 10;

/// Appends VERSIONS events to every stream in ROUNDS rounds of
/// VERSIONS / ROUNDS each, through `append`, pausing `pause` after each
/// round, from one session.
fn load_in_rounds(
    streams: &[String],
    pause: Duration,
    mut append: impl FnMut(&mut postgres::Client, &str, i64, i64),
) {
    let mut c = bss_tests::session();
    let per_round = VERSIONS / ROUNDS;
    for round in 0..ROUNDS {
        let from = round * per_round + 1;
        for stream in streams {
            append(&mut c, stream, from, from + per_round - 1);
        }
        std::thread::sleep(pause);
    }
}

#[test]
fn kill_9_during_the_load_loses_nothing_and_duplicates_stay_in_flight() {
    let broker = Broker::start();
    let redis_server = RedisServer::start();
    let slot = Slot::new("kill");
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let category = bss_tests::unique("kill").replace(['-', '_'], "");
    let streams: Vec<String> = (0..STREAMS).map(|i| format!("{category}-{i}")).collect();
    let brokers = broker.bootstrap();
    let redis_url = redis_server.url();
    let args = SidecarArgs {
        spool_dir: &spool_dir,
        slot: &slot.name,
        kafka_brokers: Some(&brokers),
        redis_url: Some(&redis_url),
        spool_max_events: None,
        config: None,
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    // Deterministic from the seed it prints, so a failing run can be repeated.
    eprintln!("kill seed {seed}");
    let mut rng = bss_tests::Rng::new(seed);

    let mut sidecar = Sidecar::start(&args);
    let loading = std::sync::atomic::AtomicBool::new(true);
    let mut kills_during_load = 0;
    std::thread::scope(|s| {
        s.spawn(|| {
            load_in_rounds(&streams, Duration::ZERO, append_range);
            loading.store(false, std::sync::atomic::Ordering::Release);
        });
        for _ in 0..KILLS {
            std::thread::sleep(Duration::from_millis(200 + rng.below(800)));
            if loading.load(std::sync::atomic::Ordering::Acquire) {
                kills_during_load += 1;
            }
            sidecar.process.kill(); // SIGKILL
            sidecar = Sidecar::start(&args);
        }
    });
    eprintln!("{kills_during_load} of {KILLS} kills landed during the load");
    assert!(kills_during_load > 0, "the load ended before any kill");

    let duplicates = verify_delivery(&brokers, &redis_url, &category, &streams, &sidecar);
    eprintln!("kill -9 x{KILLS}: {duplicates} duplicates in Kafka");
    // A crash can only redeliver the events in flight.
    assert!(
        duplicates <= KILLS * bss_sidecar::reader::MAX_IN_FLIGHT,
        "{duplicates} duplicates exceed {KILLS} times the {} events in flight",
        bss_sidecar::reader::MAX_IN_FLIGHT
    );
    let status = sidecar.stop();
    assert!(
        status.success(),
        "sidecar exit status after SIGTERM: {status}"
    );
}

/// Waits until everything arrived, then checks it against PostgreSQL:
/// Redis holds each stream's fold and each event once; Kafka holds every
/// event, copies share their ce_id, first copies come in version order.
/// Returns the number of duplicates in Kafka.
fn verify_delivery(
    brokers: &str,
    redis_url: &str,
    category: &str,
    streams: &[String],
    sidecar: &Sidecar,
) -> usize {
    let mut redis = redis::Client::open(redis_url)
        .unwrap()
        .get_connection()
        .unwrap();
    wait_for_redis(&mut redis, streams, sidecar);
    let mut pg = bss_tests::session();
    for s in streams {
        let (state, _) = fold_in_postgres(&mut pg, s);
        let got: String = redis::cmd("HGET")
            .arg(format!("bss:agg:{s}"))
            .arg("state")
            .query(&mut redis)
            .unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&got).unwrap(),
            state,
            "bss:agg:{s}"
        );
    }
    let entries: i64 = redis::cmd("XLEN")
        .arg(format!("bss:events:{category}"))
        .query(&mut redis)
        .unwrap();
    assert_eq!(
        entries,
        streams.len() as i64 * VERSIONS,
        "Redis stream entries (no duplicates)"
    );

    let total = streams.len() * VERSIONS as usize;
    let msgs = kafka_dump_with(
        brokers,
        &[format!("bss.{category}")],
        total,
        Duration::from_secs(180),
        Some(Duration::from_secs(3)),
    );
    // Every version of every stream is there; copies of one event carry
    // the same ce_id; first copies come in version order.
    let mut seen: BTreeMap<(String, i64), String> = BTreeMap::new();
    let mut first_order: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for m in &msgs {
        let key = m.key.clone().unwrap();
        let v: i64 = m.headers["bss_stream_version"]
            .clone()
            .unwrap()
            .parse()
            .unwrap();
        let ce_id = m.headers["ce_id"].clone().unwrap();
        match seen.get(&(key.clone(), v)) {
            Some(first) => assert_eq!(
                first, &ce_id,
                "a duplicate of {key} v{v} with another ce_id"
            ),
            None => {
                seen.insert((key.clone(), v), ce_id);
                first_order.entry(key).or_default().push(v);
            }
        }
    }
    assert_eq!(seen.len(), total, "events missing from Kafka");
    let expected: Vec<i64> = (1..=VERSIONS).collect();
    for (stream, vs) in &first_order {
        assert_eq!(vs, &expected, "first copies of {stream} out of order");
    }
    msgs.len() - total
}

/// How long each destination is unavailable in the outage test.
const OUTAGE: Duration = Duration::from_secs(30);

/// The slot's confirmed LSN (bytes of WAL) and the WAL bytes between the
/// server's current LSN and it.
fn slot_position_and_lag(pg: &mut postgres::Client, slot: &str) -> (i64, i64) {
    let row = pg
        .query_one(
            "SELECT pg_wal_lsn_diff(confirmed_flush_lsn, '0/0')::bigint, \
                    pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint \
             FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

/// Takes `sink`'s destination down with `down` for OUTAGE and checks that
/// the source kept spooling and confirming meanwhile: events read, the
/// slot's confirmed LSN moving, and its lag not piling up (sampled each
/// second; a sample can land between a large commit and its confirmation,
/// so the bound holds for the smallest of the second half). Returns the
/// sink's lag at the end, before the caller brings the destination back.
fn outage(
    sink: &str,
    sidecar: &Sidecar,
    pg: &mut postgres::Client,
    slot: &str,
    down: impl FnOnce(),
) -> f64 {
    let source_events = || {
        sidecar
            .metric("bss_sidecar_source_events_total")
            .unwrap_or(0.0)
    };
    down();
    let events_before = source_events();
    let (confirmed_before, _) = slot_position_and_lag(pg, slot);
    let mut lags = Vec::new();
    for _ in 0..OUTAGE.as_secs() {
        std::thread::sleep(Duration::from_secs(1));
        lags.push(slot_position_and_lag(pg, slot).1);
    }
    let events_after = source_events();
    let (confirmed_after, _) = slot_position_and_lag(pg, slot);
    let sink_lag = sidecar
        .metric(&format!("bss_sidecar_sink_lag_events{{sink=\"{sink}\"}}"))
        .unwrap_or(0.0);
    let settled = *lags[lags.len() / 2..].iter().min().unwrap();
    eprintln!(
        "{sink} down {OUTAGE:?}: source spooled {} events, {sink} lag {sink_lag}, \
         slot lag {settled} to {} bytes in the second half",
        events_after - events_before,
        lags[lags.len() / 2..].iter().max().unwrap()
    );
    assert!(
        events_after > events_before,
        "the source stopped while {sink} was down"
    );
    assert!(
        confirmed_after > confirmed_before,
        "the slot's confirmed LSN did not move while {sink} was down"
    );
    assert!(
        settled < 16 * 1024 * 1024,
        "slot lag stayed at {settled} bytes or more while {sink} was down: {lags:?}"
    );
    sink_lag
}

#[test]
fn broker_and_redis_down_30_s_each_during_the_load_lose_nothing_and_wal_does_not_pile_up() {
    let mut broker = Broker::start();
    let redis_server = RedisServer::start();
    let slot = Slot::new("outage");
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let category = bss_tests::unique("outage").replace(['-', '_'], "");
    let streams: Vec<String> = (0..STREAMS).map(|i| format!("{category}-{i}")).collect();
    let brokers = broker.bootstrap();
    let redis_url = redis_server.url();
    let sidecar = Sidecar::start(&SidecarArgs {
        spool_dir: &spool_dir,
        slot: &slot.name,
        kafka_brokers: Some(&brokers),
        redis_url: Some(&redis_url),
        spool_max_events: None,
        config: None,
    });
    let mut pg = bss_tests::session();
    std::thread::scope(|s| {
        // The load: ROUNDS rounds spread over both outages.
        s.spawn(|| load_in_rounds(&streams, OUTAGE * 2 / ROUNDS as u32, append_range));
        std::thread::sleep(Duration::from_secs(2));
        let kafka_lag = outage("kafka", &sidecar, &mut pg, &slot.name, || broker.pause());
        broker.resume();
        assert!(
            kafka_lag > 0.0,
            "Kafka cannot have been delivered to while paused"
        );
        outage("redis", &sidecar, &mut pg, &slot.name, || {
            redis_server.freeze()
        });
        redis_server.thaw();
    });
    let duplicates = verify_delivery(&brokers, &redis_url, &category, &streams, &sidecar);
    eprintln!("outages: {duplicates} duplicates in Kafka");
    let status = sidecar.stop();
    assert!(
        status.success(),
        "sidecar exit status after SIGTERM: {status}"
    );
}

/// Appends `from..=to` to `stream`, riding out a database restart: on an
/// error it reconnects, reads where the stream is (the commit may or may not
/// have happened) and appends what is still missing. Returns how many
/// attempts failed.
fn append_through_restarts(c: &mut postgres::Client, stream: &str, from: i64, to: i64) -> usize {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut from = from;
    let mut failed = 0;
    loop {
        let r = try_append_range(c, stream, from, to);
        if r.is_ok() {
            return failed;
        }
        failed += 1;
        assert!(
            Instant::now() < deadline,
            "could not append to {stream}: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
        let Ok(mut fresh) = postgres::Client::connect(&bss_tests::database_url(), postgres::NoTls)
        else {
            continue;
        };
        let Ok(row) = fresh.query_one("SELECT bss.stream_version($1)", &[&stream]) else {
            continue;
        };
        let at: Option<i64> = row.get(0);
        from = at.unwrap_or(0) + 1;
        *c = fresh;
        if from > to {
            return failed;
        }
    }
}

#[test]
fn postgres_crash_during_the_load_delivers_every_committed_event_and_no_uncommitted_one() {
    const CRASH_STREAMS: usize = 200;
    let broker = Broker::start();
    let redis_server = RedisServer::start();
    let slot = Slot::new("pgcrash");
    let dir = tempfile::tempdir().unwrap();
    let category = bss_tests::unique("pgcrash").replace(['-', '_'], "");
    let streams: Vec<String> = (0..CRASH_STREAMS)
        .map(|i| format!("{category}-{i}"))
        .collect();
    let uncommitted = format!("{category}-uncommitted");
    let brokers = broker.bootstrap();
    let redis_url = redis_server.url();
    let sidecar = Sidecar::start(&SidecarArgs {
        spool_dir: &dir.path().join("spool"),
        slot: &slot.name,
        kafka_brokers: Some(&brokers),
        redis_url: Some(&redis_url),
        spool_max_events: None,
        config: None,
    });
    // A transaction still open when the server goes down never commits.
    let mut open_tx = bss_tests::session();
    open_tx.batch_execute("BEGIN").unwrap();
    open_tx
        .execute(
            "SELECT bss.append_event($1, 'test.uncommitted', '{}'::jsonb)",
            &[&uncommitted],
        )
        .unwrap();

    let failed_appends = std::thread::scope(|s| {
        let loader = s.spawn(|| {
            let mut failed = 0;
            load_in_rounds(
                &streams,
                Duration::from_millis(300),
                |c, stream, from, to| {
                    failed += append_through_restarts(c, stream, from, to);
                },
            );
            failed
        });
        std::thread::sleep(Duration::from_secs(2));
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/devdb.sh");
        let out = std::process::Command::new(script)
            .arg("crash")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "devdb.sh crash: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        loader.join().unwrap()
    });
    assert!(failed_appends > 0, "the crash did not land during the load");
    drop(open_tx);

    let mut pg = bss_tests::session();
    assert!(
        pg.query_opt(
            "SELECT 1 FROM bss.events WHERE stream_id = $1",
            &[&uncommitted]
        )
        .unwrap()
        .is_none(),
        "the open transaction survived the crash"
    );
    let duplicates = verify_delivery(&brokers, &redis_url, &category, &streams, &sidecar);
    eprintln!("PostgreSQL crash: {duplicates} duplicates in Kafka");
    let mut redis = redis::Client::open(redis_url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let exists: i64 = redis::cmd("EXISTS")
        .arg(format!("bss:agg:{uncommitted}"))
        .query(&mut redis)
        .unwrap();
    assert_eq!(exists, 0, "an uncommitted event reached Redis");
    let status = sidecar.stop();
    assert!(
        status.success(),
        "sidecar exit status after SIGTERM: {status}"
    );
}

#[test]
fn a_transaction_larger_than_the_spool_stops_the_sidecar_naming_the_setting() {
    // The source holds a transaction in memory until its commit: one that
    // could not fit in the spool stops it, rather than growing without bound.
    let slot = Slot::new("bigtxn");
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let args = SidecarArgs {
        spool_dir: &spool_dir,
        slot: &slot.name,
        kafka_brokers: None,
        redis_url: None,
        spool_max_events: Some(50),
        config: None,
    };
    let mut sidecar = Sidecar::start(&args);
    let stream = format!("{}-1", bss_tests::unique("bigtxn").replace(['-', '_'], ""));
    let mut pg = bss_tests::session();
    append_range(&mut pg, &stream, 1, 50); // fits
    append_range(&mut pg, &stream, 51, 150); // 100 events in one transaction
    let status = sidecar
        .wait_exit(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("the sidecar kept running; its log:\n{}", sidecar.log_tail()));
    assert!(!status.success(), "exit status {status}");
    let log = sidecar.log_tail();
    assert!(
        log.contains("has more than 50 events") && log.contains("--spool-max-events"),
        "the log does not name the bound and the setting:\n{log}"
    );
    // Nothing is lost: with the bound raised, a restart spools both.
    let sidecar = Sidecar::start(&SidecarArgs {
        spool_max_events: None,
        ..args
    });
    sidecar.wait_for_metric(
        "bss_sidecar_spool_head_seq",
        150.0,
        Duration::from_secs(60),
        "the spool's head after the restart",
    );
    assert!(sidecar.stop().success());
    let spool = bss_wal::TypedLog::<bss_sidecar::event::Event>::open(
        spool_dir.join("log"),
        bss_wal::Options::default(),
    )
    .unwrap();
    let versions: Vec<i64> = spool
        .iter_from(0)
        .unwrap()
        .map(|r| r.unwrap().1.stream_version)
        .collect();
    assert_eq!(versions, (1..=150).collect::<Vec<_>>());
}
