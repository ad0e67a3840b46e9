//! Running a question against PostgreSQL as the caller: connecting with
//! the caller's own credentials (a libpq URL, TLS as bss-tls reads it, or
//! libpq's PG* variables), then in one `BEGIN READ ONLY` transaction with
//! a statement_timeout: the moment (the given one, else the database's
//! `now()`), the plan, and the plan's query with its parameters bound.
//! Owns the transaction and how a PostgreSQL error is told to the user.
//!
//! Must never change the role (no SET ROLE: what the caller may read is
//! what they get) nor run any SQL but the plan's and its own settings;
//! the transaction is rolled back, whatever happened.

use std::fmt;

use bss_intel::ask::{Answer, Asker, Embed};
use bss_intel::embedding::ModelError;
use postgres::types::ToSql;
use postgres::Client;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The database's `now()`, as RFC 3339 text in UTC.
const NOW_SQL: &str =
    "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";

/// Connects to `url`, else to what libpq's environment variables name.
pub fn connect(url: Option<&str>) -> Result<Client, String> {
    let url = match url {
        Some(u) => u.to_owned(),
        None => from_environment()?,
    };
    let (config, tls) = bss_tls::postgres::parse(&url)?;
    let connector = tls.connector()?;
    postgres::Config::from(config)
        .connect(connector)
        .map_err(|e| format!("cannot connect to the database: {}", QueryError::from(e)))
}

/// libpq's PGHOST, PGPORT, PGUSER (else USER), PGPASSWORD, PGDATABASE
/// (else the user) and PGSSLMODE, PGSSLROOTCERT, PGSSLCERT, PGSSLKEY as
/// `key=value` pairs.
fn from_environment() -> Result<String, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let user = var("PGUSER").or_else(|| var("USER"));
    let host = var("PGHOST").unwrap_or_else(|| {
        if std::path::Path::new("/var/run/postgresql").is_dir() {
            "/var/run/postgresql".to_owned()
        } else {
            "localhost".to_owned()
        }
    });
    let pairs = [
        ("host", Some(host)),
        ("port", var("PGPORT")),
        ("user", user.clone()),
        ("password", var("PGPASSWORD")),
        ("dbname", var("PGDATABASE").or(user)),
        ("sslmode", var("PGSSLMODE")),
        ("sslrootcert", var("PGSSLROOTCERT")),
        ("sslcert", var("PGSSLCERT")),
        ("sslkey", var("PGSSLKEY")),
    ];
    let mut out = Vec::new();
    for (key, value) in pairs {
        let Some(value) = value else { continue };
        if value.contains(|c: char| c.is_whitespace() || c == '\'' || c == '\\') {
            return Err(format!(
                "the {key} from the environment has a space, quote or backslash: give --database-url (or DATABASE_URL) instead"
            ));
        }
        out.push(format!("{key}={value}"));
    }
    Ok(out.join(" "))
}

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

impl From<postgres::Error> for QueryError {
    fn from(e: postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => QueryError {
                sqlstate: db.code().code().to_owned(),
                message: db.message().to_owned(),
                detail: db.detail().map(str::to_owned),
                hint: db.hint().map(str::to_owned),
            },
            None => QueryError {
                sqlstate: String::new(),
                message: e.to_string(),
                detail: None,
                hint: None,
            },
        }
    }
}

impl QueryError {
    /// What `ask`'s user should do about it.
    pub fn advice(&self) -> Option<&'static str> {
        Some(match self.sqlstate.as_str() {
            "42501" => "ask runs as the role you connect as, never another: reading events takes membership of bss_reader (GRANT bss_reader TO <role>), store statistics of bss_admin or pg_monitor",
            "57014" => "the query ran past --statement-timeout-ms: ask about a shorter period, or allow it more time",
            "3F000" | "42883" | "42P01" => "is pg_bss installed in this database? (CREATE EXTENSION pg_bss)",
            "XB016" => "bss.tenant is not a tenant you may read: set it to your tenant",
            _ => return None,
        })
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

impl From<postgres::Error> for AskError {
    fn from(e: postgres::Error) -> Self {
        AskError::Database(e.into())
    }
}

/// A question asked: the moment its periods are relative to, what it came
/// to, and for a plan its rows (a JSON array) or PostgreSQL's refusal.
pub struct Asked {
    pub now: OffsetDateTime,
    pub answer: Answer,
    pub rows: Option<Result<Value, QueryError>>,
}

/// Asks `question` in a read-only transaction of `client`.
pub fn ask<E: Embed>(
    client: &mut Client,
    asker: &Asker<E>,
    question: &str,
    now: Option<OffsetDateTime>,
    statement_timeout_ms: u64,
) -> Result<Asked, AskError> {
    let mut tx = client.build_transaction().read_only(true).start()?;
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = {statement_timeout_ms}"
    ))?;
    let now = match now {
        Some(now) => now,
        None => {
            let text: String = tx.query_one(NOW_SQL, &[])?.get(0);
            OffsetDateTime::parse(&text, &Rfc3339).map_err(|e| {
                AskError::Database(QueryError {
                    sqlstate: String::new(),
                    message: format!("the database's now() {text:?} is not RFC 3339: {e}"),
                    detail: None,
                    hint: None,
                })
            })?
        }
    };
    let answer = asker.ask(question, now)?;
    let rows = match &answer {
        Answer::Plan(plan) => {
            let params: Vec<&(dyn ToSql + Sync)> = plan
                .params
                .iter()
                .map(|p| p as &(dyn ToSql + Sync))
                .collect();
            Some(
                tx.query_one(plan.sql.as_str(), &params)
                    .and_then(|row| row.try_get::<_, Value>(0))
                    .map_err(QueryError::from),
            )
        }
        Answer::CannotAnswer(_) => None,
    };
    // Read only: nothing to keep. A failed query has aborted it anyway.
    tx.rollback()?;
    Ok(Asked { now, answer, rows })
}
