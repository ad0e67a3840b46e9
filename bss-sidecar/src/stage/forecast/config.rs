//! Owns the `[forecast]` table of the sidecar's configuration: the buckets
//! the counts are kept in, how much history, how far ahead, how often the
//! forecasts are refreshed, and the capacity the alert compares with. Must
//! refuse, naming the setting, what the stage could not use.

use std::time::Duration;

use serde::Deserialize;

/// The `[forecast]` table, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastConfig {
    /// Minutes in a bucket of counts; a day must be a whole number of them.
    #[serde(default = "default_bucket_minutes")]
    pub bucket_minutes: u32,
    /// Days of counts kept and fitted on (the daily season needs two, the
    /// weekly fourteen).
    #[serde(default = "default_history_days")]
    pub history_days: u32,
    /// Minutes ahead forecast.
    #[serde(default = "default_horizon_minutes")]
    pub horizon_minutes: u32,
    /// How often the forecasts are fitted again.
    #[serde(default = "default_refresh_secs")]
    pub refresh_secs: u64,
    /// Events an hour the deployment can take, all types together; exported
    /// as `bss_sidecar_forecast_capacity_events_per_hour` for the alert
    /// `BssLoadForecastOverCapacity`.
    #[serde(default)]
    pub capacity_per_hour: Option<f64>,
    /// How often the counts are saved (and the stage's spool cursor moved).
    #[serde(default = "default_checkpoint_secs")]
    pub checkpoint_secs: u64,
}

fn default_bucket_minutes() -> u32 {
    5
}
fn default_history_days() -> u32 {
    14
}
fn default_horizon_minutes() -> u32 {
    60
}
fn default_refresh_secs() -> u64 {
    60
}
fn default_checkpoint_secs() -> u64 {
    30
}

impl ForecastConfig {
    pub fn bucket_us(&self) -> i64 {
        i64::from(self.bucket_minutes) * 60_000_000
    }

    /// Buckets in a day: the season.
    pub fn period(&self) -> usize {
        (24 * 60 / self.bucket_minutes.max(1)) as usize
    }

    /// Buckets kept.
    pub fn keep(&self) -> usize {
        self.period() * self.history_days as usize
    }

    /// Buckets forecast.
    pub fn horizon(&self) -> usize {
        self.horizon_minutes.div_ceil(self.bucket_minutes.max(1)) as usize
    }

    pub fn refresh_every(&self) -> Duration {
        Duration::from_secs(self.refresh_secs)
    }

    pub fn checkpoint_every(&self) -> Duration {
        Duration::from_secs(self.checkpoint_secs)
    }

    /// Refuses what the stage could not run with, naming the setting.
    pub fn check(&self) -> Result<(), String> {
        if self.bucket_minutes == 0 || (24 * 60) % self.bucket_minutes != 0 {
            return Err(format!(
                "bucket_minutes = {}: a day must be a whole number of buckets (1, 5, 10, 15, 30, 60, ...)",
                self.bucket_minutes
            ));
        }
        if self.history_days == 0 {
            return Err("history_days must be at least 1 (2 for the daily season)".into());
        }
        if self.horizon_minutes == 0 {
            return Err("horizon_minutes must be at least 1".into());
        }
        if self.refresh_secs == 0 || self.checkpoint_secs == 0 {
            return Err("refresh_secs and checkpoint_secs must be at least 1".into());
        }
        if let Some(c) = self
            .capacity_per_hour
            .filter(|c| !(c.is_finite() && *c > 0.0))
        {
            return Err(format!(
                "capacity_per_hour = {c}: want a positive number of events"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_five_minute_buckets_over_two_weeks_forecast_an_hour_ahead() {
        let c: ForecastConfig = toml::from_str("").unwrap();
        assert_eq!((c.period(), c.keep(), c.horizon()), (288, 4032, 12));
        assert!(c.check().is_ok());
        let bad: ForecastConfig = toml::from_str("bucket_minutes = 7").unwrap();
        assert!(bad.check().unwrap_err().contains("bucket_minutes = 7"));
    }
}
