//! `bss-chaos-check watch` against a real tansu broker and redis-server:
//! it survives the broker frozen and Redis killed and restarted, picks up a
//! topic created after it started, records each record and entry once
//! (with their stream versions), and ends by itself once the history is
//! complete and its acknowledged events arrived in both sinks; a broker
//! replaced by an empty one (offsets from 0 again) loses it nothing; on
//! SIGTERM it writes what it has.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use bss_chaos_check::arrivals::{Arrivals, EndReason};
use bss_tests::broker::{spawn_tansu, Broker};
use bss_tests::redis_server::RedisServer;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

const STREAM: &str = "usage-w1-1";
const IDS: [&str; 3] = [
    "0190f0f0-0000-7000-8000-000000000001",
    "0190f0f0-0000-7000-8000-000000000002",
    "0190f0f0-0000-7000-8000-000000000003",
];

fn watch(brokers: &str, redis_url: &str, history: &Path, out: &Path, settle: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_bss-chaos-check"))
        .args([
            "watch",
            "--kafka-brokers",
            brokers,
            "--redis-url",
            redis_url,
        ])
        .arg("--history")
        .arg(history)
        .arg("--out")
        .arg(out)
        .args(["--settle-timeout", settle])
        .spawn()
        .expect("bss-chaos-check runs")
}

fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            panic!("bss-chaos-check watch did not end within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn create_topic(brokers: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = rt
        .block_on(admin.create_topics(
            [&NewTopic::new(topic, 2, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        ))
        .unwrap();
    for r in results {
        r.unwrap();
    }
}

/// Produces records as the sidecar does: key = stream id, headers ce_id
/// and bss_stream_version.
fn produce(brokers: &str, topic: &str, events: &[(&str, i64)]) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    for (id, version) in events {
        let v = version.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "ce_id",
                value: Some(*id),
            })
            .insert(Header {
                key: "bss_stream_version",
                value: Some(v.as_str()),
            });
        producer
            .send(
                BaseRecord::to(topic)
                    .key(STREAM)
                    .payload("{}")
                    .headers(headers),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(20)).unwrap();
}

fn xadd(redis_url: &str, entry: &str, id: &str, version: i64) {
    let mut c = redis::Client::open(redis_url)
        .unwrap()
        .get_connection()
        .unwrap();
    let _: String = redis::cmd("XADD")
        .arg("bss:events:usage")
        .arg(entry)
        .arg("ce_id")
        .arg(id)
        .arg("stream_id")
        .arg(STREAM)
        .arg("version")
        .arg(version)
        .arg("data")
        .arg("{}")
        .query(&mut c)
        .unwrap();
}

fn history_line(id: &str) -> String {
    format!(
        r#"{{"stream_id":"{STREAM}","event_ids":["{id}"],"types":["usage.recorded"],"outcome":"acknowledged","sqlstate":null,"intended_unix":1.0,"done_unix":1.1,"latency_ms":100.0}}"#
    )
}

