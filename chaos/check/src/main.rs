//! `bss-chaos-check`: the chaos suite's checker. `watch` records what
//! reaches Kafka and Redis during a scenario; `account` accounts for every
//! event of the load generator's history against PostgreSQL and those
//! arrivals, writes the report and the chart, and exits 1 when the account
//! is not clean. This file only parses the command line and wires the
//! library's parts together.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use bss_chaos_check::account::{account, Scenario, StoredEvent};
use bss_chaos_check::arrivals::Arrivals;
use bss_chaos_check::chart::write_chart;
use bss_chaos_check::watch::{watch, WatchConfig};
use bss_chaos_check::{history, regions, store};
use bss_loadgen::stages::parse_duration;
use clap::{Args, Parser, Subcommand};
use tracing::info;

/// Accounts for every event of a chaos scenario.
#[derive(Parser)]
#[command(name = "bss-chaos-check", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Record every arrival in Kafka and Redis until the load's history is
    /// complete and its acknowledged events arrived (or the settle timeout).
    Watch(WatchArgs),
    /// Account for every event of the history; exit 1 if the account is not clean.
    Account(AccountArgs),
    /// Compare two regions' stores: every stream of the histories alike,
    /// event by event, and the same conflicts; exit 1 if they differ.
    Regions(RegionsArgs),
    /// (Internal, run by `watch`) consume the topics, one JSON line per record.
    #[command(hide = true)]
    KafkaTail(KafkaTailArgs),
}

#[derive(Args)]
struct RegionsArgs {
    /// bss-loadgen's history; once per load generator.
    #[arg(long, required = true)]
    history: Vec<PathBuf>,
    /// Each region's PostgreSQL (read only): twice.
    #[arg(long = "database-url", required = true, num_args = 1)]
    database_urls: Vec<String>,
    /// The comparison (JSON).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct KafkaTailArgs {
    #[arg(long)]
    kafka_brokers: String,
    #[arg(long = "topic")]
    topics: Vec<String>,
}

#[derive(Args)]
struct WatchArgs {
    /// Kafka bootstrap servers (HOST:PORT).
    #[arg(long)]
    kafka_brokers: String,
    /// The sidecar's topic prefix (topic = prefix + category).
    #[arg(long, default_value = "bss.")]
    topic_prefix: String,
    /// The Redis the sidecar writes to.
    #[arg(long)]
    redis_url: String,
    /// The sidecar's Redis stream prefix (stream = prefix + category).
    #[arg(long, default_value = "bss:events:")]
    redis_stream_prefix: String,
    /// The sidecar's Redis aggregate prefix (hash = prefix + stream id).
    #[arg(long, default_value = "bss:agg:")]
    redis_agg_prefix: String,
    /// The history bss-loadgen run --history writes (it may not exist yet);
    /// once per load generator (the region scenarios run one in each region).
    #[arg(long, required = true)]
    history: Vec<PathBuf>,
    /// Where the arrivals go (JSON lines; see arrivals.rs).
    #[arg(long)]
    out: PathBuf,
    /// After the history's end line, how long to wait for the acknowledged
    /// events to arrive in both sinks.
    #[arg(long, value_parser = parse_duration, default_value = "120s")]
    settle_timeout: Duration,
}

#[derive(Args)]
struct AccountArgs {
    /// The scenario's name (for the report and the chart).
    #[arg(long)]
    scenario: String,
    /// What the fault was, in words.
    #[arg(long)]
    fault: String,
    /// bss-loadgen's history; once per load generator.
    #[arg(long, required = true)]
    history: Vec<PathBuf>,
    #[arg(long)]
    arrivals: PathBuf,
    /// PostgreSQL with pg_bss (read only).
    #[arg(long)]
    database_url: String,
    /// When the fault began, unix seconds.
    #[arg(long)]
    fault_start: f64,
    /// When the fault ended, unix seconds.
    #[arg(long)]
    fault_end: f64,
    /// When the broker was lost with its data, unix seconds: events
    /// acknowledged before then and never seen in Kafka are counted as
    /// lost with the broker, not as lost by the pipeline.
    #[arg(long)]
    broker_data_lost_at: Option<f64>,
    /// The target time of a point-in-time restore of the database, unix
    /// seconds: events acknowledged after it and absent from the restored
    /// store are counted as undone by the restore, not as lost.
    #[arg(long)]
    restored_to: Option<f64>,
    /// The report (JSON).
    #[arg(long)]
    out: PathBuf,
    /// The chart (.svg).
    #[arg(long)]
    chart: PathBuf,
}

