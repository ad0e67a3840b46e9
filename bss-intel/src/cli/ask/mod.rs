//! `bss-intel ask "question"`: a plain-language question answered with a
//! whitelisted query template (bss_intel::ask), run against pg_bss as the
//! caller's own role in a read-only transaction. Prints the template, what
//! was understood, the SQL it ran, its parameters and the rows (a table;
//! `--json`: one JSON object). `--questions FILE` asks a labelled set
//! instead and reports the accuracy per template (batch.rs).
//!
//! Exit status: 0 answered; 1 PostgreSQL refused the query (printed with
//! its SQLSTATE, message and a hint), or a batch scored under
//! `--min-accuracy`; 2 any other error (the model's files, the database
//! unreachable, bad arguments); 3 cannot answer (the reason and the
//! nearest supported questions are printed).

mod batch;
mod connect;
mod table;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use bss_intel::ask::database::{self, AskError, QueryError};
use bss_intel::ask::{Answer, Asker};
use bss_intel::embedding::Precision;
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// PostgreSQL refused the query, or a batch scored under --min-accuracy.
const EXIT_FAILED: u8 = 1;
/// No whitelisted template answers the question.
const EXIT_CANNOT_ANSWER: u8 = 3;

#[derive(clap::Args, Debug)]
pub struct Ask {
    /// The question, in plain language (quote it).
    #[arg(required_unless_present = "questions")]
    question: Option<String>,
    /// The database as a libpq URL (sslmode, sslrootcert, sslcert and
    /// sslkey as libpq reads them); without it libpq's PGHOST, PGPORT,
    /// PGUSER, PGPASSWORD, PGDATABASE and PGSSL* variables.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// The moment periods are relative to, RFC 3339 (default: the
    /// database's now()).
    #[arg(long, value_parser = parse_moment)]
    now: Option<OffsetDateTime>,
    /// Print one JSON object: question, template, sql, params, rows (or
    /// cannot_answer and nearest, or error).
    #[arg(long)]
    json: bool,
    /// The longest a question's query may run.
    #[arg(long, default_value_t = 30_000)]
    statement_timeout_ms: u64,
    /// Ask every question of this file instead (question<TAB>template<TAB>
    /// rows as JSON, or question<TAB>- for "cannot answer") and report the
    /// accuracy per template.
    #[arg(long, conflicts_with = "question")]
    questions: Option<PathBuf>,
    /// With --questions: also write the report as JSON here.
    #[arg(long, requires = "questions")]
    report: Option<PathBuf>,
    /// With --questions: exit 1 when the accuracy is below this.
    #[arg(long, requires = "questions")]
    min_accuracy: Option<f64>,
}

fn parse_moment(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
        format!("{text:?} is not an RFC 3339 moment such as 2026-11-25T12:00:00Z: {e}")
    })
}

pub fn run(
    data: &Path,
    precision: Precision,
    a: Ask,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let asker = Arc::new(Asker::new(super::embedder(data, precision)?)?);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run_on(asker, a))
}

async fn run_on(
    asker: Arc<Asker<bss_intel::embedding::Embedder>>,
    a: Ask,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut client = connect::connect(a.database_url.as_deref()).await?;
    if let Some(file) = &a.questions {
        return batch::run(&mut client, &asker, file, &a).await;
    }
    let question = a.question.as_deref().unwrap_or_default();
    let asked =
        match database::ask(&mut client, &asker, question, a.now, a.statement_timeout_ms).await {
            Ok(asked) => asked,
            Err(AskError::Database(e)) => return Ok(refused(&a, question, None, &e)),
            Err(e) => return Err(e.into()),
        };
    let now = asked.now.format(&Rfc3339)?;
    if a.json {
        println!("{}", asked.to_json());
    }
    match (&asked.answer, &asked.rows) {
        (Answer::Plan(plan), Some(Ok(rows))) => {
            if !a.json {
                print_plan(question, &now, plan);
                print!("\n{}", table::render(rows));
            }
            Ok(ExitCode::SUCCESS)
        }
        (Answer::Plan(plan), Some(Err(e))) => {
            if !a.json {
                print_plan(question, &now, plan);
            }
            eprintln!("{e}");
            Ok(ExitCode::from(EXIT_FAILED))
        }
        (Answer::CannotAnswer(c), _) => {
            if !a.json {
                println!("question: {question}");
                println!("cannot answer: {}", c.reason);
                println!("nearest supported questions:");
                for q in &c.nearest {
                    println!("  - {q}");
                }
            }
            Ok(ExitCode::from(EXIT_CANNOT_ANSWER))
        }
        (Answer::Plan(_), None) => Err("a plan without a result".into()),
    }
}

fn print_plan(question: &str, now: &str, plan: &bss_intel::ask::Plan) {
    println!("question: {question}");
    println!(
        "template: {} ({})",
        plan.template.id, plan.template.description
    );
    println!("understood: {} (now {now})", plan.entities.to_json());
    println!("sql:\n{}", plan.sql);
    let params: Vec<String> = plan
        .params
        .iter()
        .enumerate()
        .map(|(i, p)| format!("${} = '{}'", i + 1, p.replace('\'', "''")))
        .collect();
    println!("params: {}", params.join(", "));
}

/// PostgreSQL's refusal before a plan (the transaction or the moment
/// failed), on standard error (and as JSON with `--json`).
fn refused(
    a: &Ask,
    question: &str,
    plan: Option<&bss_intel::ask::Plan>,
    e: &QueryError,
) -> ExitCode {
    if a.json {
        let mut out = plan.map_or_else(|| json!({}), |p| p.to_json());
        out["question"] = json!(question);
        out["error"] = e.to_json();
        println!("{out}");
    }
    eprintln!("{e}");
    ExitCode::from(EXIT_FAILED)
}
