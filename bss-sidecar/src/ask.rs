//! Owns `POST /ask` on the sidecar's HTTP endpoint: a plain-language
//! question (`{"question": "...", "now": "RFC 3339"?}`) answered as
//! `bss-intel ask` answers it (bss_intel::ask::database), as the caller's
//! own PostgreSQL role: HTTP Basic credentials are the caller's PostgreSQL
//! user and password, and the session goes to the sidecar's database
//! (host, port, database, TLS checks) with them.
//!
//! Must never run a question as the sidecar's role nor with its client
//! certificate, never answer before PostgreSQL has accepted the caller's
//! credentials (the model runs only for someone the database let in), and
//! never be served where a password would cross the network in clear:
//! [`AskConfig::check_listener`] refuses a listener off loopback.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use bss_intel::ask::database::{self, AskError, QueryError};
use bss_intel::ask::{Answer, Asker};
use bss_intel::embedding::Embedder;
use bss_tls::postgres::SqlConnector;
use serde::Deserialize;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::Semaphore;

/// The challenge of a 401.
const CHALLENGE: &str = "Basic realm=\"bss-sidecar ask\", charset=\"UTF-8\"";

/// The `[ask]` table; present: `POST /ask` is served.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskConfig {
    /// The folder `scripts/intel_data.sh` fills (the model in `minilm/`).
    pub data_dir: PathBuf,
    /// The longest a question's query may run [default: 30000].
    #[serde(default = "default_statement_timeout_ms")]
    pub statement_timeout_ms: u64,
    /// Questions answered at once; more wait [default: 2].
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent: usize,
}

fn default_statement_timeout_ms() -> u64 {
    30_000
}

fn default_max_concurrent() -> usize {
    2
}

impl AskConfig {
    /// The settings' own checks, naming the setting.
    pub fn check(&self) -> Result<(), String> {
        if self.statement_timeout_ms == 0 {
            return Err("statement_timeout_ms must be at least 1".into());
        }
        if self.max_concurrent == 0 {
            return Err("max_concurrent must be at least 1".into());
        }
        let model = self.data_dir.join("minilm").join("model.safetensors");
        if !model.is_file() {
            return Err(format!(
                "data_dir: {} is missing: run scripts/intel_data.sh",
                model.display()
            ));
        }
        Ok(())
    }

    /// `POST /ask` takes passwords: only on the HTTP endpoint, and only
    /// where they stay on the machine.
    pub fn check_listener(addr: Option<SocketAddr>) -> Result<(), String> {
        match addr {
            None => Err("needs metrics_addr: /ask is served on the sidecar's HTTP endpoint".into()),
            Some(a) if !a.ip().is_loopback() => Err(format!(
                "metrics_addr {a} is not a loopback address: /ask takes PostgreSQL passwords, \
                 which the endpoint's plain HTTP would carry in clear; listen on 127.0.0.1 \
                 or ::1 and put a TLS proxy in front for other hosts"
            )),
            Some(_) => Ok(()),
        }
    }
}

/// What `POST /ask` needs: the way to the database, the model with its
/// templates' examples embedded, and the bound on questions at once.
pub struct AskService {
    connector: SqlConnector,
    asker: Arc<Asker<Embedder>>,
    permits: Semaphore,
    statement_timeout_ms: u64,
}

impl AskService {
    /// Loads the model and embeds the templates' examples (a second or
    /// two, on the blocking pool).
    pub async fn load(cfg: &AskConfig, database_url: &str) -> anyhow::Result<Arc<AskService>> {
        let connector = SqlConnector::for_callers(database_url)
            .map_err(|e| anyhow::anyhow!("[ask] the database URL: {e}"))?;
        let dir = cfg.data_dir.join("minilm");
        let asker = tokio::task::spawn_blocking(move || {
            Embedder::from_dir(&dir).and_then(Asker::new).map_err(|e| {
                anyhow::anyhow!("[ask] cannot load the model in {}: {e}", dir.display())
            })
        })
        .await??;
        Ok(Arc::new(AskService {
            connector,
            asker: Arc::new(asker),
            permits: Semaphore::new(cfg.max_concurrent),
            statement_timeout_ms: cfg.statement_timeout_ms,
        }))
    }
}

