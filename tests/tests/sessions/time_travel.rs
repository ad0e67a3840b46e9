//! Time travel, snapshots, reducers and projections against a brute-force
//! fold: random histories over many streams, appended one transaction at a
//! time (so recorded_at moves), checked at random moments and versions,
//! with and without snapshots, before and after reducer changes; and
//! projections under concurrent appenders.

use std::thread;

use bss_tests::*;
use postgres::Client;
use serde_json::{json, Map, Value};

const STREAMS: u64 = 12;
const APPENDS: usize = 300;
const CHECKS: usize = 150;

/// A random patch: nested objects, deletions, arrays, numbers, strings.
fn random_data(rng: &mut Rng, v: u64) -> Value {
    let mut m = Map::new();
    for _ in 0..1 + rng.below(3) {
        let key = format!("k{}", rng.below(6));
        let value = match rng.below(7) {
            0 => Value::Null,
            1 => json!({format!("n{}", rng.below(3)): rng.below(100), "gone": null}),
            2 => json!([v, rng.below(10)]),
            3 => json!(format!("s{v}")),
            4 => json!(rng.below(1000) as f64 / 4.0),
            _ => json!(rng.below(1_000_000)),
        };
        m.insert(key, value);
    }
    m.insert("amount".into(), json!(rng.below(200) as i64 - 100));
    if rng.below(10) == 0 {
        return json!(format!("not an object {v}"));
    }
    Value::Object(m)
}

/// One stored event as the brute force needs it.
struct Stored {
    version: i64,
    recorded_us: i64,
    data: Value,
}

fn stored(c: &mut Client, stream: &str) -> Vec<Stored> {
    c.query(
        "SELECT stream_version, (extract(epoch FROM recorded_at) * 1000000)::bigint, data::text \
         FROM bss.events WHERE stream_id = $1 ORDER BY stream_version",
        &[&stream],
    )
    .unwrap()
    .iter()
    .map(|r| Stored {
        version: r.get(0),
        recorded_us: r.get(1),
        data: serde_json::from_str(r.get::<_, &str>(2)).unwrap(),
    })
    .collect()
}

#[derive(Clone, Copy, Debug)]
enum Reducer {
    MergePatch,
    Balance,
    /// The test's own SQL reducer: {"n": events * factor}.
    Count(i64),
}

fn brute_force(
    events: &[Stored],
    reducer: Reducer,
    as_of_us: Option<i64>,
    at: Option<i64>,
) -> Value {
    let mut state = Value::Null;
    let mut any = false;
    for e in events {
        if at.is_some_and(|a| e.version > a) || as_of_us.is_some_and(|t| e.recorded_us > t) {
            break;
        }
        any = true;
        match reducer {
            Reducer::MergePatch => merge_patch(&mut state, &e.data),
            Reducer::Balance => {
                let amount = e.data.get("amount").and_then(Value::as_i64).unwrap_or(0);
                let balance = state["balance"].as_i64().unwrap_or(0) + amount;
                let n = state["events"].as_i64().unwrap_or(0) + 1;
                state = json!({"balance": balance, "events": n});
            }
            Reducer::Count(factor) => {
                let n = state["n"].as_i64().unwrap_or(0) + factor;
                state = json!({"n": n});
            }
        }
    }
    if any {
        state
    } else {
        Value::Null
    }
}

/// Numbers compared as f64 (PostgreSQL prints 25.0 as 25.0, serde as 25.0 or 25).
fn normalized(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64().unwrap()),
        Value::Array(a) => Value::Array(a.iter().map(normalized).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), normalized(v))).collect())
        }
        other => other.clone(),
    }
}

fn aggregate(c: &mut Client, stream: &str, as_of_us: Option<i64>, at: Option<i64>) -> Value {
    let row = c
        .query_one(
            "SELECT bss.aggregate($1, 'epoch'::timestamptz + ($2::bigint || ' microseconds')::interval, $3)::text",
            &[&stream, &as_of_us, &at],
        )
        .unwrap();
    row.get::<_, Option<&str>>(0)
        .map(|t| serde_json::from_str(t).unwrap())
        .unwrap_or(Value::Null)
}

