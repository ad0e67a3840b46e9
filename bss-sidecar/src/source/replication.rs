//! Owns the logical replication source: finding the primary among the
//! hosts of the database URL (its TLS as [`bss_tls::postgres`] reads it,
//! mapped here onto the replication client's configuration), the slot
//! (created if missing, and made anew with the gap before it filled when
//! the one the spool followed is gone: [`super::floor`],
//! [`super::gap_fill`]), the pgoutput stream of the
//! `bss_events` publication, whole transactions into the spool, and the
//! flush LSN confirmed to PostgreSQL. Must never confirm an LSN before
//! every transaction up to it is durable in the spool, never spool a
//! transaction twice, never skip an event it cannot decode (that stops the
//! sidecar with the event's position named), and never wait on a silent
//! server longer than its query timeout.
//!
//! Each session starts where the spool says ([`Spool::resume`], which also
//! reopens a log that an IO error failed): when the spool may hold only
//! the first events of its newest transaction, PostgreSQL sends that one
//! again and the session spools the rest of it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bss_tls::postgres::{MakeRustlsConnect, PgTls};
use futures::FutureExt;
use pgwire_replication::{Lsn, ReplicationClient, ReplicationConfig, ReplicationEvent};
use tokio::sync::watch;
use tokio_postgres::config::Host;
use tracing::{debug, info, warn};

use super::floor::{self, query_floor, Floor, Server, SlotPlan};
use super::gap_fill;
use super::history::{self, HistoryWentBack, Lineage};
use super::pgoutput::{self, EventColumns, Message, PG_EPOCH_OFFSET_US};
use super::snapshot;
use super::standby_gate::flushed_on_standbys;
use crate::backoff::{self, Backoff};
use crate::event::Event;
use crate::metrics::Metrics;
use crate::shutdown::stopped;
use crate::spool::{Resume, Spool};

/// Prefix of the logical messages the source emits to move an idle slot.
pub const HEARTBEAT_PREFIX: &str = "bss_heartbeat";

/// How often the source emits a heartbeat message (so an idle slot still
/// moves) and samples the slot's lag.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);
/// How often the source looks for a higher gap fill floor on the primary.
pub const FLOOR_EVERY: Duration = Duration::from_secs(1);
/// Longest the source waits for PostgreSQL to answer a query, a connection
/// or the start of replication before it gives the host up.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the source asks what the synchronous standbys flushed while
/// it holds decoded transactions for them ([`super::standby_gate`]).
pub const STANDBY_POLL: Duration = Duration::from_millis(5);
/// Longest a spooled commit waits for more before one fsync covers it: a
/// few ms let commits arriving together share an fsync, and add little to
/// the end-to-end latency.
pub const MAX_SYNC_DELAY: Duration = Duration::from_millis(5);

/// Settings of the source.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub database_url: String,
    pub slot: String,
    pub publication: String,
    /// How often to emit a heartbeat message and sample the slot's lag.
    pub heartbeat: Duration,
    /// Longest a spooled commit waits for more before one fsync covers it.
    pub max_sync_delay: Duration,
    /// How often to look for a higher gap fill floor.
    pub floor_every: Duration,
    /// Longest to wait for an answer from PostgreSQL before giving up the host.
    pub query_timeout: Duration,
}

impl SourceConfig {
    /// The source of a sidecar run with `settings`, at the default timings.
    pub fn new(settings: &crate::config::Settings) -> SourceConfig {
        SourceConfig {
            database_url: settings.database_url.clone(),
            slot: settings.slot.clone(),
            publication: settings.publication.clone(),
            heartbeat: HEARTBEAT_EVERY,
            max_sync_delay: MAX_SYNC_DELAY,
            floor_every: FLOOR_EVERY,
            query_timeout: QUERY_TIMEOUT,
        }
    }
}

/// An error that reconnecting cannot fix.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct Fatal(pub anyhow::Error);