/// `POST /ask`.
pub fn routes(service: Arc<AskService>) -> Router {
    Router::new()
        .route("/ask", post(ask_handler))
        .with_state(service)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Question {
    question: String,
    /// RFC 3339; absent: the database's now().
    #[serde(default)]
    now: Option<String>,
}

/// An error response: a status and `{"error": {...}}`.
fn error(status: StatusCode, error: Value) -> Response {
    let mut r = (status, Json(json!({ "error": error }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static(CHALLENGE),
        );
    }
    r
}

fn message(text: impl Into<String>) -> Value {
    json!({ "message": text.into() })
}

async fn ask_handler(
    State(service): State<Arc<AskService>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((user, password)) = basic_credentials(&headers) else {
        return error(
            StatusCode::UNAUTHORIZED,
            message("give your PostgreSQL user and password with HTTP Basic authentication"),
        );
    };
    let q: Question = match serde_json::from_slice(&body) {
        Ok(q) => q,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                message(format!(
                    "the body must be JSON {{\"question\": \"...\", \"now\": \"RFC 3339\" (optional)}}: {e}"
                )),
            )
        }
    };
    if q.question.trim().is_empty() {
        return error(StatusCode::BAD_REQUEST, message("the question is empty"));
    }
    let now = match q.now.as_deref().map(|t| OffsetDateTime::parse(t, &Rfc3339)) {
        None => None,
        Some(Ok(now)) => Some(now),
        Some(Err(e)) => {
            return error(
                StatusCode::BAD_REQUEST,
                message(format!(
                    "now {:?} is not an RFC 3339 moment such as 2026-11-25T12:00:00Z: {e}",
                    q.now.unwrap_or_default()
                )),
            )
        }
    };
    let Ok(_permit) = service.permits.acquire().await else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            message("the sidecar is stopping"),
        );
    };
    let mut client = match service.connector.as_user(&user, &password).connect().await {
        Ok(c) => c,
        Err(e) => {
            let e = QueryError::from(e);
            let status = if e.is_authentication() {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::BAD_GATEWAY
            };
            return error(status, e.to_json());
        }
    };
    let asked = database::ask(
        &mut client,
        &service.asker,
        &q.question,
        now,
        service.statement_timeout_ms,
    )
    .await;
    match asked {
        Ok(asked) => {
            let status = match (&asked.answer, &asked.rows) {
                (Answer::CannotAnswer(_), _) => StatusCode::UNPROCESSABLE_ENTITY,
                (Answer::Plan(_), Some(Err(e))) => query_status(e),
                (Answer::Plan(_), _) => StatusCode::OK,
            };
            (status, Json(asked.to_json())).into_response()
        }
        Err(AskError::Database(e)) => error(query_status(&e), e.to_json()),
        Err(AskError::Model(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            message(format!("the model failed: {e}")),
        ),
    }
}

/// The status of PostgreSQL's refusal: not allowed (42501) is 403, the
/// statement timeout 504, the rest 502 (the database failed us).
fn query_status(e: &QueryError) -> StatusCode {
    match e.sqlstate.as_str() {
        "42501" => StatusCode::FORBIDDEN,
        "57014" => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// The user and password of an `Authorization: Basic` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    (!user.is_empty()).then(|| (user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn basic_credentials_are_read_and_anything_else_is_none() {
        // "alice:s3cr:t" — a password may hold a colon, a user may not.
        let b64 = base64::engine::general_purpose::STANDARD.encode("alice:s3cr:t");
        assert_eq!(
            basic_credentials(&headers(&format!("Basic {b64}"))),
            Some(("alice".into(), "s3cr:t".into()))
        );
        assert_eq!(
            basic_credentials(&headers(&format!("basic  {b64}"))),
            Some(("alice".into(), "s3cr:t".into()))
        );
        assert_eq!(basic_credentials(&headers(&format!("Bearer {b64}"))), None);
        assert_eq!(basic_credentials(&headers("Basic !!!")), None);
        let no_user = base64::engine::general_purpose::STANDARD.encode(":pw");
        assert_eq!(
            basic_credentials(&headers(&format!("Basic {no_user}"))),
            None
        );
        assert_eq!(basic_credentials(&HeaderMap::new()), None);
    }

    #[test]
    fn the_listener_must_be_loopback() {
        assert!(AskConfig::check_listener(Some("127.0.0.1:9187".parse().unwrap())).is_ok());
        assert!(AskConfig::check_listener(Some("[::1]:9187".parse().unwrap())).is_ok());
        let e = AskConfig::check_listener(Some("0.0.0.0:9187".parse().unwrap())).unwrap_err();
        assert!(e.contains("not a loopback address"), "{e}");
        let e = AskConfig::check_listener(None).unwrap_err();
        assert!(e.contains("needs metrics_addr"), "{e}");
    }

    #[test]
    fn refusals_map_to_statuses() {
        let e = |s: &str| QueryError {
            sqlstate: s.into(),
            message: String::new(),
            detail: None,
            hint: None,
        };
        assert_eq!(query_status(&e("42501")), StatusCode::FORBIDDEN);
        assert_eq!(query_status(&e("57014")), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(query_status(&e("XX000")), StatusCode::BAD_GATEWAY);
    }
}
