//! Reading what a template needs out of a question, by rule, with no
//! model: the period (relative to a given `now`, UTC), a stream id, an
//! event type, a customer segment, a count ("top 5") and a store
//! statistic; and the question with its stream id and period masked, so
//! that "customer-42 yesterday" and "customer-7 on 24 November" read
//! alike to the embedding. Owns the words of a question (how it is cut
//! into tokens); each kind of entity is its own file.
//!
//! Must never guess: an entity is read only from words that say it, and a
//! question may name none. Deterministic: the same question and `now`
//! give the same entities.

mod limit;
mod period;
mod stream_id;
mod vocabulary;

use std::ops::Range;

use serde_json::{json, Value};
use time::OffsetDateTime;

pub use period::Period;
pub(in crate::ask) use stream_id::stream_id as stream_id_of;
pub use vocabulary::{SEGMENTS, STATS};

/// What a question names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entities {
    pub period: Option<Period>,
    pub stream: Option<String>,
    /// A CloudEvents type, e.g. `payment.failed`.
    pub event_type: Option<String>,
    /// One of [`SEGMENTS`].
    pub segment: Option<&'static str>,
    pub limit: Option<u32>,
    /// One of the `stat` names of [`STATS`] (`bss.stats`).
    pub stat: Option<&'static str>,
}

impl Entities {
    /// The entities found, as one JSON object (absent ones left out).
    pub fn to_json(&self) -> Value {
        let mut out = serde_json::Map::new();
        if let Some(p) = &self.period {
            out.insert("period".into(), p.to_json());
        }
        if let Some(s) = &self.stream {
            out.insert("stream".into(), json!(s));
        }
        if let Some(t) = &self.event_type {
            out.insert("event_type".into(), json!(t));
        }
        if let Some(s) = self.segment {
            out.insert("segment".into(), json!(s));
        }
        if let Some(n) = self.limit {
            out.insert("limit".into(), json!(n));
        }
        if let Some(s) = self.stat {
            out.insert("stat".into(), json!(s));
        }
        Value::Object(out)
    }
}

/// A question read: its entities and its text with them masked.
#[derive(Debug, Clone, PartialEq)]
pub struct Extraction {
    pub entities: Entities,
    /// The question with its stream id replaced by [`STREAM_MASK`] and its
    /// period (with its preposition) left out: every period reads alike,
    /// and a word in its place would break phrases such as "yesterday's
    /// usage".
    pub masked: String,
}

/// What a stream id becomes in the masked text, whatever its category: a
/// template is chosen by what is asked of a stream, not by which one.
pub const STREAM_MASK: &str = "the stream";

/// Reads `question` with periods relative to `now`.
pub fn extract(question: &str, now: OffsetDateTime) -> Extraction {
    let tokens = tokenize(question);
    let mut taken = vec![false; tokens.len()];
    let mut masks: Vec<(Range<usize>, String)> = Vec::new();
    let stream = stream_id::find(&tokens).map(|(id, at)| {
        taken[at] = true;
        masks.push((at..at + 1, STREAM_MASK.to_owned()));
        id
    });
    let period = period::find(&tokens, &taken, now).map(|(p, span)| {
        taken[span.clone()].iter_mut().for_each(|t| *t = true);
        masks.push((span, String::new()));
        p
    });
    let limit = limit::find(&tokens, &taken);
    let entities = Entities {
        period,
        stream,
        event_type: vocabulary::event_type(&tokens, &taken),
        segment: vocabulary::segment(&tokens, &taken),
        limit,
        stat: vocabulary::stat(&tokens, &taken),
    };
    Extraction {
        entities,
        masked: masked(question, &tokens, masks),
    }
}

/// One word of a question: lower-cased, without the punctuation around
/// it or a possessive `'s`, and where it is in the question (bytes).
#[derive(Debug, Clone, PartialEq)]
pub(in crate::ask) struct Token<'q> {
    pub word: String,
    pub raw: &'q str,
    pub start: usize,
    pub end: usize,
    /// Where the piece it was cut from ends: after a possessive `'s` or
    /// the punctuation trimmed from it (what masking replaces).
    pub piece_end: usize,
}

/// Characters that end a word; `-`, `.`, `:`, `_` and `/` do not (stream
/// ids, event types, dates).
const SEPARATORS: &[char] = &[
    ',', ';', '?', '!', '(', ')', '[', ']', '{', '}', '"', '“', '”', '«', '»', '`', '*', '=', '<',
    '>', '|',
];
/// Trimmed from either end of a word.
const TRIMMED: &[char] = &['.', ':', '\'', '’', '‘', '-', '/'];

