//! The contrastive conjunction rule (`_but_check`): with a "but" in the
//! text, valences before the first "but" are halved and those after it
//! count half again. Owns the reference's way of doing it, quirk included:
//! it walks the valences and scales, for each, the *first position holding
//! an equal value* (`sentiments.index(sentiment)`), so when values repeat
//! the wrong position can be scaled, or one scaled twice. Scores show it
//! when a value after "but" equals one before it once halved ("love" 3.2
//! ... but ... "credit" 1.6: "love" is halved twice, "credit" not boosted);
//! elsewhere only positions swap. Must never "correct" that, or scores stop
//! matching vaderSentiment.

/// How much valences before and after "but" count.
const BEFORE_BUT_SCALAR: f64 = 0.5;
const AFTER_BUT_SCALAR: f64 = 1.5;

/// The valences after the "but" rule; `lower` are the lowercased tokens.
pub(crate) fn apply_but_rule(lower: &[String], mut valences: Vec<f64>) -> Vec<f64> {
    let Some(but) = lower.iter().position(|word| word == "but") else {
        return valences;
    };
    for k in 0..valences.len() {
        let value = valences[k];
        // `list.index`: the first equal value (0 == -0.0, as in Python).
        let first_equal = valences.iter().position(|v| *v == value).unwrap_or(k);
        if first_equal < but {
            valences[first_equal] = value * BEFORE_BUT_SCALAR;
        } else if first_equal > but {
            valences[first_equal] = value * AFTER_BUT_SCALAR;
        }
    }
    valences
}

#[cfg(test)]
mod tests {
    use super::*;

    fn but_rule(text: &str, valences: &[f64]) -> Vec<f64> {
        let lower: Vec<String> = text.split(' ').map(str::to_owned).collect();
        apply_but_rule(&lower, valences.to_vec())
    }

    #[test]
    fn valences_before_but_are_halved_and_after_it_boosted() {
        assert_eq!(
            but_rule("good but bad", &[1.9, 0.0, -2.5]),
            [1.9 * 0.5, 0.0, -2.5 * 1.5]
        );
    }

    #[test]
    fn only_the_first_but_counts() {
        assert_eq!(
            but_rule("good but bad but great", &[1.9, 0.0, -2.5, 0.0, 3.1]),
            [1.9 * 0.5, 0.0, -2.5 * 1.5, 0.0, 3.1 * 1.5]
        );
    }

    #[test]
    fn without_but_nothing_changes() {
        assert_eq!(but_rule("good butter", &[1.9, 0.0]), [1.9, 0.0]);
    }

    #[test]
    fn value_equal_to_an_earlier_one_scales_the_earlier_position() {
        // 4.0 before "but" becomes 2.0; the 2.0 after "but" is then found at
        // position 0, which is halved again, and position 2 stays 2.0.
        assert_eq!(but_rule("a but b", &[4.0, 0.0, 2.0]), [1.0, 0.0, 2.0]);
        // After "but": 2.0 becomes 3.0, then the 3.0 after it is found at
        // position 2 and scaled again; position 3 stays 3.0.
        assert_eq!(but_rule("but a b", &[0.0, 2.0, 3.0]), [0.0, 4.5, 3.0]);
    }
}
