//! Rate forecasts: how many events of a type the next hour will bring,
//! from the counts of the last days. MSTL (seasonal-trend decomposition
//! with LOESS) takes out the daily and weekly seasons and AutoETS
//! forecasts what is left (both from the `augurs` crate); the seasons'
//! last cycles are added back. A season is modelled once the history holds
//! two of it; with less than two days AutoETS alone forecasts. Owns the model choice, the seasonal-
//! naive baseline and the backtest that compares them; must never count
//! events itself (callers pass the counts per bucket).

mod backtest;
mod model;

pub use backtest::{backtest, Backtest, BacktestConfig};
pub use model::{forecast, seasonal_naive, Forecast, ForecastError, Model};
