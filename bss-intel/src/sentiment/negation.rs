//! The negation rules: a negation word or "n't" up to three words before a
//! word (`_negation_check`, with its "never so/this" and "without doubt"
//! exceptions), the "no" rule of vaderSentiment 3.3.x, and "least"
//! (`_least_check`). Owns what negates and by how much
//! ([`NEGATION_SCALAR`]); must never look further than three words back.

use super::lexicon::Lexicon;
use super::vocabulary::{is_negation_word, NEGATION_SCALAR};

/// How much "never so" and "never this" intensify the word after them.
const NEVER_SO_SCALAR: f64 = 1.25;

/// `negated([word])` for one lowercase word.
fn negated(word: &str) -> bool {
    is_negation_word(word) || word.contains("n't")
}

/// The "no" rule: "no" before a lexicon word is neutral itself; a word with
/// "no" one or two words before it, or three before with "or"/"nor" right
/// before it, gets its lexicon valence negated (`own` is that valence).
pub(crate) fn no_rule(own: f64, lower: &[String], i: usize, lexicon: &Lexicon) -> f64 {
    let mut valence = own;
    if lower[i] == "no" && i + 1 != lower.len() && lexicon.contains(&lower[i + 1]) {
        valence = 0.0;
    }
    let no_before = (i > 0 && lower[i - 1] == "no")
        || (i > 1 && lower[i - 2] == "no")
        || (i > 2 && lower[i - 3] == "no" && matches!(lower[i - 1].as_str(), "or" | "nor"));
    if no_before {
        valence = own * NEGATION_SCALAR;
    }
    valence
}

/// `_negation_check` for the word `distance + 1` before word `i`.
pub(crate) fn negation_before(valence: f64, lower: &[String], distance: usize, i: usize) -> f64 {
    let is = |k: usize, word: &str| lower[k] == word;
    let so_or_this = |k: usize| is(k, "so") || is(k, "this");
    match distance {
        0 if negated(&lower[i - 1]) => valence * NEGATION_SCALAR,
        1 if is(i - 2, "never") && so_or_this(i - 1) => valence * NEVER_SO_SCALAR,
        1 if is(i - 2, "without") && is(i - 1, "doubt") => valence,
        1 if negated(&lower[i - 2]) => valence * NEGATION_SCALAR,
        // The reference's precedence: `never and (so or this) or (so or
        // this)`, so "so"/"this" right before the word is enough.
        2 if (is(i - 3, "never") && so_or_this(i - 2)) || so_or_this(i - 1) => {
            valence * NEVER_SO_SCALAR
        }
        2 if is(i - 3, "without") && (is(i - 2, "doubt") || is(i - 1, "doubt")) => valence,
        2 if negated(&lower[i - 3]) => valence * NEGATION_SCALAR,
        _ => valence,
    }
}

/// `_least_check`: "least" right before a word negates it, unless "at" or
/// "very" comes before "least" (and unless "least" is in the lexicon).
pub(crate) fn least_rule(valence: f64, lower: &[String], i: usize, lexicon: &Lexicon) -> f64 {
    let least_before = |i: usize| !lexicon.contains(&lower[i - 1]) && lower[i - 1] == "least";
    if i > 1 && least_before(i) {
        if lower[i - 2] != "at" && lower[i - 2] != "very" {
            return valence * NEGATION_SCALAR;
        }
        valence
    } else if i > 0 && least_before(i) {
        valence * NEGATION_SCALAR
    } else {
        valence
    }
}

#[cfg(test)]
mod tests {
    use super::super::tiny_lexicon::word_valences;
    use super::*;

    const GOOD: f64 = 1.9;
    const NO: f64 = -1.2;

    #[test]
    fn negation_word_right_before_flips_and_scales_the_word() {
        assert_eq!(word_valences("not good"), [0.0, GOOD * NEGATION_SCALAR]);
        assert_eq!(word_valences("never good"), [0.0, GOOD * NEGATION_SCALAR]);
    }

    #[test]
    fn contraction_with_nt_negates() {
        // "isn't" is in NEGATE; "shouldnt've" is not, but contains no "n't";
        // "mightn't've" is not in NEGATE but contains "n't".
        assert_eq!(word_valences("isn't good")[1], GOOD * NEGATION_SCALAR);
        assert_eq!(word_valences("shouldnt've good")[1], GOOD);
        assert_eq!(word_valences("mightn't've good")[1], GOOD * NEGATION_SCALAR);
    }

    #[test]
    fn negation_two_and_three_words_back_negates() {
        assert_eq!(word_valences("not the good")[2], GOOD * NEGATION_SCALAR);
        assert_eq!(
            word_valences("not a very good")[3],
            (GOOD + 0.293) * NEGATION_SCALAR
        );
        assert_eq!(word_valences("not x y z good")[4], GOOD);
    }

    #[test]
    fn double_negation_negates_twice() {
        assert_eq!(
            word_valences("not never good")[2],
            GOOD * NEGATION_SCALAR * NEGATION_SCALAR
        );
    }

    #[test]
    fn never_so_intensifies_instead_of_negating() {
        assert_eq!(
            word_valences("never so good")[2],
            (GOOD + 0.293) * NEVER_SO_SCALAR
        );
        assert_eq!(word_valences("never this good")[2], GOOD * NEVER_SO_SCALAR);
    }

    #[test]
    fn so_or_this_right_before_intensifies_at_the_third_look_back() {
        // Operator precedence in the reference: any "so"/"this" right before
        // the word multiplies by 1.25 once three words are looked at.
        assert_eq!(word_valences("we had this good")[3], GOOD * NEVER_SO_SCALAR);
        assert_eq!(word_valences("had this good")[2], GOOD);
    }

    #[test]
    fn without_doubt_does_not_negate() {
        assert_eq!(word_valences("without doubt good")[2], GOOD);
        assert_eq!(word_valences("without good")[1], GOOD * NEGATION_SCALAR);
    }

    #[test]
    fn no_before_a_lexicon_word_is_neutral_and_negates_it() {
        assert_eq!(word_valences("no good"), [0.0, GOOD * NEGATION_SCALAR]);
    }

    #[test]
    fn no_alone_keeps_its_lexicon_valence() {
        assert_eq!(word_valences("no way"), [NO, 0.0]);
        assert_eq!(word_valences("just no"), [0.0, NO]);
    }

    #[test]
    fn no_two_words_back_or_three_through_or_negates() {
        assert_eq!(word_valences("no the good")[2], GOOD * NEGATION_SCALAR);
        assert_eq!(word_valences("no x or good")[3], GOOD * NEGATION_SCALAR);
        assert_eq!(word_valences("no x y good")[3], GOOD);
    }

    #[test]
    fn no_after_no_is_negated_lexicon_valence() {
        // The second "no" is followed by a lexicon word (0) but follows "no"
        // (its own valence negated, which wins).
        assert_eq!(
            word_valences("no no good"),
            [0.0, NO * NEGATION_SCALAR, GOOD * NEGATION_SCALAR]
        );
    }

    #[test]
    fn least_negates_unless_after_at_or_very() {
        assert_eq!(word_valences("least good"), [0.0, GOOD * NEGATION_SCALAR]);
        assert_eq!(word_valences("the least good")[2], GOOD * NEGATION_SCALAR);
        assert_eq!(word_valences("at least good")[2], GOOD);
        // "very" still boosts "good" from two words back.
        assert_eq!(word_valences("very least good")[2], GOOD + 0.293 * 0.95);
    }
}
