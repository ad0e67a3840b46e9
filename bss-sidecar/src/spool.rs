//! Owns the spool: the bss-wal log of events between the source and the
//! sinks, each sink's durable cursor in it, its size bound, truncation, and
//! reopening the log after an IO error failed it (a full disk).
//! Must never hand a sink a record that is not yet durable (after a crash
//! its sequence number could go to another event), never let a seq name a
//! different event after a reopen, never move a cursor backwards, and
//! never remove a record that some sink has not passed.
//!
//! The newest records are also kept decoded in memory ([`TAIL_EVENTS`]), as
//! the source appended them: sinks that keep up read them from there, shared,
//! instead of each decoding them from the log again. A sink further behind
//! (or after a restart) reads the log.
//!
//! An IO error fails the log for good (bss-wal's fsyncgate rule). The next
//! reader, or the source when it resumes, drops it and opens the directory
//! again, which recovers every synced record and maybe some appended after:
//! those are what the source wrote, durable now. Each reopen starts a new
//! generation; the source appends and syncs only in the generation it
//! resumed in ([`Spool::resume`]), so what it appended to a log that was
//! reopened under it fails instead of being confirmed to PostgreSQL.

use std::cmp::Ordering as LsnOrder;
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use bss_wal::{Options, TypedLog};
use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::{watch, Notify};
use tracing::{info, warn};

use crate::event::{Event, Spooled};

/// Directory of the log inside the spool directory.
const LOG_DIR: &str = "log";
/// Directory of the sinks' cursor files inside the spool directory.
const CURSOR_DIR: &str = "cursors";
/// Records kept decoded in memory: about 5 s at 400,000 events a minute.
pub const TAIL_EVENTS: usize = 32_768;

/// The durable queue between the source and the sinks.
pub struct Spool {
    dir: PathBuf,
    log_dir: PathBuf,
    /// The log; replaced whole (under the write lock) when it is reopened.
    current: RwLock<Current>,
    /// The generation the source resumed in: it writes in that one only.
    writer_generation: AtomicU64,
    cursor_dir: PathBuf,
    /// Next seq each registered sink will read.
    cursors: Mutex<BTreeMap<&'static str, u64>>,
    /// Every record below this seq is durable; sinks wait on it.
    durable: watch::Sender<u64>,
    /// Signalled whenever a cursor moves, freeing room.
    room: Notify,
    /// What the spool holds of the newest transaction.
    newest: Mutex<Newest>,
    max_events: u64,
    /// The newest records appended in this process, decoded.
    tail: Mutex<Tail>,
    /// Reopens after an IO error.
    reopens: Counter,
    /// Records from this seq on stay in the log even once every sink has
    /// passed them (the gap fill's window: [`Spool::retain_from`]).
    retained: AtomicU64,
}

/// The log as it is open now.
struct Current {
    /// None after reopening failed: the next caller tries again.
    log: Option<TypedLog<Event>>,
    /// Reopens so far.
    generation: u64,
    /// An IO error failed `log`: every later call of it fails until it is
    /// reopened.
    failed: AtomicBool,
}

impl Current {
    fn log(&self) -> Result<&TypedLog<Event>> {
        self.log
            .as_ref()
            .context("the spool log is closed: reopening it after an IO error failed (tried again on the next read or reconnect)")
    }

    /// Notes an IO error of the log's write path (or the log's refusal
    /// after one): the log is failed and must be reopened.
    fn watch<T>(&self, r: Result<T, bss_wal::Error>) -> Result<T, bss_wal::Error> {
        if let Err(e @ (bss_wal::Error::Io(_) | bss_wal::Error::Failed(_))) = &r {
            if !self.failed.swap(true, Ordering::AcqRel) {
                warn!(error = %e, generation = self.generation, "the spool log failed after an IO error; it is reopened to recover what is on disk");
            }
        }
        r
    }

    fn usable(&self) -> bool {
        self.log.is_some() && !self.failed.load(Ordering::Acquire)
    }
}

