//! In-database tests of data quality (`cargo pgrx test`): registered JSON
//! Schemas, the rules of the README's Errors table with their messages,
//! dead letters and `bss.validate_event`. Each test runs in one transaction
//! that is rolled back.

#[pgrx::pg_schema]
mod tests {
    use crate::test_support::{one, outcome, outcome_with_detail};
    use pgrx::prelude::*;

    const USAGE_SCHEMA: &str = r#"{
        "type": "object",
        "required": ["msisdn", "kind", "charge"],
        "properties": {
            "msisdn": {"type": "string", "pattern": "^[0-9]{8,15}$"},
            "kind": {"enum": ["voice", "sms", "data"]},
            "bytes": {"type": "integer", "minimum": 0},
            "charge": {"type": "number", "minimum": 0},
            "started_at": {"type": "string", "format": "date-time"}
        }
    }"#;

    fn register_usage_schema() {
        Spi::run(&format!(
            "SELECT bss.register_schema('usage.recorded', '{USAGE_SCHEMA}')"
        ))
        .unwrap();
    }

    fn usage(data: &str) -> String {
        format!(r#"{{"type": "usage.recorded", "data": {data}}}"#)
    }

    const GOOD: &str =
        r#"{"msisdn": "31612345678", "kind": "data", "bytes": 1024, "charge": 0.25}"#;

    #[pg_test]
    fn an_append_whose_data_breaks_its_schema_is_rejected_naming_where() {
        register_usage_schema();
        assert_eq!(
            one::<i64>(&format!(
                "SELECT bss.append_event('usage-1', 'usage.recorded', '{GOOD}')"
            )),
            1
        );
        let got = outcome(
            r#"SELECT bss.append_event('usage-1', 'usage.recorded', '{"msisdn": "31612345678", "kind": "fax", "charge": -1}')"#,
        );
        assert!(got.starts_with("XB013 "), "{got}");
        assert!(got.contains("stream \"usage-1\""), "{got}");
        assert!(got.contains("schema of \"usage.recorded\""), "{got}");
        assert!(got.contains("at /kind"), "{got}");
        assert!(got.contains("at /charge"), "{got}");
        // A type without a schema is not checked.
        assert_eq!(
            one::<i64>(
                "SELECT bss.append_event('usage-1', 'usage.corrected', '{\"kind\": \"fax\"}')"
            ),
            2
        );
    }

    #[pg_test]
    fn a_rejected_batch_names_the_event_index_and_stores_nothing() {
        register_usage_schema();
        let batch = format!(
            "[{}, {}, {}]",
            usage(GOOD),
            usage(GOOD),
            usage(r#"{"msisdn": "call-me", "kind": "sms", "charge": 0.1}"#)
        );
        let got = outcome(&format!("SELECT bss.append_events('usage-2', '{batch}')"));
        assert!(got.starts_with("XB013 "), "{got}");
        assert!(got.contains("events[2]"), "{got}");
        assert!(got.contains("at /msisdn"), "{got}");
        assert_eq!(
            one::<i64>("SELECT count(*) FROM bss.events WHERE stream_id = 'usage-2'"),
            0
        );
        assert_eq!(one::<i64>("SELECT bss.stream_version('usage-2')"), 0);
    }

    #[pg_test]
    fn schema_formats_are_checked() {
        register_usage_schema();
        let got = outcome(
            r#"SELECT bss.append_event('usage-3', 'usage.recorded', '{"msisdn": "31612345678", "kind": "sms", "charge": 0, "started_at": "yesterday"}')"#,
        );
        assert!(got.starts_with("XB013 "), "{got}");
        assert!(got.contains("at /started_at"), "{got}");
    }

    #[pg_test]
    fn every_kind_of_invalid_event_gets_its_own_sqlstate_and_message() {
        register_usage_schema();
        Spi::run("SET LOCAL bss.max_data_bytes = 1024").unwrap();
        let big = "x".repeat(2000);
        let cases: Vec<(String, &str, &str)> = vec![
            (r#"[{"data": {}}]"#.into(), "XB003", "events[0]"),
            (r#"[{"type": " ", "data": {}}]"#.into(), "XB003", "type is required"),
            (r#"[{"type": "t"}]"#.into(), "XB003", "data is required"),
            (r#"[{"type": "t", "data": {}, "metadata": [1]}]"#.into(), "XB003", "metadata must be a JSON object"),
            (r#"[{"type": "t", "data": {}, "event_id": "42"}]"#.into(), "XB003", "event_id must be a UUID"),
            (r#"[{"type": "t", "data": {}, "time": "noon"}]"#.into(), "XB003", "RFC 3339"),
            (r#"[{"type": "t", "data": {}, "source": ""}]"#.into(), "XB003", "source must be a non-empty string"),
            (r#"[{"type": "t", "data": {}, "subject": 7}]"#.into(), "XB003", "subject must be a string"),
            (r#"[{"type": "t", "data": {}, "colour": "red"}]"#.into(), "XB003", "unknown attribute colour"),
            (r#"[{"type": "t", "data": {}}, 5]"#.into(), "XB003", "events[1] for stream \"bad-1\": an event must be a JSON object"),
            (format!(r#"[{{"type": "t", "data": {{"blob": "{big}"}}}}]"#), "XB005", "over bss.max_data_bytes"),
            ("[]".into(), "XB006", "empty array"),
            (r#"{"type": "t", "data": {}}"#.into(), "XB006", "must be a JSON array"),
            (
                format!("[{}]", usage(r#"{"kind": "data", "charge": 1}"#)),
                "XB013",
                "\"msisdn\" is a required property",
            ),
            (
                r#"[{"type": "t", "data": {}, "event_id": "01932c07-0000-7000-8000-000000000001"}, {"type": "t", "data": {}, "event_id": "01932c07-0000-7000-8000-000000000001"}]"#.into(),
                "XB003",
                "appears more than once",
            ),
        ];
        for (events, code, text) in cases {
            let got = outcome(&format!("SELECT bss.append_events('bad-1', '{events}')"));
            assert!(got.starts_with(&format!("{code} ")), "{events}: {got}");
            assert!(got.contains(text), "{events}: expected {text:?} in {got}");
        }
        let cloud: Vec<(&str, &str, &str)> = vec![
            (
                r#"{"id": "1", "source": "/s", "type": "t", "subject": "x-1"}"#,
                "XB004",
                "specversion is missing",
            ),
            (
                r#"{"specversion": "0.3", "id": "1", "source": "/s", "type": "t", "subject": "x-1"}"#,
                "XB004",
                "specversion must be \"1.0\"",
            ),
            (
                r#"{"specversion": "1.0", "source": "/s", "type": "t", "subject": "x-1"}"#,
                "XB004",
                "id is missing",
            ),
            (
                r#"{"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}"#,
                "XB004",
                "no stream",
            ),
            (
                r#"{"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "subject": "x-1", "time": "today"}"#,
                "XB004",
                "RFC 3339",
            ),
            (
                r#"{"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "subject": "x-1", "Bad_Name": 1}"#,
                "XB004",
                "Bad_Name",
            ),
            (
                r#"{"specversion": "1.0", "id": "1", "source": "/s", "type": "usage.recorded", "subject": "usage-9", "data": {"kind": "sms"}}"#,
                "XB013",
                "schema of \"usage.recorded\"",
            ),
        ];
        for (event, code, text) in cloud {
            let got = outcome(&format!("SELECT bss.append_cloudevents('{event}')"));
            assert!(got.starts_with(&format!("{code} ")), "{event}: {got}");
            assert!(got.contains(text), "{event}: expected {text:?} in {got}");
        }
        assert_eq!(one::<i64>("SELECT count(*) FROM bss.events"), 0);
        assert_eq!(one::<i64>("SELECT count(*) FROM bss.dead_letters"), 0);
    }

    #[pg_test]
    fn dead_letter_mode_stores_the_valid_events_and_keeps_every_invalid_one() {
        register_usage_schema();
        let batch = format!(
            r#"[{}, {{"data": {{}}}}, {}, {}, {}]"#,
            usage(GOOD),
            usage(r#"{"msisdn": "31612345678", "kind": "fax", "charge": 1}"#),
            usage(r#"{"msisdn": "31612345678", "kind": "voice", "charge": 2}"#),
            r#"{"type": "usage.recorded", "data": {"kind": "sms"}, "time": "noon", "event_id": "01932c07-0000-7000-8000-0000000000aa"}"#,
        );
        assert_eq!(
            one::<i64>(&format!(
                "SELECT bss.append_events('usage-4', '{batch}', on_invalid => 'dead_letter')"
            )),
            2
        );
        // The valid ones, in batch order, versions dense.
        assert_eq!(
            one::<String>("SELECT string_agg(stream_version || ':' || (data->>'kind'), ',' ORDER BY stream_version) FROM bss.events WHERE stream_id = 'usage-4'"),
            "1:data,2:voice"
        );
        assert_eq!(
            one::<String>("SELECT string_agg(batch_index::text, ',' ORDER BY batch_index) FROM bss.dead_letters WHERE stream_id = 'usage-4'"),
            "1,2,4"
        );
        assert_eq!(
            one::<String>("SELECT string_agg(r->>'rule', ',') FROM bss.dead_letters, jsonb_array_elements(reasons) r WHERE stream_id = 'usage-4' AND batch_index = 1"),
            "type"
        );
        assert_eq!(
            one::<String>("SELECT type || ' ' || (reasons->0->>'rule') || ' ' || (event->'data'->>'kind') FROM bss.dead_letters WHERE stream_id = 'usage-4' AND batch_index = 2"),
            "usage.recorded schema fax"
        );
        // The time rule is named; the schema is not checked until the rules pass.
        assert_eq!(
            one::<String>("SELECT event_id::text || ' ' || string_agg(r->>'rule', ',') FROM bss.dead_letters, jsonb_array_elements(reasons) r WHERE stream_id = 'usage-4' AND batch_index = 4 GROUP BY event_id"),
            "01932c07-0000-7000-8000-0000000000aa time"
        );
    }

    #[pg_test]
    fn a_retried_dead_letter_batch_stores_nothing_twice() {
        register_usage_schema();
        let batch = format!(
            r#"[{{"type": "usage.recorded", "data": {GOOD}, "event_id": "01932c07-0000-7000-8000-000000000001"}},
                {{"type": "usage.recorded", "data": {{"kind": "fax"}}, "event_id": "01932c07-0000-7000-8000-000000000002"}}]"#
        );
        let sql =
            format!("SELECT bss.append_events('usage-5', '{batch}', on_invalid => 'dead_letter')");
        assert_eq!(one::<i64>(&sql), 1);
        assert_eq!(one::<i64>(&sql), 1);
        assert_eq!(
            one::<i64>("SELECT count(*) FROM bss.events WHERE stream_id = 'usage-5'"),
            1
        );
        assert_eq!(
            one::<i64>("SELECT count(*) FROM bss.dead_letters WHERE stream_id = 'usage-5'"),
            1
        );
    }

    #[pg_test]
    fn a_batch_with_only_invalid_events_creates_no_stream() {
        let v = one::<i64>(
            r#"SELECT bss.append_events('usage-6', '[{"data": 1}, {"type": "t"}]', on_invalid => 'dead_letter')"#,
        );
        assert_eq!(v, 0);
        assert_eq!(
            one::<i64>("SELECT count(*) FROM bss.streams WHERE stream_id = 'usage-6'"),
            0
        );
        assert_eq!(
            one::<i64>("SELECT count(*) FROM bss.dead_letters WHERE stream_id = 'usage-6'"),
            2
        );
        // The expected version still holds against the stream as it is.
        let got = outcome(
            r#"SELECT bss.append_events('usage-6', '[{"data": 1}]', expected_version => 3, on_invalid => 'dead_letter')"#,
        );
        assert!(got.starts_with("XB001 "), "{got}");
    }

    #[pg_test]
    fn on_invalid_accepts_reject_and_dead_letter_only() {
        let got = outcome(
            r#"SELECT bss.append_events('usage-7', '[{"type": "t", "data": {}}]', on_invalid => 'skip')"#,
        );
        assert!(got.starts_with("XB009 "), "{got}");
        assert!(got.contains("'reject' or 'dead_letter'"), "{got}");
        assert_eq!(
            one::<i64>(
                r#"SELECT bss.append_events('usage-7', '[{"type": "t", "data": {}}]', on_invalid => 'reject')"#
            ),
            1
        );
    }

    #[pg_test]
    fn validate_event_lists_every_broken_rule_and_stores_nothing() {
        register_usage_schema();
        assert_eq!(
            one::<i64>(&format!(
                "SELECT count(*) FROM bss.validate_event('{}')",
                usage(GOOD)
            )),
            0
        );
        assert_eq!(
            one::<String>(
                r#"SELECT string_agg(rule, ',') FROM bss.validate_event('{"data": [], "time": "noon", "colour": 1}')"#
            ),
            "attribute,type,time"
        );
        let msg = one::<String>(&format!(
            "SELECT string_agg(rule || ': ' || message, ';') FROM bss.validate_event('{}')",
            usage(r#"{"msisdn": "x", "kind": "data", "charge": 1}"#)
        ));
        assert!(msg.starts_with("schema: "), "{msg}");
        assert!(msg.contains("at /msisdn"), "{msg}");
        // CloudEvents, by their specversion.
        assert_eq!(
            one::<String>(
                r#"SELECT rule || ' ' || message FROM bss.validate_event('{"specversion": "1.0", "id": "1", "type": "t", "subject": "x-1"}')"#
            ),
            "cloudevents invalid CloudEvent: required attribute source is missing"
        );
        assert_eq!(
            one::<String>(
                r#"SELECT rule FROM bss.validate_event('{"specversion": "1.0", "id": "1", "source": "/m", "type": "usage.recorded", "subject": "usage-1", "data": {}}')"#
            ),
            "schema"
        );
        assert_eq!(
            one::<String>("SELECT rule FROM bss.validate_event('[1]')"),
            "shape"
        );
        assert_eq!(one::<i64>("SELECT count(*) FROM bss.events"), 0);
    }

    #[pg_test]
    fn register_schema_refuses_a_broken_schema_and_null_removes_one() {
        let got = outcome(r#"SELECT bss.register_schema('usage.recorded', '{"type": "objekt"}')"#);
        assert!(got.starts_with("XB014 "), "{got}");
        assert!(got.contains("\"usage.recorded\""), "{got}");
        let got = outcome(r#"SELECT bss.register_schema('', '{}')"#);
        assert!(got.starts_with("XB014 "), "{got}");
        register_usage_schema();
        assert_eq!(one::<i64>("SELECT count(*) FROM bss.schemas"), 1);
        assert!(
            outcome(r#"SELECT bss.append_event('usage-8', 'usage.recorded', '{}')"#)
                .starts_with("XB013 ")
        );
        Spi::run("SELECT bss.register_schema('usage.recorded', NULL)").unwrap();
        assert_eq!(one::<i64>("SELECT count(*) FROM bss.schemas"), 0);
        assert_eq!(
            one::<i64>(r#"SELECT bss.append_event('usage-8', 'usage.recorded', '{}')"#),
            1
        );
    }

    #[pg_test]
    fn a_replaced_schema_applies_to_the_next_append() {
        Spi::run(r#"SELECT bss.register_schema('payment.received', '{"type": "object"}')"#)
            .unwrap();
        assert_eq!(
            one::<i64>(
                r#"SELECT bss.append_event('customer-1', 'payment.received', '{"amount": "10"}')"#
            ),
            1
        );
        Spi::run(r#"SELECT bss.register_schema('payment.received', '{"properties": {"amount": {"type": "number"}}}')"#).unwrap();
        let got = outcome(
            r#"SELECT bss.append_event('customer-1', 'payment.received', '{"amount": "10"}')"#,
        );
        assert!(got.starts_with("XB013 "), "{got}");
        assert!(got.contains("at /amount"), "{got}");
    }

    #[pg_test]
    fn numbers_and_nesting_reach_the_schema_as_written() {
        Spi::run(
            r#"SELECT bss.register_schema('t.n', '{"properties": {"a": {"type": "integer", "maximum": 9007199254740993},
                 "b": {"type": "array", "items": {"type": "number", "multipleOf": 0.25}}, "c": {"const": null}}}')"#,
        )
        .unwrap();
        assert_eq!(
            one::<i64>(
                r#"SELECT bss.append_events('t-1', '[{"type": "t.n", "data": {"a": 9007199254740993, "b": [0.5, 1.25, 100], "c": null}}]')"#
            ),
            1
        );
        assert!(outcome(
            r#"SELECT bss.append_events('t-1', '[{"type": "t.n", "data": {"b": [0.3]}}]')"#
        )
        .starts_with("XB013 "));
        assert!(outcome(
            r#"SELECT bss.append_events('t-1', '[{"type": "t.n", "data": {"a": 1.5}}]')"#
        )
        .starts_with("XB013 "));
        // Scalar data is a value too.
        Spi::run(r#"SELECT bss.register_schema('t.s', '{"type": "string"}')"#).unwrap();
        assert_eq!(
            one::<i64>(r#"SELECT bss.append_events('t-2', '[{"type": "t.s", "data": "x"}]')"#),
            1
        );
        assert!(
            outcome(r#"SELECT bss.append_events('t-2', '[{"type": "t.s", "data": 5}]')"#)
                .starts_with("XB013 ")
        );
    }

    #[pg_test]
    fn validate_event_lists_every_cloudevents_rule_a_new_user_breaks() {
        // The example of issue 21: missing id, missing type, wrong specversion
        // (and no stream) are all listed, not only the first.
        let got = one::<String>(
            r#"SELECT string_agg(rule || ': ' || message, E'\n') FROM bss.validate_event('{"specversion": "0.1", "source": "/x"}')"#,
        );
        assert!(got.contains("required attribute id is missing"), "{got}");
        assert!(got.contains("required attribute type is missing"), "{got}");
        assert!(
            got.contains("specversion must be \"1.0\", got \"0.1\""),
            "{got}"
        );
        assert!(got.contains("no stream"), "{got}");
        assert_eq!(
            one::<String>(
                r#"SELECT string_agg(DISTINCT rule, ',') FROM bss.validate_event('{"specversion": "0.1", "source": "/x"}')"#
            ),
            "cloudevents"
        );
        assert_eq!(
            one::<i64>(
                r#"SELECT count(*) FROM bss.validate_event('{"specversion": "0.1", "source": "/x"}')"#
            ),
            4
        );
    }

    #[pg_test]
    fn validate_event_lists_every_rule_of_a_plain_event() {
        assert_eq!(
            one::<String>(
                r#"SELECT string_agg(rule, ',') FROM bss.validate_event('{"type": "", "metadata": 1, "source": "", "subject": 2, "event_id": "x"}')"#
            ),
            "type,data,metadata,event_id,source,subject"
        );
    }

    #[pg_test]
    fn a_rejected_batch_element_names_its_other_broken_rules_in_detail() {
        let got = outcome_with_detail(
            r#"SELECT bss.append_events('multi-1', '[{"type": "t", "data": {}}, {"data": {}, "time": "noon", "colour": 1}]')"#,
        );
        assert!(
            got.starts_with(
                "XB003 invalid event events[1] for stream \"multi-1\": unknown attribute colour"
            ),
            "{got}"
        );
        assert!(
            got.contains("| rule: attribute; also broken: type ("),
            "{got}"
        );
        assert!(got.contains("time ("), "{got}");
        assert_eq!(
            one::<i64>("SELECT count(*) FROM bss.events WHERE stream_id = 'multi-1'"),
            0
        );
    }

    #[pg_test]
    fn a_dead_letter_keeps_every_rule_its_event_breaks() {
        assert_eq!(
            one::<i64>(
                r#"SELECT bss.append_events('multi-2', '[{"type": "t", "data": {}}, {"type": 5, "metadata": [], "source": ""}]', on_invalid => 'dead_letter')"#
            ),
            1
        );
        assert_eq!(
            one::<String>("SELECT string_agg(r->>'rule', ',') FROM bss.dead_letters, jsonb_array_elements(reasons) r WHERE stream_id = 'multi-2'"),
            "type,data,metadata,source"
        );
    }

    #[pg_test]
    fn append_event_names_its_first_broken_argument_and_the_others_in_detail() {
        let got =
            outcome_with_detail("SELECT bss.append_event('multi-3', ' ', NULL, source => '')");
        assert!(
            got.starts_with("XB003 type of the event for stream \"multi-3\" must not be empty | also broken: data ("),
            "{got}"
        );
        assert!(
            got.contains("source (source of the event for stream \"multi-3\" is empty)"),
            "{got}"
        );
        // One broken rule: no DETAIL, as before.
        let got = outcome_with_detail("SELECT bss.append_event('multi-3', 't', NULL)");
        assert_eq!(
            got,
            "XB003 data of the event for stream \"multi-3\" is NULL | "
        );
    }

    #[pg_test]
    fn a_rejected_cloudevent_names_every_rule_it_breaks() {
        let got = outcome_with_detail(
            r#"SELECT bss.append_cloudevents('{"specversion": "1.0", "source": "/s", "type": "t", "subject": "x-1", "time": "today", "Bad_Name": 1}')"#,
        );
        assert!(
            got.starts_with(
                "XB004 invalid CloudEvent: required attribute id is missing | also broken: "
            ),
            "{got}"
        );
        assert!(got.contains("RFC 3339"), "{got}");
        assert!(got.contains("Bad_Name"), "{got}");
        assert_eq!(one::<i64>("SELECT count(*) FROM bss.events"), 0);
    }
}
