//! `_special_idioms_check`: idioms and phrases around a lexicon word that
//! replace its valence ("the bomb", "bad ass", "yeah right", ...), and the
//! two-word boosters before it ("kind of", "sort of", "just enough").
//! Owns matching them as whole n-grams of lowercase tokens joined by one
//! space, as the reference does; must never match inside a word (a
//! substring search would find "so" in "also").

use super::vocabulary::{booster_increment, special_case_valence};

/// The valence of word `i` (which has at least three words before it) after
/// the idioms around it.
pub(crate) fn special_idioms(valence: f64, lower: &[String], i: usize) -> f64 {
    let mut valence = valence;
    let w = |k: usize| lower[k].as_str();
    let one_zero = format!("{} {}", w(i - 1), w(i));
    let two_one_zero = format!("{} {} {}", w(i - 2), w(i - 1), w(i));
    let two_one = format!("{} {}", w(i - 2), w(i - 1));
    let three_two_one = format!("{} {} {}", w(i - 3), w(i - 2), w(i - 1));
    let three_two = format!("{} {}", w(i - 3), w(i - 2));

    // The first of these found wins...
    let before = [
        &one_zero,
        &two_one_zero,
        &two_one,
        &three_two_one,
        &three_two,
    ];
    if let Some(special) = before.iter().find_map(|seq| special_case_valence(seq)) {
        valence = special;
    }
    // ...then the phrases starting at the word replace it again.
    if i + 1 < lower.len() {
        if let Some(special) = special_case_valence(&format!("{} {}", w(i), w(i + 1))) {
            valence = special;
        }
    }
    if i + 2 < lower.len() {
        let zero_one_two = format!("{} {} {}", w(i), w(i + 1), w(i + 2));
        if let Some(special) = special_case_valence(&zero_one_two) {
            valence = special;
        }
    }
    for n_gram in [&three_two_one, &three_two, &two_one] {
        if let Some(increment) = booster_increment(n_gram) {
            valence += increment;
        }
    }
    valence
}

#[cfg(test)]
mod tests {
    use super::super::tiny_lexicon::word_valences;
    use super::super::vocabulary::DAMPENER_INCREMENT;

    const BOMB: f64 = -2.2;

    #[test]
    fn the_bomb_replaces_the_valence_once_three_words_come_before() {
        assert_eq!(word_valences("this is the bomb")[3], 3.0);
        // Only checked when the word has three tokens before it.
        assert_eq!(word_valences("the bomb")[1], BOMB);
        assert_eq!(word_valences("is the bomb")[2], BOMB);
    }

    #[test]
    fn phrase_starting_at_the_word_replaces_its_valence() {
        // "bad ass" (1.5) starts at "bad", and ends at "ass".
        let valences = word_valences("he is a bad ass");
        assert_eq!(valences[3], 1.5);
        assert_eq!(valences[4], 1.5);
        assert_eq!(word_valences("a bad ass")[2], -2.5);
        assert_eq!(word_valences("oh yeah right sure")[1], 1.2);
        assert_eq!(word_valences("and oh well yeah right")[3], -2.0);
    }

    #[test]
    fn three_word_phrase_starting_or_ending_at_the_word_replaces_it() {
        // "kiss of death" (-1.5) at "kiss" (zero_one_two) and at "death"
        // (two_one_zero).
        let valences = word_valences("this was the kiss of death");
        assert_eq!(valences[3], -1.5);
        assert_eq!(valences[5], -1.5);
        assert_eq!(word_valences("this was the kiss")[3], 1.8);
    }

    #[test]
    fn idioms_match_whole_words_only() {
        // "theshit"-like joins and substrings do not match.
        assert_eq!(word_valences("this is thebomb bomb")[3], BOMB);
        assert_eq!(word_valences("this is athe bomb")[3], BOMB);
    }

    #[test]
    fn two_word_dampener_before_the_word_dampens_it() {
        assert_eq!(
            word_valences("it was sort of good")[4],
            1.9 + DAMPENER_INCREMENT
        );
        assert_eq!(
            word_valences("it is just enough good")[4],
            1.9 + DAMPENER_INCREMENT
        );
    }
}