/// What the spool holds of its newest transaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Newest {
    /// Its commit LSN (0 if the spool is empty).
    commit_lsn: u64,
    /// How many of its events (its first ones) the spool holds.
    events: u64,
    /// They are all of it: known only of a transaction appended whole since
    /// the log was opened (after a crash or a reopen its end may be lost).
    whole: bool,
    /// Commit LSN of the transaction before it (0 if the spool does not
    /// hold it any more).
    before_lsn: u64,
}

impl Newest {
    /// `n` events of the transaction committed at `commit_lsn` were appended
    /// after those the spool held; `whole` if it holds all of it now.
    fn appended(&mut self, commit_lsn: u64, n: u64, whole: bool) {
        if commit_lsn == self.commit_lsn {
            self.events += n;
        } else {
            self.before_lsn = self.commit_lsn;
            self.commit_lsn = commit_lsn;
            self.events = n;
        }
        self.whole = whole;
    }

    fn resume(&self) -> Resume {
        Resume {
            start_lsn: if self.whole {
                self.commit_lsn
            } else {
                self.before_lsn
            },
            commit_lsn: self.commit_lsn,
            events: self.events,
        }
    }
}

/// Where the source resumes reading from PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    /// The LSN to start replication at: the newest transaction's commit when
    /// the spool knows it holds all of it, else the one before (0: the
    /// slot's confirmed position), so that PostgreSQL sends the newest
    /// again and the source spools what is missing of it. Everything up to
    /// here is durable in the spool.
    pub start_lsn: u64,
    /// Commit LSN of the newest transaction in the spool (0 if none).
    pub commit_lsn: u64,
    /// How many of its events (its first ones) the spool holds.
    pub events: u64,
}

impl Resume {
    /// How many of the first events of the transaction committed at
    /// `end_lsn` the spool holds already: all of one older than the newest,
    /// none of a newer one.
    pub fn spooled(&self, end_lsn: u64) -> u64 {
        match end_lsn.cmp(&self.commit_lsn) {
            LsnOrder::Less => u64::MAX,
            LsnOrder::Equal => self.events,
            LsnOrder::Greater => 0,
        }
    }
}

/// Why a cursor did not move.
#[derive(Debug, thiserror::Error)]
pub enum AdvanceError {
    #[error("cursor of sink {sink} would move back from {from} to {to}")]
    Backwards {
        sink: &'static str,
        from: u64,
        to: u64,
    },
    /// The cursor file could not be written (a full disk): the cursor stays
    /// where it was, and trying again later can succeed.
    #[error("saving the cursor of sink {sink}: {error:#}")]
    Save {
        sink: &'static str,
        error: anyhow::Error,
    },
}

/// Consecutive records ending at the newest one appended.
#[derive(Default)]
struct Tail {
    /// Seq of `events[0]`.
    first: u64,
    events: VecDeque<Arc<Event>>,
}

impl Tail {
    fn push(&mut self, seq: u64, event: Arc<Event>) {
        if self.first + self.events.len() as u64 != seq {
            self.events.clear();
            self.first = seq;
        }
        if self.events.len() == TAIL_EVENTS {
            self.events.pop_front();
            self.first += 1;
        }
        self.events.push_back(event);
    }

    /// Records `from..until` (at most `max`) if the tail holds `from`.
    fn get(&self, from: u64, until: u64, max: usize) -> Option<Vec<Spooled>> {
        let start = from.checked_sub(self.first)? as usize;
        if start >= self.events.len() {
            return None;
        }
        let n = (until.saturating_sub(from) as usize)
            .min(max)
            .min(self.events.len() - start);
        Some(
            self.events
                .range(start..start + n)
                .zip(from..)
                .map(|(event, seq)| Spooled {
                    seq,
                    event: Arc::clone(event),
                })
                .collect(),
        )
    }
}

