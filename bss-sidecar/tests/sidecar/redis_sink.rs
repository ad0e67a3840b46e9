//! The Redis sink against a real redis-server (started per test on a free
//! port, killed at the end): what it writes, that redelivery changes nothing,
//! and that it recovers by itself or says Retry when Redis is gone.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::support::two_tenants;
use bss_sidecar::event::{example, Event, Spooled};
use bss_sidecar::sink::redis::{RedisSink, RedisSinkConfig};
use bss_sidecar::sink::{Sink, SinkError};
use bss_tests::merge_patch;
use bss_tests::redis_server::RedisServer;
use serde_json::Value;

/// 2100-01-01T00:00:00Z: counters of that minute outlive any test run.
const T0_US: i64 = 4_102_444_800_000_000;
const MINUTE_US: i64 = 60_000_000;
/// Deliveries a test makes at most while waiting for the sink to recover.
const MAX_ATTEMPTS: usize = 10;
/// A guard against a hang; the sink's own timeouts are far shorter.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// `v` with every number as f64: JSON does not tell -500 from -500.0, and
/// the function's cjson path may print either (exact digits are checked on
/// the text).
fn numbers_as_f64(v: &Value) -> Value {
    match v {
        Value::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| v.clone(), Value::Number),
        Value::Array(a) => Value::Array(a.iter().map(numbers_as_f64).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), numbers_as_f64(v)))
                .collect(),
        ),
        _ => v.clone(),
    }
}

/// An event of `stream` at `version`, committed at `lsn` as the `idx`-th
/// event of its transaction, `minute` minutes after T0.
fn ev(stream: &str, version: i64, lsn: u64, idx: u32, minute: i64, ty: &str, data: &str) -> Event {
    let mut e = example(stream, version);
    e.tenant = two_tenants(stream);
    e.commit_lsn = lsn;
    e.txn_index = idx;
    e.commit_time_us = T0_US + minute * MINUTE_US + 1_000_000 * i64::from(idx);
    e.global_position = (lsn * 10 + u64::from(idx)) as i64;
    e.event_type = ty.to_owned();
    e.data = data.to_owned();
    e
}

fn spool(first_seq: u64, events: &[Event]) -> Vec<Spooled> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| Spooled {
            seq: first_seq + i as u64,
            event: e.clone().into(),
        })
        .collect()
}

fn entry_id(e: &Event) -> String {
    format!("{}-{}", e.commit_lsn, e.txn_index)
}

async fn sink(server: &RedisServer) -> RedisSink {
    RedisSink::connect(RedisSinkConfig::new(server.url()))
        .await
        .expect("connect to the test redis-server")
}

async fn deliver(sink: &mut RedisSink, batch: &[Spooled]) -> Result<(), SinkError> {
    tokio::time::timeout(HANG_GUARD, sink.deliver(batch))
        .await
        .expect("deliver hung")
}