/// Streams events into the spool until `shutdown` turns true, reconnecting
/// with backoff after connection errors. Returns Err only for [`Fatal`]s.
pub async fn run(
    cfg: SourceConfig,
    spool: Arc<Spool>,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    validate_slot_name(&cfg.slot).map_err(Fatal)?;
    let mut floor = tokio::task::block_in_place(|| Floor::open(&spool)).map_err(Fatal)?;
    metrics.source_floor_position.set(floor.position());
    let mut backoff = Backoff::new(backoff::REPLICATION);
    loop {
        let started = Instant::now();
        match stream(&cfg, &spool, &mut floor, &metrics, &mut shutdown).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is::<Fatal>() => return Err(e),
            Err(e) => {
                metrics.source_up.store(false, Ordering::Release);
                metrics.source_reconnects.inc();
                if started.elapsed() > Duration::from_secs(30) {
                    backoff.reset();
                }
                let retry_in = backoff.next_wait();
                warn!(error = %format!("{e:#}"), ?retry_in, "replication source failed; reconnecting");
                tokio::select! {
                    _ = tokio::time::sleep(retry_in) => {}
                    _ = stopped(&mut shutdown) => return Ok(()),
                }
            }
        }
    }
}

/// START_REPLICATION puts the slot name in the command unquoted.
fn validate_slot_name(slot: &str) -> Result<()> {
    let ok = !slot.is_empty()
        && slot.len() <= 63
        && slot
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok {
        bail!("slot name {slot:?} must be 1 to 63 characters of a-z, 0-9 and _");
    }
    Ok(())
}

/// `fut`, or an error naming `what` if PostgreSQL does not answer within
/// `limit`: a host cut off leaves a connection waiting for TCP's
/// retransmissions for minutes, and the source must move on to the next.
async fn within<T>(
    limit: Duration,
    what: &str,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| anyhow!("PostgreSQL did not answer {what} within {limit:?}"))?
}

