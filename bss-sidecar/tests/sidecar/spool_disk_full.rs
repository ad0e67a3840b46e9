//! The spool on a filesystem that fills up and is freed again (the chaos
//! suite's spool-disk-full scenario): appends and syncs fail while it is
//! full, nothing durable is lost or renumbered, the source resumes from the
//! slot as often as it takes, and once there is room every transaction
//! ends up in the spool once, in commit order, with the sinks' cursors
//! where they were; through the real pipeline, every event reaches Kafka
//! and Redis once, in order, and the sidecar never exits. Mounts a small
//! tmpfs: needs root.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;
use bss_sidecar::event::{example, Event};
use bss_sidecar::spool::{AdvanceError, Spool};
use bss_tests::broker::Broker;
use bss_tests::redis_server::RedisServer;

/// A tmpfs mounted on a directory, unmounted when dropped (also when the
/// test fails).
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount_on(path: &Path, size: &str) -> Tmpfs {
        // SAFETY: geteuid only reads the process's credentials.
        let euid = unsafe { libc::geteuid() };
        assert_eq!(
            euid, 0,
            "this test mounts a tmpfs to fill it up, which needs root (CI runs it as root); \
             run it as root"
        );
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .expect("running mount");
        assert!(status.success(), "mount -t tmpfs on {path:?} failed");
        Tmpfs {
            path: path.to_owned(),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Something still holds a file there: detach it anyway.
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

/// Writes `path` until the filesystem is full; returns the bytes written.
fn fill(path: &Path) -> u64 {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("creating the filler");
    let chunk = vec![1u8; 64 << 10];
    let mut written = 0;
    loop {
        match f.write(&chunk) {
            Ok(0) => return written,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => return written,
            Err(e) => panic!("filling {path:?}: {e}"),
        }
    }
}

/// Transactions as PostgreSQL sends them from the slot: commit LSNs
/// rising, 1 to 60 events of about 4 KiB each (about 10 MiB in all), so
/// the spool's 1 MiB writes cut some of them in two.
fn slot() -> Vec<Vec<Event>> {
    (0..80u64)
        .map(|t| {
            let n = 1 + (t * 37 % 60) as usize;
            (0..n)
                .map(|i| {
                    let mut e = example(&format!("customer-{t}"), i as i64 + 1);
                    e.commit_lsn = 1_000 + 100 * t;
                    e.txn_index = i as u32;
                    e.data = format!(r#"{{"pad":"{}"}}"#, "x".repeat(4_000));
                    e
                })
                .collect()
        })
        .collect()
}

/// What a replication session does: resume where the spool says, take the
/// slot's transactions from there (skipping what the spool holds), sync
/// every 4 transactions. Returns the first error, as the source's session.
fn session(spool: &Spool, slot: &[Vec<Event>], cut_short: &mut usize) -> anyhow::Result<()> {
    let resume = spool.resume()?;
    if resume.events > 0 {
        let newest = slot
            .iter()
            .find(|t| t[0].commit_lsn == resume.commit_lsn)
            .expect("the spool's newest transaction comes from the slot");
        if (resume.events as usize) < newest.len() {
            *cut_short += 1;
        }
    }
    let mut unsynced = 0;
    for t in slot.iter().filter(|t| t[0].commit_lsn > resume.start_lsn) {
        let spooled = resume.spooled(t[0].commit_lsn).min(t.len() as u64) as usize;
        if spooled == t.len() {
            continue;
        }
        spool.append(t[spooled..].to_vec())?;
        unsynced += 1;
        if unsynced == 4 {
            spool.sync()?;
            unsynced = 0;
        }
    }
    spool.sync()
}

/// Every durable record, as (seq, commit LSN, index in its transaction).
fn read_all(spool: &Spool) -> Vec<(u64, u64, u32)> {
    let mut out: Vec<(u64, u64, u32)> = Vec::new();
    loop {
        let batch = spool
            .read(out.len() as u64, 1_000)
            .expect("reading the spool");
        if batch.is_empty() {
            return out;
        }
        out.extend(
            batch
                .iter()
                .map(|s| (s.seq, s.event.commit_lsn, s.event.txn_index)),
        );
    }
}

#[test]
fn a_spool_whose_disk_fills_up_loses_nothing_and_resumes_once_there_is_room() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let _fs = Tmpfs::mount_on(dir.path(), "20m");
    // About 6 MiB stay free: the log zeroes 4 MiB ahead of its data at a
    // time, so the second step does not fit.
    let filler = dir.path().join("filler");
    std::fs::write(&filler, vec![1u8; 14 << 20]).expect("writing the filler");
    let spool = Spool::open(&dir.path().join("spool"), 1 << 30).expect("opening the spool");
    assert_eq!(spool.register("a").unwrap(), 0);
    let slot = slot();
    let mut cut_short = 0;

    // Fills up: a session fails with the disk's error.
    let err = session(&spool, &slot, &mut cut_short).expect_err("the disk is full");
    assert!(format!("{err:#}").contains("No space left"), "{err:#}");
    let durable_before = read_all(&spool);
    assert!(
        !durable_before.is_empty(),
        "some records were durable before"
    );

    // While it stays full: each session fails again, the sinks still read
    // every durable record, a cursor that cannot be saved stays put.
    for _ in 0..3 {
        assert!(session(&spool, &slot, &mut cut_short).is_err());
        let now = read_all(&spool);
        assert_eq!(
            now[..durable_before.len()],
            durable_before[..],
            "a durable seq names the same event"
        );
    }
    match spool.advance("a", 10) {
        Err(AdvanceError::Save { .. }) => {}
        other => panic!("a cursor save on a full disk: {other:?}"),
    }
    let depth_full = spool.depth();
    assert_eq!(
        depth_full,
        spool.next_seq(),
        "the cursor did not move: every record still counts"
    );

    // Room again: the next session spools the rest.
    std::fs::remove_file(&filler).expect("removing the filler");
    session(&spool, &slot, &mut cut_short).expect("a session with room");
    assert!(spool.reopens() >= 1, "the failed log was reopened");
    assert!(
        cut_short >= 1,
        "some session resumed in a transaction the full disk cut in two (the case this pins)"
    );

    let got = read_all(&spool);
    let want: Vec<(u64, u64, u32)> = slot
        .iter()
        .flatten()
        .zip(0..)
        .map(|(e, seq)| (seq, e.commit_lsn, e.txn_index))
        .collect();
    assert_eq!(got.len(), want.len(), "every event once");
    assert_eq!(got, want, "in commit order, seqs without gaps");
    assert_eq!(got[..durable_before.len()], durable_before[..]);

    // The cursor moves now, and a restart finds it there.
    spool.advance("a", 10).expect("a cursor save with room");
    assert!(spool.advance("a", 9).is_err(), "cursor moved back");
    drop(spool);
    let spool = Spool::open(&dir.path().join("spool"), 1 << 30).unwrap();
    assert_eq!(spool.register("a").unwrap(), 10);
    assert_eq!(read_all(&spool).len(), want.len());
}

#[test]
fn a_sink_that_reopens_the_failed_log_makes_the_sources_unsynced_appends_fail_not_vanish() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let _fs = Tmpfs::mount_on(dir.path(), "16m");
    let spool_dir = dir.path().join("spool");
    let slot = slot();
    let synced: usize = slot[..3].iter().map(Vec::len).sum();
    {
        let spool = Spool::open(&spool_dir, 1 << 30).unwrap();
        for t in &slot[..3] {
            spool.append(t.clone()).unwrap();
        }
        spool.sync().unwrap();
    }
    // A new process: nothing decoded in memory, sinks read the log.
    let spool = Spool::open(&spool_dir, 1 << 30).unwrap();
    assert_eq!(spool.register("a").unwrap(), 0);
    fill(&dir.path().join("filler"));
    let resume = spool.resume().expect("nothing to write");
    assert_eq!(resume.start_lsn, slot[1][0].commit_lsn, "before the newest");

    // The source's next transaction waits in the log's buffer...
    spool
        .append(slot[3].clone())
        .expect("buffered, not written yet");
    // ...which a sink's read of the log flushes into the full disk: the
    // log fails, and the sink reopens it and reads what is durable.
    let got = spool.read(0, 1_000).expect("the sink reads");
    assert_eq!(got.len(), synced);
    assert_eq!(spool.reopens(), 1);
    // What the source appended may be gone: its sync must not say durable.
    let err = spool
        .sync()
        .expect_err("appends to a log reopened under the source");
    assert!(format!("{err:#}").contains("reopened"), "{err:#}");
    assert!(spool.append(slot[4].clone()).is_err());

    // Room again: the source resumes from the spool, and sends the rest.
    std::fs::remove_file(dir.path().join("filler")).unwrap();
    let mut cut_short = 0;
    session(&spool, &slot[..10], &mut cut_short).expect("a session with room");
    let want: Vec<(u64, u64, u32)> = slot[..10]
        .iter()
        .flatten()
        .zip(0..)
        .map(|(e, seq)| (seq, e.commit_lsn, e.txn_index))
        .collect();
    assert_eq!(read_all(&spool), want);
}

const STREAMS: usize = 100;
const VERSIONS: i64 = 100;
const ROUNDS: i64 = 20;

#[test]
fn a_sidecar_whose_spool_disk_fills_up_delivers_every_event_once_in_order_and_never_exits() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let spool_dir = dir.path().join("spool");
    std::fs::create_dir(&spool_dir).unwrap();
    // Only the spool on the tmpfs: the sidecar's log (spool.log) stays
    // beside it, readable while the spool's disk is full.
    let _fs = Tmpfs::mount_on(&spool_dir, "32m");
    let broker = Broker::start();
    let redis_server = RedisServer::start();
    let slot = Slot::new("diskfull");
    let category = bss_tests::unique("diskfull").replace(['-', '_'], "");
    let streams: Vec<String> = (0..STREAMS).map(|i| format!("{category}-{i}")).collect();
    let brokers = broker.bootstrap();
    let redis_url = redis_server.url();
    // The anomaly stage too, as the chaos suite runs it: its state file,
    // saved every second, is on the full disk as well.
    let config = dir.path().join("sidecar.toml");
    std::fs::write(&config, limit_detector(&category)).unwrap();
    let args = SidecarArgs {
        spool_dir: &spool_dir,
        slot: &slot.name,
        kafka_brokers: Some(&brokers),
        redis_url: Some(&redis_url),
        spool_max_events: None,
        config: Some(&config),
    };
    let mut sidecar = Sidecar::start(&args);
    let filler = spool_dir.join("filler");
    let filled = fill(&filler);
    eprintln!("filler: {} MiB", filled >> 20);

    std::thread::scope(|s| {
        let load = s.spawn(|| {
            let mut c = bss_tests::session();
            let per_round = VERSIONS / ROUNDS;
            for round in 0..ROUNDS {
                let from = round * per_round + 1;
                for stream in &streams {
                    append_range(&mut c, stream, from, from + per_round - 1);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        sidecar.wait_until(
            Duration::from_secs(60),
            Duration::from_millis(100),
            |_| "the spool never hit the full disk".into(),
            |s| {
                std::fs::read_to_string(&s.log)
                    .unwrap_or_default()
                    .contains("No space left on device")
            },
        );
        // Full for a while: sessions fail, and are retried with backoff.
        std::thread::sleep(Duration::from_secs(5));
        assert!(
            sidecar.wait_exit(Duration::ZERO).is_none(),
            "the sidecar exited on a full spool disk; its log:\n{}",
            sidecar.log_tail()
        );
        std::fs::remove_file(&filler).expect("removing the filler");
        load.join().expect("the load");
    });

    let total = STREAMS * VERSIONS as usize;
    let mut redis = redis::Client::open(redis_url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let key = format!("bss:events:{category}");
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let len: usize = redis::cmd("XLEN").arg(&key).query(&mut redis).unwrap();
        if len >= total {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{len} of {total} events in Redis after the disk was freed; sidecar log:\n{}",
            sidecar.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Redis: each event once (an entry not above the last one is dropped,
    // so an event spooled out of commit order would be missing), each
    // stream's versions in order, global positions rising (one writer).
    type Entry = (String, BTreeMap<String, String>);
    let entries: Vec<Entry> = redis::cmd("XRANGE")
        .arg(&key)
        .arg("-")
        .arg("+")
        .query(&mut redis)
        .unwrap();
    assert_eq!(entries.len(), total, "Redis stream entries");
    let mut versions: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    let mut last_position = 0i64;
    for (_, fields) in &entries {
        let position: i64 = fields["global_position"].parse().unwrap();
        assert!(position > last_position, "global positions out of order");
        last_position = position;
        versions
            .entry(fields["stream_id"].as_str())
            .or_default()
            .push(fields["version"].parse().unwrap());
    }
    let expected: Vec<i64> = (1..=VERSIONS).collect();
    assert_eq!(versions.len(), STREAMS);
    for (stream, vs) in &versions {
        assert_eq!(vs, &expected, "versions of {stream} in Redis");
    }

    // Kafka: every event, first copies in version order, and no copies.
    let msgs = kafka_dump_with(
        &brokers,
        &[format!("bss.{category}")],
        total,
        Duration::from_secs(180),
        Some(Duration::from_secs(3)),
    );
    let mut first_order: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for m in &msgs {
        let key = m.key.clone().unwrap();
        let v: i64 = m.headers["bss_stream_version"]
            .clone()
            .unwrap()
            .parse()
            .unwrap();
        if seen.insert((key.clone(), v)) {
            first_order.entry(key).or_default().push(v);
        }
    }
    assert_eq!(seen.len(), total, "events missing from Kafka");
    for (stream, vs) in &first_order {
        assert_eq!(vs, &expected, "first copies of {stream} in Kafka");
    }
    assert_eq!(msgs.len(), total, "duplicates in Kafka");

    // Every consumer, the stage included, passed every record (the gauge
    // is refreshed at each sink acknowledgement and source sync).
    sidecar.wait_for_metric(
        "bss_sidecar_spool_depth_events",
        0.0,
        Duration::from_secs(60),
        "a minute after every event arrived",
    );

    let reopens = sidecar.metric("bss_sidecar_spool_reopens_total");
    let log = std::fs::read_to_string(&sidecar.log).unwrap_or_default();
    eprintln!(
        "{reopens:?} reopens, {} failed sessions; the first of them:\n{}",
        log.matches("replication source failed").count(),
        log.lines()
            .filter(|l| l.contains("WARN") || l.contains("reopened"))
            .take(12)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        reopens.is_some_and(|n| n >= 1.0),
        "bss_sidecar_spool_reopens_total = {reopens:?}"
    );
    let status = sidecar.stop();
    assert!(
        status.success(),
        "sidecar exit status after SIGTERM: {status}"
    );
}
