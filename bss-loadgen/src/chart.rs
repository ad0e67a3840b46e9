//! The run as a picture: rate over time (offered, achieved, arrived in
//! Kafka) above, latency percentiles over time below. SVG or PNG by the file
//! extension. PNG rasterises text and needs a real font file (DejaVu Sans);
//! SVG leaves text to the viewer and only needs text widths for layout, so
//! without the font file it measures with a built-in metrics-only font.

use std::path::Path;
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::report::Report;

/// The font PNG charts are drawn with (Debian: fonts-dejavu-core).
pub const FONT_PATH: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const WIDTH: u32 = 1280;
const HEIGHT: u32 = 860;

/// How the latency axis is scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LatencyScale {
    /// Log when the latencies span more than a factor of 30, else linear.
    Auto,
    Log,
    Linear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Registered {
    DejaVu,
    Metrics,
}

static FONT: Mutex<Option<Registered>> = Mutex::new(None);

fn register(bytes: &'static [u8]) -> Result<()> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| anyhow!("the font data is not a usable TrueType font"))
}

/// Registers the font a chart needs; `raster` when text will be drawn as
/// pixels. Public for other charts of the project (bss-chaos-check's).
pub fn ensure_font(raster: bool) -> Result<()> {
    let mut g = FONT.lock().unwrap_or_else(|p| p.into_inner());
    if *g == Some(Registered::DejaVu) || (*g == Some(Registered::Metrics) && !raster) {
        return Ok(());
    }
    match std::fs::read(FONT_PATH) {
        Ok(bytes) => {
            // plotters keeps fonts for the life of the process.
            register(Box::leak(bytes.into_boxed_slice()))
                .with_context(|| format!("loading {FONT_PATH}"))?;
            *g = Some(Registered::DejaVu);
        }
        Err(e) if raster => bail!(
            "PNG charts need the font {FONT_PATH}: {e} (HINT: apt-get install fonts-dejavu-core, \
             or write an .svg chart, which needs no font file)"
        ),
        Err(_) => {
            register(Box::leak(metrics_only_font().into_boxed_slice()))?;
            *g = Some(Registered::Metrics);
        }
    }
    Ok(())
}

/// A minimal TrueType font with one glyph of 0.55 em advance and no
/// outlines: enough for plotters to lay out SVG text, which the viewer then
/// renders with its own fonts.
fn metrics_only_font() -> Vec<u8> {
    fn be16(v: &mut Vec<u8>, x: u16) {
        v.extend_from_slice(&x.to_be_bytes());
    }
    fn be32(v: &mut Vec<u8>, x: u32) {
        v.extend_from_slice(&x.to_be_bytes());
    }
    let mut head = Vec::new();
    be32(&mut head, 0x0001_0000); // version
    be32(&mut head, 0x0001_0000); // fontRevision
    be32(&mut head, 0); // checkSumAdjustment
    be32(&mut head, 0x5F0F_3CF5); // magicNumber
    be16(&mut head, 0); // flags
    be16(&mut head, 1000); // unitsPerEm
    head.extend_from_slice(&[0; 16]); // created, modified
    for b in [0i16, -200, 550, 800] {
        be16(&mut head, b as u16); // xMin yMin xMax yMax
    }
    be16(&mut head, 0); // macStyle
    be16(&mut head, 8); // lowestRecPPEM
    be16(&mut head, 2); // fontDirectionHint
    be16(&mut head, 0); // indexToLocFormat
    be16(&mut head, 0); // glyphDataFormat
    let mut hhea = Vec::new();
    be32(&mut hhea, 0x0001_0000);
    be16(&mut hhea, 800); // ascender
    be16(&mut hhea, (-200i16) as u16); // descender
    be16(&mut hhea, 0); // lineGap
    be16(&mut hhea, 550); // advanceWidthMax
    hhea.extend_from_slice(&[0; 22]); // minLSB .. metricDataFormat
    be16(&mut hhea, 1); // numberOfHMetrics
    let mut hmtx = Vec::new();
    be16(&mut hmtx, 550);
    be16(&mut hmtx, 0);
    let mut maxp = Vec::new();
    be32(&mut maxp, 0x0000_5000);
    be16(&mut maxp, 1);
    // Table records must be sorted by tag.
    let tables: [(&[u8; 4], Vec<u8>); 4] = [
        (b"head", head),
        (b"hhea", hhea),
        (b"hmtx", hmtx),
        (b"maxp", maxp),
    ];
    let mut font = Vec::new();
    be32(&mut font, 0x0001_0000);
    be16(&mut font, tables.len() as u16);
    be16(&mut font, 64); // searchRange
    be16(&mut font, 2); // entrySelector
    be16(&mut font, 0); // rangeShift
    let mut offset = 12 + 16 * tables.len();
    let mut body = Vec::new();
    for (tag, data) in &tables {
        font.extend_from_slice(*tag);
        be32(&mut font, 0); // checksum (not verified by readers we use)
        be32(&mut font, offset as u32);
        be32(&mut font, data.len() as u32);
        body.extend_from_slice(data);
        while body.len() % 4 != 0 {
            body.push(0);
        }
        offset = 12 + 16 * tables.len() + body.len();
    }
    font.extend_from_slice(&body);
    font
}

