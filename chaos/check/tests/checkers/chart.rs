//! The chart is an SVG (or PNG) with the scenario and its verdict in the title, and
//! the fault window drawn.

use bss_chaos_check::chart::{title, write_chart};
use bss_chaos_check::report::{Report, SecondStats};

fn report(ok: bool) -> Report {
    Report {
        scenario: "packet-loss".into(),
        fault: "10% loss sidecar<->broker".into(),
        fault_start_unix: 1010.0,
        fault_end_unix: 1040.0,
        fault_seconds: 30.0,
        history_complete: true,
        lost: if ok { 0 } else { 3 },
        ok,
        recovery_seconds: Some(2.5),
        timeline_start_unix: 1000.0,
        timeline: (0..60)
            .map(|s| SecondStats {
                second: s,
                acknowledged: 500,
                errors: if (10..40).contains(&s) { 20 } else { 0 },
                lost: if ok { 0 } else { u64::from(s == 12) * 3 },
                kafka_lag_s: Some(if (10..40).contains(&s) { 3.0 } else { 0.05 }),
                redis_lag_s: Some(0.02),
            })
            .collect(),
        ..Report::default()
    }
}

#[test]
fn the_chart_names_the_scenario_and_its_verdict() {
    let dir = tempfile::tempdir().unwrap();
    for ok in [true, false] {
        let path = dir.path().join(format!("chart-{ok}.svg"));
        write_chart(&report(ok), &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.len() > 2000);
        assert!(svg.contains("packet-loss"), "no scenario in the title");
        let verdict = if ok { "OK" } else { "FAILED (3 lost)" };
        assert!(
            title(&report(ok)).contains(verdict),
            "{}",
            title(&report(ok))
        );
        assert!(svg.contains(verdict));
        assert!(svg.contains("fault"));
    }
}

#[test]
fn the_chart_must_be_svg_or_png() {
    let dir = tempfile::tempdir().unwrap();
    let e = write_chart(&report(true), &dir.path().join("c.gif")).unwrap_err();
    assert!(e.to_string().contains(".svg or .png"), "{e}");
}