pub(in crate::ask) fn tokenize(question: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut start = None;
    let ends = question
        .char_indices()
        .chain(std::iter::once((question.len(), ' ')));
    for (i, c) in ends {
        let separator = c.is_whitespace() || SEPARATORS.contains(&c);
        match (start, separator) {
            (None, false) => start = Some(i),
            (Some(s), true) => {
                if let Some(t) = token(question, s, i) {
                    out.push(t);
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

fn token(question: &str, start: usize, end: usize) -> Option<Token<'_>> {
    let piece = &question[start..end];
    let lead = piece.len() - piece.trim_start_matches(TRIMMED).len();
    let mut raw = piece[lead..].trim_end_matches(TRIMMED);
    for possessive in ["'s", "’s", "'S", "’S"] {
        if let Some(r) = raw.strip_suffix(possessive) {
            raw = r.trim_end_matches(TRIMMED);
        }
    }
    if raw.is_empty() {
        return None;
    }
    let start = start + lead;
    Some(Token {
        word: raw.to_lowercase(),
        raw,
        start,
        end: start + raw.len(),
        piece_end: end,
    })
}

/// A count written in digits (at most six) or as a word up to twenty.
pub(super) fn number(word: &str) -> Option<u32> {
    const WORDS: [&str; 20] = [
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
        "twenty",
    ];
    if !word.is_empty() && word.len() <= 6 && word.bytes().all(|b| b.is_ascii_digit()) {
        return word.parse().ok();
    }
    WORDS.iter().position(|w| *w == word).map(|i| i as u32 + 1)
}

/// `question` with each masked span of tokens replaced by its text.
fn masked(question: &str, tokens: &[Token<'_>], mut masks: Vec<(Range<usize>, String)>) -> String {
    masks.sort_by_key(|(span, _)| span.start);
    let mut out = String::with_capacity(question.len());
    let mut at = 0;
    for (span, text) in masks {
        let (from, to) = (tokens[span.start].start, tokens[span.end - 1].piece_end);
        if from < at {
            continue;
        }
        out.push_str(&question[at..from]);
        out.push_str(&text);
        at = to;
    }
    out.push_str(&question[at..]);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use time::format_description::well_known::Rfc3339;

    /// The evaluation's fixed moment: Wednesday 2026-11-25, noon UTC.
    pub fn now() -> OffsetDateTime {
        OffsetDateTime::parse("2026-11-25T12:00:00Z", &Rfc3339).unwrap()
    }

    #[test]
    fn words_lose_punctuation_and_possessives_but_keep_ids_and_types() {
        let words: Vec<String> =
            tokenize("What's customer-42's state? (payment.failed, 2026-11-24.)")
                .into_iter()
                .map(|t| t.word)
                .collect();
        assert_eq!(
            words,
            [
                "what",
                "customer-42",
                "state",
                "payment.failed",
                "2026-11-24"
            ]
        );
    }

    #[test]
    fn a_token_knows_where_it_is_in_the_question() {
        let q = "Show  Customer-42's history";
        let t = &tokenize(q)[1];
        assert_eq!((t.raw, &q[t.start..t.end]), ("Customer-42", "Customer-42"));
        assert_eq!(t.word, "customer-42");
    }

    #[test]
    fn numbers_in_digits_or_words() {
        assert_eq!(number("5"), Some(5));
        assert_eq!(number("twelve"), Some(12));
        assert_eq!(number("1234567"), None);
        assert_eq!(number("5th"), None);
        assert_eq!(number(""), None);
    }

    #[test]
    fn the_stream_and_the_period_are_masked_and_the_rest_kept() {
        let x = extract("How many payments failed yesterday for customer-42?", now());
        assert_eq!(x.masked, "How many payments failed for the stream?");
        let y = extract(
            "How many payments failed on 24 November for customer-7?",
            now(),
        );
        assert_eq!(x.masked, y.masked);
        let (p, q) = (x.entities.period.unwrap(), y.entities.period.unwrap());
        assert_eq!((p.from, p.to), (q.from, q.to));
        assert_eq!(y.entities.stream.as_deref(), Some("customer-7"));
        assert_eq!(y.entities.event_type.as_deref(), Some("payment.failed"));
    }

    #[test]
    fn a_masked_period_takes_its_possessive_with_it() {
        let x = extract("break down yesterday's usage by kind", now());
        assert_eq!(x.masked, "break down usage by kind");
        let y = extract("show customer-42's history", now());
        assert_eq!(y.masked, "show the stream history");
    }

    #[test]
    fn the_issues_example_is_read_whole() {
        let x = extract(
            "how many payments failed yesterday for business customers",
            now(),
        );
        let p = x.entities.period.as_ref().unwrap();
        assert_eq!(p.from_text(), "2026-11-24T00:00:00Z");
        assert_eq!(p.to_text(), "2026-11-25T00:00:00Z");
        assert_eq!(x.entities.event_type.as_deref(), Some("payment.failed"));
        assert_eq!(x.entities.segment, Some("business"));
        assert_eq!(x.entities.stream, None);
        assert_eq!(x.entities.limit, None);
    }

    #[test]
    fn a_period_number_is_not_a_limit_and_a_limit_is_not_a_period() {
        let x = extract("failed payments in the last 5 days", now());
        assert_eq!(x.entities.limit, None);
        assert!(x.entities.period.is_some());
        let y = extract("show the last 5 failed payments", now());
        assert_eq!(y.entities.limit, Some(5));
        assert_eq!(y.entities.period, None);
    }

    #[test]
    fn a_question_that_names_nothing_has_no_entities() {
        let x = extract("tell me a joke", now());
        assert_eq!(x.entities, Entities::default());
        assert_eq!(x.masked, "tell me a joke");
    }
}
