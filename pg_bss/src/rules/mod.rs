//! The rules an event must keep, in one place: each rule's name (as stored in
//! `bss.dead_letters.reasons` and returned by `bss.validate_event`), its
//! SQLSTATE and its hint; the one problem type every path reports; and how a
//! path's problems become the error an append raises. `event.rs` checks an
//! event given as JSON, `arguments.rs` one given as `append_event`'s
//! arguments; CloudEvents are checked by `cloudevents.rs` with these rules.
//! This module decides nothing about storing: it never touches a table.

pub mod arguments;
pub mod event;

use serde_json::{json, Value};

use crate::error::{BssError, SqlState};

/// A rule an event can break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// An event is a JSON object.
    Shape,
    /// Only the attributes of `event::ALLOWED`.
    Attribute,
    /// `type` is a non-empty string.
    Type,
    /// `data` is present (or, as an argument, not NULL).
    Data,
    /// `metadata` is an object.
    Metadata,
    /// `event_id` is a UUID, once per batch.
    EventId,
    /// `source` is a non-empty string.
    Source,
    /// `subject` is a string.
    Subject,
    /// `time` is an RFC 3339 timestamp.
    Time,
    /// `data` and `metadata` within `bss.max_data_bytes`.
    Size,
    /// `data` matches its type's registered JSON Schema.
    Schema,
    /// `events` is a non-empty array of at most `bss.max_batch_events`.
    Batch,
    /// The CloudEvents 1.0.2 rules of structured mode.
    CloudEvents,
    /// A CloudEvent's stream (partitionkey or subject) is a valid stream id.
    CloudEventsStream,
    /// A CloudEvent's data within `bss.max_data_bytes`.
    CloudEventsSize,
}

/// Where the event came from: the same rule is explained in the caller's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// `append_event`'s arguments.
    Arguments,
    /// An element of `append_events`' array (also what `validate_event` checks).
    Element,
    /// A CloudEvent of `append_cloudevents`.
    CloudEvent,
}

const SIZE_HINT: &str =
    "Keep large documents outside the event and reference them, or raise bss.max_data_bytes.";
const SCHEMA_HINT: &str = "Fix the producer, or register the type's new schema with bss.register_schema. With append_events(..., on_invalid => 'dead_letter') valid events are stored and invalid ones kept in bss.dead_letters. Nothing was stored.";
const ELEMENT_HINT: &str = "Each event is an object {type, data, metadata?, event_id?, source?, subject?, time?}. Nothing was stored.";
const CLOUDEVENT_HINT: &str = "A CloudEvents 1.0.2 JSON event needs string attributes id, source, type and specversion \"1.0\"; \
     the stream comes from the partitionkey extension or subject. Nothing was stored.";

impl Rule {
    /// The rule's name, as users see it (`rule` of validate_event and dead letters).
    pub const fn name(self) -> &'static str {
        match self {
            Rule::Shape => "shape",
            Rule::Attribute => "attribute",
            Rule::Type => "type",
            Rule::Data => "data",
            Rule::Metadata => "metadata",
            Rule::EventId => "event_id",
            Rule::Source => "source",
            Rule::Subject => "subject",
            Rule::Time => "time",
            Rule::Size => "size",
            Rule::Schema => "schema",
            Rule::Batch => "batch",
            // One name for users: the CloudEvents rules of append_cloudevents;
            // the SQLSTATE still says which limit was broken.
            Rule::CloudEvents | Rule::CloudEventsStream | Rule::CloudEventsSize => "cloudevents",
        }
    }

    pub const fn sql_state(self) -> SqlState {
        match self {
            Rule::Shape
            | Rule::Attribute
            | Rule::Type
            | Rule::Data
            | Rule::Metadata
            | Rule::EventId
            | Rule::Source
            | Rule::Subject
            | Rule::Time => SqlState::InvalidEvent,
            Rule::Size | Rule::CloudEventsSize => SqlState::EventTooLarge,
            Rule::Schema => SqlState::SchemaViolation,
            Rule::Batch => SqlState::InvalidBatch,
            Rule::CloudEvents => SqlState::InvalidCloudEvent,
            Rule::CloudEventsStream => SqlState::InvalidStreamId,
        }
    }

    /// What to do about it, in the terms of the path the event came by.
    pub const fn hint(self, path: Path) -> &'static str {
        match (path, self) {
            (_, Rule::Size | Rule::CloudEventsSize) => SIZE_HINT,
            (Path::CloudEvent, Rule::Schema) => {
                "Fix the producer, or register the type's new schema with bss.register_schema. Nothing was stored."
            }
            (_, Rule::Schema) => SCHEMA_HINT,
            (_, Rule::Batch) => {
                "Pass a JSON array of 1 to bss.max_batch_events objects: [{\"type\": \"...\", \"data\": {...}}, ...]."
            }
            (Path::Arguments, Rule::Type) => {
                "Name what happened, e.g. 'usage.recorded' or 'payment.received'."
            }
            (Path::Arguments, Rule::Data) => {
                "Pass a JSON value; use '{}' when the event carries nothing."
            }
            (Path::Arguments, Rule::Metadata) => {
                "Pass metadata as an object, e.g. '{\"correlation_id\": \"...\"}'."
            }
            (Path::Arguments, Rule::Source) => {
                "Pass a URI-reference naming the producer, e.g. '/billing', or leave it NULL for bss.default_source."
            }
            (_, Rule::CloudEvents | Rule::CloudEventsStream) => CLOUDEVENT_HINT,
            _ => ELEMENT_HINT,
        }
    }
}

