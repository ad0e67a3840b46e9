//! Owns the gap fill's floor: what the source remembers so that, once its
//! replication slot is lost (PostgreSQL 15 keeps no logical slot across a
//! promotion or a restore), it can tell which events of the store its
//! spool lacks. Saved in the spool directory (`source.state`), beside what
//! it describes, and only ever after the spool holds what it claims.
//!
//! - `floor_position` F: every event whose global position is at most F is
//!   in the spool. Found on the primary ([`query_floor`]): the largest
//!   position of a visible event whose horizon the snapshot's xmin has
//!   passed. By pg_bss's read_all rule every smaller position is then
//!   settled, committed in that snapshot or never to appear, and every
//!   commit visible in the snapshot ends at or before the WAL insert
//!   position Q read after it. So F holds once the source has confirmed Q
//!   (the spool holds every transaction committed up to Q).
//! - `retain_from` R: every spooled event above F has a seq of at least R,
//!   and the spool keeps its records from R on ([`Spool::retain_from`]),
//!   so the fill leaves out what the spool holds.
//! - `system_id`, `timeline`: the server whose slot the spool follows. A
//!   new timeline (a promotion, a point-in-time restore) means a slot found
//!   there is not the one the spool followed.
//! - `base_lsn`, `base_seq`: the consistent point of the slot the source
//!   created last, and the spool's next seq then ([`Spool::rebase`]).
//! - `filling`: set before a slot is created, cleared once its gap is
//!   filled; a slot found while it is set is dropped and the fill redone.
//!
//! Must never move F past what the spool holds, nor R past a spooled
//! event above F, except when the window would outgrow the spool's bound:
//! then R moves on, which can only cost duplicates (logged), never loss.

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::replication::Fatal;
use crate::event::Event;
use crate::spool::{write_durably, Spool};

/// The floor's file in the spool directory.
const STATE_FILE: &str = "source.state";
/// Rows of the newest events the floor query looks at: under load the
/// newest few hundred are still ahead of the xmin; if none of these
/// qualifies (a long transaction holds the xmin back), the floor waits.
const FLOOR_SCAN: i64 = 5000;

/// What `source.state` holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    system_id: String,
    timeline: u32,
    floor_position: i64,
    retain_from: u64,
    base_lsn: u64,
    base_seq: u64,
    /// A slot is being created and its gap filled: until that ends, a
    /// slot of this name is not known to be followed.
    #[serde(default)]
    filling: bool,
}

/// The server a replication session runs on (IDENTIFY_SYSTEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub system_id: String,
    pub timeline: u32,
}

/// What to do about the slot at the start of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotPlan {
    /// Stream from the existing slot.
    Stream,
    /// Create the slot; the spool has followed none before, so nothing
    /// before its start is wanted.
    Create,
    /// The slot the spool followed is gone: create one (dropping a slot of
    /// that name the spool did not follow) and fill the gap before it.
    Recreate { drop_existing: bool },
}

/// The floor, its window of spooled events above it, and a floor found on
/// the primary that waits for the spool to pass its LSN.
pub struct Floor {
    path: PathBuf,
    state: State,
    /// The state was saved: the spool has followed a slot.
    saved: bool,
    /// (seq, position) of spooled events above the floor, in seq order.
    above: VecDeque<(u64, i64)>,
    /// (F, Q) found on the primary, not yet covered by the spool, oldest
    /// first (a newer one waits behind it rather than replacing it, so the
    /// floor moves even while the spool stays more than a query behind).
    pending: VecDeque<(i64, u64)>,
}

