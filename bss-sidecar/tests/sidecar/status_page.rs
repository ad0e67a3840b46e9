//! The status page, end to end: a sidecar forwards a running load to a
//! tansu broker and a redis-server (with a threshold detector, so anomalies
//! show), and headless Chromium (Debian's `chromium`) loads `/` twice a few
//! seconds apart. The figures the page shows must be the sidecar's (at most
//! what `/metrics` says just after) and moving, its charts must have
//! points, and a screenshot is kept in `target/status-page.png`.
//! `/status.json` is checked as JSON on its own.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::support::{
    append_readings, http_get, limit_detector, Sidecar, SidecarArgs, Slot, EVERY_BIG,
};
use bss_tests::broker::Broker;
use bss_tests::process::ChildGuard;
use bss_tests::redis_server::RedisServer;
use serde_json::Value;

/// The load's bounds: rounds of ROUND_EVENTS readings, at most MAX_ROUNDS
/// of them and for at most MAX_LOAD, ROUND_PAUSE apart.
const MAX_ROUNDS: i64 = 600;
const ROUND_EVENTS: i64 = 50;
const MAX_LOAD: Duration = Duration::from_secs(120);
const ROUND_PAUSE: Duration = Duration::from_millis(100);
/// Virtual time Chromium gives the page before it dumps or shoots it:
/// the first poll and one more.
const PAGE_BUDGET_MS: u32 = 3_000;
/// How long one Chromium run may take.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(90);

/// Appends rounds of readings until `stop`, MAX_ROUNDS or MAX_LOAD;
/// returns the events appended.
fn load(tag: &str, stop: &AtomicBool) -> i64 {
    let mut c = bss_tests::session();
    let ty = format!("{tag}.reading");
    let started = Instant::now();
    let mut appended = 0;
    for round in 0..MAX_ROUNDS {
        if stop.load(Ordering::Acquire) || started.elapsed() >= MAX_LOAD {
            break;
        }
        let stream = format!("{tag}meters-{}", round % 8);
        let from = round * ROUND_EVENTS + 1;
        append_readings(&mut c, &stream, &ty, from, from + ROUND_EVENTS - 1);
        appended += ROUND_EVENTS;
        std::thread::sleep(ROUND_PAUSE);
    }
    appended
}

/// `chromium` on PATH; the test fails without it.
fn chromium_binary() -> PathBuf {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join("chromium"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "chromium is not on PATH: run scripts/setup.sh (it installs Debian's \
                 `chromium`), or `apt-get install -y chromium`"
            )
        })
}

