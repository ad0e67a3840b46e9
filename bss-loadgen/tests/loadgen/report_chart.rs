//! The report JSON round-trips and keeps the field names other tools read;
//! charts are written as SVG (with the title) and as PNG that decodes.

use std::collections::BTreeMap;

use bss_loadgen::chart::{write_chart, LatencyScale};
use bss_loadgen::report::new_histogram;
use bss_loadgen::report::{render_table, KafkaMeasurements, Recorder, Report, RunFacts};
use bss_loadgen::stages::parse_stages;

fn sample_report(e2e: bool) -> Report {
    let rec = Recorder::new();
    for s in 0..20u64 {
        for i in 0..50u64 {
            let n = if i % 5 == 0 { 2 } else { 10 };
            rec.offered(s, n);
            let types: Vec<&str> = if n == 2 {
                vec!["customer.created", "subscription.activated"]
            } else {
                vec!["usage.recorded"; 10]
            };
            let lat = 800 + (i * 37 % 500) * 10 + s * 100;
            rec.acknowledged(s, s as f64 + 0.5, lat, types.into_iter());
            if i % 10 == 9 {
                rec.committed();
            }
        }
    }
    rec.failed(3.2, 10, "XB003", "usage-r1-1", "invalid event events[3]");
    rec.not_sent(4);
    let kafka = e2e.then(|| {
        let mut per_second = Vec::new();
        let mut c2k = new_histogram();
        let mut e2e = new_histogram();
        for s in 0..21u64 {
            let mut h = new_histogram();
            for i in 0..100u64 {
                h.record(5_000 + i * 50 + s * 200).unwrap();
                e2e.record(5_000 + i * 50).unwrap();
                c2k.record(3_000 + i * 20).unwrap();
            }
            per_second.push((if s < 20 { 420 } else { 0 }, h));
        }
        KafkaMeasurements {
            commit_to_kafka: c2k,
            end_to_end: e2e,
            per_second,
            received: 8400,
            lost: 0,
            duplicates: 0,
        }
    });
    rec.finish(
        RunFacts {
            run_id: "r1".into(),
            seed: 42,
            started_at: "2026-01-01T00:00:00.000Z".into(),
            config: serde_json::json!({"connections": 8}),
            stages: parse_stages("5s:500,15s:500").unwrap(),
            planned_duration_s: 20.0,
            duration_s: 20.4,
            anomalies: None,
        },
        kafka,
    )
}

#[test]
fn report_json_round_trips_with_the_documented_fields() {
    let r = sample_report(false);
    let text = serde_json::to_string_pretty(&r).unwrap();
    let back: Report = serde_json::from_str(&text).unwrap();
    assert_eq!(back, r);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    for f in [
        "acknowledged",
        "failed",
        "not_sent",
        "offered",
        "run_id",
        "seed",
        "stages",
        "config",
        "timeline",
    ] {
        assert!(v.get(f).is_some(), "missing {f}");
    }
    assert!(v["lost"].is_null());
    assert!(v["commit_to_kafka_ms"].is_null());
    for p in ["p50", "p95", "p99", "max"] {
        assert!(v["append_ms"][p].is_number(), "append_ms.{p}");
    }
    assert_eq!(r.acknowledged, 20 * (40 * 10 + 10 * 2));
    assert_eq!(r.failed, 10);
    assert_eq!(r.not_sent, 4);
    let mut want = BTreeMap::new();
    want.insert("customer.created".to_string(), 200);
    want.insert("subscription.activated".to_string(), 200);
    want.insert("usage.recorded".to_string(), 8000);
    assert_eq!(r.acknowledged_by_type, want);
    assert_eq!(r.errors_by_sqlstate.get("XB003"), Some(&1));
    assert_eq!(r.timeline.len(), 20);
    assert!(r.timeline[0].append_p95_ms.is_some());
    assert!(r.append_ms.unwrap().p50 >= 0.8);
    assert_eq!(r.transactions, 100);
    let table = render_table(&r);
    assert!(table.contains("acknowledged") && table.contains("XB003"));
    assert!(table.contains("10.0 appends each"), "{table}");
    // A report written before transactions were counted still reads.
    let mut old = v.clone();
    old.as_object_mut().unwrap().remove("transactions");
    let old: Report = serde_json::from_value(old).unwrap();
    assert_eq!(old.transactions, 0);
}

#[test]
fn e2e_report_has_kafka_latencies_and_loss() {
    let r = sample_report(true);
    assert_eq!(r.lost, Some(0));
    assert_eq!(r.kafka_received, Some(8400));
    assert!(r.end_to_end_ms.unwrap().p95 > 5.0);
    assert!(r.commit_to_kafka_ms.is_some());
    assert_eq!(r.timeline.len(), 21);
    assert!(r.timeline[5].e2e_p95_ms.is_some());
    let back: Report = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    assert_eq!(back, r);
}

