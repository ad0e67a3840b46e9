//! Two regions' stores compared (pg_bss's regions): after they met again,
//! every stream of the load must hold the same events at the same versions
//! in both, and both must keep the same events as conflicts. Owns the
//! comparison; reads nothing itself (main.rs gives it both stores' rows).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::account::StoredEvent;

/// At most this many differences are named in the report.
const MAX_EXAMPLES: usize = 10;

#[derive(Debug, Default, Serialize)]
pub struct RegionsReport {
    pub ok: bool,
    pub streams: u64,
    /// Events in streams, per store (same order as given).
    pub events: [u64; 2],
    /// Events kept as conflicts, per store.
    pub conflicts: [u64; 2],
    /// Streams whose events differ (event ids at versions).
    pub differing_streams: u64,
    /// Events a store keeps as a conflict and the other does not.
    pub differing_conflicts: u64,
    pub examples: Vec<String>,
}

type Streams<'a> = BTreeMap<&'a str, Vec<(i64, &'a str)>>;

fn split(rows: &[StoredEvent]) -> (Streams<'_>, BTreeSet<&str>) {
    let mut streams: Streams<'_> = BTreeMap::new();
    let mut conflicts = BTreeSet::new();
    for r in rows {
        if r.conflict {
            conflicts.insert(r.event_id.as_str());
        } else {
            streams
                .entry(r.stream_id.as_str())
                .or_default()
                .push((r.version, r.event_id.as_str()));
        }
    }
    for events in streams.values_mut() {
        events.sort();
    }
    (streams, conflicts)
}

/// Compares the rows of the same streams read from two stores.
pub fn compare(a: &[StoredEvent], b: &[StoredEvent]) -> RegionsReport {
    let ((sa, ca), (sb, cb)) = (split(a), split(b));
    let mut r = RegionsReport {
        events: [
            sa.values().map(|v| v.len() as u64).sum(),
            sb.values().map(|v| v.len() as u64).sum(),
        ],
        conflicts: [ca.len() as u64, cb.len() as u64],
        ..RegionsReport::default()
    };
    let names: BTreeSet<&str> = sa.keys().chain(sb.keys()).copied().collect();
    r.streams = names.len() as u64;
    let none = Vec::new();
    for name in names {
        let (ea, eb) = (sa.get(name).unwrap_or(&none), sb.get(name).unwrap_or(&none));
        if ea != eb {
            r.differing_streams += 1;
            if r.examples.len() < MAX_EXAMPLES {
                let first = ea
                    .iter()
                    .zip(eb)
                    .position(|(x, y)| x != y)
                    .unwrap_or(ea.len().min(eb.len()));
                r.examples.push(format!(
                    "stream {name}: {} events against {}, first difference at index {first}: {:?} against {:?}",
                    ea.len(),
                    eb.len(),
                    ea.get(first),
                    eb.get(first)
                ));
            }
        }
    }
    for id in ca.symmetric_difference(&cb) {
        r.differing_conflicts += 1;
        if r.examples.len() < MAX_EXAMPLES {
            let which = if ca.contains(id) {
                "the first"
            } else {
                "the second"
            };
            r.examples
                .push(format!("event {id} is a conflict in {which} store only"));
        }
    }
    r.ok = r.differing_streams == 0 && r.differing_conflicts == 0;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, stream: &str, version: i64, conflict: bool) -> StoredEvent {
        StoredEvent {
            event_id: id.into(),
            stream_id: stream.into(),
            version,
            conflict,
        }
    }

    #[test]
    fn the_same_streams_and_conflicts_in_any_row_order_compare_equal() {
        let a = vec![
            row("1", "s", 1, false),
            row("2", "s", 2, false),
            row("9", "s", 2, true),
        ];
        let b = vec![
            row("9", "s", 2, true),
            row("2", "s", 2, false),
            row("1", "s", 1, false),
        ];
        let r = compare(&a, &b);
        assert!(r.ok, "{r:?}");
        assert_eq!((r.streams, r.events, r.conflicts), (1, [2, 2], [1, 1]));
    }

    #[test]
    fn another_event_at_a_version_a_missing_event_or_a_conflict_in_one_store_only_differ() {
        let a = vec![row("1", "s", 1, false), row("2", "s", 2, false)];
        let swapped = vec![row("1", "s", 1, false), row("3", "s", 2, false)];
        let r = compare(&a, &swapped);
        assert!(!r.ok);
        assert_eq!(r.differing_streams, 1);
        assert!(
            r.examples[0].contains("first difference at index 1"),
            "{:?}",
            r.examples
        );
        let short = vec![row("1", "s", 1, false)];
        assert_eq!(compare(&a, &short).differing_streams, 1);
        let with_conflict = vec![
            row("1", "s", 1, false),
            row("2", "s", 2, false),
            row("7", "s", 3, true),
        ];
        let r = compare(&a, &with_conflict);
        assert_eq!(
            (r.differing_streams, r.differing_conflicts, r.ok),
            (0, 1, false)
        );
    }
}
