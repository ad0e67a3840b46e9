//! Running a question against PostgreSQL as the caller, for every front
//! end of `ask` (the CLI, the sidecar's `POST /ask`): in one
//! `BEGIN READ ONLY` transaction with a statement_timeout, the moment (the
//! given one, else the database's `now()`), the plan (the model runs on
//! the blocking pool, off the async threads), and the plan's query with
//! its parameters bound. Owns the transaction, the answer as JSON and how
//! a PostgreSQL error is told to the user.
//!
//! Must never change the role (no SET ROLE: what the caller may read is
//! what they get) nor run any SQL but the plan's and its own settings;
//! the transaction is rolled back, whatever happened. Knows nothing of how
//! the session was opened (the caller's URL, or the sidecar's database
//! with the caller's credentials).

use std::fmt;
use std::sync::Arc;

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

use super::{Answer, Asker, Embed};
use crate::embedding::ModelError;

/// The database's `now()`, as RFC 3339 text in UTC.
const NOW_SQL: &str =
    "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";

/// A PostgreSQL error as the user sees it: SQLSTATE, message, detail,
/// PostgreSQL's hint and ours.
#[derive(Debug, Clone)]
pub struct QueryError {
    /// Empty when the error is not PostgreSQL's (the connection broke).
    pub sqlstate: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl From<tokio_postgres::Error> for QueryError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => QueryError {
                sqlstate: db.code().code().to_owned(),
                message: db.message().to_owned(),
                detail: db.detail().map(str::to_owned),
                hint: db.hint().map(str::to_owned),
            },
            None => QueryError::other(e.to_string()),
        }
    }
}

impl QueryError {
    /// An error that is not PostgreSQL's.
    pub fn other(message: String) -> Self {
        QueryError {
            sqlstate: String::new(),
            message,
            detail: None,
            hint: None,
        }
    }

    /// What `ask`'s user should do about it.
    pub fn advice(&self) -> Option<&'static str> {
        Some(match self.sqlstate.as_str() {
            "42501" => "ask runs as the role you connect as, never another: reading events takes membership of bss_reader (GRANT bss_reader TO <role>), store statistics of bss_admin or pg_monitor",
            "57014" => "the query ran past its statement timeout: ask about a shorter period, or allow it more time",
            "3F000" | "42883" | "42P01" => "is pg_bss installed in this database? (CREATE EXTENSION pg_bss)",
            "XB016" => "bss.tenant is not a tenant you may read: set it to your tenant",
            _ => return None,
        })
    }

    /// Whether the server refused who the caller said they were (a wrong
    /// password, no such role, no pg_hba.conf entry for it).
    pub fn is_authentication(&self) -> bool {
        matches!(self.sqlstate.as_str(), "28000" | "28P01")
    }

    pub fn to_json(&self) -> Value {
        json!({
            "sqlstate": self.sqlstate, "message": self.message, "detail": self.detail,
            "hint": self.hint, "advice": self.advice(),
        })
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sqlstate.is_empty() {
            write!(f, "{}", self.message)?;
        } else {
            write!(f, "ERROR {}: {}", self.sqlstate, self.message)?;
        }
        if let Some(d) = &self.detail {
            write!(f, "\nDETAIL: {d}")?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\nHINT: {h}")?;
        }
        if let Some(a) = self.advice() {
            write!(f, "\nHINT: {a}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("{0}")]
    Database(QueryError),
    #[error(transparent)]
    Model(#[from] ModelError),
}

impl From<tokio_postgres::Error> for AskError {
    fn from(e: tokio_postgres::Error) -> Self {
        AskError::Database(e.into())
    }
}

/// A question asked: the moment its periods are relative to, what it came
/// to, and for a plan its rows (a JSON array) or PostgreSQL's refusal.
pub struct Asked {
    pub question: String,
    pub now: OffsetDateTime,
    pub answer: Answer,
    pub rows: Option<Result<Value, QueryError>>,
}

impl Asked {
    /// One JSON object: the question, the moment and the plan (template,
    /// what was understood, sql, params, ranking) with its `rows` or its
    /// `error`; or `cannot_answer` with the `nearest` questions.
    pub fn to_json(&self) -> Value {
        let mut out = match &self.answer {
            Answer::Plan(plan) => plan.to_json(),
            Answer::CannotAnswer(c) => c.to_json(),
        };
        out["question"] = json!(self.question);
        out["now"] = json!(self.now.format(&Rfc3339).unwrap_or_default());
        match &self.rows {
            Some(Ok(rows)) => out["rows"] = rows.clone(),
            Some(Err(e)) => out["error"] = e.to_json(),
            None => {}
        }
        out
    }
}

/// Asks `question` in a read-only transaction of `client`, its periods
/// relative to `now` (default: the database's `now()`).
pub async fn ask<E: Embed + Send + Sync + 'static>(
    client: &mut Client,
    asker: &Arc<Asker<E>>,
    question: &str,
    now: Option<OffsetDateTime>,
    statement_timeout_ms: u64,
) -> Result<Asked, AskError> {
    let tx = client.build_transaction().read_only(true).start().await?;
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = {statement_timeout_ms}"
    ))
    .await?;
    let now = match now {
        Some(now) => now,
        None => {
            let text: String = tx.query_one(NOW_SQL, &[]).await?.get(0);
            OffsetDateTime::parse(&text, &Rfc3339).map_err(|e| {
                AskError::Database(QueryError::other(format!(
                    "the database's now() {text:?} is not RFC 3339: {e}"
                )))
            })?
        }
    };
    let answer = {
        let asker = asker.clone();
        let question = question.to_owned();
        tokio::task::spawn_blocking(move || asker.ask(&question, now))
            .await
            .map_err(|e| {
                AskError::Database(QueryError::other(format!("the model failed: {e}")))
            })??
    };
    let rows = match &answer {
        Answer::Plan(plan) => {
            let params: Vec<&(dyn ToSql + Sync)> = plan
                .params
                .iter()
                .map(|p| p as &(dyn ToSql + Sync))
                .collect();
            Some(
                match tx.query_one(plan.sql.as_str(), &params).await {
                    Ok(row) => row.try_get::<_, Value>(0),
                    Err(e) => Err(e),
                }
                .map_err(QueryError::from),
            )
        }
        Answer::CannotAnswer(_) => None,
    };
    // Read only: nothing to keep. A failed query has aborted it anyway.
    tx.rollback().await?;
    Ok(Asked {
        question: question.to_owned(),
        now,
        answer,
        rows,
    })
}
