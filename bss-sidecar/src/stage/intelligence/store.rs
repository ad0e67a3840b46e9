//! Owns what the intelligence stage reads from and writes to PostgreSQL:
//! the customers' `segment` and `plan` (the newest value of each key in
//! the customer's stream, as the merge-patch fold has it), the count of
//! anomalies stored recently, and the classified events, appended with
//! `bss.append_event` under their name-based ids in the tickets' own
//! streams and tenants, one transaction per chunk. Reads `bss.events`
//! directly, as the sidecar's role may (it has no `bss.aggregate`).

use std::collections::HashMap;
use std::time::Duration;

use tokio_postgres::types::ToSql;

use crate::failure::Failure;
use crate::stage::db::{classify, Db};

/// Source of the classified events.
pub const EVENT_SOURCE: &str = "/bss-sidecar/intelligence";

const FACTS_SQL: &str = "SELECT c.id, \
       (SELECT e.data->>'segment' FROM bss.events e WHERE e.stream_id = c.id AND e.data ? 'segment' \
        ORDER BY e.stream_version DESC LIMIT 1), \
       (SELECT e.data->>'plan' FROM bss.events e WHERE e.stream_id = c.id AND e.data ? 'plan' \
        ORDER BY e.stream_version DESC LIMIT 1) \
     FROM unnest($1::text[]) AS c(id)";

const ANOMALIES_SQL: &str = "SELECT count(*) FROM bss.events \
     WHERE category = 'anomaly' AND recorded_at > now() - make_interval(secs => $1::float8)";

const TENANT_SQL: &str = "SELECT set_config('bss.tenant', $1, true)";

const APPEND_SQL: &str = "SELECT bss.append_event(stream_id => $1, type => $2, \
     data => $3::text::jsonb, event_id => $4::text::uuid, source => $5, subject => $6)";

/// A customer's segment and plan, each None when its stream has none.
pub type CustomerFacts = (Option<String>, Option<String>);

/// The facts of `customers` and how many anomalies were stored in the
/// last `window`.
pub async fn facts(
    db: &mut Db,
    customers: &[String],
    window: Duration,
) -> Result<(HashMap<String, CustomerFacts>, u32), Failure> {
    let result = try_facts(db, customers, window).await;
    if let Err(e) = &result {
        db.after(e);
    }
    result.map_err(|e| match e {
        Failure::Fatal(e) => Failure::Fatal(format!(
            "the intelligence stage cannot read customers' segment and plan or recent anomalies: {e}"
        )),
        retry => retry,
    })
}

async fn try_facts(
    db: &mut Db,
    customers: &[String],
    window: Duration,
) -> Result<(HashMap<String, CustomerFacts>, u32), Failure> {
    let client = db.client().await?;
    let window = window.as_secs_f64();
    let (rows, anomalies) = futures::future::try_join(
        client.query(FACTS_SQL, &[&customers]),
        client.query_one(ANOMALIES_SQL, &[&window]),
    )
    .await
    .map_err(classify)?;
    let facts = rows
        .into_iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    let anomalies: i64 = anomalies.get(0);
    Ok((facts, u32::try_from(anomalies).unwrap_or(u32::MAX)))
}

/// A classified event to store.
pub struct Classified {
    pub stream_id: String,
    pub tenant: String,
    pub event_type: String,
    pub event_id: String,
    pub data: String,
    pub subject: String,
}

/// Stores `events` in one transaction, each in its stream's tenant.
pub async fn append(db: &mut Db, events: &[Classified]) -> Result<(), Failure> {
    let result = try_append(db, events).await;
    if let Err(e) = &result {
        db.after(e);
    }
    result.map_err(|e| match e {
        Failure::Fatal(e) => {
            let first = events.first().map_or("", |c| c.stream_id.as_str());
            Failure::Fatal(format!(
                "the intelligence stage cannot store the classification of a ticket in stream {first} \
                 (the sidecar's role needs pg_bss 0.10.0's leave to append *.classified events): {e}"
            ))
        }
        retry => retry,
    })
}

async fn try_append(db: &mut Db, events: &[Classified]) -> Result<(), Failure> {
    let client = db.client().await?;
    let tx = client.transaction().await.map_err(classify)?;
    let (tenant, append) =
        futures::future::try_join(tx.prepare(TENANT_SQL), tx.prepare(APPEND_SQL))
            .await
            .map_err(classify)?;
    // In order, sent together (tokio-postgres pipelines queries polled at
    // once): the tenant is set again only where it changes.
    let mut steps: Vec<(&tokio_postgres::Statement, Vec<&(dyn ToSql + Sync)>)> = Vec::new();
    let mut current: Option<&str> = None;
    for c in events {
        if current != Some(c.tenant.as_str()) {
            steps.push((&tenant, vec![&c.tenant]));
            current = Some(&c.tenant);
        }
        steps.push((
            &append,
            vec![
                &c.stream_id,
                &c.event_type,
                &c.data,
                &c.event_id,
                &EVENT_SOURCE,
                &c.subject,
            ],
        ));
    }
    let queries = steps.iter().map(|(stmt, params)| tx.query(*stmt, params));
    futures::future::try_join_all(queries)
        .await
        .map_err(classify)?;
    tx.commit().await.map_err(classify)
}
