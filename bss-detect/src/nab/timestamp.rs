//! Owns reading NAB's timestamps, `YYYY-MM-DD HH:MM:SS` in the data files and
//! `YYYY-MM-DD HH:MM:SS.ffffff` in the label files, as microseconds since
//! 1970-01-01 00:00:00 with no time zone (NAB's are naive local times, and
//! only ever compared with each other). It must never guess: anything else is
//! refused, so that a window can only match a row whose time is the same.

use crate::time::days_from_civil;

/// Microseconds since the epoch of a NAB timestamp, or `None` when `text` is
/// not one (a fraction of more than 6 digits is refused too).
pub fn parse_nab_timestamp_us(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |v, &c| {
            c.is_ascii_digit().then(|| v * 10 + i64::from(c - b'0'))
        })
    };
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let micros = match &b[19..] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=6).contains(&fraction.len()) => {
            let f = digits(20..b.len())?;
            f * 10i64.pow(6 - fraction.len() as u32)
        }
        _ => return None,
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
    Some(seconds * 1_000_000 + micros)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_and_label_notations_of_the_same_time_are_equal() {
        assert_eq!(
            parse_nab_timestamp_us("2014-02-19 10:50:00"),
            parse_nab_timestamp_us("2014-02-19 10:50:00.000000")
        );
    }

    #[test]
    fn known_instants_are_read_exactly() {
        assert_eq!(parse_nab_timestamp_us("1970-01-01 00:00:00"), Some(0));
        // 2014-07-01 00:00:00 UTC is 1404172800 (date -ud @1404172800).
        assert_eq!(
            parse_nab_timestamp_us("2014-07-01 00:00:00"),
            Some(1_404_172_800_000_000)
        );
        assert_eq!(
            parse_nab_timestamp_us("2000-02-29 23:59:59.5"),
            Some(951_868_799_500_000)
        );
    }

    #[test]
    fn anything_but_the_nab_notation_is_refused() {
        for bad in [
            "",
            "2014-07-01",
            "2014-07-01T00:00:00",
            "2014-07-01 00:00:00Z",
            "2014-07-01 00:00:00.",
            "2014-07-01 00:00:00.0000001",
            "2014-13-01 00:00:00",
            "2013-02-29 00:00:00",
            "2014-07-01 24:00:00",
            "2014-07-01 00:00:6x",
        ] {
            assert_eq!(parse_nab_timestamp_us(bad), None, "{bad:?}");
        }
    }
}
