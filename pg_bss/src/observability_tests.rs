//! In-database tests of `bss.stats` (`cargo pgrx test`): each statistic
//! against what the store holds, the window of events_last_minute, and that
//! pg_monitor can read it and nothing else. Each test runs in one transaction
//! that is rolled back, in which PostgreSQL cannot create a logical slot: the
//! slot rows are checked on the sidecar's real slot by deploy/local/e2e_test.sh.

#[pgrx::pg_schema]
mod tests {
    use crate::test_support::{install_outcome, one};
    use pgrx::prelude::*;

    /// The value of one row of bss.stats, or None when there is no such row.
    fn stat(stat: &str, key: &str) -> Option<f64> {
        Spi::get_one::<f64>(&format!(
            "SELECT value FROM bss.stats WHERE stat = '{stat}' AND key = '{key}'"
        ))
        .unwrap_or(None)
    }

    /// Stores one event recorded at `recorded_at` (an SQL expression), as an
    /// append made then would have; the append functions always record now().
    fn event_recorded_at(stream: &str, version: i64, ty: &str, recorded_at: &str) {
        Spi::run(&format!(
            "INSERT INTO bss.events (global_position, stream_id, stream_version, event_id, source, type,
                                     \"time\", data, position_horizon, recorded_at)
             VALUES (nextval('bss.global_position_seq'), '{stream}', {version}, bss.uuidv7(), '/test', '{ty}',
                     {recorded_at}, '{{}}', pg_current_xact_id(), {recorded_at})"
        ))
        .unwrap_or_else(|e| panic!("insert at {recorded_at}: {e}"));
    }

    #[pg_test]
    fn events_last_minute_counts_the_last_complete_minute_per_type() {
        Spi::run("SELECT bss.ensure_partitions()").unwrap();
        let minute = "date_trunc('minute', now())";
        // In the last complete minute: its first and its last microsecond.
        event_recorded_at(
            "usage-1",
            1,
            "usage.recorded",
            &format!("{minute} - interval '1 minute'"),
        );
        event_recorded_at(
            "usage-1",
            2,
            "usage.recorded",
            &format!("{minute} - interval '1 microsecond'"),
        );
        event_recorded_at(
            "payment-1",
            1,
            "payment.received",
            &format!("{minute} - interval '30 seconds'"),
        );
        // Outside it: the minute before, and the current (incomplete) minute.
        event_recorded_at(
            "usage-2",
            1,
            "usage.recorded",
            &format!("{minute} - interval '61 seconds'"),
        );
        event_recorded_at("usage-2", 2, "usage.recorded", minute);
        Spi::run("SELECT bss.append_event('usage-3', 'usage.recorded', '{}')").unwrap();

        assert_eq!(stat("events_last_minute", "usage.recorded"), Some(2.0));
        assert_eq!(stat("events_last_minute", "payment.received"), Some(1.0));
        assert_eq!(
            one::<i64>("SELECT count(*) FROM bss.stats WHERE stat = 'events_last_minute'"),
            2,
            "one row per type that had events in the last minute"
        );
    }

    #[pg_test]
    fn streams_dead_letters_and_head_position_follow_the_store() {
        let streams_before = stat("streams", "").expect("a streams row");
        let head_before = stat("head_position", "").expect("a head_position row");
        let dead_before = stat("dead_letters", "").expect("a dead_letters row");
        let version = one::<i64>(
            r#"SELECT bss.append_events('customer-stats-1',
                 '[{"type": "customer.created", "data": {}},
                   {"type": "", "data": {}},
                   {"type": "customer.updated", "data": {}}]', on_invalid => 'dead_letter')"#,
        );
        assert_eq!(version, 2, "the two valid events are stored");
        Spi::run("SELECT bss.append_event('customer-stats-2', 'customer.created', '{}')").unwrap();

        assert_eq!(stat("streams", ""), Some(streams_before + 2.0));
        assert_eq!(stat("dead_letters", ""), Some(dead_before + 1.0));
        let head = stat("head_position", "").unwrap();
        assert!(head > head_before);
        assert_eq!(
            head,
            one::<i64>("SELECT max(global_position) FROM bss.events") as f64
        );
        assert_eq!(
            stat("streams", ""),
            Some(one::<i64>("SELECT count(*) FROM bss.streams") as f64)
        );
    }

    #[pg_test]
    fn partition_bytes_has_one_row_per_partition_with_its_size() {
        Spi::run("SELECT bss.ensure_partitions()").unwrap();
        Spi::run("SELECT bss.append_event('usage-p', 'usage.recorded', '{}')").unwrap();
        let partitions = one::<i64>("SELECT count(*) FROM bss.partitions");
        assert!(partitions >= 1);
        assert_eq!(
            one::<i64>("SELECT count(*) FROM bss.stats WHERE stat = 'partition_bytes'"),
            partitions
        );
        assert!(
            one::<bool>(
                "SELECT bool_and(s.value = p.total_bytes AND s.value > 0)
                 FROM bss.stats s JOIN bss.partitions p ON s.key = p.partition::text
                 WHERE s.stat = 'partition_bytes'"
            ),
            "each partition's row is its total size"
        );
    }

    #[pg_test]
    fn pg_monitor_reads_the_view_and_nothing_else_of_the_store() {
        Spi::run("SELECT bss.append_event('usage-mon', 'usage.recorded', '{}')").unwrap();
        install_outcome();
        Spi::run("CREATE ROLE bss_stats_reader LOGIN IN ROLE pg_monitor").unwrap();
        Spi::run("SET LOCAL ROLE bss_stats_reader").unwrap();
        let rows = one::<i64>("SELECT count(*) FROM bss.stats");
        let events = one::<String>("SELECT pg_temp.outcome('SELECT count(*) FROM bss.events')");
        Spi::run("RESET ROLE").unwrap();
        assert!(
            rows >= 3,
            "streams, dead_letters and head_position at least: {rows}"
        );
        assert!(events.starts_with("42501 permission denied"), "{events}");
    }

    #[pg_test]
    fn its_shape_is_stat_key_value() {
        assert_eq!(
            one::<String>(
                "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
                 FROM pg_attribute WHERE attrelid = 'bss.stats'::regclass AND attnum > 0"
            ),
            "stat text, key text, value double precision"
        );
        assert_eq!(
            one::<i64>(
                "SELECT count(*) FROM bss.stats WHERE stat IS NULL OR key IS NULL OR value IS NULL"
            ),
            0
        );
    }
}
