//! Owns names no other test run uses, so tests on the shared devdb (and
//! its Kafka topics, Redis keys and replication slots) never see each
//! other's data. Never returns anything but ASCII letters and digits after
//! the caller's prefix, so a name fits where an identifier or a bss-loadgen
//! run id is expected.

use std::time::{SystemTime, UNIX_EPOCH};

/// `name` followed by the clock's nanoseconds and the process id.
pub fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{name}{}x{}", nanos % 1_000_000_000_000, std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unique_name_is_the_prefix_then_letters_and_digits_short_enough_for_a_run_id() {
        let name = unique("t");
        assert!(name.starts_with('t'));
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric()), "{name}");
        // bss-loadgen takes run ids of at most 32 characters.
        assert!(name.len() <= 32, "{name}");
    }

    #[test]
    fn two_unique_names_differ() {
        assert_ne!(unique("t"), unique("t"));
    }
}
