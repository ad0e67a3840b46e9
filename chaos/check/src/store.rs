//! Reading what PostgreSQL holds of a history's streams: every row of
//! bss.events whose stream the history names, and of bss.conflicts (events
//! a region kept out of their streams). Owns the query; must never
//! write (the checker only reads the store it judges).

use std::time::{Duration, Instant};

use postgres::{Client, NoTls};
use tracing::warn;

use crate::account::StoredEvent;

/// Streams per query: keeps one `= ANY($1)` array modest.
const STREAMS_PER_QUERY: usize = 5_000;
/// How long to keep trying to connect: the scenario may have just restarted
/// the database (pg-crash).
const CONNECT_PATIENCE: Duration = Duration::from_secs(60);
const CONNECT_RETRY: Duration = Duration::from_secs(1);

const QUERY: &str = "SELECT event_id::text, stream_id, stream_version, false \
                     FROM bss.events WHERE stream_id = ANY($1)";
/// Where the store has regions (pg_bss 0.12.0 on), its conflicts too.
const QUERY_WITH_CONFLICTS: &str = "SELECT event_id::text, stream_id, stream_version, false \
                     FROM bss.events WHERE stream_id = ANY($1) \
                     UNION ALL SELECT event_id::text, stream_id, stream_version, true \
                     FROM bss.conflicts WHERE stream_id = ANY($1)";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("connecting to PostgreSQL: {0}")]
    Connect(postgres::Error),
    #[error("reading bss.events: {0}")]
    Query(postgres::Error),
}

/// Connects, retrying for a while (the database may be recovering).
pub fn connect(url: &str) -> Result<Client, StoreError> {
    let started = Instant::now();
    loop {
        match Client::connect(url, NoTls) {
            Ok(c) => return Ok(c),
            Err(e) if started.elapsed() < CONNECT_PATIENCE => {
                warn!(error = %e, "PostgreSQL not reachable yet; retrying");
                std::thread::sleep(CONNECT_RETRY);
            }
            Err(e) => return Err(StoreError::Connect(e)),
        }
    }
}

/// Every row of bss.events of `streams`.
pub fn read_events(
    client: &mut Client,
    streams: &[String],
) -> Result<Vec<StoredEvent>, StoreError> {
    let has_conflicts: bool = client
        .query_one("SELECT to_regclass('bss.conflicts') IS NOT NULL", &[])
        .map_err(StoreError::Query)?
        .get(0);
    let query = if has_conflicts {
        QUERY_WITH_CONFLICTS
    } else {
        QUERY
    };
    let mut out = Vec::new();
    for chunk in streams.chunks(STREAMS_PER_QUERY) {
        let rows = client.query(query, &[&chunk]).map_err(StoreError::Query)?;
        for r in &rows {
            out.push(StoredEvent {
                event_id: r.try_get(0).map_err(StoreError::Query)?,
                stream_id: r.try_get(1).map_err(StoreError::Query)?,
                version: r.try_get(2).map_err(StoreError::Query)?,
                conflict: r.try_get(3).map_err(StoreError::Query)?,
            });
        }
    }
    Ok(out)
}
