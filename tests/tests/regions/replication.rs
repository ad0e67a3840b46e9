//! Events appended in either region reach the other with their identity,
//! and the receiving region's streams, read_all, projections and snapshots
//! follow them.

use bss_tests::unique;
use serde_json::json;

use super::{converged, regions, stream};

#[test]
fn events_appended_in_each_region_reach_the_other_with_their_identity() {
    let (mut eu, mut us) = regions();
    let cat = unique("rep");
    let (a, b, t) = (format!("{cat}-a"), format!("{cat}-b"), format!("{cat}-t"));
    eu.db
        .query_one(
            "SELECT bss.append_events($1, '[{\"type\": \"x.opened\", \"data\": {\"n\": 1}, \"metadata\": {\"m\": 1}, \
               \"subject\": \"s-1\", \"source\": \"/crm\", \"time\": \"2026-01-02T03:04:05.678901Z\"}, \
              {\"type\": \"x.changed\", \"data\": {\"n\": 2}}]')",
            &[&a],
        )
        .unwrap();
    us.db
        .query_one(
            "SELECT bss.append_event($1, 'x.opened', '{\"n\": 3}')",
            &[&b],
        )
        .unwrap();
    // Another tenant's event keeps its tenant.
    us.db
        .batch_execute(&format!("BEGIN; SET LOCAL bss.tenant = 'acme'; SELECT bss.append_event('{t}', 'x.opened', '{{}}'); COMMIT"))
        .unwrap();
    eu.db.batch_execute("SET bss.tenant = '*'").unwrap();
    us.db.batch_execute("SET bss.tenant = '*'").unwrap();
    let streams = converged(&mut eu, &mut us, &[&a, &b, &t], None);
    assert_eq!(streams[0].len(), 2);
    assert_eq!(streams[1].len(), 1);
    assert_eq!(streams[0][0]["region"], "eu");
    assert_eq!(streams[0][0]["subject"], "s-1");
    assert_eq!(streams[0][0]["source"], "/crm");
    assert_eq!(streams[0][0]["metadata"], json!({"m": 1}));
    assert_eq!(streams[0][0]["time"], "2026-01-02T03:04:05.678901+00:00");
    assert_eq!(streams[1][0]["region"], "us");
    assert_eq!(streams[2][0]["tenant"], "acme");
    for r in [&mut eu, &mut us] {
        // The stream's row: version, and home where it was created.
        let row =
            r.db.query_one(
                "SELECT version, home_region FROM bss.streams WHERE stream_id = $1",
                &[&a],
            )
            .unwrap();
        assert_eq!(
            (row.get::<_, i64>(0), row.get::<_, String>(1)),
            (2, "eu".to_owned()),
            "in {}",
            r.name
        );
        let row =
            r.db.query_one("SELECT home_region, owner FROM bss.stream_owner($1)", &[&b])
                .unwrap();
        assert_eq!(
            (row.get::<_, String>(0), row.get::<_, String>(1)),
            ("us".to_owned(), "us".to_owned()),
            "in {}",
            r.name
        );
    }
    // In the receiving region the events have local positions, and read_all
    // (gap-safe) returns them in stream order.
    let positions: Vec<(String, i64)> = us
        .db
        .query(
            "SELECT stream_id, stream_version FROM bss.read_all((SELECT min(global_position) - 1 FROM bss.events WHERE stream_id = $1), 100000) \
             WHERE stream_id = $1 ORDER BY global_position",
            &[&a],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(positions, vec![(a.clone(), 1), (a.clone(), 2)]);
}

#[test]
fn a_replicated_event_keeps_the_receiving_regions_projections_and_snapshots_current() {
    let (mut eu, mut us) = regions();
    let cat = unique("prj");
    let name = unique("p");
    for r in [&mut eu, &mut us] {
        r.db.query_one("SELECT bss.create_projection($1, $2)::text", &[&name, &cat])
            .unwrap();
        r.db.query_one("SELECT bss.set_snapshot_policy($1, 2)::text", &[&cat])
            .unwrap();
    }
    let s = format!("{cat}-1");
    for n in 1..=3 {
        eu.db
            .query_one(
                "SELECT bss.append_event($1, 'x.set', jsonb_build_object('n', $2::int))",
                &[&s, &n],
            )
            .unwrap();
    }
    converged(&mut eu, &mut us, &[&s], Some(3));
    for r in [&mut eu, &mut us] {
        let row =
            r.db.query_one(
                &format!(
                    "SELECT state, version FROM bss_projection.\"{name}\" WHERE stream_id = $1"
                ),
                &[&s],
            )
            .unwrap();
        assert_eq!(
            row.get::<_, serde_json::Value>(0),
            json!({"n": 3}),
            "projection in {}",
            r.name
        );
        assert_eq!(row.get::<_, i64>(1), 3);
        let snapshots: Vec<i64> =
            r.db.query(
                "SELECT version FROM bss.snapshots WHERE stream_id = $1 ORDER BY version",
                &[&s],
            )
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(snapshots, vec![2], "snapshots in {}", r.name);
    }
    assert_eq!(stream(&mut us, &s).len(), 3);
}