/// One rule one event breaks. `index` is 0-based, as in `events[index]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub index: Option<usize>,
    pub rule: Rule,
    pub message: String,
    /// More than the rule's own detail and hint, when the check knows more
    /// (a stream id's checks each have their own).
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl Problem {
    pub fn new(index: Option<usize>, rule: Rule, message: impl Into<String>) -> Self {
        Problem {
            index,
            rule,
            message: message.into(),
            detail: None,
            hint: None,
        }
    }
}

/// Rule and message of each problem, as `bss.validate_event` and
/// `bss.dead_letters.reasons` show them.
pub fn reasons(problems: &[Problem]) -> Value {
    Value::Array(
        problems
            .iter()
            .map(|p| json!({"rule": p.rule.name(), "message": p.message}))
            .collect(),
    )
}

/// The error an append raises for an event's problems (at least one): the
/// first one's SQLSTATE, message and hint; the others named in DETAIL.
pub fn rejection(stream_id: &str, path: Path, mut problems: Vec<Problem>) -> BssError {
    if problems.is_empty() {
        problems.push(Problem::new(None, Rule::Shape, "the event was refused"));
    }
    let others: Vec<String> = problems[1..]
        .iter()
        .map(|p| format!("{} ({})", p.rule.name(), p.message))
        .collect();
    let first = problems.swap_remove(0);
    let rule = first.rule;
    let message = match (path, first.index, rule) {
        (Path::Element, Some(i), _) => {
            format!(
                "invalid event events[{i}] for stream \"{stream_id}\": {}",
                first.message
            )
        }
        (Path::Element, None, Rule::Batch) => {
            format!(
                "invalid batch for stream \"{stream_id}\": {}",
                first.message
            )
        }
        (Path::Element, None, _) | (Path::Arguments, _, Rule::Schema) => {
            format!(
                "invalid event for stream \"{stream_id}\": {}",
                first.message
            )
        }
        // These messages already name the stream or the CloudEvent.
        (Path::Arguments | Path::CloudEvent, _, _) => first.message,
    };
    let detail = match (path, rule) {
        (_, _) if first.detail.is_some() => first.detail,
        (Path::Element, _) | (_, Rule::Schema) => Some(format!("rule: {}", rule.name())),
        _ => None,
    };
    let detail = match (detail, others.is_empty()) {
        (detail, true) => detail,
        (Some(d), false) => Some(format!("{d}; also broken: {}", others.join("; "))),
        (None, false) => Some(format!("also broken: {}", others.join("; "))),
    };
    let hint = first.hint.unwrap_or_else(|| rule.hint(path).to_owned());
    let err = BssError::new(rule.sql_state(), message).hint(hint);
    match detail {
        Some(d) => err.detail(d),
        None => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Rule; 15] = [
        Rule::Shape,
        Rule::Attribute,
        Rule::Type,
        Rule::Data,
        Rule::Metadata,
        Rule::EventId,
        Rule::Source,
        Rule::Subject,
        Rule::Time,
        Rule::Size,
        Rule::Schema,
        Rule::Batch,
        Rule::CloudEvents,
        Rule::CloudEventsStream,
        Rule::CloudEventsSize,
    ];

    #[test]
    fn rule_names_are_those_users_store_and_query() {
        let names: Vec<&str> = ALL.iter().map(|r| r.name()).collect();
        assert_eq!(
            names,
            [
                "shape",
                "attribute",
                "type",
                "data",
                "metadata",
                "event_id",
                "source",
                "subject",
                "time",
                "size",
                "schema",
                "batch",
                "cloudevents",
                "cloudevents",
                "cloudevents"
            ]
        );
    }

    #[test]
    fn an_element_error_names_index_rule_and_the_other_broken_rules() {
        let err = rejection(
            "s-1",
            Path::Element,
            vec![
                Problem::new(Some(2), Rule::Type, "type is required"),
                Problem::new(Some(2), Rule::Time, "time must be RFC 3339"),
            ],
        );
        assert_eq!(err.state, SqlState::InvalidEvent);
        assert_eq!(
            err.message,
            "invalid event events[2] for stream \"s-1\": type is required"
        );
        assert_eq!(
            err.detail.as_deref(),
            Some("rule: type; also broken: time (time must be RFC 3339)")
        );
        assert_eq!(err.hint.as_deref(), Some(ELEMENT_HINT));
    }

    #[test]
    fn each_rule_raises_its_own_sqlstate() {
        for rule in ALL {
            let err = rejection("s-1", Path::Element, vec![Problem::new(None, rule, "x")]);
            assert_eq!(err.state, rule.sql_state());
        }
        assert_eq!(Rule::Size.sql_state(), SqlState::EventTooLarge);
        assert_eq!(Rule::Schema.sql_state(), SqlState::SchemaViolation);
        assert_eq!(Rule::CloudEvents.sql_state(), SqlState::InvalidCloudEvent);
    }
}
