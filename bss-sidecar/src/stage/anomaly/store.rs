//! Owns storing anomalies in PostgreSQL: each as an `anomaly.detected`
//! event of stream `anomaly-<detector>`, appended with `bss.append_event`
//! under its name-based id (so an anomaly found again after a crash is
//! stored once), one transaction per batch. Must tell an unavailable server
//! (retry) from a refusal no retry fixes.

use bss_detect::pipeline::Anomaly;
use bss_detect::time::format_rfc3339_us;
use tokio_postgres::types::ToSql;

use crate::failure::Failure;
use bss_tls::postgres::SqlConnector;

/// Source of the anomaly events.
const EVENT_SOURCE: &str = "/bss-sidecar/anomaly";

const APPEND_SQL: &str = "SELECT bss.append_event(stream_id => $1, type => 'anomaly.detected', \
     data => $2::text::jsonb, event_id => $3::text::uuid, source => $4, subject => $5, \
     \"time\" => $6::text::timestamptz)";

/// The connection anomalies are appended through.
pub struct Db {
    url: String,
    client: Option<tokio_postgres::Client>,
}

impl Db {
    pub fn new(url: String) -> Db {
        Db { url, client: None }
    }

    /// Stores `found` in one transaction. After a Retry the next call
    /// connects again.
    pub async fn append(&mut self, found: &[Anomaly]) -> Result<(), Failure> {
        let result = self.try_append(found).await;
        match result {
            Err(Failure::Retry(_)) => self.client = None,
            Err(Failure::Fatal(ref e)) => {
                let first = found.first().map(|a| a.id.to_string()).unwrap_or_default();
                return Err(Failure::Fatal(format!(
                    "the anomaly stage cannot store anomaly {first}: {e}"
                )));
            }
            Ok(()) => {}
        }
        result
    }

    async fn try_append(&mut self, found: &[Anomaly]) -> Result<(), Failure> {
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            // Built at each connection: certificates renewed on disk are read again.
            let connector = SqlConnector::from_url(&self.url)
                .map_err(|e| Failure::Fatal(format!("invalid database URL: {e}")))?;
            self.client = Some(connector.connect().await.map_err(classify)?);
        }
        let client = self.client.as_mut().expect("connected above");
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
}

/// Connection trouble, a server shutting down, lock conflicts and resource
/// shortage pass; anything else the server says about the event does not.
fn classify(e: tokio_postgres::Error) -> Failure {
    let text = match e.as_db_error() {
        Some(db) => format!("{}: {} ({})", db.severity(), db.message(), db.code().code()),
        None => return Failure::Retry(e.to_string()),
    };
    let code = e.code().map(|c| c.code()).unwrap_or("");
    let passes = ["08", "53", "57", "58"]
        .iter()
        .any(|class| code.starts_with(class))
        || matches!(code, "40001" | "40P01" | "55P03");
    if passes {
        Failure::Retry(text)
    } else {
        Failure::Fatal(text)
    }
}
