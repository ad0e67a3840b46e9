//! The backtest: forecasts made at many moments (origins) of a series
//! from the window before each, scored against what came, beside the
//! seasonal-naive forecast of the same buckets. Scores: the mean absolute
//! error of both, their ratio, and MASE (Hyndman and Koehler 2006): the
//! error scaled by the in-sample error of the seasonal-naive forecast over
//! the window, so below 1 beats it.

use super::model::{forecast, seasonal_naive, ForecastError};

/// Where and how to forecast.
#[derive(Debug, Clone)]
pub struct BacktestConfig {
    /// The seasons' lengths in buckets (a day, a week), as `forecast` takes them.
    pub periods: Vec<usize>,
    /// The season seasonal naive repeats (a day).
    pub naive_period: usize,
    /// Buckets of history each forecast is fitted on.
    pub window: usize,
    /// Buckets forecast from each origin.
    pub horizon: usize,
    /// The first origin (it needs `window` buckets before it).
    pub first_origin: usize,
    /// Buckets between origins.
    pub every: usize,
}

/// The scores of a backtest.
#[derive(Debug, Clone, PartialEq)]
pub struct Backtest {
    pub origins: usize,
    /// Mean absolute error per bucket of the model and of seasonal naive.
    pub mae_model: f64,
    pub mae_naive: f64,
    /// The mean over origins of the model's MASE, and of seasonal naive's.
    pub mase_model: f64,
    pub mase_naive: f64,
    /// Mean absolute error of the horizon's total (the next hour's count).
    pub total_mae_model: f64,
    pub total_mae_naive: f64,
}

/// Scores the forecasts of `series` at every origin the config names.
pub fn backtest(series: &[f64], cfg: &BacktestConfig) -> Result<Backtest, ForecastError> {
    let first = cfg.first_origin.max(cfg.window);
    let mut origins = 0usize;
    let (mut model_err, mut naive_err, mut model_mase, mut naive_mase) = (0.0, 0.0, 0.0, 0.0);
    let (mut model_total, mut naive_total) = (0.0, 0.0);
    let mut origin = first;
    while origin + cfg.horizon <= series.len() {
        let history = &series[origin - cfg.window..origin];
        let actual = &series[origin..origin + cfg.horizon];
        let model = forecast(history, &cfg.periods, cfg.horizon, 0.95)?.point;
        let naive = seasonal_naive(history, cfg.naive_period, cfg.horizon);
        let mae = |f: &[f64]| {
            f.iter()
                .zip(actual)
                .map(|(p, a)| (p - a).abs())
                .sum::<f64>()
                / cfg.horizon as f64
        };
        let total_err = |f: &[f64]| (f.iter().sum::<f64>() - actual.iter().sum::<f64>()).abs();
        let m = cfg.naive_period;
        let scale = history
            .windows(m + 1)
            .map(|w| (w[m] - w[0]).abs())
            .sum::<f64>()
            / (history.len() - m).max(1) as f64;
        let (m, n) = (mae(&model), mae(&naive));
        model_err += m;
        naive_err += n;
        if scale > 0.0 {
            model_mase += m / scale;
            naive_mase += n / scale;
        }
        model_total += total_err(&model);
        naive_total += total_err(&naive);
        origins += 1;
        origin += cfg.every.max(1);
    }
    let k = origins.max(1) as f64;
    Ok(Backtest {
        origins,
        mae_model: model_err / k,
        mae_naive: naive_err / k,
        mase_model: model_mase / k,
        mase_naive: naive_mase / k,
        total_mae_model: model_total / k,
        total_mae_naive: naive_total / k,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_a_season_whose_level_drifts_the_model_beats_seasonal_naive() {
        // A daily shape whose level steps up 10% at each midnight: seasonal
        // naive carries yesterday's level, the model follows today's.
        let period = 48;
        let series: Vec<f64> = (0..10 * period)
            .map(|t| {
                let day = (t / period) as f64;
                let phase = (t % period) as f64 / period as f64 * std::f64::consts::TAU;
                1000.0 * 1.1f64.powf(day) * (1.0 + 0.5 * phase.sin())
            })
            .collect();
        let cfg = BacktestConfig {
            periods: vec![period],
            naive_period: period,
            window: 4 * period,
            horizon: 6,
            first_origin: 6 * period + 12,
            every: 12,
        };
        let b = backtest(&series, &cfg).unwrap();
        assert!(b.origins >= 10, "{b:?}");
        assert!(b.mae_model < b.mae_naive, "{b:?}");
        assert!(b.mase_model < 1.0 && b.mase_naive > b.mase_model, "{b:?}");
        assert!(b.total_mae_model < b.total_mae_naive, "{b:?}");
    }
}
