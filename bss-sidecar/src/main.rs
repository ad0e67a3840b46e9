//! The `bss-sidecar` daemon: wires settings, the spool, the replication
//! source, the sinks and the metrics endpoint, and shuts them down in order
//! on SIGTERM or SIGINT (source first, then the sinks drain).

use std::sync::Arc;

use anyhow::{Context, Result};
use bss_sidecar::config::{Cli, Command, LogFormat, Settings};
use bss_sidecar::metrics::Metrics;
use bss_sidecar::replay;
use bss_sidecar::runner::{self, Consumer};
use bss_sidecar::shutdown::{termination_signal, Shutdown};
use bss_sidecar::sink::kafka::KafkaSink;
use bss_sidecar::sink::redis::RedisSink;
use bss_sidecar::sink::SinkError;
use bss_sidecar::source::history::HistoryWentBack;
use bss_sidecar::source::replication::{self, Fatal, SourceConfig};
use bss_sidecar::spool::Spool;
use bss_sidecar::stage::anomaly::{self, AnomalyStage, StageConfig};
use bss_sidecar::stage::forecast::ForecastStage;
use bss_sidecar::stage::intelligence::IntelligenceStage;
use bss_sidecar::status::{self, RecentAnomalies, Status};
use bss_sidecar::{ask, http};
use clap::Parser;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

/// mimalloc instead of glibc's malloc: the sidecar allocates and frees small
/// buffers per event on several threads, where glibc spent about a tenth of
/// the sidecar's CPU in consolidation and page faults (perf, bench-cdc).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process, as Redis does
/// (`disable-thp yes`). mimalloc asks for huge pages on its 1 GiB arenas,
/// so every first touch of a 2 MiB region zeroes all of it: a restarted
/// sidecar catching up grew to about 490 MB resident (against about 110 MB
/// in steady state) and spent about 7% of both cores in the kernel's
/// `clear_page_erms` while it was killed every few seconds, time taken from
/// PostgreSQL (the chaos suite's sidecar-kill, perf). The flag is checked at
/// each page fault, so it covers the arenas reserved before `main` too.
fn disable_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments and touches no memory of ours.
    let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if rc != 0 {
        eprintln!(
            "bss-sidecar: could not turn transparent huge pages off ({}); running with them",
            std::io::Error::last_os_error()
        );
    }
}

