//! Owns the operator's replay (`bss-sidecar replay`): delivering the events
//! of the store again to Kafka or Redis, to rebuild a sink that lost its
//! data (Redis flushed, a broker's topics lost) or, after a point-in-time
//! restore, every sink at once. It reads `bss.events` through the same
//! snapshot reader as the gap fill ([`crate::source::snapshot`]), in the
//! snapshot of a slot it creates, and hands pages to each sink's own
//! `deliver` (the same writes, keys, headers and idempotence as the
//! sidecar's delivery).
//!
//! Why the sink ends up with everything, in order:
//! - The slot's snapshot sees exactly the transactions committed before its
//!   consistent point C. Each event read is delivered as committed at C
//!   (index n in the replay), so its Redis entry ID `C-n` is below those of
//!   the transactions the sidecar streams after C, and above those of any
//!   it streamed before (Redis takes what it already has as delivered).
//! - The replay starts at or below the oldest position the sink has not
//!   been given from the spool yet, then moves that sink's spool cursor to
//!   the spool's end: what the spool held for it is committed, so it is in
//!   the snapshot and replayed, in position order, not delivered again
//!   behind newer versions.
//! - After a restore the sidecar's own slot is made anew (its snapshot is
//!   the one read), Redis's keys are removed and Redis is replayed from the
//!   start, and every consumer's cursor moves past the spool's records:
//!   those of the history the restore undid are never delivered.
//!
//! Must never run beside a sidecar on the same spool (it holds the spool
//! directory's lock), never deliver an event outside the snapshot, and
//! never move a cursor before the sink acknowledged everything replayed.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use pgwire_replication::{Lsn, ReplicationClient};
use std::sync::Arc;
use tracing::{info, warn};

use crate::backoff::{self, Backoff};
use crate::config::Settings;
use crate::event::{Event, Spooled};
use crate::sink::kafka::KafkaSink;
use crate::sink::redis::RedisSink;
use crate::sink::{Sink, SinkError};
use crate::source::floor::{query_floor, Floor, Server, SlotPlan};
use crate::source::replication::{self, SourceConfig};
use crate::source::snapshot::{self, AtConsistentPoint, StoreEvents};
use crate::spool::Spool;
use crate::stage::anomaly;

/// Longest one page may keep failing to reach a sink before the replay
/// gives up (it can be run again: the sinks take redelivery).
const DELIVERY_PATIENCE: Duration = Duration::from_secs(120);

/// `bss-sidecar replay`: deliver the store's events again, with the
/// sidecar stopped (the replay takes its spool's lock).
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// Sink to replay into: kafka or redis (repeat for both); default:
    /// every configured sink.
    #[arg(long = "sink", value_name = "NAME")]
    pub sinks: Vec<String>,

    /// Replay the events after this global position [default: from the
    /// first event]. Redis's per-stream state (`bss:agg:*`) is a merge of
    /// every event of a stream, so after a flush replay Redis from the start.
    #[arg(long, conflicts_with = "since")]
    pub from_position: Option<i64>,

    /// Replay the events the store recorded at or after this time (any
    /// timestamptz PostgreSQL reads, e.g. '2026-12-05 13:45:00+00'), and
    /// every later position.
    #[arg(long)]
    pub since: Option<String>,

    /// After a point-in-time restore of the database: make the sidecar's
    /// slot anew on the restored server, remove Redis's keys and replay it
    /// from the start, replay Kafka from --since (the restore target time,
    /// or earlier) or --from-position, and leave the spool's records of the
    /// undone history behind. Then start the sidecar.
    #[arg(long, conflicts_with = "sinks")]
    pub after_restore: bool,
}

/// A sink being replayed into, and the position it replays after.
struct Target {
    sink: Box<dyn Sink>,
    after: i64,
    delivered: u64,
}

