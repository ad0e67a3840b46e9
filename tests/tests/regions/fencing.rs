//! Fencing: with bss.region_fencing on, a region appends to the streams it
//! owns only under a lease from its region keeper, valid for this server
//! start and until it runs out; forwarded appends get the owner's refusal;
//! replication goes on. bss-region-keeper grants the lease once the other
//! region answers and this region has applied every epoch it knows.

use std::process::Command;

use bss_tests::unique;
use serde_json::json;

use super::{
    append, converged, cut, failure, heal, regions, restore_homes, served_by, stream, wait_for,
    Region,
};

/// Turns bss.region_fencing on or off in `r` (postgresql.auto.conf and a
/// reload) and waits until `r`'s session sees it.
fn set_fencing(r: &mut Region, on: bool) {
    let change = if on {
        "ALTER SYSTEM SET bss.region_fencing = on"
    } else {
        "ALTER SYSTEM RESET bss.region_fencing"
    };
    r.db.batch_execute(change).unwrap();
    r.db.batch_execute("SELECT pg_reload_conf()").unwrap();
    let want = if on { "on" } else { "off" };
    wait_for("bss.region_fencing reloaded", 10, || {
        let now: String =
            r.db.query_one("SELECT current_setting('bss.region_fencing')", &[])
                .unwrap()
                .get(0);
        now == want
    });
}

/// Turns bss.region_fencing off again in the region at `url` when dropped,
/// so that a failing test does not leave the others a fenced region.
struct FencingOffAtEnd(String);

impl Drop for FencingOffAtEnd {
    fn drop(&mut self) {
        if let Ok(mut db) = bss_tests::Client::connect(&self.0, bss_tests::NoTls) {
            let _ =
                db.batch_execute("ALTER SYSTEM RESET bss.region_fencing; SELECT pg_reload_conf()");
        }
    }
}

fn drop_lease(r: &mut Region) {
    r.db.batch_execute("DELETE FROM bss.region_lease").unwrap();
}

/// bss.stats' region_fenced row as a monitoring role reads it.
fn fenced_stat(r: &mut Region) -> f64 {
    r.db.batch_execute("SET ROLE pg_monitor").unwrap();
    let v = r.db.query_one(
        "SELECT value FROM bss.stats WHERE stat = 'region_fenced' AND key = bss.local_region()",
        &[],
    );
    r.db.batch_execute("RESET ROLE").unwrap();
    v.unwrap().get(0)
}

fn fence_reason(r: &mut Region) -> Option<String> {
    r.db.query_one("SELECT reason FROM bss.region_fence()", &[])
        .unwrap()
        .get(0)
}

