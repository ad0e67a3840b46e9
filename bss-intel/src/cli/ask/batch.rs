//! `bss-intel ask --questions FILE`: every question of a labelled set
//! (bss_intel::ask::evaluation's format) asked as `ask` asks one, each in
//! its own read-only transaction; prints the accuracy per expected
//! template and overall, and each wrong answer with what was expected and
//! what came; `--report` writes it all as JSON; `--min-accuracy` makes a
//! lower accuracy exit 1.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use bss_intel::ask::database::{self, AskError};
use bss_intel::ask::evaluation::{accuracy, is_right, parse_cases, Expected, Outcome};
use bss_intel::ask::{Answer, Asker, Embed, TEMPLATES};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use tokio_postgres::Client;

use super::{Ask, EXIT_FAILED};

pub async fn run<E: Embed + Send + Sync + 'static>(
    client: &mut Client,
    asker: &Arc<Asker<E>>,
    file: &Path,
    a: &Ask,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let cases = parse_cases(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let started = Instant::now();
    let mut results = Vec::with_capacity(cases.len());
    let mut report = Vec::with_capacity(cases.len());
    for case in &cases {
        let asked =
            match database::ask(client, asker, &case.question, a.now, a.statement_timeout_ms).await
            {
                Ok(asked) => asked,
                Err(AskError::Database(e)) => {
                    return Err(format!("line {}: the database failed: {e}", case.line).into())
                }
                Err(e) => return Err(e.into()),
            };
        let ranking = match &asked.answer {
            Answer::Plan(p) => p.to_json()["ranking"].take(),
            Answer::CannotAnswer(c) => c.to_json()["ranking"].take(),
        };
        let (outcome, params) = match (&asked.answer, asked.rows) {
            (Answer::Plan(p), Some(Ok(rows))) => (
                Outcome::Rows {
                    template: p.template.id,
                    rows,
                },
                p.params.clone(),
            ),
            (Answer::Plan(p), Some(Err(e))) => (
                Outcome::Failed {
                    template: p.template.id,
                    error: e.to_string(),
                },
                p.params.clone(),
            ),
            (Answer::Plan(p), None) => (
                Outcome::Failed {
                    template: p.template.id,
                    error: "not run".into(),
                },
                p.params.clone(),
            ),
            (Answer::CannotAnswer(c), _) => (
                Outcome::CannotAnswer {
                    reason: c.reason.clone(),
                },
                Vec::new(),
            ),
        };
        let right = is_right(&case.expected, &outcome);
        results.push((case.expected.label(), right));
        let expected_rows = match &case.expected {
            Expected::Rows { rows, .. } => rows.clone(),
            Expected::CannotAnswer => Value::Null,
        };
        let got = match &outcome {
            Outcome::Rows { rows, .. } => json!({"rows": rows}),
            Outcome::CannotAnswer { reason } => json!({"cannot_answer": reason}),
            Outcome::Failed { error, .. } => json!({"error": error}),
        };
        report.push(json!({
            "line": case.line, "question": case.question, "right": right,
            "expected": {"template": case.expected.label(), "rows": expected_rows},
            "got": {"template": outcome.label(), "params": params, "answer": got, "ranking": ranking},
            "now": asked.now.format(&Rfc3339)?,
        }));
    }
    let ms_per_question = started.elapsed().as_secs_f64() * 1000.0 / cases.len().max(1) as f64;
    let (per_template, all) = accuracy(&results);

    println!(
        "# bss-intel ask: {} questions of {}\n",
        cases.len(),
        file.display()
    );
    println!("| template | questions | right | accuracy |\n|---|---:|---:|---:|");
    for t in &per_template {
        println!(
            "| {} | {} | {} | {:.3} |",
            t.label, t.questions, t.right, t.accuracy
        );
    }
    println!(
        "| **all** | {} | {} | **{:.3}** |",
        all.questions, all.right, all.accuracy
    );
    let untested: Vec<&str> = TEMPLATES
        .iter()
        .map(|t| t.id)
        .filter(|id| !per_template.iter().any(|t| t.label == *id))
        .collect();
    if !untested.is_empty() {
        println!("\ntemplates without a question: {}", untested.join(", "));
    }
    let wrong: Vec<&Value> = report.iter().filter(|r| r["right"] == false).collect();
    if !wrong.is_empty() {
        println!("\nwrong answers:");
        for r in &wrong {
            println!(
                "- line {}: {}\n  expected {} {}\n  got      {} {} {}",
                r["line"],
                r["question"],
                r["expected"]["template"].as_str().unwrap_or(""),
                r["expected"]["rows"],
                r["got"]["template"].as_str().unwrap_or(""),
                r["got"]["params"],
                r["got"]["answer"],
            );
        }
    }
    println!(
        "\n{:.1} ms per question (embedding, plan and query; {} now)",
        ms_per_question,
        a.now
            .map(|n| n.format(&Rfc3339))
            .transpose()?
            .unwrap_or_else(|| "the database's".to_owned())
    );
    if let Some(path) = &a.report {
        let out = json!({
            "questions_file": file.display().to_string(), "accuracy": all,
            "per_template": per_template, "untested_templates": untested,
            "ms_per_question": ms_per_question, "cases": report,
        });
        std::fs::write(path, serde_json::to_string_pretty(&out)?)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(min) = a.min_accuracy {
        if all.accuracy < min {
            eprintln!("accuracy {:.3} is below {min}", all.accuracy);
            return Ok(ExitCode::from(EXIT_FAILED));
        }
    }
    Ok(ExitCode::SUCCESS)
}
