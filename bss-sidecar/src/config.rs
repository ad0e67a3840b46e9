//! Owns the sidecar's settings: command-line flags, `BSS_*` environment
//! variables and a TOML file give the same settings, in that order of
//! precedence. Must reject what it cannot use with a message naming the
//! setting, never start with a half-understood configuration.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use serde::Deserialize;

use bss_detect::config::DetectorConfig;

use crate::ask::AskConfig;
use crate::sink::kafka::KafkaSinkConfig;
use crate::sink::redis::RedisSinkConfig;
use crate::stage::forecast::config::ForecastConfig;
use crate::stage::intelligence::config::IntelligenceConfig;

/// Forwards pg_bss events in commit order from PostgreSQL to Kafka and
/// Redis, through a durable local spool.
///
/// Every flag can also be set with the environment variable named in
/// brackets, or in the TOML file given with --config (flags win over the
/// environment, which wins over the file). A sink whose setting is absent
/// is off.
#[derive(Debug, Parser)]
#[command(name = "bss-sidecar", version)]
pub struct Cli {
    /// PostgreSQL connection URL of the database holding pg_bss; the
    /// sidecar opens a logical replication connection and a normal one.
    #[arg(long, env = "BSS_DATABASE_URL", global = true)]
    pub database_url: Option<String>,

    /// Directory of the durable spool (created if missing). Keep it on a
    /// local disk: its fsync is what lets PostgreSQL recycle WAL.
    #[arg(long, env = "BSS_SPOOL_DIR", global = true)]
    pub spool_dir: Option<PathBuf>,

    /// Kafka bootstrap servers (host:port,...); turns the Kafka sink on.
    #[arg(long, env = "BSS_KAFKA_BROKERS", global = true)]
    pub kafka_brokers: Option<String>,

    /// Redis URL (redis://host:port/db); turns the Redis sink on.
    #[arg(long, env = "BSS_REDIS_URL", global = true)]
    pub redis_url: Option<String>,

    /// Logical replication slot name (created if missing) [default: bss_sidecar]
    #[arg(long, env = "BSS_SLOT", global = true)]
    pub slot: Option<String>,

    /// Publication to stream [default: bss_events]
    #[arg(long, env = "BSS_PUBLICATION", global = true)]
    pub publication: Option<String>,

    /// Address for Prometheus /metrics, /healthz and the status page (/),
    /// e.g. 127.0.0.1:9187; absent: no HTTP endpoint.
    #[arg(long, env = "BSS_METRICS_ADDR", global = true)]
    pub metrics_addr: Option<SocketAddr>,

    /// Most events the spool holds that a sink has not delivered; at the
    /// bound the source stops reading from PostgreSQL [default: 1000000]
    #[arg(long, env = "BSS_SPOOL_MAX_EVENTS", global = true)]
    pub spool_max_events: Option<u64>,

    /// Seconds the sinks get to deliver what is spooled after SIGTERM
    /// [default: 10]
    #[arg(long, env = "BSS_DRAIN_TIMEOUT_SECS", global = true)]
    pub drain_timeout_secs: Option<u64>,

    /// Milliseconds a caught-up sink or stage lets new events gather before
    /// it reads them as one batch (fewer, larger deliveries, at up to this
    /// much more latency) [default: 10]
    #[arg(long, env = "BSS_BATCH_LINGER_MS", global = true)]
    pub batch_linger_ms: Option<u64>,

    /// After a point-in-time restore of the database (the server's history
    /// went back below what the spool holds), rebuild the sinks from the
    /// store as `bss-sidecar replay --after-restore --since <the restore's
    /// target time>` would, and start again, instead of stopping. Only where
    /// the timeline history names a target time (a restore to a time).
    #[arg(long, env = "BSS_REPLAY_AFTER_RESTORE", global = true)]
    pub replay_after_restore: bool,

    /// Log format: text or json [default: text]
    #[arg(long, env = "BSS_LOG_FORMAT", global = true)]
    pub log_format: Option<String>,

    /// TOML file with the same settings, plus [kafka] and [redis] tables
    /// (topic routes, key prefixes, client properties).
    #[arg(long, env = "BSS_CONFIG", global = true)]
    pub config: Option<PathBuf>,

