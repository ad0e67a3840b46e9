//! Turning the (emoji-free) text into the reference's tokens, `SentiText`:
//! whitespace-separated words with surrounding punctuation stripped unless
//! that leaves two characters or fewer (so ":)" and "I" stay as they are),
//! and whether some but not all of them are in ALL CAPS. Must never drop a
//! token: one-character words count as neutral words in the scores.

use super::python;

/// The tokens of one text, as `SentiText` holds them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SentiText {
    /// `words_and_emoticons`, as written.
    pub(crate) words: Vec<String>,
    /// The same, lowercased once here (the reference calls `.lower()` at
    /// each use, with the same result).
    pub(crate) lower: Vec<String>,
    /// `is_cap_diff`: some but not all words are ALL CAPS.
    pub(crate) is_cap_diff: bool,
}

impl SentiText {
    pub(crate) fn new(text: &str) -> Self {
        let words: Vec<String> = python::split(text)
            .map(|token| strip_punctuation_if_word(token).to_owned())
            .collect();
        let lower = words.iter().map(|word| python::lower(word)).collect();
        let is_cap_diff = allcap_differential(&words);
        Self {
            words,
            lower,
            is_cap_diff,
        }
    }
}

/// `_strip_punc_if_word`: the token without leading and trailing
/// punctuation, or the token itself when two characters or fewer would be
/// left (likely an emoticon).
fn strip_punctuation_if_word(token: &str) -> &str {
    let stripped = python::strip_punctuation(token);
    if stripped.chars().count() <= 2 {
        token
    } else {
        stripped
    }
}

/// `allcap_differential`: true when some, but not all, words are ALL CAPS.
fn allcap_differential(words: &[String]) -> bool {
    let all_caps = words.iter().filter(|word| python::is_upper(word)).count();
    let differential = words.len() - all_caps;
    0 < differential && differential < words.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        SentiText::new(text).words
    }

    #[test]
    fn one_character_tokens_are_kept() {
        assert_eq!(
            words("I love it , a lot"),
            ["I", "love", "it", ",", "a", "lot"]
        );
    }

    #[test]
    fn punctuation_is_stripped_unless_two_characters_or_fewer_remain() {
        assert_eq!(
            words("good!!! (bad) :) ok, no!! :-D"),
            ["good", "bad", ":)", "ok,", "no!!", ":-D"]
        );
        // Characters, not bytes: "été" has 3 characters and 5 bytes.
        assert_eq!(words("«été»! ça!"), ["«été»", "ça!"]);
        assert_eq!(words("été!"), ["été"]);
    }

    #[test]
    fn caps_differential_needs_some_but_not_all_words_in_caps() {
        assert!(SentiText::new("VADER is smart").is_cap_diff);
        assert!(!SentiText::new("VADER IS SMART").is_cap_diff);
        assert!(!SentiText::new("vader is smart").is_cap_diff);
        // Tokens without cased characters are not ALL CAPS.
        assert!(SentiText::new("OK 123").is_cap_diff);
        assert!(!SentiText::new("").is_cap_diff);
    }
}
