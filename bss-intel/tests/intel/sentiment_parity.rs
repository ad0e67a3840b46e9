//! Parity of bss-intel's VADER with vaderSentiment 3.3.2 itself. Texts are
//! scored by the Python reference (`target/py`, installed by
//! `scripts/intel_data.sh`) and by the port, and all four scores must be the
//! same double, bit for bit:
//! - every sentence of the files in sentiment/ (VADER's own README and
//!   `__main__` examples, the golden ones of docs/intelligence-groundwork.md,
//!   support tickets) and a few edge cases;
//! - 5,000 sentences generated from the lexicons and the rules' words
//!   (a fixed seed, so the same ones each run);
//! - every character Python or Rust calls cased or whitespace, in sentences
//!   whose scores depend on it (ALL-CAPS emphasis, word splitting).
//!
//! The golden scores are also checked against the port alone.
//!
//! Needs the lexicons in target/intel/vader. Without them the tests say so
//! and pass, unless BSS_INTEL_REQUIRE_DATA=1, when they fail.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::data::{self, report};
use bss_intel::sentiment::{PolarityScores, Vader, LEXICON_DIR_IN_REPOSITORY};

const VADER_EXAMPLES: &str = include_str!("sentiment/vader_examples.txt");
const GOLDEN: &str = include_str!("sentiment/golden.tsv");
const SUPPORT_TICKETS: &str = include_str!("sentiment/support_tickets.txt");

/// Texts a line-per-sentence file cannot hold, or that probe the edges of
/// Python's `str` semantics.
const EDGE_CASES: &[&str] = &[
    "",
    " ",
    "!!!",
    "???",
    "?",
    ":)",
    ":-D :(",
    "I",
    "😁",
    "🇫🇷",
    "\tgood\t",
    "good\r",
    "good\u{1c}bad",
    "GOOD\u{a0}day",
    "good\u{200b}bad",
    "good\u{3000}GREAT\u{2028}day",
    "«Excellent» service!",
    "ÉNORME problème, merci",
    "ǅ GOOD news",
    "ΟΔΟΣ good",
    "ʕ•ᴥ•ʔ thanks",
    "good😁",
    "good 😁😁",
    "NO good",
    "no no good",
    "very least good",
    "we had this good",
    "this is thebomb bomb",
];

/// The Python reference: scores every line of stdin, one line of four
/// reprs out per text.
const REFERENCE_SCRIPT: &str = r#"
import importlib.metadata, sys
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
version = importlib.metadata.version("vaderSentiment")
assert version == "3.3.2", "vaderSentiment " + version + " is installed, not 3.3.2"
analyzer = SentimentIntensityAnalyzer()
out = []
for text in sys.stdin.buffer.read().decode("utf-8").split("\n"):
    s = analyzer.polarity_scores(text)
    out.append("\t".join(repr(s[k]) for k in ("neg", "neu", "pos", "compound")))
sys.stdout.write("\n".join(out) + "\n")
"#;

/// The loaded lexicons, or None (after saying so) when they are not
/// fetched and BSS_INTEL_REQUIRE_DATA is not 1.
fn vader_or_skip(test: &str) -> Option<Vader> {
    let dir = data::dir_or_skip(
        test,
        LEXICON_DIR_IN_REPOSITORY,
        "vaderSentiment 3.3.2's lexicons",
    )?;
    Some(Vader::from_dir(&dir).unwrap_or_else(|e| panic!("{test}: {e}")))
}

fn lines(file: &str) -> impl Iterator<Item = &str> {
    file.split('\n').filter(|line| !line.is_empty())
}

fn golden() -> Vec<(&'static str, PolarityScores)> {
    lines(GOLDEN)
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let number = |k: usize| -> f64 {
                fields[k]
                    .parse()
                    .unwrap_or_else(|e| panic!("golden.tsv: {line:?}: {e}"))
            };
            assert_eq!(fields.len(), 5, "golden.tsv: {line:?}");
            let scores = PolarityScores {
                neg: number(1),
                neu: number(2),
                pos: number(3),
                compound: number(4),
            };
            (fields[0], scores)
        })
        .collect()
}

/// The reference's scores of `texts`, in order.
fn reference_scores(texts: &[&str]) -> Vec<PolarityScores> {
    let stdout = python_output(REFERENCE_SCRIPT, &texts.join("\n"));
    let scores: Vec<PolarityScores> = stdout
        .lines()
        .map(|line| {
            let v: Vec<f64> = line
                .split('\t')
                .map(|x| x.parse().unwrap_or_else(|e| panic!("{line:?}: {e}")))
                .collect();
            assert_eq!(v.len(), 4, "reference line {line:?}");
            PolarityScores {
                neg: v[0],
                neu: v[1],
                pos: v[2],
                compound: v[3],
            }
        })
        .collect();
    assert_eq!(scores.len(), texts.len(), "one reference line per text");
    scores
}