impl Floor {
    /// Loads the floor of `spool` (none yet: F = 0, the whole log kept)
    /// and the window of its spooled events above it.
    pub fn open(spool: &Spool) -> Result<Floor> {
        let path = spool.dir().join(STATE_FILE);
        let (state, saved) = match std::fs::read(&path) {
            Ok(bytes) => {
                let state: State = serde_json::from_slice(&bytes).with_context(|| {
                    format!(
                        "{} is damaged (hint: remove it; a lost slot is then filled from the start of the store)",
                        path.display()
                    )
                })?;
                (state, true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (State::default(), false),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let mut floor = Floor {
            path,
            state,
            saved,
            above: VecDeque::new(),
            pending: VecDeque::new(),
        };
        spool.read_each(floor.state.retain_from, |batch| {
            floor.note(batch[0].seq, batch.iter().map(|s| s.event.global_position));
        })?;
        spool.retain_from(floor.retain_from(spool));
        Ok(floor)
    }

    /// F: every event at or below this position is in the spool.
    pub fn position(&self) -> i64 {
        self.state.floor_position
    }

    /// The timeline of the server whose slot the spool followed last
    /// (None: it followed none yet).
    pub fn followed_timeline(&self) -> Option<u32> {
        self.saved.then_some(self.state.timeline)
    }

    /// Decides what a session does about its slot, given the server and
    /// whether the slot exists there.
    pub fn plan(&self, server: &Server, slot_exists: bool, spool: &Spool) -> Result<SlotPlan> {
        if self.saved && self.state.system_id != server.system_id {
            return Err(Fatal(anyhow!(
                "the spool follows PostgreSQL system {}, but this server is system {} \
                 (hint: a sidecar per cluster; to follow this one from now on, use a new spool directory)",
                self.state.system_id,
                server.system_id
            ))
            .into());
        }
        if self.state.filling {
            return Ok(SlotPlan::Recreate {
                drop_existing: slot_exists,
            });
        }
        let followed = self.saved || spool.next_seq() > 0;
        Ok(match (slot_exists, followed) {
            (true, false) => SlotPlan::Stream,
            (true, true) if !self.saved || self.state.timeline == server.timeline => {
                SlotPlan::Stream
            }
            (true, true) => SlotPlan::Recreate {
                drop_existing: true,
            },
            (false, false) => SlotPlan::Create,
            (false, true) => SlotPlan::Recreate {
                drop_existing: false,
            },
        })
    }

    /// Streaming from an existing slot on `server`: remembered from the
    /// first time on.
    pub fn streaming_on(&mut self, server: &Server, spool: &Spool) -> Result<()> {
        if self.saved && self.state.timeline == server.timeline {
            return Ok(());
        }
        self.state.system_id = server.system_id.clone();
        self.state.timeline = server.timeline;
        self.save(spool)
    }

    /// A slot is about to be created and its gap filled.
    pub fn filling(&mut self, spool: &Spool) -> Result<()> {
        self.state.filling = true;
        self.save(spool)
    }

    /// A slot was created on `server` at `base_lsn`, the spool's next seq
    /// being `base_seq` before its gap was filled; `floor` is the floor in
    /// the slot's snapshot (None: no event is settled there yet).
    pub fn created(
        &mut self,
        server: &Server,
        base_lsn: u64,
        base_seq: u64,
        floor: Option<i64>,
        spool: &Spool,
    ) -> Result<()> {
        self.state.system_id = server.system_id.clone();
        self.state.timeline = server.timeline;
        self.state.base_lsn = base_lsn;
        self.state.base_seq = base_seq;
        self.state.filling = false;
        self.pending.clear();
        self.advance(floor.unwrap_or(0).max(self.state.floor_position), spool)
    }

    /// After a restore, the slot created on `server` at `base_lsn` (the
    /// spool's next seq being `base_seq`) starts a new history: the floor
    /// is the one in its snapshot (None: none settled there), even below
    /// the old one, and the spool's records from before are left behind.
    pub fn restored(
        &mut self,
        server: &Server,
        base_lsn: u64,
        base_seq: u64,
        floor: Option<i64>,
        spool: &Spool,
    ) -> Result<()> {
        self.above.clear();
        self.state.floor_position = floor.unwrap_or(0);
        self.created(server, base_lsn, base_seq, floor, spool)
    }

    /// Makes the spool resume at the consistent point of the slot created
    /// last while it holds nothing streamed from it.
    pub fn rebase(&self, spool: &Spool) {
        if self.saved && self.state.base_lsn != 0 {
            spool.rebase(self.state.base_lsn, self.state.base_seq);
        }
    }

    /// Events were spooled from seq `first` on, with these positions.
    pub fn note(&mut self, first: u64, positions: impl Iterator<Item = i64>) {
        let floor = self.state.floor_position;
        for (seq, position) in (first..).zip(positions) {
            if position > floor {
                self.above.push_back((seq, position));
            }
        }
    }

    /// A floor found on the primary: F, and the WAL position Q the spool
    /// must pass before it holds.
    pub fn found(&mut self, position: Option<i64>, lsn: u64) {
        let highest = self
            .pending
            .back()
            .map_or(self.state.floor_position, |p| p.0);
        if let Some(f) = position.filter(|&f| f > highest) {
            // A few are plenty: the oldest is covered within a second or two.
            if self.pending.len() == 8 {
                self.pending.pop_back();
            }
            self.pending.push_back((f, lsn));
        }
    }

    /// The spool holds every transaction committed up to `lsn`.
    pub fn confirmed(&mut self, lsn: u64, spool: &Spool) -> Result<()> {
        let mut covered = None;
        while let Some(&(f, q)) = self.pending.front() {
            if lsn < q {
                break;
            }
            covered = Some(f);
            self.pending.pop_front();
        }
        match covered {
            Some(f) => self.advance(f, spool),
            None => Ok(()),
        }
    }

    /// The event ids of the spool's records from R on: every spooled event
    /// above the floor is among them.
    pub fn spooled_ids(&self, spool: &Spool) -> Result<HashSet<String>> {
        let mut ids = HashSet::new();
        let (mut low, mut high) = (i64::MAX, i64::MIN);
        let until = spool.read_each(self.state.retain_from, |batch| {
            for s in batch {
                low = low.min(s.event.global_position);
                high = high.max(s.event.global_position);
                ids.insert(s.event.event_id.clone());
            }
        })?;
        info!(
            retain_from = self.state.retain_from,
            until,
            events = ids.len(),
            low,
            high,
            "the spool's records above the floor"
        );
        Ok(ids)
    }

    fn advance(&mut self, floor: i64, spool: &Spool) -> Result<()> {
        self.state.floor_position = floor;
        while self.above.front().is_some_and(|&(_, p)| p <= floor) {
            self.above.pop_front();
        }
        let retain_from = self.retain_from(spool);
        self.state.retain_from = retain_from;
        spool.retain_from(retain_from);
        self.save(spool)
    }

    /// R: the oldest spooled event above the floor, within the spool's
    /// bound of records behind its head.
    fn retain_from(&mut self, spool: &Spool) -> u64 {
        let next = spool.next_seq();
        let oldest_kept = next.saturating_sub(spool.max_events());
        let mut dropped = 0;
        while self.above.front().is_some_and(|&(s, _)| s < oldest_kept) {
            self.above.pop_front();
            dropped += 1;
        }
        if dropped > 0 {
            warn!(
                dropped,
                floor = self.state.floor_position,
                "the gap fill's window outgrew the spool's bound (a long transaction holds the floor back): \
                 a fill after losing the slot may deliver these events again"
            );
        }
        self.above.front().map_or(next, |&(s, _)| s)
    }

    fn save(&mut self, spool: &Spool) -> Result<()> {
        let bytes = serde_json::to_vec(&self.state)?;
        write_durably(&self.path, &bytes)
            .with_context(|| format!("saving {}", self.path.display()))?;
        if !self.saved {
            info!(dir = %spool.dir().display(), "the gap fill's floor is kept in the spool from now on");
        }
        self.saved = true;
        Ok(())
    }

    #[cfg(test)]
    fn state_path(dir: &std::path::Path) -> PathBuf {
        dir.join(STATE_FILE)
    }
}

/// Finds the floor on the server of `sql`: F (None while no event is
/// settled among the newest) and the WAL insert position read after the
/// snapshot. Fails on a standby (no WAL insert position in recovery).
pub async fn query_floor(sql: &tokio_postgres::Client, after: i64) -> Result<(Option<i64>, u64)> {
    let row = sql
        .query_one(
            "SELECT (SELECT max(global_position) FROM ( \
                        SELECT global_position, position_horizon FROM bss.events \
                        WHERE global_position > $1 ORDER BY global_position DESC LIMIT $2) newest \
                     WHERE position_horizon <= pg_snapshot_xmin(pg_current_snapshot())), \
                    pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint",
            &[&after, &FLOOR_SCAN],
        )
        .await
        .context("finding the gap fill's floor")?;
    let lsn: i64 = row.get(1);
    Ok((row.get(0), lsn as u64))
}

/// Positions of a transaction about to be spooled, for [`Floor::note`].
pub fn positions(events: &[Event]) -> Vec<i64> {
    events.iter().map(|e| e.global_position).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::example;

    fn server(timeline: u32) -> Server {
        Server {
            system_id: "7400000000000000001".to_owned(),
            timeline,
        }
    }

    /// Spools a transaction of events at these positions.
    fn spool_txn(spool: &Spool, floor: &mut Floor, lsn: u64, positions: &[i64]) {
        let events: Vec<Event> = positions
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let mut e = example(&format!("customer-{p}"), 1);
                e.global_position = p;
                e.event_id = format!("id-{p}");
                e.commit_lsn = lsn;
                e.txn_index = i as u32;
                e
            })
            .collect();
        let first = spool.next_seq();
        spool.append(events).unwrap();
        spool.sync().unwrap();
        floor.note(first, positions.iter().copied());
    }

    #[test]
    fn the_floor_moves_only_once_the_spool_passed_its_lsn_and_keeps_what_is_above_it() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 1000).unwrap();
        let mut floor = Floor::open(&spool).unwrap();
        assert_eq!(
            floor.plan(&server(1), false, &spool).unwrap(),
            SlotPlan::Create
        );
        floor.created(&server(1), 100, 0, None, &spool).unwrap();

