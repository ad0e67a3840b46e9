//! Scoring `ask` on a labelled question set (bss-intel/data/ask_questions.tsv):
//! each line a question, the template that should answer it and the rows
//! it should answer with, or `-` for a question that must get "cannot
//! answer". Owns the file's format, what counts as right (the template and
//! every row, numbers compared as numbers) and the accuracy per expected
//! template and overall.
//!
//! Must never count an answer as right that differs in any row, nor a
//! "cannot answer" for a question with rows.

use serde::Serialize;
use serde_json::Value;

use super::template::{by_id, Template, TEMPLATES};

/// The template column of a question that must get "cannot answer".
pub const CANNOT_ANSWER: &str = "-";
/// Its label in the accuracy table.
pub const CANNOT_ANSWER_LABEL: &str = "cannot answer";

/// What a question should get.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    Rows {
        template: &'static Template,
        rows: Value,
    },
    CannotAnswer,
}

impl Expected {
    /// The template's id, or [`CANNOT_ANSWER_LABEL`].
    pub fn label(&self) -> &'static str {
        match self {
            Expected::Rows { template, .. } => template.id,
            Expected::CannotAnswer => CANNOT_ANSWER_LABEL,
        }
    }
}

/// One labelled question.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Its line in the file, from 1.
    pub line: usize,
    pub question: String,
    pub expected: Expected,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("line {line}: {reason}")]
pub struct CaseError {
    pub line: usize,
    pub reason: String,
}

/// The cases of a file: `question<TAB>template<TAB>rows as a JSON array`,
/// or `question<TAB>-`; blank lines and lines starting with `#` skipped.
pub fn parse_cases(text: &str) -> Result<Vec<Case>, CaseError> {
    let mut cases = Vec::new();
    for (k, line) in text.lines().enumerate() {
        let line_no = k + 1;
        let err = |reason: String| CaseError {
            line: line_no,
            reason,
        };
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split('\t');
        let question = fields.next().unwrap_or("").trim();
        let template = fields.next().map(str::trim).unwrap_or("");
        let rows = fields.next().map(str::trim);
        if question.is_empty() {
            return Err(err("no question".into()));
        }
        if fields.next().is_some() {
            return Err(err("more than three tab-separated fields".into()));
        }
        let expected = if template == CANNOT_ANSWER {
            if rows.is_some_and(|r| !r.is_empty()) {
                return Err(err("a question that cannot be answered has no rows".into()));
            }
            Expected::CannotAnswer
        } else {
            let Some(t) = by_id(template) else {
                let ids: Vec<&str> = TEMPLATES.iter().map(|t| t.id).collect();
                return Err(err(format!(
                    "{template:?} is not a template ({}) nor {CANNOT_ANSWER}",
                    ids.join(", ")
                )));
            };
            let rows: Value = serde_json::from_str(rows.unwrap_or(""))
                .map_err(|e| err(format!("the rows are not JSON: {e}")))?;
            if !rows.is_array() {
                return Err(err("the rows are not a JSON array".into()));
            }
            Expected::Rows { template: t, rows }
        };
        cases.push(Case {
            line: line_no,
            question: question.to_owned(),
            expected,
        });
    }
    Ok(cases)
}

/// What `ask` did with a question.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Rows {
        template: &'static str,
        rows: Value,
    },
    CannotAnswer {
        reason: String,
    },
    /// The query failed (its SQLSTATE and message).
    Failed {
        template: &'static str,
        error: String,
    },
}

impl Outcome {
    pub fn label(&self) -> &str {
        match self {
            Outcome::Rows { template, .. } | Outcome::Failed { template, .. } => template,
            Outcome::CannotAnswer { .. } => CANNOT_ANSWER_LABEL,
        }
    }
}

/// The expected template with exactly the expected rows, or a "cannot
/// answer" where one is expected.
pub fn is_right(expected: &Expected, outcome: &Outcome) -> bool {
    match (expected, outcome) {
        (Expected::CannotAnswer, Outcome::CannotAnswer { .. }) => true,
        (
            Expected::Rows { template, rows },
            Outcome::Rows {
                template: got,
                rows: got_rows,
            },
        ) => template.id == *got && same_json(rows, got_rows),
        _ => false,
    }
}

/// Equal JSON, numbers compared by value (`70`, `70.0` and `70.00` are
/// one number: PostgreSQL's numeric keeps its scale, a hand-written
/// answer need not).
pub fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// Right answers among the questions of one label.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Accuracy {
    pub label: String,
    pub questions: usize,
    pub right: usize,
    pub accuracy: f64,
}

impl Accuracy {
    fn of(label: &str, results: &[(&str, bool)]) -> Accuracy {
        let questions = results.len();
        let right = results.iter().filter(|(_, ok)| *ok).count();
        Accuracy {
            label: label.to_owned(),
            questions,
            right,
            accuracy: if questions == 0 {
                0.0
            } else {
                right as f64 / questions as f64
            },
        }
    }
}