    /// Check this TOML file (with the flags and environment over it) as the
    /// sidecar would at start, print a one-line summary and exit 0, or the
    /// error and exit 1. Connects to nothing.
    #[arg(long, value_name = "FILE")]
    pub check_config: Option<PathBuf>,

    /// Without a command the sidecar runs.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What else `bss-sidecar` does, with the same settings.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Deliver the store's events again to Kafka or Redis (to rebuild a
    /// sink that lost its data, or every sink after a point-in-time
    /// restore), then exit. Run it with the sidecar stopped.
    Replay(crate::replay::ReplayArgs),
}

/// Replication slot without `--slot`.
pub const DEFAULT_SLOT: &str = "bss_sidecar";
/// Publication without `--publication`: the one `CREATE EXTENSION pg_bss` makes.
pub const DEFAULT_PUBLICATION: &str = "bss_events";
/// Spool bound without `--spool-max-events`: 2.5 minutes at 400,000 events
/// a minute, about 1 GB of spool.
pub const DEFAULT_SPOOL_MAX_EVENTS: u64 = 1_000_000;
/// Drain time without `--drain-timeout-secs`: a restart stays quick; raise
/// it together with the service manager's stop timeout (deploy/vm: 30 s
/// under a 60 s stop timeout).
pub const DEFAULT_DRAIN_TIMEOUT_SECS: u64 = 10;
/// Linger without `--batch-linger-ms`: at 400,000 events a minute it took
/// 10% off the sidecar's and Redis's CPU and left end-to-end latency as it
/// was (make soak, 3 minutes each, 2026-12-06); Kafka's producer lingers
/// 5 ms by default.
pub const DEFAULT_BATCH_LINGER_MS: u64 = 10;
/// Checkpoint interval of the anomaly stage without `[anomaly]
/// checkpoint_secs`: a save writes the whole state (tens of MB), so not
/// much more often; Kafka Streams commits as often.
pub const DEFAULT_CHECKPOINT_SECS: u64 = 30;

/// The TOML file's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    spool_dir: Option<PathBuf>,
    slot: Option<String>,
    publication: Option<String>,
    metrics_addr: Option<SocketAddr>,
    spool_max_events: Option<u64>,
    drain_timeout_secs: Option<u64>,
    batch_linger_ms: Option<u64>,
    replay_after_restore: Option<bool>,
    log_format: Option<String>,
    kafka: Option<toml::Table>,
    redis: Option<toml::Table>,
    anomaly: Option<AnomalyFileConfig>,
    detector: Option<Vec<toml::Value>>,
    intelligence: Option<IntelligenceConfig>,
    forecast: Option<ForecastConfig>,
    ask: Option<AskConfig>,
}

/// The `[anomaly]` table: how the anomaly stage runs its `[[detector]]`s.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnomalyFileConfig {
    checkpoint_secs: Option<u64>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything the sidecar runs with, merged and checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub spool_dir: PathBuf,
    pub slot: String,
    pub publication: String,
    pub metrics_addr: Option<SocketAddr>,
    pub spool_max_events: u64,
    pub drain_timeout: Duration,
    /// How long a caught-up consumer lets new events gather.
    pub batch_linger: Duration,
    pub log_format: LogFormat,
    pub kafka: Option<KafkaSinkConfig>,
    pub redis: Option<RedisSinkConfig>,
    /// The `[[detector]]`s; none: the anomaly stage is off.
    pub detectors: Vec<DetectorConfig>,
    /// How often the anomaly stage saves its detectors' state.
    pub anomaly_checkpoint: Duration,
    /// Rebuild the sinks and start again after a restore, not stop.
    pub replay_after_restore: bool,
    /// The `[intelligence]` table; none: the intelligence stage is off.
    pub intelligence: Option<IntelligenceConfig>,
    /// The `[forecast]` table; none: the forecast stage is off.
    pub forecast: Option<ForecastConfig>,
    /// The `[ask]` table; none: no `POST /ask`.
    pub ask: Option<AskConfig>,
}