/// Python's own view of the characters whose semantics the port mirrors:
/// its Unicode version, then the cased code points (`islower`, `isupper` or
/// `istitle`), then the whitespace ones (`isspace`).
const CHARACTER_CLASSES_SCRIPT: &str = r#"
import sys, unicodedata
print(unicodedata.unidata_version)
chars = [chr(c) for c in range(0x110000)]
print(" ".join(str(ord(c)) for c in chars if c.islower() or c.isupper() or c.istitle()))
print(" ".join(str(ord(c)) for c in chars if c.isspace()))
"#;

fn python_output(script: &str, input: &str) -> String {
    let python = data::repository_root().join("target/py/bin/python");
    let mut child = Command::new(&python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e} (HINT: scripts/intel_data.sh installs the reference)",
                python.display()
            )
        });
    let input = input.to_owned();
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("python runs");
    writer
        .join()
        .expect("writer thread")
        .expect("python reads its input");
    assert!(
        output.status.success(),
        "the Python reference failed ({}): {} (HINT: run scripts/intel_data.sh)",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("python writes UTF-8")
}

fn bits(s: &PolarityScores) -> [u64; 4] {
    [s.neg, s.neu, s.pos, s.compound].map(f64::to_bits)
}

#[test]
fn scores_equal_the_python_reference_for_every_sentence() {
    let Some(vader) = vader_or_skip("sentiment parity") else {
        return;
    };
    let groups: [(&str, Vec<&str>); 4] = [
        ("VADER's examples", lines(VADER_EXAMPLES).collect()),
        (
            "golden",
            golden().into_iter().map(|(text, _)| text).collect(),
        ),
        ("support tickets", lines(SUPPORT_TICKETS).collect()),
        ("edge cases", EDGE_CASES.to_vec()),
    ];
    let texts: Vec<&str> = groups.iter().flat_map(|(_, t)| t.iter().copied()).collect();
    let mismatches = mismatches(&vader, &texts);
    let counts: Vec<String> = groups
        .iter()
        .map(|(name, t)| format!("{} {name}", t.len()))
        .collect();
    report(&format!(
        "sentiment parity: {} sentences checked ({}), {} equal to vaderSentiment 3.3.2 in all four scores",
        texts.len(),
        counts.join(", "),
        texts.len() - mismatches.len()
    ));
    assert!(
        mismatches.is_empty(),
        "{} of {} sentences differ from the reference:\n{}",
        mismatches.len(),
        texts.len(),
        mismatches.join("\n")
    );
    assert!(
        lines(SUPPORT_TICKETS).count() >= 150,
        "at least 150 support tickets"
    );
}

#[test]
fn golden_scores_of_the_groundwork_doc() {
    let Some(vader) = vader_or_skip("golden scores") else {
        return;
    };
    // vaderSentiment 3.3.2's lexicon: 7,520 lines, 14 words listed twice.
    assert_eq!(vader.lexicon_len(), 7506);
    for (text, expected) in golden() {
        assert_eq!(vader.polarity_scores(text), expected, "{text:?}");
    }
}

/// Mismatches of the port against the reference over `texts`, each told
/// with both sides' scores.
fn mismatches<T: AsRef<str>>(vader: &Vader, texts: &[T]) -> Vec<String> {
    let texts: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
    assert!(
        texts.iter().all(|t| !t.contains('\n')),
        "a text must not hold a newline (one per line to Python)"
    );
    let expected = reference_scores(&texts);
    texts
        .iter()
        .zip(&expected)
        .filter_map(|(text, reference)| {
            let ported = vader.polarity_scores(text);
            (bits(&ported) != bits(reference))
                .then(|| format!("  {text:?}\n    python {reference:?}\n    rust   {ported:?}"))
        })
        .collect()
}

