//! The commands of `bss-intel` and what they share: where the data lives
//! and loading it. Each command is its own file.

mod ask;
mod classify;
mod evaluate;
mod forecast;
mod train;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bss_intel::classify::Classifier;
use bss_intel::embedding::{Embedder, Precision};

#[derive(clap::Parser, Debug)]
#[command(
    name = "bss-intel",
    about = "Event intelligence on the box: ticket classes, sentiment, routing, rate forecasts, questions answered from the store"
)]
pub struct Args {
    /// The folder scripts/intel_data.sh fills (minilm/, vader/) and where
    /// the classifier is kept (classifier.json).
    #[arg(
        long,
        env = "BSS_INTEL_DATA",
        default_value = "target/intel",
        global = true
    )]
    data_dir: PathBuf,
    /// How the embedding model computes: int8 (8-bit matrix products), f32
    /// (the reference), or auto (int8 where the CPU has AVX-512 VNNI, else
    /// f32). A classifier warns when given the other precision's vectors.
    #[arg(
        long,
        env = "BSS_INTEL_PRECISION",
        default_value = "auto",
        global = true
    )]
    precision: Precision,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    Train(train::Train),
    Classify(classify::Classify),
    Evaluate(evaluate::Evaluate),
    Forecast(forecast::Forecast),
    #[command(
        after_help = "Exit status: 0 answered; 1 PostgreSQL refused the query (or --questions scored under --min-accuracy); 2 any other error; 3 cannot answer."
    )]
    Ask(ask::Ask),
}

pub fn run(args: Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let (data, precision) = (args.data_dir, args.precision);
    match args.command {
        Command::Train(t) => train::run(&data, precision, t),
        Command::Classify(c) => classify::run(&data, precision, c),
        Command::Evaluate(e) => evaluate::run(&data, precision, e),
        Command::Forecast(f) => forecast::run(&data, f),
        Command::Ask(a) => ask::run(&data, precision, a),
    }
}

/// Texts embedded together (`Embedder::embed_many`) by the batch commands.
const EMBED_BATCH: usize = 32;

fn embedder(data: &Path, precision: Precision) -> Result<Embedder, Box<dyn std::error::Error>> {
    Ok(Embedder::from_dir_in(data.join("minilm"), precision)?)
}

fn classifier_path(data: &Path, given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| data.join("classifier.json"))
}

/// The classifier at `given`, else DATA_DIR/classifier.json, to be given
/// `embedder`'s vectors (a warning on standard error when it was trained
/// on the other precision's).
fn classifier(
    data: &Path,
    given: Option<PathBuf>,
    embedder: &Embedder,
) -> Result<Classifier, Box<dyn std::error::Error>> {
    let classifier = Classifier::load(&classifier_path(data, given))?;
    if let Some(warning) = classifier.precision_differs(embedder.precision().name()) {
        eprintln!("bss-intel: warning: {warning}");
    }
    Ok(classifier)
}

/// CPU seconds this process has used (every thread), from getrusage.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return f64::NAN;
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}
