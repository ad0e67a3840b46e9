//! Owns the sidecar's HTTP endpoint: `/metrics` (Prometheus text),
//! `/healthz` (200 while the replication source streams), the status page
//! `/` (`status_page.html`: inline CSS, JS and SVG, no external asset) and
//! `/status.json` (what the page polls), and `POST /ask` when `[ask]` is
//! set (crate::ask). Must never block the pipeline: every route but /ask
//! only reads counters and the status page's history, and /ask runs its
//! model on the blocking pool, a bounded number at once.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use tokio::sync::watch;

use crate::ask::{self, AskService};
use crate::metrics::Metrics;
use crate::shutdown::stopped;
use crate::status::Status;

/// The page, served as is.
const PAGE: &str = include_str!("status_page.html");
/// The browser may load nothing but the page itself and `/status.json`.
const PAGE_CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; \
     form-action 'none'";

/// Serves `/metrics`, `/healthz`, the status page (`/`, `/status.json`)
/// and, given `ask`, `POST /ask` on `addr` until `shutdown` turns true.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    status: Arc<Status>,
    ask: Option<Arc<AskService>>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut app = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(health_handler))
        .with_state(metrics)
        .merge(status_routes(status));
    if let Some(service) = ask {
        app = app.merge(ask::routes(service));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {addr}: {e}"))?;
    tracing::info!(%addr, "serving /metrics, /healthz and the status page at /");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { stopped(&mut shutdown).await })
        .await?;
    Ok(())
}

async fn metrics_handler(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    m.source_streaming
        .set(i64::from(m.source_up.load(Ordering::Acquire)));
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.encode(),
    )
}

async fn health_handler(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    if m.source_up.load(Ordering::Acquire) {
        (StatusCode::OK, "ok\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "replication source is not streaming\n",
        )
    }
}

/// `/` and `/status.json`.
fn status_routes(status: Arc<Status>) -> Router {
    Router::new()
        .route("/", get(page_handler))
        .route("/status.json", get(json_handler))
        .with_state(status)
}

async fn page_handler() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
        ],
        PAGE,
    )
}

async fn json_handler(State(status): State<Arc<Status>>) -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], Json(status.report()))
}
