//! The anomaly stage against the devdb: anomalies are appended back into
//! PostgreSQL exactly once across kill -9, and a restarted stage judges
//! with the windows it had, not empty ones.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{append_readings, limit_detector, Sidecar, SidecarArgs, Slot, EVERY_BIG};

/// Readings in the load (one in EVERY_BIG is over the limit).
const READINGS: i64 = 3_000;
const KILLS: usize = 5;

/// The limit detector of [`limit_detector`], and a z-score one over gauges.
fn write_config(path: &Path, tag: &str) {
    let zscore = format!(
        r#"
[[detector]]
name = "{tag}-z"
event_type = "{tag}.gauge"
field = "/v"
algorithm = "zscore"
window = 200
min_samples = 100
threshold = 6
min_spread = 1
"#
    );
    std::fs::write(path, limit_detector(tag) + &zscore).unwrap();
}

fn count(c: &mut postgres::Client, stream: &str) -> i64 {
    c.query_one(
        "SELECT count(*) FROM bss.events WHERE stream_id = $1",
        &[&stream],
    )
    .unwrap()
    .get(0)
}

/// Waits until `stream` holds `want` events (or the timeout), returns what it holds.
fn wait_for_count(c: &mut postgres::Client, stream: &str, want: i64, sidecar: &Sidecar) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let n = count(c, stream);
        if n >= want || Instant::now() > deadline {
            // A little longer: more than `want` must show up if it would.
            std::thread::sleep(Duration::from_secs(2));
            let n = count(c, stream);
            if n != want {
                eprintln!("sidecar log:\n{}", sidecar.log_tail());
            }
            return n;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn anomalies_are_stored_once_across_kill_9_and_a_restart_keeps_its_windows() {
    let tag = bss_tests::unique("an");
    let slot = Slot::new("anomaly");
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let config = dir.path().join("sidecar.toml");
    write_config(&config, &tag);
    let args = SidecarArgs {
        spool_dir: &spool_dir,
        slot: &slot.name,
        kafka_brokers: None,
        redis_url: None,
        spool_max_events: None,
        config: Some(&config),
    };
    let meters = format!("{tag}meters-1");
    let reading = format!("{tag}.reading");
    let limit_stream = format!("anomaly-{tag}-limit");
    let mut sidecar = Sidecar::start(&args);
    let mut sidecar_started = Instant::now();

    // Kill -9 the sidecar while readings are appended.
    let loading = std::sync::atomic::AtomicBool::new(true);
    let mut kills_during_load = 0;
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut c = bss_tests::session();
            for from in (1..=READINGS).step_by(100) {
                append_readings(&mut c, &meters, &reading, from, from + 99);
                std::thread::sleep(Duration::from_millis(40));
            }
            loading.store(false, std::sync::atomic::Ordering::Release);
        });
        let mut rng = bss_tests::Rng::new(0x5eed);
        for _ in 0..KILLS {
            std::thread::sleep(Duration::from_millis(300 + rng.below(500)));
            if loading.load(std::sync::atomic::Ordering::Acquire) {
                kills_during_load += 1;
            }
            sidecar.process.kill();
            sidecar = Sidecar::start(&args);
            sidecar_started = Instant::now();
        }
    });
    assert!(kills_during_load > 0, "the load ended before any kill");

    let mut c = bss_tests::session();
    let want = READINGS / EVERY_BIG;
    let got = wait_for_count(&mut c, &limit_stream, want, &sidecar);
    assert_eq!(got, want, "{got} anomalies stored for {want} readings over the limit ({kills_during_load} kills during the load)");
    // Each is about a different reading, and exactly the readings over the limit.
    let missing: i64 = c
        .query_one(
            "SELECT count(*) FROM bss.events r WHERE r.stream_id = $1 AND (r.data->>'kwh')::int > 1000 \
             AND NOT EXISTS (SELECT 1 FROM bss.events a WHERE a.stream_id = $2 \
                             AND a.data->>'source_event_id' = r.event_id::text)",
            &[&meters, &limit_stream],
        )
        .unwrap()
        .get(0);
    assert_eq!(missing, 0, "readings over the limit without their anomaly");
    let row = c
        .query_one(
            "SELECT type, data::text, subject FROM bss.events WHERE stream_id = $1 ORDER BY stream_version LIMIT 1",
            &[&limit_stream],
        )
        .unwrap();
    let (ty, data, subject): (String, String, Option<String>) =
        (row.get(0), row.get(1), row.get(2));
    let data: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(ty, "anomaly.detected");
    assert_eq!(data["detector"], format!("{tag}-limit"));
    assert_eq!(data["algorithm"], "threshold");
    assert_eq!(data["value"], 5000.0);
    assert_eq!(data["source_event_type"], reading);
    assert_eq!(
        subject.as_deref(),
        data["key"].as_str(),
        "the subject is the key (the meter)"
    );
    for name in ["limit", "z"] {
        let sample = format!("bss_sidecar_anomalies_total{{detector=\"{tag}-{name}\"}}");
        assert!(sidecar.metric(&sample).is_some(), "no {sample} in /metrics");
    }

    // A trickle of small transactions: the stage catches up after each, but
    // saves its state only every checkpoint_secs (1), not at each catch-up.
    let observed_limit =
        format!("bss_sidecar_detector_observations_total{{detector=\"{tag}-limit\"}}");
    let seen = sidecar.metric(&observed_limit).unwrap_or(0.0);
    for i in 0..40 {
        append_readings(&mut c, &format!("{tag}meters-2"), &reading, i + 1, i + 1);
        std::thread::sleep(Duration::from_millis(50));
    }
    sidecar.wait_until(
        Duration::from_secs(60),
        Duration::from_millis(100),
        |_| "the stage did not judge the 40 readings".into(),
        |s| s.metric(&observed_limit).unwrap_or(0.0) >= seen + 40.0,
    );
    let saves = sidecar
        .metric("bss_sidecar_anomaly_checkpoints_total")
        .expect("checkpoint counter");
    let lived = sidecar_started.elapsed().as_secs_f64();
    assert!(
        saves >= 1.0 && saves <= lived.ceil() + 1.0,
        "{saves} state saves in {lived:.1} s with checkpoint_secs = 1"
    );

    // Teach the z-score detector a normal level, let the stage save it, kill -9.
    let gauge = format!("{tag}.gauge");
    let z_stream = format!("anomaly-{tag}-z");
    c.execute(
        "SELECT bss.append_events($1, (SELECT jsonb_agg(jsonb_build_object('type', $2::text, \
           'data', jsonb_build_object('v', 100 + g % 5)) ORDER BY g) FROM generate_series(1, 150) g))",
        &[&format!("{tag}gauge-1"), &gauge],
    )
    .unwrap();
    let observed = format!("bss_sidecar_detector_observations_total{{detector=\"{tag}-z\"}}");
    sidecar.wait_for_metric(
        &observed,
        150.0,
        Duration::from_secs(60),
        "the stage did not judge the 150 gauge values",
    );
    // The stage saves its state at most a second after it has caught up.
    std::thread::sleep(Duration::from_millis(1_500));
    sidecar.process.kill();
    let sidecar = Sidecar::start(&args);
    c.execute(
        "SELECT bss.append_event($1, $2, '{\"v\": 1000}'::jsonb)",
        &[&format!("{tag}gauge-1"), &gauge],
    )
    .unwrap();
    // With empty windows the detector would still be warming up (100 samples).
    let got = wait_for_count(&mut c, &z_stream, 1, &sidecar);
    assert_eq!(
        got, 1,
        "the outlier after the restart was not judged against the saved window"
    );
    let status = sidecar.stop();
    assert!(
        status.success(),
        "sidecar exit status after SIGTERM: {status}"
    );
}