fn check_random_points(
    c: &mut Client,
    rng: &mut Rng,
    streams: &[String],
    reducer: Reducer,
    what: &str,
) {
    for _ in 0..CHECKS {
        let stream = &streams[rng.below(streams.len() as u64) as usize];
        let events = stored(c, stream);
        if events.is_empty() {
            // The random appends may have missed this stream: no state at all.
            assert_eq!(
                aggregate(c, stream, None, None),
                Value::Null,
                "{what}: {stream}"
            );
            continue;
        }
        for w in events.windows(2) {
            assert!(
                w[0].recorded_us <= w[1].recorded_us,
                "{stream}: recorded_at went back at version {}",
                w[1].version
            );
        }
        let pick = &events[rng.below(events.len() as u64) as usize];
        let as_of = match rng.below(4) {
            0 => None,
            1 => Some(pick.recorded_us - 1),
            _ => Some(pick.recorded_us),
        };
        let at = (rng.below(3) == 0).then(|| rng.below(events.len() as u64 + 2) as i64);
        let want = brute_force(&events, reducer, as_of, at);
        let got = aggregate(c, stream, as_of, at);
        assert_eq!(
            normalized(&got),
            normalized(&want),
            "{what}: aggregate({stream}, as_of {as_of:?} us, at_version {at:?}) with {reducer:?}"
        );
    }
}

#[test]
fn aggregate_equals_a_brute_force_fold_at_random_points_with_snapshots_and_reducer_changes() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("seed {seed}");
    let mut rng = Rng::new(seed);
    let mut c = session();
    let cat = unique("tt");
    let streams: Vec<String> = (0..STREAMS).map(|i| format!("{cat}-{i}")).collect();
    let append_some = |c: &mut Client, rng: &mut Rng, n: usize| {
        for i in 0..n {
            let stream = &streams[rng.below(STREAMS) as usize];
            let k = 1 + rng.below(3);
            let events: Vec<Value> = (0..k)
                .map(
                    |j| json!({"type": "tt.changed", "data": random_data(rng, (i as u64) * 3 + j)}),
                )
                .collect();
            c.execute(
                "SELECT bss.append_events($1, $2::text::jsonb)",
                &[stream, &Value::Array(events).to_string()],
            )
            .unwrap();
        }
    };

    // No snapshots.
    append_some(&mut c, &mut rng, APPENDS / 3);
    check_random_points(
        &mut c,
        &mut rng,
        &streams,
        Reducer::MergePatch,
        "no snapshots",
    );

    // Snapshots every 4 versions from now on, and some taken by hand.
    c.execute("SELECT bss.set_snapshot_policy($1, 4)", &[&cat])
        .unwrap();
    append_some(&mut c, &mut rng, APPENDS / 3);
    for s in streams.iter().step_by(3) {
        c.execute("SELECT bss.take_snapshot($1)", &[s]).unwrap();
    }
    let snapshots: i64 = c
        .query_one(
            "SELECT count(*) FROM bss.snapshots WHERE stream_id LIKE $1 || '-%'",
            &[&cat],
        )
        .unwrap()
        .get(0);
    assert!(
        snapshots >= STREAMS as i64,
        "only {snapshots} snapshots were taken"
    );
    check_random_points(
        &mut c,
        &mut rng,
        &streams,
        Reducer::MergePatch,
        "with snapshots",
    );

    // Another reducer: no merge-patch snapshot may leak into its states.
    c.execute(
        "SELECT bss.register_reducer($1, 'bss.reduce_balance(jsonb, bss.events)')",
        &[&cat],
    )
    .unwrap();
    check_random_points(
        &mut c,
        &mut rng,
        &streams,
        Reducer::Balance,
        "balance, old snapshots only",
    );
    append_some(&mut c, &mut rng, APPENDS / 6);
    check_random_points(
        &mut c,
        &mut rng,
        &streams,
        Reducer::Balance,
        "balance with its snapshots",
    );

    // A user reducer whose body changes: snapshots of the old body are not used.
    let f = format!("public.{cat}_count");
    let define = |c: &mut Client, factor: i64| {
        c.batch_execute(&format!(
            "CREATE OR REPLACE FUNCTION {f}(state jsonb, event bss.events) RETURNS jsonb LANGUAGE sql AS \
             $$ SELECT jsonb_build_object('n', coalesce((state->>'n')::bigint, 0) + {factor}) $$"
        ))
        .unwrap();
    };
    define(&mut c, 1);
    c.execute(
        &format!("SELECT bss.register_reducer($1, '{f}(jsonb, bss.events)')"),
        &[&cat],
    )
    .unwrap();
    append_some(&mut c, &mut rng, APPENDS / 6);
    check_random_points(
        &mut c,
        &mut rng,
        &streams,
        Reducer::Count(1),
        "user reducer",
    );
    define(&mut c, 7);
    check_random_points(
        &mut c,
        &mut rng,
        &streams,
        Reducer::Count(7),
        "user reducer, new body",
    );

    // Back to merge patch: its own snapshots are good again.
    c.execute("SELECT bss.register_reducer($1, NULL)", &[&cat])
        .unwrap();
    check_random_points(
        &mut c,
        &mut rng,
        &streams,
        Reducer::MergePatch,
        "merge patch again",
    );
    c.batch_execute(&format!("DROP FUNCTION {f}(jsonb, bss.events)"))
        .unwrap();
}

