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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lineage {
    /// The server's history holds every commit the spool took.
    Holds,
    /// The server's history left the spool's timeline at `branched_at`
    /// (None: not in its history at all), before the spool's newest commit.
    WentBack { branched_at: Option<u64> },
}

/// Where the timeline after `followed` begins in a history file's text
/// (lines `parent-timeline <tab> switch-point <tab> reason`).
pub fn switch_point(history: &str, followed: u32) -> Option<u64> {
    history.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let parent: u32 = fields.next()?.parse().ok()?;
        let at = Lsn::parse(fields.next()?).ok()?;
        (parent == followed).then_some(at.0)
    })
}

/// The lineage of a server on a timeline other than `followed`, whose
/// history file reads `history` (None: timeline 1 has none), for a spool
/// whose newest commit ends at `newest`.
pub fn lineage(history: Option<&str>, followed: u32, newest: u64) -> Lineage {
    let branched_at = history.and_then(|h| switch_point(h, followed));
    match branched_at {
        Some(at) if at >= newest => Lineage::Holds,
        _ => Lineage::WentBack { branched_at },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HISTORY: &str = "1\t0/3000060\tno recovery target specified\n\n\
                           2\t0/5A00100\tbefore 2026-12-05 13:45:16+00\n";

    #[test]
    fn the_switch_point_is_the_one_after_the_followed_timeline() {
        assert_eq!(switch_point(HISTORY, 1), Some(0x300_0060));
        assert_eq!(switch_point(HISTORY, 2), Some(0x5A0_0100));
        assert_eq!(switch_point(HISTORY, 3), None);
        assert_eq!(switch_point("garbage\n2 notanlsn x\n", 2), None);
    }

    #[test]
    fn a_promotion_after_the_newest_commit_holds_it_and_a_restore_before_it_does_not() {
        assert_eq!(lineage(Some(HISTORY), 2, 0x5A0_0100), Lineage::Holds);
        assert_eq!(lineage(Some(HISTORY), 2, 0x5A0_00F0), Lineage::Holds);
        assert_eq!(
            lineage(Some(HISTORY), 2, 0x5A0_0101),
            Lineage::WentBack {
                branched_at: Some(0x5A0_0100)
            }
        );
        // A timeline the server's history never had, or a server back on
        // timeline 1 (no history file): nothing says the commits are there.
        assert_eq!(
            lineage(Some(HISTORY), 4, 1),
            Lineage::WentBack { branched_at: None }
        );
        assert_eq!(lineage(None, 2, 1), Lineage::WentBack { branched_at: None });
    }
}