#[test]
fn svg_chart_is_written_with_its_title() {
    let dir = tempfile::tempdir().unwrap();
    for (e2e, scale) in [(false, LatencyScale::Log), (true, LatencyScale::Linear)] {
        let path = dir.path().join(format!("run-{e2e}.svg"));
        write_chart(&sample_report(e2e), &path, scale).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.len() > 1000);
        assert!(svg.contains("bss-loadgen run r1"), "title missing");
        assert!(svg.contains("events/s") && svg.contains("latency (ms)"));
    }
}

#[test]
fn png_chart_decodes() {
    if !std::path::Path::new(bss_loadgen::chart::FONT_PATH).exists() {
        eprintln!(
            "skipping: {} is missing (fonts-dejavu-core)",
            bss_loadgen::chart::FONT_PATH
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.png");
    write_chart(&sample_report(true), &path, LatencyScale::Log).unwrap();
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1280, 860));
    // Not a blank page: some pixels are neither white nor a single colour.
    let distinct: std::collections::HashSet<&[u8]> =
        buf.chunks(3).take(info.buffer_size() / 3).collect();
    assert!(distinct.len() > 10);
}

#[test]
fn chart_refuses_other_extensions() {
    let dir = tempfile::tempdir().unwrap();
    let e = write_chart(
        &sample_report(false),
        &dir.path().join("x.gif"),
        LatencyScale::Log,
    )
    .unwrap_err();
    assert!(e.to_string().contains(".svg or .png"));
}

#[test]
fn each_stage_is_measured_over_its_own_seconds() {
    let r = sample_report(true);
    assert_eq!(r.phases.len(), 2);
    let (a, b) = (&r.phases[0], &r.phases[1]);
    assert_eq!((a.from_s, a.to_s, b.from_s, b.to_s), (0, 5, 5, 20));
    // 420 events offered and acknowledged each second (40 x 10 + 10 x 2).
    assert_eq!(a.offered_rate, 420.0);
    assert_eq!(b.achieved_rate, 420.0);
    assert_eq!(a.failed, 10);
    assert_eq!(b.failed, 0);
    // Latency grows by 100 us a second: the later stage is slower.
    let (pa, pb) = (a.append_ms.unwrap(), b.append_ms.unwrap());
    assert!(pb.p95 > pa.p95, "{pa:?} {pb:?}");
    assert_eq!(pa.count, 250);
    assert_eq!(b.end_to_end_ms.unwrap().count, 1500);
    assert!(render_table(&r).contains("5-20"));
}

#[test]
fn appends_of_unknown_outcome_are_counted_apart_from_failed_ones() {
    let rec = Recorder::new();
    rec.offered(0, 30);
    rec.acknowledged(0, 0.5, 1_000, ["usage.recorded"; 10].into_iter());
    rec.failed(0.6, 10, "XB001", "usage-r1-1", "stale expected version");
    rec.unknown(0.7, 7, "client", "usage-r1-2", "connection closed");
    rec.unknown(0.8, 3, "57P01", "usage-r1-3", "terminating connection");
    let r = rec.finish(
        RunFacts {
            run_id: "r1".into(),
            seed: 1,
            started_at: "2026-01-01T00:00:00.000Z".into(),
            config: serde_json::json!({}),
            stages: parse_stages("1s:30").unwrap(),
            planned_duration_s: 1.0,
            duration_s: 1.0,
            anomalies: None,
        },
        None,
    );
    assert_eq!((r.failed, r.appends_failed), (10, 1));
    assert_eq!((r.unknown, r.appends_unknown), (10, 2));
    assert_eq!(r.errors_by_sqlstate.len(), 1);
    assert_eq!(r.unknown_by_sqlstate.get("client"), Some(&1));
    assert_eq!(r.unknown_by_sqlstate.get("57P01"), Some(&1));
    assert_eq!((r.timeline[0].failed, r.timeline[0].unknown), (10, 10));
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["unknown"], 10);
    assert_eq!(v["failed"], 10);
    let table = render_table(&r);
    assert!(table.contains("outcome unknown"), "{table}");
    // A report written before unknown was counted still reads, as 0.
    let mut old = v.clone();
    for f in ["unknown", "appends_unknown", "unknown_by_sqlstate"] {
        old.as_object_mut().unwrap().remove(f);
    }
    let old: Report = serde_json::from_value(old).unwrap();
    assert_eq!(old.unknown, 0);
}
