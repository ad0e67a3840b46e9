//! Owns one consumer's way through the spool, the same for every sink and
//! stage: the next batch from its position (read ahead, off the runtime,
//! while the previous batch is handled, so a destination never waits on the
//! spool's disk), and acknowledgements that move its durable cursor. A
//! cursor is saved (two fsyncs) at most every [`CURSOR_SAVE_INTERVAL`], or
//! sooner when more than a batch is acknowledged but unsaved, one save at a
//! time and in order, beside whatever the consumer does next. Only what a
//! consumer acknowledged leaves the spool; a cursor that cannot be saved (a
//! full disk) is tried again until it is. Must never skip a record, never
//! hold more than [`MAX_IN_FLIGHT`] records delivered past the saved
//! cursor, and never move the cursor past an acknowledgement.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::warn;

use crate::backoff::{self, Backoff};
use crate::event::Spooled;
use crate::spool::{AdvanceError, Spool};

/// Largest batch handed out at once.
pub const MAX_BATCH: usize = 5_000;
/// Events a consumer may have handled past its saved cursor: at most a
/// batch acknowledged but not saved yet, and the batch being handled. A
/// crash hands out at most these again.
pub const MAX_IN_FLIGHT: usize = 2 * MAX_BATCH;
/// Shortest time from one cursor save to the next while fewer than
/// [`MAX_BATCH`] records wait to be saved: a consumer that keeps up with a
/// steady load acknowledges many small batches a second, and saving each
/// would cost two fsyncs on the disk PostgreSQL's WAL may share. A crash
/// also hands out again what was acknowledged in the last interval.
pub const CURSOR_SAVE_INTERVAL: Duration = Duration::from_millis(200);

/// A consumer's reader of the spool.
pub struct SpoolReader {
    spool: Arc<Spool>,
    name: &'static str,
    /// Seq of the next record handed out.
    position: u64,
    /// Seq the consumer last acknowledged (the cursor to save).
    acknowledged: u64,
    /// Seq the cursor was last saved at.
    saved: u64,
    /// When the next save may start without waiting for more than a batch.
    next_save: Instant,
    durable: watch::Receiver<u64>,
    /// The batch at `position`, being read.
    ahead: Option<JoinHandle<Result<Vec<Spooled>>>>,
    /// The cursor save under way: the seq it saves.
    saving: Option<JoinHandle<Result<u64>>>,
    /// Turns true when the sidecar stops: a cursor save gives up then.
    shutdown: watch::Receiver<bool>,
}

