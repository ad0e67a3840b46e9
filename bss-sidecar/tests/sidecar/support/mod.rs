//! What the sidecar's end-to-end tests share: the devdb, a running
//! `bss-sidecar` process with its own slot and spool, a load of events
//! appended through `bss.append_events`, and the independent readers of
//! Kafka (Python confluent-kafka) and Redis used to check what arrived.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bss_tests::process::{free_port, ChildGuard};
use serde_json::Value;

/// A replication slot for one test, dropped (with its WAL) at the end.
pub struct Slot {
    pub name: String,
}

impl Slot {
    pub fn new(tag: &str) -> Slot {
        Slot {
            name: bss_tests::unique(&format!("bss_test_{tag}_")).to_lowercase(),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Ok(mut c) = std::panic::catch_unwind(bss_tests::session) else {
            return;
        };
        // The sidecar that used it is gone; wait for the walsender to notice.
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let r = c.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                 WHERE slot_name = $1 AND NOT active",
                &[&self.name],
            );
            let gone = c
                .query_opt(
                    "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
                    &[&self.name],
                )
                .map(|r| r.is_none())
                .unwrap_or(false);
            if gone || r.is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// A running `bss-sidecar`.
pub struct Sidecar {
    pub process: ChildGuard,
    pub metrics_port: u16,
    pub log: PathBuf,
}

/// Arguments of a sidecar run.
pub struct SidecarArgs<'a> {
    pub spool_dir: &'a Path,
    pub slot: &'a str,
    pub kafka_brokers: Option<&'a str>,
    pub redis_url: Option<&'a str>,
    /// `--spool-max-events`; the sidecar's default when None.
    pub spool_max_events: Option<u64>,
    /// `--config`: a TOML file (the anomaly stage's `[[detector]]`s).
    pub config: Option<&'a Path>,
}

impl Sidecar {
    /// Starts the sidecar on the devdb and waits until its replication
    /// source streams.
    pub fn start(args: &SidecarArgs<'_>) -> Sidecar {
        Sidecar::start_with_url(args, &bss_tests::database_url())
    }

    /// Starts the sidecar with this `--database-url`.
    pub fn start_with_url(args: &SidecarArgs<'_>, database_url: &str) -> Sidecar {
        let metrics_port = free_port();
        let log = args.spool_dir.with_extension("log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bss-sidecar"));
        cmd.arg("--database-url")
            .arg(database_url)
            .arg("--spool-dir")
            .arg(args.spool_dir)
            .arg("--slot")
            .arg(args.slot)
            .arg("--metrics-addr")
            .arg(format!("127.0.0.1:{metrics_port}"))
            .env("BSS_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log_file);
        if let Some(b) = args.kafka_brokers {
            cmd.arg("--kafka-brokers").arg(b);
        }
        if let Some(r) = args.redis_url {
            cmd.arg("--redis-url").arg(r);
        }
        if let Some(n) = args.spool_max_events {
            cmd.arg("--spool-max-events").arg(n.to_string());
        }
        if let Some(c) = args.config {
            cmd.arg("--config").arg(c);
        }
        let process = ChildGuard::new("bss-sidecar", cmd.spawn().expect("spawn bss-sidecar"));
        let s = Sidecar {
            process,
            metrics_port,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while http_get(metrics_port, "/healthz").map(|(code, _)| code) != Some(200) {
            assert!(
                Instant::now() < deadline,
                "sidecar not healthy within 60 s; its log:\n{}",
                s.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // It turns transparent huge pages off for itself (main.rs says why).
        let status = std::fs::read_to_string(format!("/proc/{}/status", s.process.pid())).unwrap();
        assert!(
            status.lines().any(|l| l == "THP_enabled:\t0"),
            "bss-sidecar runs with transparent huge pages on; /proc/PID/status:\n{status}"
        );
        s
    }

    /// The last lines of the sidecar's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// The value of a metric sample (name with labels as printed), if any.
    pub fn metric(&self, sample: &str) -> Option<f64> {
        let (_, body) = http_get(self.metrics_port, "/metrics")?;
        body.lines().find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == sample).then(|| value.parse().ok())?
        })
    }

