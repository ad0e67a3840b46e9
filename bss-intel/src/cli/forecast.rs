//! `bss-intel forecast`: backtests the rate forecasts on counts per minute
//! (CSV `minute,type,count` on standard input, as `bss-loadgen rates`
//! prints): for each type, forecasts of the next hour made every
//! `--every-minutes` over the last `--test-days` days, each fitted on the
//! `--window-days` before it, scored beside the seasonal-naive forecast
//! (the same hour one day earlier). Prints a table; `--json` writes the
//! figures too; `--max-mase` makes a type whose MASE is at or above it
//! exit 1, naming it.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use bss_intel::forecast::{backtest, BacktestConfig};
use serde_json::json;

#[derive(clap::Args, Debug)]
pub struct Forecast {
    /// Minutes in a bucket: counts are summed per bucket before fitting.
    #[arg(long, default_value_t = 5)]
    bucket_minutes: usize,
    /// Days of history each forecast is fitted on (from 14 the weekly
    /// season is modelled too).
    #[arg(long, default_value_t = 14)]
    window_days: usize,
    /// Days at the end of the series the forecasts are made over.
    #[arg(long, default_value_t = 7)]
    test_days: usize,
    /// Minutes between two forecasts.
    #[arg(long, default_value_t = 60)]
    every_minutes: usize,
    /// Minutes forecast each time.
    #[arg(long, default_value_t = 60)]
    horizon_minutes: usize,
    /// Only these types (comma-separated); default every type in the input.
    #[arg(long, value_delimiter = ',')]
    types: Vec<String>,
    /// Also write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Exit 1 when a type's MASE is at or above this.
    #[arg(long)]
    max_mase: Option<f64>,
}

pub fn run(_data: &Path, f: Forecast) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let b = f.bucket_minutes.max(1);
    let mut series: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (k, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line?;
        if k == 0 && line.starts_with("minute,") {
            continue;
        }
        let bad = || format!("line {}: want minute,type,count, got {line:?}", k + 1);
        let mut parts = line.splitn(3, ',');
        let (Some(minute), Some(ty), Some(count)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad().into());
        };
        let minute: usize = minute.trim().parse().map_err(|_| bad())?;
        let count: f64 = count.trim().parse().map_err(|_| bad())?;
        if !f.types.is_empty() && !f.types.iter().any(|t| t == ty) {
            continue;
        }
        let s = series.entry(ty.to_owned()).or_default();
        if s.len() <= minute / b {
            s.resize(minute / b + 1, 0.0);
        }
        s[minute / b] += count;
    }
    if series.is_empty() {
        return Err("no counts on standard input (want minute,type,count lines)".into());
    }
    let per_day = 24 * 60 / b;
    let cfg = |len: usize| BacktestConfig {
        periods: vec![per_day, 7 * per_day],
        naive_period: per_day,
        window: f.window_days * per_day,
        horizon: f.horizon_minutes.div_ceil(b),
        first_origin: len.saturating_sub(f.test_days * per_day),
        every: f.every_minutes.div_ceil(b),
    };
    println!(
        "Next {} minutes forecast every {} minutes over the last {} days, each fitted on {} days of {}-minute buckets (MSTL with daily and, from 14 days, weekly seasons, AutoETS), beside seasonal naive (the same buckets a day before):\n",
        f.horizon_minutes, f.every_minutes, f.test_days, f.window_days, b
    );
    println!("| type | forecasts | MAE / bucket | seasonal naive | MASE | seasonal naive MASE | hour total MAE | seasonal naive | fit ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    let mut over = Vec::new();
    for (ty, s) in &series {
        let c = cfg(s.len());
        if c.first_origin < c.window {
            return Err(format!(
                "{ty}: {} days of counts; --window-days {} and --test-days {} need {}",
                s.len() / per_day,
                f.window_days,
                f.test_days,
                f.window_days + f.test_days
            )
            .into());
        }
        let started = Instant::now();
        let r = backtest(s, &c).map_err(|e| format!("{ty}: {e}"))?;
        let ms = started.elapsed().as_secs_f64() * 1e3 / r.origins.max(1) as f64;
        println!(
            "| {ty} | {} | {:.1} | {:.1} | {:.3} | {:.3} | {:.0} | {:.0} | {ms:.0} |",
            r.origins,
            r.mae_model,
            r.mae_naive,
            r.mase_model,
            r.mase_naive,
            r.total_mae_model,
            r.total_mae_naive
        );
        if f.max_mase.is_some_and(|m| r.mase_model >= m) {
            over.push(format!("{ty} (MASE {:.3})", r.mase_model));
        }
        rows.push(json!({
            "type": ty, "forecasts": r.origins, "mae": r.mae_model, "mae_seasonal_naive": r.mae_naive,
            "mase": r.mase_model, "mase_seasonal_naive": r.mase_naive,
            "hour_total_mae": r.total_mae_model, "hour_total_mae_seasonal_naive": r.total_mae_naive,
            "fit_ms": ms,
        }));
    }
    if let Some(path) = &f.json {
        let doc = json!({
            "bucket_minutes": b, "window_days": f.window_days, "test_days": f.test_days,
            "every_minutes": f.every_minutes, "horizon_minutes": f.horizon_minutes, "types": rows,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if !over.is_empty() {
        eprintln!(
            "MASE at or above {}: {}",
            f.max_mase.unwrap_or_default(),
            over.join(", ")
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
