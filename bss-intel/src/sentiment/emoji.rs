//! Replacing emojis by their description from the emoji lexicon, the first
//! step of `polarity_scores`. Owns the reference's spacing rule: a
//! description is preceded by a space unless the character before it was a
//! plain space (or the text's start), and is never followed by one. Must
//! never look at more than one code point at a time, as the reference does.

use super::lexicon::EmojiLexicon;
use super::python;

/// The text with every emoji in the lexicon replaced by its description,
/// stripped of surrounding whitespace (`text_no_emoji.strip()`).
pub(crate) fn replace_emojis(text: &str, emojis: &EmojiLexicon) -> String {
    let mut replaced = String::with_capacity(text.len());
    let mut after_space = true;
    for c in text.chars() {
        match emojis.description(c) {
            Some(description) => {
                if !after_space {
                    replaced.push(' ');
                }
                replaced.push_str(description);
                after_space = false;
            }
            None => {
                replaced.push(c);
                after_space = c == ' ';
            }
        }
    }
    python::strip(&replaced).to_owned()
}

#[cfg(test)]
mod tests {
    use super::super::tiny_lexicon::tiny_emojis;
    use super::*;

    #[test]
    fn emoji_is_replaced_by_its_description_with_a_space_before_only() {
        let emojis = tiny_emojis();
        assert_eq!(
            replace_emojis("ok😁", &emojis),
            "ok beaming face with smiling eyes"
        );
        assert_eq!(
            replace_emojis("ok 😁!", &emojis),
            "ok beaming face with smiling eyes!"
        );
        assert_eq!(
            replace_emojis("😁😡", &emojis),
            "beaming face with smiling eyes pouting face"
        );
        // A tab is not the plain space the rule looks for.
        assert_eq!(
            replace_emojis("a\t😁", &emojis),
            "a\t beaming face with smiling eyes"
        );
    }

    #[test]
    fn unknown_characters_and_sequences_are_kept() {
        let emojis = tiny_emojis();
        assert_eq!(replace_emojis("  merci ✈  ", &emojis), "merci ✈");
    }
}