fn main() {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("BSS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Watch(args) => watch_command(args).map(|()| true),
        Command::Account(args) => account_command(args),
        Command::Regions(args) => regions_command(args),
        Command::KafkaTail(args) => bss_chaos_check::watch::kafka::tail(
            &args.kafka_brokers,
            args.topics,
            std::io::stdout().lock(),
        )
        .map(|()| true)
        .map_err(anyhow::Error::from),
    };
    match result {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("bss-chaos-check: {e:#}");
            std::process::exit(2);
        }
    }
}

fn watch_command(args: WatchArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(watch(WatchConfig {
        kafka_brokers: args.kafka_brokers,
        topic_prefix: args.topic_prefix,
        redis_url: args.redis_url,
        redis_stream_prefix: args.redis_stream_prefix,
        redis_agg_prefix: args.redis_agg_prefix,
        history: args.history,
        out: args.out,
        settle_timeout: args.settle_timeout,
    }))?;
    Ok(())
}

/// Ok(true) when the account is clean.
fn account_command(args: AccountArgs) -> Result<bool> {
    let history = history::read(&args.history)?;
    let arrivals = Arrivals::read(BufReader::new(
        File::open(&args.arrivals)
            .with_context(|| format!("opening {}", args.arrivals.display()))?,
    ))
    .with_context(|| format!("reading {}", args.arrivals.display()))?;
    let streams = history_streams(&history);
    let mut client = store::connect(&args.database_url)?;
    let stored = store::read_events(&mut client, &streams)?;
    info!(
        streams = streams.len(),
        rows = stored.len(),
        "read bss.events"
    );
    let report = account(
        &Scenario {
            name: args.scenario,
            fault: args.fault,
            fault_start_unix: args.fault_start,
            fault_end_unix: args.fault_end,
            broker_data_lost_unix: args.broker_data_lost_at,
            restored_to_unix: args.restored_to,
        },
        &history,
        &stored,
        &arrivals,
    );
    write_json(&args.out, &report)?;
    if let Some(dir) = args.chart.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_chart(&report, &args.chart)?;
    println!("{}", report.summary());
    Ok(report.ok)
}

/// Ok(true) when both regions hold the same.
fn regions_command(args: RegionsArgs) -> Result<bool> {
    let [a, b] = args.database_urls.as_slice() else {
        anyhow::bail!("--database-url twice: one for each region");
    };
    let streams = history_streams(&history::read(&args.history)?);
    let read = |url: &str| -> Result<Vec<StoredEvent>> {
        Ok(store::read_events(&mut store::connect(url)?, &streams)?)
    };
    let report = regions::compare(&read(a)?, &read(b)?);
    write_json(&args.out, &report)?;
    println!(
        "regions: {} streams, {:?} events, {:?} conflicts; {} streams and {} conflicts differ{}",
        report.streams,
        report.events,
        report.conflicts,
        report.differing_streams,
        report.differing_conflicts,
        report
            .examples
            .first()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    );
    Ok(report.ok)
}

/// The streams a history appended to, each once, in order.
fn history_streams(h: &history::History) -> Vec<String> {
    h.appends
        .iter()
        .map(|a| a.stream_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = BufWriter::new(f);
    serde_json::to_writer_pretty(&mut w, value)?;
    w.write_all(b"\n")?;
    w.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