impl Spool {
    /// Opens (creating) the spool under `dir`, holding at most `max_events`
    /// records that some sink has not passed yet.
    pub fn open(dir: &Path, max_events: u64) -> Result<Spool> {
        let log_dir = dir.join(LOG_DIR);
        let log = open_log(&log_dir)?;
        let cursor_dir = dir.join(CURSOR_DIR);
        std::fs::create_dir_all(&cursor_dir)
            .with_context(|| format!("creating {}", cursor_dir.display()))?;
        let next = log.next_seq();
        let newest = newest_in(&log)?;
        Ok(Spool {
            dir: dir.to_owned(),
            log_dir,
            current: RwLock::new(Current {
                log: Some(log),
                generation: 0,
                failed: AtomicBool::new(false),
            }),
            writer_generation: AtomicU64::new(0),
            cursor_dir,
            cursors: Mutex::new(BTreeMap::new()),
            durable: watch::Sender::new(next),
            room: Notify::new(),
            newest: Mutex::new(newest),
            max_events: max_events.max(1),
            tail: Mutex::new(Tail::default()),
            reopens: Counter::default(),
            retained: AtomicU64::new(u64::MAX),
        })
    }

    /// Counts reopens in `counter` (the sidecar's metric) from now on.
    pub fn counting_reopens_in(mut self, counter: Counter) -> Spool {
        self.reopens = counter;
        self
    }

    /// Times the log was reopened after an IO error.
    pub fn reopens(&self) -> u64 {
        self.reopens.get()
    }

    /// The most records it holds that some sink has not passed; also the
    /// largest transaction the source accepts (it spools a transaction whole).
    pub fn max_events(&self) -> u64 {
        self.max_events
    }

    /// The spool's directory (its log and cursors are inside).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Keeps the records from `seq` on in the log even after every sink
    /// has passed them (the source's gap fill compares against them);
    /// `u64::MAX` keeps none beyond the sinks' cursors.
    pub fn retain_from(&self, seq: u64) {
        self.retained.store(seq, Ordering::Release);
    }

    /// A new replication slot streams transactions committed after `lsn`
    /// (its consistent point): resume there. Applies when nothing was
    /// spooled since seq `since` other than what was spooled as committed
    /// at `lsn` (the gap fill); a later transaction was streamed from the
    /// slot and the spool resumes after it as usual.
    pub fn rebase(&self, lsn: u64, since: u64) {
        let streamed_since = self.next_seq() > since;
        let mut newest = self.newest.lock();
        if streamed_since && newest.commit_lsn != lsn {
            return;
        }
        if newest.commit_lsn != lsn {
            newest.before_lsn = newest.commit_lsn;
            newest.commit_lsn = lsn;
            newest.events = 0;
        }
        newest.whole = true;
    }

    /// Commit LSN of the newest transaction in the spool (all or only the
    /// first of its events: see [`Spool::resume`]).
    pub fn last_commit_lsn(&self) -> u64 {
        self.newest.lock().commit_lsn
    }

    /// Readies the spool for a new replication session: reopens the log if
    /// an IO error failed it, makes everything appended durable (the source
    /// reports its start to PostgreSQL as flushed), and from now on takes
    /// the caller's appends and syncs in this generation only. Fails while
    /// the log cannot be reopened or synced (a disk still full): try again
    /// later.
    pub fn resume(&self) -> Result<Resume> {
        let cur = self.usable()?;
        self.sync_in(&cur)?;
        self.writer_generation
            .store(cur.generation, Ordering::Release);
        let resume = self.newest.lock().resume();
        Ok(resume)
    }

