//! `bss-loadgen`: simulates BSS traffic (customers, subscriptions, usage
//! CDRs, invoices, payments, tickets; optionally with labelled anomalies)
//! and writes it open-loop into PostgreSQL through `bss.append_events`,
//! following k6-style stages, then reports latency (and, with
//! `--kafka-brokers`, commit-to-Kafka and end-to-end latency, lost and
//! duplicate events) as a table, JSON and a chart.
//!
//! Subcommands: `run` (the load), `generate` (print the appends as JSON
//! lines, no database), `chart` (redraw a chart from a report JSON),
//! `schemas` (print the shipped JSON Schemas), `tickets` (labelled ticket
//! texts for training a classifier). This file only parses the
//! command line and wires the library's parts together.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bss_loadgen::anomalies::AnomalyLabel;
use bss_loadgen::chart::{write_chart, LatencyScale};
use bss_loadgen::clock::{
    check_run_id, parse_rfc3339, rfc3339_millis, run_id_from, DEFAULT_SIMULATED_START,
};
use bss_loadgen::history::HistoryWriter;
use bss_loadgen::kafka_watch::{self, KafkaConfig, Tracker};
use bss_loadgen::report::{render_table, AnomalySummary, Recorder, Report, RunFacts};
use bss_loadgen::schemas::SCHEMAS;
use bss_loadgen::simulator::{
    random_ticket_context, Append, SimConfig, Simulator, MAX_CUSTOMERS, TICKET_SHARE,
};
use bss_loadgen::stages::{
    format_duration, parse_duration, parse_stages, Profile, Scenario, Stage,
};
use bss_loadgen::ticket_text;
use bss_loadgen::writer::{self, AppendObserver, GroupAppend, WriterConfig};
use clap::{Args, Parser, Subcommand};
use time::OffsetDateTime;
use tracing::{info, warn};
use uuid::Uuid;

/// Simulated BSS traffic, written open-loop into pg_bss, with a latency report.
#[derive(Parser)]
#[command(name = "bss-loadgen", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Offer load to PostgreSQL (and measure through Kafka with --kafka-brokers).
    Run(Box<RunArgs>),
    /// Print the appends as JSON lines ({"stream_id", "events"}); no database needed.
    Generate(GenerateArgs),
    /// Draw the chart of a report written by `run --report`.
    Chart(ChartArgs),
    /// Print the JSON Schemas of the event types as one JSON object (type -> schema).
    Schemas,
    /// Print labelled ticket texts as JSON lines ({"class", "intent",
    /// "priority", "text"}), the same number of each class, for training a
    /// classifier (`bss-intel train` reads them); no database needed.
    Tickets(TicketsArgs),
    /// Print simulated traffic over days as CSV (minute,type,count: each
    /// event type's count in each minute, with the hour-of-day and
    /// day-of-week shapes of a telco's traffic), for backtesting rate
    /// forecasts (`bss-intel forecast`); no database needed.
    Rates(RatesArgs),
}

#[derive(Args)]
struct RatesArgs {
    /// Seed: the same seed and settings give the same counts.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Days to simulate (day 0 a Monday).
    #[arg(long, default_value_t = 21)]
    days: u32,
    /// Events a minute of all types at the busiest hour of a weekday.
    #[arg(long, default_value_t = 400_000.0)]
    peak_per_minute: f64,
}

#[derive(Args)]
struct TicketsArgs {
    /// Seed: the same seed and count give the same texts.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Tickets of each class.
    #[arg(long, default_value_t = 600)]
    per_class: usize,
}

