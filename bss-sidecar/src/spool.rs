//! Owns the spool: the bss-wal log of events between the source and the
//! sinks, each sink's durable cursor in it, its size bound, and truncation.
//! Must never hand a sink a record that is not yet durable (after a crash
//! its sequence number could go to another event), never move a cursor
//! backwards, and never remove a record that some sink has not passed.
//!
//! The newest records are also kept decoded in memory ([`TAIL_EVENTS`]), as
//! the source appended them: sinks that keep up read them from there, shared,
//! instead of each decoding them from the log again. A sink further behind
//! (or after a restart) reads the log.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use bss_wal::{Options, TypedLog};
use parking_lot::Mutex;
use tokio::sync::{watch, Notify};

use crate::event::{Event, Spooled};

/// Directory of the log inside the spool directory.
const LOG_DIR: &str = "log";
/// Directory of the sinks' cursor files inside the spool directory.
const CURSOR_DIR: &str = "cursors";
/// Records kept decoded in memory: about 5 s at 400,000 events a minute.
pub const TAIL_EVENTS: usize = 32_768;

/// The durable queue between the source and the sinks.
pub struct Spool {
    log: TypedLog<Event>,
    cursor_dir: PathBuf,
    /// Next seq each registered sink will read.
    cursors: Mutex<BTreeMap<&'static str, u64>>,
    /// Every record below this seq is durable; sinks wait on it.
    durable: watch::Sender<u64>,
    /// Signalled whenever a cursor moves, freeing room.
    room: Notify,
    /// Commit LSN of the newest spooled transaction (0 if none).
    last_commit_lsn: AtomicU64,
    max_events: u64,
    /// The newest records appended in this process, decoded.
    tail: Mutex<Tail>,
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
        let log = TypedLog::<Event>::open(&log_dir, Options::default())
            .with_context(|| format!("opening the spool log in {}", log_dir.display()))?;
        let cursor_dir = dir.join(CURSOR_DIR);
        std::fs::create_dir_all(&cursor_dir)
            .with_context(|| format!("creating {}", cursor_dir.display()))?;
        let next = log.next_seq();
        let last_commit_lsn = match next.checked_sub(1) {
            Some(last) => match log.iter_from(last)?.next() {
                Some(r) => r?.1.commit_lsn,
                None => 0,
            },
            None => 0,
        };
        Ok(Spool {
            log,
            cursor_dir,
            cursors: Mutex::new(BTreeMap::new()),
            durable: watch::Sender::new(next),
            room: Notify::new(),
            last_commit_lsn: AtomicU64::new(last_commit_lsn),
            max_events: max_events.max(1),
            tail: Mutex::new(Tail::default()),
        })
    }

    /// The most records it holds that some sink has not passed; also the
    /// largest transaction the source accepts (it spools a transaction whole).
    pub fn max_events(&self) -> u64 {
        self.max_events
    }

    /// Commit LSN of the newest transaction in the spool; the source skips
    /// transactions PostgreSQL sends again up to here.
    pub fn last_commit_lsn(&self) -> u64 {
        self.last_commit_lsn.load(Ordering::Acquire)
    }

    /// Appends one whole transaction. Not durable until [`Spool::sync`].
    pub fn append(&self, events: Vec<Event>) -> Result<()> {
        let Some(last_commit_lsn) = events.last().map(|e| e.commit_lsn) else {
            return Ok(());
        };
        for e in events {
            let seq = self.log.append(&e)?;
            self.tail.lock().push(seq, Arc::new(e));
        }
        self.last_commit_lsn
            .fetch_max(last_commit_lsn, Ordering::AcqRel);
        Ok(())
    }

    /// Makes everything appended durable and lets the sinks see it.
    pub fn sync(&self) -> Result<()> {
        let upto = self.log.next_seq();
        self.log.sync()?;
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

    /// Records not yet passed by the slowest sink (all records if no sink
    /// is registered yet is not counted: depth is 0 then).
    pub fn depth(&self) -> u64 {
        let next = self.log.next_seq();
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
        let cursor = match std::fs::read_to_string(&path) {
            Ok(text) => parse_cursor(&text)
                .with_context(|| format!("cursor file {} is damaged", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let first = match self.log.iter_from(0)?.next() {
                    Some(r) => r?.0,
                    None => self.log.next_seq(),
                };
                self.save_cursor(sink, first)?;
                first
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        if cursor > self.log.next_seq() {
            bail!(
                "cursor of sink {sink} ({cursor}) is past the end of the spool ({}): \
                 the spool log was replaced; remove {} to start that sink over",
                self.log.next_seq(),
                path.display()
            );
        }
        self.cursors.lock().insert(sink, cursor);
        Ok(cursor)
    }

    /// Up to `max` durable records from `from` on, in order.
    pub fn read(&self, from: u64, max: usize) -> Result<Vec<Spooled>> {
        let durable = self.durable_seq();
        if from >= durable {
            return Ok(Vec::new());
        }
        if let Some(recent) = self.tail.lock().get(from, durable, max) {
            return Ok(recent);
        }
        let mut out = Vec::with_capacity(max.min((durable - from) as usize));
        for r in self.log.iter_from(from)? {
            let (seq, event) = r?;
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
    /// drops the segments every sink has passed.
    pub fn advance(&self, sink: &'static str, to: u64) -> Result<()> {
        {
            let cursors = self.cursors.lock();
            let cur = cursors.get(sink).copied().unwrap_or(0);
            if to < cur {
                bail!("cursor of sink {sink} would move back from {cur} to {to}");
            }
        }
        self.save_cursor(sink, to)?;
        let min = {
            let mut cursors = self.cursors.lock();
            cursors.insert(sink, to);
            cursors.values().min().copied().unwrap_or(to)
        };
        // Keep the newest record: it tells a restart where the source was.
        let keep_from = min.min(self.log.next_seq().saturating_sub(1));
        self.log.truncate_before(keep_from)?;
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
        let newest = spool.log.next_seq();
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