    /// Appends one whole transaction, or the rest of the newest one when
    /// the spool holds only its first events ([`Resume::spooled`]). Not
    /// durable until [`Spool::sync`].
    pub fn append(&self, events: Vec<Event>) -> Result<()> {
        let Some(commit_lsn) = events.last().map(|e| e.commit_lsn) else {
            return Ok(());
        };
        let total = events.len() as u64;
        let cur = self.writable()?;
        let log = cur.log()?;
        let mut appended = 0;
        for e in events {
            let seq = match cur.watch(log.append(&e)) {
                Ok(seq) => seq,
                Err(err) => {
                    if appended > 0 {
                        // Its first events are in the log: only a resent
                        // transaction tells how many more there are.
                        self.newest.lock().appended(commit_lsn, appended, false);
                    }
                    return Err(err.into());
                }
            };
            self.tail.lock().push(seq, Arc::new(e));
            appended += 1;
        }
        debug_assert_eq!(appended, total);
        self.newest.lock().appended(commit_lsn, total, true);
        Ok(())
    }

    /// Makes everything appended durable and lets the sinks see it.
    pub fn sync(&self) -> Result<()> {
        let cur = self.writable()?;
        self.sync_in(&cur)
    }

    fn sync_in(&self, cur: &Current) -> Result<()> {
        let log = cur.log()?;
        let upto = log.next_seq();
        cur.watch(log.sync())?;
        self.durable.send_if_modified(|d| {
            let moved = upto > *d;
            *d = (*d).max(upto);
            moved
        });
        Ok(())
    }

    /// Seq below which every record is durable.
    pub fn durable_seq(&self) -> u64 {
        *self.durable.borrow()
    }

