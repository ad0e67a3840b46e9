//! Owns one consumer's way through the spool, the same for every sink and
//! stage: the next batch from its position (read ahead, off the runtime,
//! while the previous batch is handled, so a destination never waits on the
//! spool's disk), and acknowledgements that move its durable cursor, one
//! save at a time and in order. Only what a consumer acknowledged leaves
//! the spool; a cursor that cannot be saved (a full disk) is tried again
//! until it is. Must never skip a record, never hold more than two batches
//! ([`MAX_IN_FLIGHT`]), and never move the cursor past an acknowledgement.

use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::backoff::{self, Backoff};
use crate::event::Spooled;
use crate::spool::{AdvanceError, Spool};

/// Largest batch handed out at once.
pub const MAX_BATCH: usize = 5_000;
/// Events a sink may have delivered past its durable cursor: the batch
/// being delivered and the one whose cursor is being saved. A crash
/// redelivers at most these.
pub const MAX_IN_FLIGHT: usize = 2 * MAX_BATCH;

/// A consumer's reader of the spool.
pub struct SpoolReader {
    spool: Arc<Spool>,
    name: &'static str,
    /// Seq of the next record handed out.
    position: u64,
    /// Seq the cursor was last told to move to (saved, or being saved).
    acknowledged: u64,
    durable: watch::Receiver<u64>,
    /// The batch at `position`, being read.
    ahead: Option<JoinHandle<Result<Vec<Spooled>>>>,
    /// The cursor save under way.
    saving: Option<JoinHandle<Result<()>>>,
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

    /// Waits until more records are durable than when it last returned.
    pub async fn wait_for_more(&mut self) -> Result<()> {
        self.durable
            .changed()
            .await
            .map_err(|_| anyhow!("spool closed"))
    }

    /// Moves the cursor to `to` (the seq read next after a restart): waits
    /// for the previous save, then starts this one, which runs beside
    /// whatever the consumer does next. [`SpoolReader::settle`] waits for it.
    pub async fn acknowledge(&mut self, to: u64) -> Result<()> {
        if to > self.position {
            bail!(
                "{} acknowledged {to}, past what it was handed ({})",
                self.name,
                self.position
            );
        }
        self.settle().await?;
        self.saving = Some(tokio::spawn(save_cursor(
            Arc::clone(&self.spool),
            self.name,
            to,
            self.shutdown.clone(),
        )));
        self.acknowledged = to;
        Ok(())
    }

    /// Waits for the cursor save under way, if any; its error is the
    /// consumer's.
    pub async fn settle(&mut self) -> Result<()> {
        match self.saving.take() {
            Some(task) => task.await?,
            None => Ok(()),
        }
    }

    fn read_at(&self, from: u64) -> JoinHandle<Result<Vec<Spooled>>> {
        let spool = Arc::clone(&self.spool);
        tokio::task::spawn_blocking(move || spool.read(from, MAX_BATCH))
    }
}

/// Moves `name`'s cursor to `to`, trying again after a backoff for as long
/// as its file cannot be written (a full disk): the consumer waits at its
/// next acknowledgement instead of stopping. Once the sidecar stops it
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