/// What the simulated traffic looks like.
#[derive(Args, Clone)]
struct SimArgs {
    /// Seed of the simulation: the same seed and settings give the same events.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The most customers active at once (new customers replace cancelled ones).
    #[arg(long, default_value_t = 10_000)]
    customers: u64,
    /// CDRs per usage append (one mediation file per call).
    #[arg(long, default_value_t = 10)]
    batch_size: usize,
    /// Run id in the stream ids <category>-<run>-<n> (letters and digits);
    /// default: derived from the start time (`run`) or "gen" (`generate`).
    #[arg(long)]
    run_id: Option<String>,
    /// Fraction of usage events that are injected anomalies (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    anomalies: f64,
    /// Share of events that are tickets (ticket.opened), 0 to 0.5; usage
    /// takes up the difference. The default, 0.03, is about a hundred times
    /// a real operator's (some 0.01%).
    #[arg(long, default_value_t = TICKET_SHARE)]
    ticket_share: f64,
    /// Where the anomaly labels go (JSON lines); default: next to --report
    /// as <report>.anomalies.jsonl, else anomalies.jsonl. Written only with --anomalies.
    #[arg(long)]
    labels: Option<PathBuf>,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    sim: SimArgs,
    /// PostgreSQL with the pg_bss extension (libpq URL or key=value form;
    /// TLS as libpq's sslmode, sslrootcert, sslcert and sslkey say).
    #[arg(long, env = "BSS_DATABASE_URL")]
    database_url: String,
    /// Connections (one worker each).
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// k6-style stages DURATION:RATE,... (rate in events/s, ramping linearly
    /// from the previous target, the first from 0), e.g. 30s:1000,10m:6667,1m:20000.
    /// Wins over --scenario.
    #[arg(long)]
    stages: Option<String>,
    /// A preset load shape around --rate over --duration.
    #[arg(long, value_enum)]
    scenario: Option<Scenario>,
    /// Base rate of --scenario, events/s.
    #[arg(long)]
    rate: Option<f64>,
    /// Duration of --scenario (default 60s; 1h for soak).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// After the stages, how long to wait for queued appends to finish.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    drain_timeout: Duration,
    /// Most appends a connection commits in one transaction: a worker takes
    /// what is queued when it is free (never waiting for more), so under
    /// light load each append is its own transaction, and under heavy load
    /// one commit (one WAL flush) covers many. 1: a transaction per append.
    #[arg(long, default_value_t = 32)]
    max_group: usize,
    /// How a group of appends is sent: `streams`, one bss.append_streams
    /// call (one statement; pg_bss 0.10.0 or later), or `calls`, one
    /// bss.append_events call per append in one transaction.
    #[arg(long, value_enum, default_value = "streams")]
    group_append: GroupAppend,
    /// Appends waiting for a connection beyond this many are counted as not sent.
    #[arg(long, default_value_t = 50_000)]
    max_queue: usize,
    /// Do not register the shipped JSON Schemas with bss.register_schema first.
    #[arg(long)]
    no_register_schemas: bool,
    /// Leave the shipped JSON Schemas registered after the run (by default
    /// bss.schemas is put back as it was for those types).
    #[arg(long, conflicts_with = "no_register_schemas")]
    keep_schemas: bool,
    /// Kafka bootstrap servers (HOST:PORT): measure end to end through the sidecar.
    #[arg(long)]
    kafka_brokers: Option<String>,
    /// Topic prefix the sidecar writes to (topic = prefix + category).
    #[arg(long, default_value = "bss.")]
    kafka_topic_prefix: String,
    /// Partitions of the topics, when this run creates them.
    #[arg(long, default_value_t = 6)]
    kafka_partitions: i32,
    /// After the load, how long to wait for acknowledged events to reach Kafka.
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    e2e_timeout: Duration,
    /// Write the report as JSON here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Write the fate of every append here as JSON lines (stream, event ids,
    /// outcome, SQLSTATE, times), ending with {"end": true, ...} once the
    /// load is over; see bss-loadgen's history.rs for the format.
    #[arg(long)]
    history: Option<PathBuf>,
    /// Draw the run to this .svg or .png file.
    #[arg(long)]
    chart: Option<PathBuf>,
    /// Scale of the chart's latency axis.
    #[arg(long, value_enum, default_value_t = LatencyScale::Auto)]
    chart_latency_scale: LatencyScale,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
}

#[derive(Args)]
struct GenerateArgs {
    #[command(flatten)]
    sim: SimArgs,
    /// Events to generate (whole appends: the last may go a little over).
    #[arg(long)]
    count: u64,
    /// Simulated events per second, which spaces the event times.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Simulated start time (RFC 3339) of the event times.
    #[arg(long, default_value = DEFAULT_SIMULATED_START)]
    start: String,
}

#[derive(Args)]
struct ChartArgs {
    /// A report written by `run --report`.
    #[arg(long)]
    report: PathBuf,
    /// The .svg or .png file to draw.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_enum, default_value_t = LatencyScale::Auto)]
    latency_scale: LatencyScale,
}

fn main() {
    // One crypto provider for every TLS client, before any of them builds a configuration.
    bss_tls::provider();
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("BSS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Run(args) => run_command(*args),
        Command::Generate(args) => generate_command(args),
        Command::Chart(args) => chart_command(args),
        Command::Schemas => schemas_command(),
        Command::Tickets(args) => tickets_command(args),
        Command::Rates(args) => rates_command(args),
    };
    if let Err(e) = result {
        // `generate | head` closes the pipe early; that is not a failure.
        let broken_pipe = e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
                || c.downcast_ref::<serde_json::Error>()
                    .and_then(|j| j.io_error_kind())
                    == Some(std::io::ErrorKind::BrokenPipe)
        });
        if broken_pipe {
            return;
        }
        eprintln!("bss-loadgen: {e:#}");
        std::process::exit(1);
    }
}

