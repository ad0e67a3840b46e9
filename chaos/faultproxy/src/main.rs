//! The command line of bss-faultproxy, and only that: `serve` runs a proxy
//! (the library's `Proxy`) until SIGTERM or SIGINT; every other subcommand
//! sends one request to a running proxy's control socket. A client
//! subcommand that cannot reach the proxy, or is refused, exits 2.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use bss_faultproxy::protocol::Request;
use bss_faultproxy::toxics::{Bandwidth, Latency, LatencyDirection};
use bss_faultproxy::{client, Proxy, ProxyConfig};
use clap::{Args, Parser, Subcommand};
use tokio::signal::unix::{signal, SignalKind};
use tracing::error;

#[derive(Parser)]
#[command(name = "bss-faultproxy", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Listen, forward to the upstream server, and serve the control socket.
    Serve {
        #[arg(long, value_name = "ADDR:PORT")]
        listen: SocketAddr,
        #[arg(long, value_name = "ADDR:PORT")]
        upstream: String,
        #[arg(long, value_name = "PATH")]
        control: PathBuf,
        /// Named in logs and the status (default: the listen address).
        #[arg(long)]
        name: Option<String>,
    },
    /// Delay each chunk by MS plus a uniform jitter in [-J, +J] ms.
    Latency {
        #[command(flatten)]
        control: ControlArg,
        #[arg(long)]
        ms: u64,
        #[arg(long, value_name = "J", default_value_t = 0)]
        jitter_ms: u64,
        #[arg(long, value_enum, default_value_t = LatencyDirection::Both)]
        direction: LatencyDirection,
    },
    /// Forward nothing and read nothing until cleared; then it all flows on.
    Stall(ControlArg),
    /// Swallow every byte, both ways, until cleared.
    Blackhole(ControlArg),
    /// Reset every open connection, and new ones on accept, until cleared.
    Reset(ControlArg),
    /// Limit each direction of each connection to N kilobytes (1000 bytes) a second.
    Bandwidth {
        #[command(flatten)]
        control: ControlArg,
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        kbytes_per_second: u64,
    },
    /// Turn every toxic off.
    Clear(ControlArg),
    /// Print the toxics set and the counters as one line of JSON.
    Status(ControlArg),
}

#[derive(Args)]
struct ControlArg {
    /// The proxy's control socket.
    #[arg(long, value_name = "PATH")]
    control: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("BSS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let (control, request) = match cli.command {
        Command::Serve {
            listen,
            upstream,
            control,
            name,
        } => {
            let config = ProxyConfig {
                name: name.unwrap_or_else(|| listen.to_string()),
                listen,
                upstream,
                control,
            };
            return match serve(config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    error!(error = %format!("{e:#}"), "bss-faultproxy stopped");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Latency {
            control,
            ms,
            jitter_ms,
            direction,
        } => (
            control,
            Request::Latency(Latency {
                ms,
                jitter_ms,
                direction,
            }),
        ),
        Command::Stall(control) => (control, Request::Stall),
        Command::Blackhole(control) => (control, Request::Blackhole),
        Command::Reset(control) => (control, Request::Reset),
        Command::Bandwidth {
            control,
            kbytes_per_second,
        } => (control, Request::Bandwidth(Bandwidth { kbytes_per_second })),
        Command::Clear(control) => (control, Request::Clear),
        Command::Status(control) => (control, Request::Status),
    };
    match client::request(&control.control, &request) {
        Ok(status) if request == Request::Status => match serde_json::to_string(&status) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("bss-faultproxy: cannot print the status: {e}");
                ExitCode::from(2)
            }
        },
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bss-faultproxy: {e}");
            ExitCode::from(2)
        }
    }
}

fn serve(config: ProxyConfig) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bss-faultproxy")
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        let mut terminate = signal(SignalKind::terminate()).context("catching SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("catching SIGINT")?;
        let proxy = Proxy::bind(config).await?;
        proxy
            .run(async {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = interrupt.recv() => {}
                }
            })
            .await;
        Ok(())
    })
}