    /// Checks `done` every `every` until it holds; after `timeout` panics
    /// with `what` (formatted at that moment) and the tail of the log.
    pub fn wait_until(
        &self,
        timeout: Duration,
        every: Duration,
        what: impl Fn(&Sidecar) -> String,
        mut done: impl FnMut(&Sidecar) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "{}; sidecar log:\n{}",
                what(self),
                self.log_tail()
            );
            std::thread::sleep(every);
        }
    }

    /// Waits up to `timeout` for the metric `sample` to read `want`; the
    /// failure says `context` and the value last read.
    pub fn wait_for_metric(&self, sample: &str, want: f64, timeout: Duration, context: &str) {
        self.wait_until(
            timeout,
            Duration::from_millis(100),
            |s| format!("{context}: {sample} is {:?}, want {want}", s.metric(sample)),
            |s| s.metric(sample) == Some(want),
        );
    }

    /// Waits up to `timeout` for the sidecar to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.process.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        // SAFETY: signalling our own child by its pid.
        unsafe {
            libc::kill(self.process.pid() as i32, libc::SIGTERM);
        }
        self.wait_exit(Duration::from_secs(60))
            .expect("sidecar ignored SIGTERM")
    }
}

/// A minimal HTTP/1.0 GET on loopback: (status, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http_request(port, "GET", path, &[], "").map(|r| (r.status, r.body))
}

/// An HTTP response read by [`http_request`].
pub struct HttpResponse {
    pub status: u16,
    /// The header lines, as sent.
    pub headers: String,
    pub body: String,
}

/// A minimal HTTP/1.0 request on loopback with `headers` (`Name: value`)
/// and `body`.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &str,
) -> Option<HttpResponse> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let mut request = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n");
    for h in headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    if !body.is_empty() {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    s.write_all(request.as_bytes()).ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some(HttpResponse {
        status,
        headers: head.to_owned(),
        body: body.to_owned(),
    })
}

/// The payload of version `v` of a test stream: fields come and go, so
/// the fold exercises merge-patch (nested objects, deletes, arrays).
pub fn payload(v: i64) -> Value {
    let mut p = serde_json::json!({
        "v": v,
        format!("f{}", v % 5): v,
        "nested": {"a": v % 3, format!("b{}", v % 2): [v, v * 2]},
    });
    if v % 10 == 0 {
        p["f1"] = Value::Null;
        p["nested"]["a"] = Value::Null;
    }
    p
}

/// Appends versions `from..=to` of `stream` in one `bss.append_events`,
/// expecting the stream at version `from - 1`.
pub fn try_append_range(
    c: &mut postgres::Client,
    stream: &str,
    from: i64,
    to: i64,
) -> Result<u64, postgres::Error> {
    let events: Vec<Value> = (from..=to)
        .map(|v| serde_json::json!({"type": "test.loaded", "data": payload(v)}))
        .collect();
    let arr = Value::Array(events).to_string();
    c.execute(
        "SELECT bss.append_events($1, $2::text::jsonb, $3)",
        &[&stream, &arr, &(from - 1)],
    )
}

/// Sidecar config: the anomaly state saved every second, and detector
/// `{tag}-limit` flagging `{tag}.reading` events over 1000 kWh per meter
/// (the 5000 kWh readings of [`append_readings`]).
pub fn limit_detector(tag: &str) -> String {
    format!(
        r#"
[anomaly]
checkpoint_secs = 1

[[detector]]
name = "{tag}-limit"
event_type = "{tag}.reading"
key = "/meter"
field = "/kwh"
algorithm = "threshold"
above = 1000
"#
    )
}

/// Every how many meter readings of [`append_readings`] one is 5000 kWh.
pub const EVERY_BIG: i64 = 50;

/// Appends readings `from..=to` to `stream` in one transaction; every
/// EVERY_BIG-th is 5000 kWh, the others 10 to 22.
pub fn append_readings(c: &mut postgres::Client, stream: &str, ty: &str, from: i64, to: i64) {
    c.execute(
        "SELECT bss.append_events($1, (SELECT jsonb_agg(jsonb_build_object('type', $2::text, \
           'data', jsonb_build_object('meter', 'm' || (g % 7), \
                   'kwh', CASE WHEN g % $5 = 0 THEN 5000 ELSE 10 + g % 13 END)) ORDER BY g) \
         FROM generate_series($3::bigint, $4::bigint) g))",
        &[&stream, &ty, &from, &to, &EVERY_BIG],
    )
    .unwrap();
}

/// [`try_append_range`], panicking on an error.
pub fn append_range(c: &mut postgres::Client, stream: &str, from: i64, to: i64) {
    try_append_range(c, stream, from, to)
        .unwrap_or_else(|e| panic!("append_events({stream}, {from}..={to}): {e}"));
}