fn sim_config(args: &SimArgs, default_run_id: String) -> Result<SimConfig> {
    let run_id = args.run_id.clone().unwrap_or(default_run_id);
    check_run_id(&run_id).map_err(anyhow::Error::msg)?;
    if !(0.0..=1.0).contains(&args.anomalies) {
        bail!(
            "--anomalies {} must be between 0 and 1 (a fraction of usage events)",
            args.anomalies
        );
    }
    if !(0.0..=0.5).contains(&args.ticket_share) {
        bail!(
            "--ticket-share {} must be between 0 and 0.5 (a fraction of events)",
            args.ticket_share
        );
    }
    if args.customers == 0 || args.customers > MAX_CUSTOMERS {
        bail!(
            "--customers {} must be between 1 and {MAX_CUSTOMERS}",
            args.customers
        );
    }
    if args.batch_size == 0 || args.batch_size > 10_000 {
        bail!(
            "--batch-size {} must be between 1 and 10000 (bss.max_batch_events)",
            args.batch_size
        );
    }
    Ok(SimConfig {
        seed: args.seed,
        customers: args.customers,
        batch_size: args.batch_size,
        run_id,
        anomaly_rate: args.anomalies,
        ticket_share: args.ticket_share,
    })
}

fn write_labels(path: &Path, labels: &[AnomalyLabel]) -> Result<()> {
    let f = File::create(path)
        .with_context(|| format!("creating the labels file {}", path.display()))?;
    let mut w = BufWriter::new(f);
    for l in labels {
        serde_json::to_writer(&mut w, l)?;
        w.write_all(b"\n")?;
    }
    w.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn labels_path(sim: &SimArgs, report: Option<&Path>) -> PathBuf {
    if let Some(p) = &sim.labels {
        return p.clone();
    }
    match report {
        Some(r) => {
            let stem = r.file_stem().and_then(|s| s.to_str()).unwrap_or("report");
            r.with_file_name(format!("{stem}.anomalies.jsonl"))
        }
        None => PathBuf::from("anomalies.jsonl"),
    }
}

fn generate_command(args: GenerateArgs) -> Result<()> {
    let cfg = sim_config(&args.sim, "gen".into())?;
    let start = parse_rfc3339(&args.start).map_err(anyhow::Error::msg)?;
    if !(args.rate > 0.0 && args.rate.is_finite()) {
        bail!(
            "--rate {} must be a positive number of events per second",
            args.rate
        );
    }
    let anomalies = cfg.anomaly_rate > 0.0;
    let mut sim = Simulator::new(cfg);
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut events = 0u64;
    while events < args.count {
        let now = start + time::Duration::seconds_f64(events as f64 / args.rate);
        let a = sim.next_append(now);
        events += a.events.len() as u64;
        serde_json::to_writer(&mut out, &a)?;
        out.write_all(b"\n").context("writing to stdout")?;
    }
    out.flush().context("writing to stdout")?;
    let labels = sim.finish();
    if anomalies || args.sim.labels.is_some() {
        let path = labels_path(&args.sim, None);
        write_labels(&path, &labels)?;
        info!(labels = labels.len(), file = %path.display(), "anomaly labels written");
    }
    Ok(())
}

fn chart_command(args: ChartArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.report)
        .with_context(|| format!("reading {}", args.report.display()))?;
    let report: Report = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a bss-loadgen report", args.report.display()))?;
    write_chart(&report, &args.out, args.latency_scale)
}

fn tickets_command(args: TicketsArgs) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let set = ticket_text::training_set(args.seed, args.per_class, random_ticket_context);
    for t in &set {
        serde_json::to_writer(&mut out, t)?;
        out.write_all(b"\n").context("writing to stdout")?;
    }
    out.flush().context("writing to stdout")?;
    Ok(())
}

fn rates_command(args: RatesArgs) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let counts = bss_loadgen::traffic::minute_counts(&bss_loadgen::traffic::TrafficConfig {
        seed: args.seed,
        days: args.days,
        peak_per_minute: args.peak_per_minute,
        first_weekday: 0,
    });
    writeln!(out, "minute,type,count").context("writing to stdout")?;
    for c in &counts {
        writeln!(out, "{},{},{}", c.minute, c.event_type, c.count).context("writing to stdout")?;
    }
    out.flush().context("writing to stdout")?;
    Ok(())
}