/// Runs headless Chromium on `url` with `args` and its own profile in
/// `dir`; returns its stdout. Fails after CHROMIUM_TIMEOUT.
fn chromium(dir: &Path, args: &[String], url: &str) -> String {
    let profile = tempfile::tempdir_in(dir).unwrap();
    let out_path = profile.path().join("stdout");
    let err_path = profile.path().join("stderr");
    let mut cmd = Command::new(chromium_binary());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
    ])
    .arg(format!(
        "--user-data-dir={}",
        profile.path().join("profile").display()
    ))
    .args(args)
    .arg(url)
    .stdin(Stdio::null())
    .stdout(std::fs::File::create(&out_path).unwrap())
    .stderr(std::fs::File::create(&err_path).unwrap());
    let mut guard = ChildGuard::new("chromium", cmd.spawn().expect("spawn chromium"));
    let deadline = Instant::now() + CHROMIUM_TIMEOUT;
    let status = loop {
        if let Some(status) = guard.child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            guard.kill();
            panic!(
                "chromium {args:?} {url} did not finish in {CHROMIUM_TIMEOUT:?}; its stderr:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "chromium {args:?} {url} failed ({status}); its stderr:\n{}",
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
    std::fs::read_to_string(&out_path).unwrap()
}

/// The DOM Chromium dumped after the page's script ran.
struct Dom(String);

impl Dom {
    /// The opening tag of the first element with `data-metric="name"`, and
    /// the text right after it.
    fn element(&self, name: &str) -> Option<(&str, &str)> {
        let at = self.0.find(&format!("data-metric=\"{name}\""))?;
        let start = self.0[..at].rfind('<')?;
        let end = at + self.0[at..].find('>')?;
        let text_end = end + self.0[end..].find('<')?;
        Some((&self.0[start..=end], &self.0[end + 1..text_end]))
    }

    /// What the page shows for `name` (text) and the raw value it keeps.
    fn shown(&self, name: &str) -> (String, String) {
        let (tag, text) = self
            .element(name)
            .unwrap_or_else(|| panic!("the page has no data-metric=\"{name}\""));
        let value = attribute(tag, "data-value")
            .unwrap_or_else(|| panic!("data-metric=\"{name}\" has no data-value: {tag}"));
        (text.trim().to_owned(), value.to_owned())
    }

    /// The number `name` shows; its text and its data-value must agree.
    fn number(&self, name: &str) -> f64 {
        let (text, value) = self.shown(name);
        let raw: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("{name}: data-value {value:?} is not a number"));
        let shown: f64 = text
            .replace(',', "")
            .parse()
            .unwrap_or_else(|_| panic!("{name}: the page shows {text:?}, not a number"));
        // The page rounds: to integers from 100 on, else to a tenth or finer.
        let tolerance = if raw.abs() >= 100.0 { 0.5 } else { 0.06 };
        assert!(
            (shown - raw).abs() <= tolerance,
            "{name}: the page shows {text:?} but keeps {value}"
        );
        raw
    }

    /// The points of chart series `name`.
    fn series_points(&self, name: &str) -> usize {
        let at = self
            .0
            .find(&format!("data-series=\"{name}\""))
            .unwrap_or_else(|| panic!("the page has no chart series {name}"));
        let start = self.0[..at].rfind('<').unwrap();
        let end = at + self.0[at..].find('>').unwrap();
        let points = attribute(&self.0[start..=end], "data-points")
            .unwrap_or_else(|| panic!("series {name} has no data-points"));
        let n: usize = points.parse().unwrap();
        let d = attribute(&self.0[start..=end], "d").unwrap_or_default();
        assert_eq!(
            d.matches(['M', 'L']).count(),
            n,
            "series {name}: data-points {n} but its path is {d:?}"
        );
        n
    }
}

/// The value of attribute `name` in the opening tag `tag`.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    let len = tag[at..].find('"')?;
    Some(&tag[at..at + len])
}

/// The page as Chromium shows it after its script ran.
fn load_page(dir: &Path, url: &str) -> Dom {
    let dom = chromium(
        dir,
        &[
            "--dump-dom".to_owned(),
            format!("--virtual-time-budget={PAGE_BUDGET_MS}"),
        ],
        url,
    );
    assert!(
        dom.contains("data-metric"),
        "chromium dumped no status page:\n{dom}"
    );
    Dom(dom)
}