#[test]
fn a_stream_before_its_first_event_is_null_and_stream_at_is_the_prefix() {
    let mut c = session();
    let stream = format!("{}-1", unique("ttnull"));
    let before: String = c.query_one("SELECT now()::text", &[]).unwrap().get(0);
    // The devdb may hold millions of events already: page from the head.
    let head = head_position(&mut c);
    for v in 1..=3 {
        c.execute(
            "SELECT bss.append_event($1, 'tt.changed', jsonb_build_object('v', $2::int))",
            &[&stream, &v],
        )
        .unwrap();
    }
    let null: Option<String> = c
        .query_one(
            "SELECT bss.aggregate($1, $2::text::timestamptz)::text",
            &[&stream, &before],
        )
        .unwrap()
        .get(0);
    assert_eq!(null, None);
    let second: String = c
        .query_one(
            "SELECT recorded_at::text FROM bss.events WHERE stream_id = $1 AND stream_version = 2",
            &[&stream],
        )
        .unwrap()
        .get(0);
    let versions: Vec<i64> = c
        .query(
            "SELECT stream_version FROM bss.stream_at($1, $2::text::timestamptz)",
            &[&stream, &second],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, [1, 2]);
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM bss.events_as_of($2::text::timestamptz, $3, 1000000) WHERE stream_id = $1",
            &[&stream, &second, &head],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
}

#[test]
fn projections_equal_aggregate_at_the_head_under_concurrent_appenders_and_after_rebuild() {
    let cat = unique("ttproj");
    let name = format!("{cat}_view");
    let streams: Vec<String> = (0..8).map(|i| format!("{cat}-{i}")).collect();
    let mut c = session();
    // Some history before the projection exists.
    for s in &streams {
        c.execute(
            "SELECT bss.append_event($1, 'tt.opened', '{\"amount\": 10}')",
            &[s],
        )
        .unwrap();
    }
    thread::scope(|scope| {
        for w in 0..4u64 {
            let streams = &streams;
            scope.spawn(move || {
                let mut c = session();
                let mut rng = Rng::new(w + 1);
                for i in 0..150u64 {
                    let s = &streams[rng.below(streams.len() as u64) as usize];
                    let data = json!({"amount": rng.below(50) as i64 - 20, format!("w{w}"): i});
                    c.execute(
                        "SELECT bss.append_event($1, 'tt.changed', $2::text::jsonb)",
                        &[s, &data.to_string()],
                    )
                    .unwrap();
                }
            });
        }
        // Created while the appenders run: nothing may fall between the
        // replay and the first inline update.
        thread::sleep(std::time::Duration::from_millis(100));
        let mut c = session();
        c.execute("SELECT bss.create_projection($1, $2)", &[&name, &cat])
            .unwrap();
        thread::sleep(std::time::Duration::from_millis(100));
        c.execute("SELECT bss.rebuild_projection($1)", &[&name])
            .unwrap();
    });
    let check = |c: &mut Client, what: &str| {
        for s in &streams {
            let row = c
                .query_one(
                    &format!(
                        "SELECT p.state::text, p.version, bss.aggregate($1)::text, bss.stream_version($1) \
                         FROM bss_projection.{name} p WHERE p.stream_id = $1"
                    ),
                    &[s],
                )
                .unwrap_or_else(|e| panic!("{what}: no projection row for {s}: {e}"));
            let (state, version): (String, i64) = (row.get(0), row.get(1));
            let (head, head_version): (String, i64) = (row.get(2), row.get(3));
            let parse = |t: &str| normalized(&serde_json::from_str(t).unwrap());
            assert_eq!(parse(&state), parse(&head), "{what}: state of {s}");
            assert_eq!(version, head_version, "{what}: version of {s}");
        }
    };
    check(&mut c, "after concurrent appends");
    // A reducer for the category: the projection (following it) is rebuilt.
    c.execute(
        "SELECT bss.register_reducer($1, 'bss.reduce_balance(jsonb, bss.events)')",
        &[&cat],
    )
    .unwrap();
    check(&mut c, "after the reducer changed");
    c.execute("SELECT bss.rebuild_projection($1)", &[&name])
        .unwrap();
    check(&mut c, "after rebuild_projection");
}

