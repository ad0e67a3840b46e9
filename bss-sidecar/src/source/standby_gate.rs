//! Owns telling which decoded commits the synchronous standbys have: the
//! source spools a transaction only once they flushed its commit.
//!
//! PostgreSQL 15 decodes a commit for logical replication as soon as it is
//! flushed on the primary, while the committing client still waits for
//! its synchronous standby (PostgreSQL 17's `synchronized_standby_slots`
//! closes this gap in the server). If the primary dies then, the standby
//! is promoted without that transaction: the client never got an
//! acknowledgement, the store never had the events, and a sink that got
//! them would hold events that never happened (and Redis, having applied
//! a phantom version of a stream, would skip the real one appended next).
//! So the source holds such a transaction until `pg_stat_replication`
//! shows it flushed on as many synchronous standbys as
//! `synchronous_standby_names` asks for; without synchronous standbys
//! there is nothing to wait for. Must never let a transaction through
//! before the standbys have it, and never wait when none is configured.

use anyhow::{anyhow, Context, Result};

use super::replication::Fatal;

/// How many synchronous standbys a commit waits for under this
/// `synchronous_standby_names` (`FIRST n (...)`, `ANY n (...)`, `n (...)`,
/// or a plain list: one); 0 when it is empty.
pub fn standbys_required(names: &str) -> usize {
    let names = names.trim();
    if names.is_empty() {
        return 0;
    }
    let lower = names.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("first")
        .or_else(|| lower.strip_prefix("any"))
        .filter(|r| r.starts_with(|c: char| c.is_whitespace()))
        .unwrap_or(&lower)
        .trim_start();
    match rest.split_once('(') {
        Some((count, _)) => count.trim().parse().unwrap_or(1),
        None => 1,
    }
}

/// The WAL position up to which every commit is on the synchronous
/// standbys it waits for; None when no synchronous standby is configured
/// (every commit may pass). While fewer standbys are streaming than it
/// asks for, nothing new is on them: 0.
pub async fn flushed_on_standbys(sql: &tokio_postgres::Client) -> Result<Option<u64>> {
    let row = sql
        .query_one(
            "SELECT current_setting('synchronous_standby_names'), \
                    array(SELECT pg_wal_lsn_diff(flush_lsn, '0/0')::bigint FROM pg_stat_replication \
                          WHERE sync_state IN ('sync', 'quorum') ORDER BY flush_lsn DESC), \
                    (SELECT count(*) FROM pg_stat_replication \
                     WHERE sync_state IN ('sync', 'quorum') AND flush_lsn IS NULL)",
            &[],
        )
        .await
        .context("reading what the synchronous standbys flushed")?;
    let required = standbys_required(row.get(0));
    if required == 0 {
        return Ok(None);
    }
    let hidden: i64 = row.get(2);
    if hidden > 0 {
        return Err(Fatal(anyhow!(
            "pg_stat_replication hides the synchronous standbys' positions from this role \
             (hint: GRANT pg_read_all_stats TO the sidecar's role, so it can wait for the standbys)"
        ))
        .into());
    }
    let flushed: Vec<Option<i64>> = row.get(1);
    Ok(Some(
        flushed
            .get(required - 1)
            .copied()
            .flatten()
            .map_or(0, |lsn| lsn as u64),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_number_of_standbys_a_commit_waits_for_is_read_as_postgresql_reads_it() {
        assert_eq!(standbys_required(""), 0);
        assert_eq!(standbys_required("  "), 0);
        assert_eq!(standbys_required("ANY 1 (pgautofailover_standby_2)"), 1);
        assert_eq!(standbys_required("any 2 (a, b, c)"), 2);
        assert_eq!(standbys_required("FIRST 2 (a, b, c)"), 2);
        assert_eq!(standbys_required("2 (a, b)"), 2);
        assert_eq!(standbys_required("a, b"), 1);
        assert_eq!(standbys_required("*"), 1);
        assert_eq!(standbys_required("first_standby"), 1, "a name, not FIRST");
        assert_eq!(standbys_required("\"any\" (x)"), 1);
    }
}