/// The accuracy per expected label (the whitelist's order, "cannot
/// answer" last; labels without questions left out) and overall, from
/// (expected label, right) pairs.
pub fn accuracy(results: &[(&str, bool)]) -> (Vec<Accuracy>, Accuracy) {
    let labels = TEMPLATES
        .iter()
        .map(|t| t.id)
        .chain(std::iter::once(CANNOT_ANSWER_LABEL));
    let per_label = labels
        .filter_map(|label| {
            let mine: Vec<(&str, bool)> = results
                .iter()
                .filter(|(l, _)| *l == label)
                .copied()
                .collect();
            (!mine.is_empty()).then(|| Accuracy::of(label, &mine))
        })
        .collect();
    (per_label, Accuracy::of("all", results))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::OffsetDateTime;

    use super::super::extract::extract;
    use super::*;

    #[test]
    fn the_evaluation_set_is_written_apart_from_the_examples() {
        let cases = parse_cases(include_str!("../../data/ask_questions.tsv")).unwrap();
        assert!(cases.len() >= 60, "{} questions", cases.len());
        let cannot = cases
            .iter()
            .filter(|c| c.expected == Expected::CannotAnswer)
            .count();
        assert!(cannot >= 8, "{cannot} that cannot be answered");
        // Alike even once ids and periods are masked, as the matcher sees them.
        let masked = |q: &str| {
            let m = extract(q, OffsetDateTime::UNIX_EPOCH).masked.to_lowercase();
            m.trim_end_matches(['?', '.', '!']).trim().to_owned()
        };
        let examples: Vec<String> = TEMPLATES
            .iter()
            .flat_map(|t| t.examples.iter().map(|e| masked(e)))
            .collect();
        for c in &cases {
            assert!(
                !examples.contains(&masked(&c.question)),
                "line {} is an example: {}",
                c.line,
                c.question
            );
        }
    }

    #[test]
    fn a_file_of_questions_with_rows_and_refusals() {
        let text = "# question\ttemplate\trows\n\n\
                    how many payments failed\tcount_events\t[{\"type\": \"payment.failed\", \"events\": 3}]\n\
                    delete customer-42\t-\n";
        let cases = parse_cases(text).unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].line, 3);
        assert_eq!(cases[0].expected.label(), "count_events");
        assert_eq!(cases[1].expected, Expected::CannotAnswer);
    }

    #[test]
    fn a_bad_line_is_named() {
        let e = parse_cases("q\tno_such_template\t[]").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.reason.contains("not a template"));
        assert!(parse_cases("q\tcount_events\t{}").is_err());
        assert!(parse_cases("q\tcount_events\tnot json").is_err());
        assert!(parse_cases("q\t-\t[]").is_err());
        assert!(parse_cases("\tcount_events\t[]").is_err());
    }

    #[test]
    fn right_means_the_template_and_every_row() {
        let expected = Expected::Rows {
            template: by_id("count_events").unwrap(),
            rows: json!([{"events": 2}]),
        };
        let got = |template, rows| Outcome::Rows { template, rows };
        assert!(is_right(
            &expected,
            &got("count_events", json!([{"events": 2.0}]))
        ));
        assert!(!is_right(
            &expected,
            &got("count_events", json!([{"events": 3}]))
        ));
        assert!(!is_right(
            &expected,
            &got("list_events", json!([{"events": 2}]))
        ));
        assert!(!is_right(
            &expected,
            &got("count_events", json!([{"events": 2}, {"events": 2}]))
        ));
        assert!(!is_right(
            &expected,
            &got("count_events", json!([{"events": 2, "x": 1}]))
        ));
        let cannot = Outcome::CannotAnswer {
            reason: "no".into(),
        };
        assert!(!is_right(&expected, &cannot));
        assert!(is_right(&Expected::CannotAnswer, &cannot));
        assert!(!is_right(
            &Expected::CannotAnswer,
            &got("count_events", json!([]))
        ));
        let failed = Outcome::Failed {
            template: "count_events",
            error: "42501".into(),
        };
        assert!(!is_right(&expected, &failed));
    }

    #[test]
    fn numbers_are_compared_by_value() {
        assert!(same_json(
            &json!(70),
            &serde_json::from_str("70.00").unwrap()
        ));
        assert!(!same_json(&json!(70), &json!(70.01)));
        assert!(!same_json(&json!("70"), &json!(70)));
        assert!(same_json(
            &json!({"a": [1, null]}),
            &json!({"a": [1.0, null]})
        ));
    }

    #[test]
    fn accuracy_per_label_and_overall() {
        let results = [
            ("count_events", true),
            ("count_events", false),
            (CANNOT_ANSWER_LABEL, true),
            ("stream_state", true),
        ];
        let (per, all) = accuracy(&results);
        let labels: Vec<&str> = per.iter().map(|a| a.label.as_str()).collect();
        assert_eq!(
            labels,
            ["count_events", "stream_state", CANNOT_ANSWER_LABEL]
        );
        assert_eq!(
            (per[0].questions, per[0].right, per[0].accuracy),
            (2, 1, 0.5)
        );
        assert_eq!((all.questions, all.right, all.accuracy), (4, 3, 0.75));
    }
}
