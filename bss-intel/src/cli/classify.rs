//! `bss-intel classify`: tickets on standard input, one JSON object a line
//! with at least `text` (and, when known, the customer's `segment` and
//! `plan` and the count of recent `anomalies`, which routing uses). Each
//! gives one line out: the input's other fields, then `class`,
//! `confidence`, `sentiment` (VADER compound), `priority`, `team` and the
//! routing `rule`. A line that cannot be read gives `{"line": N, "error":
//! ...}` in its place, so output lines match input lines; the exit status
//! is then 1.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bss_intel::embedding::Precision;
use bss_intel::routing::{Facts, Rules};
use bss_intel::sentiment::Vader;
use serde_json::{json, Map, Value};

#[derive(clap::Args, Debug)]
pub struct Classify {
    /// The classifier (default: DATA_DIR/classifier.json).
    #[arg(long)]
    classifier: Option<PathBuf>,
    /// Routing rules (default: bss-intel's routing.toml).
    #[arg(long)]
    rules: Option<PathBuf>,
}

pub fn run(
    data: &Path,
    precision: Precision,
    c: Classify,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let embedder = super::embedder(data, precision)?;
    let classifier = super::classifier(data, c.classifier, &embedder)?;
    let vader = Vader::from_dir(data.join("vader"))?;
    let rules = match c.rules {
        Some(p) => Rules::load(&p)?,
        None => Rules::builtin(),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = 0usize;
    for (k, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line?;
        let result = one(&line, &embedder, &classifier, &vader, &rules);
        let value = result.unwrap_or_else(|e| {
            failed += 1;
            json!({"line": k + 1, "error": e})
        });
        serde_json::to_writer(&mut out, &value)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    if failed > 0 {
        eprintln!("{failed} line(s) could not be classified (each has an \"error\" in its place)");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn one(
    line: &str,
    embedder: &bss_intel::embedding::Embedder,
    classifier: &bss_intel::classify::Classifier,
    vader: &Vader,
    rules: &Rules,
) -> Result<Value, String> {
    let mut input: Map<String, Value> = match serde_json::from_str(line) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err("not a JSON object".into()),
        Err(e) => return Err(format!("not JSON: {e}")),
    };
    let Some(Value::String(text)) = input.remove("text") else {
        return Err("no \"text\" string".into());
    };
    let str_field = |k: &str| match input.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(format!("\"{k}\" must be a string")),
    };
    let anomalies = match input.get("anomalies") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or("\"anomalies\" must be a count (a whole number from 0)")?,
    };
    let embedding = embedder.embed(&text).map_err(|e| e.to_string())?;
    let prediction = classifier.predict(&embedding);
    let sentiment = vader.polarity_scores(&text).compound;
    let route = rules.route(&Facts {
        class: &prediction.class,
        confidence: prediction.confidence,
        sentiment,
        segment: str_field("segment")?,
        plan: str_field("plan")?,
        anomalies,
    });
    let mut out = input;
    out.insert("class".into(), json!(prediction.class));
    out.insert("confidence".into(), json!(prediction.confidence));
    out.insert("sentiment".into(), json!(sentiment));
    out.insert("priority".into(), json!(route.priority));
    out.insert("team".into(), json!(route.team));
    out.insert("rule".into(), json!(route.rule));
    Ok(Value::Object(out))
}