        // Commit order is not position order: 3 commits before 2.
        spool_txn(&spool, &mut floor, 110, &[1]);
        spool_txn(&spool, &mut floor, 120, &[3]);
        floor.found(Some(1), 115);
        floor.confirmed(112, &spool).unwrap();
        assert_eq!(floor.position(), 0, "the spool had not passed 115 yet");
        floor.confirmed(120, &spool).unwrap();
        assert_eq!(floor.position(), 1);
        // Event 3 (seq 1) is above the floor: kept, and its id known.
        assert_eq!(floor.state.retain_from, 1);
        assert_eq!(
            floor.spooled_ids(&spool).unwrap(),
            HashSet::from(["id-3".to_owned()])
        );

        spool_txn(&spool, &mut floor, 130, &[2]);
        floor.found(Some(3), 130);
        floor.confirmed(130, &spool).unwrap();
        assert_eq!(floor.position(), 3);
        assert_eq!(floor.state.retain_from, 3, "nothing above 3 spooled");

        // A reopened spool keeps the floor; a lower floor found later
        // (another snapshot) never moves it back.
        drop(floor);
        let mut floor = Floor::open(&spool).unwrap();
        assert_eq!(floor.position(), 3);
        floor.found(Some(2), 140);
        floor.confirmed(140, &spool).unwrap();
        assert_eq!(floor.position(), 3);
    }

    #[test]
    fn a_lost_slot_a_new_timeline_and_another_system_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 1000).unwrap();
        let mut floor = Floor::open(&spool).unwrap();
        assert_eq!(
            floor.plan(&server(1), true, &spool).unwrap(),
            SlotPlan::Stream
        );
        floor.streaming_on(&server(1), &spool).unwrap();
        assert_eq!(
            floor.plan(&server(1), true, &spool).unwrap(),
            SlotPlan::Stream
        );
        assert_eq!(
            floor.plan(&server(1), false, &spool).unwrap(),
            SlotPlan::Recreate {
                drop_existing: false
            },
            "the slot was dropped"
        );
        assert_eq!(
            floor.plan(&server(2), true, &spool).unwrap(),
            SlotPlan::Recreate {
                drop_existing: true
            },
            "a slot on a new timeline is not the one followed"
        );
        floor.filling(&spool).unwrap();
        assert_eq!(
            Floor::open(&spool)
                .unwrap()
                .plan(&server(1), true, &spool)
                .unwrap(),
            SlotPlan::Recreate {
                drop_existing: true
            },
            "a slot created by a fill that did not end is made again"
        );
        floor.created(&server(1), 200, 0, None, &spool).unwrap();
        assert_eq!(
            floor.plan(&server(1), true, &spool).unwrap(),
            SlotPlan::Stream
        );
        let other = Server {
            system_id: "7499999999999999999".to_owned(),
            timeline: 1,
        };
        let err = floor.plan(&other, true, &spool).unwrap_err();
        assert!(err.is::<Fatal>(), "{err:#}");
        assert!(
            format!("{err:#}").contains("7499999999999999999"),
            "{err:#}"
        );
    }

    #[test]
    fn the_window_is_bounded_by_the_spool_and_a_damaged_state_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 4).unwrap();
        let mut floor = Floor::open(&spool).unwrap();
        floor.created(&server(1), 100, 0, None, &spool).unwrap();
        // A long transaction holds the floor at 0 while 6 events spool.
        for p in 1..=6 {
            spool_txn(&spool, &mut floor, 100 + p as u64, &[p]);
        }
        floor.advance(0, &spool).unwrap();
        assert_eq!(
            floor.state.retain_from, 2,
            "at most 4 records behind the head"
        );

        std::fs::write(Floor::state_path(dir.path()), b"{").unwrap();
        let err = Floor::open(&spool).err().expect("a damaged state file");
        assert!(format!("{err:#}").contains("source.state"), "{err:#}");
    }
}
