//! How many rows a question asks for: `top 5`, `the 3 biggest`, `last
//! ten`, `5 most recent`. Must never take a number that is part of a
//! period (`the last 5 days`: the period is read first and its words are
//! taken), an id, a date or a count without a word that makes it a limit
//! ("5 customers", "version 3").

use super::{number, Token};

/// The most rows a question may ask for.
pub const MAX_LIMIT: u32 = 1000;

/// Words before a number that make it a limit.
const BEFORE: &[&str] = &[
    "top", "first", "last", "latest", "newest", "recent", "biggest", "largest", "worst", "best",
    "highest", "which",
];
/// Words after a number that make it a limit.
const AFTER: &[&str] = &[
    "most", "latest", "newest", "recent", "biggest", "largest", "worst", "best", "highest", "top",
];

pub(super) fn find(tokens: &[Token<'_>], taken: &[bool]) -> Option<u32> {
    let free = |i: usize| !taken.get(i).copied().unwrap_or(true);
    for (i, t) in tokens.iter().enumerate() {
        if !free(i) {
            continue;
        }
        let Some(n) = number(&t.word) else {
            continue;
        };
        let before = i > 0 && free(i - 1) && BEFORE.contains(&tokens[i - 1].word.as_str());
        let after = tokens
            .get(i + 1)
            .is_some_and(|next| free(i + 1) && AFTER.contains(&next.word.as_str()));
        if (before || after) && (1..=MAX_LIMIT).contains(&n) {
            return Some(n);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::tokenize;
    use super::*;

    fn limit(q: &str) -> Option<u32> {
        let tokens = tokenize(q);
        find(&tokens, &vec![false; tokens.len()])
    }

    #[test]
    fn counts_that_say_how_many_rows() {
        assert_eq!(limit("top 5 customers by failed payments"), Some(5));
        assert_eq!(limit("the 3 biggest ticket openers"), Some(3));
        assert_eq!(limit("show the last ten cancellations"), Some(10));
        assert_eq!(limit("5 most recent invoices"), Some(5));
        assert_eq!(limit("Top 20 please"), Some(20));
        assert_eq!(limit("which 3 customers opened most"), Some(3));
    }

    #[test]
    fn other_numbers_are_not_limits() {
        for q in [
            "5 customers",
            "version 3 of customer-42",
            "on 24 November",
            "customer-42",
            "top 0 customers",
            "top 5000 customers",
            "in 2026",
        ] {
            assert_eq!(limit(q), None, "{q}");
        }
    }

    #[test]
    fn a_number_of_a_period_is_not_a_limit() {
        let tokens = tokenize("in the last 5 days");
        let taken = vec![true; tokens.len()];
        assert_eq!(find(&tokens, &taken), None);
    }
}
