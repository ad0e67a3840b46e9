//! `bss-intel train`: labelled examples on standard input, one JSON object
//! a line (`{"text": ..., "class": ...}`, as `bss-loadgen tickets` writes
//! them), embedded and fitted; the classifier is written to `--out`. The
//! same input gives the same file, bit for bit.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bss_intel::classify::{Classifier, Training};
use bss_intel::embedding::Precision;
use sha2::{Digest, Sha256};

#[derive(clap::Args, Debug)]
pub struct Train {
    /// Where to write the classifier (default: DATA_DIR/classifier.json).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where the examples came from, kept in the file (e.g. the generator's
    /// command line).
    #[arg(long, default_value = "standard input")]
    source: String,
    /// Gradient steps over the whole set.
    #[arg(long, default_value_t = Training::default().iterations)]
    iterations: usize,
    /// L2 penalty on the weights.
    #[arg(long, default_value_t = Training::default().l2)]
    l2: f64,
}

#[derive(serde::Deserialize)]
struct Example {
    text: String,
    class: String,
}

pub fn run(
    data: &Path,
    precision: Precision,
    t: Train,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let embedder = super::embedder(data, precision)?;
    let mut labelled = Vec::new();
    for (k, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let ex: Example = serde_json::from_str(&line).map_err(|e| {
            format!(
                "line {}: {e} (want {{\"text\": ..., \"class\": ...}})",
                k + 1
            )
        })?;
        if ex.class.trim().is_empty() {
            return Err(format!("line {}: an empty class", k + 1).into());
        }
        labelled.push(ex);
    }
    let mut examples = Vec::with_capacity(labelled.len());
    for chunk in labelled.chunks(super::EMBED_BATCH) {
        let texts: Vec<&str> = chunk.iter().map(|e| e.text.as_str()).collect();
        let vectors = embedder.embed_many(&texts)?;
        examples.extend(
            vectors
                .into_iter()
                .zip(chunk.iter().map(|e| e.class.clone())),
        );
    }
    let weights = std::fs::read(data.join("minilm/model.safetensors"))?;
    let sha = format!("{:x}", Sha256::digest(&weights));
    let training = Training {
        iterations: t.iterations,
        l2: t.l2,
        ..Training::default()
    };
    let classifier = Classifier::train(
        &examples,
        &sha,
        embedder.precision().name(),
        &t.source,
        training,
    )?;
    let out = super::classifier_path(data, t.out);
    std::fs::write(&out, classifier.to_json())?;
    let on = classifier.trained_on();
    let counts: Vec<String> = classifier
        .labels()
        .iter()
        .zip(&on.per_class)
        .map(|(l, n)| format!("{l} {n}"))
        .collect();
    eprintln!(
        "trained on {} examples ({}); written to {}",
        on.examples,
        counts.join(", "),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
