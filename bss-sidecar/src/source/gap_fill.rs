//! Owns the gap fill: once the source has created its slot anew (on a
//! promoted standby, a restored cluster, or after the slot was dropped),
//! spooling the events committed before the slot's consistent point that
//! the spool lacks, read from `bss.events` in the snapshot the slot
//! exported, in position order, before the slot streams on.
//!
//! Why the set it spools is exactly what is missing:
//! - The exported snapshot sees every transaction committed before the
//!   consistent point and none after; the slot streams exactly those
//!   committed after. So nothing falls between the two, and nothing comes
//!   twice from them.
//! - An event the spool lacks is above the floor ([`super::floor`]), so
//!   reading the positions above it finds them all, however out of order
//!   positions were committed.
//! - An event above the floor that the spool holds is among the records
//!   it kept from R on, and is left out by its event id (positions are
//!   not identities across a failover: a primary that died may have
//!   handed out, in a transaction its standby never got, positions that
//!   the new primary hands out again).
//!
//! Per stream, the order holds: a stream's versions commit in order (its
//! row lock), so what the spool lacks of a stream comes after what it
//! holds, and what the slot streams after that.
//!
//! Must never spool an event the spool holds, never leave out one it
//! lacks, and never read outside the slot's snapshot.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use tokio_postgres::types::{FromSql, Type};
use tracing::info;

use super::floor::{positions, query_floor, Floor};
use super::pgoutput::{Column, EventColumns, Relation};
use crate::metrics::Metrics;
use crate::spool::Spool;

/// Events read per query.
pub const FILL_BATCH: i64 = 1000;

/// The columns read, by the names the pgoutput decoder maps.
const SELECT: &str = "SELECT global_position, stream_id, stream_version, event_id, source, type, \
     subject, \"time\", datacontenttype, dataschema, data, metadata, region, recorded_at \
     FROM bss.events WHERE global_position > $1 ORDER BY global_position LIMIT $2";

/// A column's value in PostgreSQL's binary format, as pgoutput sends it
/// in binary mode: one decoder serves both.
struct Raw(Option<Vec<u8>>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw.to_vec())))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// What a fill did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filled {
    /// Events spooled.
    pub events: u64,
    /// The floor in the slot's snapshot (None: nothing settled there).
    pub floor: Option<i64>,
}

/// In the snapshot `snapshot` exported by the slot created at `base_lsn`:
/// spools the events above the floor that the spool lacks (when `gap`;
/// a slot new to the spool wants nothing before it), each as committed at
/// `base_lsn`, and finds the floor there.
pub async fn fill(
    sql: &tokio_postgres::Client,
    snapshot: &str,
    base_lsn: u64,
    gap: bool,
    floor: &mut Floor,
    spool: &Spool,
    metrics: &Metrics,
) -> Result<Filled> {
    if snapshot.is_empty() || !snapshot.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        bail!("the slot exported a snapshot named {snapshot:?}, not hex digits and dashes");
    }
    sql.batch_execute(&format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{snapshot}'"
    ))
    .await
    .context("importing the new slot's snapshot")?;
    let result = async {
        let events = if gap {
            spool_gap(sql, base_lsn, floor, spool, metrics).await?
        } else {
            0
        };
        let (settled, _) = query_floor(sql, floor.position()).await?;
        Ok::<_, anyhow::Error>(Filled {
            events,
            floor: settled,
        })
    }
    .await;
    match result {
        Ok(filled) => {
            sql.batch_execute("COMMIT").await?;
            Ok(filled)
        }
        Err(e) => {
            let _ = sql.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

async fn spool_gap(
    sql: &tokio_postgres::Client,
    base_lsn: u64,
    floor: &mut Floor,
    spool: &Spool,
    metrics: &Metrics,
) -> Result<u64> {
    let spooled = tokio::task::block_in_place(|| floor.spooled_ids(spool))?;
    let stmt = sql.prepare(SELECT).await?;
    let cols = EventColumns::new(Relation {
        id: 0,
        namespace: "bss".to_owned(),
        name: "events".to_owned(),
        columns: stmt
            .columns()
            .iter()
            .map(|c| Column {
                name: c.name().to_owned(),
                type_oid: c.type_().oid(),
            })
            .collect(),
    })
    .map_err(|e| anyhow!("bss.events: {e}"))?;
    let from = floor.position();
    let (mut after, mut txn_index, mut filled, mut skipped) = (from, 0u32, 0u64, 0u64);
    loop {
        let rows = sql
            .query(&stmt, &[&after, &FILL_BATCH])
            .await
            .context("reading the gap from bss.events")?;
        let Some(last) = rows.last() else { break };
        after = last.get(0);
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            let values = (0..row.len())
                .map(|i| row.try_get::<_, Raw>(i).map(|r| r.0))
                .collect::<Result<Vec<_>, _>>()?;
            let mut e = cols
                .event(values)
                .map_err(|e| anyhow!("cannot decode the event at position {after}: {e}"))?;
            if spooled.contains(&e.event_id) {
                skipped += 1;
                continue;
            }
            let recorded: SystemTime = row.get("recorded_at");
            e.commit_lsn = base_lsn;
            e.txn_index = txn_index;
            e.commit_time_us = recorded
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as i64);
            txn_index += 1;
            events.push(e);
        }
        if events.is_empty() {
            continue;
        }
        spool.wait_for_room().await;
        let (first, at, n) = (spool.next_seq(), positions(&events), events.len() as u64);
        tokio::task::block_in_place(|| {
            spool.append(events)?;
            spool.sync()
        })?;
        floor.note(first, at.into_iter());
        metrics.source_gap_fill_events.inc_by(n);
        filled += n;
    }
    info!(
        above = from,
        through = after,
        filled,
        already_spooled = skipped,
        "filled the gap before the new slot from bss.events"
    );
    Ok(filled)
}
