//! Owns the keeper's notation for durations on its command line: a whole
//! number and a unit, `500ms`, `5s`, `1m`, and writing them back the same
//! way in messages. Must never accept a duration without a unit or of zero
//! length (a zero interval or lease has no meaning here).

use std::time::Duration;

/// The duration `text` names: digits, then `ms`, `s` or `m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("duration {t:?} has no unit (ms, s or m)"))?;
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("duration {t:?} does not start with a whole number"))?;
    let millis_per_unit = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        other => {
            return Err(format!(
                "duration {t:?}: unknown unit {other:?} (ms, s or m)"
            ))
        }
    };
    match n.checked_mul(millis_per_unit) {
        Some(0) => Err(format!("duration {t:?} must be longer than zero")),
        Some(ms) => Ok(Duration::from_millis(ms)),
        None => Err(format!("duration {t:?} is too long")),
    }
}

/// `d` as [`parse_duration`] reads it: whole seconds as `10s`, else `1500ms`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1_000) {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_number_with_a_unit_is_a_duration() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration(" 2m "), Ok(Duration::from_secs(120)));
    }

    #[test]
    fn no_unit_an_unknown_unit_zero_or_a_fraction_is_refused() {
        for bad in ["5", "s", "5h", "0s", "1.5s", "-1s", ""] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_formatted_duration_parses_back() {
        for d in [Duration::from_secs(10), Duration::from_millis(1_500)] {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
        assert_eq!(format_duration(Duration::from_secs(10)), "10s");
    }
}
