//! The constants and fixed word lists of vaderSentiment 3.3.2, copied from
//! its source: the booster/dampener increments, the caps and negation
//! scalars, the negation words, the boosters and the special-case idioms.
//! Owns these facts and nothing else; must never be edited to "improve"
//! VADER, since scores would stop matching the reference.
//!
//! The reference's `SENTIMENT_LADEN_IDIOMS` is left out: 3.3.2 never calls
//! the function that reads it ("future work" in its source).

/// Mean sentiment intensity increase of a booster word (B_INCR).
pub(crate) const BOOSTER_INCREMENT: f64 = 0.293;
/// Mean decrease of a dampener word (B_DECR).
pub(crate) const DAMPENER_INCREMENT: f64 = -0.293;
/// Mean increase for a word in ALL CAPS among others that are not (C_INCR).
pub(crate) const ALL_CAPS_INCREMENT: f64 = 0.733;
/// What a negation multiplies a valence by (N_SCALAR).
pub(crate) const NEGATION_SCALAR: f64 = -0.74;

/// NEGATE: a word that negates what follows it.
pub(crate) fn is_negation_word(word: &str) -> bool {
    matches!(
        word,
        "aint"
            | "arent"
            | "cannot"
            | "cant"
            | "couldnt"
            | "darent"
            | "didnt"
            | "doesnt"
            | "ain't"
            | "aren't"
            | "can't"
            | "couldn't"
            | "daren't"
            | "didn't"
            | "doesn't"
            | "dont"
            | "hadnt"
            | "hasnt"
            | "havent"
            | "isnt"
            | "mightnt"
            | "mustnt"
            | "neither"
            | "don't"
            | "hadn't"
            | "hasn't"
            | "haven't"
            | "isn't"
            | "mightn't"
            | "mustn't"
            | "neednt"
            | "needn't"
            | "never"
            | "none"
            | "nope"
            | "nor"
            | "not"
            | "nothing"
            | "nowhere"
            | "oughtnt"
            | "shant"
            | "shouldnt"
            | "uhuh"
            | "wasnt"
            | "werent"
            | "oughtn't"
            | "shan't"
            | "shouldn't"
            | "uh-uh"
            | "wasn't"
            | "weren't"
            | "without"
            | "wont"
            | "wouldnt"
            | "won't"
            | "wouldn't"
            | "rarely"
            | "seldom"
            | "despite"
    )
}

/// BOOSTER_DICT: the increment of a booster or dampener (a lowercase word,
/// or one of the two-word keys "just enough", "kind of", "sort of").
pub(crate) fn booster_increment(word: &str) -> Option<f64> {
    match word {
        "absolutely" | "amazingly" | "awfully" | "completely" | "considerable" | "considerably"
        | "decidedly" | "deeply" | "effing" | "enormous" | "enormously" | "entirely"
        | "especially" | "exceptional" | "exceptionally" | "extreme" | "extremely"
        | "fabulously" | "flipping" | "flippin" | "frackin" | "fracking" | "fricking"
        | "frickin" | "frigging" | "friggin" | "fully" | "fuckin" | "fucking" | "fuggin"
        | "fugging" | "greatly" | "hella" | "highly" | "hugely" | "incredible" | "incredibly"
        | "intensely" | "major" | "majorly" | "more" | "most" | "particularly" | "purely"
        | "quite" | "really" | "remarkably" | "so" | "substantially" | "thoroughly" | "total"
        | "totally" | "tremendous" | "tremendously" | "uber" | "unbelievably" | "unusually"
        | "utter" | "utterly" | "very" => Some(BOOSTER_INCREMENT),
        "almost" | "barely" | "hardly" | "just enough" | "kind of" | "kinda" | "kindof"
        | "kind-of" | "less" | "little" | "marginal" | "marginally" | "occasional"
        | "occasionally" | "partly" | "scarce" | "scarcely" | "slight" | "slightly"
        | "somewhat" | "sort of" | "sorta" | "sortof" | "sort-of" => Some(DAMPENER_INCREMENT),
        _ => None,
    }
}

/// SPECIAL_CASES: idioms and phrases containing lexicon words, with the
/// valence that replaces the word's own (lowercase, words joined by one
/// space).
pub(crate) fn special_case_valence(phrase: &str) -> Option<f64> {
    match phrase {
        "the shit" | "the bomb" | "to die for" => Some(3.0),
        "bad ass" | "badass" => Some(1.5),
        "bus stop" => Some(0.0),
        "yeah right" => Some(-2.0),
        "kiss of death" => Some(-1.5),
        "beating heart" => Some(3.5),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_have_the_reference_words() {
        // vaderSentiment 3.3.2: len(NEGATE) == 59, len(BOOSTER_DICT) == 84
        // (60 boosters, 24 dampeners).
        let negations = "aint arent cannot cant couldnt darent didnt doesnt ain't aren't can't \
            couldn't daren't didn't doesn't dont hadnt hasnt havent isnt mightnt mustnt neither \
            don't hadn't hasn't haven't isn't mightn't mustn't neednt needn't never none nope nor \
            not nothing nowhere oughtnt shant shouldnt uhuh wasnt werent oughtn't shan't \
            shouldn't uh-uh wasn't weren't without wont wouldnt won't wouldn't rarely seldom \
            despite";
        let boosters = "absolutely amazingly awfully completely considerable considerably \
            decidedly deeply effing enormous enormously entirely especially exceptional \
            exceptionally extreme extremely fabulously flippin flipping frackin fracking frickin \
            fricking friggin frigging fuckin fucking fuggin fugging fully greatly hella highly \
            hugely incredible incredibly intensely major majorly more most particularly purely \
            quite really remarkably so substantially thoroughly total totally tremendous \
            tremendously uber unbelievably unusually utter utterly very";
        let dampeners = "almost,barely,hardly,just enough,kind of,kind-of,kinda,kindof,less,\
            little,marginal,marginally,occasional,occasionally,partly,scarce,scarcely,slight,\
            slightly,somewhat,sort of,sort-of,sorta,sortof";
        let words = |list: &'static str, sep| list.split(sep).map(str::trim);
        assert_eq!(
            words(negations, ' ')
                .filter(|w| is_negation_word(w))
                .count(),
            59
        );
        let boosted =
            words(boosters, ' ').filter(|w| booster_increment(w) == Some(BOOSTER_INCREMENT));
        assert_eq!(boosted.count(), 60);
        let dampened =
            words(dampeners, ',').filter(|w| booster_increment(w) == Some(DAMPENER_INCREMENT));
        assert_eq!(dampened.count(), 24);
        assert!(!is_negation_word("no"));
        assert_eq!(booster_increment("VERY"), None);
        assert_eq!(special_case_valence("the bomb"), Some(3.0));
        assert_eq!(special_case_valence("bus stop"), Some(0.0));
    }
}
