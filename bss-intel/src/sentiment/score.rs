//! From token valences to the four scores (`score_valence`): the compound
//! is the sum, pushed away from zero by "!" and "?" emphasis, normalised
//! into -1..1 with alpha 15; neg/neu/pos are the shares of positive,
//! neutral and negative tokens (each non-zero valence counting 1 more than
//! its size), the emphasis added to the larger side. Owns the punctuation
//! amplifiers and the reference's rounding (3 decimals, compound 4); must
//! never sum in another order than left to right from 0 (Python 3.11's
//! plain `sum`), since the last bits can change a rounded score.

use super::python::round as python_round;

/// The sentiment of one text, as `polarity_scores` returns it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PolarityScores {
    /// Share of negative tokens, 0..1, 3 decimals.
    pub neg: f64,
    /// Share of neutral tokens, 0..1, 3 decimals.
    pub neu: f64,
    /// Share of positive tokens, 0..1, 3 decimals.
    pub pos: f64,
    /// Normalised sum of valences, -1 (most negative) ..1, 4 decimals.
    pub compound: f64,
}

/// Mean intensity increase of one "!", counted up to [`MAX_EXCLAMATION_MARKS`].
const EXCLAMATION_INCREMENT: f64 = 0.292;
const MAX_EXCLAMATION_MARKS: usize = 4;
/// Mean intensity increase of one "?" when there are 2 or 3 of them.
const QUESTION_INCREMENT: f64 = 0.18;
/// The increase for more than 3 "?" (a single one adds nothing).
const MANY_QUESTIONS_INCREMENT: f64 = 0.96;
/// Alpha of `normalize`, approximating the largest expected sum.
const NORMALIZATION_ALPHA: f64 = 15.0;

/// `score_valence(sentiments, text)`; `text` is the emoji-free text the
/// tokens came from, where "!" and "?" are counted.
pub(crate) fn score_valences(valences: &[f64], text: &str) -> PolarityScores {
    if valences.is_empty() {
        return PolarityScores {
            neg: 0.0,
            neu: 0.0,
            pos: 0.0,
            compound: 0.0,
        };
    }
    let emphasis = punctuation_emphasis(text);
    let mut sum = valences.iter().fold(0.0, |sum, valence| sum + valence);
    if sum > 0.0 {
        sum += emphasis;
    } else if sum < 0.0 {
        sum -= emphasis;
    }
    let compound = normalize(sum);

    let (mut pos_sum, mut neg_sum, neu_count) = sift(valences);
    if pos_sum > neg_sum.abs() {
        pos_sum += emphasis;
    } else if pos_sum < neg_sum.abs() {
        neg_sum -= emphasis;
    }
    let total = pos_sum + neg_sum.abs() + neu_count as f64;
    PolarityScores {
        neg: python_round((neg_sum / total).abs(), 3),
        neu: python_round((neu_count as f64 / total).abs(), 3),
        pos: python_round((pos_sum / total).abs(), 3),
        compound: python_round(compound, 4),
    }
}

/// `_punctuation_emphasis`: `_amplify_ep` plus `_amplify_qm`.
fn punctuation_emphasis(text: &str) -> f64 {
    let exclamations = text.matches('!').count().min(MAX_EXCLAMATION_MARKS);
    let exclamation = exclamations as f64 * EXCLAMATION_INCREMENT;
    let question = match text.matches('?').count() {
        0 | 1 => 0.0,
        n @ 2..=3 => n as f64 * QUESTION_INCREMENT,
        _ => MANY_QUESTIONS_INCREMENT,
    };
    exclamation + question
}

/// `normalize(score, alpha=15)`: into -1..1.
fn normalize(score: f64) -> f64 {
    let normalized = score / (score * score + NORMALIZATION_ALPHA).sqrt();
    normalized.clamp(-1.0, 1.0)
}

/// `_sift_sentiment_scores`: the positive sum and negative sum (each
/// valence counting one more than its size) and the count of neutral ones.
fn sift(valences: &[f64]) -> (f64, f64, usize) {
    let mut pos_sum = 0.0;
    let mut neg_sum = 0.0;
    let mut neu_count = 0;
    for &valence in valences {
        if valence > 0.0 {
            pos_sum += valence + 1.0;
        }
        if valence < 0.0 {
            neg_sum += valence - 1.0;
        }
        if valence == 0.0 {
            neu_count += 1;
        }
    }
    (pos_sum, neg_sum, neu_count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_question_mark_adds_nothing() {
        assert_eq!(punctuation_emphasis("is it good?"), 0.0);
    }

    #[test]
    fn two_or_three_question_marks_add_each() {
        assert_eq!(punctuation_emphasis("good??"), 2.0 * 0.18);
        assert_eq!(punctuation_emphasis("good? really??"), 3.0 * 0.18);
    }

    #[test]
    fn more_than_three_question_marks_add_a_fixed_amount() {
        assert_eq!(punctuation_emphasis("good????"), 0.96);
        assert_eq!(punctuation_emphasis("good??????????"), 0.96);
    }

    #[test]
    fn exclamation_marks_count_up_to_four() {
        assert_eq!(punctuation_emphasis("good!"), 0.292);
        assert_eq!(punctuation_emphasis("good!!!!!!!"), 4.0 * 0.292);
        assert_eq!(punctuation_emphasis("good!!??"), 2.0 * 0.292 + 2.0 * 0.18);
    }

    #[test]
    fn emphasis_pushes_the_sum_away_from_zero_on_its_side() {
        let positive = score_valences(&[0.0, 1.9], "it good!");
        assert_eq!(positive.compound, python_round(normalize(1.9 + 0.292), 4));
        let negative = score_valences(&[0.0, -1.9], "it bad!");
        assert_eq!(negative.compound, -positive.compound);
        let pos_sum = 1.9 + 1.0 + 0.292;
        assert_eq!(positive.pos, python_round(pos_sum / (pos_sum + 1.0), 3));
    }

    #[test]
    fn zero_sum_leaves_compound_zero_and_adds_no_emphasis() {
        let scores = score_valences(&[0.0, 0.0], "hello there!!!");
        assert_eq!(
            scores,
            PolarityScores {
                neg: 0.0,
                neu: 1.0,
                pos: 0.0,
                compound: 0.0
            }
        );
        // Equal positive and negative: compound 0, no side gets the "!".
        let balanced = score_valences(&[1.5, -1.5], "x y!!");
        assert_eq!(
            balanced,
            PolarityScores {
                neg: 0.5,
                neu: 0.0,
                pos: 0.5,
                compound: 0.0
            }
        );
    }

    #[test]
    fn no_tokens_score_all_zero() {
        let zero = PolarityScores {
            neg: 0.0,
            neu: 0.0,
            pos: 0.0,
            compound: 0.0,
        };
        assert_eq!(score_valences(&[], "!!!"), zero);
    }

    #[test]
    fn compound_is_normalised_with_alpha_15_and_clamped() {
        assert_eq!(normalize(4.0), 4.0 / 31.0_f64.sqrt());
        assert!(normalize(1e200).abs() <= 1.0);
        let scores = score_valences(&[3.1; 6], "great");
        let sum = 3.1 + 3.1 + 3.1 + 3.1 + 3.1 + 3.1;
        assert_eq!(
            scores.compound,
            python_round(sum / (sum * sum + 15.0_f64).sqrt(), 4)
        );
    }
}
