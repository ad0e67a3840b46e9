//! The standby gate: with a synchronous standby configured, a transaction
//! whose commit the standby has not flushed (its client still waits) is
//! decoded but not delivered; it is once the standby has it. The
//! standby is `pg_receivewal --synchronous`, which flushes and reports
//! what it receives as a standby does; the devdb is made to wait for it
//! for the length of the test (and put back on any exit).

use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::support::*;
use bss_tests::process::ChildGuard;
use bss_tests::redis_server::RedisServer;

const STANDBY: &str = "bss_gate_standby";

/// The devdb waits for STANDBY while this lives.
struct SynchronousStandby {
    receiver: ChildGuard,
    _dir: tempfile::TempDir,
}

impl SynchronousStandby {
    fn start() -> SynchronousStandby {
        let url = tokio_postgres::Config::from_str(&bss_tests::database_url()).unwrap();
        let host = match &url.get_hosts()[0] {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            other => panic!("the devdb is on TCP, not {other:?}"),
        };
        let dir = tempfile::tempdir().unwrap();
        let receiver = Command::new("/usr/lib/postgresql/15/bin/pg_receivewal")
            .args(["--synchronous", "--no-password", "--no-loop", "-D"])
            .arg(dir.path())
            .args(["-h", &host, "-p", &url.get_ports()[0].to_string()])
            .args(["-U", url.get_user().unwrap()])
            .env("PGAPPNAME", STANDBY)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn pg_receivewal");
        let standby = SynchronousStandby {
            receiver: ChildGuard::new("pg_receivewal", receiver),
            _dir: dir,
        };
        let mut db = bss_tests::session();
        wait_for_standby(&mut db, "state = 'streaming'", "streaming");
        db.batch_execute(&format!(
            "ALTER SYSTEM SET synchronous_standby_names = '{STANDBY}'"
        ))
        .unwrap();
        db.batch_execute("SELECT pg_reload_conf()").unwrap();
        wait_for_standby(&mut db, "sync_state = 'sync'", "synchronous");
        standby
    }

    fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([signal, &self.receiver.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {signal} pg_receivewal");
    }
}

impl Drop for SynchronousStandby {
    fn drop(&mut self) {
        // Never leave the devdb waiting for a standby that is gone: every
        // later commit would hang.
        if let Ok(mut db) = std::panic::catch_unwind(bss_tests::session) {
            let _ = db.batch_execute("ALTER SYSTEM RESET synchronous_standby_names");
            let _ = db.batch_execute("SELECT pg_reload_conf()");
        }
        self.signal("-CONT");
    }
}

fn redis_version(redis: &mut redis::Connection, stream: &str) -> Option<i64> {
    redis::cmd("HGET")
        .arg(format!("bss:agg:{stream}"))
        .arg("version")
        .query(redis)
        .unwrap()
}

#[test]
fn a_commit_the_synchronous_standby_lacks_is_held_until_it_has_it() {
    let standby = SynchronousStandby::start();
    let redis_server = RedisServer::start();
    let mut redis = redis::Client::open(redis_server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let slot = Slot::new("gate");
    let spool = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start(&SidecarArgs {
        spool_dir: &spool.path().join("spool"),
        slot: &slot.name,
        kafka_brokers: None,
        redis_url: Some(&redis_server.url()),
        spool_max_events: None,
        config: None,
    });
    let stream = format!("{}-1", bss_tests::unique("gate").replace(['-', '_'], ""));
    let mut db = bss_tests::session();

    // With the standby keeping up, events go through.
    append_range(&mut db, &stream, 1, 10);
    sidecar.wait_until(
        Duration::from_secs(30),
        Duration::from_millis(100),
        |_| format!("{stream} not at version 10 in Redis"),
        |_| redis_version(&mut redis, &stream) == Some(10),
    );

    // The standby stops: the next commit is flushed on the devdb and
    // decoded, while its client waits for the standby.
    standby.signal("-STOP");
    let waiting = {
        let stream = stream.clone();
        std::thread::spawn(move || append_range(&mut bss_tests::session(), &stream, 11, 15))
    };
    sidecar.wait_until(
        Duration::from_secs(30),
        Duration::from_millis(100),
        |s| {
            format!(
                "the sidecar holds {:?} events, want 5",
                s.metric("bss_sidecar_source_held_events")
            )
        },
        |s| s.metric("bss_sidecar_source_held_events") == Some(5.0),
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !waiting.is_finished(),
        "the append returned without the standby"
    );
    assert_eq!(
        redis_version(&mut redis, &stream),
        Some(10),
        "events the standby lacks reached Redis"
    );

    // The standby catches up: the client gets its commit, and Redis the events.
    standby.signal("-CONT");
    waiting.join().unwrap();
    sidecar.wait_until(
        Duration::from_secs(30),
        Duration::from_millis(100),
        |_| format!("{stream} not at version 15 in Redis"),
        |_| redis_version(&mut redis, &stream) == Some(15),
    );
    sidecar.wait_for_metric(
        "bss_sidecar_source_held_events",
        0.0,
        Duration::from_secs(10),
        "after the standby caught up",
    );
    drop(standby);
    assert!(sidecar.stop().success());
}

/// Waits up to 20 s for pg_stat_replication to show the standby with
/// `condition` (SQL on its row), named `what` when it does not.
fn wait_for_standby(db: &mut postgres::Client, condition: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let query =
        format!("SELECT 1 FROM pg_stat_replication WHERE application_name = $1 AND {condition}");
    while db.query_opt(&query, &[&STANDBY]).unwrap().is_none() {
        assert!(Instant::now() < deadline, "{STANDBY} not {what} after 20 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}
