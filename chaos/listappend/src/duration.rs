//! Durations as the command line writes them: a number and a unit (ms, s,
//! m or h), "30s", "1.5m". Owns that syntax only.

use std::time::Duration;

/// The longest duration accepted: a day is longer than any chaos scenario.
const MAX_SECONDS: f64 = 24.0 * 3600.0;

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("duration {t:?} has no unit (ms, s, m or h)"))?;
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("duration {t:?} does not start with a number"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown unit {other:?} in {t:?} (ms, s, m or h)")),
    };
    if !(seconds.is_finite() && seconds <= MAX_SECONDS) {
        return Err(format!("duration {t:?} is longer than a day"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_with_a_unit_is_a_duration() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
    }

    #[test]
    fn a_duration_without_a_known_unit_or_over_a_day_is_refused() {
        for bad in ["30", "s", "30x", "25h", ""] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
