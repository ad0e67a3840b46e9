//! Owns group commit: deciding who fsyncs when many threads call `sync`.
//! A lone caller fsyncs inline (no thread hand-off on the common path).
//! When callers pile up behind a running fsync, the flusher thread takes
//! over and runs fsyncs back to back for as long as anyone is waiting, so
//! no fsync waits for a sleeping thread to wake up and lead it. Must never
//! let a caller return Ok before a fsync that covers its records finished.

use std::sync::{Condvar, Mutex, MutexGuard};

use crate::error::Error;

/// What group commit needs from the log.
pub(crate) trait Syncer {
    /// Every record below this seq is durable.
    fn durable_seq(&self) -> u64;
    /// What one fsync round covers, captured by `flush`.
    type Round;
    /// Writes everything appended so far to the file.
    fn flush(&self) -> Result<Self::Round, Error>;
    /// fsyncs what `flush` wrote, then raises `durable_seq`.
    fn fsync(&self, round: Self::Round) -> Result<(), Error>;
    /// `flush` then `fsync`.
    fn flush_and_fsync(&self) -> Result<(), Error> {
        self.fsync(self.flush()?)
    }
    /// Err once the log has failed.
    fn check_failed(&self) -> Result<(), Error>;
}

#[derive(Default)]
struct State {
    /// Someone (a caller or the flusher) is in `flush_and_fsync`.
    running: bool,
    /// The running fsync belongs to the flusher thread.
    flusher_turn: bool,
    /// Highest seq a waiting caller needs durable.
    want: u64,
    shutdown: bool,
}

#[derive(Default)]
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    /// Callers wait here for their records to become durable.
    synced: Condvar,
    /// The flusher thread waits here for its turn.
    turn: Condvar,
}

impl GroupCommit {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Returns once every record below `target` is durable.
    pub fn sync(&self, log: &impl Syncer, target: u64) -> Result<(), Error> {
        let mut st = self.lock();
        loop {
            log.check_failed()?;
            if log.durable_seq() >= target {
                return Ok(());
            }
            if !st.running {
                break;
            }
            st.want = st.want.max(target);
            st = self.synced.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.running = true;
        drop(st);
        let r = log.flush_and_fsync();
        let mut st = self.lock();
        if r.is_ok() && st.want > log.durable_seq() && !st.shutdown {
            // Others queued behind this fsync: the flusher serves them
            // while this caller returns.
            st.flusher_turn = true;
            self.turn.notify_one();
        } else {
            st.running = false;
        }
        drop(st);
        self.synced.notify_all();
        debug_assert!(
            r.is_err() || log.durable_seq() >= target,
            "sync returns Ok only once a fsync covered seq {target}"
        );
        r
    }

    /// Body of the flusher thread; returns after `shutdown`.
    pub fn run_flusher(&self, log: &impl Syncer) {
        let mut st = self.lock();
        loop {
            while !st.flusher_turn {
                if st.shutdown {
                    return;
                }
                st = self.turn.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            drop(st);
            let mut r = log.flush_and_fsync();
            // While callers keep waiting, start the next round before waking
            // those the last one covered, so their wake-ups overlap its IO.
            loop {
                st = self.lock();
                let more = r.is_ok() && st.want > log.durable_seq() && !st.shutdown;
                if !more {
                    // An error has failed the log: waiters see it.
                    st.flusher_turn = false;
                    st.running = false;
                    break;
                }
                drop(st);
                let round = log.flush();
                self.synced.notify_all();
                r = round.and_then(|round| log.fsync(round));
            }
            self.synced.notify_all();
        }
    }

    /// Stops the flusher thread once its current fsync, if any, is done.
    pub fn shutdown(&self) {
        self.lock().shutdown = true;
        self.turn.notify_all();
    }
}

// Its one test pins a debug assertion, compiled out of release builds.
#[cfg(all(test, debug_assertions))]
mod tests {
    use super::*;

    /// A log whose fsync succeeds but never makes anything durable: the
    /// broken log the debug assertion in `sync` is there to catch.
    struct NeverDurable;

    impl Syncer for NeverDurable {
        fn durable_seq(&self) -> u64 {
            0
        }
        type Round = ();
        fn flush(&self) -> Result<(), Error> {
            Ok(())
        }
        fn fsync(&self, _: ()) -> Result<(), Error> {
            Ok(())
        }
        fn check_failed(&self) -> Result<(), Error> {
            Ok(())
        }
    }

    #[test]
    #[should_panic(expected = "sync returns Ok only once a fsync covered seq 1")]
    fn sync_whose_fsync_left_the_target_not_durable_panics_in_debug_builds() {
        let _ = GroupCommit::default().sync(&NeverDurable, 1);
    }
}