/// Draws `report` to `path` (.svg or .png).
pub fn write_chart(report: &Report, path: &Path, scale: LatencyScale) -> Result<()> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "svg" => {
            ensure_font(false)?;
            let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
            draw(root, report, scale)
        }
        "png" => {
            ensure_font(true)?;
            let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
            draw(root, report, scale)
        }
        _ => bail!("chart file {} must end in .svg or .png", path.display()),
    }
    .with_context(|| format!("drawing the chart {}", path.display()))
}

fn latency_label(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn de<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("{e}")
}

const OFFERED: RGBColor = RGBColor(120, 120, 120);
const ACHIEVED: RGBColor = RGBColor(31, 119, 180);
const KAFKA: RGBColor = RGBColor(255, 127, 14);
const FAILED: RGBColor = RGBColor(214, 39, 40);
const P50: RGBColor = RGBColor(44, 160, 44);
const P95: RGBColor = RGBColor(31, 119, 180);
const P99: RGBColor = RGBColor(214, 39, 40);
const E2E: RGBColor = RGBColor(148, 103, 189);

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    r: &Report,
    scale: LatencyScale,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(de)?;
    let title = format!(
        "bss-loadgen run {}: {:.0} events/s offered, {:.0} achieved, append p99 {}",
        r.run_id,
        r.offered_rate,
        r.achieved_rate,
        r.append_ms
            .map_or("-".to_string(), |l| format!("{:.1} ms", l.p99))
    );
    let root = root.titled(&title, ("sans-serif", 24)).map_err(de)?;
    let (upper, lower) = root.split_vertically((HEIGHT as f64 * 0.47) as u32);
    let x_max = (r.timeline.len().max(1) as f64).max(r.planned_duration_s.ceil());

    // Upper panel: rates.
    let e2e = r.kafka_received.is_some();
    let rate_max = r
        .timeline
        .iter()
        .map(|s| s.offered.max(s.achieved).max(s.kafka_received.unwrap_or(0)))
        .max()
        .unwrap_or(0)
        .max(1) as f64
        * 1.15;
    let mut chart = ChartBuilder::on(&upper)
        .caption("Rate (events per second)", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..x_max, 0f64..rate_max)
        .map_err(de)?;
    chart
        .configure_mesh()
        .x_desc("time since start (s)")
        .y_desc("events/s")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .light_line_style(RGBColor(235, 235, 235))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(de)?;
    type Count = fn(&crate::report::SecondStats) -> u64;
    let mut rates: Vec<(&str, RGBColor, Count)> = vec![
        ("offered", OFFERED, |s| s.offered),
        ("acknowledged by PostgreSQL", ACHIEVED, |s| s.achieved),
    ];
    if r.failed > 0 {
        rates.push(("failed", FAILED, |s| s.failed));
    }
    if e2e {
        rates.push(("arrived in Kafka", KAFKA, |s| s.kafka_received.unwrap_or(0)));
    }
    for (label, color, count) in rates {
        let points = r
            .timeline
            .iter()
            .enumerate()
            .map(|(i, s)| (i as f64 + 0.5, count(s) as f64));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(de)?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], color.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(de)?;

    // Lower panel: latency percentiles per second of intended send time.
    type Pick = fn(&crate::report::SecondStats) -> Option<f64>;
    let mut series: Vec<(&str, RGBColor, Pick)> = vec![
        ("append p50", P50, |s| s.append_p50_ms),
        ("append p95", P95, |s| s.append_p95_ms),
        ("append p99", P99, |s| s.append_p99_ms),
    ];
    if e2e {
        series.push(("end-to-end p95 (to Kafka)", E2E, |s| s.e2e_p95_ms));
    }
    let values: Vec<f64> = r
        .timeline
        .iter()
        .flat_map(|s| series.iter().filter_map(move |(_, _, f)| f(s)))
        .collect();
    let lat_max = values.iter().cloned().fold(1.0f64, f64::max) * 1.3;
    let lat_min = values.iter().cloned().fold(f64::INFINITY, f64::min);
    let scale = match scale {
        LatencyScale::Auto if lat_min.is_finite() && lat_max / lat_min.max(0.001) > 30.0 => {
            LatencyScale::Log
        }
        LatencyScale::Auto => LatencyScale::Linear,
        s => s,
    };
    let caption = match scale {
        LatencyScale::Log => "Latency per second (ms, log scale)",
        _ => "Latency per second (ms)",
    };
    let mut lower_builder = ChartBuilder::on(&lower);
    lower_builder
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80);
    let pts = |f: Pick, floor: f64| -> Vec<(f64, f64)> {
        r.timeline
            .iter()
            .enumerate()
            .filter_map(|(i, s)| f(s).map(|v| (i as f64 + 0.5, v.max(floor))))
            .collect()
    };
    macro_rules! latency_panel {
        ($chart:expr, $floor:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc("time since start (s)")
                .y_desc("latency (ms)")
                .y_label_formatter(&|v| latency_label(*v))
                .x_label_formatter(&|v| format!("{v:.0}"))
                .light_line_style(RGBColor(235, 235, 235))
                .label_style(("sans-serif", 14))
                .axis_desc_style(("sans-serif", 15))
                .draw()
                .map_err(de)?;
            for (name, color, f) in &series {
                let color = *color;
                chart
                    .draw_series(LineSeries::new(pts(*f, $floor), color.stroke_width(2)))
                    .map_err(de)?
                    .label(*name)
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 24, y)], color.stroke_width(3))
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .label_font(("sans-serif", 14))
                .draw()
                .map_err(de)?;
        }};
    }
    match scale {
        LatencyScale::Log => {
            let floor = if lat_min.is_finite() {
                (lat_min * 0.7).max(0.01)
            } else {
                0.1
            };
            let chart = lower_builder
                .build_cartesian_2d(0f64..x_max, (floor..lat_max.max(floor * 10.0)).log_scale())
                .map_err(de)?;
            latency_panel!(chart, floor);
        }
        _ => {
            let chart = lower_builder
                .build_cartesian_2d(0f64..x_max, 0f64..lat_max)
                .map_err(de)?;
            latency_panel!(chart, 0.0);
        }
    }
    root.present().map_err(de)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_only_font_is_a_font_plotters_accepts() {
        let bytes: &'static [u8] = Box::leak(metrics_only_font().into_boxed_slice());
        assert!(register(bytes).is_ok());
    }
}
