//! Timestamps as the events and labels carry them (RFC 3339, UTC, millisecond
//! precision) and the default run id. The simulator never reads the wall
//! clock itself: callers pass it the instant to stamp, so that `generate`
//! is reproducible and `run` stamps the intended send time.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The instant `generate` starts its simulated clock at, when not told.
pub const DEFAULT_SIMULATED_START: &str = "2026-01-01T00:00:00Z";

/// `t` as `2026-01-01T00:00:00.123Z` (always millisecond precision).
pub fn rfc3339_millis(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// `t` as `2026-01-01` (UTC).
pub fn date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// `t` as `2026-01` (UTC), a billing period.
pub fn month(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{:04}-{:02}", t.year(), u8::from(t.month()))
}

/// Parses an RFC 3339 timestamp.
pub fn parse_rfc3339(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| format!("{text:?} is not an RFC 3339 timestamp ({e})"))
}

/// A short run id from a start time: `r` and the Unix seconds in base 36
/// (letters and digits only, so it fits `<category>-<run>-<n>`).
pub fn run_id_from(t: OffsetDateTime) -> String {
    let mut n = t.unix_timestamp().max(0) as u64;
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    format!("r{}", String::from_utf8_lossy(&out))
}

/// A run id must be letters and digits only: the stream ids put it between
/// dashes and the category is what precedes the first one.
pub fn check_run_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 32 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "run id {id:?} must be 1 to 32 ASCII letters or digits (no '-': streams are <category>-<run>-<n>)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_millisecond_precision_and_z() {
        let t = parse_rfc3339("2026-03-04T05:06:07.891234Z").unwrap();
        assert_eq!(rfc3339_millis(t), "2026-03-04T05:06:07.891Z");
        assert_eq!(date(t), "2026-03-04");
        assert_eq!(month(t), "2026-03");
        assert!(parse_rfc3339("yesterday").is_err());
    }

    #[test]
    fn run_ids_are_alphanumeric() {
        let id = run_id_from(parse_rfc3339("2026-03-04T05:06:07Z").unwrap());
        assert!(check_run_id(&id).is_ok(), "{id}");
        assert!(check_run_id("a-b").is_err());
        assert!(check_run_id("").is_err());
    }
}
