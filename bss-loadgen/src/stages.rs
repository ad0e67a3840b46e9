//! Load stages, k6 style: `DURATION:TARGET_RATE` ramps linearly from the
//! previous stage's target (the first from 0) to its own over its duration.
//! Owns parsing, the scenario presets, the offered rate at time t, and the
//! cumulative number of events due by t (and its inverse, which the
//! scheduler uses for each append's intended send time). Knows nothing of
//! events or databases.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The form a stage must have, quoted in every parse error.
pub const STAGE_FORM: &str =
    "DURATION:RATE, e.g. 30s:1000 (DURATION is a number with ms, s, m or h; RATE is events per second)";

/// One stage: over `duration`, the rate moves linearly to `target` events/s.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    #[serde(with = "duration_ms")]
    pub duration: Duration,
    pub target: f64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StageError {
    #[error("stage {index} {text:?}: {why}; expected {STAGE_FORM}")]
    BadStage {
        index: usize,
        text: String,
        why: String,
    },
    #[error("no stages given; expected a comma-separated list of {STAGE_FORM}")]
    Empty,
    #[error("the stages last 0s in total; at least one stage needs a duration")]
    ZeroLength,
}

/// Parses a duration like `500ms`, `30s`, `10m`, `1h` or `1.5s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("duration {t:?} has no unit (ms, s, m or h)"))?;
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("duration {t:?} does not start with a number"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown duration unit {other:?} (use ms, s, m or h)"
            ))
        }
    };
    if !secs.is_finite() || secs > 7.0 * 24.0 * 3600.0 {
        return Err(format!("duration {t:?} is out of range (at most a week)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Formats a duration the way `parse_duration` reads it.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(3_600_000) && ms > 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Parses `30s:1000,10m:6667,1m:20000`.
pub fn parse_stages(text: &str) -> Result<Vec<Stage>, StageError> {
    if text.trim().is_empty() {
        return Err(StageError::Empty);
    }
    let mut stages = Vec::new();
    for (i, part) in text.split(',').enumerate() {
        let index = i + 1;
        let bad = |why: String| StageError::BadStage {
            index,
            text: part.to_owned(),
            why,
        };
        let (d, r) = part
            .trim()
            .split_once(':')
            .ok_or_else(|| bad("no ':' between duration and rate".into()))?;
        let duration = parse_duration(d).map_err(bad)?;
        let target: f64 = r
            .trim()
            .parse()
            .map_err(|_| bad(format!("rate {:?} is not a number", r.trim())))?;
        if !target.is_finite() || target < 0.0 {
            return Err(bad(format!("rate {target} must be 0 or more")));
        }
        if target > 10_000_000.0 {
            return Err(bad(format!("rate {target} is above 10,000,000 events/s")));
        }
        stages.push(Stage { duration, target });
    }
    let profile = Profile::new(stages.clone());
    if profile.total_secs() <= 0.0 {
        return Err(StageError::ZeroLength);
    }
    Ok(stages)
}

/// Named load shapes that expand to stages around a base rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Hold the rate for the whole duration.
    Steady,
    /// Ramp from 0 to the rate over the first third, then hold.
    Ramp,
    /// Hold the rate, jump to twice the rate for the middle fifth, back.
    Spike,
    /// Step up: the rate, twice, then three times the rate (held for the last half).
    Stress,
    /// Hold the rate for a long time (default duration 1h).
    Soak,
}

impl Scenario {
    /// The duration used when none is given.
    pub fn default_duration(self) -> Duration {
        match self {
            Scenario::Soak => Duration::from_secs(3600),
            _ => Duration::from_secs(60),
        }
    }

    /// The stages of this scenario at base `rate` over `total`.
    pub fn stages(self, rate: f64, total: Duration) -> Vec<Stage> {
        let part = |f: f64| Duration::from_secs_f64(total.as_secs_f64() * f);
        let step = |target: f64| Stage {
            duration: Duration::ZERO,
            target,
        };
        let hold = |f: f64, target: f64| Stage {
            duration: part(f),
            target,
        };
        match self {
            Scenario::Steady | Scenario::Soak => vec![step(rate), hold(1.0, rate)],
            Scenario::Ramp => vec![hold(1.0 / 3.0, rate), hold(2.0 / 3.0, rate)],
            Scenario::Spike => vec![
                step(rate),
                hold(0.4, rate),
                step(2.0 * rate),
                hold(0.2, 2.0 * rate),
                step(rate),
                hold(0.4, rate),
            ],
            Scenario::Stress => vec![
                step(rate),
                hold(0.25, rate),
                step(2.0 * rate),
                hold(0.25, 2.0 * rate),
                step(3.0 * rate),
                hold(0.5, 3.0 * rate),
            ],
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", format_duration(self.duration), self.target)
    }
}

/// The stages laid end to end on a time axis in seconds from the start.
#[derive(Debug, Clone)]
pub struct Profile {
    /// (start second, duration seconds, rate at start, rate at end)
    segments: Vec<(f64, f64, f64, f64)>,
    total: f64,
}

impl Profile {
    pub fn new(stages: Vec<Stage>) -> Self {
        let mut segments = Vec::with_capacity(stages.len());
        let mut start = 0.0;
        let mut prev = 0.0;
        for s in &stages {
            let d = s.duration.as_secs_f64();
            segments.push((start, d, prev, s.target));
            start += d;
            prev = s.target;
        }
        Profile {
            segments,
            total: start,
        }
    }

    /// How long the stages last, in seconds.
    pub fn total_secs(&self) -> f64 {
        self.total
    }

    /// The offered rate (events/s) at `t` seconds; 0 after the end.
    pub fn rate_at(&self, t: f64) -> f64 {
        if t < 0.0 || t >= self.total {
            return 0.0;
        }
        for &(start, d, r0, r1) in &self.segments {
            if d > 0.0 && t >= start && t < start + d {
                return r0 + (r1 - r0) * (t - start) / d;
            }
        }
        0.0
    }

    /// Events due by `t` seconds: the integral of the rate from 0 to t.
    pub fn events_by(&self, t: f64) -> f64 {
        let mut sum = 0.0;
        for &(start, d, r0, r1) in &self.segments {
            if d <= 0.0 || t <= start {
                continue;
            }
            let tau = (t - start).min(d);
            sum += r0 * tau + (r1 - r0) * tau * tau / (2.0 * d);
        }
        sum
    }

    /// All events the stages offer.
    pub fn total_events(&self) -> f64 {
        self.events_by(self.total)
    }

    /// The earliest time (seconds) by which `k` events are due, or None when
    /// the stages end first. The inverse of `events_by`.
    pub fn time_of_event(&self, k: f64) -> Option<f64> {
        if k <= 0.0 {
            return Some(0.0);
        }
        let mut before = 0.0;
        for &(start, d, r0, r1) in &self.segments {
            if d <= 0.0 {
                continue;
            }
            let in_seg = (r0 + r1) * d / 2.0;
            if before + in_seg >= k && in_seg > 0.0 {
                let need = k - before;
                // need = r0 τ + a τ², a = (r1 - r0) / (2d)
                let a = (r1 - r0) / (2.0 * d);
                let tau = if a.abs() < 1e-12 {
                    need / r0
                } else {
                    (-r0 + (r0 * r0 + 4.0 * a * need).max(0.0).sqrt()) / (2.0 * a)
                };
                return Some(start + tau.clamp(0.0, d));
            }
            before += in_seg;
        }
        None
    }
}

mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6 * b.abs().max(1.0)
    }

    #[test]
    fn durations_in_every_unit_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("10d").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn stage_list_parses_in_order() {
        let s = parse_stages("30s:1000, 10m:6667,1m:20000").unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].duration, Duration::from_secs(30));
        assert_eq!(s[1].target, 6667.0);
        assert_eq!(s[2].duration, Duration::from_secs(60));
    }

    #[test]
    fn bad_stage_error_names_the_stage_and_the_form() {
        let e = parse_stages("30s:1000,10x:5").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("stage 2"), "{msg}");
        assert!(msg.contains("10x:5"), "{msg}");
        assert!(msg.contains("DURATION:RATE"), "{msg}");
        assert!(parse_stages("30s").unwrap_err().to_string().contains("':'"));
        assert!(parse_stages("30s:-1").is_err());
        assert!(parse_stages("30s:fast").is_err());
        assert_eq!(parse_stages(""), Err(StageError::Empty));
        assert_eq!(parse_stages("0s:100"), Err(StageError::ZeroLength));
    }

    #[test]
    fn rate_ramps_linearly_from_previous_target() {
        let p = Profile::new(parse_stages("10s:100,10s:100,10s:0").unwrap());
        assert!(close(p.rate_at(0.0), 0.0));
        assert!(close(p.rate_at(5.0), 50.0));
        assert!(close(p.rate_at(15.0), 100.0));
        assert!(close(p.rate_at(25.0), 50.0));
        assert_eq!(p.rate_at(30.0), 0.0);
        assert_eq!(p.rate_at(-1.0), 0.0);
    }

    #[test]
    fn cumulative_events_integrate_the_rate() {
        let p = Profile::new(parse_stages("10s:100,10s:100,10s:0").unwrap());
        assert!(close(p.events_by(10.0), 500.0));
        assert!(close(p.events_by(20.0), 1500.0));
        assert!(close(p.total_events(), 2000.0));
        assert!(close(p.events_by(100.0), 2000.0));
        // a zero-length stage is an instant step
        let step = Profile::new(parse_stages("0s:200,5s:200").unwrap());
        assert!(close(step.rate_at(0.0), 200.0));
        assert!(close(step.total_events(), 1000.0));
    }

    #[test]
    fn time_of_event_inverts_events_by() {
        let p = Profile::new(parse_stages("7s:300,3s:300,5s:1000,2s:0").unwrap());
        let total = p.total_events();
        let mut k = 1.0;
        while k < total {
            let t = p.time_of_event(k).unwrap();
            assert!(close(p.events_by(t), k), "k={k} t={t}");
            k += 97.0;
        }
        assert!(p.time_of_event(total + 1.0).is_none());
    }

    #[test]
    fn scenarios_expand_to_their_shapes() {
        let d = Duration::from_secs(100);
        let steady = Profile::new(Scenario::Steady.stages(50.0, d));
        assert!(close(steady.total_events(), 5000.0));
        let ramp = Profile::new(Scenario::Ramp.stages(60.0, d));
        assert!(close(ramp.rate_at(100.0 / 6.0), 30.0));
        assert!(close(ramp.rate_at(90.0), 60.0));
        let spike = Profile::new(Scenario::Spike.stages(10.0, d));
        assert!(close(spike.rate_at(50.0), 20.0));
        assert!(close(spike.rate_at(70.0), 10.0));
        let stress = Profile::new(Scenario::Stress.stages(10.0, d));
        assert!(close(stress.rate_at(90.0), 30.0));
        assert_eq!(Scenario::Soak.default_duration(), Duration::from_secs(3600));
    }
}
