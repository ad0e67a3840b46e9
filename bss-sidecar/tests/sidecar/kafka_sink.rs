//! The Kafka sink against a real Kafka-protocol broker (tansu, started per
//! test on a free port): routing, CloudEvents binary-mode headers, per-stream
//! order, redelivery, and recovery after the broker was unavailable. Records
//! are read back with an rdkafka consumer.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::support::two_tenants;
use bss_sidecar::event::{example, Event, Spooled};
use bss_sidecar::sink::kafka::{KafkaRoute, KafkaSink, KafkaSinkConfig};
use bss_sidecar::sink::{Sink, SinkError};
use bss_tests::broker::Broker;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

/// Bound on one deliver call against a paused broker: the sink's delivery
/// timeout (10 s) plus an in-flight request timeout plus slack.
const RETRY_BOUND: Duration = Duration::from_secs(40);

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
}

/// One record as read back.
#[derive(Debug, Clone)]
struct Record {
    topic: String,
    key: String,
    value: String,
    timestamp: Option<i64>,
    headers: BTreeMap<String, String>,
}

impl Record {
    fn ce_id(&self) -> &str {
        &self.headers["ce_id"]
    }
    fn version(&self) -> i64 {
        self.headers["bss_stream_version"].parse().unwrap()
    }
}

/// Streams, round-robin by version, so streams interleave in the batch.
/// Spool seq, global position and commit LSN grow along the batch.
fn batch(streams: &[(&str, i64)], first_seq: u64) -> Vec<Spooled> {
    let max = streams.iter().map(|s| s.1).max().unwrap_or(0);
    let mut out = Vec::new();
    for v in 1..=max {
        for (stream, n) in streams {
            if v <= *n {
                let seq = first_seq + out.len() as u64;
                let mut e = example(stream, v);
                e.tenant = two_tenants(stream);
                e.global_position = seq as i64 + 1;
                e.commit_lsn = 0x16_B374_D848 + seq * 0x100;
                e.event_id = format!("0190f0f0-0000-7000-8000-{seq:012x}");
                e.data = format!(r#"{{"stream":"{stream}","v":{v}}}"#);
                out.push(Spooled {
                    seq,
                    event: e.into(),
                });
            }
        }
    }
    out
}

/// Reads every record of `topics` from the beginning until `expect` have
/// arrived (then a little longer, to see extras) or `timeout` passed.
fn consume(bootstrap: &str, topics: &[&str], expect: usize, timeout: Duration) -> Vec<Record> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bss-kafka-sink-test")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for topic in topics {
        let md = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .expect("metadata");
        let t = &md.topics()[0];
        assert!(t.error().is_none(), "topic {topic}: {:?}", t.error());
        for p in t.partitions() {
            tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                .unwrap();
        }
    }
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let start = Instant::now();
    let mut done_at: Option<Instant> = None;
    while start.elapsed() < timeout {
        if out.len() >= expect
            && done_at.get_or_insert_with(Instant::now).elapsed() > Duration::from_millis(1500)
        {
            break;
        }
        let Some(m) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = m.expect("consume");
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        let v = h.value.map(|v| String::from_utf8(v.to_vec()).unwrap());
                        (h.key.to_owned(), v.unwrap_or_default())
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(Record {
            topic: m.topic().to_owned(),
            key: String::from_utf8(m.key().unwrap_or_default().to_vec()).unwrap(),
            value: String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap(),
            timestamp: m.timestamp().to_millis(),
            headers,
        });
    }
    out
}

async fn consume_async(bootstrap: &str, topics: &[&str], expect: usize) -> Vec<Record> {
    let b = bootstrap.to_owned();
    let t: Vec<String> = topics.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let t: Vec<&str> = t.iter().map(String::as_str).collect();
        consume(&b, &t, expect, Duration::from_secs(30))
    })
    .await
    .unwrap()
}

fn topics_on(bootstrap: &str) -> BTreeSet<String> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    c.fetch_metadata(None, Duration::from_secs(5))
        .unwrap()
        .topics()
        .iter()
        .map(|t| t.name().to_owned())
        .collect()
}

/// Versions of each stream in the order they were read.
fn versions_by_stream(records: &[Record]) -> BTreeMap<String, Vec<i64>> {
    let mut m: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in records {
        m.entry(r.key.clone()).or_default().push(r.version());
    }
    m
}

