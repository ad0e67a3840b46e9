//! The analyser, `SentimentIntensityAnalyzer`: the loaded lexicons and
//! `polarity_scores`, which runs the steps in the reference's order. Owns
//! loading (from the folder `scripts/intel_data.sh` fills, from two files,
//! or from their contents); must never fall back to a lexicon of its own
//! when the files are missing, only say how to fetch them.

use std::path::Path;

use super::contrast::apply_but_rule;
use super::emoji::replace_emojis;
use super::error::LexiconError;
use super::lexicon::{self, EmojiLexicon, Lexicon, EMOJI_LEXICON_FILE, VADER_LEXICON_FILE};
use super::score::{score_valences, PolarityScores};
use super::tokens::SentiText;
use super::valence::token_valences;

/// VADER with its lexicons loaded (some 8,700 entries: load once, share
/// by reference or in an `Arc`; `polarity_scores` takes `&self`).
#[derive(Debug, Clone)]
pub struct Vader {
    lexicon: Lexicon,
    emojis: EmojiLexicon,
}

impl Vader {
    /// Loads `vader_lexicon.txt` and `emoji_utf8_lexicon.txt` from `dir`
    /// (in this repository, [`super::LEXICON_DIR_IN_REPOSITORY`]).
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, LexiconError> {
        let dir = dir.as_ref();
        Self::from_files(&dir.join(VADER_LEXICON_FILE), &dir.join(EMOJI_LEXICON_FILE))
    }

    /// Loads the two lexicon files.
    pub fn from_files(vader_lexicon: &Path, emoji_lexicon: &Path) -> Result<Self, LexiconError> {
        let lexicon = Lexicon::parse(
            &lexicon::read(vader_lexicon)?,
            &vader_lexicon.display().to_string(),
        )?;
        let emojis = EmojiLexicon::parse(
            &lexicon::read(emoji_lexicon)?,
            &emoji_lexicon.display().to_string(),
        )?;
        Ok(Self { lexicon, emojis })
    }

    /// Builds the analyser from the two files' contents.
    pub fn from_texts(vader_lexicon: &str, emoji_lexicon: &str) -> Result<Self, LexiconError> {
        Ok(Self {
            lexicon: Lexicon::parse(vader_lexicon, VADER_LEXICON_FILE)?,
            emojis: EmojiLexicon::parse(emoji_lexicon, EMOJI_LEXICON_FILE)?,
        })
    }

    /// How many entries the word lexicon has (7,506 for vaderSentiment
    /// 3.3.2's: 7,520 lines, 14 words listed twice).
    pub fn lexicon_len(&self) -> usize {
        self.lexicon.len()
    }

    /// `polarity_scores(text)`: neg/neu/pos rounded to 3 decimals, compound
    /// to 4, exactly as vaderSentiment 3.3.2 gives them.
    pub fn polarity_scores(&self, text: &str) -> PolarityScores {
        let text = replace_emojis(text, &self.emojis);
        let tokens = SentiText::new(&text);
        let valences = apply_but_rule(&tokens.lower, token_valences(&tokens, &self.lexicon));
        score_valences(&valences, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tiny_lexicon::tiny_vader;
    use super::*;

    #[test]
    fn missing_lexicon_folder_names_the_file_and_the_fetch_command() {
        let err = Vader::from_dir("/nonexistent/intel/vader").unwrap_err();
        assert!(matches!(err, LexiconError::Missing { .. }));
        let message = err.to_string();
        assert!(
            message.contains("/nonexistent/intel/vader/vader_lexicon.txt"),
            "{message}"
        );
        assert!(message.contains("scripts/intel_data.sh"), "{message}");
    }

    #[test]
    fn emoji_description_words_are_scored() {
        // "😁" becomes "beaming face with smiling eyes": "smiling" (2.0) is
        // a lexicon word, the four others neutral.
        let vader = tiny_vader();
        let scores = vader.polarity_scores("😁");
        let pos_sum = 2.0 + 1.0;
        assert_eq!(
            scores.pos,
            crate::sentiment::python::round(pos_sum / (pos_sum + 4.0), 3)
        );
        assert_eq!(
            scores,
            vader.polarity_scores("beaming face with smiling eyes")
        );
    }

    #[test]
    fn empty_and_blank_texts_score_zero() {
        let vader = tiny_vader();
        let zero = PolarityScores {
            neg: 0.0,
            neu: 0.0,
            pos: 0.0,
            compound: 0.0,
        };
        assert_eq!(vader.polarity_scores(""), zero);
        assert_eq!(vader.polarity_scores(" \t\u{a0}\n"), zero);
    }

    #[test]
    fn neutral_words_dilute_pos_and_neg() {
        // "I love it": three tokens, "I" included (vader_sentiment 0.1.1
        // drops it and gives other shares).
        let scores = tiny_vader().polarity_scores("I love it");
        let pos_sum = 3.2 + 1.0;
        assert_eq!(
            scores.pos,
            crate::sentiment::python::round(pos_sum / (pos_sum + 2.0), 3)
        );
        assert_eq!(
            scores.neu,
            crate::sentiment::python::round(2.0 / (pos_sum + 2.0), 3)
        );
    }

    #[test]
    fn but_rule_applies_to_whole_texts() {
        let vader = tiny_vader();
        let mixed = vader.polarity_scores("The food is good but the service is bad");
        let sum = 0.0 + 1.9 * 0.5 + -2.5 * 1.5;
        let compound = sum / (sum * sum + 15.0_f64).sqrt();
        assert_eq!(mixed.compound, crate::sentiment::python::round(compound, 4));
    }
}