impl SpoolReader {
    /// Registers `name` with the spool; reading starts at its saved cursor.
    /// A cursor that cannot be saved is tried again until `shutdown` turns
    /// true.
    pub fn open(
        spool: Arc<Spool>,
        name: &'static str,
        shutdown: watch::Receiver<bool>,
    ) -> Result<SpoolReader> {
        let cursor = spool.register(name)?;
        let durable = spool.subscribe();
        Ok(SpoolReader {
            spool,
            name,
            position: cursor,
            acknowledged: cursor,
            saved: cursor,
            next_save: Instant::now(),
            durable,
            ahead: None,
            saving: None,
            shutdown,
        })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Seq of the next record [`SpoolReader::next_batch`] hands out.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Seq the consumer's cursor was last moved to.
    pub fn acknowledged(&self) -> u64 {
        self.acknowledged
    }

    /// Durable records after `seq`: how far a consumer at `seq` is behind.
    pub fn behind(&self, seq: u64) -> u64 {
        self.spool.durable_seq().saturating_sub(seq)
    }

    /// Records the slowest consumer has not passed.
    pub fn spool_depth(&self) -> u64 {
        self.spool.depth()
    }

    /// Starts reading at `to` instead, before any batch was handed out: a
    /// stage whose saved state has already seen the records before it.
    pub fn seek(&mut self, to: u64) -> Result<()> {
        if to < self.acknowledged {
            bail!(
                "{} cannot read from {to}: its cursor is at {}",
                self.name,
                self.acknowledged
            );
        }
        self.ahead = None;
        self.position = to;
        Ok(())
    }

    /// Up to [`MAX_BATCH`] durable records from the position on, in order;
    /// empty when caught up. The position moves past them, and the batch
    /// after them starts being read.
    pub async fn next_batch(&mut self) -> Result<Vec<Spooled>> {
        let batch = match self.ahead.take() {
            Some(ahead) => match ahead.await?? {
                // Read when there was nothing yet: there may be now.
                b if b.is_empty() => self.read_at(self.position).await??,
                b => b,
            },
            None => self.read_at(self.position).await??,
        };
        if let Some(last) = batch.last() {
            debug_assert_eq!(batch[0].seq, self.position, "no record skipped");
            self.position = last.seq + 1;
            self.ahead = Some(self.read_at(self.position));
        }
        Ok(batch)
    }

    /// Waits until more records are durable than when it last returned,
    /// saving the cursor meanwhile when it is due. Cancel-safe.
    pub async fn wait_for_more(&mut self) -> Result<()> {
        loop {
            self.start_save(false);
            let deferred = self.saving.is_none() && self.saved < self.acknowledged;
            let due = self.next_save;
            let (durable, saving) = (&mut self.durable, &mut self.saving);
            tokio::select! {
                changed = durable.changed() => {
                    return changed.map_err(|_| anyhow!("spool closed"));
                }
                saved = async { saving.as_mut().expect("guarded").await }, if saving.is_some() => {
                    self.saving = None;
                    self.saved = saved??;
                }
                _ = tokio::time::sleep_until(due), if deferred => {}
            }
        }
    }

    /// Moves the cursor to `to` (the seq read next after a restart). The
    /// save runs beside whatever the consumer does next, at once or, within
    /// [`CURSOR_SAVE_INTERVAL`] of the last one, when that has passed
    /// (acknowledgements made meanwhile share it). Once more than
    /// [`MAX_BATCH`] records acknowledged are not saved, this waits until
    /// they are. [`SpoolReader::settle`] saves everything at once.
    pub async fn acknowledge(&mut self, to: u64) -> Result<()> {
        if to > self.position {
            bail!(
                "{} acknowledged {to}, past what it was handed ({})",
                self.name,
                self.position
            );
        }
        self.acknowledged = self.acknowledged.max(to);
        if self.saving.as_ref().is_some_and(|t| t.is_finished()) {
            self.finish_save().await?;
        }
        if self.acknowledged - self.saved > MAX_BATCH as u64 {
            self.finish_save().await?;
            if self.acknowledged - self.saved > MAX_BATCH as u64 {
                self.start_save(true);
                self.finish_save().await?;
            }
        }
        self.start_save(false);
        Ok(())
    }

    /// Saves every acknowledgement now (without waiting for the interval)
    /// and waits for it; a save's error is the consumer's.
    pub async fn settle(&mut self) -> Result<()> {
        loop {
            self.finish_save().await?;
            if self.saved == self.acknowledged {
                return Ok(());
            }
            self.start_save(true);
        }
    }

    /// Starts saving the cursor at the acknowledged seq if no save is under
    /// way and it moved: when [`CURSOR_SAVE_INTERVAL`] has passed since the
    /// last one started, or at once with `now`.
    fn start_save(&mut self, now: bool) {
        if self.saving.is_some() || self.saved == self.acknowledged {
            return;
        }
        if !now && Instant::now() < self.next_save {
            return;
        }
        self.next_save = Instant::now() + CURSOR_SAVE_INTERVAL;
        let (spool, name, to, shutdown) = (
            Arc::clone(&self.spool),
            self.name,
            self.acknowledged,
            self.shutdown.clone(),
        );
        self.saving = Some(tokio::spawn(async move {
            save_cursor(spool, name, to, shutdown).await.map(|()| to)
        }));
    }

    /// Waits for the save under way, if any.
    async fn finish_save(&mut self) -> Result<()> {
        if let Some(task) = self.saving.take() {
            self.saved = task.await??;
        }
        Ok(())
    }

    fn read_at(&self, from: u64) -> JoinHandle<Result<Vec<Spooled>>> {
        let spool = Arc::clone(&self.spool);
        tokio::task::spawn_blocking(move || spool.read(from, MAX_BATCH))
    }
}

/// Moves `name`'s cursor to `to`, trying again after a backoff for as long
/// as its file cannot be written (a full disk): the consumer waits once
/// more than a batch is acknowledged but unsaved, instead of stopping. Once the sidecar stops it
/// gives up, and what was delivered past the saved cursor is delivered
/// again after the restart.
async fn save_cursor(
    spool: Arc<Spool>,
    name: &'static str,
    to: u64,
    shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let mut backoff = Backoff::new(backoff::DELIVERY);
    loop {
        let s = Arc::clone(&spool);
        match tokio::task::spawn_blocking(move || s.advance(name, to)).await? {
            Ok(()) => return Ok(()),
            Err(AdvanceError::Save { error, .. }) if *shutdown.borrow() => {
                bail!("{name} stopped before its cursor could be saved at {to}: {error:#}")
            }
            Err(AdvanceError::Save { error, .. }) => {
                let retry_in = backoff.next_wait();
                warn!(sink = name, cursor = to, error = %format!("{error:#}"), ?retry_in, "saving the cursor failed; retrying");
                tokio::time::sleep(retry_in).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::example;

    /// A shutdown signal that never turns true.
    fn running() -> watch::Receiver<bool> {
        watch::channel(false).1
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn batches_cover_the_spool_in_order_without_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let spool = crate::spool::filled(dir.path(), MAX_BATCH * 2 + 7);
        runtime().block_on(async {
            let mut r = SpoolReader::open(spool, "a", running()).unwrap();
            let mut seqs = Vec::new();
            loop {
                let b = r.next_batch().await.unwrap();
                if b.is_empty() {
                    break;
                }
                assert!(b.len() <= MAX_BATCH);
                seqs.extend(b.iter().map(|s| s.seq));
            }
            assert_eq!(seqs, (0..(MAX_BATCH * 2 + 7) as u64).collect::<Vec<_>>());
            assert_eq!(r.position(), seqs.len() as u64);
        });
    }

    #[test]
    fn only_acknowledged_records_are_read_again_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let spool = crate::spool::filled(dir.path(), 30);
        runtime().block_on(async {
            let mut r = SpoolReader::open(spool.clone(), "a", running()).unwrap();
            let b = r.next_batch().await.unwrap();
            assert_eq!(b.len(), 30);
            r.acknowledge(20).await.unwrap();
            assert!(
                r.acknowledge(31).await.is_err(),
                "acknowledged past what it was handed"
            );
            r.settle().await.unwrap();
            drop(r);
            let mut again = SpoolReader::open(spool, "a", running()).unwrap();
            assert_eq!(again.acknowledged(), 20);
            let b = again.next_batch().await.unwrap();
            assert_eq!(b.first().map(|s| s.seq), Some(20));
        });
    }

    #[test]
    fn acknowledgements_within_the_interval_share_one_save_and_settle_saves_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let spool = crate::spool::filled(dir.path(), 40);
        runtime().block_on(async {
            let mut r = SpoolReader::open(spool.clone(), "a", running()).unwrap();
            assert_eq!(r.next_batch().await.unwrap().len(), 40);
            r.acknowledge(10).await.unwrap();
            r.finish_save().await.unwrap();
            assert_eq!(r.saved, 10, "the first save starts at once");
            let first = Instant::now();
            r.acknowledge(20).await.unwrap();
            r.acknowledge(30).await.unwrap();
            assert_eq!(r.saved, 10, "saved again before the interval passed");
            // Waiting for more records, the reader saves when due: both
            // acknowledgements in one save.
            let _ = tokio::time::timeout(Duration::from_secs(2), r.wait_for_more()).await;
            assert_eq!(r.saved, 30);
            assert!(first.elapsed() >= CURSOR_SAVE_INTERVAL);
            assert!(r.saving.is_none(), "nothing left to save");
            r.acknowledge(35).await.unwrap();
            r.settle().await.unwrap();
            assert_eq!(r.saved, 35);
        });
        let again = SpoolReader::open(spool, "a", running()).unwrap();
        assert_eq!(again.acknowledged(), 35, "settled means saved");
    }

    #[test]
    fn at_most_a_batch_acknowledged_stays_unsaved() {
        let dir = tempfile::tempdir().unwrap();
        let n = MAX_BATCH * 3;
        let spool = crate::spool::filled(dir.path(), n);
        runtime().block_on(async {
            let mut r = SpoolReader::open(spool, "a", running()).unwrap();
            let mut handed = 0;
            while handed < n {
                handed += r.next_batch().await.unwrap().len();
            }
            for to in [
                1,
                2,
                MAX_BATCH as u64 + 3,
                2 * MAX_BATCH as u64 + 5,
                n as u64,
            ] {
                r.acknowledge(to).await.unwrap();
                assert!(
                    r.acknowledged - r.saved <= MAX_BATCH as u64,
                    "acknowledged {} with only {} saved",
                    r.acknowledged,
                    r.saved
                );
            }
        });
    }

    #[test]
    fn a_reader_moved_ahead_starts_there_but_not_behind_its_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let spool = crate::spool::filled(dir.path(), 10);
        runtime().block_on(async {
            let mut r = SpoolReader::open(spool, "a", running()).unwrap();
            r.seek(4).unwrap();
            let b = r.next_batch().await.unwrap();
            assert_eq!(b.first().map(|s| s.seq), Some(4));
            r.acknowledge(10).await.unwrap();
            assert!(r.seek(3).is_err());
        });
    }

    #[test]
    fn a_caught_up_reader_sees_records_made_durable_later() {
        let dir = tempfile::tempdir().unwrap();
        let spool = crate::spool::filled(dir.path(), 3);
        runtime().block_on(async {
            let mut r = SpoolReader::open(spool.clone(), "a", running()).unwrap();
            assert_eq!(r.next_batch().await.unwrap().len(), 3);
            assert!(r.next_batch().await.unwrap().is_empty());
            let mut e = example("customer-9", 1);
            e.commit_lsn = 11;
            spool.append(vec![e]).unwrap();
            spool.sync().unwrap();
            tokio::time::timeout(std::time::Duration::from_secs(10), r.wait_for_more())
                .await
                .expect("woken by the sync")
                .unwrap();
            let b = r.next_batch().await.unwrap();
            assert_eq!(b.iter().map(|s| s.seq).collect::<Vec<_>>(), [3]);
        });
    }

    #[test]
    fn a_cursor_that_cannot_be_saved_is_retried_until_it_is_and_given_up_at_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let spool = crate::spool::filled(dir.path(), 30);
        let cursors = dir.path().join("cursors");
        // A file where the cursor directory was: every save fails, as on a
        // full disk, until the directory is back.
        let break_saves = || {
            std::fs::rename(&cursors, dir.path().join("cursors.away")).unwrap();
            std::fs::write(&cursors, "").unwrap();
        };
        let mend_saves = || {
            std::fs::remove_file(&cursors).unwrap();
            std::fs::rename(dir.path().join("cursors.away"), &cursors).unwrap();
        };
        runtime().block_on(async {
            let (stop, shutdown) = watch::channel(false);
            let mut r = SpoolReader::open(spool.clone(), "a", shutdown).unwrap();
            assert_eq!(r.next_batch().await.unwrap().len(), 30);
            break_saves();
            r.acknowledge(10).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            assert!(
                r.saving.as_ref().is_some_and(|s| !s.is_finished()),
                "the save gave up instead of trying again"
            );
            mend_saves();
            tokio::time::timeout(std::time::Duration::from_secs(10), r.settle())
                .await
                .expect("saved once it could be")
                .unwrap();

            break_saves();
            r.acknowledge(20).await.unwrap();
            stop.send(true).unwrap();
            let err = tokio::time::timeout(std::time::Duration::from_secs(10), r.settle())
                .await
                .expect("given up at shutdown")
                .unwrap_err();
            assert!(format!("{err:#}").contains("cursor"), "{err:#}");
            mend_saves();
        });
        let again = SpoolReader::open(spool, "a", running()).unwrap();
        assert_eq!(
            again.acknowledged(),
            10,
            "the saved cursor, not the given-up one"
        );
    }
}
