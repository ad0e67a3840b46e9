//! Appends lock only their own stream; one stream's versions stay 1..N under
//! concurrent writers; optimistic concurrency and idempotent retries across sessions.

use std::thread;

use bss_tests::*;

#[test]
fn appends_to_other_streams_never_wait_for_an_open_append() {
    let (mut a, mut b) = (session(), session());
    let (s1, s2, s3) = (
        unique("usage-lock1-"),
        unique("usage-lock2-"),
        unique("usage-lock3-"),
    );
    a.batch_execute("BEGIN").unwrap();
    append(&mut a, &s1).unwrap(); // holds s1's lock until COMMIT

    // With lock_timeout, any wait would fail with 55P03 instead of succeeding.
    b.batch_execute("SET lock_timeout = '500ms'").unwrap();
    assert_eq!(
        append(&mut b, &s2).unwrap(),
        1,
        "same category, other stream: no wait"
    );
    b.query_one(
        "SELECT bss.append_events($1, '[{\"type\": \"t\", \"data\": {}}, {\"type\": \"t\", \"data\": {}}]')",
        &[&s3],
    )
    .unwrap();
    let err = append(&mut b, &s1).unwrap_err();
    assert_eq!(
        sqlstate(&err).as_deref(),
        Some("55P03"),
        "the same stream does wait: {err}"
    );

    a.batch_execute("COMMIT").unwrap();
    assert_eq!(append(&mut b, &s1).unwrap(), 2);
}

#[test]
fn concurrent_appends_to_one_stream_get_versions_1_to_n() {
    const THREADS: usize = 4;
    const EACH: usize = 50;
    let stream = unique("account-hot-");
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let stream = stream.clone();
            thread::spawn(move || {
                let mut c = session();
                (0..EACH)
                    .map(|_| append(&mut c, &stream).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut versions: Vec<i64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    versions.sort();
    assert_eq!(versions, (1..=(THREADS * EACH) as i64).collect::<Vec<_>>());

    let mut c = session();
    let row = c
        .query_one(
            "SELECT count(*), count(DISTINCT stream_version), bool_and(ok) FROM ( \
               SELECT stream_version, global_position > lag(global_position, 1, 0::bigint) OVER (ORDER BY stream_version) AS ok \
               FROM bss.events WHERE stream_id = $1) s",
            &[&stream],
        )
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), (THREADS * EACH) as i64);
    assert_eq!(row.get::<_, i64>(1), (THREADS * EACH) as i64);
    assert!(row.get::<_, bool>(2), "positions increase with versions");
    let v: i64 = c
        .query_one("SELECT bss.stream_version($1)", &[&stream])
        .unwrap()
        .get(0);
    assert_eq!(v, (THREADS * EACH) as i64);
}

#[test]
fn of_two_writers_expecting_the_same_version_exactly_one_wins() {
    let stream = unique("subscription-occ-");
    let mut a = session();
    append(&mut a, &stream).unwrap();
    a.batch_execute("BEGIN").unwrap();
    a.query_one(
        "SELECT bss.append_event($1, 't', '{}', expected_version => 1)",
        &[&stream],
    )
    .unwrap();
    let loser = {
        let stream = stream.clone();
        thread::spawn(move || {
            let mut b = session();
            b.query_one(
                "SELECT bss.append_event($1, 't', '{}', expected_version => 1)",
                &[&stream],
            )
        })
    };
    thread::sleep(std::time::Duration::from_millis(200)); // let b queue on the stream lock
    a.batch_execute("COMMIT").unwrap();
    let err = loser.join().unwrap().unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("XB001"), "{err}");
    let v: i64 = a
        .query_one("SELECT bss.stream_version($1)", &[&stream])
        .unwrap()
        .get(0);
    assert_eq!(v, 2);
}

#[test]
fn a_retry_racing_the_original_stores_the_event_once() {
    let stream = unique("payment-retry-");
    let id = "01932c07-0000-7000-8000-00000000beef";
    let sql = "SELECT bss.append_event($1, 'payment.received', '{}', event_id => $2::text::uuid)";
    let mut a = session();
    append(&mut a, &stream).unwrap();
    a.batch_execute("BEGIN").unwrap();
    let first: i64 = a.query_one(sql, &[&stream, &id]).unwrap().get(0);
    let retry = {
        let stream = stream.clone();
        thread::spawn(move || {
            session()
                .query_one(sql, &[&stream, &id])
                .map(|r| r.get::<_, i64>(0))
        })
    };
    thread::sleep(std::time::Duration::from_millis(200));
    a.batch_execute("COMMIT").unwrap();
    assert_eq!(retry.join().unwrap().unwrap(), first);
    let n: i64 = a
        .query_one(
            "SELECT count(*) FROM bss.events WHERE stream_id = $1",
            &[&stream],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
}

#[test]
fn consumer_group_members_split_a_category_without_overlap() {
    let category = unique("grp");
    let mut c = session();
    for i in 0..30 {
        append(&mut c, &format!("{category}-{i}")).unwrap();
    }
    let all: Vec<String> = c
        .query(
            "SELECT stream_id FROM bss.read_category($1, 0, 1000)",
            &[&category],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(all.len(), 30);
    let mut union = Vec::new();
    for member in 0..3i32 {
        let part: Vec<String> = c
            .query(
                "SELECT stream_id FROM bss.read_category($1, 0, 1000, $2, 3)",
                &[&category, &member],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(!part.is_empty(), "member {member} got some streams");
        union.extend(part);
    }
    union.sort();
    let mut expected = all.clone();
    expected.sort();
    assert_eq!(union, expected, "every stream goes to exactly one member");
}