/// Delivers until Ok, at most MAX_ATTEMPTS times; returns the Retry errors seen.
async fn deliver_until_ok(sink: &mut RedisSink, batch: &[Spooled]) -> Vec<String> {
    let mut retries = Vec::new();
    for _ in 0..MAX_ATTEMPTS {
        match deliver(sink, batch).await {
            Ok(()) => return retries,
            Err(SinkError::Retry(m)) => retries.push(m),
            Err(SinkError::Fatal(m)) => panic!("fatal: {m}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no success after {MAX_ATTEMPTS} attempts: {retries:?}");
}

fn redis(server: &RedisServer) -> redis::Connection {
    redis::Client::open(server.url())
        .and_then(|c| c.get_connection())
        .expect("test connection to redis-server")
}

type Entry = (String, BTreeMap<String, String>);

fn entries(con: &mut redis::Connection, key: &str) -> Vec<Entry> {
    redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query(con)
        .expect("XRANGE")
}

fn hash(con: &mut redis::Connection, key: &str) -> BTreeMap<String, String> {
    redis::cmd("HGETALL").arg(key).query(con).expect("HGETALL")
}

/// Everything under the sink's prefixes, as comparable text.
fn snapshot(con: &mut redis::Connection) -> BTreeMap<String, String> {
    let keys: Vec<String> = redis::cmd("KEYS").arg("bss:*").query(con).expect("KEYS");
    let mut out = BTreeMap::new();
    for k in keys {
        let ty: String = redis::cmd("TYPE").arg(&k).query(con).expect("TYPE");
        let v = match ty.as_str() {
            "stream" => format!("{:?}", entries(con, &k)),
            "hash" => format!("{:?}", hash(con, &k)),
            other => panic!("unexpected {other} at {k}"),
        };
        out.insert(k, v);
    }
    out
}

/// What the sink must have written for `events` (each delivered at least
/// once, in order).
fn check_all(con: &mut redis::Connection, events: &[Event]) {
    // Streams: one entry per event, per category, in commit order.
    let mut by_category: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for e in events {
        by_category.entry(e.category()).or_default().push(e);
    }
    for (category, evs) in &by_category {
        let got = entries(con, &format!("bss:events:{category}"));
        let ids: Vec<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
        let want: Vec<String> = evs.iter().map(|e| entry_id(e)).collect();
        assert_eq!(ids, want, "entries of category {category}");
        for ((_, fields), e) in got.iter().zip(evs) {
            let f = |name: &str| fields.get(name).map(String::as_str);
            assert_eq!(f("ce_id"), Some(e.ce_id().as_ref()));
            assert_eq!(f("stream_id"), Some(e.stream_id.as_str()));
            assert_eq!(f("version"), Some(e.stream_version.to_string().as_str()));
            assert_eq!(f("type"), Some(e.event_type.as_str()));
            assert_eq!(f("time"), Some(e.time.as_str()));
            let position = e.global_position.to_string();
            assert_eq!(f("global_position"), Some(position.as_str()));
            assert_eq!(f("data"), Some(e.data.as_str()));
            assert_eq!(f("source"), Some(e.source.as_str()));
            assert_eq!(f("tenant"), Some(e.tenant.as_str()));
            assert_eq!(f("metadata"), Some(e.metadata.as_str()));
            assert_eq!(f("subject"), e.subject.as_deref());
        }
    }
    // States: the merge-patch fold of each stream's data in version order.
    let mut folds: BTreeMap<&str, (Value, i64)> = BTreeMap::new();
    for e in events {
        let (state, version) = folds.entry(&e.stream_id).or_insert((Value::Null, 0));
        if e.stream_version > *version {
            let patch: Value = serde_json::from_str(&e.data).expect("test data is JSON");
            merge_patch(state, &patch);
            *version = e.stream_version;
        }
    }
    for (stream, (want, version)) in &folds {
        let h = hash(con, &format!("bss:agg:{stream}"));
        let state: Value = serde_json::from_str(&h["state"])
            .unwrap_or_else(|e| panic!("state of {stream} is not JSON ({e}): {}", h["state"]));
        assert_eq!(
            numbers_as_f64(&state),
            numbers_as_f64(want),
            "state of {stream}: {}",
            h["state"]
        );
        assert_eq!(h["version"], version.to_string(), "version of {stream}");
    }
    // Counters: per minute of commit time, per type, each event once.
    let mut counts: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for e in events {
        let minute = (e.commit_time_us - T0_US).div_euclid(MINUTE_US);
        let key = format!("bss:count:2100010100{minute:02}");
        let n = counts
            .entry(key)
            .or_default()
            .entry(e.event_type.clone())
            .or_insert_with(|| "0".to_owned());
        *n = (n.parse::<u64>().unwrap() + 1).to_string();
    }
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("bss:count:*")
        .query(con)
        .expect("KEYS");
    assert_eq!(keys.len(), counts.len(), "counter keys {keys:?}");
    for (key, want) in &counts {
        let got = hash(con, key);
        assert_eq!(&got, want, "counters in {key}");
        let ttl: i64 = redis::cmd("TTL").arg(key).query(con).expect("TTL");
        assert!(ttl > 0, "{key} has no expiry (TTL {ttl})");
    }
}

/// Streams in three categories, transactions with several events, the
/// merge-patch cases (null deletes, nested objects, arrays, non-object data,
/// big and fractional numbers, escapes), two minutes and five types.
fn mixed_events() -> Vec<Event> {
    // (stream, version, commit LSN, index in transaction, minute, type, data)
    #[rustfmt::skip]
    let rows: &[(&str, i64, u64, u32, i64, &str, &str)] = &[
        ("customer-1", 1, 100, 0, 0, "customer.created",
            r#"{"name": "Ada", "address": {"city": "Delft", "zip": "2611"}, "tags": [], "prefs": {}, "balance": 12345678901, "rate": 0.1}"#),
        ("usage-7", 1, 100, 1, 0, "usage.recorded", r#"{"bytes": 10, "charge": 0.42}"#),
        ("customer-2", 1, 200, 0, 0, "customer.created", r#""just a string""#),
        ("customer-1", 2, 300, 0, 0, "customer.updated",
            r#"{"address": {"zip": null, "street": "Oude Delft 1"}, "tags": ["vip"], "rate": null, "iccid": 8931041010654378930123456, "tiny": 1.5e-300}"#),
        ("customer-2", 2, 300, 1, 0, "customer.updated", r#"{"a": {"b": 1, "gone": null}}"#),
        ("usage-7", 2, 300, 2, 1, "usage.recorded", r#"{"bytes": 20, "charge": 0.30000000000000004}"#),
        ("customer-1", 3, 400, 0, 1, "customer.updated",
            r#"{"prefs": {"sms": false, "nested": {"a": {"b": null}}}, "list": [{"x": null}], "empty": {}, "name": "Ada \"}] L.", "ünï": "ok"}"#),
        ("customer-2", 3, 500, 0, 1, "customer.updated", r#"[1, 2, {"c": null}, []]"#),
        ("customer-2", 4, 600, 0, 1, "customer.updated", "null"),
        ("customer-2", 5, 700, 0, 1, "customer.updated", r#"{"z": null, "k": [], "o": {}}"#),
        ("usage-7", 3, 800, 0, 1, "usage.recorded", r#"{"bytes": 9007199254740993}"#),
        // Exact data (the function's cjson path), then [] (its exact-text
        // path), then exact data onto a state that is not exact any more;
        // a member named once with an escape and once without.
        ("ticket-1", 1, 800, 1, 1, "ticket.opened", r#"{"a": 1, "b": {"c": 0.1}, "s": "a/b"}"#),
        ("ticket-1", 2, 900, 0, 1, "ticket.updated", r#"{"arr": [], "b": {"e": []}}"#),
        ("ticket-1", 3, 900, 1, 1, "ticket.updated", r#"{"d": 2, "caf\u00e9": 1}"#),
        ("ticket-1", 4, 900, 2, 1, "ticket.updated", r#"{"café": null, "b": {"c": null}}"#),
        ("ticket-2", 1, 900, 3, 1, "ticket.opened", r#"{"a": {"b": [1, {"c": 2}]}, "n": -0.5e3}"#),
        ("ticket-2", 2, 1000, 0, 1, "ticket.updated", r#"{"a": {"b": null, "x": "y"}, "t": true}"#),
    ];
    let mut events: Vec<Event> = rows
        .iter()
        .map(|&(stream, version, lsn, idx, minute, ty, data)| {
            ev(stream, version, lsn, idx, minute, ty, data)
        })
        .collect();
    events[0].subject = Some("msisdn-31612345678".to_owned());
    events[0].metadata = r#"{"ce_id":"order-17","tenant":"acme"}"#.to_owned();
    events
}

#[tokio::test]
async fn a_batch_fills_category_streams_states_and_counters() {
    let server = RedisServer::start();
    let mut sink = sink(&server).await;
    let events = mixed_events();
    deliver(&mut sink, &spool(1, &events))
        .await
        .expect("deliver");

    let mut con = redis(&server);
    check_all(&mut con, &events);

    // Beyond what serde_json's f64 can compare: numbers, [] and {} kept as text.
    let c1 = hash(&mut con, "bss:agg:customer-1");
    for text in [
        r#""balance":12345678901"#,
        r#""rate""#,
        r#""iccid":8931041010654378930123456"#,
        r#""tiny":1.5e-300"#,
        r#""tags":["vip"]"#,
        r#""list":[{"x": null}]"#,
        r#""empty":{}"#,
        r#""nested":{"a":{}}"#,
    ] {
        let present = c1["state"].contains(text);
        assert_eq!(present, text != r#""rate""#, "{text} in {}", c1["state"]);
    }
    assert_eq!(
        hash(&mut con, "bss:agg:customer-2")["state"],
        r#"{"k":[],"o":{}}"#
    );
    assert!(hash(&mut con, "bss:agg:usage-7")["state"].contains("9007199254740993"));
    let t1 = hash(&mut con, "bss:agg:ticket-1");
    assert!(t1["state"].contains(r#""arr":[]"#), "{}", t1["state"]);
    assert!(t1["state"].contains(r#""e":[]"#), "{}", t1["state"]);
    assert_eq!(t1["exact"], "0");
    // Only exact data ever: the function took its cjson path.
    assert_eq!(hash(&mut con, "bss:agg:ticket-2")["exact"], "1");
}

#[tokio::test]
async fn redelivery_of_the_same_or_an_overlapping_batch_changes_nothing() {
    let server = RedisServer::start();
    let mut sink = sink(&server).await;
    let mut con = redis(&server);
    let events = mixed_events();
    let first = spool(1, &events);
    deliver(&mut sink, &first).await.expect("first delivery");
    let before = snapshot(&mut con);

    deliver(&mut sink, &first).await.expect("same batch again");
    assert_eq!(snapshot(&mut con), before, "the same batch again");

    // The second half again, then new events of the same streams.
    let mut more = events.clone();
    more.extend([
        ev(
            "customer-1",
            4,
            900,
            0,
            2,
            "customer.updated",
            r#"{"name": "Ada L."}"#,
        ),
        ev(
            "usage-7",
            4,
            900,
            1,
            2,
            "usage.recorded",
            r#"{"bytes": 30}"#,
        ),
        ev(
            "customer-3",
            1,
            1000,
            0,
            2,
            "customer.created",
            r#"{"name": "Bo"}"#,
        ),
    ]);
    let half = events.len() / 2;
    let overlap = spool(1 + half as u64, &more[half..]);
    deliver(&mut sink, &overlap)
        .await
        .expect("overlapping batch");
    check_all(&mut con, &more);
    let after = snapshot(&mut con);
    deliver(&mut sink, &overlap)
        .await
        .expect("overlapping batch again");
    assert_eq!(snapshot(&mut con), after);
}

#[tokio::test]
async fn an_event_at_or_below_the_stored_version_leaves_the_state_alone() {
    let server = RedisServer::start();
    let mut sink = sink(&server).await;
    let mut con = redis(&server);
    let v2 = ev(
        "customer-5",
        2,
        100,
        0,
        0,
        "customer.updated",
        r#"{"a": 2}"#,
    );
    deliver(&mut sink, &spool(1, &[v2])).await.expect("v2");
    // A later commit carrying an older version: a new stream entry, same state.
    let v1 = ev(
        "customer-5",
        1,
        200,
        0,
        0,
        "customer.updated",
        r#"{"a": 1, "b": 1}"#,
    );
    deliver(&mut sink, &spool(2, &[v1])).await.expect("v1");
    let h = hash(&mut con, "bss:agg:customer-5");
    assert_eq!(
        (h["state"].as_str(), h["version"].as_str()),
        (r#"{"a":2}"#, "2")
    );
    assert_eq!(entries(&mut con, "bss:events:customer").len(), 2);
}

#[tokio::test]
async fn many_events_of_a_stream_in_one_call_fold_like_one_at_a_time() {
    // The function keeps a stream's state decoded across the exact events of
    // a call and falls back to text when an inexact one comes: interleave
    // both kinds over a few streams, in one batch and one event per batch.
    let data = |v: i64| match v % 7 {
        3 => format!(r#"{{"list": [], "n{v}": {v}}}"#),
        5 => format!(r#"{{"big": 1234567890123456789{v}, "o": {{"k{v}": null}}}}"#),
        6 => format!(r#"{{"n{}": null, "o": {{"k{v}": [{v}]}}}}"#, v - 1),
        _ => format!(r#"{{"v": {v}, "o": {{"k{v}": {{"x": 0.{v}}}}}, "s": "\u00e9/{v}"}}"#),
    };
    let mut events = Vec::new();
    for v in 1..=40 {
        for (k, stream) in ["usage-1", "usage-2", "customer-3"].iter().enumerate() {
            let lsn = 100 * v as u64;
            events.push(ev(
                stream,
                v,
                lsn,
                k as u32,
                0,
                "usage.recorded",
                &data(v + k as i64),
            ));
        }
    }
    let one_call = RedisServer::start();
    let mut sink_a = sink(&one_call).await;
    deliver(&mut sink_a, &spool(1, &events))
        .await
        .expect("one batch");
    let one_by_one = RedisServer::start();
    let mut sink_b = sink(&one_by_one).await;
    for (i, e) in events.iter().enumerate() {
        let batch = spool(1 + i as u64, std::slice::from_ref(e));
        deliver(&mut sink_b, &batch).await.expect("one event");
    }
    let (mut a, mut b) = (redis(&one_call), redis(&one_by_one));
    check_all(&mut a, &events);
    check_all(&mut b, &events);
    for stream in ["usage-1", "usage-2", "customer-3"] {
        let key = format!("bss:agg:{stream}");
        assert_eq!(hash(&mut a, &key), hash(&mut b, &key), "{key}");
    }
}

/// One event for `bss_apply_events_v2` called by hand: stream `t-1`,
/// chained to `prev`.
fn fcall(
    con: &mut redis::Connection,
    prev: &str,
    version: &str,
    id: &str,
    data: &str,
) -> redis::RedisResult<Vec<i64>> {
    redis::cmd("FCALL")
        .arg("bss_apply_events_v2")
        .arg(4)
        .arg(&[
            "bss:sink:chain",
            "bss:events:t",
            "bss:agg:t-1",
            "bss:count:210001010000",
        ])
        .arg(&[
            "",
            prev,
            "1",
            "2",
            "3",
            "4",
            id,
            version,
            "t.x",
            "4102531200",
            "1",
            "1",
        ])
        .arg(&["data", data])
        .query::<Vec<i64>>(con)
}

#[tokio::test]
async fn data_marked_exact_that_cjson_cannot_encode_falls_back_to_text() {
    // 1e400 decodes to infinity, which cjson refuses to encode: the sidecar
    // never marks it exact, but the function must still not lose it if told so.
    let server = RedisServer::start();
    let _sink = sink(&server).await;
    let mut con = redis(&server);
    let added = fcall(&mut con, "", "1", "1-1", r#"{"a": 1}"#).expect("v1");
    assert_eq!(added, vec![1, 1]);
    fcall(&mut con, "", "2", "2-1", r#"{"e": 1e400, "b": 2}"#).expect("v2");
    let h = hash(&mut con, "bss:agg:t-1");
    assert_eq!(
        (
            h["state"].as_str(),
            h["version"].as_str(),
            h["exact"].as_str()
        ),
        (r#"{"a":1,"e":1e400,"b":2}"#, "2", "0")
    );
}

#[tokio::test]
async fn a_call_chained_to_one_that_did_not_run_is_refused_and_writes_nothing() {
    let server = RedisServer::start();
    let _sink = sink(&server).await;
    let mut con = redis(&server);
    fcall(&mut con, "", "1", "1-1", r#"{"a": 1}"#).expect("unchained");
    assert_eq!(hash(&mut con, "bss:sink:chain")["last"], "1-1");
    let before = snapshot(&mut con);
    // Its predecessor ended at 1-5, which never ran: refused before any write.
    let refused = fcall(&mut con, "1-5", "2", "2-1", r#"{"b": 2}"#).expect_err("broken chain");
    assert_eq!(refused.code(), Some("BSSCHAIN"), "{refused}");
    assert!(refused.to_string().contains("1-5"), "{refused}");
    assert_eq!(snapshot(&mut con), before);
    // Chained to the call that did run: applied.
    assert_eq!(
        fcall(&mut con, "1-1", "2", "2-1", r#"{"b": 2}"#).expect("chained"),
        vec![1, 1]
    );
    assert_eq!(hash(&mut con, "bss:sink:chain")["last"], "2-1");
    assert_eq!(entries(&mut con, "bss:events:t").len(), 2);
}

#[tokio::test]
async fn calls_in_flight_behind_a_refused_one_land_nothing_and_a_redelivery_fills_every_gap() {
    let server = RedisServer::start();
    let mut sink = sink(&server).await;
    let mut con = redis(&server);
    // Six calls' worth of one category; the third call refers to a state key
    // of the wrong type, so Redis refuses it after the sink has sent the
    // calls behind it.
    let per_call = bss_sidecar::sink::redis::MAX_EVENTS_PER_CALL;
    let bad = 2 * per_call + 17;
    let events: Vec<Event> = (0..6 * per_call)
        .map(|i| {
            let stream = if i == bad {
                "usage-bad".to_owned()
            } else {
                format!("usage-{}", i % 40)
            };
            let version = if i == bad { 1 } else { (i / 40 + 1) as i64 };
            let data = format!(r#"{{"n": {i}, "half": {}}}"#, i % 2);
            ev(
                &stream,
                version,
                1_000 + i as u64,
                0,
                0,
                "usage.recorded",
                &data,
            )
        })
        .collect();
    let batch = spool(1, &events);
    let () = redis::cmd("SET")
        .arg("bss:agg:usage-bad")
        .arg("not a hash")
        .query(&mut con)
        .expect("SET");
    match deliver(&mut sink, &batch).await {
        Err(SinkError::Fatal(m)) => assert!(m.contains("usage-bad"), "{m}"),
        other => panic!("wrong key type: {other:?}"),
    }
    // Only the two calls before the refused one ran.
    let landed = entries(&mut con, "bss:events:usage");
    assert_eq!(landed.len(), 2 * per_call);
    assert_eq!(
        landed.last().unwrap().0,
        entry_id(&events[2 * per_call - 1])
    );

    let () = redis::cmd("DEL")
        .arg("bss:agg:usage-bad")
        .query(&mut con)
        .expect("DEL");
    assert!(deliver_until_ok(&mut sink, &batch).await.is_empty());
    check_all(&mut con, &events);
    let after = snapshot(&mut con);
    deliver(&mut sink, &batch).await.expect("redelivery");
    assert_eq!(snapshot(&mut con), after, "a redelivery changed something");
}

#[tokio::test]
async fn the_sink_recovers_by_itself_after_redis_restarted_empty() {
    let mut server = RedisServer::start();
    let mut sink = sink(&server).await;
    let events = mixed_events();
    let (first, second) = events.split_at(4);
    deliver(&mut sink, &spool(1, first))
        .await
        .expect("before restart");

    // No persistence: the restarted server has neither data nor the function.
    server.restart();
    let retries = deliver_until_ok(&mut sink, &spool(5, second)).await;
    eprintln!("deliveries refused while recovering: {retries:?}");
    let mut con = redis(&server);
    check_all(&mut con, second);
}

#[tokio::test]
async fn a_flushed_function_library_is_loaded_again_within_the_delivery() {
    let server = RedisServer::start();
    let mut sink = sink(&server).await;
    let mut con = redis(&server);
    let events = mixed_events();
    let (first, second) = events.split_at(4);
    deliver(&mut sink, &spool(1, first)).await.expect("first");
    let () = redis::cmd("FUNCTION")
        .arg("FLUSH")
        .query(&mut con)
        .expect("FUNCTION FLUSH");
    deliver(&mut sink, &spool(5, second))
        .await
        .expect("deliver after FUNCTION FLUSH");
    check_all(&mut con, &events);
}

#[tokio::test]
async fn deliver_returns_retry_while_redis_is_stopped_and_recovers_after() {
    let mut server = RedisServer::start();
    let mut sink = sink(&server).await;
    let events = mixed_events();
    let (first, second) = events.split_at(4);
    deliver(&mut sink, &spool(1, first))
        .await
        .expect("before stop");

    server.stop();
    for attempt in 0..3 {
        match deliver(&mut sink, &spool(5, second)).await {
            Err(SinkError::Retry(m)) => eprintln!("attempt {attempt}: Retry({m})"),
            other => panic!("attempt {attempt} with redis stopped: {other:?}"),
        }
    }

    server.restart();
    deliver_until_ok(&mut sink, &spool(5, second)).await;
    let mut con = redis(&server);
    check_all(&mut con, second);
}

#[tokio::test]
async fn deliver_returns_retry_when_redis_does_not_answer() {
    let server = RedisServer::start();
    let mut cfg = RedisSinkConfig::new(server.url());
    cfg.connect_timeout_ms = 300;
    cfg.response_timeout_ms = 300;
    let mut sink = RedisSink::connect(cfg).await.expect("connect");
    let events = mixed_events();

    server.freeze();
    let frozen = deliver(&mut sink, &spool(1, &events)).await;
    server.thaw();
    match frozen {
        Err(SinkError::Retry(m)) => eprintln!("frozen: Retry({m})"),
        other => panic!("redis frozen: {other:?}"),
    }

    deliver_until_ok(&mut sink, &spool(1, &events)).await;
    let mut con = redis(&server);
    check_all(&mut con, &events);
}

#[tokio::test]
async fn connect_says_retry_for_a_closed_port_and_fatal_for_a_bad_url() {
    let port = bss_tests::process::free_port();
    match RedisSink::connect(RedisSinkConfig::new(format!("redis://127.0.0.1:{port}/"))).await {
        Err(SinkError::Retry(_)) => {}
        Err(SinkError::Fatal(m)) => panic!("closed port: Fatal({m})"),
        Ok(_) => panic!("closed port: connected"),
    }
    match RedisSink::connect(RedisSinkConfig::new("http://nowhere")).await {
        Err(SinkError::Fatal(_)) => {}
        Err(SinkError::Retry(m)) => panic!("bad url: Retry({m})"),
        Ok(_) => panic!("bad url: connected"),
    }
    // Lazy: no connection until the first delivery.
    let mut lazy = RedisSink::lazy(RedisSinkConfig::new(format!("redis://127.0.0.1:{port}/")))
        .expect("lazy sink");
    let batch = spool(1, &mixed_events());
    assert!(matches!(
        deliver(&mut lazy, &batch).await,
        Err(SinkError::Retry(_))
    ));
}

#[tokio::test]
async fn data_that_is_not_json_is_fatal_naming_seq_and_stream() {
    let server = RedisServer::start();
    let mut sink = sink(&server).await;
    let mut events = mixed_events();
    events[3].data = r#"{"a": [1,"#.to_owned();
    match deliver(&mut sink, &spool(41, &events)).await {
        Err(SinkError::Fatal(m)) => {
            assert!(m.contains("seq 44") && m.contains("customer-1"), "{m}")
        }
        other => panic!("bad data: {other:?}"),
    }
}

#[tokio::test]
async fn a_key_of_the_wrong_type_is_fatal_naming_seq_and_stream() {
    let server = RedisServer::start();
    let mut sink = sink(&server).await;
    let mut con = redis(&server);
    let () = redis::cmd("SET")
        .arg("bss:agg:customer-2")
        .arg("not a hash")
        .query(&mut con)
        .expect("SET");
    match deliver(&mut sink, &spool(1, &mixed_events())).await {
        Err(SinkError::Fatal(m)) => assert!(
            m.contains("seq 3") && m.contains("customer-2") && m.contains("WRONGTYPE"),
            "{m}"
        ),
        other => panic!("wrong key type: {other:?}"),
    }
}

#[tokio::test]
async fn counters_of_minutes_past_their_ttl_are_not_kept() {
    let server = RedisServer::start();
    let mut sink = sink(&server).await;
    let mut con = redis(&server);
    let mut old = ev("usage-1", 1, 100, 0, 0, "usage.recorded", "{}");
    old.commit_time_us = 0; // 1970: its minute ended long before the TTL
    deliver(&mut sink, &spool(1, &[old]))
        .await
        .expect("deliver");
    let exists: i64 = redis::cmd("EXISTS")
        .arg("bss:count:197001010000")
        .query(&mut con)
        .expect("EXISTS");
    assert_eq!(exists, 0);
    assert_eq!(entries(&mut con, "bss:events:usage").len(), 1);
}

#[tokio::test]
async fn stream_maxlen_trims_each_category_stream_approximately() {
    let server = RedisServer::start();
    let mut cfg = RedisSinkConfig::new(server.url());
    cfg.stream_maxlen = Some(100);
    let mut sink = RedisSink::connect(cfg).await.expect("connect");
    let events: Vec<Event> = (1..=1000)
        .map(|v| ev("usage-1", v, 100 + v as u64, 0, 0, "usage.recorded", "{}"))
        .collect();
    deliver(&mut sink, &spool(1, &events))
        .await
        .expect("deliver");
    let mut con = redis(&server);
    let len: u64 = redis::cmd("XLEN")
        .arg("bss:events:usage")
        .query(&mut con)
        .expect("XLEN");
    assert!((100..1000).contains(&len), "XLEN {len}");
}

/// Events per second through one sink into a local redis-server, with one
/// function call in flight and with the default; prints the figures.
/// `cargo test -p bss-sidecar --release --test sidecar redis_sink -- --ignored --nocapture`
#[tokio::test]
#[ignore]
async fn throughput() {
    const EVENTS: usize = 300_000;
    const BATCH: usize = 5_000;
    const STREAMS: u64 = 10_000;
    let categories = ["usage", "customer", "payment", "invoice", "ticket"];
    let events: Vec<Event> = (0..EVENTS as u64)
        .map(|i| {
            let s = i % STREAMS;
            let stream = format!("{}-{s}", categories[(s % 5) as usize]);
            let mut e = ev(
                &stream,
                (i / STREAMS + 1) as i64,
                1_000 + i / 4,
                (i % 4) as u32,
                (i / 50_000) as i64,
                "usage.recorded",
                &format!(
                    r#"{{"kind": "data", "bytes": {}, "charge": 0.42, "cell": "NL-{}", "tags": ["roaming"]}}"#,
                    i * 7,
                    i % 97
                ),
            );
            e.metadata = r#"{"correlation_id": "c-1", "tenant": "acme"}"#.to_owned();
            e
        })
        .collect();
    let batches: Vec<Vec<Spooled>> = events
        .chunks(BATCH)
        .enumerate()
        .map(|(i, c)| spool(1 + (i * BATCH) as u64, c))
        .collect();
    for in_flight in [1, RedisSinkConfig::default().max_calls_in_flight] {
        let server = RedisServer::start();
        let mut cfg = RedisSinkConfig::new(server.url());
        cfg.max_calls_in_flight = in_flight;
        let mut sink = RedisSink::connect(cfg).await.expect("connect");
        let start = Instant::now();
        for b in &batches {
            deliver(&mut sink, b).await.expect("deliver");
        }
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "redis sink, {in_flight} calls in flight: {EVENTS} events in {secs:.2} s = {:.0} events/s \
             (batches of {BATCH}, {STREAMS} streams)",
            EVENTS as f64 / secs
        );
        let mut con = redis(&server);
        check_all(&mut con, &events);
        let stats: String = redis::cmd("INFO").arg("all").query(&mut con).expect("INFO");
        for line in stats
            .lines()
            .filter(|l| l.starts_with("cmdstat_fcall:") || l.starts_with("used_cpu"))
        {
            eprintln!("  redis-server {line}");
        }
    }
}
