//! The forecast stage against the devdb: counts restored from its state
//! file are forecast once a refresh comes and exported per type, beside the
//! capacity the operator set.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::{Sidecar, SidecarArgs, Slot};

const HOUR_US: i64 = 3_600_000_000;

/// The daily shape the restored counts follow: events in hour `h`.
fn shape(h: i64) -> f64 {
    1000.0 + 500.0 * (std::f64::consts::TAU * (h % 24) as f64 / 24.0).sin()
}

#[test]
fn restored_counts_are_forecast_and_exported_with_the_capacity() {
    let tag = bss_tests::unique("fc");
    let slot = Slot::new("forecast");
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let config = dir.path().join("sidecar.toml");
    std::fs::write(
        &config,
        "[forecast]\nbucket_minutes = 60\nhistory_days = 3\nrefresh_secs = 1\ncapacity_per_hour = 5000\n",
    )
    .unwrap();
    // Three days of hourly counts of one type, the newest bucket the
    // current hour, saved as the stage saves them (stage::state_file).
    let now_us = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros() as i64
    };
    // Not across the turn of an hour: the current bucket must stay current.
    let left = HOUR_US - now_us() % HOUR_US;
    if left < 60_000_000 {
        std::thread::sleep(Duration::from_micros(left as u64 + 1_000_000));
    }
    let now_hour = now_us() / HOUR_US;
    let event_type = format!("{tag}.t");
    let series: Vec<f64> = (now_hour - 71..=now_hour).map(shape).collect();
    let counts = serde_json::json!({
        "bucket_us": HOUR_US, "keep": 72, "newest": now_hour,
        "series": { event_type.clone(): series },
    });
    let payload = serde_json::to_vec(&counts).unwrap();
    let mut file = b"BSSFCST1".to_vec();
    file.extend_from_slice(&0u64.to_le_bytes());
    file.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    file.extend_from_slice(&payload);
    std::fs::create_dir_all(&spool_dir).unwrap();
    std::fs::write(spool_dir.join("forecast.state"), file).unwrap();

    let sidecar = Sidecar::start(&SidecarArgs {
        spool_dir: &spool_dir,
        slot: &slot.name,
        kafka_brokers: None,
        redis_url: None,
        spool_max_events: None,
        config: Some(&config),
    });
    let sample = format!("bss_sidecar_forecast_events_per_hour{{type=\"{event_type}\"}}");
    sidecar.wait_until(
        Duration::from_secs(60),
        Duration::from_millis(200),
        |_| format!("no {sample} in /metrics"),
        |s| s.metric(&sample).is_some(),
    );
    // Fitted on the 71 complete hours; the hour forecast is the current one.
    let got = sidecar.metric(&sample).unwrap();
    let want = shape(now_hour);
    assert!(
        (got - want).abs() < 0.1 * want,
        "forecast {got:.0} events an hour, the shape says {want:.0}"
    );
    let history = format!("bss_sidecar_forecast_history_buckets{{type=\"{event_type}\"}}");
    assert_eq!(sidecar.metric(&history), Some(71.0), "{history}");
    let capacity = "bss_sidecar_forecast_capacity_events_per_hour{types=\"all\"}";
    assert_eq!(sidecar.metric(capacity), Some(5000.0), "{capacity}");
    let status = sidecar.stop();
    assert!(
        status.success(),
        "sidecar exit status after SIGTERM: {status}"
    );
}