fn schemas_command() -> Result<()> {
    let mut all = serde_json::Map::new();
    for s in SCHEMAS {
        let v: serde_json::Value =
            serde_json::from_str(s.json).with_context(|| format!("schema of {}", s.event_type))?;
        all.insert(s.event_type.to_owned(), v);
    }
    println!("{}", serde_json::to_string_pretty(&all)?);
    Ok(())
}

fn resolve_stages(args: &RunArgs) -> Result<Vec<Stage>> {
    if let Some(s) = &args.stages {
        return Ok(parse_stages(s)?);
    }
    let Some(scenario) = args.scenario else {
        bail!("give --stages DURATION:RATE,... or --scenario steady|ramp|spike|stress|soak with --rate");
    };
    let Some(rate) = args.rate else {
        bail!("--scenario needs --rate (events per second)");
    };
    if !(rate > 0.0 && rate.is_finite()) {
        bail!("--rate {rate} must be a positive number of events per second");
    }
    Ok(scenario.stages(rate, args.duration.unwrap_or(scenario.default_duration())))
}

/// Remembers the event ids that were not stored, so the labels only name
/// events that are in the database.
#[derive(Default)]
struct NotStored(Mutex<HashSet<Uuid>>);

impl AppendObserver for NotStored {
    fn not_stored(&self, append: &Append) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.extend(append.events.iter().map(|e| e.event_id));
    }
}