#[test]
fn watch_survives_faults_records_each_arrival_once_and_ends_when_settled() {
    let mut broker = Broker::start();
    let mut redis_server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (history, out) = (
        dir.path().join("history.jsonl"),
        dir.path().join("arrivals.jsonl"),
    );
    let mut child = watch(
        &broker.bootstrap(),
        &redis_server.url(),
        &history,
        &out,
        "60s",
    );

    // Redis: one entry, then Redis dies and comes back empty; the watch
    // reads on after the last entry it saw.
    xadd(&redis_server.url(), "100-0", IDS[0], 1);
    std::thread::sleep(Duration::from_millis(800));
    redis_server.stop();
    std::thread::sleep(Duration::from_millis(1500));
    redis_server.restart();
    xadd(&redis_server.url(), "200-0", IDS[1], 2);
    xadd(&redis_server.url(), "300-0", IDS[2], 3);
    let mut c = redis::Client::open(redis_server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let _: i64 = redis::cmd("HSET")
        .arg(format!("bss:agg:{STREAM}"))
        .arg("version")
        .arg(3)
        .query(&mut c)
        .unwrap();

    // Kafka: frozen a while before the topic even exists.
    broker.pause();
    std::thread::sleep(Duration::from_secs(2));
    broker.resume();
    create_topic(&broker.bootstrap(), "bss.usage");
    // Event 2 twice (a redelivery): two records.
    produce(
        &broker.bootstrap(),
        "bss.usage",
        &[(IDS[0], 1), (IDS[1], 2), (IDS[1], 2), (IDS[2], 3)],
    );

    let mut text: String = IDS.iter().map(|id| history_line(id) + "\n").collect();
    text.push_str("{\"end\":true,\"offered\":3,\"appends\":3}\n");
    std::fs::write(&history, text).unwrap();

    let status = wait_exit(&mut child, Duration::from_secs(90));
    assert!(status.success(), "watch exited with {status}");
    let a = Arrivals::read(std::io::BufReader::new(std::fs::File::open(&out).unwrap())).unwrap();
    assert_eq!(a.end.as_ref().map(|e| e.reason), Some(EndReason::Settled));
    let mut kafka: Vec<(String, i64)> = a
        .kafka
        .iter()
        .map(|k| (k.ce_id.clone(), k.version))
        .collect();
    kafka.sort();
    assert_eq!(
        kafka,
        vec![
            (IDS[0].to_string(), 1),
            (IDS[1].to_string(), 2),
            (IDS[1].to_string(), 2),
            (IDS[2].to_string(), 3)
        ]
    );
    assert!(a
        .kafka
        .iter()
        .all(|k| k.stream_id == STREAM && k.topic == "bss.usage"));
    let redis: Vec<(String, String, i64)> = a
        .redis
        .iter()
        .map(|r| (r.entry_id.clone(), r.ce_id.clone(), r.version))
        .collect();
    assert_eq!(
        redis,
        vec![
            ("100-0".to_string(), IDS[0].to_string(), 1),
            ("200-0".to_string(), IDS[1].to_string(), 2),
            ("300-0".to_string(), IDS[2].to_string(), 3)
        ]
    );
    assert_eq!(a.aggregates.len(), 1);
    assert_eq!(a.aggregates[0].version, Some(3));
}

#[test]
fn watch_writes_what_it_has_on_sigterm_even_with_nothing_reachable() {
    let dir = tempfile::tempdir().unwrap();
    let (history, out) = (
        dir.path().join("history.jsonl"),
        dir.path().join("arrivals.jsonl"),
    );
    let port = bss_tests::process::free_port();
    let mut child = watch(
        &format!("127.0.0.1:{port}"),
        &format!("redis://127.0.0.1:{port}/"),
        &history,
        &out,
        "60s",
    );
    std::fs::write(&history, history_line(IDS[0]) + "\n").unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        child.try_wait().unwrap().is_none(),
        "watch gave up on unreachable servers"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert!(status.success(), "watch exited with {status}");
    let a = Arrivals::read(std::io::BufReader::new(std::fs::File::open(&out).unwrap())).unwrap();
    assert_eq!(a.end.map(|e| e.reason), Some(EndReason::Signal));
    assert!(a.kafka.is_empty() && a.redis.is_empty() && a.aggregates.is_empty());
}

#[test]
fn watch_reads_a_broker_that_came_back_empty_from_its_first_offset() {
    let port = bss_tests::process::free_port();
    let brokers = format!("127.0.0.1:{port}");
    let mut first = spawn_tansu(port);
    let redis_server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (history, out) = (
        dir.path().join("history.jsonl"),
        dir.path().join("arrivals.jsonl"),
    );
    let ids: Vec<String> = (1..=5)
        .map(|n| format!("0190f0f0-0000-7000-8000-0000000000a{n}"))
        .collect();
    let mut child = watch(&brokers, &redis_server.url(), &history, &out, "60s");
    create_topic(&brokers, "bss.usage");
    produce(
        &brokers,
        "bss.usage",
        &[(ids[0].as_str(), 1), (ids[1].as_str(), 2)],
    );
    std::thread::sleep(Duration::from_secs(3));
    // The broker dies; an empty one takes its port. The sidecar creates the
    // topic again and sends on: offsets start at 0 again, and the new log
    // outgrows the old one before the watch is back.
    first.kill();
    std::thread::sleep(Duration::from_secs(1));
    let _second = spawn_tansu(port);
    create_topic(&brokers, "bss.usage");
    let later: Vec<(&str, i64)> = ids[2..]
        .iter()
        .zip(3..)
        .map(|(id, v)| (id.as_str(), v))
        .collect();
    produce(&brokers, "bss.usage", &later);
    for (i, id) in ids.iter().enumerate() {
        xadd(
            &redis_server.url(),
            &format!("{}-0", 100 * (i + 1)),
            id,
            i as i64 + 1,
        );
    }
    let mut text: String = ids.iter().map(|id| history_line(id) + "\n").collect();
    text.push_str("{\"end\":true,\"offered\":5,\"appends\":5}\n");
    std::fs::write(&history, text).unwrap();

    let status = wait_exit(&mut child, Duration::from_secs(90));
    assert!(status.success(), "watch exited with {status}");
    let a = Arrivals::read(std::io::BufReader::new(std::fs::File::open(&out).unwrap())).unwrap();
    assert_eq!(a.end.as_ref().map(|e| e.reason), Some(EndReason::Settled));
    let mut got: Vec<(String, i64, i64)> = a
        .kafka
        .iter()
        .map(|k| (k.ce_id.clone(), k.version, k.offset))
        .collect();
    got.sort();
    let want: Vec<(String, i64, i64)> = vec![
        (ids[0].clone(), 1, 0),
        (ids[1].clone(), 2, 1),
        (ids[2].clone(), 3, 0),
        (ids[3].clone(), 4, 1),
        (ids[4].clone(), 5, 2),
    ];
    assert_eq!(got, want);
    // The new log's records come in a later epoch than the old one's.
    let epoch = |id: &str| a.kafka.iter().find(|k| k.ce_id == id).map(|k| k.epoch);
    assert!(epoch(&ids[2]) > epoch(&ids[0]), "{:?}", a.kafka);
}

#[test]
fn watch_told_that_redis_was_rebuilt_reads_it_again_from_the_start() {
    let redis_server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (history, out) = (
        dir.path().join("history.jsonl"),
        dir.path().join("arrivals.jsonl"),
    );
    let port = bss_tests::process::free_port();
    let mut child = watch(
        &format!("127.0.0.1:{port}"),
        &redis_server.url(),
        &history,
        &out,
        "2s",
    );
    xadd(&redis_server.url(), "100-0", IDS[0], 1);
    std::thread::sleep(Duration::from_millis(800));
    // Rebuilt from a restored store: the key removed, written anew with
    // lower entry ids (a replay's), without event 0 (the restore undid it).
    let mut c = redis::Client::open(redis_server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let _: i64 = redis::cmd("DEL")
        .arg("bss:events:usage")
        .query(&mut c)
        .unwrap();
    xadd(&redis_server.url(), "50-0", IDS[1], 1);
    xadd(&redis_server.url(), "50-1", IDS[2], 2);
    let status = Command::new("kill")
        .args(["-USR1", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(800));
    let mut text: String = IDS.iter().map(|id| history_line(id) + "\n").collect();
    text.push_str("{\"end\":true,\"offered\":3,\"appends\":3}\n");
    std::fs::write(&history, text).unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(60));
    assert!(status.success(), "watch exited with {status}");
    let a = Arrivals::read(std::io::BufReader::new(std::fs::File::open(&out).unwrap())).unwrap();
    let redis: Vec<(String, String)> = a
        .redis
        .iter()
        .map(|r| (r.entry_id.clone(), r.ce_id.clone()))
        .collect();
    assert_eq!(
        redis,
        vec![
            ("50-0".to_string(), IDS[1].to_string()),
            ("50-1".to_string(), IDS[2].to_string())
        ]
    );
}