fn metric(sidecar: &Sidecar, sample: &str) -> f64 {
    sidecar
        .metric(sample)
        .unwrap_or_else(|| panic!("/metrics has no {sample}"))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Waits until every sink in `sinks` delivered something.
fn wait_for_deliveries(sidecar: &Sidecar, sinks: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for sink in sinks {
        let sample = format!("bss_sidecar_sink_delivered_events_total{{sink=\"{sink}\"}}");
        while sidecar.metric(&sample).unwrap_or(0.0) <= 0.0 {
            assert!(
                Instant::now() < deadline,
                "{sink} delivered nothing in 60 s; sidecar log:\n{}",
                sidecar.log_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn status_page_in_chromium_shows_moving_figures_charts_and_anomalies() {
    let chromium_dir = tempfile::tempdir().unwrap();
    // Before anything else starts: fail fast without a browser.
    let _ = chromium_binary();
    let broker = Broker::start();
    let redis_server = RedisServer::start();
    let tag = bss_tests::unique("sp");
    let slot = Slot::new("status");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sidecar.toml");
    std::fs::write(&config, limit_detector(&tag)).unwrap();
    let sidecar = Sidecar::start(&SidecarArgs {
        spool_dir: &dir.path().join("spool"),
        slot: &slot.name,
        kafka_brokers: Some(&broker.bootstrap()),
        redis_url: Some(&redis_server.url()),
        spool_max_events: None,
        config: Some(&config),
    });
    let url = format!("http://127.0.0.1:{}/", sidecar.metrics_port);

    // Without a browser: the page is self-contained and says what it needs.
    let (code, html) = http_get(sidecar.metrics_port, "/").expect("GET /");
    assert_eq!(code, 200);
    assert!(html.contains("<noscript>"), "no notice without JavaScript");
    for external in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        "@import",
        "url(",
    ] {
        assert!(
            !html.contains(external),
            "the page loads an asset: {external}"
        );
    }

    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let loader = s.spawn(|| load(&tag, &stop));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_for_deliveries(&sidecar, &["kafka", "redis"]);
            // Some samples for the charts.
            std::thread::sleep(Duration::from_secs(4));
            let first = load_page(chromium_dir.path(), &url);
            let after_first = |sink: &str| {
                metric(
                    &sidecar,
                    &format!("bss_sidecar_sink_delivered_events_total{{sink=\"{sink}\"}}"),
                )
            };
            let first_metrics = [after_first("kafka"), after_first("redis")];
            let first_sourced = metric(&sidecar, "bss_sidecar_source_events_total");
            std::thread::sleep(Duration::from_secs(3));
            let second = load_page(chromium_dir.path(), &url);
            let second_metrics = [after_first("kafka"), after_first("redis")];
            let shot = target_dir().join("status-page.png");
            let _ = std::fs::remove_file(&shot);
            chromium(
                chromium_dir.path(),
                &[
                    format!("--screenshot={}", shot.display()),
                    "--window-size=1280,1000".to_owned(),
                    "--hide-scrollbars".to_owned(),
                    format!("--virtual-time-budget={PAGE_BUDGET_MS}"),
                ],
                &url,
            );
            (
                first,
                first_metrics,
                first_sourced,
                second,
                second_metrics,
                shot,
            )
        }));
        stop.store(true, Ordering::Release);
        let appended = loader.join().unwrap();
        let (first, first_metrics, first_sourced, second, second_metrics, shot) = match result {
            Ok(r) => r,
            Err(e) => std::panic::resume_unwind(e),
        };
        assert!(appended > 0);

        for dom in [&first, &second] {
            assert_eq!(dom.shown("streaming"), ("streaming".into(), "1".into()));
        }
        // Delivered: real (at most what /metrics said just after) and moving.
        for (i, sink) in ["kafka", "redis"].iter().enumerate() {
            let name = format!("delivered_total_{sink}");
            let (a, b) = (first.number(&name), second.number(&name));
            assert!(a > 0.0, "{name} is {a} in the first load");
            assert!(b > a, "{name} did not move: {a}, then {b}");
            assert!(
                a <= first_metrics[i],
                "{name} {a} > /metrics {}",
                first_metrics[i]
            );
            assert!(
                b <= second_metrics[i],
                "{name} {b} > /metrics {}",
                second_metrics[i]
            );
            let rate = second.number(&format!("delivered_per_s_{sink}"));
            assert!(rate > 0.0, "{sink} delivers {rate} events/s under load");
            let p95 = second.number(&format!("p95_ms_{sink}"));
            assert!(p95 > 0.0 && p95 < 60_000.0, "{sink} p95 {p95} ms");
            assert!(second.number(&format!("lag_events_{sink}")) >= 0.0);
            assert!(second.number(&format!("batches_total_{sink}")) > 0.0);
            let (state, _) = second.shown(&format!("state_{sink}"));
            assert_eq!(state, "ok", "{sink}'s state");
            // The charts have points, more in the second load.
            let series = format!("delivered_per_s_{sink}");
            let (pa, pb) = (first.series_points(&series), second.series_points(&series));
            assert!(pa >= 3, "{series} has {pa} points in the first load");
            assert!(pb > pa, "{series}: {pa} points, then {pb}");
            assert!(second.series_points(&format!("p95_ms_{sink}")) >= 1);
        }
        let (a, b) = (
            first.number("sourced_total"),
            second.number("sourced_total"),
        );
        assert!(a > 0.0 && b > a, "sourced_total {a}, then {b}");
        assert!(a <= first_sourced);
        assert!(second.number("sourced_per_s") > 0.0);
        assert!(second.series_points("sourced_per_s") >= 3);
        assert!(second.number("samples") > first.number("samples"));
        let updated = |dom: &Dom| -> i64 { dom.shown("updated_ms").1.parse().unwrap() };
        assert!(updated(&second) > updated(&first));
        // Gauges are numbers.
        let (_, slot_lag) = second.shown("slot_lag_bytes");
        let slot_lag: i64 = slot_lag
            .parse()
            .unwrap_or_else(|_| panic!("slot lag {slot_lag:?} is not a number"));
        assert!(slot_lag >= 0);
        assert!(second.number("spool_depth_events") >= 0.0);
        assert!(second.number("spool_max_events") > 0.0);
        assert!(second.series_points("slot_lag_bytes") >= 3);
        // The detector's anomalies are listed.
        assert!(second.number("anomalies_total") >= 1.0);
        let rows = second
            .0
            .matches(&format!("data-anomaly=\"{tag}-limit\""))
            .count();
        assert!(
            (1..=20).contains(&rows),
            "{rows} anomaly rows of {tag}-limit"
        );

        let png = std::fs::read(&shot).expect("the screenshot");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
        assert_eq!((width, height), (1280, 1000));
        // A blank or notice-only page compresses to a few kB.
        assert!(png.len() > 30_000, "screenshot of {} bytes", png.len());
        eprintln!("status page screenshot: {}", shot.display());
    });

    let status = sidecar.stop();
    assert!(status.success(), "sidecar exit status: {status}");
}