/// One replication session: connect to the primary, make sure of the slot
/// (filling the gap before a new one), stream, and return on shutdown
/// (Ok) or on the first error.
async fn stream(
    cfg: &SourceConfig,
    spool: &Spool,
    floor: &mut Floor,
    metrics: &Metrics,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<()> {
    let (sql, conn_task, target) = connect_primary(cfg).await?;
    let result = async {
        check_publication(&sql, cfg).await?;
        // Reopens the spool's log if an IO error failed it (a full disk):
        // until that works this session fails, and run() tries again later.
        tokio::task::block_in_place(|| spool.resume())
            .context("resuming the spool after an IO error")?;
        prepare_slot(&sql, &target, cfg, floor, spool, metrics).await?;
        floor.rebase(spool);
        let resume = tokio::task::block_in_place(|| spool.resume())
            .context("resuming the spool after an IO error")?;
        let start = resume.start_lsn;
        let mut client = within(cfg.query_timeout, "START_REPLICATION", async {
            let mut client =
                ReplicationClient::connect(target.replication.clone().with_start_lsn(Lsn(start)))
                    .await?;
            client.wait_started().await?;
            Ok(client)
        })
        .await
        .with_context(|| format!("starting replication on {}", target.addr))?;
        metrics.source_up.store(true, Ordering::Release);
        info!(slot = %cfg.slot, start_lsn = %Lsn(start), host = %target.addr, "replication streaming");
        let r = Session::new(spool, floor, metrics, resume)
            .run(&mut client, &sql, cfg, shutdown)
            .await;
        client.stop();
        r
    }
    .await;
    metrics.source_up.store(false, Ordering::Release);
    conn_task.abort();
    result
}

/// Refuses a database without the publication.
async fn check_publication(sql: &tokio_postgres::Client, cfg: &SourceConfig) -> Result<()> {
    let publication = within(cfg.query_timeout, "the publication check", async {
        Ok(sql
            .query_opt(
                "SELECT 1 FROM pg_publication WHERE pubname = $1",
                &[&cfg.publication],
            )
            .await?)
    })
    .await?;
    if publication.is_none() {
        return Err(Fatal(anyhow!(
            "publication {:?} does not exist in this database (hint: CREATE EXTENSION pg_bss creates bss_events)",
            cfg.publication
        ))
        .into());
    }
    Ok(())
}

/// Makes sure the slot exists on the session's server and is the one the
/// spool follows: creates it if it is missing, and when the spool followed
/// another (a promotion, a restore, a dropped slot), drops what holds its
/// name and fills the gap before the new one from `bss.events`.
async fn prepare_slot(
    sql: &tokio_postgres::Client,
    target: &Target,
    cfg: &SourceConfig,
    floor: &mut Floor,
    spool: &Spool,
    metrics: &Metrics,
) -> Result<()> {
    // A session that waits after authentication: IDENTIFY_SYSTEM names the
    // server, and a slot created on it exports its snapshot to `sql`
    // until the next command or the session's end.
    let (mut gate, server) = within(cfg.query_timeout, "IDENTIFY_SYSTEM", async {
        let mut gate = ReplicationClient::connect_gated(target.replication.clone()).await?;
        let ident = gate.identify_system().await?;
        Ok((
            gate,
            Server {
                system_id: ident.system_id,
                timeline: ident.timeline,
            },
        ))
    })
    .await?;
    let plugin = within(cfg.query_timeout, "the slot lookup", async {
        Ok(sql
            .query_opt(
                "SELECT plugin FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()",
                &[&cfg.slot],
            )
            .await?)
    })
    .await?
    .map(|row| row.get::<_, Option<String>>(0));
    if let Some(plugin) = &plugin {
        if plugin.as_deref() != Some("pgoutput") {
            return Err(Fatal(anyhow!(
                "replication slot {:?} uses plugin {plugin:?}, not pgoutput (hint: choose another --slot)",
                cfg.slot
            ))
            .into());
        }
    }
    let gap = match floor.plan(&server, plugin.is_some(), spool)? {
        SlotPlan::Stream => return floor.streaming_on(&server, spool),
        SlotPlan::Create => false,
        SlotPlan::Recreate { drop_existing } => {
            check_lineage(&mut gate, &server, floor, spool).await?;
            warn!(slot = %cfg.slot, host = %target.addr, timeline = server.timeline, floor = floor.position(),
                "the replication slot the spool followed is gone (a promotion, a restore, or a drop): \
                 creating it anew and filling the gap from bss.events");
            if drop_existing {
                sql.execute("SELECT pg_drop_replication_slot($1)", &[&cfg.slot])
                    .await
                    .with_context(|| {
                        format!(
                            "dropping replication slot {:?}, which the spool did not follow",
                            cfg.slot
                        )
                    })?;
            }
            floor.filling(spool)?;
            metrics.source_slots_recreated.inc();
            true
        }
    };
    let base_seq = spool.next_seq();
    let slot = snapshot::create_slot(&mut gate, &cfg.slot, false).await?;
    let consistent = slot.consistent_point;
    let filled = gap_fill::fill(sql, &slot, gap, floor, spool, metrics).await?;
    floor.created(&server, consistent.0, base_seq, filled.floor, spool)?;
    metrics.source_floor_position.set(floor.position());
    info!(slot = %cfg.slot, consistent_point = %consistent, filled = filled.events, "created replication slot");
    drop(gate);
    Ok(())
}

/// Stops the sidecar when the server's history went back below the
/// spool's newest commit (a point-in-time restore, a promotion of a
/// standby that lacked it): the sinks may hold events the store lacks, and
/// Redis would take the new history's lower commit positions as delivered.
/// Only the operator's replay puts that right.
async fn check_lineage(
    gate: &mut ReplicationClient,
    server: &Server,
    floor: &Floor,
    spool: &Spool,
) -> Result<()> {
    let Some(followed) = floor.followed_timeline().filter(|&t| t != server.timeline) else {
        return Ok(());
    };
    let history = if server.timeline > 1 {
        let file = gate
            .timeline_history(server.timeline)
            .await
            .with_context(|| format!("reading the history of timeline {}", server.timeline))?;
        Some(String::from_utf8_lossy(&file.content).into_owned())
    } else {
        None
    };
    let newest = spool.last_commit_lsn();
    match history::lineage(history.as_deref(), followed, newest) {
        Lineage::Holds => Ok(()),
        Lineage::WentBack {
            branched_at,
            target_time,
        } => {
            let message = format!(
                "the server on timeline {} left timeline {followed}, which the spool followed, {}, \
                 before the newest commit the spool holds ({}): a point-in-time restore, or a promoted \
                 standby that lacked it. Kafka and Redis may hold events this server does not \
                 (hint: with this sidecar stopped, run `bss-sidecar replay --after-restore --since \
                 '{}'` with the same settings: it rebuilds the sinks from the store and makes the slot \
                 anew; then start the sidecar)",
                server.timeline,
                branched_at.map_or_else(
                    || "at a point its history does not name".to_owned(),
                    |b| format!("at {}", Lsn(b))
                ),
                Lsn(newest),
                target_time.as_deref().unwrap_or("<the restore target time>"),
            );
            Err(Fatal(anyhow::Error::new(HistoryWentBack {
                message,
                target_time,
            }))
            .into())
        }
    }
}

/// One host of the database URL: how to reach it with SQL and with the
/// replication protocol.
pub struct Target {
    /// `host:port`, for logs.
    pub addr: String,
    pub sql: tokio_postgres::Config,
    /// How SQL sessions secure their connection (the URL's sslmode and files).
    pub tls: MakeRustlsConnect,
    pub replication: ReplicationConfig,
}

/// Connects to the first host of the database URL, in its order, that is
/// up and a primary (not in recovery): with every node of a cluster
/// listed, the one to stream from. The SQL connection and the replication
/// sessions go to that one host.
pub async fn connect_primary(
    cfg: &SourceConfig,
) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>, Target)> {
    let mut refused = Vec::new();
    for target in targets(cfg)? {
        let connected = within(cfg.query_timeout, "the connection", async {
            let (sql, conn) = target.sql.connect(target.tls.clone()).await?;
            let conn_task = tokio::spawn(async move {
                let _ = conn.await;
            });
            let standby: bool = sql
                .query_one("SELECT pg_is_in_recovery()", &[])
                .await?
                .get(0);
            Ok((sql, conn_task, standby))
        })
        .await;
        match connected {
            Ok((sql, conn_task, false)) => return Ok((sql, conn_task, target)),
            Ok((_, conn_task, true)) => {
                conn_task.abort();
                debug!(host = %target.addr, "a standby");
                refused.push(format!("{}: a standby", target.addr));
            }
            Err(e) => {
                debug!(host = %target.addr, error = %format!("{e:#}"), "cannot connect");
                refused.push(format!("{}: {e:#}", target.addr));
            }
        }
    }
    bail!("no host is a primary that answers ({})", refused.join("; "))
}

