//! In-database tests (`cargo pgrx test`): each runs inside one transaction that
//! is rolled back. Concurrency and gap-safety need separate sessions and live in
//! the `tests/` crate.

#[pgrx::pg_schema]
mod tests {
    use crate::test_support::one;
    use pgrx::prelude::*;

    /// Runs `sql` and requires it to fail with exactly `code`.
    fn expect_sqlstate(sql: &str, code: &str) {
        let block = format!(
            "DO $t$ BEGIN {sql}; RAISE EXCEPTION 'expected SQLSTATE {code}, got success'; \
             EXCEPTION WHEN SQLSTATE '{code}' THEN NULL; END $t$"
        );
        Spi::run(&block).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    #[pg_test]
    fn first_event_of_a_stream_is_version_1_and_versions_count_up() {
        assert_eq!(
            one::<i64>("SELECT bss.append_event('customer-1', 'customer.created', '{\"n\": 1}')"),
            1
        );
        assert_eq!(
            one::<i64>("SELECT bss.append_event('customer-1', 'customer.updated', '{\"n\": 2}')"),
            2
        );
        assert_eq!(one::<i64>("SELECT bss.stream_version('customer-1')"), 2);
        assert_eq!(one::<i64>("SELECT bss.stream_version('customer-404')"), 0);
    }

    #[pg_test]
    fn append_event_stores_every_attribute() {
        Spi::run(
            "SELECT bss.append_event(stream_id => 'invoice-9', type => 'invoice.issued', data => '{\"amount\": 12.5}', \
             metadata => '{\"correlation_id\": \"c-1\"}', event_id => '01932c07-0000-7000-8000-000000000001', \
             source => '/billing', subject => 'customer-1', \"time\" => '2026-01-02T03:04:05Z')",
        )
        .unwrap();
        let row = Spi::get_three::<String, String, String>(
            "SELECT event_id::text, source || '|' || type || '|' || subject || '|' || category, \
             data::text || metadata::text || to_char(\"time\" AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') \
             FROM bss.events WHERE stream_id = 'invoice-9'",
        )
        .unwrap();
        assert_eq!(
            row.0.as_deref(),
            Some("01932c07-0000-7000-8000-000000000001")
        );
        assert_eq!(
            row.1.as_deref(),
            Some("/billing|invoice.issued|customer-1|invoice")
        );
        assert_eq!(
            row.2.as_deref(),
            Some("{\"amount\": 12.5}{\"correlation_id\": \"c-1\"}2026-01-02 03:04:05")
        );
    }

    #[pg_test]
    fn default_event_ids_are_uuid_v7_and_default_source_is_set() {
        Spi::run("SELECT bss.append_event('usage-1', 'usage.recorded', '{}')").unwrap();
        assert_eq!(
            one::<String>(
                "SELECT substr(event_id::text, 15, 1) FROM bss.events WHERE stream_id = 'usage-1'"
            ),
            "7"
        );
        assert_eq!(
            one::<String>("SELECT source FROM bss.events WHERE stream_id = 'usage-1'"),
            "/pg_bss"
        );
    }

    #[pg_test]
    fn expected_version_zero_requires_a_new_stream() {
        assert_eq!(one::<i64>("SELECT bss.append_event('payment-1', 'payment.received', '{}', expected_version => 0)"), 1);
        expect_sqlstate("PERFORM bss.append_event('payment-1', 'payment.received', '{}', expected_version => 0)", "XB001");
    }

    #[pg_test]
    fn expected_version_n_must_match_the_stream() {
        Spi::run("SELECT bss.append_event('payment-2', 'payment.received', '{}')").unwrap();
        assert_eq!(one::<i64>("SELECT bss.append_event('payment-2', 'payment.refunded', '{}', expected_version => 1)"), 2);
        expect_sqlstate("PERFORM bss.append_event('payment-2', 'payment.refunded', '{}', expected_version => 1)", "XB001");
        assert_eq!(one::<i64>("SELECT bss.stream_version('payment-2')"), 2);
    }

    #[pg_test(
        error = "wrong expected version for stream \"payment-3\": expected version 5, but it is at version 1"
    )]
    fn wrong_expected_version_message_names_stream_expected_and_actual() {
        Spi::run("SELECT bss.append_event('payment-3', 'payment.received', '{}')").unwrap();
        Spi::run(
            "SELECT bss.append_event('payment-3', 'payment.received', '{}', expected_version => 5)",
        )
        .unwrap();
    }

    #[pg_test]
    fn retried_append_with_the_same_event_id_stores_nothing() {
        let sql = "SELECT bss.append_event('ticket-1', 'ticket.opened', '{}', event_id => '01932c07-0000-7000-8000-0000000000aa')";
        assert_eq!(one::<i64>(sql), 1);
        assert_eq!(
            one::<i64>("SELECT bss.append_event('ticket-1', 'ticket.commented', '{}')"),
            2
        );
        assert_eq!(
            one::<i64>(sql),
            1,
            "a retry returns the version the event was stored at"
        );
        assert_eq!(
            one::<i64>("SELECT count(*) FROM bss.events WHERE stream_id = 'ticket-1'"),
            2
        );
        assert_eq!(one::<i64>("SELECT bss.stream_version('ticket-1')"), 2);
    }

    #[pg_test]
    fn the_append_statements_leave_the_planner_settings_as_they_were() {
        // The lookup of stored ids and the statements of an append to many
        // streams run with their own planner settings (statements::generic_plan);
        // the session's must be back afterwards, also after an error.
        Spi::run("SET LOCAL enable_seqscan = off").unwrap();
        Spi::run("SET LOCAL plan_cache_mode = force_custom_plan").unwrap();
        let settings = "SELECT current_setting('enable_seqscan') || ' ' || current_setting('enable_bitmapscan') \
                        || ' ' || current_setting('plan_cache_mode')";
        let batch = "SELECT bss.append_events('usage-81', '[\
            {\"type\": \"usage.recorded\", \"data\": {}, \"event_id\": \"01932c07-0000-7000-8000-000000000801\"}]')";
        assert_eq!(one::<i64>(batch), 1);
        assert_eq!(one::<i64>(batch), 1, "the retry found the stored id");
        assert_eq!(one::<String>(settings), "off on force_custom_plan");
        expect_sqlstate(
            "PERFORM bss.append_events('usage-81', '[\
             {\"type\": \"usage.recorded\", \"data\": {}, \"event_id\": \"01932c07-0000-7000-8000-000000000801\"}, \
             {\"type\": \"usage.recorded\", \"data\": {}, \"event_id\": \"01932c07-0000-7000-8000-000000000802\"}]')",
            "XB008",
        );
        assert_eq!(one::<String>(settings), "off on force_custom_plan");
        let streams = "SELECT bss.append_streams(ARRAY['usage-82', 'usage-83'], \
            ARRAY['[{\"type\": \"usage.recorded\", \"data\": {}}]', '[{\"type\": \"usage.recorded\", \"data\": {}}]']::jsonb[])::text";
        assert_eq!(one::<String>(streams), "{1,1}");
        assert_eq!(one::<String>(settings), "off on force_custom_plan");
        expect_sqlstate(
            "PERFORM bss.append_streams(ARRAY['usage-82', 'usage-83'], \
             ARRAY['[{\"type\": \"usage.recorded\", \"data\": {}}]', '[{\"type\": \"usage.recorded\", \"data\": {}}]']::jsonb[], ARRAY[1, 0])",
            "XB001",
        );
        assert_eq!(one::<String>(settings), "off on force_custom_plan");
        Spi::run("SET LOCAL enable_seqscan = on").unwrap();
        Spi::run("SET LOCAL plan_cache_mode = auto").unwrap();
        assert_eq!(one::<i64>(batch), 1);
        assert_eq!(one::<String>(settings), "on on auto");
    }

    #[pg_test]
    fn retried_batch_is_a_no_op() {
        let batch = "SELECT bss.append_events('usage-9', '[\
            {\"type\": \"usage.recorded\", \"data\": {\"bytes\": 1}, \"event_id\": \"01932c07-0000-7000-8000-000000000101\"}, \
            {\"type\": \"usage.recorded\", \"data\": {\"bytes\": 2}, \"event_id\": \"01932c07-0000-7000-8000-000000000102\"}]')";
        assert_eq!(one::<i64>(batch), 2);
        assert_eq!(one::<i64>(batch), 2);
        assert_eq!(
            one::<i64>("SELECT count(*) FROM bss.events WHERE stream_id = 'usage-9'"),
            2
        );
        // A retry that carries one stored and one new id is neither a retry nor new.
        expect_sqlstate(
            "PERFORM bss.append_events('usage-9', '[\
             {\"type\": \"usage.recorded\", \"data\": {}, \"event_id\": \"01932c07-0000-7000-8000-000000000101\"}, \
             {\"type\": \"usage.recorded\", \"data\": {}, \"event_id\": \"01932c07-0000-7000-8000-000000000199\"}]')",
            "XB008",
        );
    }

    #[pg_test]
    fn append_events_is_atomic_and_returns_the_last_version() {
        assert_eq!(
            one::<i64>("SELECT bss.append_events('subscription-1', '[{\"type\": \"a\", \"data\": {}}, {\"type\": \"b\", \"data\": {}}, {\"type\": \"c\", \"data\": {}}]')"),
            3
        );
        assert_eq!(
            one::<String>("SELECT string_agg(type || stream_version, ',' ORDER BY stream_version) FROM bss.read_stream('subscription-1')"),
            "a1,b2,c3"
        );
        // One bad element: nothing of the batch is stored.
        expect_sqlstate(
            "PERFORM bss.append_events('subscription-1', '[{\"type\": \"d\", \"data\": {}}, {\"data\": {}}]')",
            "XB003",
        );
        assert_eq!(one::<i64>("SELECT bss.stream_version('subscription-1')"), 3);
    }

    #[pg_test(
        error = "invalid event events[1] for stream \"subscription-2\": type is required and must be a non-empty string"
    )]
    fn batch_error_names_the_event_index_and_the_rule() {
        Spi::run("SELECT bss.append_events('subscription-2', '[{\"type\": \"a\", \"data\": {}}, {\"data\": {}}]')").unwrap();
    }

    #[pg_test]
    fn batch_positions_follow_versions() {
        Spi::run("SELECT bss.append_events('usage-5', '[{\"type\": \"a\", \"data\": {}}, {\"type\": \"b\", \"data\": {}}, {\"type\": \"c\", \"data\": {}}]')").unwrap();
        assert!(one::<bool>(
            "SELECT bool_and(ok) FROM (SELECT global_position > lag(global_position, 1, 0::bigint) OVER (ORDER BY stream_version) AS ok \
             FROM bss.events WHERE stream_id = 'usage-5') s"
        ));
    }

    #[pg_test]
    fn bad_input_gets_its_own_sqlstate() {
        expect_sqlstate("PERFORM bss.append_event('', 't', '{}')", "XB002");
        expect_sqlstate("PERFORM bss.append_event(NULL, 't', '{}')", "XB002");
        expect_sqlstate("PERFORM bss.append_event('s-1', '', '{}')", "XB003");
        expect_sqlstate("PERFORM bss.append_event('s-1', 't', NULL)", "XB003");
        expect_sqlstate(
            "PERFORM bss.append_event('s-1', 't', '{}', metadata => '[1]')",
            "XB003",
        );
        expect_sqlstate(
            "PERFORM bss.append_events('s-1', '{\"type\": \"t\"}')",
            "XB006",
        );
        expect_sqlstate("PERFORM bss.append_events('s-1', '[]')", "XB006");
        expect_sqlstate("PERFORM bss.append_events('s-1', '[{\"type\": \"t\", \"data\": {}, \"time\": \"noon\"}]')", "XB003");
        expect_sqlstate("PERFORM bss.append_events('s-1', '[{\"type\": \"t\", \"data\": {}, \"event_id\": \"nope\"}]')", "XB003");
        expect_sqlstate("PERFORM bss.read_all(0, -1)", "XB009");
        expect_sqlstate("PERFORM bss.read_category('s', 0, 10, 2, 2)", "XB009");
        expect_sqlstate("PERFORM bss.read_category('s', 0, 10, 0, NULL)", "XB009");
        assert_eq!(
            one::<i64>("SELECT count(*) FROM bss.events"),
            0,
            "nothing stored by bad input"
        );
    }

    #[pg_test]
    fn payload_over_the_size_limit_is_rejected() {
        Spi::run("SET bss.max_data_bytes = 1024").unwrap();
        expect_sqlstate(
            "PERFORM bss.append_event('s-1', 't', jsonb_build_object('blob', repeat('x', 2000)))",
            "XB005",
        );
        expect_sqlstate(
            "PERFORM bss.append_events('s-1', jsonb_build_array(jsonb_build_object('type', 't', 'data', jsonb_build_object('blob', repeat('x', 2000)))))",
            "XB005",
        );
        assert_eq!(
            one::<i64>(
                "SELECT bss.append_event('s-1', 't', jsonb_build_object('blob', repeat('x', 500)))"
            ),
            1
        );
    }

    #[pg_test]
    fn cloudevents_are_stored_with_their_attributes_and_retries_store_nothing() {
        let ce = r#"SELECT bss.append_cloudevents('[
            {"specversion": "1.0", "id": "A-1", "source": "/crm", "type": "ticket.opened", "subject": "ticket-7",
             "time": "2026-11-24T10:00:00Z", "datacontenttype": "application/json", "data": {"text": "no signal"}, "tenant": "acme"},
            {"specversion": "1.0", "id": "A-2", "source": "/crm", "type": "ticket.closed", "partitionkey": "ticket-7", "data": {}}
        ]')"#;
        assert_eq!(one::<i64>(ce), 2);
        assert_eq!(
            one::<i64>(ce),
            0,
            "a retried CloudEvents batch stores nothing"
        );
        assert_eq!(
            one::<String>("SELECT string_agg(type || ':' || (metadata->>'ce_id'), ',' ORDER BY stream_version) FROM bss.read_stream('ticket-7')"),
            "ticket.opened:A-1,ticket.closed:A-2"
        );
        assert_eq!(one::<String>("SELECT metadata->>'tenant' FROM bss.events WHERE stream_version = 1 AND stream_id = 'ticket-7'"), "acme");
    }

    #[pg_test]
    fn malformed_cloudevents_are_rejected() {
        let base =
            r#""specversion": "1.0", "id": "x", "source": "/s", "type": "t", "subject": "s-1""#;
        expect_sqlstate(
            r#"PERFORM bss.append_cloudevents('{"specversion": "1.0", "source": "/s", "type": "t", "subject": "s-1"}')"#,
            "XB004",
        );
        expect_sqlstate(
            r#"PERFORM bss.append_cloudevents('{"specversion": "0.3", "id": "x", "source": "/s", "type": "t", "subject": "s-1"}')"#,
            "XB004",
        );
        expect_sqlstate(
            &format!(r#"PERFORM bss.append_cloudevents('{{{base}, "time": "yesterday"}}')"#),
            "XB004",
        );
        expect_sqlstate(
            &format!(r#"PERFORM bss.append_cloudevents('{{{base}, "Bad_Name": 1}}')"#),
            "XB004",
        );
        expect_sqlstate(
            r#"PERFORM bss.append_cloudevents('{"specversion": "1.0", "id": "x", "source": "/s", "type": "t"}')"#,
            "XB004",
        );
        expect_sqlstate("PERFORM bss.append_cloudevents('42')", "XB006");
    }

    #[pg_test]
    fn events_are_append_only_for_the_owner_too() {
        Spi::run("SELECT bss.append_event('customer-5', 'customer.created', '{}')").unwrap();
        expect_sqlstate("UPDATE bss.events SET type = 'x'", "XB007");
        expect_sqlstate("DELETE FROM bss.events", "XB007");
        expect_sqlstate("TRUNCATE bss.events", "XB007");
        let part = one::<String>("SELECT tableoid::regclass::text FROM bss.events LIMIT 1");
        expect_sqlstate(&format!("DELETE FROM {part}"), "XB007");
        expect_sqlstate(&format!("TRUNCATE {part}"), "XB007");
        Spi::run("SET session_replication_role = replica").unwrap();
        expect_sqlstate("DELETE FROM bss.events", "XB007");
    }

    #[pg_test]
    fn partitions_exist_ahead_of_time_and_are_listed() {
        Spi::run("SELECT bss.append_event('customer-6', 'customer.created', '{}')").unwrap();
        assert!(
            one::<i64>(
                "SELECT count(*) FROM bss.partitions WHERE to_time > now() + interval '2 days'"
            ) >= 1
        );
        assert_eq!(
            one::<i64>("SELECT sum(row_count)::bigint FROM bss.partitions WHERE now() >= from_time AND now() < to_time"),
            one::<i64>("SELECT count(*) FROM bss.events")
        );
    }

    #[pg_test]
    fn partitions_are_maintained_as_append_only_tables() {
        Spi::run("SELECT bss.append_event('customer-6', 'customer.created', '{}')").unwrap();
        // Every partition the append path made, and none without.
        let options = "ARRAY['autovacuum_vacuum_insert_threshold=50000', \
                       'autovacuum_vacuum_insert_scale_factor=0', 'autovacuum_freeze_min_age=0']";
        assert!(one::<i64>("SELECT count(*) FROM bss.partitions") >= 4);
        assert_eq!(
            one::<i64>(&format!(
                "SELECT count(*) FROM bss.partitions p JOIN pg_class c ON c.oid = p.partition \
                 WHERE NOT coalesce(c.reloptions @> {options}, false)"
            )),
            0
        );
        // ANALYZE samples 3,000 rows (300 x the largest column target).
        assert_eq!(
            one::<i64>(
                "SELECT count(*) FROM bss.partitions p JOIN pg_attribute a ON a.attrelid = p.partition \
                 WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attstattarget <> 10"
            ),
            0
        );
        // A setting made by hand afterwards stays: ensure_partitions only sets new partitions.
        let part = one::<String>("SELECT tableoid::regclass::text FROM bss.events LIMIT 1");
        Spi::run(&format!(
            "ALTER TABLE {part} SET (autovacuum_vacuum_insert_threshold = 7)"
        ))
        .unwrap();
        Spi::run("SELECT bss.ensure_partitions()").unwrap();
        assert!(one::<bool>(&format!(
            "SELECT 'autovacuum_vacuum_insert_threshold=7' = ANY(reloptions) FROM pg_class WHERE oid = '{part}'::regclass"
        )));
    }

    #[pg_test]
    fn partition_interval_is_a_setting() {
        Spi::run("SET bss.partition_interval = '6 hours'").unwrap();
        Spi::run("SELECT bss.ensure_partitions()").unwrap();
        // The newest partitions follow the new interval.
        assert_eq!(
            one::<String>("SELECT (to_time - from_time)::text FROM bss.partitions ORDER BY from_time DESC LIMIT 1"),
            "06:00:00"
        );
        assert_eq!(
            one::<String>("SELECT bss.partition_start('2026-03-17 13:45+00', '1 month')::text"),
            "2026-03-01 00:00:00+00"
        );
    }

    #[pg_test]
    fn old_partitions_can_be_detached_for_archiving() {
        Spi::run("SELECT bss.ensure_partitions()").unwrap();
        Spi::run(
            "CREATE TABLE bss.events_19990101 (LIKE bss.events INCLUDING DEFAULTS INCLUDING GENERATED); \
             ALTER TABLE bss.events ATTACH PARTITION bss.events_19990101 FOR VALUES FROM ('1999-01-01+00') TO ('1999-01-02+00')",
        )
        .unwrap();
        assert_eq!(one::<String>("SELECT string_agg(p::text, ',') FROM bss.detach_partitions_older_than('30 days') p"), "bss.events_19990101");
        assert_eq!(
            one::<i64>(
                "SELECT count(*) FROM bss.partitions WHERE partition::text = 'bss.events_19990101'"
            ),
            0
        );
    }

    #[pg_test]
    fn the_publication_publishes_inserts_via_the_partition_root() {
        assert!(one::<bool>(
            "SELECT pubinsert AND NOT pubupdate AND NOT pubdelete AND NOT pubtruncate AND pubviaroot FROM pg_publication WHERE pubname = 'bss_events'"
        ));
        assert_eq!(
            one::<String>(
                "SELECT tablename::text FROM pg_publication_tables WHERE pubname = 'bss_events'"
            ),
            "events"
        );
    }

    #[pg_test]
    fn read_stream_pages_by_version() {
        Spi::run("SELECT bss.append_events('account-1', (SELECT jsonb_agg(jsonb_build_object('type', 't', 'data', jsonb_build_object('i', i))) FROM generate_series(1, 10) i))").unwrap();
        assert_eq!(one::<String>("SELECT string_agg(stream_version::text, ',') FROM bss.read_stream('account-1', 4, 3)"), "4,5,6");
    }

    #[pg_test]
    fn consumer_group_members_split_a_category_by_stream() {
        for i in 0..20 {
            Spi::run(&format!(
                "SELECT bss.append_event('usage-{i}', 'usage.recorded', '{{}}')"
            ))
            .unwrap();
        }
        // Inside this one transaction nothing is final for read_category yet, so
        // check the split itself: every stream goes to exactly one member.
        assert_eq!(
            one::<i64>("SELECT count(DISTINCT bss.consumer_member_of(stream_id, 3)) FROM bss.streams WHERE category = 'usage'"),
            3
        );
        assert!(one::<bool>("SELECT bool_and(bss.consumer_member_of(stream_id, 3) BETWEEN 0 AND 2) FROM bss.streams"));
    }

    #[pg_test]
    fn the_bss_setting_prefix_is_reserved_for_registered_settings() {
        crate::test_support::install_outcome();
        let got = one::<String>("SELECT pg_temp.outcome('SET bss.no_such_setting = 1')");
        assert_ne!(got, "ok");
        assert!(
            got.contains("invalid configuration parameter name \"bss.no_such_setting\""),
            "{got}"
        );
        for set in [
            "SET LOCAL bss.max_data_bytes = 2048",
            "SET LOCAL bss.max_batch_events = 5",
            "SET LOCAL bss.partition_interval = '1 day'",
            "SET LOCAL bss.partition_premake = 4",
            "SET LOCAL bss.default_source = '/test'",
            "SET LOCAL bss.region = 'test'",
        ] {
            Spi::run(set).unwrap_or_else(|e| panic!("{set}: {e}"));
        }
        assert_eq!(
            one::<String>("SELECT current_setting('bss.max_data_bytes')"),
            "2048"
        );
    }

    #[pg_test]
    fn an_older_declaration_with_fewer_arguments_reads_the_missing_ones_as_null() {
        // As between installing a new library and ALTER EXTENSION UPDATE: the
        // same C symbol declared with fewer arguments.
        Spi::run(
            "CREATE FUNCTION public.old_append_events(text, jsonb) RETURNS bigint \
             LANGUAGE c AS '$libdir/pg_bss', 'bss_append_events'",
        )
        .unwrap();
        Spi::run(
            "CREATE FUNCTION public.old_append_event(text, text, jsonb) RETURNS bigint \
             LANGUAGE c AS '$libdir/pg_bss', 'bss_append_event'",
        )
        .unwrap();
        assert_eq!(
            one::<i64>(
                r#"SELECT public.old_append_events('old-1', '[{"type": "t", "data": {}}, {"type": "t", "data": {}}]')"#
            ),
            2
        );
        assert_eq!(
            one::<i64>(r#"SELECT public.old_append_event('old-1', 't', '{}')"#),
            3
        );
        assert_eq!(
            one::<String>("SELECT source || ' ' || coalesce(subject, 'none') || ' ' || metadata::text FROM bss.events WHERE stream_id = 'old-1' AND stream_version = 3"),
            "/pg_bss none {}"
        );
    }
}