    /// Watches [`Spool::durable_seq`].
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.durable.subscribe()
    }

    /// The seq the next append gets.
    pub fn next_seq(&self) -> u64 {
        let cur = self.current.read();
        match &cur.log {
            Some(log) => log.next_seq(),
            None => self.durable_seq(),
        }
    }

    /// Records not yet passed by the slowest sink (all records if no sink
    /// is registered yet is not counted: depth is 0 then).
    pub fn depth(&self) -> u64 {
        let next = self.next_seq();
        let cursors = self.cursors.lock();
        cursors
            .values()
            .min()
            .map_or(0, |&c| next.saturating_sub(c))
    }

    /// Waits until the spool holds fewer than its bound of unread records:
    /// the source calls this before reading more from PostgreSQL.
    pub async fn wait_for_room(&self) {
        loop {
            let notified = self.room.notified();
            if self.depth() < self.max_events {
                return;
            }
            notified.await;
        }
    }

    /// Registers a sink and returns the seq it reads next: its saved cursor,
    /// or for a sink new to this spool the oldest record still there.
    pub fn register(&self, sink: &'static str) -> Result<u64> {
        let path = self.cursor_path(sink);
        let cur = self.usable()?;
        let log = cur.log()?;
        let cursor = match std::fs::read_to_string(&path) {
            Ok(text) => parse_cursor(&text)
                .with_context(|| format!("cursor file {} is damaged", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let first = match cur.watch(log.iter_from(0))?.next() {
                    Some(r) => r?.0,
                    None => log.next_seq(),
                };
                self.save_cursor(sink, first)?;
                first
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        if cursor > log.next_seq() {
            bail!(
                "cursor of sink {sink} ({cursor}) is past the end of the spool ({}): \
                 the spool log was replaced; remove {} to start that sink over",
                log.next_seq(),
                path.display()
            );
        }
        self.cursors.lock().insert(sink, cursor);
        Ok(cursor)
    }

    /// Hands `each` the durable records from seq `from` on, a batch at a
    /// time (never empty), as [`Spool::read`] reads them; returns the seq
    /// after the last.
    pub fn read_each(&self, from: u64, mut each: impl FnMut(&[Spooled])) -> Result<u64> {
        let mut seq = from;
        loop {
            let batch = self.read(seq, 4096)?;
            let Some(last) = batch.last() else {
                return Ok(seq);
            };
            seq = last.seq + 1;
            each(&batch);
        }
    }

    /// Up to `max` durable records from `from` on, in order. While the log
    /// cannot be read (failed, and reopening it fails too) it returns what
    /// the decoded tail holds, or nothing: the sink waits for the next
    /// durable record or reopen, which wakes [`Spool::subscribe`]rs.
    pub fn read(&self, from: u64, max: usize) -> Result<Vec<Spooled>> {
        let durable = self.durable_seq();
        if from >= durable {
            return Ok(Vec::new());
        }
        if let Some(recent) = self.tail.lock().get(from, durable, max) {
            return Ok(recent);
        }
        // A second try after the first one failed the log (a flush of the
        // source's appends hit a full disk) reads the reopened log.
        let mut tries = 2;
        loop {
            tries -= 1;
            match self.read_log(from, durable, max) {
                Ok(out) => return Ok(out),
                Err(ReadError::Log(e)) if tries > 0 => {
                    warn!(error = %format!("{e:#}"), from, "reading the spool log failed; reopening it");
                }
                Err(ReadError::Log(e)) => {
                    warn!(error = %format!("{e:#}"), from, "the spool log cannot be read now; the sinks wait until it is reopened");
                    return Ok(Vec::new());
                }
                Err(ReadError::Record(e)) => return Err(e),
            }
        }
    }

    fn read_log(&self, from: u64, durable: u64, max: usize) -> Result<Vec<Spooled>, ReadError> {
        let cur = self.usable().map_err(ReadError::Log)?;
        let log = cur.log().map_err(ReadError::Log)?;
        let records = cur
            .watch(log.iter_from(from))
            .map_err(|e| ReadError::Log(e.into()))?;
        let mut out = Vec::with_capacity(max.min((durable - from) as usize));
        for r in records {
            let (seq, event) = r.map_err(|e| ReadError::Record(e.into()))?;
            if seq >= durable || out.len() >= max {
                break;
            }
            out.push(Spooled {
                seq,
                event: Arc::new(event),
            });
        }
        Ok(out)
    }

    /// Moves `sink`'s cursor to `to` (the seq it reads next), durably, and
    /// drops the segments every sink has passed. When the cursor file cannot
    /// be written the cursor stays where it was ([`AdvanceError::Save`]).
    pub fn advance(&self, sink: &'static str, to: u64) -> Result<(), AdvanceError> {
        {
            let cursors = self.cursors.lock();
            let from = cursors.get(sink).copied().unwrap_or(0);
            if to < from {
                return Err(AdvanceError::Backwards { sink, from, to });
            }
        }
        self.save_cursor(sink, to)
            .map_err(|error| AdvanceError::Save { sink, error })?;
        let min = {
            let mut cursors = self.cursors.lock();
            cursors.insert(sink, to);
            cursors.values().min().copied().unwrap_or(to)
        };
        if let Err(e) = self.truncate(min) {
            // The cursor is saved; the next move tries again.
            warn!(error = %format!("{e:#}"), "dropping the spool segments every sink has passed failed");
        }
        self.room.notify_waiters();
        Ok(())
    }

    /// Drops the segments below `min` (every sink's cursor is at or past it).
    fn truncate(&self, min: u64) -> Result<()> {
        let cur = self.usable()?;
        let log = cur.log()?;
        // Keep the newest record: it tells a restart where the source was.
        let keep_from = min
            .min(log.next_seq().saturating_sub(1))
            .min(self.retained.load(Ordering::Acquire));
        cur.watch(log.truncate_before(keep_from))?;
        Ok(())
    }

    /// The log, reopened first if an IO error failed it.
    fn usable(&self) -> Result<RwLockReadGuard<'_, Current>> {
        let cur = self.current.read();
        if cur.usable() {
            return Ok(cur);
        }
        let generation = cur.generation;
        drop(cur);
        self.reopen(generation)?;
        Ok(self.current.read())
    }

    /// The log for the source's appends and syncs: refused once it was
    /// reopened since the source resumed, as what the source appended
    /// since its last sync may be gone.
    fn writable(&self) -> Result<RwLockReadGuard<'_, Current>> {
        let cur = self.current.read();
        if cur.generation != self.writer_generation.load(Ordering::Acquire) {
            bail!(
                "the spool log was reopened after an IO error: what the source appended since \
                 its last sync may be lost, so it resumes from the slot"
            );
        }
        Ok(cur)
    }

    /// Drops the failed log of `generation` (releasing its directory lock)
    /// and opens the directory again, which recovers every synced record
    /// and maybe some appended after: durable now, and what the source
    /// wrote. A no-op if another caller reopened it meanwhile.
    fn reopen(&self, generation: u64) -> Result<()> {
        let next = {
            let mut cur = self.current.write();
            if cur.generation != generation {
                return Ok(());
            }
            cur.log = None;
            let log = open_log(&self.log_dir)?;
            let next = log.next_seq();
            let durable = self.durable_seq();
            if next < durable {
                bail!(
                    "the spool log in {} reopened with records up to seq {next} only, but every \
                     one below {durable} was durable: its files were changed under the sidecar",
                    self.log_dir.display()
                );
            }
            *self.newest.lock() = newest_in(&log)?;
            // The tail may hold records the reopen lost; their seqs go to
            // the events the source appends next.
            *self.tail.lock() = Tail::default();
            cur.log = Some(log);
            cur.failed.store(false, Ordering::Release);
            cur.generation += 1;
            next
        };
        self.reopens.inc();
        info!(
            next_seq = next,
            "spool reopened after an IO error; recovered up to seq {next}"
        );
        // Wakes sinks that waited while the log could not be read, and a
        // source waiting for room.
        self.durable.send_modify(|d| *d = (*d).max(next));
        self.room.notify_waiters();
        Ok(())
    }

    fn cursor_path(&self, sink: &str) -> PathBuf {
        self.cursor_dir.join(format!("{sink}.cursor"))
    }

    /// Writes a cursor file atomically and durably.
    fn save_cursor(&self, sink: &str, seq: u64) -> Result<()> {
        write_durably(&self.cursor_path(sink), format_cursor(seq).as_bytes())
    }
}