pub use bss_tests::merge_patch;

/// The state of `stream` folded from its events in PostgreSQL.
pub fn fold_in_postgres(c: &mut postgres::Client, stream: &str) -> (Value, i64) {
    let rows = c
        .query(
            "SELECT data::text, stream_version FROM bss.events WHERE stream_id = $1 ORDER BY stream_version",
            &[&stream],
        )
        .unwrap();
    let mut state = Value::Null;
    let mut version = 0;
    for r in rows {
        let data: String = r.get(0);
        merge_patch(&mut state, &serde_json::from_str(&data).unwrap());
        version = r.get(1);
    }
    (state, version)
}

/// One Kafka message as the independent consumer saw it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct KafkaMessage {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub value: Option<String>,
    pub headers: BTreeMap<String, Option<String>>,
}

/// Reads `topics` from the beginning with Python's confluent-kafka until
/// `expect` messages arrived; panics after `timeout`.
pub fn kafka_dump(
    bootstrap: &str,
    topics: &[String],
    expect: usize,
    timeout: Duration,
) -> Vec<KafkaMessage> {
    kafka_dump_with(bootstrap, topics, expect, timeout, None)
}

/// Like [`kafka_dump`], but with `idle`: keeps reading after `expect`
/// messages until none came for `idle` (to count duplicates).
pub fn kafka_dump_with(
    bootstrap: &str,
    topics: &[String],
    expect: usize,
    timeout: Duration,
    idle: Option<Duration>,
) -> Vec<KafkaMessage> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/py/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make setup` (scripts/setup.sh creates it)",
        python.display()
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kafka_dump.py");
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .arg("--bootstrap")
        .arg(bootstrap)
        .arg("--expect")
        .arg(expect.to_string())
        .arg("--timeout")
        .arg(timeout.as_secs_f64().to_string());
    for t in topics {
        cmd.arg("--topic").arg(t);
    }
    if let Some(idle) = idle {
        cmd.arg("--idle").arg(idle.as_secs_f64().to_string());
    }
    let out = cmd.output().expect("run kafka_dump.py");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "kafka_dump.py failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The global position of a stream's version.
pub fn position(c: &mut postgres::Client, stream: &str, version: i64) -> i64 {
    c.query_one(
        "SELECT global_position FROM bss.events WHERE stream_id = $1 AND stream_version = $2",
        &[&stream, &version],
    )
    .unwrap()
    .get(0)
}

/// The Redis category stream's entries: (stream_id, version, position).
pub fn delivered(redis: &mut redis::Connection, category: &str) -> Vec<(String, i64, i64)> {
    let entries: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg(format!("bss:events:{category}"))
        .arg("-")
        .arg("+")
        .query(redis)
        .unwrap();
    entries
        .into_iter()
        .map(|(_, fields)| {
            let f: HashMap<&str, &str> = fields
                .chunks(2)
                .map(|kv| (kv[0].as_str(), kv[1].as_str()))
                .collect();
            (
                f["stream_id"].to_owned(),
                f["version"].parse().unwrap(),
                f["global_position"].parse().unwrap(),
            )
        })
        .collect()
}

/// Every position once, each stream's versions 1..=N in order.
pub fn assert_once_in_order(got: &[(String, i64, i64)], want: &BTreeMap<String, i64>) {
    let mut positions: Vec<i64> = got.iter().map(|e| e.2).collect();
    positions.sort_unstable();
    positions.dedup();
    assert_eq!(
        positions.len(),
        got.len(),
        "an event was delivered twice: {got:?}"
    );
    let mut versions: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (stream, version, _) in got {
        versions.entry(stream.clone()).or_default().push(*version);
    }
    for (stream, n) in want {
        assert_eq!(
            versions.get(stream).cloned().unwrap_or_default(),
            (1..=*n).collect::<Vec<_>>(),
            "stream {stream}: versions delivered, in delivery order"
        );
    }
    assert_eq!(
        versions.len(),
        want.len(),
        "streams delivered: {versions:?}"
    );
}

/// The tenant of a test stream for the sink tests' two tenants: `acme` or
/// `globex`, by the length of its name.
pub fn two_tenants(stream: &str) -> String {
    if stream.len().is_multiple_of(2) {
        "acme"
    } else {
        "globex"
    }
    .to_owned()
}
