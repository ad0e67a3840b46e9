//! In-database tests of `bss.append_streams`: the same events, versions
//! and positions as one `append_events` per element, all or nothing, and
//! each of the append path's rules (expected versions, retries, invalid
//! events, tenants, personal data) applied to every element.

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    use crate::test_support::{one, outcome};

    /// `events` of `n` events of type `t.x` whose data is `{"n": <i>}`, as
    /// a SQL jsonb literal.
    fn batch(n: usize) -> String {
        let events: Vec<String> = (1..=n)
            .map(|i| format!(r#"{{"type": "t.x", "data": {{"n": {i}}}}}"#))
            .collect();
        format!("'[{}]'", events.join(", "))
    }

    /// The call appending `batch(n)` to each `(stream, n)`, expecting `expected`.
    fn call(elements: &[(&str, usize)], expected: &str, on_invalid: &str) -> String {
        let streams: Vec<String> = elements.iter().map(|(s, _)| format!("'{s}'")).collect();
        let events: Vec<String> = elements.iter().map(|(_, n)| batch(*n)).collect();
        format!(
            "SELECT bss.append_streams(ARRAY[{}], ARRAY[{}]::jsonb[], {expected}, '{on_invalid}')::text",
            streams.join(", "),
            events.join(", ")
        )
    }

    /// `stream:version:n` of every event of the streams, in position order.
    fn log(streams: &[&str]) -> String {
        let list: Vec<String> = streams.iter().map(|s| format!("'{s}'")).collect();
        one::<String>(&format!(
            "SELECT string_agg(stream_id || ':' || stream_version || ':' || (data->>'n'), ' ' ORDER BY global_position) \
             FROM bss.events WHERE stream_id IN ({})",
            list.join(", ")
        ))
    }

    #[pg_test]
    fn each_element_is_appended_in_order_as_append_events_would() {
        assert_eq!(
            one::<String>(&call(
                &[("as-1", 2), ("as-2", 3), ("as-1", 1)],
                "NULL",
                "reject"
            )),
            "{2,3,3}"
        );
        assert_eq!(
            log(&["as-1", "as-2"]),
            "as-1:1:1 as-1:2:2 as-2:1:1 as-2:2:2 as-2:3:3 as-1:3:1"
        );
        // Positions are dense across the call, the streams' rows current.
        assert!(one::<bool>(
            "SELECT max(global_position) - min(global_position) = 5 FROM bss.events WHERE stream_id IN ('as-1', 'as-2')"
        ));
        assert_eq!(one::<i64>("SELECT bss.stream_version('as-1')"), 3);
        assert_eq!(one::<i64>("SELECT bss.stream_version('as-2')"), 3);
        // A stream that exists and one that does not, in one call; and the
        // same result as append_events gives, column by column.
        assert_eq!(
            one::<String>(&call(&[("as-2", 1), ("as-3", 2)], "NULL", "reject")),
            "{4,2}"
        );
        one::<i64>(&format!("SELECT bss.append_events('as-4', {})", batch(2)));
        assert!(one::<bool>(
            "SELECT array_agg((type, data, metadata, source, region, subject) ORDER BY stream_version) \
                  = (SELECT array_agg((type, data, metadata, source, region, subject) ORDER BY stream_version) \
                     FROM bss.events WHERE stream_id = 'as-4') \
             FROM bss.events WHERE stream_id = 'as-3'"
        ));
        // Every event's horizon is this transaction's, as append_events records it.
        assert!(one::<bool>(
            "SELECT bool_and(position_horizon > pg_current_xact_id()) FROM bss.events WHERE stream_id LIKE 'as-%'"
        ));
    }

    #[pg_test]
    fn expected_versions_are_checked_in_call_order_and_a_failure_stores_nothing() {
        assert_eq!(
            one::<String>(&call(
                &[("ev-1", 2), ("ev-1", 1), ("ev-2", 1)],
                "ARRAY[0, 2, NULL]",
                "reject"
            )),
            "{2,3,1}"
        );
        let refused = outcome(&call(&[("ev-3", 1), ("ev-2", 1)], "ARRAY[0, 5]", "reject"));
        assert!(
            refused.starts_with("XB001 wrong expected version for stream \"ev-2\""),
            "{refused}"
        );
        assert_eq!(
            one::<i64>("SELECT count(*) FROM bss.events WHERE stream_id = 'ev-3'"),
            0
        );
        assert_eq!(one::<i64>("SELECT bss.stream_version('ev-2')"), 1);
    }

    #[pg_test]
    fn a_retried_call_stores_nothing_and_returns_the_same_versions() {
        let ids = |k: u32| format!("0190f0f0-0000-7000-8000-0000000a{k:04}");
        let named = |stream: &str, first: u32, n: u32| {
            let events: Vec<String> = (first..first + n)
                .map(|k| {
                    format!(
                        r#"{{"type": "t.x", "event_id": "{}", "data": {{"k": {k}}}}}"#,
                        ids(k)
                    )
                })
                .collect();
            (stream.to_owned(), format!("'[{}]'", events.join(", ")))
        };
        let sql = |elements: &[(String, String)]| {
            let streams: Vec<String> = elements.iter().map(|(s, _)| format!("'{s}'")).collect();
            let events: Vec<String> = elements.iter().map(|(_, e)| e.clone()).collect();
            format!(
                "SELECT bss.append_streams(ARRAY[{}], ARRAY[{}]::jsonb[])::text",
                streams.join(", "),
                events.join(", ")
            )
        };
        one::<i64>(&format!("SELECT bss.append_events('rt-1', {})", batch(1)));
        let first = sql(&[named("rt-1", 1, 2), named("rt-2", 3, 1)]);
        assert_eq!(one::<String>(&first), "{3,1}");
        // rt-1 existed, so its retry is found; rt-2 was new when first
        // appended and is found the same way now that it exists.
        assert_eq!(one::<String>(&first), "{3,1}");
        assert_eq!(
            one::<i64>("SELECT count(*) FROM bss.events WHERE stream_id IN ('rt-1', 'rt-2')"),
            4
        );
        assert_eq!(one::<i64>("SELECT bss.stream_version('rt-1')"), 3);
        // A retry beside new events: the new ones are stored after it.
        assert_eq!(
            one::<String>(&sql(&[named("rt-1", 1, 2), named("rt-1", 10, 1)])),
            "{3,4}"
        );
        assert_eq!(one::<i64>("SELECT bss.stream_version('rt-1')"), 4);
        // One id named by two elements cannot be told a retry: refused.
        let twice = outcome(&sql(&[named("rt-3", 20, 1), named("rt-4", 20, 1)]));
        assert!(twice.starts_with("XB008 event id"), "{twice}");
    }

    #[pg_test]
    fn bad_arguments_get_clear_errors_and_store_nothing() {
        let mismatch =
            outcome("SELECT bss.append_streams(ARRAY['ba-1', 'ba-2'], ARRAY['[]']::jsonb[])");
        assert!(
            mismatch.starts_with("XB006 append_streams got 2 stream ids, 1 event arrays"),
            "{mismatch}"
        );
        let null_events = outcome(&format!(
            "SELECT bss.append_streams(ARRAY['ba-1', 'ba-2'], ARRAY[{}, NULL]::jsonb[])",
            batch(1)
        ));
        assert!(
            null_events.starts_with("XB006 events[2] for stream \"ba-2\" is NULL"),
            "{null_events}"
        );
        let empty_id = outcome(&call(&[("", 1)], "NULL", "reject"));
        assert!(empty_id.starts_with("XB002"), "{empty_id}");
        assert!(outcome("SELECT bss.append_streams(NULL, NULL)").starts_with("XB006"));
        assert_eq!(
            one::<String>("SELECT bss.append_streams('{}', '{}')::text"),
            "{}"
        );
        Spi::run("SET bss.max_batch_events = 3").unwrap();
        let too_many = outcome(&call(&[("ba-3", 2), ("ba-4", 2)], "NULL", "reject"));
        assert!(
            too_many.starts_with("XB006 4 events in one append_streams call"),
            "{too_many}"
        );
        assert_eq!(
            one::<i64>("SELECT count(*) FROM bss.events WHERE stream_id LIKE 'ba-%'"),
            0
        );
    }

    #[pg_test]
    fn invalid_events_fail_the_call_or_become_dead_letters() {
        let sql = |on_invalid: &str| {
            format!(
                "SELECT bss.append_streams(ARRAY['iv-1', 'iv-2'], ARRAY[{}, \
                 '[{{\"type\": \"t.x\", \"data\": {{\"n\": 1}}}}, {{\"data\": {{}}}}, {{\"type\": \"t.x\", \"data\": {{\"n\": 3}}}}]']::jsonb[], \
                 NULL, '{on_invalid}')::text",
                batch(2)
            )
        };
        let refused = outcome(&sql("reject"));
        assert!(refused.contains("\"iv-2\""), "{refused}");
        assert_eq!(
            one::<i64>("SELECT count(*) FROM bss.events WHERE stream_id LIKE 'iv-%'"),
            0
        );
        assert_eq!(one::<String>(&sql("dead_letter")), "{2,2}");
        assert_eq!(
            log(&["iv-1", "iv-2"]),
            "iv-1:1:1 iv-1:2:2 iv-2:1:1 iv-2:2:3"
        );
        assert_eq!(
            one::<i64>("SELECT count(*) FROM bss.dead_letters WHERE stream_id = 'iv-2'"),
            1
        );
    }

    #[pg_test]
    fn another_tenants_stream_is_refused_and_the_tenant_is_recorded() {
        Spi::run("SET bss.tenant = 'acme'").unwrap();
        one::<i64>(&format!("SELECT bss.append_events('tn-1', {})", batch(1)));
        Spi::run("SET bss.tenant = 'globex'").unwrap();
        let refused = outcome(&call(&[("tn-2", 1), ("tn-1", 1)], "NULL", "reject"));
        assert!(refused.starts_with("42501"), "{refused}");
        assert_eq!(
            one::<String>(&call(&[("tn-2", 1)], "NULL", "reject")),
            "{1}"
        );
        Spi::run("SET bss.tenant = '*'").unwrap();
        assert_eq!(
            one::<String>("SELECT string_agg(stream_id || ':' || tenant, ' ' ORDER BY stream_id) FROM bss.events WHERE stream_id LIKE 'tn-%'"),
            "tn-1:acme tn-2:globex"
        );
    }
}
