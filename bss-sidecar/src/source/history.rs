//! Owns telling whether a server's history still holds everything the
//! spool took from the timeline it followed: after a promotion it does
//! (the new timeline branched off at or after the spool's newest commit,
//! which a synchronous standby had flushed before the source spooled it),
//! after a point-in-time restore or a promotion of a standby that lagged
//! it does not, and Kafka and Redis may hold events the server lacks.
//! Read from the server's timeline history file (TIMELINE_HISTORY).
//!
//! Must never call a history that lost commits whole: where it cannot tell,
//! it says the history went back.

use pgwire_replication::Lsn;

/// How the server's timeline relates to the one the spool followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lineage {
    /// The server's history holds every commit the spool took.
    Holds,
    /// The server's history left the spool's timeline at `branched_at`
    /// (None: not in its history at all), before the spool's newest commit;
    /// `target_time`: the recovery target time it was restored to, when the
    /// history says (a restore with `--type=time`).
    WentBack {
        branched_at: Option<u64>,
        target_time: Option<String>,
    },
}

/// The sidecar stops on a history that went back; the daemon may replay
/// the sinks from the store and start again (`replay_after_restore`).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct HistoryWentBack {
    pub message: String,
    /// The restore's target time, from the timeline history (None: the
    /// restore was to an LSN, a transaction, a restore point or the end of
    /// the WAL, which say nothing of when the new history's events begin).
    pub target_time: Option<String>,
}

/// The line of a history file's text (lines `parent-timeline <tab>
/// switch-point <tab> reason`) where the timeline after `followed` begins:
/// its switch point and reason.
fn branch(history: &str, followed: u32) -> Option<(u64, &str)> {
    history.lines().find_map(|line| {
        let mut fields = line.splitn(3, '\t');
        let parent: u32 = fields.next()?.trim().parse().ok()?;
        let at = Lsn::parse(fields.next()?.trim()).ok()?;
        (parent == followed).then_some((at.0, fields.next().unwrap_or("").trim()))
    })
}

/// The recovery target time in a branch's reason: PostgreSQL writes
/// `before <timestamptz>` or `after <timestamptz>` for a time target
/// (`before 0/3000060`, `before transaction 731`, `at restore point x` or
/// `no recovery target specified` for the others).
fn target_time(reason: &str) -> Option<String> {
    let time = reason
        .strip_prefix("before ")
        .or_else(|| reason.strip_prefix("after "))?
        .trim();
    let b = time.as_bytes();
    let date_like = b.len() >= 19
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && b[13] == b':';
    date_like.then(|| time.to_owned())
}

/// The lineage of a server on a timeline other than `followed`, whose
/// history file reads `history` (None: timeline 1 has none), for a spool
/// whose newest commit ends at `newest`.
pub fn lineage(history: Option<&str>, followed: u32, newest: u64) -> Lineage {
    match history.and_then(|h| branch(h, followed)) {
        Some((at, _)) if at >= newest => Lineage::Holds,
        Some((at, reason)) => Lineage::WentBack {
            branched_at: Some(at),
            target_time: target_time(reason),
        },
        None => Lineage::WentBack {
            branched_at: None,
            target_time: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HISTORY: &str = "1\t0/3000060\tno recovery target specified\n\n\
                           2\t0/5A00100\tbefore 2026-12-05 13:45:16+00\n";

    #[test]
    fn the_branch_is_the_line_after_the_followed_timeline() {
        assert_eq!(
            branch(HISTORY, 1),
            Some((0x300_0060, "no recovery target specified"))
        );
        assert_eq!(
            branch(HISTORY, 2),
            Some((0x5A0_0100, "before 2026-12-05 13:45:16+00"))
        );
        assert_eq!(branch(HISTORY, 3), None);
        assert_eq!(branch("garbage\n2\tnotanlsn\tx\n", 2), None);
    }

    #[test]
    fn a_promotion_after_the_newest_commit_holds_it_and_a_restore_before_it_does_not() {
        assert_eq!(lineage(Some(HISTORY), 2, 0x5A0_0100), Lineage::Holds);
        assert_eq!(lineage(Some(HISTORY), 2, 0x5A0_00F0), Lineage::Holds);
        assert_eq!(
            lineage(Some(HISTORY), 2, 0x5A0_0101),
            Lineage::WentBack {
                branched_at: Some(0x5A0_0100),
                target_time: Some("2026-12-05 13:45:16+00".to_owned()),
            }
        );
        // A restore to the end of the WAL names no time.
        assert_eq!(
            lineage(Some(HISTORY), 1, 0x300_0061),
            Lineage::WentBack {
                branched_at: Some(0x300_0060),
                target_time: None,
            }
        );
        // A timeline the server's history never had, or a server back on
        // timeline 1 (no history file): nothing says the commits are there.
        let unknown = Lineage::WentBack {
            branched_at: None,
            target_time: None,
        };
        assert_eq!(lineage(Some(HISTORY), 4, 1), unknown);
        assert_eq!(lineage(None, 2, 1), unknown);
    }

    #[test]
    fn only_a_time_target_gives_a_target_time() {
        assert_eq!(
            target_time("before 2026-12-05 15:19:00.960386+00").as_deref(),
            Some("2026-12-05 15:19:00.960386+00")
        );
        assert_eq!(
            target_time("after 2026-12-05 15:19:00+01").as_deref(),
            Some("2026-12-05 15:19:00+01")
        );
        for other in [
            "before 0/3000060",
            "after 0/3000060",
            "before transaction 731",
            "at restore point before_upgrade",
            "no recovery target specified",
            "",
        ] {
            assert_eq!(target_time(other), None, "{other}");
        }
    }
}