#[test]
fn every_cased_and_whitespace_character_is_treated_as_python_does() {
    let Some(vader) = vader_or_skip("character classes") else {
        return;
    };
    let out = python_output(CHARACTER_CLASSES_SCRIPT, "");
    let mut out = out.lines();
    let unicode = out.next().unwrap_or_default();
    let code_points = |line: Option<&str>| -> Vec<char> {
        line.unwrap_or_default()
            .split(' ')
            .filter_map(|n| n.parse().ok().and_then(char::from_u32))
            .collect()
    };
    let mut cased = code_points(out.next());
    let mut spaces = code_points(out.next());
    // And the ones Rust's own tables would call cased or whitespace.
    let all = (0..=0x10ffff).filter_map(char::from_u32);
    cased.extend(all.clone().filter(|c| c.is_lowercase() || c.is_uppercase()));
    spaces.extend(all.filter(|c| c.is_whitespace()));
    // A newline separates the texts sent to Python; it splits words there
    // as every other whitespace does.
    spaces.retain(|&c| c != '\n');
    cased.sort_unstable();
    cased.dedup();
    spaces.sort_unstable();
    spaces.dedup();

    // "HI{c}" is ALL CAPS unless c is lowercase or titlecase, "{c}" only if
    // c is uppercase; "GOOD" gets the caps emphasis when the other token is
    // not ALL CAPS. "good{c}bad" is two words only if c is whitespace.
    let texts: Vec<String> = cased
        .iter()
        .flat_map(|c| [format!("GOOD HI{c}"), format!("GOOD {c}")])
        .chain(spaces.iter().map(|c| format!("good{c}bad")))
        .collect();
    let differ = mismatches(&vader, &texts);
    report(&format!(
        "character classes: {} cased and {} whitespace characters of Python (Unicode {unicode}) and Rust, \
         {} sentences, {} equal to the reference",
        cased.len(),
        spaces.len(),
        texts.len(),
        texts.len() - differ.len()
    ));
    assert!(
        differ.is_empty(),
        "{} sentences differ (the reference's Python has Unicode {unicode}; python.rs's case tables \
         assume Python 3.11's 14.0.0 and Rust's {:?}):\n{}",
        differ.len(),
        char::UNICODE_VERSION,
        differ.join("\n")
    );
}

/// The first field of every line: a lexicon file's words or emojis.
fn first_fields(text: &str) -> Vec<&str> {
    text.lines().filter_map(|l| l.split('\t').next()).collect()
}

/// xorshift64*: a fixed stream of choices, so the generated sentences are
/// the same on every run.
struct Choices(u64);

impl Choices {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

/// Words the rules look for: boosters, dampeners, negations, the "no",
/// "least", "but", "kind of", "never so" and "without doubt" rules' words,
/// and words of the special-case idioms.
const RULE_WORDS: &[&str] = &[
    "very",
    "extremely",
    "so",
    "really",
    "totally",
    "fucking",
    "more",
    "most",
    "quite",
    "barely",
    "hardly",
    "kinda",
    "sorta",
    "slightly",
    "somewhat",
    "little",
    "less",
    "almost",
    "just",
    "enough",
    "kind",
    "of",
    "sort",
    "not",
    "never",
    "isn't",
    "don't",
    "cant",
    "won't",
    "without",
    "nor",
    "none",
    "nothing",
    "despite",
    "rarely",
    "no",
    "or",
    "least",
    "at",
    "but",
    "this",
    "doubt",
    "the",
    "shit",
    "bomb",
    "bad",
    "ass",
    "badass",
    "yeah",
    "right",
    "kiss",
    "death",
    "to",
    "die",
    "for",
    "bus",
    "stop",
    "beating",
    "heart",
];

const FILLER_WORDS: &[&str] = &[
    "the", "a", "I", "it", "is", "was", "my", "bill", "router", "line", "service", "and", "you",
    "?", "!", "!!", "??", "????", ":)", ":(", "...",
];

#[test]
fn generated_sentences_equal_the_python_reference() {
    let Some(vader) = vader_or_skip("generated sentences") else {
        return;
    };
    let dir = data::repository_root().join(LEXICON_DIR_IN_REPOSITORY);
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect("lexicon readable");
    let (words, emojis) = (read("vader_lexicon.txt"), read("emoji_utf8_lexicon.txt"));
    let (lexicon_words, emoji_keys) = (first_fields(&words), first_fields(&emojis));
    let separators = [" ", " ", " ", " ", " ", " ", "  ", "\t", "\u{a0}", ""];
    let suffixes = ["!", "?", ",", ".", "!!!", "?!", ")", "'s"];

    let mut choices = Choices(0x5eed_0b55_1e7e_11a5);
    let texts: Vec<String> = (0..5000)
        .map(|_| {
            let len = 1 + choices.below(12);
            let mut text = String::new();
            for k in 0..len {
                let mut word = match choices.below(20) {
                    0..=6 => choices.pick(&lexicon_words).to_owned(),
                    7..=12 => choices.pick(RULE_WORDS).to_owned(),
                    13..=17 => choices.pick(FILLER_WORDS).to_owned(),
                    _ => choices.pick(&emoji_keys).to_owned(),
                };
                match choices.below(10) {
                    0 | 1 => word = word.to_uppercase(),
                    2 => word.push_str(choices.pick(&suffixes)),
                    _ => {}
                }
                text.push_str(&word);
                if k + 1 < len {
                    text.push_str(choices.pick(&separators));
                }
            }
            text
        })
        .collect();
    let differ = mismatches(&vader, &texts);
    report(&format!(
        "generated sentences: {} checked, {} equal to vaderSentiment 3.3.2",
        texts.len(),
        texts.len() - differ.len()
    ));
    assert!(
        differ.is_empty(),
        "{} of {} generated sentences differ from the reference:\n{}",
        differ.len(),
        texts.len(),
        differ.join("\n")
    );
}