/// `/status.json` once the sidecar delivered the load.
fn status_json(sidecar: &Sidecar) -> Value {
    let (code, body) = http_get(sidecar.metrics_port, "/status.json").expect("GET /status.json");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("/status.json: {e}: {body}"))
}

fn field<'a>(v: &'a Value, path: &str) -> &'a Value {
    v.pointer(path)
        .unwrap_or_else(|| panic!("/status.json has no {path}: {v}"))
}

fn int(v: &Value, path: &str) -> i64 {
    field(v, path)
        .as_i64()
        .unwrap_or_else(|| panic!("{path} is not an integer: {}", field(v, path)))
}

#[test]
fn status_json_reports_totals_rates_history_and_anomalies() {
    let redis_server = RedisServer::start();
    let tag = bss_tests::unique("sj");
    let slot = Slot::new("status_json");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sidecar.toml");
    std::fs::write(&config, limit_detector(&tag)).unwrap();
    let sidecar = Sidecar::start(&SidecarArgs {
        spool_dir: &dir.path().join("spool"),
        slot: &slot.name,
        kafka_brokers: None,
        redis_url: Some(&redis_server.url()),
        spool_max_events: None,
        config: Some(&config),
    });
    let mut c = bss_tests::session();
    let ty = format!("{tag}.reading");
    for round in 0..10 {
        let from = round * ROUND_EVENTS + 1;
        append_readings(
            &mut c,
            &format!("{tag}meters-1"),
            &ty,
            from,
            from + ROUND_EVENTS - 1,
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let appended = 10 * ROUND_EVENTS;
    // Everything delivered, and a few samples after it.
    let delivered = "bss_sidecar_sink_delivered_events_total{sink=\"redis\"}";
    let deadline = Instant::now() + Duration::from_secs(60);
    while sidecar.metric(delivered).unwrap_or(0.0) < appended as f64 {
        assert!(
            Instant::now() < deadline,
            "redis did not get the load; log:\n{}",
            sidecar.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The anomaly stage caught up, and a few samples were taken after it.
    let expected_anomalies = appended / EVERY_BIG;
    while status_json(&sidecar)
        .pointer("/anomaly_stage/anomalies_total")
        .and_then(Value::as_i64)
        < Some(expected_anomalies)
    {
        assert!(
            Instant::now() < deadline,
            "the anomalies did not show; log:\n{}",
            sidecar.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3));

    let j = status_json(&sidecar);
    assert_eq!(field(&j, "/streaming"), &Value::Bool(true));
    assert_eq!(field(&j, "/healthy"), &Value::Bool(true));
    assert_eq!(int(&j, "/sample_every_ms"), 1_000);
    assert!(int(&j, "/now_ms") > int(&j, "/started_ms"));
    // The load's events plus the anomalies the stage appended (and the
    // redelivered ones of other tests' streams do not exist: the slot is new).
    let sourced = int(&j, "/source/events_total");
    assert!(
        sourced >= appended,
        "sourced {sourced} < appended {appended}"
    );
    assert!(field(&j, "/source/events_per_s").is_number());
    assert!(int(&j, "/source/transactions_total") >= 10);
    assert!(int(&j, "/source/slot_lag_bytes") >= 0);
    let lsn = field(&j, "/source/confirmed_lsn").as_str().unwrap();
    let (hi, lo) = lsn.split_once('/').expect("an LSN hi/lo");
    assert!(
        u64::from_str_radix(hi, 16).is_ok() && u64::from_str_radix(lo, 16).is_ok() && lsn != "0/0",
        "confirmed_lsn {lsn}"
    );
    assert!(int(&j, "/spool/max_events") > 0);
    assert!(int(&j, "/spool/depth_events") >= 0);
    assert!(int(&j, "/spool/head_seq") >= appended);

    let sinks = field(&j, "/sinks").as_array().unwrap();
    assert_eq!(sinks.len(), 1, "only redis is configured: {sinks:?}");
    assert_eq!(field(&j, "/sinks/0/name"), "redis");
    let total = int(&j, "/sinks/0/delivered_total");
    assert!(total >= appended && total as f64 <= metric(&sidecar, delivered));
    assert!(int(&j, "/sinks/0/batches_total") >= 1);
    assert_eq!(
        int(&j, "/sinks/0/batches_total") as f64,
        metric(&sidecar, "bss_sidecar_sink_batches_total{sink=\"redis\"}")
    );
    assert_eq!(int(&j, "/sinks/0/retries_total"), 0);
    assert_eq!(field(&j, "/sinks/0/retrying"), &Value::Bool(false));
    assert!(int(&j, "/sinks/0/lag_events") >= 0);
    for key in ["delivered_per_s", "commit_to_ack_p95_ms"] {
        let v = field(&j, &format!("/sinks/0/{key}"));
        assert!(v.is_number() || v.is_null(), "{key}: {v}");
    }

    // History: one column per series, all as long, times ascending, and the
    // load visible in it.
    let t: Vec<i64> = field(&j, "/history/t_ms")
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert!(t.len() >= 5, "{} samples", t.len());
    assert!(t.windows(2).all(|w| w[0] < w[1]), "times {t:?}");
    for col in ["sourced_per_s", "slot_lag_bytes", "spool_depth_events"] {
        let n = field(&j, &format!("/history/{col}"))
            .as_array()
            .unwrap()
            .len();
        assert_eq!(n, t.len(), "{col}");
    }
    assert_eq!(field(&j, "/history/sinks/0/name"), "redis");
    let rates = field(&j, "/history/sinks/0/delivered_per_s")
        .as_array()
        .unwrap();
    assert_eq!(rates.len(), t.len());
    assert!(
        rates.iter().any(|r| r.as_f64().unwrap() > 0.0),
        "no delivery in the history"
    );
    let p95 = field(&j, "/history/sinks/0/p95_ms").as_array().unwrap();
    assert_eq!(p95.len(), t.len());
    assert!(p95.iter().any(|p| p.as_f64().is_some_and(|ms| ms > 0.0)));
    let lag = field(&j, "/history/sinks/0/lag_events").as_array().unwrap();
    assert_eq!(lag.len(), t.len());

    // The anomaly stage and what it found: one 5000 kWh reading in 50.
    assert_eq!(field(&j, "/anomaly_stage/name"), "anomaly");
    let found = int(&j, "/anomaly_stage/anomalies_total");
    assert_eq!(found, expected_anomalies);
    assert!(int(&j, "/anomaly_stage/lag_events") >= 0);
    let listed = field(&j, "/anomalies").as_array().unwrap();
    assert_eq!(listed.len(), found.min(20) as usize);
    let a = &listed[0];
    assert_eq!(
        field(a, "/detector"),
        &Value::String(format!("{tag}-limit"))
    );
    assert!(field(a, "/key").as_str().unwrap().starts_with('m'));
    assert_eq!(field(a, "/value/0").as_f64(), Some(5000.0));
    assert!(field(a, "/score").is_number());
    let time = field(a, "/time").as_str().unwrap();
    assert!(time.ends_with('Z') && time.contains('T'), "time {time}");

    // Live: a later answer has moved on.
    std::thread::sleep(Duration::from_millis(1_100));
    let later = status_json(&sidecar);
    assert!(int(&later, "/now_ms") > int(&j, "/now_ms"));
    let n = field(&later, "/history/t_ms").as_array().unwrap().len();
    assert!(
        n > t.len() || n == 600,
        "history did not grow: {} then {n}",
        t.len()
    );

    let status = sidecar.stop();
    assert!(status.success(), "sidecar exit status: {status}");
}
