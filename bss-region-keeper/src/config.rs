//! Owns the keeper's settings: command-line flags or `BSS_KEEPER_*`
//! environment variables, and the checks of how the durations relate.
//! Must never start a keeper whose lease can lapse between two rounds, or
//! that could take over a region whose lease may still hold.

use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::decide::Rules;
use crate::duration::{format_duration, parse_duration};

/// Keeps this pg_bss region's write lease: every interval it calls the
/// heartbeat in its own database and in each peer of bss.regions, renews
/// the lease when the peers confirm this region has applied every epoch
/// they know, and (with --quorum) takes over the home regions of a region
/// that a quorum has not heard from for --takeover-after.
///
/// Every flag can also be set with the environment variable named in
/// brackets (flags win).
#[derive(Debug, Parser)]
#[command(name = "bss-region-keeper", version)]
pub struct Cli {
    /// PostgreSQL URL or key=value conninfo of this region's database
    /// (sslmode, sslrootcert, sslcert and sslkey as in libpq).
    #[arg(long, env = "BSS_KEEPER_DATABASE_URL")]
    pub database_url: String,

    /// This region is a witness: it confirms the others and keeps their
    /// contacts, and never takes a region over.
    #[arg(long, env = "BSS_KEEPER_WITNESS")]
    pub witness: bool,

    /// Quorum mode: leases of --lease-ttl, renewed while a majority of the
    /// regions confirm, and takeovers. Without it (startup mode, for two
    /// regions): a lease until the server restarts, once every peer that
    /// answers confirms, and never a takeover.
    #[arg(long, env = "BSS_KEEPER_QUORUM")]
    pub quorum: bool,

    /// Time between the starts of two rounds (500ms, 1s, 1m).
    #[arg(long, env = "BSS_KEEPER_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,

    /// Length of a lease renewed in quorum mode, from the local database's
    /// time at the start of the round.
    #[arg(long, env = "BSS_KEEPER_LEASE_TTL", default_value = "5s", value_parser = parse_duration)]
    pub lease_ttl: Duration,

    /// A region silent this long (in this region and a quorum of others)
    /// is lost, and its home regions are taken over.
    #[arg(long, env = "BSS_KEEPER_TAKEOVER_AFTER", default_value = "10s", value_parser = parse_duration)]
    pub takeover_after: Duration,

    /// Longest wait for one peer's answer, connecting included.
    #[arg(long, env = "BSS_KEEPER_PEER_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub peer_timeout: Duration,

    /// One round, then exit: 0, or 1 when the local database failed.
    #[arg(long)]
    pub once: bool,

    /// Log format.
    #[arg(long, env = "BSS_KEEPER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything the keeper runs with, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub rules: Rules,
    pub interval: Duration,
    pub peer_timeout: Duration,
    pub once: bool,
    pub log_format: LogFormat,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl Settings {
    pub fn from_cli(cli: Cli) -> Result<Settings, ConfigError> {
        let d = format_duration;
        bss_tls::postgres::parse(&cli.database_url)
            .map_err(|e| ConfigError(format!("--database-url: {e}")))?;
        if cli.lease_ttl <= cli.interval {
            return Err(ConfigError(format!(
                "--lease-ttl ({}) must be longer than --interval ({}): the lease is renewed once a round and would lapse between rounds",
                d(cli.lease_ttl),
                d(cli.interval)
            )));
        }
        if cli.peer_timeout >= cli.lease_ttl {
            return Err(ConfigError(format!(
                "--peer-timeout ({}) must be shorter than --lease-ttl ({}): a lease runs from the start of the round, before the peers answer",
                d(cli.peer_timeout),
                d(cli.lease_ttl)
            )));
        }
        // A lease confirmed by a peer just after that peer reported the
        // region silent runs lease-ttl from a round up to interval plus
        // peer-timeout old.
        if cli.takeover_after <= cli.lease_ttl + cli.interval + cli.peer_timeout {
            return Err(ConfigError(format!(
                "--takeover-after ({}) must be longer than --lease-ttl plus --interval plus --peer-timeout ({}): a lost region's lease must have lapsed before its streams are taken over",
                d(cli.takeover_after),
                d(cli.lease_ttl + cli.interval + cli.peer_timeout)
            )));
        }
        Ok(Settings {
            database_url: cli.database_url,
            rules: Rules {
                witness: cli.witness,
                quorum: cli.quorum,
                lease_ttl: cli.lease_ttl,
                takeover_after: cli.takeover_after,
            },
            interval: cli.interval,
            peer_timeout: cli.peer_timeout,
            once: cli.once,
            log_format: cli.log_format,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(args: &[&str]) -> Result<Settings, String> {
        let argv = ["bss-region-keeper", "--database-url", "postgresql://db/bss"];
        let cli = Cli::try_parse_from(argv.iter().chain(args)).map_err(|e| e.to_string())?;
        Settings::from_cli(cli).map_err(|e| e.to_string())
    }

    #[test]
    fn the_defaults_are_a_valid_configuration() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.interval, Duration::from_secs(1));
        assert_eq!(s.peer_timeout, Duration::from_secs(2));
        assert_eq!(
            s.rules,
            Rules {
                witness: false,
                quorum: false,
                lease_ttl: Duration::from_secs(5),
                takeover_after: Duration::from_secs(10),
            }
        );
        let s = settings(&["--quorum", "--witness", "--interval", "500ms", "--once"]).unwrap();
        assert!(s.rules.quorum && s.rules.witness && s.once);
        assert_eq!(s.interval, Duration::from_millis(500));
    }

    #[test]
    fn a_lease_no_longer_than_the_interval_is_refused() {
        let err = settings(&["--interval", "5s"]).unwrap_err();
        assert!(
            err.contains("--lease-ttl (5s) must be longer than --interval (5s)"),
            "{err}"
        );
    }

    #[test]
    fn a_takeover_before_the_lost_lease_has_lapsed_is_refused() {
        let err = settings(&["--takeover-after", "8s"]).unwrap_err();
        assert!(err.contains("--takeover-after (8s)"), "{err}");
        assert!(err.contains("lease must have lapsed"), "{err}");
        assert!(settings(&["--takeover-after", "8001ms"]).is_ok());
    }

    #[test]
    fn a_peer_timeout_as_long_as_the_lease_is_refused() {
        let err = settings(&["--peer-timeout", "5s"]).unwrap_err();
        assert!(err.contains("--peer-timeout (5s)"), "{err}");
    }

    #[test]
    fn a_database_url_whose_tls_cannot_be_set_up_is_refused() {
        let cli = Cli::try_parse_from([
            "bss-region-keeper",
            "--database-url",
            "postgresql://db/bss?sslmode=verify-everything",
        ])
        .unwrap();
        let err = Settings::from_cli(cli).unwrap_err().to_string();
        assert!(
            err.contains("--database-url") && err.contains("sslmode"),
            "{err}"
        );
    }
}
