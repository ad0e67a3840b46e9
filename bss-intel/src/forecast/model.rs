//! One forecast: counts per bucket in, the next `horizon` buckets out
//! (point and a prediction interval), never below zero.

use augurs::ets::AutoETS;
use augurs::mstl::MSTLModel;
use augurs::prelude::*;

/// Fewest buckets AutoETS is fitted on.
pub const MIN_HISTORY: usize = 24;

/// Which model made a forecast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Model {
    /// MSTL with these seasons (their lengths in buckets), AutoETS on the rest.
    MstlEts(Vec<usize>),
    /// AutoETS alone (less than two of the shortest season in the history).
    Ets,
}

/// The next buckets: point forecasts and the interval at the level asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    pub model: Model,
    pub point: Vec<f64>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
}

impl Forecast {
    /// The sum over the horizon (with the interval's bounds summed: a
    /// conservative band for the total).
    pub fn total(&self) -> (f64, f64, f64) {
        let sum = |v: &[f64]| v.iter().sum::<f64>();
        (sum(&self.point), sum(&self.lower), sum(&self.upper))
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ForecastError {
    #[error("{have} buckets of history; a forecast needs at least {MIN_HISTORY}")]
    NotEnoughHistory { have: usize },
    #[error("the history holds a value that is not a finite count (at bucket {at})")]
    NotFinite { at: usize },
    #[error("the model failed: {0}")]
    Model(String),
}

/// Forecasts the `horizon` buckets after `history` (oldest first), with
/// the interval at `level` (0 to 1). `periods`: the seasons' lengths in
/// buckets (a day, a week); each is used once the history holds two of it.
pub fn forecast(
    history: &[f64],
    periods: &[usize],
    horizon: usize,
    level: f64,
) -> Result<Forecast, ForecastError> {
    if history.len() < MIN_HISTORY {
        return Err(ForecastError::NotEnoughHistory {
            have: history.len(),
        });
    }
    if let Some(at) = history.iter().position(|v| !v.is_finite()) {
        return Err(ForecastError::NotFinite { at });
    }
    let failed = |e: &dyn std::fmt::Display| ForecastError::Model(e.to_string());
    // stlrs refuses a period longer than half the series.
    let seasons: Vec<usize> = periods
        .iter()
        .copied()
        .filter(|&p| p >= 2 && history.len() >= 2 * p)
        .collect();
    let (model, f) = if !seasons.is_empty() {
        let trend = AutoETS::non_seasonal().into_trend_model();
        let fit = MSTLModel::new(seasons.clone(), trend)
            .fit(history)
            .map_err(|e| failed(&e))?;
        (
            Model::MstlEts(seasons),
            fit.predict(horizon, level).map_err(|e| failed(&e))?,
        )
    } else {
        let fit = AutoETS::non_seasonal()
            .fit(history)
            .map_err(|e| failed(&e))?;
        (
            Model::Ets,
            fit.predict(horizon, level).map_err(|e| failed(&e))?,
        )
    };
    let floor = |v: Vec<f64>| v.into_iter().map(|x| x.max(0.0)).collect::<Vec<_>>();
    let point = floor(f.point);
    let (lower, upper) = match f.intervals {
        Some(i) => (floor(i.lower), floor(i.upper)),
        None => (point.clone(), point.clone()),
    };
    Ok(Forecast {
        model,
        point,
        lower,
        upper,
    })
}

/// The seasonal-naive forecast: each bucket as it was one season before.
pub fn seasonal_naive(history: &[f64], period: usize, horizon: usize) -> Vec<f64> {
    let n = history.len();
    (0..horizon)
        .map(|h| history[n - period + h % period])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A daily shape of `period` buckets over `days` days, level `level`.
    fn seasonal(days: usize, period: usize, level: f64) -> Vec<f64> {
        (0..days * period)
            .map(|t| {
                let phase = (t % period) as f64 / period as f64 * std::f64::consts::TAU;
                level * (1.0 + 0.5 * phase.sin())
            })
            .collect()
    }

    #[test]
    fn a_regular_daily_season_is_forecast_close_to_what_comes() {
        let period = 48;
        let all = seasonal(5, period, 1000.0);
        let (history, next) = all.split_at(4 * period);
        let f = forecast(history, &[period, 7 * period], 12, 0.95).unwrap();
        assert_eq!(
            f.model,
            Model::MstlEts(vec![period]),
            "not two weeks of history"
        );
        for (got, want) in f.point.iter().zip(next) {
            assert!((got - want).abs() < 0.02 * want, "{got} vs {want}");
        }
        for k in 0..12 {
            assert!(f.lower[k] <= f.point[k] && f.point[k] <= f.upper[k]);
        }
    }

    #[test]
    fn short_history_falls_back_to_ets_and_too_short_or_broken_is_refused() {
        let period = 288;
        let f = forecast(&vec![50.0; 100], &[period], 12, 0.9).unwrap();
        assert_eq!(f.model, Model::Ets);
        assert!(
            f.point.iter().all(|p| (p - 50.0).abs() < 1.0),
            "{:?}",
            f.point
        );
        assert_eq!(
            forecast(&[1.0; 5], &[period], 12, 0.9).unwrap_err(),
            ForecastError::NotEnoughHistory { have: 5 }
        );
        let mut broken = vec![1.0; 40];
        broken[7] = f64::NAN;
        assert_eq!(
            forecast(&broken, &[period], 12, 0.9).unwrap_err(),
            ForecastError::NotFinite { at: 7 }
        );
    }

    #[test]
    fn seasonal_naive_repeats_the_last_season() {
        let h = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(seasonal_naive(&h, 3, 4), [4.0, 5.0, 6.0, 4.0]);
    }
}
