//! The two lexicons of vaderSentiment 3.3.2: words and emoticons with their
//! mean valence (`vader_lexicon.txt`), and emojis with their description
//! (`emoji_utf8_lexicon.txt`). Owns where they live and reading them as the
//! reference does: `text.rstrip('\n').split('\n')`, each line stripped of
//! whitespace (so CRLF files read as LF ones), split on tabs, the first two
//! fields kept, a later duplicate replacing an earlier one. Must never embed
//! or download them: `scripts/intel_data.sh` fetches and verifies them.

use std::collections::HashMap;
use std::path::Path;

use super::error::LexiconError;
use super::python;

/// File name of the word lexicon, as in the vaderSentiment wheel.
pub const VADER_LEXICON_FILE: &str = "vader_lexicon.txt";
/// File name of the emoji lexicon, as in the vaderSentiment wheel.
pub const EMOJI_LEXICON_FILE: &str = "emoji_utf8_lexicon.txt";
/// Where `scripts/intel_data.sh` puts both, relative to the repository root.
pub const LEXICON_DIR_IN_REPOSITORY: &str = "target/intel/vader";

/// Words (as written in the file, so only lowercase entries can ever match
/// a lowercased token) and their mean valence.
#[derive(Debug, Clone)]
pub(crate) struct Lexicon {
    valences: HashMap<String, f64>,
}

impl Lexicon {
    /// `make_lex_dict`: empty lines are skipped; every other line needs a
    /// word and a valence.
    pub(crate) fn parse(text: &str, file: &str) -> Result<Self, LexiconError> {
        let mut valences = HashMap::new();
        for (index, line) in reference_lines(text) {
            if line.is_empty() {
                continue;
            }
            let [word, valence] = first_two_fields(line, file, index)?;
            let valence =
                python::strip(valence)
                    .parse::<f64>()
                    .map_err(|e| LexiconError::Malformed {
                        file: file.to_owned(),
                        line: index + 1,
                        reason: format!("valence {valence:?} is not a number: {e}"),
                    })?;
            valences.insert(word.to_owned(), valence);
        }
        Ok(Self { valences })
    }

    /// The valence of a (lowercased) word, if it is in the lexicon.
    pub(crate) fn valence(&self, word: &str) -> Option<f64> {
        self.valences.get(word).copied()
    }

    pub(crate) fn contains(&self, word: &str) -> bool {
        self.valences.contains_key(word)
    }

    pub(crate) fn len(&self) -> usize {
        self.valences.len()
    }
}

/// Emojis and their description. Only one-code-point emojis are kept: the
/// reference looks the text up one code point at a time, so its entries of
/// several (flags, skin tones, ZWJ sequences) can never match.
#[derive(Debug, Clone)]
pub(crate) struct EmojiLexicon {
    descriptions: HashMap<char, String>,
}

impl EmojiLexicon {
    /// `make_emoji_dict`: every line needs an emoji and a description (the
    /// reference does not skip empty lines either).
    pub(crate) fn parse(text: &str, file: &str) -> Result<Self, LexiconError> {
        let mut descriptions = HashMap::new();
        for (index, line) in reference_lines(text) {
            let [emoji, description] = first_two_fields(line, file, index)?;
            let mut chars = emoji.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                descriptions.insert(c, description.to_owned());
            }
        }
        Ok(Self { descriptions })
    }

    pub(crate) fn description(&self, c: char) -> Option<&str> {
        self.descriptions.get(&c).map(String::as_str)
    }
}

/// The contents of a lexicon file, or an error naming it; a missing file is
/// told apart so that the error can say how to fetch it.
pub(crate) fn read(path: &Path) -> Result<String, LexiconError> {
    std::fs::read_to_string(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => LexiconError::Missing {
            path: path.to_owned(),
        },
        _ => LexiconError::Read {
            path: path.to_owned(),
            source,
        },
    })
}

/// `text.rstrip('\n').split('\n')`, numbered from 0.
fn reference_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.trim_end_matches('\n').split('\n').enumerate()
}

/// `line.strip().split('\t')[0:2]`, which must have two fields.
fn first_two_fields<'a>(
    line: &'a str,
    file: &str,
    index: usize,
) -> Result<[&'a str; 2], LexiconError> {
    let mut fields = python::strip(line).split('\t');
    match (fields.next(), fields.next()) {
        (Some(first), Some(second)) => Ok([first, second]),
        _ => Err(LexiconError::Malformed {
            file: file.to_owned(),
            line: index + 1,
            reason: "expected two tab-separated fields".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexicon_lines_with_crlf_and_extra_fields_are_read() {
        let lexicon = Lexicon::parse("good\t1.9\t0.9434\t[2, 1]\r\nbad\t-2.5\r\n\n", "t").unwrap();
        assert_eq!(lexicon.valence("good"), Some(1.9));
        assert_eq!(lexicon.valence("bad"), Some(-2.5));
        assert_eq!(lexicon.len(), 2);
    }

    #[test]
    fn later_duplicate_replaces_earlier_one() {
        // vader_lexicon.txt lists "ok" as 1.6 and then 1.2; Python keeps 1.2.
        let lexicon = Lexicon::parse("ok\t1.6\nok\t1.2\n", "t").unwrap();
        assert_eq!(lexicon.valence("ok"), Some(1.2));
    }

    #[test]
    fn empty_lexicon_lines_are_skipped_but_blank_ones_are_malformed() {
        assert!(Lexicon::parse("good\t1.9\n\nbad\t-2.5\n", "t").is_ok());
        let err = Lexicon::parse("good\t1.9\n \r\n", "vader_lexicon.txt").unwrap_err();
        assert_eq!(
            err.to_string(),
            "VADER lexicon vader_lexicon.txt, line 2: expected two tab-separated fields"
        );
    }

    #[test]
    fn valence_that_is_not_a_number_is_malformed() {
        let err = Lexicon::parse("good\tgreat\n", "t").unwrap_err();
        assert!(err
            .to_string()
            .contains("line 1: valence \"great\" is not a number"));
    }

    #[test]
    fn emoji_lexicon_keeps_one_code_point_emojis_only() {
        let emojis = EmojiLexicon::parse("😁\tbeaming face\r\n🇫🇷\tflag: France\r\n", "t").unwrap();
        assert_eq!(emojis.description('😁'), Some("beaming face"));
        assert_eq!(emojis.description('🇫'), None);
        assert!(EmojiLexicon::parse("😁\tbeaming face\n\n😀\tgrinning face\n", "t").is_err());
    }

    #[test]
    fn missing_file_error_names_the_file_and_the_fetch_command() {
        let err = read(Path::new("/nonexistent/vader_lexicon.txt")).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("/nonexistent/vader_lexicon.txt"),
            "{message}"
        );
        assert!(message.contains("scripts/intel_data.sh"), "{message}");
    }
}
