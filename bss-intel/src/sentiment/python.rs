//! The behaviours of Python 3.11's `str` and `round` that vaderSentiment
//! relies on, where Rust's nearest equivalent differs: what counts as
//! whitespace (`str.split()`, `str.strip()`), `str.isupper()`, stripping
//! `string.punctuation`, and `round(x, n)`. Must never be used for anything
//! but mirroring the reference; it owns no VADER rule.
//!
//! Case is Python 3.11's, whose tables are Unicode 14.0: Rust's are newer
//! ([`char::UNICODE_VERSION`]), so the letters cased differently since are
//! listed here and corrected for (`is_upper`). `lower` is Rust's, which
//! lowercases the few uppercase letters added since Unicode 14 that Python
//! 3.11 leaves alone; no lexicon key holds such a letter, so no score can
//! tell.

/// `str.isspace()` for one character: Unicode White_Space plus the four
/// ASCII separators U+001C..U+001F, which Python treats as whitespace and
/// Rust's `char::is_whitespace` does not.
pub(crate) fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `s.split()`: the runs of non-whitespace, empty ones dropped.
pub(crate) fn split(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_space).filter(|token| !token.is_empty())
}

/// `s.strip()`.
pub(crate) fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// `s.strip(string.punctuation)`: Rust's ASCII punctuation is the same 32
/// characters as Python's `string.punctuation`.
pub(crate) fn strip_punctuation(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii_punctuation())
}

/// `s.isupper()`: at least one cased character, and no lowercase or
/// titlecase one (CPython's `unicode_isupper_impl`).
pub(crate) fn is_upper(s: &str) -> bool {
    let mut cased = false;
    for c in s.chars() {
        if is_lowercase_in_python(c) || is_titlecase(c) {
            return false;
        }
        cased |= is_uppercase_in_python(c);
    }
    cased
}

/// Lowercase in Unicode 17 but not in Unicode 14 (letters added in 15-17,
/// and modifier letters given the Lowercase property since).
const LOWERCASE_SINCE_UNICODE_14: &[(char, char)] = &[
    ('\u{10fc}', '\u{10fc}'),
    ('\u{1c8a}', '\u{1c8a}'),
    ('\u{a7cd}', '\u{a7cd}'),
    ('\u{a7cf}', '\u{a7cf}'),
    ('\u{a7db}', '\u{a7db}'),
    ('\u{a7f1}', '\u{a7f4}'),
    ('\u{ab69}', '\u{ab69}'),
    ('\u{10d70}', '\u{10d85}'),
    ('\u{16ebb}', '\u{16ed3}'),
    ('\u{1df25}', '\u{1df2a}'),
    ('\u{1e030}', '\u{1e06d}'),
];

/// Uppercase in Unicode 17 but not in Unicode 14 (letters added in 16-17).
const UPPERCASE_SINCE_UNICODE_14: &[(char, char)] = &[
    ('\u{1c89}', '\u{1c89}'),
    ('\u{a7cb}', '\u{a7cc}'),
    ('\u{a7ce}', '\u{a7ce}'),
    ('\u{a7d2}', '\u{a7d2}'),
    ('\u{a7d4}', '\u{a7d4}'),
    ('\u{a7da}', '\u{a7da}'),
    ('\u{a7dc}', '\u{a7dc}'),
    ('\u{10d50}', '\u{10d65}'),
    ('\u{16ea0}', '\u{16eb8}'),
];

/// U+0295 'ʕ' (as in the kaomoji ʕ•ᴥ•ʔ) was a lowercase letter until
/// Unicode 16 made it Lo.
const LOWERCASE_UNTIL_UNICODE_16: char = '\u{295}';

fn in_ranges(c: char, ranges: &[(char, char)]) -> bool {
    ranges
        .iter()
        .any(|&(first, last)| (first..=last).contains(&c))
}

/// Python 3.11's `Py_UNICODE_ISLOWER` (the Lowercase property, Unicode 14).
fn is_lowercase_in_python(c: char) -> bool {
    (c.is_lowercase() && !in_ranges(c, LOWERCASE_SINCE_UNICODE_14))
        || c == LOWERCASE_UNTIL_UNICODE_16
}

/// Python 3.11's `Py_UNICODE_ISUPPER` (the Uppercase property, Unicode 14).
fn is_uppercase_in_python(c: char) -> bool {
    c.is_uppercase() && !in_ranges(c, UPPERCASE_SINCE_UNICODE_14)
}