fn main() {
    disable_transparent_huge_pages();
    // One crypto provider for every TLS client, before any of them builds a configuration.
    bss_tls::provider();
    let mut cli = Cli::parse();
    if let Some(file) = cli.check_config.take() {
        // The same merge and checks as a start, without starting.
        cli.config = Some(file.clone());
        match Settings::from_cli(cli) {
            Ok(s) => {
                println!("bss-sidecar: {} is valid: {}", file.display(), s.summary());
                std::process::exit(0);
            }
            Err(e) => {
                eprintln!("bss-sidecar: {}: {e:#}", file.display());
                std::process::exit(1);
            }
        }
    }
    let command = cli.command.take();
    let settings = match Settings::from_cli(cli) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bss-sidecar: {e:#}");
            std::process::exit(2);
        }
    };
    init_tracing(settings.log_format);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bss-sidecar")
        .build()
        .expect("tokio runtime");
    if let Some(Command::Replay(args)) = command {
        if let Err(e) = rt.block_on(replay::run(&settings, args)) {
            error!(error = %format!("{e:#}"), "replay failed");
            std::process::exit(1);
        }
        return;
    }
    loop {
        let Err(e) = rt.block_on(run(settings.clone())) else {
            return;
        };
        // After a restore, with replay_after_restore: rebuild the sinks from
        // the store as the operator's replay would, then start again.
        let went_back = e.chain().find_map(|c| {
            c.downcast_ref::<HistoryWentBack>().or_else(|| {
                c.downcast_ref::<Fatal>()
                    .and_then(|f| f.0.downcast_ref::<HistoryWentBack>())
            })
        });
        if let Some(since) = went_back
            .filter(|_| settings.replay_after_restore)
            .and_then(|w| w.target_time.clone())
        {
            warn!(error = %format!("{e:#}"), since = %since,
                "replay_after_restore: rebuilding the sinks from the store, then starting again");
            let args = replay::ReplayArgs {
                sinks: Vec::new(),
                from_position: None,
                since: Some(since),
                after_restore: true,
            };
            match rt.block_on(replay::run(&settings, args)) {
                Ok(()) => continue,
                Err(r) => error!(error = %format!("{r:#}"), "the replay after the restore failed"),
            }
        } else if went_back.is_some() && settings.replay_after_restore {
            error!("replay_after_restore: the timeline history names no target time for this restore; run the replay by hand");
        }
        error!(error = %format!("{e:#}"), "bss-sidecar stopped");
        std::process::exit(1);
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BSS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn run(settings: Settings) -> Result<()> {
    let metrics = Metrics::new();
    let spool = Arc::new(
        Spool::open(&settings.spool_dir, settings.spool_max_events)
            .with_context(|| format!("opening the spool in {}", settings.spool_dir.display()))?
            .counting_reopens_in(metrics.spool_reopens.clone()),
    );
    metrics.spool_max_events.set(spool.max_events() as i64);
    let shutdown = Shutdown::default();

    let mut consumers: Vec<Consumer> = Vec::new();
    if let Some(cfg) = settings.kafka.clone() {
        consumers.push(Consumer::Sink(Box::new(KafkaSink::connect(cfg).await?)));
    }
    if let Some(cfg) = settings.redis.clone() {
        let sink = match RedisSink::connect(cfg.clone()).await {
            Ok(sink) => sink,
            Err(SinkError::Retry(e)) => {
                warn!(error = %e, "Redis is not reachable yet; the sink connects when it is");
                RedisSink::lazy(cfg)?
            }
            Err(e) => return Err(e.into()),
        };
        consumers.push(Consumer::Sink(Box::new(sink)));
    }
    if let Some(cfg) = settings.intelligence.clone() {
        consumers.push(Consumer::Stage(Box::new(IntelligenceStage::new(
            cfg,
            settings.database_url.clone(),
            &settings.spool_dir,
            metrics.clone(),
        )?)));
    }
    if let Some(cfg) = settings.forecast.clone() {
        consumers.push(Consumer::Stage(Box::new(ForecastStage::new(
            cfg,
            &settings.spool_dir,
            metrics.clone(),
        ))));
    }
    if consumers.is_empty() && settings.detectors.is_empty() {
        info!("no sink configured (--kafka-brokers, --redis-url): events are only spooled");
    }
    let sink_names: Vec<&str> = consumers
        .iter()
        .filter_map(|c| match c {
            Consumer::Sink(s) => Some(s.name()),
            Consumer::Stage(_) => None,
        })
        .collect();
    let (found_tx, found_rx) = mpsc::unbounded_channel();
    let stage_on = !settings.detectors.is_empty();
    if stage_on {
        let cfg = StageConfig {
            database_url: settings.database_url.clone(),
            detectors: settings.detectors.clone(),
            checkpoint_every: settings.anomaly_checkpoint,
            spool_dir: settings.spool_dir.clone(),
        };
        consumers.push(Consumer::Stage(Box::new(AnomalyStage::new(
            cfg,
            metrics.clone(),
            found_tx,
        ))));
    }
    // The status page exists only with the HTTP endpoint; without it the
    // stage's channel is closed and its sends are dropped.
    // The model is loaded before anything is served: a missing or broken
    // model stops the start, as a bad setting does.
    let ask_service = match &settings.ask {
        Some(cfg) => Some(ask::AskService::load(cfg, &settings.database_url).await?),
        None => None,
    };
    let http_task = settings.metrics_addr.map(|addr| {
        let status = Status::new(
            metrics.clone(),
            &sink_names,
            stage_on.then_some(anomaly::NAME),
            RecentAnomalies::new(stage_on.then_some(found_rx)),
        );
        tokio::spawn(status::run_sampler(status.clone(), shutdown.consumers()));
        tokio::spawn(http::serve(
            addr,
            metrics.clone(),
            status,
            ask_service,
            shutdown.consumers(),
        ))
    });
    let consumer_tasks: Vec<_> = consumers
        .into_iter()
        .map(|c| {
            tokio::spawn(runner::run(
                spool.clone(),
                c,
                metrics.clone(),
                shutdown.consumers(),
                runner::Timing {
                    drain_timeout: settings.drain_timeout,
                    linger: settings.batch_linger,
                },
            ))
        })
        .collect();
    let source_cfg = SourceConfig::new(&settings);
    let mut source = tokio::spawn(replication::run(
        source_cfg,
        spool.clone(),
        metrics.clone(),
        shutdown.source(),
    ));

    let signalled = termination_signal()?;
    let source_result = tokio::select! {
        r = &mut source => Some(r),
        _ = signalled => None,
    };
    let mut result = Ok(());
    let source_result = match source_result {
        Some(r) => r,
        None => {
            info!("shutting down: stopping the source, then draining the sinks");
            shutdown.stop_source();
            source.await
        }
    };
    if let Err(e) = source_result.context("source task")? {
        result = Err(e);
    }
    shutdown.stop_consumers();
    for t in consumer_tasks {
        if let Err(e) = t.await.context("sink task")? {
            if result.is_ok() {
                result = Err(e);
            }
        }
    }
    if let Some(t) = http_task {
        let _ = t.await;
    }
    info!(spool_depth = spool.depth(), "bss-sidecar stopped");
    result
}
