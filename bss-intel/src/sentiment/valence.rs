//! Each token's valence, the loop of `polarity_scores` and
//! `sentiment_valence`: a booster or "kind of" is neutral itself; a lexicon
//! word starts from its lexicon valence, then the "no" rule, ALL-CAPS
//! emphasis, the boosters up to three words before it (dampened with
//! distance), negations ([`super::negation`]), idioms
//! ([`super::idioms`]) and "least". Owns the order these rules apply in,
//! which is the reference's, float operation by float operation; must never
//! reorder them (the sums would differ in the last bits, and so the rounded
//! scores now and then).

use super::idioms;
use super::lexicon::Lexicon;
use super::negation;
use super::python;
use super::tokens::SentiText;
use super::vocabulary::{booster_increment, ALL_CAPS_INCREMENT};

/// How much a booster 2 and 3 words before the word counts, relative to
/// one right before it.
const BOOSTER_DAMPING_AT_DISTANCE: [f64; 3] = [1.0, 0.95, 0.9];

/// The valence of every token, in order (before the "but" rule).
pub(crate) fn token_valences(text: &SentiText, lexicon: &Lexicon) -> Vec<f64> {
    let lower = &text.lower;
    (0..lower.len())
        .map(|i| {
            let is_kind_of = i + 1 < lower.len() && lower[i] == "kind" && lower[i + 1] == "of";
            if booster_increment(&lower[i]).is_some() || is_kind_of {
                0.0
            } else {
                word_valence(text, lexicon, i)
            }
        })
        .collect()
}

/// `sentiment_valence` for token `i`: 0 unless it is in the lexicon.
fn word_valence(text: &SentiText, lexicon: &Lexicon, i: usize) -> f64 {
    let lower = &text.lower;
    let Some(own) = lexicon.valence(&lower[i]) else {
        return 0.0;
    };
    let mut valence = negation::no_rule(own, lower, i, lexicon);
    if python::is_upper(&text.words[i]) && text.is_cap_diff {
        valence = emphasised(valence, valence);
    }
    for distance in 0..3 {
        // `start_i` in the reference; the word looked at is distance + 1 before.
        if i > distance && !lexicon.contains(&lower[i - (distance + 1)]) {
            let before = i - (distance + 1);
            let mut increment = booster_increment_for(text, before, valence);
            if distance > 0 && increment != 0.0 {
                increment *= BOOSTER_DAMPING_AT_DISTANCE[distance];
            }
            valence += increment;
            valence = negation::negation_before(valence, lower, distance, i);
            if distance == 2 {
                valence = idioms::special_idioms(valence, lower, i);
            }
        }
    }
    negation::least_rule(valence, lower, i, lexicon)
}

/// `scalar_inc_dec`: what the booster or dampener at `before` adds to a
/// word of `valence` (its sign follows the word's), 0 for other words; an
/// ALL-CAPS booster among other words adds the caps increment too.
fn booster_increment_for(text: &SentiText, before: usize, valence: f64) -> f64 {
    let Some(mut increment) = booster_increment(&text.lower[before]) else {
        return 0.0;
    };
    if valence < 0.0 {
        increment *= -1.0;
    }
    if python::is_upper(&text.words[before]) && text.is_cap_diff {
        increment = emphasised(increment, valence);
    }
    increment
}

/// `x` moved by the ALL-CAPS increment away from zero in the direction of
/// `valence`; a valence of exactly 0 counts as negative, as in the reference
/// (`if valence > 0: += C_INCR else: -= C_INCR`).
fn emphasised(x: f64, valence: f64) -> f64 {
    if valence > 0.0 {
        x + ALL_CAPS_INCREMENT
    } else {
        x - ALL_CAPS_INCREMENT
    }
}

#[cfg(test)]
mod tests {
    use super::super::tiny_lexicon::word_valences;
    use super::super::vocabulary::{BOOSTER_INCREMENT, DAMPENER_INCREMENT};
    use super::*;

    const GOOD: f64 = 1.9;
    const BAD: f64 = -2.5;

    #[test]
    fn lexicon_words_get_their_valence_and_others_zero() {
        assert_eq!(word_valences("the food is good"), [0.0, 0.0, 0.0, GOOD]);
    }

    #[test]
    fn booster_before_word_adds_its_increment_with_the_word_sign() {
        assert_eq!(word_valences("very good"), [0.0, GOOD + BOOSTER_INCREMENT]);
        assert_eq!(word_valences("very bad"), [0.0, BAD - BOOSTER_INCREMENT]);
        assert_eq!(
            word_valences("slightly good"),
            [0.0, GOOD + DAMPENER_INCREMENT]
        );
    }

    #[test]
    fn booster_further_away_is_damped_by_distance() {
        assert_eq!(
            word_valences("very the good"),
            [0.0, 0.0, GOOD + BOOSTER_INCREMENT * 0.95]
        );
        assert_eq!(
            word_valences("very the a good"),
            [0.0, 0.0, 0.0, GOOD + BOOSTER_INCREMENT * 0.9]
        );
        // Four words away it no longer counts.
        assert_eq!(word_valences("very x the a good")[4], GOOD);
    }

    #[test]
    fn booster_counts_across_a_lexicon_word_in_between() {
        // Each of the three words before is looked at on its own: "happy"
        // (in the lexicon) is skipped, "very" two words back still counts.
        assert_eq!(
            word_valences("very happy good")[2],
            GOOD + BOOSTER_INCREMENT * 0.95
        );
    }

    #[test]
    fn kind_of_is_neutral_and_dampens_the_word_after_it() {
        // "kind" is in the lexicon (2.4), but "kind of" is the dampener: both
        // tokens are neutral, and the bigram dampens via the idioms check
        // only when the word has three tokens before it.
        assert_eq!(word_valences("kind of good"), [0.0, 0.0, GOOD]);
        assert_eq!(
            word_valences("it was kind of good")[4],
            GOOD + DAMPENER_INCREMENT
        );
        assert_eq!(word_valences("kind people"), [2.4, 0.0]);
    }

    #[test]
    fn all_caps_word_among_others_gains_the_caps_increment() {
        assert_eq!(
            word_valences("food is GOOD"),
            [0.0, 0.0, GOOD + ALL_CAPS_INCREMENT]
        );
        assert_eq!(
            word_valences("food is BAD"),
            [0.0, 0.0, BAD - ALL_CAPS_INCREMENT]
        );
        // Everything in caps is no emphasis.
        assert_eq!(word_valences("FOOD IS GOOD"), [0.0, 0.0, GOOD]);
    }

    #[test]
    fn all_caps_booster_among_others_adds_the_caps_increment() {
        assert_eq!(
            word_valences("is VERY good"),
            [0.0, 0.0, GOOD + (BOOSTER_INCREMENT + ALL_CAPS_INCREMENT)]
        );
        assert_eq!(
            word_valences("is VERY bad"),
            [0.0, 0.0, BAD + (-BOOSTER_INCREMENT - ALL_CAPS_INCREMENT)]
        );
    }

    #[test]
    fn all_caps_no_before_a_lexicon_word_turns_negative() {
        // The "no" rule sets "NO" to 0, and caps emphasis treats 0 as
        // negative: the reference's quirk, kept.
        assert_eq!(word_valences("is NO good")[1], -ALL_CAPS_INCREMENT);
    }
}
