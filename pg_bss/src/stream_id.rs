//! What a stream id must be: usable as a key everywhere it goes (Kafka key,
//! Redis key), and the limit on its length. Checks text only; never looks
//! the stream up.

use crate::error::{BssError, BssResult, SqlState};

/// Longest stream id accepted (bytes); longer ids are almost always a bug upstream.
pub const MAX_STREAM_ID_BYTES: usize = 512;

/// `stream_id`, if it is one; else why not (XB002).
pub fn check(stream_id: Option<&str>) -> BssResult<&str> {
    let id = stream_id.unwrap_or("");
    if id.trim().is_empty() {
        return Err(
            BssError::new(SqlState::InvalidStreamId, "stream_id must not be empty").hint(
                "Name the aggregate the event belongs to, as category-id, e.g. 'customer-42'.",
            ),
        );
    }
    if id.len() > MAX_STREAM_ID_BYTES {
        return Err(BssError::new(
            SqlState::InvalidStreamId,
            format!(
                "stream_id is {} bytes, over the limit of {MAX_STREAM_ID_BYTES}",
                id.len(),
            ),
        )
        .detail(format!(
            "stream_id starts with \"{}\"",
            id.chars().take(40).collect::<String>()
        ))
        .hint("Use a short, stable key such as 'customer-42'."));
    }
    if id.chars().any(|c| c.is_control()) {
        return Err(BssError::new(
            SqlState::InvalidStreamId,
            format!("stream_id {id:?} contains control characters"),
        )
        .hint("Use printable characters only."));
    }
    Ok(id)
}

/// The category of a stream: the part of its id before the first `-`
/// (`customer-42` is in `customer`); the whole id when it has none.
pub fn category(stream_id: &str) -> &str {
    stream_id.split('-').next().unwrap_or(stream_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_oversized_stream_ids_are_rejected() {
        assert_eq!(
            check(Some("")).unwrap_err().state,
            SqlState::InvalidStreamId
        );
        assert_eq!(check(None).unwrap_err().state, SqlState::InvalidStreamId);
        let long = "x".repeat(MAX_STREAM_ID_BYTES + 1);
        assert_eq!(
            check(Some(&long)).unwrap_err().state,
            SqlState::InvalidStreamId
        );
        assert_eq!(check(Some("customer-1")).unwrap(), "customer-1");
    }

    #[test]
    fn the_category_is_the_part_before_the_first_dash() {
        assert_eq!(category("customer-42"), "customer");
        assert_eq!(category("anomaly-data-session-over-50gb"), "anomaly");
        assert_eq!(category("customer"), "customer");
    }
}