/// Runs one round of bss-region-keeper (startup mode) against `r`, which
/// must succeed; what it logged.
fn keeper_round(r: &Region) -> String {
    let bin = std::env::var("BSS_REGION_KEEPER").expect(
        "BSS_REGION_KEEPER (the bss-region-keeper binary) is not set: run make test-regions",
    );
    let url = region_url(&r.name);
    let out = Command::new(&bin)
        .args(["--database-url", &url, "--once"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "bss-region-keeper --once failed: {log}"
    );
    log
}

fn region_url(name: &str) -> String {
    std::env::var("BSS_REGION_URLS")
        .unwrap()
        .split(',')
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")).map(str::to_owned))
        .unwrap()
}

#[test]
fn a_fenced_region_refuses_appends_to_its_own_streams_until_it_has_a_lease_for_this_start() {
    let (mut eu, mut us) = regions();
    let cat = unique("fence");
    let s = format!("{cat}-1");
    append(&mut eu, &s, json!({"n": 1})).unwrap();
    // Appends to cat in us are forwarded to eu, its home.
    for r in [&mut eu, &mut us] {
        r.db.query_one("SELECT bss.set_category_home($1, 'eu', 'forward')", &[&cat])
            .unwrap();
    }
    let _off = FencingOffAtEnd(region_url("eu"));
    set_fencing(&mut eu, true);
    drop_lease(&mut eu);

    let e = append(&mut eu, &s, json!({"n": 2})).unwrap_err();
    let (state, message, hint) = failure(&e);
    assert_eq!(state, "XB020", "{e}");
    assert!(
        message.contains("region \"eu\" is fenced") && message.contains(&s),
        "{message}"
    );
    assert!(hint.contains("bss-region-keeper"), "{hint}");
    let detail = e
        .as_db_error()
        .unwrap()
        .detail()
        .unwrap_or_default()
        .to_owned();
    assert!(detail.contains("no region keeper"), "{detail}");
    // Forwarded from us, the owner's refusal comes back as it is.
    let e = append(&mut us, &s, json!({"n": 2})).unwrap_err();
    assert_eq!(failure(&e).0, "XB020", "{e}");
    assert_eq!(
        stream(&mut eu, &s).len(),
        1,
        "a refused append stored nothing"
    );
    assert_eq!(fenced_stat(&mut eu), 1.0);
    assert_eq!(fenced_stat(&mut us), 0.0);

    // us's own streams: appended in us and replicated into the fenced eu.
    let u = format!("{}-1", unique("free"));
    append(&mut us, &u, json!({"n": 1})).unwrap();
    converged(&mut eu, &mut us, &[&u], Some(1));

    // A lease lets appends through until it runs out.
    eu.db
        .batch_execute(
            "SELECT bss.renew_region_lease(now() + interval '2 seconds', 'test: two seconds')",
        )
        .unwrap();
    assert_eq!(fence_reason(&mut eu), None);
    assert_eq!(fenced_stat(&mut eu), 0.0);
    assert_eq!(append(&mut eu, &s, json!({"n": 2})).unwrap(), 2);
    assert_eq!(append(&mut us, &s, json!({"n": 3})).unwrap(), 3);
    wait_for("the lease running out", 10, || {
        fence_reason(&mut eu).is_some()
    });
    let e = append(&mut eu, &s, json!({"n": 4})).unwrap_err();
    assert_eq!(failure(&e).0, "XB020", "{e}");
    let detail = e
        .as_db_error()
        .unwrap()
        .detail()
        .unwrap_or_default()
        .to_owned();
    assert!(
        detail.contains("ran out") && detail.contains("test: two seconds"),
        "{detail}"
    );

    // A lease given before the server's last start counts for nothing.
    eu.db
        .batch_execute("SELECT bss.renew_region_lease('infinity', 'test: for ever')")
        .unwrap();
    assert_eq!(fence_reason(&mut eu), None);
    eu.db
        .batch_execute(
            "UPDATE bss.region_lease SET postmaster_start = postmaster_start - interval '1 hour'",
        )
        .unwrap();
    assert!(fence_reason(&mut eu).unwrap().contains("restarted"));
    let e = append(&mut eu, &s, json!({"n": 4})).unwrap_err();
    assert_eq!(failure(&e).0, "XB020", "{e}");

    // A lease needs an end and a reason.
    let e = eu
        .db
        .query_one("SELECT bss.renew_region_lease(NULL, 'x')", &[])
        .unwrap_err();
    assert_eq!(failure(&e).0, "XB009", "{e}");

    set_fencing(&mut eu, false);
    assert_eq!(fence_reason(&mut eu), None);
    assert_eq!(append(&mut eu, &s, json!({"n": 4})).unwrap(), 4);
    converged(&mut eu, &mut us, &[&s], Some(4));
}

#[test]
fn the_region_keeper_lifts_the_fence_only_once_this_region_has_every_epoch_the_other_knows() {
    let (mut eu, mut us) = regions();
    let s = format!("{}-1", unique("keep"));
    append(&mut eu, &s, json!({"n": 1})).unwrap();
    let _off = FencingOffAtEnd(region_url("eu"));
    set_fencing(&mut eu, true);
    drop_lease(&mut eu);

    // us decides an epoch eu has not applied (the link is cut): us's
    // streams handed over to eu, decided in us.
    cut(&mut eu, &mut us);
    us.db
        .query_one(
            "SELECT bss.move_region('us', 'eu', 'test: unseen epoch')",
            &[],
        )
        .unwrap();
    let log = keeper_round(&eu);
    assert!(
        fence_reason(&mut eu).is_some(),
        "the keeper gave a lease while us knew an epoch eu lacks: {log}"
    );
    assert_eq!(
        failure(&append(&mut eu, &s, json!({"n": 2})).unwrap_err()).0,
        "XB020"
    );

    heal(&mut eu, &mut us);
    wait_for("eu applying us's epoch", 30, || {
        served_by(&mut eu, "us").0 == "eu"
    });
    let log = keeper_round(&eu);
    assert_eq!(fence_reason(&mut eu), None, "keeper: {log}");
    let reason: String = eu
        .db
        .query_one("SELECT reason FROM bss.region_lease", &[])
        .unwrap()
        .get(0);
    assert!(!reason.is_empty());
    assert_eq!(append(&mut eu, &s, json!({"n": 2})).unwrap(), 2);
    // The keeper's calls were recorded in us, the other region.
    let seen: i64 = us
        .db
        .query_one(
            "SELECT count(*) FROM bss.region_contacts WHERE region = 'eu'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(seen, 1);

    set_fencing(&mut eu, false);
    restore_homes(&mut eu, &mut us);
    converged(&mut eu, &mut us, &[&s], Some(2));
}
