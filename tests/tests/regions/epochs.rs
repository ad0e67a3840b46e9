//! Fenced ownership: a region's streams move to another under a new epoch,
//! handed over cleanly or taken over from a region that is lost; a region
//! that lost its streams learns the epoch, refuses appends to them, and
//! gets the events it acknowledged meanwhile back as conflicts: kept whole
//! and announced, never dropped, and alike in both regions.

use bss_tests::unique;
use serde_json::{json, Value};

use super::{
    append, converged, cut, failure, heal, regions, restore_homes, served_by, stream, wait_for,
    Region,
};

/// What a region holds in bss.conflicts for `streams`: (event id, region,
/// version there, owner, epoch), by event id.
fn conflicts(r: &mut Region, streams: &[&str]) -> Vec<(String, String, i64, String, i64)> {
    let streams: Vec<String> = streams.iter().map(|s| s.to_string()).collect();
    r.db.query(
        "SELECT event_id::text, region, stream_version, owner, epoch FROM bss.conflicts \
         WHERE stream_id = ANY($1) ORDER BY event_id",
        &[&streams],
    )
    .unwrap()
    .iter()
    .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4)))
    .collect()
}

/// The bss.event_conflicted events announcing `event_id`, as a region holds them.
fn announcements(r: &mut Region, event_id: &str) -> Vec<Value> {
    stream(r, &format!("conflict-{event_id}"))
}

#[test]
fn a_handover_moves_a_regions_streams_after_their_last_event_without_conflict() {
    let (mut eu, mut us) = regions();
    let s = format!("{}-1", unique("hand"));
    append(&mut eu, &s, json!({"n": 1})).unwrap();
    // Only the region serving eu now, or the one taking it, moves it; and
    // not to where it is already.
    let e = eu
        .db
        .query_one("SELECT bss.move_region('eu', 'eu')", &[])
        .unwrap_err();
    assert_eq!(failure(&e).0, "XB009", "{e}");
    let e = eu
        .db
        .query_one("SELECT bss.move_region('Not A Region')", &[])
        .unwrap_err();
    assert_eq!(failure(&e).0, "XB009", "{e}");
    let epoch: i64 = eu
        .db
        .query_one("SELECT bss.move_region('eu', 'us', 'test: handover')", &[])
        .unwrap()
        .get(0);
    assert!(epoch > 0);
    assert_eq!(served_by(&mut eu, "eu"), ("us".to_owned(), epoch));
    let e = append(&mut eu, &s, json!({"n": 2})).unwrap_err();
    let (state, message, _) = failure(&e);
    assert_eq!(state, "XB018");
    assert!(
        message.contains(&format!(
            "its home region \"eu\" is served by \"us\" since epoch {epoch}"
        )),
        "{message}"
    );
    wait_for("the epoch in us", 30, || {
        served_by(&mut us, "eu") == ("us".to_owned(), epoch)
    });
    assert_eq!(append(&mut us, &s, json!({"n": 2})).unwrap(), 2);
    converged(&mut eu, &mut us, &[&s], Some(2));
    assert!(conflicts(&mut eu, &[&s]).is_empty() && conflicts(&mut us, &[&s]).is_empty());
    restore_homes(&mut eu, &mut us);
    assert_eq!(append(&mut eu, &s, json!({"n": 3})).unwrap(), 3);
    converged(&mut eu, &mut us, &[&s], Some(3));
}