/// Why reading the log failed: the log (reopening may help) or a record.
enum ReadError {
    Log(anyhow::Error),
    Record(anyhow::Error),
}

fn open_log(log_dir: &Path) -> Result<TypedLog<Event>> {
    TypedLog::<Event>::open(log_dir, Options::default())
        .with_context(|| format!("opening the spool log in {}", log_dir.display()))
}

/// What `log` holds of its newest transaction: not known to be whole.
fn newest_in(log: &TypedLog<Event>) -> Result<Newest> {
    let Some(last) = log.next_seq().checked_sub(1) else {
        return Ok(Newest::default());
    };
    let Some(event) = record_at(log, last)? else {
        return Ok(Newest::default());
    };
    let before_lsn = match last.checked_sub(event.txn_index as u64 + 1) {
        Some(before) => record_at(log, before)?.map_or(0, |e| e.commit_lsn),
        None => 0,
    };
    Ok(Newest {
        commit_lsn: event.commit_lsn,
        events: event.txn_index as u64 + 1,
        whole: false,
        before_lsn,
    })
}

/// The record at `seq`, if the log still holds it.
fn record_at(log: &TypedLog<Event>, seq: u64) -> Result<Option<Event>> {
    match log.iter_from(seq)?.next() {
        Some(r) => {
            let (at, event) = r?;
            Ok((at == seq).then_some(event))
        }
        None => Ok(None),
    }
}

/// Replaces the file at `path` by `bytes` atomically and durably: write a
/// temporary file beside it, fsync it, rename it over `path`, fsync the
/// directory.
pub fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// A cursor file: the seq, a space, and the crc32 of the seq's digits.
fn format_cursor(seq: u64) -> String {
    let digits = seq.to_string();
    format!("{digits} {:08x}\n", crc32fast::hash(digits.as_bytes()))
}