#[test]
fn bad_input_is_refused_with_its_sqlstate_and_leaves_nothing_behind() {
    let mut c = session();
    let cat = unique("ttbad");
    let code = |c: &mut Client, sql: &str| -> String {
        let err = c.batch_execute(sql).expect_err(sql);
        sqlstate(&err).unwrap_or_else(|| panic!("{sql}: {err}"))
    };
    assert_eq!(
        code(&mut c, "SELECT bss.aggregate('nosuchstream-1')"),
        "XB010"
    );
    assert_eq!(
        code(&mut c, "SELECT bss.stream_at('nosuchstream-1', now())"),
        "XB010"
    );
    assert_eq!(
        code(
            &mut c,
            "SELECT bss.rebuild_projection('no_such_projection')"
        ),
        "XB012"
    );
    assert_eq!(
        code(
            &mut c,
            &format!("SELECT bss.register_reducer('{cat}', 'jsonb_typeof(jsonb)')")
        ),
        "XB011"
    );
    assert_eq!(
        code(
            &mut c,
            &format!("SELECT bss.create_projection('Bad Name', '{cat}')")
        ),
        "XB009"
    );
    assert_eq!(
        code(
            &mut c,
            &format!("SELECT bss.set_snapshot_policy('{cat}', 0)")
        ),
        "XB009"
    );
    assert_eq!(
        code(&mut c, "SELECT bss.set_snapshot_policy('a-b', 5)"),
        "XB009"
    );
    c.batch_execute(&format!(
        "CREATE FUNCTION public.{cat}_strict(s jsonb, e bss.events) RETURNS jsonb LANGUAGE sql STRICT AS 'SELECT s'; \
         CREATE FUNCTION public.{cat}_boom(s jsonb, e bss.events) RETURNS jsonb LANGUAGE plpgsql AS \
         $$ BEGIN IF e.stream_version = 2 THEN RAISE EXCEPTION 'no' USING ERRCODE = '22012'; END IF; RETURN s; END $$;"
    ))
    .unwrap();
    assert_eq!(
        code(
            &mut c,
            &format!(
                "SELECT bss.register_reducer('{cat}', 'public.{cat}_strict(jsonb, bss.events)')"
            )
        ),
        "XB011"
    );
    // A reducer that raises: its error, naming reducer, stream and version.
    let stream = format!("{cat}-1");
    c.execute("SELECT bss.append_event($1, 't', '{}')", &[&stream])
        .unwrap();
    c.execute("SELECT bss.append_event($1, 't', '{}')", &[&stream])
        .unwrap();
    c.execute(
        &format!("SELECT bss.register_reducer($1, 'public.{cat}_boom(jsonb, bss.events)')"),
        &[&cat],
    )
    .unwrap();
    let err = c
        .query_one("SELECT bss.aggregate($1)", &[&stream])
        .unwrap_err();
    let db = err.as_db_error().expect("a database error");
    assert_eq!(db.code().code(), "22012");
    let detail = db.detail().unwrap_or("");
    assert!(
        detail.contains(&format!("{cat}_boom"))
            && detail.contains("version 2")
            && detail.contains(&stream),
        "detail does not name reducer, version and stream: {detail}"
    );
    // A projection whose reducer raises: the append fails and stores nothing.
    c.execute("SELECT bss.register_reducer($1, NULL)", &[&cat])
        .unwrap();
    c.execute(
        &format!("SELECT bss.create_projection($1, $2, 'public.{cat}_boom(jsonb, bss.events)')"),
        &[&format!("{cat}_p"), &format!("{cat}x")],
    )
    .unwrap();
    let other = format!("{cat}x-1");
    c.execute("SELECT bss.append_event($1, 't', '{}')", &[&other])
        .unwrap();
    assert_eq!(
        code(
            &mut c,
            &format!("SELECT bss.append_event('{other}', 't', '{{}}')")
        ),
        "22012"
    );
    let v: i64 = c
        .query_one("SELECT bss.stream_version($1)", &[&other])
        .unwrap()
        .get(0);
    assert_eq!(v, 1, "the failed append stored nothing");
}