impl Settings {
    /// Merges flags and environment (in `cli`) over the file they name.
    pub fn from_cli(cli: Cli) -> Result<Settings> {
        let file = match &cli.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let database_url = cli
            .database_url
            .or(file.database_url)
            .ok_or_else(|| anyhow!("--database-url (or BSS_DATABASE_URL) is required"))?;
        // The URL, its TLS parameters and their files, as a connection will read them.
        bss_tls::postgres::SqlConnector::from_url(&database_url)
            .map_err(|e| anyhow!("--database-url: {e}"))?;
        let spool_dir = cli
            .spool_dir
            .or(file.spool_dir)
            .ok_or_else(|| anyhow!("--spool-dir (or BSS_SPOOL_DIR) is required"))?;
        let log_format = match cli
            .log_format
            .or(file.log_format)
            .as_deref()
            .unwrap_or("text")
        {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => bail!("--log-format {other:?}: expected text or json"),
        };
        let kafka = sink_table(file.kafka, "brokers", cli.kafka_brokers)
            .map(|t| {
                let cfg = t
                    .try_into::<KafkaSinkConfig>()
                    .map_err(|e| anyhow!("[kafka] settings: {e}"))?;
                cfg.check().map_err(|e| anyhow!("[kafka] settings: {e}"))?;
                Ok::<_, anyhow::Error>(cfg)
            })
            .transpose()?;
        let redis = sink_table(file.redis, "url", cli.redis_url)
            .map(|t| {
                let cfg = t
                    .try_into::<RedisSinkConfig>()
                    .map_err(|e| anyhow!("[redis] settings: {e}"))?;
                cfg.check().map_err(|e| anyhow!("[redis] settings: {e}"))?;
                Ok::<_, anyhow::Error>(cfg)
            })
            .transpose()?;
        let detectors = match &file.detector {
            None => Vec::new(),
            Some(tables) => {
                let tables = tables
                    .iter()
                    .map(|t| serde_json::to_value(t).map_err(|e| anyhow!("[[detector]]: {e}")))
                    .collect::<Result<Vec<_>>>()?;
                bss_detect::config::from_tables(&tables)
                    .map_err(|e| anyhow!("[[detector]] settings: {e}"))?
            }
        };
        let checkpoint_secs = file
            .anomaly
            .as_ref()
            .and_then(|a| a.checkpoint_secs)
            .unwrap_or(DEFAULT_CHECKPOINT_SECS);
        if checkpoint_secs == 0 {
            bail!("[anomaly] checkpoint_secs must be at least 1");
        }
        if let Some(i) = &file.intelligence {
            i.check().map_err(|e| anyhow!("[intelligence] {e}"))?;
        }
        if let Some(f) = &file.forecast {
            f.check().map_err(|e| anyhow!("[forecast] {e}"))?;
        }
        let metrics_addr = cli.metrics_addr.or(file.metrics_addr);
        if let Some(a) = &file.ask {
            a.check().map_err(|e| anyhow!("[ask] {e}"))?;
            AskConfig::check_listener(metrics_addr).map_err(|e| anyhow!("[ask] {e}"))?;
        }
        Ok(Settings {
            ask: file.ask,
            forecast: file.forecast,
            intelligence: file.intelligence,
            detectors,
            anomaly_checkpoint: Duration::from_secs(checkpoint_secs),
            database_url,
            spool_dir,
            slot: cli
                .slot
                .or(file.slot)
                .unwrap_or_else(|| DEFAULT_SLOT.to_owned()),
            publication: cli
                .publication
                .or(file.publication)
                .unwrap_or_else(|| DEFAULT_PUBLICATION.to_owned()),
            metrics_addr,
            spool_max_events: cli
                .spool_max_events
                .or(file.spool_max_events)
                .unwrap_or(DEFAULT_SPOOL_MAX_EVENTS),
            drain_timeout: Duration::from_secs(
                cli.drain_timeout_secs
                    .or(file.drain_timeout_secs)
                    .unwrap_or(DEFAULT_DRAIN_TIMEOUT_SECS),
            ),
            batch_linger: Duration::from_millis(
                cli.batch_linger_ms
                    .or(file.batch_linger_ms)
                    .unwrap_or(DEFAULT_BATCH_LINGER_MS),
            ),
            log_format,
            kafka,
            redis,
            replay_after_restore: cli.replay_after_restore
                || file.replay_after_restore.unwrap_or(false),
        })
    }
}