/// `s.lower()`: full case mapping with the final-sigma rule, as Rust's.
pub(crate) fn lower(s: &str) -> String {
    s.to_lowercase()
}

/// Unicode general category Lt, Python 3.11's list (Rust's std has no
/// test for it).
fn is_titlecase(c: char) -> bool {
    matches!(c,
        '\u{1c5}' | '\u{1c8}' | '\u{1cb}' | '\u{1f2}'
        | '\u{1f88}'..='\u{1f8f}' | '\u{1f98}'..='\u{1f9f}' | '\u{1fa8}'..='\u{1faf}'
        | '\u{1fbc}' | '\u{1fcc}' | '\u{1ffc}')
}

/// `round(x, digits)`: the double nearest to x correctly rounded to that
/// many decimals, exact ties to even. Rust's fixed-precision formatting
/// rounds the exact binary value the same way, and parsing is correctly
/// rounded, as CPython's `float.__round__` (dtoa mode 3, then strtod).
pub(crate) fn round(x: f64, digits: usize) -> f64 {
    format!("{x:.digits$}").parse().unwrap_or(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_treats_python_whitespace_as_separators() {
        let text = "a\u{1c}b\u{a0}c\u{3000}d  e\t\n";
        assert_eq!(split(text).collect::<Vec<_>>(), ["a", "b", "c", "d", "e"]);
        // U+200B (zero width space) is not whitespace for Python either.
        assert_eq!(split("a\u{200b}b").count(), 1);
    }

    #[test]
    fn strip_removes_python_whitespace_at_both_ends_only() {
        assert_eq!(strip("\u{1f} a b\r\n"), "a b");
    }

    #[test]
    fn strip_punctuation_removes_ascii_punctuation_at_both_ends() {
        assert_eq!(strip_punctuation("\"(good!!!)\""), "good");
        assert_eq!(strip_punctuation("isn't."), "isn't");
        assert_eq!(strip_punctuation("«bien»"), "«bien»");
    }

    #[test]
    fn is_upper_needs_a_cased_character_and_no_lowercase_or_titlecase() {
        assert!(is_upper("SUX!"));
        assert!(is_upper("A1"));
        assert!(is_upper("ÉTÉ"));
        assert!(is_upper("ВЕЙДЕРА"));
        assert!(!is_upper("123"));
        assert!(!is_upper(":)"));
        assert!(!is_upper(""));
        assert!(!is_upper("SUx"));
        assert!(!is_upper("\u{1c5}"));
        assert!(!is_upper("A\u{1c5}"));
    }

    #[test]
    fn is_upper_uses_python_3_11_case_for_letters_recategorised_since() {
        // 'ʕ' was lowercase in Unicode 14; U+A7CB (uppercase) is newer.
        assert!(!is_upper("HI\u{295}"));
        assert!(!is_upper("\u{a7cb}"));
        assert!(is_upper("HI\u{a7cb}"));
        assert!(is_upper("HI\u{1e030}"));
    }

    #[test]
    fn case_tables_match_the_unicode_version_of_rust() {
        // The lists of letters cased differently since Unicode 14 were made
        // against this version of Rust's tables; with another, list them
        // again (the parity test's case check names every letter that
        // differs from Python).
        assert_eq!(
            char::UNICODE_VERSION,
            (17, 0, 0),
            "Rust's Unicode tables changed: update python.rs's case tables"
        );
    }

    #[test]
    fn lower_uses_full_case_mapping_and_final_sigma() {
        assert_eq!(lower("İ"), "i\u{307}");
        assert_eq!(lower("ΟΔΟΣ"), "οδος");
    }

    #[test]
    fn round_breaks_exact_ties_to_even_like_python() {
        // Python 3.11: round(0.0625, 3) == 0.062, round(0.03125, 4) == 0.0312,
        // round(0.125, 2) == 0.12, round(0.0015, 3) == 0.002 (0.0015 is
        // slightly above the tie in binary).
        assert_eq!(round(0.0625, 3), 0.062);
        assert_eq!(round(0.03125, 4), 0.0312);
        assert_eq!(round(0.125, 2), 0.12);
        assert_eq!(round(0.0015, 3), 0.002);
        assert_eq!(round(0.83157, 4), 0.8316);
        assert_eq!(round(-0.70809, 4), -0.7081);
    }
}
