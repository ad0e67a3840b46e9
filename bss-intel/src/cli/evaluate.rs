//! `bss-intel evaluate`: the classifier against a held-out labelled set
//! (`class<TAB>text` lines, `#` comments; bss-intel/data/tickets_heldout.tsv
//! is written apart from the generator the classifier learns from). Prints
//! per-class precision, recall and F1, macro-F1, accuracy, the confusion
//! matrix and the CPU per ticket (embedding in batches of `--batch`,
//! class and sentiment, every thread of the process); `--json` writes them too; `--min-macro-f1` makes
//! a lower macro-F1 exit 1.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bss_intel::classify::Scores;
use bss_intel::embedding::Precision;
use bss_intel::sentiment::Vader;

#[derive(clap::Args, Debug)]
pub struct Evaluate {
    /// The held-out set.
    #[arg(long)]
    heldout: PathBuf,
    /// The classifier (default: DATA_DIR/classifier.json).
    #[arg(long)]
    classifier: Option<PathBuf>,
    /// Also write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Exit 1 when macro-F1 is below this.
    #[arg(long)]
    min_macro_f1: Option<f64>,
    /// Tickets embedded together (1: one at a time, as a quiet stage).
    #[arg(long, default_value_t = super::EMBED_BATCH, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    batch: usize,
}

pub fn run(
    data: &Path,
    precision: Precision,
    e: Evaluate,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let embedder = super::embedder(data, precision)?;
    let classifier = super::classifier(data, e.classifier, &embedder)?;
    let vader = Vader::from_dir(data.join("vader"))?;
    let text = std::fs::read_to_string(&e.heldout)
        .map_err(|err| format!("cannot read {}: {err}", e.heldout.display()))?;
    let mut examples = Vec::new();
    for (k, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((class, ticket)) = line.split_once('\t') else {
            return Err(format!("{}:{}: want class<TAB>text", e.heldout.display(), k + 1).into());
        };
        if !classifier.labels().iter().any(|l| l == class) {
            return Err(format!(
                "{}:{}: class {class:?} is not one the classifier knows ({})",
                e.heldout.display(),
                k + 1,
                classifier.labels().join(", ")
            )
            .into());
        }
        examples.push((class.to_owned(), ticket.to_owned()));
    }
    // Counted before the clock starts: embedding tokenizes again.
    let mut tokens = 0usize;
    for (_, ticket) in &examples {
        tokens += embedder.token_ids(ticket)?.len();
    }
    let (cpu0, wall0) = (super::cpu_seconds(), std::time::Instant::now());
    let mut pairs = Vec::with_capacity(examples.len());
    for chunk in examples.chunks(e.batch) {
        let texts: Vec<&str> = chunk.iter().map(|(_, t)| t.as_str()).collect();
        for ((class, ticket), v) in chunk.iter().zip(embedder.embed_many(&texts)?) {
            std::hint::black_box(vader.polarity_scores(ticket));
            pairs.push((class.clone(), classifier.predict(&v).class));
        }
    }
    let n = examples.len().max(1) as f64;
    let cpu_ms = (super::cpu_seconds() - cpu0) * 1000.0 / n;
    let wall_ms = wall0.elapsed().as_secs_f64() * 1000.0 / n;
    let scores = Scores::of(classifier.labels(), &pairs);
    println!("| class | precision | recall | F1 | tickets |\n|---|---:|---:|---:|---:|");
    for c in &scores.classes {
        println!(
            "| {} | {:.3} | {:.3} | {:.3} | {} |",
            c.class, c.precision, c.recall, c.f1, c.support
        );
    }
    println!(
        "\nmacro-F1 {:.3}, accuracy {:.3} over {} held-out tickets ({}); CPU {:.2} ms per ticket (wall {:.2} ms, {:.1} tokens on average; {} embeddings in batches of {})",
        scores.macro_f1,
        scores.accuracy,
        examples.len(),
        e.heldout.display(),
        cpu_ms,
        wall_ms,
        tokens as f64 / n,
        embedder.precision().name(),
        e.batch
    );
    println!("confusion (rows: label, columns: predicted, in the order above):");
    for row in &scores.confusion {
        println!("  {row:?}");
    }
    if let Some(path) = e.json {
        let report = serde_json::json!({
            "scores": scores, "tickets": examples.len(), "cpu_ms_per_ticket": cpu_ms,
            "wall_ms_per_ticket": wall_ms, "trained_on": classifier.trained_on(),
            "precision": embedder.precision().name(), "batch": e.batch,
        });
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    if let Some(min) = e.min_macro_f1 {
        if scores.macro_f1 < min {
            eprintln!("macro-F1 {:.3} is below {min}", scores.macro_f1);
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}