impl Settings {
    /// One line of what the sidecar would run with, without secrets (the
    /// URLs may carry passwords): what `--check-config` prints.
    pub fn summary(&self) -> String {
        let on_off = |on: bool| if on { "on" } else { "off" };
        format!(
            "spool {} (at most {} events), slot {}, publication {}, kafka {}, redis {}, \
             {} detectors{}, intelligence {}, forecast {}, HTTP {}{}, drain {} s, linger {} ms, after a restore {}, {} logs",
            self.spool_dir.display(),
            self.spool_max_events,
            self.slot,
            self.publication,
            match &self.kafka {
                Some(k) => format!("on ({} routes)", k.routes.len()),
                None => "off".to_owned(),
            },
            on_off(self.redis.is_some()),
            self.detectors.len(),
            if self.detectors.is_empty() {
                String::new()
            } else {
                format!(
                    " (checkpoint every {} s)",
                    self.anomaly_checkpoint.as_secs()
                )
            },
            match &self.intelligence {
                Some(i) => format!("on ({})", i.types.join(", ")),
                None => "off".to_owned(),
            },
            on_off(self.forecast.is_some()),
            self.metrics_addr
                .map_or_else(|| "off".to_owned(), |a| a.to_string()),
            if self.ask.is_some() { " with /ask" } else { "" },
            self.drain_timeout.as_secs(),
            self.batch_linger.as_millis(),
            if self.replay_after_restore {
                "replay"
            } else {
                "stop"
            },
            match self.log_format {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            },
        )
    }
}

fn read_file(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
}

