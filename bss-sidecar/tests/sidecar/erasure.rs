//! GDPR erasure downstream, with real processes (the devdb with its master
//! key, the `bss-sidecar` binary, tansu, redis-server): events whose
//! personal fields (x-pii) pg_bss sealed travel through the spool to Kafka
//! and Redis as ciphertext. After `bss.erase_subject`, none of the erased
//! subject's personal values is anywhere, searched byte for byte in the
//! spool's files, every Kafka message (key, value and headers) and every
//! value Redis holds; a value that is not personal is found in each (the
//! search sees what was written), and the other subject reads back intact.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::*;
use bss_tests::broker::Broker;
use bss_tests::redis_server::RedisServer;
use serde_json::{json, Value};

const VERSIONS: i64 = 3;

/// Every byte of every file under `dir`.
fn files_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in walk(dir) {
        all.extend(std::fs::read(&entry).unwrap_or_default());
    }
    all
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}

/// Every key and value Redis holds, of every type the sinks write.
fn redis_bytes(redis: &mut redis::Connection) -> Vec<u8> {
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(redis).unwrap();
    let mut all = Vec::new();
    for k in keys {
        let kind: String = redis::cmd("TYPE").arg(&k).query(redis).unwrap();
        let value: redis::Value = match kind.as_str() {
            "stream" => redis::cmd("XRANGE").arg(&k).arg("-").arg("+").query(redis),
            "hash" => redis::cmd("HGETALL").arg(&k).query(redis),
            "string" => redis::cmd("GET").arg(&k).query(redis),
            "list" => redis::cmd("LRANGE").arg(&k).arg(0).arg(-1).query(redis),
            "set" => redis::cmd("SMEMBERS").arg(&k).query(redis),
            "zset" => redis::cmd("ZRANGE").arg(&k).arg(0).arg(-1).query(redis),
            other => panic!("key {k} of type {other}: the search does not read it"),
        }
        .unwrap();
        all.extend(k.as_bytes());
        all.extend(format!("{value:?}").as_bytes());
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn an_erased_subjects_personal_values_are_nowhere_downstream_and_others_read_back() {
    let broker = Broker::start();
    let redis_server = RedisServer::start();
    let slot = Slot::new("erasure");
    let spool = tempfile::tempdir().unwrap();
    let category = bss_tests::unique("gdpr").replace(['-', '_'], "");
    let ty = format!("{category}.registered");
    let mut pg = bss_tests::session();
    let schema = json!({"type": "object", "properties": {
        "name": {"type": "string", "x-pii": true},
        "email": {"type": "string", "x-pii": true},
        "plan": {"type": "string"}}});
    pg.execute(
        "SELECT bss.register_schema($1, $2::text::jsonb)",
        &[&ty, &schema.to_string()],
    )
    .unwrap();

    let sidecar = Sidecar::start(&SidecarArgs {
        spool_dir: &spool.path().join("spool"),
        slot: &slot.name,
        kafka_brokers: Some(&broker.bootstrap()),
        redis_url: Some(&redis_server.url()),
        spool_max_events: None,
        config: None,
    });
    let (alice, bob) = (format!("{category}-alice"), format!("{category}-bob"));
    let secrets = [
        format!("Alice Lindqvist {category}"),
        format!("alice.{category}@example.org"),
    ];
    let kept = format!("Bob Bergström {category}");
    let plan = format!("plan-{category}");
    for v in 1..=VERSIONS {
        for (stream, name, email) in [
            (&alice, &secrets[0], &secrets[1]),
            (&bob, &kept, &format!("bob.{category}@example.org")),
        ] {
            let data = json!({"name": name, "email": email, "plan": format!("{plan}-{v}")});
            pg.execute(
                "SELECT bss.append_event($1, $2, $3::text::jsonb)",
                &[stream, &ty, &data.to_string()],
            )
            .unwrap();
        }
    }

    // Everything delivered: Kafka has the six events, Redis both streams.
    let total = 2 * VERSIONS as usize;
    let msgs = kafka_dump(
        &broker.bootstrap(),
        &[format!("bss.{category}")],
        total,
        Duration::from_secs(90),
    );
    assert_eq!(msgs.len(), total);
    let mut redis = redis::Client::open(redis_server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let n: i64 = redis::cmd("XLEN")
            .arg(format!("bss:events:{category}"))
            .query(&mut redis)
            .unwrap();
        if n == total as i64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{n} of {total} events in Redis after 90 s; sidecar log:\n{}",
            sidecar.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let erased: i64 = pg
        .query_one("SELECT bss.erase_subject($1)", &[&alice])
        .unwrap()
        .get(0);
    assert_eq!(erased, 1, "keys destroyed");

    let kafka: Vec<u8> = msgs
        .iter()
        .flat_map(|m| format!("{:?} {:?} {:?}", m.key, m.value, m.headers).into_bytes())
        .collect();
    let places = [
        ("the spool", files_bytes(spool.path())),
        ("Kafka", kafka),
        ("Redis", redis_bytes(&mut redis)),
    ];
    for (place, bytes) in &places {
        assert!(
            contains(bytes, &format!("{plan}-{VERSIONS}")),
            "{place}: the search does not find a value that is not personal ({} bytes read)",
            bytes.len()
        );
        for s in secrets.iter().chain([&kept]) {
            assert!(
                !contains(bytes, s),
                "{place} holds the personal value {s:?}"
            );
        }
    }

    // Reads (as the devdb's superuser, who sees personal data): the erased
    // subject's values are [erased], the other subject's intact.
    let read = |pg: &mut postgres::Client, stream: &str| -> Vec<Value> {
        pg.query("SELECT data::text FROM bss.read_stream($1)", &[&stream])
            .unwrap()
            .iter()
            .map(|r| serde_json::from_str(r.get::<_, &str>(0)).unwrap())
            .collect()
    };
    for d in read(&mut pg, &alice) {
        assert_eq!(
            (&d["name"], &d["email"]),
            (&json!("[erased]"), &json!("[erased]")),
            "{d}"
        );
    }
    for d in read(&mut pg, &bob) {
        assert_eq!(d["name"], json!(kept), "{d}");
    }

    let status = sidecar.stop();
    assert!(
        status.success(),
        "sidecar exit status after SIGTERM: {status}"
    );
    pg.execute("SELECT bss.register_schema($1, NULL)", &[&ty])
        .unwrap();
}
