//! Owns storing anomalies in PostgreSQL: each as an `anomaly.detected`
//! event of stream `anomaly-<detector>`, appended with `bss.append_event`
//! under its name-based id (so an anomaly found again after a crash is
//! stored once), one transaction per batch, through `stage::db`.

use bss_detect::pipeline::Anomaly;
use bss_detect::time::format_rfc3339_us;
use tokio_postgres::types::ToSql;

use crate::failure::Failure;
use crate::stage::db::{classify, Db};

/// Source of the anomaly events.
const EVENT_SOURCE: &str = "/bss-sidecar/anomaly";

const APPEND_SQL: &str = "SELECT bss.append_event(stream_id => $1, type => 'anomaly.detected', \
     data => $2::text::jsonb, event_id => $3::text::uuid, source => $4, subject => $5, \
     \"time\" => $6::text::timestamptz)";

/// Stores `found` in one transaction. After a Retry the next call
/// connects again.
pub async fn append(db: &mut Db, found: &[Anomaly]) -> Result<(), Failure> {
    let result = try_append(db, found).await;
    if let Err(e) = &result {
        db.after(e);
    }
    result.map_err(|e| match e {
        Failure::Fatal(e) => {
            let first = found.first().map(|a| a.id.to_string()).unwrap_or_default();
            Failure::Fatal(format!(
                "the anomaly stage cannot store anomaly {first}: {e}"
            ))
        }
        retry => retry,
    })
}

async fn try_append(db: &mut Db, found: &[Anomaly]) -> Result<(), Failure> {
    let client = db.client().await?;
    let tx = client.transaction().await.map_err(classify)?;
    let stmt = tx.prepare(APPEND_SQL).await.map_err(classify)?;
    let rows: Vec<_> = found
        .iter()
        .map(|a| {
            (
                a.stream_id(),
                a.data().to_string(),
                a.id.to_string(),
                a.key.clone(),
                format_rfc3339_us(a.time_us),
            )
        })
        .collect();
    let params: Vec<[&(dyn ToSql + Sync); 6]> = rows
        .iter()
        .map(|(stream, data, id, subject, time)| {
            [
                stream as _,
                data as _,
                id as _,
                &EVENT_SOURCE as _,
                subject as _,
                time as _,
            ]
        })
        .collect();
    // Sent together: tokio-postgres pipelines queries polled at once.
    let appends = params.iter().map(|p| tx.query_one(&stmt, p));
    futures::future::try_join_all(appends)
        .await
        .map_err(classify)?;
    tx.commit().await.map_err(classify)
}
