//! VADER sentiment: a port of vaderSentiment 3.3.2's
//! `SentimentIntensityAnalyzer.polarity_scores` (C.J. Hutto, MIT) that gives
//! the reference's scores exactly, quirks included. Owns the rules and the
//! fixed word lists of that release; the two lexicons are data, loaded at run
//! time from the files `scripts/intel_data.sh` fetches.
//!
//! Must never "fix" the reference: a behaviour that looks wrong (the "but"
//! rule scaling the first equal value, an ALL-CAPS "NO" before a lexicon
//! word turning negative) is kept, because scores are only comparable with other VADER users' when
//! they are the same numbers. The parity test
//! (`tests/sentiment_parity`) runs the Python reference to prove it.
//!
//! The pipeline, one file per step, in the reference's order:
//! `emoji` (emojis to words) → `tokens` (words, caps differential) →
//! `valence` (each word's valence, with `negation` and `idioms`) →
//! `contrast` (the "but" rule) → `score` (sums, punctuation, rounding);
//! `python` mirrors the bits of Python's `str` they rely on.
//!
//! ```no_run
//! use bss_intel::sentiment::{Vader, LEXICON_DIR_IN_REPOSITORY};
//!
//! let vader = Vader::from_dir(LEXICON_DIR_IN_REPOSITORY)?;
//! let scores = vader.polarity_scores("My bill is WRONG again!!");
//! assert!(scores.compound < 0.0);
//! # Ok::<(), bss_intel::sentiment::LexiconError>(())
//! ```

mod analyzer;
mod contrast;
mod emoji;
mod error;
mod idioms;
mod lexicon;
mod negation;
mod python;
mod score;
#[cfg(test)]
mod tiny_lexicon;
mod tokens;
mod valence;
mod vocabulary;

pub use analyzer::Vader;
pub use error::LexiconError;
pub use lexicon::{EMOJI_LEXICON_FILE, LEXICON_DIR_IN_REPOSITORY, VADER_LEXICON_FILE};
pub use score::PolarityScores;
