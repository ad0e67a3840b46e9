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

use anyhow::Result;
use pgwire_replication::Lsn;
use tracing::info;

use super::floor::{positions, query_floor, Floor};
use super::snapshot::{self, AtConsistentPoint, CreatedSlot, StoreEvents};
use crate::metrics::Metrics;
use crate::spool::Spool;

/// What a fill did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filled {
    /// Events spooled.
    pub events: u64,
    /// The floor in the slot's snapshot (None: nothing settled there).
    pub floor: Option<i64>,
}

/// In the snapshot of the slot just created: spools the events above the
/// floor that the spool lacks (when `gap`; a slot new to the spool wants
/// nothing before it), each as committed at the slot's consistent point,
/// and finds the floor there.
pub async fn fill(
    sql: &tokio_postgres::Client,
    slot: &CreatedSlot,
    gap: bool,
    floor: &mut Floor,
    spool: &Spool,
    metrics: &Metrics,
) -> Result<Filled> {
    snapshot::import(sql, slot).await?;
    let result = async {
        let events = if gap {
            spool_gap(sql, slot.consistent_point, floor, spool, metrics).await?
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
    consistent_point: Lsn,
    floor: &mut Floor,
    spool: &Spool,
    metrics: &Metrics,
) -> Result<u64> {
    let spooled = tokio::task::block_in_place(|| floor.spooled_ids(spool))?;
    let reader = StoreEvents::prepare(sql).await?;
    let from = floor.position();
    let mut at_c = AtConsistentPoint::new(consistent_point);
    let (mut after, mut filled, mut skipped) = (from, 0u64, 0u64);
    loop {
        let page = reader.page(sql, after).await?;
        let Some(last) = page.last() else { break };
        after = last.global_position;
        let mut events = Vec::with_capacity(page.len());
        for mut e in page {
            if spooled.contains(&e.event_id) {
                skipped += 1;
                continue;
            }
            at_c.stamp(&mut e)?;
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