/// Runs the replay to its end; the sidecar may start afterwards.
pub async fn run(settings: &Settings, args: ReplayArgs) -> Result<()> {
    let spool = Spool::open(&settings.spool_dir, settings.spool_max_events).with_context(|| {
        format!(
            "opening the spool in {} (hint: stop the sidecar that uses it first; \
             a replay never runs beside it)",
            settings.spool_dir.display()
        )
    })?;
    let names = chosen_sinks(settings, &args)?;
    let mut targets = Vec::new();
    for name in &names {
        targets.push(Target {
            sink: connect(settings, name).await?,
            after: 0,
            delivered: 0,
        });
    }
    if args.after_restore {
        if let Some(cfg) = &settings.redis {
            let removed = RedisSink::connect(cfg.clone())
                .await
                .map_err(|e| anyhow!("{e}"))?
                .remove_keys()
                .await
                .map_err(|e| anyhow!("{e}"))?;
            info!(
                removed,
                "removed Redis's keys of the history the restore undid"
            );
        }
    }

    let source = SourceConfig::new(settings);
    let (sql, conn_task, target) = replication::connect_primary(&source).await?;
    let result = async {
        let mut gate = ReplicationClient::connect_gated(target.replication.clone()).await?;
        let ident = gate.identify_system().await?;
        let server = Server {
            system_id: ident.system_id,
            timeline: ident.timeline,
        };
        let mut floor = Floor::open(&spool)?;
        let base_seq = spool.next_seq();
        let slot = if args.after_restore {
            if floor.plan(&server, true, &spool)? == SlotPlan::Stream {
                warn!("the slot the spool follows is on this server's timeline: replaying as after a restore all the same");
            }
            sql.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                 WHERE slot_name = $1 AND database = current_database()",
                &[&settings.slot],
            )
            .await
            .with_context(|| format!("dropping replication slot {:?}", settings.slot))?;
            floor.filling(&spool)?;
            snapshot::create_slot(&mut gate, &settings.slot, false).await?
        } else {
            let name = format!("bss_replay_{}", std::process::id());
            snapshot::create_slot(&mut gate, &name, true).await?
        };
        let c = slot.consistent_point;
        snapshot::import(&sql, &slot).await?;
        let start = start_position(&sql, &args).await?;
        for (t, name) in targets.iter_mut().zip(&names) {
            t.after = if args.after_restore && *name == "redis" {
                0
            } else {
                start.min(undelivered_after(&spool, name)?)
            };
            if args.after_restore {
                t.after = t.after.min(floor.position());
            }
        }
        info!(consistent_point = %c, sinks = ?names, from = ?targets.iter().map(|t| t.after).collect::<Vec<_>>(),
            "replaying from the store");
        let total = replay(&sql, c, &mut targets).await?;
        let (settled, _) = query_floor(&sql, 0).await?;
        sql.batch_execute("COMMIT").await?;
        if args.after_restore {
            floor.restored(&server, c.0, base_seq, settled, &spool)?;
        }
        let mut moved: Vec<&'static str> = names.clone();
        if args.after_restore && !settings.detectors.is_empty() {
            moved.push(anomaly::NAME);
        }
        for name in moved {
            spool.register(name)?;
            spool.advance(name, spool.next_seq())?;
        }
        drop(gate);
        Ok::<_, anyhow::Error>(total)
    }
    .await;
    conn_task.abort();
    let total = result?;
    for (t, name) in targets.iter().zip(&names) {
        info!(
            sink = name,
            after = t.after,
            delivered = t.delivered,
            "replayed"
        );
    }
    info!(events = total, "replay done");
    Ok(())
}

/// The sinks named (each must be configured), or every configured one.
fn chosen_sinks(settings: &Settings, args: &ReplayArgs) -> Result<Vec<&'static str>> {
    let configured: Vec<&'static str> = [
        settings.kafka.as_ref().map(|_| "kafka"),
        settings.redis.as_ref().map(|_| "redis"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if args.sinks.is_empty() {
        if configured.is_empty() {
            bail!("no sink is configured to replay into (hint: --kafka-brokers, --redis-url, or [kafka] / [redis] in --config)");
        }
        return Ok(configured);
    }
    let mut chosen = Vec::new();
    for name in &args.sinks {
        let Some(&known) = configured.iter().find(|c| **c == name.as_str()) else {
            bail!(
                "--sink {name:?}: not a configured sink (configured: {}; hint: kafka needs --kafka-brokers, redis --redis-url)",
                if configured.is_empty() { "none".to_owned() } else { configured.join(", ") }
            );
        };
        if !chosen.contains(&known) {
            chosen.push(known);
        }
    }
    Ok(chosen)
}