#[test]
fn a_region_taken_over_while_cut_off_gets_its_late_events_back_as_conflicts_in_both() {
    let (mut eu, mut us) = regions();
    let cat = unique("tko");
    let (kept, collided, fresh) = (
        format!("{cat}-kept"),
        format!("{cat}-col"),
        format!("{cat}-new"),
    );
    append(&mut eu, &kept, json!({"n": 1})).unwrap();
    append(&mut eu, &collided, json!({"n": 1})).unwrap();
    converged(&mut eu, &mut us, &[&kept, &collided], Some(1));

    cut(&mut eu, &mut us);
    // eu goes on acknowledging appends it cannot send.
    append(&mut eu, &kept, json!({"late": 1})).unwrap();
    append(&mut eu, &collided, json!({"late": 1})).unwrap();
    append(&mut eu, &collided, json!({"late": 2})).unwrap();
    append(&mut eu, &fresh, json!({"late": 1})).unwrap();
    let late: Vec<String> = eu
        .db
        .query("SELECT event_id::text FROM bss.events WHERE stream_id = $1 AND stream_version >= 2 ORDER BY stream_version", &[&collided])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    // us takes eu's streams over and appends to one of them.
    let epoch: i64 = us
        .db
        .query_one(
            "SELECT bss.move_region('eu', reason => 'test: eu lost')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(append(&mut us, &collided, json!({"owner": 2})).unwrap(), 2);
    heal(&mut eu, &mut us);

    // eu learns the epoch and no longer appends to its old streams.
    wait_for("the epoch in eu", 30, || {
        served_by(&mut eu, "eu") == ("us".to_owned(), epoch)
    });
    let e = append(&mut eu, &kept, json!({})).unwrap_err();
    assert_eq!(failure(&e).0, "XB018");

    // Every event acknowledged anywhere is in both, once: the late ones that
    // collided nowhere in their streams, the colliding ones as conflicts.
    let streams = converged(&mut eu, &mut us, &[&kept, &collided, &fresh], None);
    let versions = |s: &Vec<Value>| {
        s.iter()
            .map(|e| {
                (
                    e["version"].as_i64().unwrap(),
                    e["region"].as_str().unwrap().to_owned(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        versions(&streams[0]),
        vec![(1, "eu".into()), (2, "eu".into())],
        "the late event took its version"
    );
    assert_eq!(
        versions(&streams[1]),
        vec![(1, "eu".into()), (2, "us".into())],
        "the owner's event holds version 2"
    );
    assert_eq!(streams[1][1]["data"], json!({"owner": 2}));
    assert_eq!(
        versions(&streams[2]),
        vec![(1, "eu".into())],
        "a stream made while cut off arrived"
    );
    let want: Vec<(String, String, i64, String, i64)> = {
        let mut w: Vec<_> = late
            .iter()
            .enumerate()
            .map(|(i, id)| {
                (
                    id.clone(),
                    "eu".to_owned(),
                    2 + i as i64,
                    "us".to_owned(),
                    epoch,
                )
            })
            .collect();
        w.sort();
        w
    };
    wait_for("the conflicts recorded in both regions", 30, || {
        conflicts(&mut eu, &[&collided]) == want && conflicts(&mut us, &[&collided]) == want
    });
    // Each conflict kept whole, and announced once in each region.
    for id in &late {
        for r in [&mut eu, &mut us] {
            let kept_event: Value =
                r.db.query_one(
                    "SELECT event FROM bss.conflicts WHERE event_id = $1::text::uuid",
                    &[id],
                )
                .unwrap()
                .get(0);
            assert_eq!(kept_event["event_id"], json!(id));
            assert!(kept_event["data"]["late"].is_number(), "{kept_event}");
            let said = announcements(r, id);
            assert_eq!(
                said.len(),
                1,
                "one announcement of {id} in {}: {said:?}",
                r.name
            );
            assert_eq!(said[0]["type"], "bss.event_conflicted");
            assert_eq!(said[0]["data"]["event"]["event_id"], json!(id));
            assert_eq!(said[0]["data"]["owner"], "us");
        }
    }
    for r in [&mut eu, &mut us] {
        let n: f64 = r
            .db
            .query_one("SELECT coalesce(sum(value), 0) FROM bss.stats WHERE stat = 'region_conflicts' AND key = 'eu'", &[])
            .unwrap()
            .get(0);
        assert!(n >= late.len() as f64, "bss.stats in {}: {n}", r.name);
    }
    restore_homes(&mut eu, &mut us);
    append(&mut eu, &collided, json!({"back": 3})).unwrap();
    converged(&mut eu, &mut us, &[&collided], Some(3));
}

#[test]
fn a_stream_created_in_both_regions_while_cut_off_is_the_older_creation_in_both() {
    let (mut eu, mut us) = regions();
    let s = format!("{}-1", unique("twice"));
    cut(&mut eu, &mut us);
    // Neither knows of the other's creation: eu's is the older.
    append(&mut eu, &s, json!({"by": "eu", "n": 1})).unwrap();
    append(&mut eu, &s, json!({"by": "eu", "n": 2})).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    for n in 1..=3 {
        append(&mut us, &s, json!({"by": "us", "n": n})).unwrap();
    }
    let lost: Vec<String> = us
        .db
        .query(
            "SELECT event_id::text FROM bss.events WHERE stream_id = $1 ORDER BY stream_version",
            &[&s],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    heal(&mut eu, &mut us);

    // The same stream in both: eu's creation, event by event.
    let streams = converged(&mut eu, &mut us, &[&s], Some(2));
    for e in &streams[0] {
        assert_eq!(e["region"], "eu", "{e}");
        assert_eq!(e["data"]["by"], "eu", "{e}");
    }
    // us's three events are conflicts in both regions, alike.
    let want: Vec<String> = {
        let mut w = lost.clone();
        w.sort();
        w
    };
    let ids =
        |r: &mut Region| -> Vec<String> { conflicts(r, &[&s]).into_iter().map(|c| c.0).collect() };
    wait_for(
        "us's creation among the conflicts of both regions",
        30,
        || ids(&mut eu) == want && ids(&mut us) == want,
    );
    assert_eq!(conflicts(&mut eu, &[&s]), conflicts(&mut us, &[&s]));
    // us has yielded: the stream is eu's in both, so us refuses appends to
    // it, and eu's next append lands in both.
    wait_for("us's yield (a home assignment) in eu", 30, || {
        let home: String = eu
            .db
            .query_one("SELECT home_region FROM bss.stream_owner($1)", &[&s])
            .unwrap()
            .get(0);
        home == "eu"
    });
    let home: String = us
        .db
        .query_one("SELECT home_region FROM bss.stream_owner($1)", &[&s])
        .unwrap()
        .get(0);
    assert_eq!(home, "eu");
    let e = append(&mut us, &s, json!({"by": "us", "n": 4})).unwrap_err();
    assert_eq!(failure(&e).0, "XB018", "{e}");
    assert_eq!(append(&mut eu, &s, json!({"by": "eu", "n": 3})).unwrap(), 3);
    converged(&mut eu, &mut us, &[&s], Some(3));
}
