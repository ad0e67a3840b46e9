//! `bss-listappend`: the command line of the list-append check. Runs the
//! workload against pg_bss, checks the history against the final lists,
//! prints a one-line summary and writes the report (and the history beside
//! it). Exits 0 when the check is clean, 1 when it found an anomaly, 2 when
//! the run itself could not be done. This file only parses the command line
//! and wires the library's parts together.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use bss_listappend::checker::check;
use bss_listappend::duration::parse_duration;
use bss_listappend::history::Operation;
use bss_listappend::report::Report;
use bss_listappend::run::{run, RunConfig};
use clap::Parser;
use tracing::{error, info};

/// Appends unique values to pg_bss streams and reads them back under
/// faults, then checks the history (Elle's list-append, for streams).
#[derive(Parser)]
#[command(name = "bss-listappend", version, about, long_about = None)]
struct Cli {
    /// PostgreSQL with the pg_bss extension (libpq URL or key=value form).
    #[arg(long, env = "BSS_DATABASE_URL")]
    database_url: String,
    /// Run id: the streams are la-<ID>-<k> (letters, digits, '_', '-').
    #[arg(long)]
    run_id: String,
    /// Streams worked on at once (each is retired after a bounded number of
    /// appends and the next takes its place).
    #[arg(long, default_value_t = 8)]
    streams: usize,
    /// Clients, each with its own connection.
    #[arg(long, default_value_t = 4)]
    clients: u32,
    /// How long the clients run (ms, s, m or h).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Seed of the clients' choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Operations a second over all clients, spread evenly among them (0:
    /// each client as fast as its round trips allow). A bound keeps the
    /// checker's own load from taking the cores the system under test needs.
    #[arg(long, default_value_t = 0)]
    rate: u32,
    /// Write the report here as JSON, and the history beside it as
    /// <PATH without extension>.history.jsonl.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run_and_check(Cli::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            error!("{e:#}");
            ExitCode::from(2)
        }
    }
}

/// True when the check is clean.
async fn run_and_check(cli: Cli) -> Result<bool> {
    let config = RunConfig {
        database_url: cli.database_url,
        run_id: cli.run_id,
        streams: cli.streams,
        clients: cli.clients,
        duration: cli.duration,
        seed: cli.seed,
        rate: cli.rate,
    };
    let done = run(&config).await?;
    let verdict = check(&done.history, &done.finals);
    let report = Report::new(&config.run_id, &done.history, &done.finals, &verdict);
    if let Some(out) = &cli.out {
        write_json(out, &report)?;
        let history_path = out.with_extension("history.jsonl");
        write_history(&history_path, &done.history)?;
        info!(report = %out.display(), history = %history_path.display(), "written");
    }
    println!("{}", report.summary_line());
    Ok(report.ok)
}

fn write_json(path: &Path, report: &Report) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(report)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

fn write_history(path: &Path, history: &[Operation]) -> Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = BufWriter::new(file);
    for op in history {
        serde_json::to_writer(&mut w, op)?;
        w.write_all(b"\n")?;
    }
    w.flush()
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_chaos_run_sh_uses_parses() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "bss-listappend",
            "--database-url",
            "postgresql://postgres@10.213.0.11:5432/bss",
            "--run-id",
            "chaos1",
            "--streams",
            "4",
            "--clients",
            "2",
            "--duration",
            "45s",
            "--seed",
            "7",
            "--out",
            "target/chaos/x/listappend.json",
        ])
        .expect("parses");
        assert_eq!(cli.run_id, "chaos1");
        assert_eq!((cli.streams, cli.clients, cli.seed), (4, 2, 7));
        assert_eq!(cli.duration, Duration::from_secs(45));
        assert_eq!(
            cli.out,
            Some(PathBuf::from("target/chaos/x/listappend.json"))
        );
    }

    #[test]
    fn the_defaults_are_8_streams_4_clients_30_seconds_seed_1_and_no_report_file() {
        let cli = Cli::try_parse_from(["bss-listappend", "--database-url", "u", "--run-id", "r"])
            .expect("parses");
        assert_eq!((cli.streams, cli.clients, cli.seed), (8, 4, 1));
        assert_eq!(cli.duration, Duration::from_secs(30));
        assert_eq!(cli.out, None);
    }
}
