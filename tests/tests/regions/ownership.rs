//! Who may append to a stream: its owner only. Elsewhere an append is
//! refused naming the owner, or forwarded to it, as its category says; a
//! category's home and an explicit assignment decide a stream's home.

use bss_tests::unique;
use serde_json::json;

use super::{append, converged, failure, regions, stream, wait_for};

#[test]
fn an_append_to_a_stream_owned_elsewhere_is_refused_naming_the_owner() {
    let (mut eu, mut us) = regions();
    let s = format!("{}-1", unique("own"));
    append(&mut eu, &s, json!({"n": 1})).unwrap();
    converged(&mut eu, &mut us, &[&s], Some(1));
    let e = append(&mut us, &s, json!({"n": 2})).unwrap_err();
    let (state, message, hint) = failure(&e);
    assert_eq!(state, "XB018", "{e}");
    assert!(
        message.contains(&format!("stream \"{s}\" is owned by region \"eu\"")),
        "{message}"
    );
    assert!(message.contains("not by this region \"us\""), "{message}");
    assert!(hint.contains("Append in region \"eu\""), "{hint}");
    // A call over several streams is refused too, whatever the category says.
    let e = us
        .db
        .query_one("SELECT bss.append_streams(ARRAY[$1], ARRAY['[{\"type\": \"x\", \"data\": {}}]'::jsonb])", &[&s])
        .unwrap_err();
    assert_eq!(failure(&e).0, "XB018");
    let e = us
        .db
        .query_one(
            "SELECT bss.append_cloudevents(jsonb_build_object('specversion', '1.0', 'id', gen_random_uuid()::text, \
             'source', '/t', 'type', 'x', 'subject', $1::text, 'data', '{}'::jsonb))",
            &[&s],
        )
        .unwrap_err();
    assert_eq!(failure(&e).0, "XB018", "{e}");
    // Nothing was stored anywhere.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(stream(&mut eu, &s).len(), 1);
    assert_eq!(stream(&mut us, &s).len(), 1);
}

#[test]
fn a_forwarding_category_runs_the_append_in_the_owner_and_returns_its_answer() {
    let (mut eu, mut us) = regions();
    let cat = unique("fwd");
    for r in [&mut eu, &mut us] {
        r.db.execute("SELECT bss.set_category_home($1, NULL, 'forward')", &[&cat])
            .unwrap();
    }
    let s = format!("{cat}-1");
    assert_eq!(append(&mut eu, &s, json!({"n": 1})).unwrap(), 1);
    converged(&mut eu, &mut us, &[&s], Some(1));
    // From us: stored in eu (region eu), the version eu gave.
    assert_eq!(append(&mut us, &s, json!({"n": 2})).unwrap(), 2);
    let v: i64 = us
        .db
        .query_one(
            "SELECT bss.append_events($1, '[{\"type\": \"x\", \"data\": {\"n\": 3}}, {\"type\": \"x\", \"data\": {\"n\": 4}}]', 2)",
            &[&s],
        )
        .unwrap()
        .get(0);
    assert_eq!(v, 4);
    // The owner's error comes back as it raised it.
    let e = us
        .db
        .query_one(
            "SELECT bss.append_event($1, 'x', '{}', expected_version => 1)",
            &[&s],
        )
        .unwrap_err();
    let (state, message, _) = failure(&e);
    assert_eq!(state, "XB001", "{e}");
    assert!(message.contains("wrong expected version"), "{message}");
    // The same event id forwarded twice (a client's retry) is stored once.
    let id: String = us
        .db
        .query_one("SELECT gen_random_uuid()::text", &[])
        .unwrap()
        .get(0);
    for _ in 0..2 {
        let v: i64 = us
            .db
            .query_one(
                "SELECT bss.append_event($1, 'x', '{\"n\": 5}', event_id => $2::text::uuid)",
                &[&s, &id],
            )
            .unwrap()
            .get(0);
        assert_eq!(v, 5);
    }
    let events = converged(&mut eu, &mut us, &[&s], Some(5));
    assert!(events[0].iter().all(|e| e["region"] == "eu"), "{events:?}");
    let data: Vec<_> = events[0].iter().map(|e| e["data"]["n"].clone()).collect();
    assert_eq!(data, vec![json!(1), json!(2), json!(3), json!(4), json!(5)]);
}

#[test]
fn a_category_home_puts_its_new_streams_in_that_region_wherever_they_are_created() {
    let (mut eu, mut us) = regions();
    let cat = unique("home");
    for r in [&mut eu, &mut us] {
        r.db.execute("SELECT bss.set_category_home($1, 'eu', 'refuse')", &[&cat])
            .unwrap();
    }
    let s = format!("{cat}-1");
    let e = append(&mut us, &s, json!({})).unwrap_err();
    assert_eq!(failure(&e).0, "XB018");
    append(&mut eu, &s, json!({})).unwrap();
    converged(&mut eu, &mut us, &[&s], Some(1));
    for r in [&mut eu, &mut us] {
        let owner: String =
            r.db.query_one("SELECT owner FROM bss.stream_owner($1)", &[&s])
                .unwrap()
                .get(0);
        assert_eq!(owner, "eu");
    }
    // An invalid policy is refused, naming what is wrong.
    let e = eu
        .db
        .execute("SELECT bss.set_category_home($1, 'eu', 'merge')", &[&cat])
        .unwrap_err();
    let (state, message, hint) = failure(&e);
    assert_eq!(state, "XB009");
    assert!(message.contains("invalid on_foreign 'merge'"), "{message}");
    assert!(hint.contains("'forward'"), "{hint}");
    let e = eu
        .db
        .execute(
            "SELECT bss.set_category_home($1, 'EU West', 'refuse')",
            &[&cat],
        )
        .unwrap_err();
    assert_eq!(failure(&e).0, "XB009");
}

#[test]
fn an_assigned_home_moves_one_stream_after_its_events_so_far() {
    let (mut eu, mut us) = regions();
    let s = format!("{}-1", unique("asg"));
    append(&mut eu, &s, json!({"n": 1})).unwrap();
    // Only the owner assigns.
    let e = us
        .db
        .query_one("SELECT bss.assign_stream_home($1, 'us')", &[&s])
        .unwrap_err();
    assert_eq!(failure(&e).0, "XB018");
    eu.db
        .query_one("SELECT bss.assign_stream_home($1, 'us')", &[&s])
        .unwrap();
    let e = append(&mut eu, &s, json!({"n": 2})).unwrap_err();
    assert_eq!(failure(&e).0, "XB018", "eu no longer owns it");
    wait_for("the assignment in us", 30, || {
        us.db
            .query_one("SELECT owner FROM bss.stream_owner($1)", &[&s])
            .unwrap()
            .get::<_, String>(0)
            == "us"
    });
    assert_eq!(append(&mut us, &s, json!({"n": 2})).unwrap(), 2);
    let events = converged(&mut eu, &mut us, &[&s], Some(2));
    assert_eq!(events[0][1]["region"], "us");
}