/// The hosts of the database URL, in order. Ports pair with hosts as in
/// libpq: one port serves every host, or there is one per host.
fn targets(cfg: &SourceConfig) -> Result<Vec<Target>> {
    let invalid = |e: String| Fatal(anyhow!("invalid --database-url: {e}"));
    let (pg, tls) = bss_tls::postgres::parse(&cfg.database_url).map_err(invalid)?;
    let connector = tls.connector().map_err(invalid)?;
    let user = pg.get_user().unwrap_or("postgres").to_owned();
    let password = pg
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .unwrap_or_default();
    let dbname = pg.get_dbname().unwrap_or(&user).to_owned();
    let hosts: Vec<Host> = match pg.get_hosts() {
        [] => vec![Host::Tcp("localhost".to_owned())],
        hosts => hosts.to_vec(),
    };
    let ports = match pg.get_ports() {
        [] => vec![5432; hosts.len()],
        [one] => vec![*one; hosts.len()],
        each if each.len() == hosts.len() => each.to_vec(),
        other => {
            return Err(Fatal(anyhow!(
                "invalid --database-url: {} ports for {} hosts (hint: one port for all, or one per host)",
                other.len(),
                hosts.len()
            ))
            .into())
        }
    };
    Ok(hosts
        .into_iter()
        .zip(ports)
        .map(|(host, port)| {
            // A host that is a path is a Unix socket directory, for both clients.
            let name = match &host {
                Host::Unix(dir) => dir.to_string_lossy().into_owned(),
                Host::Tcp(host) => host.clone(),
            };
            let mut sql = tokio_postgres::Config::new();
            sql.user(&user)
                .dbname(&dbname)
                .application_name(pg.get_application_name().unwrap_or("bss-sidecar"))
                .ssl_mode(pg.get_ssl_mode())
                .keepalives(pg.get_keepalives())
                .keepalives_idle(pg.get_keepalives_idle())
                .port(port);
            if let Some(options) = pg.get_options() {
                sql.options(options);
            }
            if let Some(password) = pg.get_password() {
                sql.password(password);
            }
            match &host {
                Host::Unix(dir) => sql.host_path(dir),
                Host::Tcp(h) => sql.host(h),
            };
            let replication = ReplicationConfig::new(
                name.clone(),
                user.clone(),
                password.clone(),
                dbname.clone(),
                cfg.slot.clone(),
                cfg.publication.clone(),
            )
            .with_port(port)
            .with_binary(true)
            .with_status_interval(Duration::from_millis(500))
            .with_wakeup_interval(Duration::from_secs(1))
            .with_application_name("bss-sidecar")
            .with_tls(replication_tls(&tls));
            Target {
                addr: format!("{name}:{port}"),
                sql,
                tls: connector.clone(),
                replication,
            }
        })
        .collect())
}

