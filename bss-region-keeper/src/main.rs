//! The `bss-region-keeper` daemon: reads its settings (refusing bad ones
//! with exit code 2), runs a round every interval, or one with --once, and
//! stops between or during rounds on SIGTERM or SIGINT. Must never go on
//! with settings it refused.

use std::future::Future;
use std::process::ExitCode;

use bss_region_keeper::config::{Cli, LogFormat, Settings};
use bss_region_keeper::duration::format_duration;
use bss_region_keeper::keeper::Keeper;
use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};
use tokio::time::MissedTickBehavior;
use tracing::{error, info};

fn main() -> ExitCode {
    // One crypto provider for every TLS client, before any builds a configuration.
    bss_tls::provider();
    let settings = match Settings::from_cli(Cli::parse()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bss-region-keeper: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(settings.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bss-region-keeper")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!(error = %e, "could not start the tokio runtime");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(run(settings))
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

async fn run(settings: Settings) -> ExitCode {
    let stop = match termination_signal() {
        Ok(s) => s,
        Err(e) => {
            error!(error = %e, "could not install the SIGTERM and SIGINT handlers");
            return ExitCode::FAILURE;
        }
    };
    tokio::pin!(stop);
    let mut keeper = Keeper::new(&settings);
    if settings.once {
        return tokio::select! {
            round = keeper.round() => match round {
                Ok(_) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            },
            _ = &mut stop => ExitCode::SUCCESS,
        };
    }
    info!(
        quorum = settings.rules.quorum,
        witness = settings.rules.witness,
        interval = %format_duration(settings.interval),
        lease_ttl = %format_duration(settings.rules.lease_ttl),
        takeover_after = %format_duration(settings.rules.takeover_after),
        peer_timeout = %format_duration(settings.peer_timeout),
        "bss-region-keeper started"
    );
    let mut ticks = tokio::time::interval(settings.interval);
    // A round longer than the interval delays the next, never doubles it.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = &mut stop => break,
        }
        // A round cut short renews nothing more: its lease lapses by itself.
        tokio::select! {
            _ = keeper.round() => {}
            _ = &mut stop => break,
        }
    }
    info!("bss-region-keeper stopped");
    ExitCode::SUCCESS
}

/// Installs the SIGTERM and SIGINT handlers now; resolves at the first signal.
fn termination_signal() -> std::io::Result<impl Future<Output = ()>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
