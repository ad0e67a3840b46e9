//! The expected-version check of an append (optimistic concurrency): NULL
//! for any version, 0 for a stream that must not exist, else the version
//! the caller last read. Compares numbers only; never reads the stream.

use crate::error::{BssError, BssResult, SqlState};

/// Whether a stream at version `actual` may be appended to by a caller expecting `expected`.
pub fn check(stream_id: &str, expected: Option<i64>, actual: i64) -> BssResult<()> {
    match expected {
        None => Ok(()),
        Some(e) if e < 0 => Err(BssError::new(
            SqlState::WrongExpectedVersion,
            format!("expected_version {e} for stream \"{stream_id}\" is negative"),
        )
        .hint(
            "Pass NULL (any version), 0 (the stream must not exist) or the version you last read.",
        )),
        Some(e) if e == actual => Ok(()),
        Some(e) => {
            let what = if e == 0 {
                "expected stream to not exist".to_string()
            } else {
                format!("expected version {e}")
            };
            Err(BssError::new(
                SqlState::WrongExpectedVersion,
                format!("wrong expected version for stream \"{stream_id}\": {what}, but it is at version {actual}"),
            )
            .detail(format!("stream \"{stream_id}\": expected {e}, actual {actual}"))
            .hint("Another writer appended first. Read the stream again, decide again, and retry with the new version."))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_version_mismatch_names_stream_expected_and_actual() {
        let err = check("customer-42", Some(3), 5).unwrap_err();
        assert_eq!(err.state, SqlState::WrongExpectedVersion);
        assert!(err.message.contains("customer-42"), "{}", err.message);
        assert!(
            err.message.contains("expected version 3"),
            "{}",
            err.message
        );
        assert!(err.message.contains("version 5"), "{}", err.message);
    }

    #[test]
    fn expected_version_zero_means_stream_must_not_exist() {
        assert!(check("s-1", Some(0), 0).is_ok());
        let err = check("s-1", Some(0), 1).unwrap_err();
        assert!(err.message.contains("to not exist"), "{}", err.message);
        assert!(check("s-1", None, 7).is_ok());
    }
}