/// The replication client's TLS configuration, from the URL's libpq
/// parameters ([`bss_tls::postgres`] read them): the same mode and files as
/// the SQL sessions of the same URL.
fn replication_tls(tls: &PgTls) -> pgwire_replication::TlsConfig {
    use bss_tls::postgres::SslMode;
    use pgwire_replication::TlsConfig;
    let config = match tls.mode {
        SslMode::Disable => return TlsConfig::disabled(),
        SslMode::Prefer => TlsConfig {
            mode: pgwire_replication::SslMode::Prefer,
            ..TlsConfig::require()
        },
        SslMode::Require => TlsConfig::require(),
        SslMode::VerifyCa => TlsConfig::verify_ca(tls.root_cert.clone()),
        SslMode::VerifyFull => TlsConfig::verify_full(tls.root_cert.clone()),
    };
    match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => config.with_client_cert(cert.clone(), key.clone()),
        _ => config,
    }
}

/// The state of one streaming session.
struct Session<'a> {
    spool: &'a Spool,
    floor: &'a mut Floor,
    metrics: &'a Metrics,
    relations: HashMap<u32, Option<EventColumns>>,
    /// The transaction being received: its events and commit time.
    txn: Option<Vec<Event>>,
    /// Newest commit appended to the spool but not yet synced.
    unsynced: Option<u64>,
    unsynced_since: Instant,
    /// An LSN safe to confirm once everything before it is synced.
    idle_lsn: Option<u64>,
    confirmed: u64,
    /// Decoded transactions (commit LSN, events) waiting for the
    /// synchronous standbys to flush their commits, oldest first.
    held: VecDeque<(u64, Vec<Event>)>,
    held_events: u64,
    /// No synchronous standby is configured (as of the last look):
    /// transactions pass at once.
    no_standby_to_wait_for: bool,
    /// What the spool held when the session started: the transactions
    /// PostgreSQL sends again, whole or in part.
    resume: Resume,
}

impl<'a> Session<'a> {
    fn new(spool: &'a Spool, floor: &'a mut Floor, metrics: &'a Metrics, resume: Resume) -> Self {
        Session {
            spool,
            floor,
            metrics,
            relations: HashMap::new(),
            txn: None,
            unsynced: None,
            unsynced_since: Instant::now(),
            idle_lsn: None,
            confirmed: resume.start_lsn,
            held: VecDeque::new(),
            held_events: 0,
            no_standby_to_wait_for: false,
            resume,
        }
    }

