//! Stream ids named in a question: `<category>-<rest>`, as pg_bss names
//! streams (`customer-42`, `ticket-8812`, `usage-cus-000123`, bss-loadgen's
//! `customer-r1-42`, the sidecar's `anomaly-usage-spike`). Owns telling an
//! id from a hyphenated word: the category must be one a BSS store has, or
//! the rest must hold a digit (`covid-19` passes, `e-mail`, `sign-ups` and
//! `top-5` do not).
//!
//! Must never change an id's rest (ids are case-sensitive); only the
//! category is lower-cased, as the store's categories are.

use super::Token;

/// Categories whose ids need no digit.
const KNOWN_CATEGORIES: &[&str] = &[
    "customer",
    "usage",
    "ticket",
    "anomaly",
    "account",
    "line",
    "subscriber",
    "erasure",
];

/// First words of hyphenated counts and ordinals, never a category.
const NOT_CATEGORIES: &[&str] = &[
    "top", "last", "past", "next", "first", "previous", "latest", "day", "days", "week", "hour",
    "type", "level", "tier", "x",
];

/// The first stream id in `tokens` and the index of its token.
pub(super) fn find(tokens: &[Token<'_>]) -> Option<(String, usize)> {
    tokens
        .iter()
        .enumerate()
        .find_map(|(i, t)| stream_id(t.raw).map(|id| (id, i)))
}

/// `raw` as a stream id, if it is one.
pub(in crate::ask) fn stream_id(raw: &str) -> Option<String> {
    let (category, rest) = raw.split_once('-')?;
    let category_ok = category.chars().next()?.is_ascii_alphabetic()
        && category
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    let rest_ok = !rest.is_empty()
        && !rest.ends_with('-')
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'));
    if !category_ok || !rest_ok {
        return None;
    }
    let category = category.to_ascii_lowercase();
    let known = KNOWN_CATEGORIES.contains(&category.as_str());
    let numbered = rest.chars().any(|c| c.is_ascii_digit())
        && category.len() > 1
        && !NOT_CATEGORIES.contains(&category.as_str());
    (known || numbered).then(|| format!("{category}-{rest}"))
}

#[cfg(test)]
mod tests {
    use super::super::tokenize;
    use super::*;

    fn id(q: &str) -> Option<String> {
        find(&tokenize(q)).map(|(id, _)| id)
    }

    #[test]
    fn ids_of_the_stores_categories() {
        assert_eq!(
            id("history of customer-42?").as_deref(),
            Some("customer-42")
        );
        assert_eq!(
            id("usage-cus-000123 last week").as_deref(),
            Some("usage-cus-000123")
        );
        assert_eq!(id("read ticket-8812.").as_deref(), Some("ticket-8812"));
        assert_eq!(
            id("what did customer-r1-42's plan say").as_deref(),
            Some("customer-r1-42")
        );
        assert_eq!(
            id("anomaly-usage-spike events").as_deref(),
            Some("anomaly-usage-spike")
        );
        assert_eq!(id("line-acme.1 state").as_deref(), Some("line-acme.1"));
    }

    #[test]
    fn an_unknown_category_needs_a_digit() {
        assert_eq!(id("state of order-981").as_deref(), Some("order-981"));
        assert_eq!(id("state of order-abc"), None);
    }

    #[test]
    fn the_category_is_lower_cased_and_the_rest_kept() {
        assert_eq!(id("Customer-AbC7").as_deref(), Some("customer-AbC7"));
    }

    #[test]
    fn hyphenated_words_are_not_ids() {
        for q in [
            "e-mail the sign-ups",
            "top-5 customers",
            "last-24 hours",
            "a follow-up on 2026-11-24",
            "24-hour window",
            "customer- 42",
            "-42",
            "payment.failed events",
            "x-1",
        ] {
            assert_eq!(id(q), None, "{q}");
        }
    }

    #[test]
    fn the_first_id_is_taken() {
        assert_eq!(
            id("customer-1 or customer-2").as_deref(),
            Some("customer-1")
        );
    }
}
