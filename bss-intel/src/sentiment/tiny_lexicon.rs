//! For the rules' unit tests: a lexicon of a few words with
//! vader_lexicon.txt's valences and a few emojis, written inline in the
//! files' format (CRLF, as the wheel's files), so no file is needed.

use super::emoji::replace_emojis;
use super::lexicon::{EmojiLexicon, Lexicon};
use super::tokens::SentiText;
use super::valence::token_valences;
use super::Vader;

const WORDS: &[(&str, f64)] = &[
    ("good", 1.9),
    ("great", 3.1),
    ("happy", 2.7),
    ("love", 3.2),
    ("smiling", 2.0),
    ("kind", 2.4),
    ("yeah", 1.2),
    ("kiss", 1.8),
    (":)", 2.0),
    ("bad", -2.5),
    ("ass", -2.5),
    ("bomb", -2.2),
    ("hate", -2.7),
    ("death", -2.9),
    ("doubt", -1.5),
    ("no", -1.2),
    ("sux", -1.5),
];

const EMOJIS: &str = "😁\tbeaming face with smiling eyes\r\n\
                      😡\tpouting face\r\n\
                      🔛\tON! arrow\r\n\
                      🇫🇷\tflag: France\r\n";

fn lexicon_text() -> String {
    WORDS
        .iter()
        .map(|(word, valence)| format!("{word}\t{valence}\t0.5\t[1, 2, 3]\r\n"))
        .collect()
}

pub(crate) fn tiny_emojis() -> EmojiLexicon {
    EmojiLexicon::parse(EMOJIS, "tiny").expect("tiny emoji lexicon parses")
}

pub(crate) fn tiny_vader() -> Vader {
    Vader::from_texts(&lexicon_text(), EMOJIS).expect("tiny lexicon parses")
}

/// Each token's valence before the "but" rule, with the tiny lexicon.
pub(crate) fn word_valences(text: &str) -> Vec<f64> {
    let lexicon = Lexicon::parse(&lexicon_text(), "tiny").expect("tiny lexicon parses");
    let text = replace_emojis(text, &tiny_emojis());
    token_valences(&SentiText::new(&text), &lexicon)
}