    async fn run(
        mut self,
        client: &mut ReplicationClient,
        sql: &tokio_postgres::Client,
        cfg: &SourceConfig,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<()> {
        let mut heartbeat = tokio::time::interval(cfg.heartbeat);
        let mut floor_tick = tokio::time::interval(cfg.floor_every);
        let mut standby_tick = tokio::time::interval(STANDBY_POLL);
        standby_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Take what is ready now; sync only when the stream pauses or
            // the oldest unsynced commit has waited long enough.
            if self.unsynced.is_some() || self.idle_lsn.is_some() {
                let waited = self.unsynced_since.elapsed() >= cfg.max_sync_delay;
                if !waited {
                    if let Some(ev) = client.recv().now_or_never() {
                        self.handle(ev?)?;
                        continue;
                    }
                }
                self.sync_and_confirm(client)?;
            }
            tokio::select! {
                _ = self.spool.wait_for_room() => {}
                _ = stopped(shutdown) => return Ok(()),
            }
            let room_to_hold = self.held_events < self.spool.max_events();
            tokio::select! {
                ev = client.recv(), if room_to_hold => {
                    match ev? {
                        Some(ev) => self.handle(Some(ev))?,
                        None => return Err(anyhow!("replication stream ended")),
                    }
                }
                _ = heartbeat.tick() => {
                    within(cfg.query_timeout, "the heartbeat", heartbeat_and_lag(sql, cfg, self.metrics)).await?
                }
                _ = floor_tick.tick() => {
                    // Also notices synchronous standbys configured or
                    // dropped. Both queries go out together (tokio-postgres
                    // pipelines them on the one connection): one round trip.
                    let ((position, lsn), flushed) = within(cfg.query_timeout, "the floor and standby queries", async {
                        futures::try_join!(query_floor(sql, self.floor.position()), flushed_on_standbys(sql))
                    }).await?;
                    self.floor.found(position, lsn);
                    self.release(flushed)?;
                }
                _ = standby_tick.tick(), if !self.held.is_empty() => {
                    let flushed = within(cfg.query_timeout, "the standby query", flushed_on_standbys(sql)).await?;
                    self.release(flushed)?;
                }
                _ = stopped(shutdown) => {
                    self.sync_and_confirm(client)?;
                    return Ok(());
                }
            }
        }
    }

    fn handle(&mut self, ev: Option<ReplicationEvent>) -> Result<()> {
        let Some(ev) = ev else {
            bail!("replication stream ended");
        };
        match ev {
            ReplicationEvent::Begin { .. } => {
                self.txn = Some(Vec::new());
            }
            ReplicationEvent::XLogData {
                data, wal_start, ..
            } => self.data(&data, wal_start)?,
            ReplicationEvent::Commit {
                end_lsn,
                commit_time_micros,
                ..
            } => self.commit(end_lsn.0, commit_time_micros)?,
            // An idle position passes no transaction still held.
            ReplicationEvent::Message {
                transactional,
                lsn,
                prefix,
                ..
            } => {
                if !transactional
                    && prefix == HEARTBEAT_PREFIX
                    && self.txn.is_none()
                    && self.held.is_empty()
                {
                    self.idle_lsn = Some(lsn.0);
                }
            }
            ReplicationEvent::KeepAlive { wal_end, .. } => {
                if self.txn.is_none() && self.held.is_empty() {
                    self.idle_lsn = Some(wal_end.0);
                }
            }
            ReplicationEvent::StoppedAt { .. } => bail!("replication stopped by the server"),
        }
        Ok(())
    }