fn parse_cursor(text: &str) -> Result<u64> {
    let (digits, crc) = text
        .trim_end()
        .split_once(' ')
        .context("expected '<seq> <crc32>'")?;
    let want = u32::from_str_radix(crc, 16).context("bad crc field")?;
    if crc32fast::hash(digits.as_bytes()) != want {
        bail!("crc mismatch");
    }
    digits.parse().context("bad seq field")
}

/// A synced spool in `dir` holding one transaction of `n` events, one per
/// stream `customer-<i>`: what the reader's and the runner's tests consume.
#[cfg(test)]
pub(crate) fn filled(dir: &Path, n: usize) -> Arc<Spool> {
    let spool = Arc::new(Spool::open(dir, 1 << 20).expect("open a test spool"));
    let events: Vec<Event> = (0..n)
        .map(|i| {
            let mut e = crate::event::example(&format!("customer-{i}"), 1);
            e.commit_lsn = 10;
            e.txn_index = i as u32;
            e
        })
        .collect();
    spool.append(events).expect("append to a test spool");
    spool.sync().expect("sync a test spool");
    spool
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::example;

    fn txn(lsn: u64, n: usize) -> Vec<Event> {
        (0..n)
            .map(|i| {
                let mut e = example(&format!("customer-{i}"), 1);
                e.commit_lsn = lsn;
                e.txn_index = i as u32;
                e
            })
            .collect()
    }

    #[test]
    fn sinks_see_only_durable_records_and_cursors_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 100).unwrap();
        assert_eq!(spool.register("a").unwrap(), 0);
        spool.append(txn(10, 3)).unwrap();
        assert!(spool.read(0, 10).unwrap().is_empty(), "not durable yet");
        spool.sync().unwrap();
        let got = spool.read(0, 10).unwrap();
        assert_eq!(got.iter().map(|s| s.seq).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(spool.read(1, 1).unwrap().len(), 1);
        spool.advance("a", 2).unwrap();
        assert!(spool.advance("a", 1).is_err(), "cursor moved back");
        assert_eq!(spool.depth(), 1);
        drop(spool);
        let spool = Spool::open(dir.path(), 100).unwrap();
        assert_eq!(spool.last_commit_lsn(), 10);
        assert_eq!(spool.register("a").unwrap(), 2);
    }

    #[test]
    fn recent_records_are_shared_from_memory_and_older_ones_read_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        spool.register("a").unwrap();
        let n = TAIL_EVENTS + 100;
        let mut appended = Vec::new();
        for t in 0..n / 50 {
            let events = txn(10 + t as u64, 50);
            appended.extend(events.iter().cloned());
            spool.append(events).unwrap();
        }
        let newest = spool.next_seq();
        assert_eq!(newest as usize, appended.len());
        assert!(
            spool.read(newest - 5, 10).unwrap().is_empty(),
            "not durable yet"
        );
        spool.sync().unwrap();

        // Read twice, the newest records are the same allocation: from memory.
        let a = spool.read(newest - 5, 10).unwrap();
        let b = spool.read(newest - 5, 10).unwrap();
        assert_eq!(a.len(), 5);
        assert!(a
            .iter()
            .zip(&b)
            .all(|(x, y)| Arc::ptr_eq(&x.event, &y.event)));
        // The oldest are no longer in memory: decoded from the log each time.
        let a = spool.read(0, 10).unwrap();
        let b = spool.read(0, 10).unwrap();
        assert!(a
            .iter()
            .zip(&b)
            .all(|(x, y)| !Arc::ptr_eq(&x.event, &y.event)));

        // Both ways give every record, in order, as appended.
        let mut all = Vec::new();
        while (all.len() as u64) < newest {
            all.extend(spool.read(all.len() as u64, 1000).unwrap());
        }
        assert_eq!(all.len(), appended.len());
        for (i, (s, e)) in all.iter().zip(&appended).enumerate() {
            assert_eq!((s.seq, &*s.event), (i as u64, e));
        }
        // A reopened spool has no tail: it reads the log, with the same result.
        drop(spool);
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        let again = spool.read(newest - 5, 10).unwrap();
        assert_eq!(again, all[all.len() - 5..]);
    }

    #[test]
    fn a_transaction_cut_short_on_disk_is_sent_again_and_completed() {
        let dir = tempfile::tempdir().unwrap();
        {
            let spool = Spool::open(dir.path(), 100).unwrap();
            spool.append(txn(10, 3)).unwrap();
            spool.append(txn(20, 2)).unwrap();
            spool.sync().unwrap();
            let known_whole = Resume {
                start_lsn: 20,
                commit_lsn: 20,
                events: 2,
            };
            assert_eq!(spool.resume().unwrap(), known_whole);
        }
        // What a crash (or a full disk) in the middle of appending a
        // transaction of 5 events leaves: its first 2.
        {
            let log =
                TypedLog::<Event>::open(dir.path().join(LOG_DIR), Options::default()).unwrap();
            for e in txn(30, 5).iter().take(2) {
                log.append(e).unwrap();
            }
            log.sync().unwrap();
        }
        let spool = Spool::open(dir.path(), 100).unwrap();
        let resume = spool.resume().unwrap();
        assert_eq!(
            resume,
            Resume {
                start_lsn: 20,
                commit_lsn: 30,
                events: 2
            },
            "starts before the cut transaction, so PostgreSQL sends it again"
        );
        assert_eq!(resume.spooled(20), u64::MAX);
        assert_eq!(resume.spooled(30), 2);
        assert_eq!(resume.spooled(40), 0);
        assert_eq!(spool.last_commit_lsn(), 30);

        // The source spools the rest of it.
        spool.append(txn(30, 5).split_off(2)).unwrap();
        spool.sync().unwrap();
        let got: Vec<(u64, u64, u32)> = spool
            .read(0, 100)
            .unwrap()
            .iter()
            .map(|s| (s.seq, s.event.commit_lsn, s.event.txn_index))
            .collect();
        let want: Vec<(u64, u64, u32)> = [(10, 0), (10, 1), (10, 2), (20, 0), (20, 1)]
            .into_iter()
            .chain((0..5).map(|i| (30, i)))
            .zip(0..)
            .map(|((lsn, i), seq)| (seq, lsn, i))
            .collect();
        assert_eq!(got, want);
        assert_eq!(spool.resume().unwrap().start_lsn, 30, "whole now");

        // A log that ends with a whole transaction is not known to: its
        // start is still before it, and its events are all spooled.
        drop(spool);
        let spool = Spool::open(dir.path(), 100).unwrap();
        let resume = spool.resume().unwrap();
        assert_eq!((resume.start_lsn, resume.spooled(30)), (20, 5));
    }

    #[test]
    fn a_damaged_cursor_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 100).unwrap();
        spool.register("a").unwrap();
        std::fs::write(dir.path().join("cursors/a.cursor"), "5 00000000\n").unwrap();
        let err = spool.register("a").unwrap_err();
        assert!(format!("{err:#}").contains("a.cursor"), "{err:#}");
    }

    #[test]
    fn a_full_spool_makes_the_source_wait_until_a_sink_moves() {
        let dir = tempfile::tempdir().unwrap();
        let spool = std::sync::Arc::new(Spool::open(dir.path(), 3).unwrap());
        spool.register("a").unwrap();
        spool.append(txn(10, 3)).unwrap();
        spool.sync().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let waiter = {
                let spool = spool.clone();
                tokio::spawn(async move { spool.wait_for_room().await })
            };
            tokio::task::yield_now().await;
            assert!(!waiter.is_finished(), "full spool did not hold the source");
            spool.advance("a", 1).unwrap();
            tokio::time::timeout(std::time::Duration::from_secs(10), waiter)
                .await
                .expect("source not released after the sink moved")
                .unwrap();
        });
    }
}