fn run_command(args: RunArgs) -> Result<()> {
    let wall_now = OffsetDateTime::now_utc();
    let cfg = sim_config(&args.sim, run_id_from(wall_now))?;
    let stages = resolve_stages(&args)?;
    let profile = Profile::new(stages.clone());
    if args.max_group == 0 || args.max_group > 10_000 {
        bail!("--max-group {} must be between 1 and 10000", args.max_group);
    }
    if args.connections == 0 || args.connections > 1000 {
        bail!(
            "--connections {} must be between 1 and 1000",
            args.connections
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bss-loadgen")
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(run(args, cfg, stages, profile))
}

async fn run(args: RunArgs, cfg: SimConfig, stages: Vec<Stage>, profile: Profile) -> Result<()> {
    let run_id = cfg.run_id.clone();
    let stage_text: Vec<String> = stages.iter().map(|s| s.to_string()).collect();
    info!(run_id, stages = %stage_text.join(","), events = profile.total_events().round(), "bss-loadgen run");

    let kafka_cfg = args.kafka_brokers.as_ref().map(|b| KafkaConfig {
        brokers: b.clone(),
        topic_prefix: args.kafka_topic_prefix.clone(),
        partitions: args.kafka_partitions,
        run_id: run_id.clone(),
    });
    let mut observers: Vec<Arc<dyn AppendObserver>> = Vec::new();
    // First, so that a run failing from here on still leaves a history
    // with its end line (written when the writer is dropped).
    let history = match &args.history {
        Some(path) => {
            let h = Arc::new(HistoryWriter::create(path)?);
            observers.push(h.clone());
            Some(h)
        }
        None => None,
    };
    let mut kafka = None;
    if let Some(k) = &kafka_cfg {
        kafka_watch::ensure_topics(k).await?;
        let consumer = kafka_watch::assign_at_end(k).await?;
        let tracker = Arc::new(Tracker::new());
        let task = kafka_watch::spawn_consumer(consumer, tracker.clone());
        observers.push(tracker.clone());
        kafka = Some((tracker, task));
    }
    let not_stored = Arc::new(NotStored::default());
    if cfg.anomaly_rate > 0.0 {
        observers.push(not_stored.clone());
    }

    let previous_schemas = if args.no_register_schemas {
        None
    } else {
        let client = writer::connect(&args.database_url).await?;
        Some(writer::register_schemas(&client).await?)
    };

    let writer_cfg = WriterConfig {
        database_url: args.database_url.clone(),
        connections: args.connections,
        max_group: args.max_group,
        group_append: args.group_append,
        drain_timeout: args.drain_timeout,
        max_queue: args.max_queue,
    };
    let recorder = Arc::new(Recorder::new());
    let sim = Simulator::new(cfg.clone());
    let start = Instant::now();
    let wall_start = OffsetDateTime::now_utc();
    let planned = Duration::from_secs_f64(profile.total_secs());
    let (bar, bar_task) = progress_bar(&args, recorder.clone(), start, planned);
    let load = writer::run_load(
        &writer_cfg,
        sim,
        profile.clone(),
        recorder.clone(),
        observers,
        start,
        wall_start,
    )
    .await;
    bar_task.abort();
    bar.finish_and_clear();
    if let (Some(h), Some(path)) = (&history, &args.history) {
        h.finish()?;
        info!(file = %path.display(), "history written");
    }
    if let (Some(previous), false) = (&previous_schemas, args.keep_schemas) {
        let client = writer::connect(&args.database_url).await?;
        writer::restore_schemas(&client, previous).await?;
    }
    let (outcome, sim) = load?;

    let measurements = match kafka {
        Some((tracker, task)) => {
            info!(timeout = %format_duration(args.e2e_timeout), "waiting for acknowledged events to reach Kafka");
            if !kafka_watch::wait_for_arrivals(&tracker, args.e2e_timeout).await {
                warn!(
                    missing = tracker.missing(),
                    "not every acknowledged event reached Kafka in time"
                );
            }
            task.abort();
            Some(tracker.measurements(start))
        }
        None => None,
    };

    let anomalies = if cfg.anomaly_rate > 0.0 {
        let gone = not_stored
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let labels: Vec<AnomalyLabel> = sim
            .finish()
            .into_iter()
            .filter_map(|mut l| {
                if l.event_ids.is_empty() {
                    return Some(l);
                }
                l.event_ids.retain(|id| !gone.contains(id));
                (!l.event_ids.is_empty()).then_some(l)
            })
            .collect();
        let path = labels_path(&args.sim, args.report.as_deref());
        write_labels(&path, &labels)?;
        let mut by_kind = BTreeMap::new();
        for l in &labels {
            let k = serde_json::to_value(l.kind)?
                .as_str()
                .unwrap_or("unknown")
                .to_owned();
            *by_kind.entry(k).or_insert(0u64) += 1;
        }
        Some(AnomalySummary {
            labels_file: path.display().to_string(),
            by_kind,
        })
    } else {
        None
    };

    let config = serde_json::json!({
        "database_url": writer::redact(&args.database_url),
        "connections": args.connections,
        "max_group": args.max_group,
        "group_append": format!("{:?}", args.group_append).to_lowercase(),
        "customers": cfg.customers,
        "batch_size": cfg.batch_size,
        "anomalies": cfg.anomaly_rate,
        "stages": stage_text.join(","),
        "scenario": args.stages.is_none().then_some(args.scenario).flatten(),
        "rate": args.rate,
        "drain_timeout_ms": args.drain_timeout.as_millis() as u64,
        "max_queue": args.max_queue,
        "register_schemas": !args.no_register_schemas,
        "kafka_brokers": args.kafka_brokers,
        "kafka_topic_prefix": args.kafka_topic_prefix,
        "kafka_partitions": args.kafka_partitions,
        "e2e_timeout_ms": args.e2e_timeout.as_millis() as u64,
        "drain_timed_out": outcome.drain_timed_out,
        "history": args.history.as_ref().map(|p| p.display().to_string()),
    });
    let report = recorder.finish(
        RunFacts {
            run_id,
            seed: cfg.seed,
            started_at: rfc3339_millis(wall_start),
            config,
            stages,
            planned_duration_s: profile.total_secs(),
            duration_s: outcome.finished_s,
            anomalies,
        },
        measurements,
    );
    print!("{}", render_table(&report));
    if let Some(path) = &args.report {
        let f = File::create(path)
            .with_context(|| format!("creating the report {}", path.display()))?;
        let mut w = BufWriter::new(f);
        serde_json::to_writer_pretty(&mut w, &report)?;
        w.write_all(b"\n")?;
        w.flush()
            .with_context(|| format!("writing {}", path.display()))?;
        info!(file = %path.display(), "report written");
    }
    if let Some(path) = &args.chart {
        write_chart(&report, path, args.chart_latency_scale)?;
        info!(file = %path.display(), "chart written");
    }
    if report.offered > 0 && report.acknowledged == 0 {
        bail!(
            "no append was acknowledged ({} failed, {} of unknown outcome, {} not sent); see the errors above",
            report.failed,
            report.unknown,
            report.not_sent
        );
    }
    Ok(())
}

fn progress_bar(
    args: &RunArgs,
    recorder: Arc<Recorder>,
    start: Instant,
    planned: Duration,
) -> (indicatif::ProgressBar, tokio::task::JoinHandle<()>) {
    bss_loadgen::progress::spawn(recorder, start, planned, args.no_progress)
}