    fn data(&mut self, data: &[u8], at: Lsn) -> Result<()> {
        let decoded = pgoutput::decode(data)
            .map_err(|e| Fatal(anyhow!("cannot decode pgoutput message at {at}: {e}")))?;
        match decoded {
            Message::Relation(rel) => {
                let id = rel.id;
                let is_events = rel.namespace == "bss" && rel.name == "events";
                let cols = if is_events {
                    Some(EventColumns::new(rel).map_err(|e| Fatal(anyhow!("bss.events: {e}")))?)
                } else {
                    // PostgreSQL describes bss.events' partitions too (their
                    // rows arrive as the root's: publish_via_partition_root).
                    debug!(relation = %format!("{}.{}", rel.namespace, rel.name), "a relation that is not bss.events");
                    None
                };
                self.relations.insert(id, cols);
            }
            Message::Insert { relation, values } => {
                let cols = match self.relations.get(&relation) {
                    Some(Some(cols)) => cols,
                    Some(None) => {
                        // Skipping it could lose events (a partition of
                        // bss.events published under its own name).
                        return Err(Fatal(anyhow!(
                            "insert at {at} into relation {relation}, which is not bss.events: \
                             the publication must hold only bss.events, with publish_via_partition_root"
                        ))
                        .into());
                    }
                    None => {
                        return Err(Fatal(anyhow!(
                            "insert at {at} into relation {relation}, which no Relation message described"
                        ))
                        .into())
                    }
                };
                let event = cols
                    .event(values)
                    .map_err(|e| Fatal(anyhow!("cannot decode the event inserted at {at}: {e}")))?;
                let txn = self
                    .txn
                    .as_mut()
                    .ok_or_else(|| anyhow!("insert at {at} outside a transaction"))?;
                // A transaction is spooled whole at its commit, so it is held
                // in memory until then: it must fit in the spool.
                let max = self.spool.max_events();
                if txn.len() as u64 >= max {
                    return Err(Fatal(anyhow!(
                        "the transaction with the insert at {at} has more than {max} events, \
                         the spool's bound; raise spool_max_events (--spool-max-events) \
                         above the largest transaction"
                    ))
                    .into());
                }
                txn.push(event);
            }
            Message::Other(_) => {}
        }
        Ok(())
    }

    fn commit(&mut self, end_lsn: u64, commit_time_pg_us: i64) -> Result<()> {
        let mut events = self.txn.take().unwrap_or_default();
        if events.is_empty() {
            if self.held.is_empty() {
                self.idle_lsn = Some(end_lsn);
            }
            return Ok(());
        }
        let total = events.len() as u64;
        // Sent again after a restart: in the spool already, whole or (when
        // a crash or a full disk cut its end off) its first events.
        let spooled = self.resume.spooled(end_lsn);
        if end_lsn == self.resume.commit_lsn && spooled > total {
            return Err(Fatal(anyhow!(
                "the spool holds {spooled} events of the transaction committed at {}, \
                 but PostgreSQL sent {total}",
                Lsn(end_lsn)
            ))
            .into());
        }
        if spooled >= total {
            return Ok(());
        }
        let commit_time_us = commit_time_pg_us.saturating_add(PG_EPOCH_OFFSET_US);
        for (i, e) in events.iter_mut().enumerate() {
            e.commit_lsn = end_lsn;
            e.txn_index = i as u32;
            e.commit_time_us = commit_time_us;
        }
        if spooled > 0 {
            info!(commit_lsn = %Lsn(end_lsn), spooled, total, "spooling the rest of a transaction the spool held only the first events of");
            events.drain(..spooled as usize);
        }
        self.held_events += events.len() as u64;
        self.held.push_back((end_lsn, events));
        if self.no_standby_to_wait_for {
            self.release(None)?;
        }
        self.metrics.source_held_events.set(self.held_events as i64);
        Ok(())
    }

    /// Spools the held transactions whose commits the synchronous standbys
    /// flushed (`flushed`), or all of them when none is configured (None).
    fn release(&mut self, flushed: Option<u64>) -> Result<()> {
        self.no_standby_to_wait_for = flushed.is_none();
        while let Some(&(end_lsn, _)) = self.held.front() {
            if flushed.is_some_and(|f| end_lsn > f) {
                break;
            }
            let (end_lsn, events) = self.held.pop_front().expect("a front");
            self.held_events -= events.len() as u64;
            self.spool_txn(end_lsn, events)?;
        }
        self.metrics.source_held_events.set(self.held_events as i64);
        Ok(())
    }

