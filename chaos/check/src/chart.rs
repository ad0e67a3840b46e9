//! The scenario as a picture (SVG, or PNG by the file's extension): above, events acknowledged and errors
//! (failed + unknown) per second, and acknowledged events that never
//! reached a sink by the second of their acknowledgement; below, how far Kafka and Redis lagged
//! behind the acknowledgements of each second; the fault window shaded in
//! both, and the verdict in the title. Draws only from the report: must
//! never compute an account of its own.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::report::Report;

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 860;
const ACKED: RGBColor = RGBColor(31, 119, 180);
const ERRORS: RGBColor = RGBColor(214, 39, 40);
const KAFKA: RGBColor = RGBColor(255, 127, 14);
const REDIS: RGBColor = RGBColor(148, 103, 189);
const LOST: RGBColor = RGBColor(20, 20, 20);
const FAULT: RGBColor = RGBColor(255, 200, 200);

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("chart file {0} must end in .svg or .png")]
    Extension(PathBuf),
    #[error("loading a font for the chart: {0}")]
    Font(String),
    #[error("drawing the chart {path}: {message}")]
    Draw { path: PathBuf, message: String },
}

/// Draws `report` to `path` (.svg, or .png: needs the font the load
/// generator's PNG charts need).
pub fn write_chart(report: &Report, path: &Path) -> Result<(), ChartError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let font = |raster| {
        bss_loadgen::chart::ensure_font(raster).map_err(|e| ChartError::Font(format!("{e:#}")))
    };
    let drawn = match ext.as_str() {
        "svg" => {
            font(false)?;
            draw(
                SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area(),
                report,
            )
        }
        "png" => {
            font(true)?;
            draw(
                BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area(),
                report,
            )
        }
        _ => return Err(ChartError::Extension(path.to_owned())),
    };
    drawn.map_err(|message| ChartError::Draw {
        path: path.to_owned(),
        message,
    })
}

fn de<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// The title: the scenario, its verdict and what broke.
pub fn title(r: &Report) -> String {
    let verdict = if r.ok {
        "OK".to_owned()
    } else {
        let mut broken = Vec::new();
        for (n, what) in [
            (r.lost, "lost"),
            (r.out_of_order, "out of order"),
            (r.duplicates_postgres + r.duplicates_redis, "duplicated"),
            (r.failed_but_stored, "failed but stored"),
            (r.in_sink_but_not_stored, "in a sink, not stored"),
            (r.partial_appends, "partial appends"),
        ] {
            if n > 0 {
                broken.push(format!("{n} {what}"));
            }
        }
        if !r.history_complete {
            broken.push("history incomplete".into());
        }
        format!("FAILED ({})", broken.join(", "))
    };
    let recovery = r
        .recovery_seconds
        .map_or("never".to_owned(), |s| format!("{s:.1} s"));
    format!(
        "{} — {verdict} — fault: {} ({:.0} s), recovery {recovery}",
        r.scenario, r.fault, r.fault_seconds
    )
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, r: &Report) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(de)?;
    let root = root.titled(&title(r), ("sans-serif", 22)).map_err(de)?;
    let (upper, lower) = root.split_vertically((HEIGHT as f64 * 0.5) as u32);
    let x_max =
        (r.timeline.len().max(1) as f64).max(r.fault_end_unix - r.timeline_start_unix + 1.0);
    let fault = (
        (r.fault_start_unix - r.timeline_start_unix).max(0.0),
        (r.fault_end_unix - r.timeline_start_unix).max(0.0),
    );

    let rate_max = r
        .timeline
        .iter()
        .map(|s| s.acknowledged.max(s.errors).max(s.lost))
        .max()
        .unwrap_or(0)
        .max(1) as f64
        * 1.15;
    let mut chart = ChartBuilder::on(&upper)
        .caption(
            "events per second (by acknowledgement or error)",
            ("sans-serif", 17),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_max, 0f64..rate_max)
        .map_err(de)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the load started")
        .y_desc("events/s")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(de)?;
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(fault.0, 0.0), (fault.1, rate_max)],
            FAULT.mix(0.5).filled(),
        )))
        .map_err(de)?
        .label("fault")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], FAULT.filled()));
    type Count = fn(&crate::report::SecondStats) -> u64;
    let series: [(&str, RGBColor, Count); 2] = [
        ("acknowledged", ACKED, |s| s.acknowledged),
        ("errors (failed + unknown)", ERRORS, |s| s.errors),
    ];
    for (label, color, count) in series {
        let points = r
            .timeline
            .iter()
            .map(|s| (s.second as f64 + 0.5, count(s) as f64));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(de)?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(3)));
    }
    if r.timeline.iter().any(|s| s.lost > 0) {
        // Dashed: it often lies on the acknowledged line (all of a second lost).
        let points: Vec<(f64, f64)> = r
            .timeline
            .iter()
            .map(|s| (s.second as f64 + 0.5, s.lost as f64))
            .collect();
        chart
            .draw_series(DashedLineSeries::new(points, 8, 5, LOST.stroke_width(2)))
            .map_err(de)?
            .label("acknowledged, missing from a sink")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], LOST.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(de)?;

    let lag_max = r
        .timeline
        .iter()
        .flat_map(|s| [s.kafka_lag_s, s.redis_lag_s])
        .flatten()
        .fold(0.0f64, f64::max)
        .max(0.1)
        * 1.15;
    let mut chart = ChartBuilder::on(&lower)
        .caption(
            "sink lag: longest from acknowledgement to first arrival, per second acknowledged",
            ("sans-serif", 17),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_max, 0f64..lag_max)
        .map_err(de)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the load started")
        .y_desc("lag (s)")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(de)?;
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(fault.0, 0.0), (fault.1, lag_max)],
            FAULT.mix(0.5).filled(),
        )))
        .map_err(de)?;
    type Lag = fn(&crate::report::SecondStats) -> Option<f64>;
    let lags: [(&str, RGBColor, Lag); 2] = [
        ("Kafka", KAFKA, |s| s.kafka_lag_s),
        ("Redis", REDIS, |s| s.redis_lag_s),
    ];
    for (label, color, lag) in lags {
        let points: Vec<(f64, f64)> = r
            .timeline
            .iter()
            .filter_map(|s| lag(s).map(|l| (s.second as f64 + 0.5, l)))
            .collect();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(de)?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(de)?;
    root.present().map_err(de)?;
    Ok(())
}