fn lsn(e: &Event) -> String {
    format!("{:X}/{:X}", e.commit_lsn >> 32, e.commit_lsn & 0xFFFF_FFFF)
}

/// The headers the binding promises, written out independently of the sink.
fn expected_headers(e: &Event) -> BTreeMap<String, String> {
    let mut h: BTreeMap<String, String> = [
        ("ce_specversion", "1.0".to_owned()),
        ("ce_id", e.ce_id().into_owned()),
        ("ce_source", e.source.clone()),
        ("ce_type", e.event_type.clone()),
        ("ce_time", e.time.clone()),
        ("content-type", e.datacontenttype.clone()),
        ("bss_stream_version", e.stream_version.to_string()),
        ("bss_global_position", e.global_position.to_string()),
        ("bss_commit_lsn", lsn(e)),
        ("bss_region", e.region.clone()),
        ("bss_tenant", e.tenant.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Some(s) = &e.subject {
        h.insert("ce_subject".into(), s.clone());
    }
    if let Some(s) = &e.dataschema {
        h.insert("ce_dataschema".into(), s.clone());
    }
    h
}

async fn deliver_bounded(sink: &mut KafkaSink, batch: &[Spooled]) -> Result<(), SinkError> {
    tokio::time::timeout(RETRY_BOUND, sink.deliver(batch))
        .await
        .unwrap_or_else(|_| panic!("deliver did not return within {RETRY_BOUND:?}"))
}

/// Delivers until Ok, as the runner does; panics on Fatal or after `bound`.
async fn deliver_until_ok(sink: &mut KafkaSink, batch: &[Spooled], bound: Duration) -> u32 {
    let start = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        match deliver_bounded(sink, batch).await {
            Ok(()) => return attempts,
            Err(SinkError::Fatal(e)) => panic!("fatal: {e}"),
            Err(SinkError::Retry(e)) => {
                assert!(
                    start.elapsed() < bound,
                    "still failing after {bound:?}: {e}"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_lands_in_category_and_routed_topics_with_cloudevents_headers_in_stream_order() {
    init_logs();
    let broker = Broker::start();
    let mut cfg = KafkaSinkConfig::new(broker.bootstrap());
    // One tenant's events in topics of its own, named after it.
    cfg.routes.push(KafkaRoute {
        tenant: Some("globex".into()),
        category: "*".into(),
        event_type: None,
        topic: "{tenant}.{category}".into(),
    });
    let mut cfg = cfg.route("ticket", "support.tickets");
    cfg.partitions = 3;
    let mut sink = KafkaSink::connect(cfg).await.expect("connect");

    let mut b = batch(
        &[
            ("customer-1", 5),
            ("customer-2", 3),
            ("usage-7", 4),
            ("ticket-9", 2),
        ],
        100,
    );
    for s in &mut b {
        let e = std::sync::Arc::make_mut(&mut s.event);
        match (e.stream_id.as_str(), e.stream_version) {
            ("customer-1", 2) => {
                e.subject = Some("msisdn-31612345678".into());
                e.dataschema = Some("https://schemas.example/customer/1".into());
                e.source = "/crm".into();
                e.event_type = "customer.updated".into();
                e.metadata =
                    r#"{"tenant":"acme","priority":3,"urgent":false,"correlation_id":"c-1","nested":{"a":1}}"#
                        .into();
            }
            ("ticket-9", 1) => {
                e.metadata = r#"{"ce_id":"T-1001","tenant":"acme"}"#.into();
                e.datacontenttype = "text/plain".into();
                e.data = r#""No signal at home since Monday""#.into();
            }
            _ => {}
        }
    }
    sink.deliver(&b).await.expect("deliver");

    let topics = ["bss.customer", "globex.usage", "support.tickets"];
    let records = consume_async(&broker.bootstrap(), &topics, b.len()).await;
    assert_eq!(records.len(), b.len(), "one record per event: {records:#?}");

    let by_id: HashMap<String, &Event> = b
        .iter()
        .map(|s| (s.event.ce_id().into_owned(), &*s.event))
        .collect();
    assert_eq!(by_id.len(), b.len());
    for r in &records {
        let e = by_id
            .get(r.ce_id())
            .unwrap_or_else(|| panic!("unknown ce_id in {r:?}"));
        let topic = match (e.tenant.as_str(), e.category()) {
            ("globex", c) => format!("globex.{c}"),
            (_, "ticket") => "support.tickets".to_owned(),
            (_, c) => format!("bss.{c}"),
        };
        assert_eq!(r.topic, topic);
        assert_eq!(r.key, e.stream_id);
        assert_eq!(r.timestamp, Some(e.commit_time_us / 1000));
        let mut want = expected_headers(e);
        match (e.stream_id.as_str(), e.stream_version) {
            ("customer-1", 2) => {
                want.insert("ce_tenant".into(), "acme".into());
                want.insert("ce_priority".into(), "3".into());
                want.insert("ce_urgent".into(), "false".into());
                assert_eq!(r.value, e.data);
            }
            ("ticket-9", 1) => {
                assert_eq!(r.ce_id(), "T-1001");
                want.insert("ce_tenant".into(), "acme".into());
                assert_eq!(r.value, "No signal at home since Monday");
            }
            _ => assert_eq!(r.value, e.data),
        }
        assert_eq!(r.headers, want, "headers of {}", e.stream_id);
    }
    let order = versions_by_stream(&records);
    assert_eq!(order["customer-1"], [1, 2, 3, 4, 5]);
    assert_eq!(order["customer-2"], [1, 2, 3]);
    assert_eq!(order["usage-7"], [1, 2, 3, 4]);
    assert_eq!(order["ticket-9"], [1, 2]);

    let existing = topics_on(&broker.bootstrap());
    assert!(
        !existing.contains("bss.ticket"),
        "routed category got its default topic too: {existing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivered_batch_is_written_again_with_the_same_ce_id_and_headers() {
    init_logs();
    let broker = Broker::start();
    let mut sink = KafkaSink::connect(KafkaSinkConfig::new(broker.bootstrap()))
        .await
        .expect("connect");
    let b = batch(&[("usage-1", 4), ("usage-2", 3)], 0);
    sink.deliver(&b).await.expect("first delivery");
    sink.deliver(&b).await.expect("redelivery");

    let records = consume_async(&broker.bootstrap(), &["bss.usage"], 2 * b.len()).await;
    assert_eq!(records.len(), 2 * b.len(), "Kafka keeps both copies");
    let mut copies: HashMap<&str, Vec<&Record>> = HashMap::new();
    for r in &records {
        copies.entry(r.ce_id()).or_default().push(r);
    }
    assert_eq!(copies.len(), b.len());
    for (id, c) in &copies {
        assert_eq!(c.len(), 2, "{id}");
        assert_eq!(c[0].headers, c[1].headers, "{id}");
        assert_eq!((&c[0].key, &c[0].value), (&c[1].key, &c[1].value), "{id}");
    }
    // The second copy of the batch follows the first, in stream order again.
    let order = versions_by_stream(&records);
    assert_eq!(order["usage-1"], [1, 2, 3, 4, 1, 2, 3, 4]);
    assert_eq!(order["usage-2"], [1, 2, 3, 1, 2, 3]);
}

/// Every event of `batches` is in `records`, and each stream's first copies
/// come in version order (later copies are redeliveries).
fn assert_all_delivered_in_order(batches: &[&[Spooled]], records: &[Record]) {
    let got: BTreeSet<&str> = records.iter().map(Record::ce_id).collect();
    let mut want: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for s in batches.iter().flat_map(|b| b.iter()) {
        assert!(
            got.contains(s.event.event_id.as_str()),
            "lost seq {}",
            s.seq
        );
        want.entry(&s.event.stream_id)
            .or_default()
            .push(s.event.stream_version);
    }
    for (stream, versions) in versions_by_stream(records) {
        let mut first = Vec::new();
        for v in versions {
            if !first.contains(&v) {
                first.push(v);
            }
        }
        assert_eq!(first, want[stream.as_str()], "first copies of {stream}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_broker_makes_deliver_retry_in_bounded_time_and_the_batch_lands_after_resume() {
    init_logs();
    let mut broker = Broker::start();
    let mut sink = KafkaSink::connect(KafkaSinkConfig::new(broker.bootstrap()))
        .await
        .expect("connect");
    let a = batch(&[("customer-1", 3), ("usage-1", 3)], 0);
    sink.deliver(&a).await.expect("delivery before the outage");

    broker.pause();
    let b = batch(
        &[("customer-1", 6), ("usage-1", 6), ("usage-2", 5)],
        a.len() as u64,
    );
    let b: Vec<Spooled> = b
        .into_iter()
        .filter(|s| !(s.event.stream_id != "usage-2" && s.event.stream_version <= 3))
        .collect();
    let start = Instant::now();
    let r = deliver_bounded(&mut sink, &b).await;
    let took = start.elapsed();
    assert!(
        matches!(r, Err(SinkError::Retry(_))),
        "deliver to a paused broker must ask for a retry, got {r:?}"
    );
    eprintln!("paused broker: Retry after {took:?}: {r:?}");

    // Still unavailable: still Retry, never Ok or Fatal.
    let r = deliver_bounded(&mut sink, &b).await;
    assert!(matches!(r, Err(SinkError::Retry(_))), "{r:?}");

    broker.resume();
    let attempts = deliver_until_ok(&mut sink, &b, Duration::from_secs(90)).await;
    eprintln!("delivered after resume in {attempts} attempt(s)");

    // The producer works on: a next batch goes through at once.
    let c = batch(&[("customer-1", 8)], 1000);
    let c: Vec<Spooled> = c
        .into_iter()
        .filter(|s| s.event.stream_version > 6)
        .collect();
    sink.deliver(&c).await.expect("delivery after recovery");

    let n = a.len() + b.len() + c.len();
    let records = consume_async(&broker.bootstrap(), &["bss.customer", "bss.usage"], n).await;
    assert!(
        records.len() >= n,
        "{} records, want at least {n}",
        records.len()
    );
    assert_all_delivered_in_order(&[&a, &b, &c], &records);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_paused_before_the_topic_exists_retries_then_creates_it() {
    init_logs();
    let mut broker = Broker::start();
    let mut sink = KafkaSink::connect(KafkaSinkConfig::new(broker.bootstrap()))
        .await
        .expect("connect");
    broker.pause();
    let b = batch(&[("invoice-1", 3), ("invoice-2", 2)], 0);
    let start = Instant::now();
    let r = deliver_bounded(&mut sink, &b).await;
    assert!(matches!(r, Err(SinkError::Retry(_))), "{r:?}");
    eprintln!(
        "no topic, paused broker: Retry after {:?}: {r:?}",
        start.elapsed()
    );
    broker.resume();
    deliver_until_ok(&mut sink, &b, Duration::from_secs(60)).await;
    let records = consume_async(&broker.bootstrap(), &["bss.invoice"], b.len()).await;
    assert_all_delivered_in_order(&[&b], &records);
}

/// Found by the chaos suite's broker-loss: after the broker was replaced by
/// an empty one, librdkafka only timed the records out (no "unknown topic"),
/// the sink kept its topic as ready and retried into it forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_replaced_by_an_empty_one_gets_its_topics_created_again() {
    init_logs();
    let mut broker = Broker::start();
    let mut sink = KafkaSink::connect(KafkaSinkConfig::new(broker.bootstrap()))
        .await
        .expect("connect");
    let a = batch(&[("customer-1", 2), ("usage-1", 2)], 0);
    sink.deliver(&a).await.expect("delivery before the loss");

    broker.replace_with_empty();
    assert!(
        topics_on(&broker.bootstrap()).is_empty(),
        "the new broker must start without topics"
    );
    let b: Vec<Spooled> = batch(&[("customer-1", 4), ("usage-1", 4)], a.len() as u64)
        .into_iter()
        .filter(|s| s.event.stream_version > 2)
        .collect();
    let attempts = deliver_until_ok(&mut sink, &b, Duration::from_secs(90)).await;
    eprintln!("delivered to the empty broker in {attempts} attempt(s)");
    let records = consume_async(&broker.bootstrap(), &["bss.customer", "bss.usage"], b.len()).await;
    assert_all_delivered_in_order(&[&b], &records);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_too_large_for_kafka_is_fatal_and_names_seq_and_stream() {
    init_logs();
    let broker = Broker::start();
    let mut sink = KafkaSink::connect(KafkaSinkConfig::new(broker.bootstrap()))
        .await
        .expect("connect");
    let mut b = batch(&[("usage-3", 2)], 40);
    std::sync::Arc::make_mut(&mut b[1].event).data =
        format!(r#"{{"blob":"{}"}}"#, "x".repeat(2_000_000));
    match sink.deliver(&b).await {
        Err(SinkError::Fatal(e)) => {
            assert!(e.contains("seq 41") && e.contains("usage-3"), "{e}");
            assert!(e.contains("message.max.bytes"), "{e}");
        }
        other => panic!("want Fatal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn category_without_a_valid_topic_name_is_fatal_before_anything_is_sent() {
    init_logs();
    let broker = Broker::start();
    let mut sink = KafkaSink::connect(KafkaSinkConfig::new(broker.bootstrap()))
        .await
        .expect("connect");
    let mut b = batch(&[("usage-3", 1)], 0);
    b.push(Spooled {
        seq: 1,
        event: example("kund/ä-1", 1).into(),
    });
    match sink.deliver(&b).await {
        Err(SinkError::Fatal(e)) => assert!(e.contains("seq 1") && e.contains("HINT"), "{e}"),
        other => panic!("want Fatal, got {other:?}"),
    }
    assert!(!topics_on(&broker.bootstrap()).contains("bss.usage"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_local_queue_is_waited_out_and_no_record_is_dropped() {
    init_logs();
    let broker = Broker::start();
    // A queue of 50 records for a batch of 3000: enqueueing hits QueueFull
    // again and again.
    let cfg = KafkaSinkConfig::new(broker.bootstrap())
        .property("queue.buffering.max.messages", "50")
        .property("batch.num.messages", "50");
    let mut sink = KafkaSink::connect(cfg).await.expect("connect");
    let b = batch(
        &[
            ("payment-1", 1000),
            ("payment-2", 1000),
            ("payment-3", 1000),
        ],
        0,
    );
    sink.deliver(&b).await.expect("deliver");
    let records = consume_async(&broker.bootstrap(), &["bss.payment"], b.len()).await;
    assert_eq!(records.len(), b.len());
    assert_all_delivered_in_order(&[&b], &records);
}

/// Throughput of the sink against tansu on this machine; prints events/s.
/// `BSS_KAFKA_BENCH_EVENTS` (default 300000), `BSS_KAFKA_BENCH_BATCH` (5000).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: cargo test -p bss-sidecar --release --test sidecar kafka_sink -- --ignored --nocapture"]
async fn throughput_to_tansu() {
    init_logs();
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let total = env("BSS_KAFKA_BENCH_EVENTS", 300_000);
    let batch_size = env("BSS_KAFKA_BENCH_BATCH", 5_000);
    let broker = Broker::start();
    let mut cfg = KafkaSinkConfig::new(broker.bootstrap());
    if let Ok(props) = std::env::var("BSS_KAFKA_BENCH_PROPS") {
        for kv in props.split(',') {
            let (k, v) = kv.split_once('=').expect("k=v");
            cfg = cfg.property(k, v);
        }
    }
    let mut sink = KafkaSink::connect(cfg).await.expect("connect");
    let categories = ["usage", "customer", "payment", "invoice"];
    let events: Vec<Spooled> = (0..total)
        .map(|i| {
            let mut e = example(
                &format!("{}-{}", categories[i % 4], i % 5000),
                (i / 5000) as i64 + 1,
            );
            e.data = format!(
                r#"{{"kind":"data","bytes":{i},"charge":0.42,"cell":"NL-AMS-{}"}}"#,
                i % 977
            );
            e.metadata = r#"{"tenant":"acme","correlation_id":"order-981"}"#.into();
            Spooled {
                seq: i as u64,
                event: e.into(),
            }
        })
        .collect();
    // Warm up: topics created, connections open.
    sink.deliver(&events[..categories.len()])
        .await
        .expect("warm-up");
    let start = Instant::now();
    for chunk in events[categories.len()..].chunks(batch_size) {
        sink.deliver(chunk).await.expect("deliver");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "kafka sink: {} events in batches of {batch_size} in {secs:.2} s = {:.0} events/s",
        total - categories.len(),
        (total - categories.len()) as f64 / secs
    );
}