    fn spool_txn(&mut self, end_lsn: u64, events: Vec<Event>) -> Result<()> {
        let n = events.len() as u64;
        let (first, positions) = (self.spool.next_seq(), floor::positions(&events));
        tokio::task::block_in_place(|| self.spool.append(events))?;
        self.floor.note(first, positions.into_iter());
        self.metrics.source_events.inc_by(n);
        self.metrics.source_transactions.inc();
        if self.unsynced.is_none() {
            self.unsynced_since = Instant::now();
        }
        self.unsynced = Some(end_lsn);
        Ok(())
    }

    /// fsyncs the spool, then confirms the newest LSN it now covers.
    fn sync_and_confirm(&mut self, client: &ReplicationClient) -> Result<()> {
        let mut confirm = self.idle_lsn.take();
        if let Some(lsn) = self.unsynced.take() {
            tokio::task::block_in_place(|| self.spool.sync())?;
            confirm = Some(confirm.map_or(lsn, |c| c.max(lsn)));
        }
        if let Some(lsn) = confirm {
            if lsn > self.confirmed {
                self.confirmed = lsn;
                client.update_applied_lsn(Lsn(lsn));
                self.metrics.confirmed_lsn.set(lsn as i64);
                tokio::task::block_in_place(|| self.floor.confirmed(lsn, self.spool))?;
                self.metrics
                    .source_floor_position
                    .set(self.floor.position());
            }
        }
        self.metrics.spool_depth.set(self.spool.depth() as i64);
        self.metrics.spool_head.set(self.spool.durable_seq() as i64);
        Ok(())
    }
}

/// Emits a heartbeat message (so an idle slot still moves) and samples the
/// slot's lag.
async fn heartbeat_and_lag(
    sql: &tokio_postgres::Client,
    cfg: &SourceConfig,
    metrics: &Metrics,
) -> Result<()> {
    sql.execute(
        "SELECT pg_logical_emit_message(false, $1, ''::text)",
        &[&HEARTBEAT_PREFIX],
    )
    .await
    .context("emitting a heartbeat message")?;
    let row = sql
        .query_opt(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint \
             FROM pg_replication_slots WHERE slot_name = $1",
            &[&cfg.slot],
        )
        .await
        .context("reading the slot's lag")?;
    if let Some(lag) = row.and_then(|r| r.get::<_, Option<i64>>(0)) {
        metrics.slot_lag_bytes.set(lag);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str) -> SourceConfig {
        SourceConfig {
            database_url: url.to_owned(),
            slot: "s".to_owned(),
            publication: "p".to_owned(),
            heartbeat: HEARTBEAT_EVERY,
            max_sync_delay: MAX_SYNC_DELAY,
            floor_every: FLOOR_EVERY,
            query_timeout: QUERY_TIMEOUT,
        }
    }

    fn hosts(url: &str) -> Result<Vec<(String, u16)>> {
        Ok(targets(&cfg(url))?
            .into_iter()
            .map(|t| {
                let sql_port = t.sql.get_ports().to_vec();
                assert_eq!(sql_port, [t.replication.port], "both clients, one host");
                (t.replication.host, t.replication.port)
            })
            .collect())
    }

    #[test]
    fn every_host_of_the_url_is_tried_in_order_with_its_port_as_libpq_pairs_them() {
        let pair = |h: &str, p| (h.to_owned(), p);
        assert_eq!(
            hosts("postgresql://u@a:5433,b:5434/db").unwrap(),
            [pair("a", 5433), pair("b", 5434)]
        );
        assert_eq!(
            hosts("host=a,b,c port=6000 user=u target_session_attrs=read-write").unwrap(),
            [pair("a", 6000), pair("b", 6000), pair("c", 6000)]
        );
        assert_eq!(
            hosts("user=u dbname=db").unwrap(),
            [pair("localhost", 5432)]
        );
        let err = hosts("host=a,b,c port=1,2 user=u").unwrap_err();
        assert!(err.is::<Fatal>(), "{err:#}");
        assert!(
            format!("{err:#}").contains("2 ports for 3 hosts"),
            "{err:#}"
        );
    }
}
