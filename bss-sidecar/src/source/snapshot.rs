//! Owns reading the store as of a slot's start: creating a logical slot
//! that exports its snapshot, importing that snapshot into a SQL session,
//! and reading `bss.events` in it, page by page in position order, decoded
//! by the same decoder as pgoutput's rows. The gap fill after a lost slot
//! ([`super::gap_fill`]) and the operator's replay (`crate::replay`) both
//! read through here.
//!
//! Must never read outside the imported snapshot, and never hand out an
//! event it could not decode whole.

use std::time::SystemTime;

use anyhow::{anyhow, bail, Context, Result};
use pgwire_replication::{Lsn, ReplicationClient};
use tokio_postgres::types::{FromSql, Type};

use super::pgoutput::{Column, EventColumns, Relation};
use crate::event::{unix_us, Event};

/// Events read per page.
pub const PAGE: i64 = 1000;

/// The columns read, by the names the pgoutput decoder maps.
const SELECT: &str = "SELECT global_position, stream_id, stream_version, event_id, source, type, \
     subject, \"time\", datacontenttype, dataschema, data, metadata, region, recorded_at, tenant \
     FROM bss.events WHERE global_position > $1 ORDER BY global_position LIMIT $2";

/// A slot just created: where it starts streaming, and the snapshot that
/// sees exactly what committed before that.
#[derive(Debug, Clone)]
pub struct CreatedSlot {
    pub consistent_point: Lsn,
    pub snapshot: String,
}

/// Creates logical slot `slot` (pgoutput) on the gated replication session
/// `gate`, exporting its snapshot, which stays importable until the next
/// command on `gate` or its end. A temporary slot goes when `gate` ends.
pub async fn create_slot(
    gate: &mut ReplicationClient,
    slot: &str,
    temporary: bool,
) -> Result<CreatedSlot> {
    let temporary = if temporary { " TEMPORARY" } else { "" };
    let rows = gate
        .simple_query(&format!(
            "CREATE_REPLICATION_SLOT {slot}{temporary} LOGICAL pgoutput (SNAPSHOT 'export')"
        ))
        .await
        .with_context(|| format!("creating replication slot {slot:?}"))?;
    let text = |i: usize| -> Result<String> {
        rows.first()
            .and_then(|r| r.get(i).cloned().flatten())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .ok_or_else(|| anyhow!("CREATE_REPLICATION_SLOT returned no column {i}"))
    };
    let consistent_point =
        Lsn::parse(&text(1)?).map_err(|e| anyhow!("the slot's consistent point: {e}"))?;
    let snapshot = text(2)?;
    if snapshot.is_empty() || !snapshot.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        bail!("the slot exported a snapshot named {snapshot:?}, not hex digits and dashes");
    }
    Ok(CreatedSlot {
        consistent_point,
        snapshot,
    })
}

/// Numbers events read in a slot's snapshot as one transaction committed
/// at its consistent point: Redis entry IDs `<consistent point>-<n>`, below
/// those of every transaction the slot streams after.
pub struct AtConsistentPoint {
    lsn: u64,
    next: u32,
}

impl AtConsistentPoint {
    pub fn new(consistent_point: Lsn) -> AtConsistentPoint {
        AtConsistentPoint {
            lsn: consistent_point.0,
            next: 0,
        }
    }

    /// Gives `e` the consistent point as its commit and the next index;
    /// fails past u32::MAX events (a transaction's index is a u32).
    pub fn stamp(&mut self, e: &mut Event) -> Result<()> {
        e.commit_lsn = self.lsn;
        e.txn_index = self.next;
        self.next = self.next.checked_add(1).ok_or_else(|| {
            anyhow!(
                "more than {} events read as one transaction at {}",
                u32::MAX,
                Lsn(self.lsn)
            )
        })?;
        Ok(())
    }
}

/// Opens a read-only transaction on `sql` in the snapshot of `slot`; the
/// caller ends it with COMMIT or ROLLBACK.
pub async fn import(sql: &tokio_postgres::Client, slot: &CreatedSlot) -> Result<()> {
    sql.batch_execute(&format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{}'",
        slot.snapshot
    ))
    .await
    .context("importing the new slot's snapshot")
}

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

/// Reads `bss.events` in the session's snapshot.
pub struct StoreEvents {
    stmt: tokio_postgres::Statement,
    cols: EventColumns,
}

impl StoreEvents {
    pub async fn prepare(sql: &tokio_postgres::Client) -> Result<StoreEvents> {
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
        Ok(StoreEvents { stmt, cols })
    }

    /// Up to [`PAGE`] events above position `after`, in position order;
    /// empty past the last. Each has its commit time set to when the store
    /// recorded it; its commit LSN and index are the caller's to set.
    pub async fn page(&self, sql: &tokio_postgres::Client, after: i64) -> Result<Vec<Event>> {
        let rows = sql
            .query(&self.stmt, &[&after, &PAGE])
            .await
            .context("reading bss.events")?;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            let position: i64 = row.get(0);
            let values = (0..row.len())
                .map(|i| row.try_get::<_, Raw>(i).map(|r| r.0))
                .collect::<Result<Vec<_>, _>>()?;
            let mut e = self
                .cols
                .event(values)
                .map_err(|e| anyhow!("cannot decode the event at position {position}: {e}"))?;
            let recorded: SystemTime = row.get("recorded_at");
            e.commit_time_us = unix_us(recorded);
            events.push(e);
        }
        Ok(events)
    }
}