/// A sink's table: the file's, with `key` set from the flag when given.
/// None (sink off) when neither names the sink's address.
fn sink_table(file: Option<toml::Table>, key: &str, flag: Option<String>) -> Option<toml::Table> {
    let mut table = file.unwrap_or_default();
    if let Some(v) = flag {
        table.insert(key.to_owned(), toml::Value::String(v));
    }
    table.contains_key(key).then_some(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("bss-sidecar").chain(args.iter().copied())).unwrap()
    }

    /// Settings from a file holding `toml`, with the required flags given.
    fn from_file(toml: &str) -> Result<Settings> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sidecar.toml");
        std::fs::write(&path, toml).unwrap();
        Settings::from_cli(cli(&[
            "--config",
            path.to_str().unwrap(),
            "--database-url",
            "postgresql://db/bss",
            "--spool-dir",
            "/tmp/x",
        ]))
    }

    #[test]
    fn flags_win_over_the_file_and_absent_sinks_are_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sidecar.toml");
        std::fs::write(
            &path,
            "database_url = \"postgresql://file/db\"\nspool_dir = \"/var/spool/bss\"\nslot = \"from_file\"\n",
        )
        .unwrap();
        let s = Settings::from_cli(cli(&[
            "--config",
            path.to_str().unwrap(),
            "--slot",
            "from_flag",
        ]))
        .unwrap();
        if std::env::var_os("BSS_DATABASE_URL").is_none() {
            assert_eq!(s.database_url, "postgresql://file/db");
        }
        assert_eq!(s.spool_dir, PathBuf::from("/var/spool/bss"));
        assert_eq!(s.slot, "from_flag");
        assert_eq!(s.publication, "bss_events");
        assert!(s.kafka.is_none() && s.redis.is_none());
    }

    #[test]
    fn the_example_file_in_the_readme_is_valid() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/sidecar.example.toml");
        let s = Settings::from_cli(cli(&["--config", path])).unwrap();
        let kafka = s.kafka.expect("[kafka] turns the Kafka sink on");
        assert_eq!(kafka.routes.len(), 1);
        assert_eq!(kafka.replication_factor, 3);
        assert_eq!(s.redis.expect("[redis]").stream_maxlen, Some(1_000_000));
        assert_eq!(s.detectors.len(), 1);
        assert_eq!(s.detectors[0].stream_id(), "anomaly-big-data-session");
        assert_eq!(s.anomaly_checkpoint, Duration::from_secs(30));
    }

    #[test]
    fn the_detectors_for_bss_traffic_are_a_valid_sidecar_configuration() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../bss-detect/detectors.toml");
        let s = Settings::from_cli(cli(&[
            "--config",
            path,
            "--database-url",
            "postgresql://db/bss",
            "--spool-dir",
            "/tmp/x",
        ]))
        .unwrap();
        assert!(s.detectors.len() >= 5, "{} detectors", s.detectors.len());
    }

    #[test]
    fn a_bad_detector_stops_the_sidecar_naming_it() {
        let err = from_file(
            "[[detector]]\nname = \"spikes\"\nevent_type = \"usage.recorded\"\ncount = \"30s\"\nalgorithm = \"zscore\"\nthreshold = -1\n",
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("detector spikes") && msg.contains("threshold"),
            "{msg}"
        );
    }

    #[test]
    fn a_sink_setting_the_sink_would_refuse_stops_the_sidecar_at_start() {
        let err = from_file("[kafka]\nbrokers = \"h:1\"\n[kafka.properties]\n\"acks\" = \"1\"\n")
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("[kafka]") && msg.contains("acks"), "{msg}");
    }

    #[test]
    fn a_database_url_whose_tls_cannot_be_set_up_stops_the_sidecar_at_start() {
        let start =
            |url: &str| Settings::from_cli(cli(&["--database-url", url, "--spool-dir", "/tmp/x"]));
        let err = start("postgresql://db/bss?sslmode=verify-full&sslrootcert=/nonexistent/ca.crt")
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("/nonexistent/ca.crt"),
            "{err:#}"
        );
        let err = start("postgresql://db/bss?sslmode=verify-all").unwrap_err();
        assert!(format!("{err:#}").contains("sslmode=verify-all"), "{err:#}");
        assert!(start("postgresql://db/bss?sslmode=require").is_ok());
    }

    #[test]
    fn unknown_file_settings_and_missing_required_ones_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sidecar.toml");
        std::fs::write(&path, "database_ur1 = \"x\"\n").unwrap();
        let err = Settings::from_cli(cli(&["--config", path.to_str().unwrap()])).unwrap_err();
        assert!(format!("{err:#}").contains("database_ur1"), "{err:#}");
        if std::env::var_os("BSS_DATABASE_URL").is_none() {
            let err = Settings::from_cli(cli(&["--spool-dir", "/tmp/x"])).unwrap_err();
            assert!(err.to_string().contains("--database-url"), "{err}");
        }
    }

    #[test]
    fn ask_needs_its_model_and_a_loopback_listener() {
        let model_dir = tempfile::tempdir().unwrap();
        let minilm = model_dir.path().join("minilm");
        std::fs::create_dir_all(&minilm).unwrap();
        let ask = format!("[ask]\ndata_dir = {:?}\n", model_dir.path());
        let err = from_file(&ask).unwrap_err();
        assert!(format!("{err:#}").contains("[ask] data_dir"), "{err:#}");
        std::fs::write(minilm.join("model.safetensors"), b"").unwrap();
        let err = from_file(&ask).unwrap_err();
        assert!(
            format!("{err:#}").contains("[ask] needs metrics_addr"),
            "{err:#}"
        );
        let err = from_file(&format!("metrics_addr = \"0.0.0.0:9187\"\n{ask}")).unwrap_err();
        assert!(
            format!("{err:#}").contains("not a loopback address"),
            "{err:#}"
        );
        let s = from_file(&format!("metrics_addr = \"127.0.0.1:9187\"\n{ask}")).unwrap();
        let a = s.ask.unwrap();
        assert_eq!((a.statement_timeout_ms, a.max_concurrent), (30_000, 2));
        let err = from_file(&format!(
            "metrics_addr = \"127.0.0.1:9187\"\n{ask}max_concurrent = 0\n"
        ))
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("[ask] max_concurrent"),
            "{err:#}"
        );
    }
}
