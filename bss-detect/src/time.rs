//! Owns the two time notations of detector configuration and events:
//! durations as people write them (`30s`, `10m`, `1h`, `500ms`) and RFC 3339
//! timestamps as events carry them, both in microseconds.

/// Microseconds in `text`: a whole number followed by `us`, `ms`, `s`, `m`,
/// `h` or `d` (`30s`, `10m`). Zero and negative durations are refused.
pub fn parse_duration_us(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("duration {text:?} has no unit (use us, ms, s, m, h or d)"))?;
    let (digits, unit) = t.split_at(split);
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("duration {text:?} does not start with a whole number"))?;
    let scale = match unit {
        "us" => 1,
        "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => {
            return Err(format!(
                "duration {text:?}: unknown unit {unit:?} (use us, ms, s, m, h or d)"
            ))
        }
    };
    match n.checked_mul(scale) {
        Some(us) if us > 0 => Ok(us),
        Some(_) => Err(format!("duration {text:?} must be more than zero")),
        None => Err(format!("duration {text:?} is too long")),
    }
}

/// Microseconds since the Unix epoch of an RFC 3339 timestamp
/// (`2026-11-24T07:12:37.123456Z`, any precision, `Z` or `±hh:mm`).
pub fn parse_rfc3339_us(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut micros = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 6 {
                micros = micros * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..6 {
            micros *= 10;
        }
    }
    let offset_s = match &b[i..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let h = i64::from(h1 - b'0') * 10 + i64::from(h2 - b'0');
            let m = i64::from(m1 - b'0') * 10 + i64::from(m2 - b'0');
            let s = h * 3600 + m * 60;
            if *sign == b'+' {
                s
            } else {
                -s
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    Some(secs * 1_000_000 + micros)
}

/// `t` (microseconds since the epoch) as `2026-11-24T07:12:37.123456Z`.
pub fn format_rfc3339_us(t: i64) -> String {
    let secs = t.div_euclid(1_000_000);
    let micros = t.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit_and_a_positive_length() {
        assert_eq!(parse_duration_us("30s"), Ok(30_000_000));
        assert_eq!(parse_duration_us("10m"), Ok(600_000_000));
        assert_eq!(parse_duration_us("250ms"), Ok(250_000));
        assert_eq!(parse_duration_us("1d"), Ok(86_400_000_000));
        assert!(parse_duration_us("30").unwrap_err().contains("no unit"));
        assert!(parse_duration_us("0s")
            .unwrap_err()
            .contains("more than zero"));
        assert!(parse_duration_us("5 weeks").is_err());
        assert!(parse_duration_us("s").is_err());
    }

    #[test]
    fn timestamps_parse_to_the_same_instant_in_any_offset_and_precision() {
        let z = parse_rfc3339_us("2026-11-24T07:12:37.123456Z").unwrap();
        assert_eq!(z, 1_795_504_357_123_456);
        assert_eq!(
            parse_rfc3339_us("2026-11-24T08:12:37.123456+01:00"),
            Some(z)
        );
        assert_eq!(parse_rfc3339_us("2026-11-24T07:12:37.123Z"), Some(z - 456));
        assert_eq!(parse_rfc3339_us("2026-11-24T07:12:37.1234567Z"), Some(z));
        assert_eq!(parse_rfc3339_us("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_us("2000-02-29T00:00:00Z"),
            Some(951_782_400_000_000)
        );
        for bad in [
            "2026-13-01T00:00:00Z",
            "2026-11-24 07:12",
            "2026-11-24T07:12:37",
            "2026-11-24T07:12:37.Z",
            "nope",
        ] {
            assert_eq!(parse_rfc3339_us(bad), None, "{bad}");
        }
    }

    #[test]
    fn formatting_round_trips() {
        for t in [0, 1_795_504_357_123_456, 951_782_400_000_001, -1] {
            assert_eq!(parse_rfc3339_us(&format_rfc3339_us(t)), Some(t), "{t}");
        }
        assert_eq!(format_rfc3339_us(0), "1970-01-01T00:00:00.000000Z");
    }
}