async fn connect(settings: &Settings, name: &str) -> Result<Box<dyn Sink>> {
    let sink: Box<dyn Sink> = match name {
        "kafka" => Box::new(
            KafkaSink::connect(settings.kafka.clone().expect("configured"))
                .await
                .map_err(|e| anyhow!("kafka: {e}"))?,
        ),
        _ => Box::new(
            RedisSink::connect(settings.redis.clone().expect("configured"))
                .await
                .map_err(|e| anyhow!("redis: {e}"))?,
        ),
    };
    Ok(sink)
}

/// The position the replay starts after, in the snapshot.
async fn start_position(sql: &tokio_postgres::Client, args: &ReplayArgs) -> Result<i64> {
    if let Some(p) = args.from_position {
        if p < 0 {
            bail!("--from-position {p}: positions start at 1 (hint: 0 replays everything)");
        }
        return Ok(p);
    }
    let Some(since) = &args.since else {
        return Ok(0);
    };
    let row = sql
        .query_one(
            "SELECT coalesce(min(global_position) - 1, (SELECT max(global_position) FROM bss.events), 0) \
             FROM bss.events WHERE recorded_at >= $1::text::timestamptz",
            &[since],
        )
        .await
        .with_context(|| format!("--since {since:?}"))?;
    Ok(row.get(0))
}

/// The position just below the oldest event of the spool that `sink` has
/// not been given yet (i64::MAX: none).
fn undelivered_after(spool: &Spool, sink: &'static str) -> Result<i64> {
    let mut lowest = i64::MAX;
    spool.read_each(spool.register(sink)?, |batch| {
        for s in batch {
            lowest = lowest.min(s.event.global_position);
        }
    })?;
    Ok(if lowest == i64::MAX {
        lowest
    } else {
        lowest - 1
    })
}

/// Delivers every event above the lowest start in the snapshot, each to
/// the sinks whose start is below it, as committed at `c`.
async fn replay(sql: &tokio_postgres::Client, c: Lsn, targets: &mut [Target]) -> Result<u64> {
    let reader = StoreEvents::prepare(sql).await?;
    let mut after = targets.iter().map(|t| t.after).min().unwrap_or(i64::MAX);
    let mut at_c = AtConsistentPoint::new(c);
    let mut total = 0u64;
    let started = Instant::now();
    loop {
        let page = reader.page(sql, after).await?;
        let Some(last) = page.last() else { break };
        after = last.global_position;
        let page: Vec<Spooled> = (total..)
            .zip(page)
            .map(|(seq, mut e): (u64, Event)| {
                at_c.stamp(&mut e)
                    .map_err(|e| anyhow!("{e} (hint: replay in parts with --from-position)"))?;
                Ok(Spooled {
                    seq,
                    event: Arc::new(e),
                })
            })
            .collect::<Result<_>>()?;
        total += page.len() as u64;
        for t in targets.iter_mut() {
            let from = page.partition_point(|s| s.event.global_position <= t.after);
            if from < page.len() {
                deliver(t.sink.as_mut(), &page[from..]).await?;
                t.delivered += (page.len() - from) as u64;
            }
        }
        if total % 100_000 < page.len() as u64 {
            info!(events = total, through = after, elapsed = ?started.elapsed(), "replaying");
        }
    }
    Ok(total)
}

/// One page to one sink, retried while the sink says it may work later.
async fn deliver(sink: &mut dyn Sink, page: &[Spooled]) -> Result<()> {
    let mut backoff = Backoff::new(backoff::DELIVERY);
    let since = Instant::now();
    loop {
        match sink.deliver(page).await {
            Ok(()) => return Ok(()),
            Err(SinkError::Retry(e)) if since.elapsed() < DELIVERY_PATIENCE => {
                let wait = backoff.next_wait();
                warn!(sink = sink.name(), error = %e, ?wait, "replay delivery failed; retrying");
                tokio::time::sleep(wait).await;
            }
            Err(e) => bail!("{}: {e} (the replay can be run again)", sink.name()),
        }
    }
}
