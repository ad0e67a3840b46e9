//! The spool on a filesystem that fills up and is freed again (the chaos
//! suite's spool-disk-full scenario, at the spool's level): appends and
//! syncs fail while it is full, nothing durable is lost or renumbered, the
//! source resumes from the slot as often as it takes, and once there is
//! room every transaction ends up in the spool once, in commit order, with
//! the sinks' cursors where they were. Mounts a small tmpfs: needs root.

use std::path::Path;
use std::process::Command;

use bss_sidecar::event::{example, Event};
use bss_sidecar::spool::{AdvanceError, Spool};

/// A tmpfs mounted on a temporary directory, unmounted when dropped (also
/// when the test fails).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        // SAFETY: geteuid only reads the process's credentials.
        let euid = unsafe { libc::geteuid() };
        assert_eq!(
            euid, 0,
            "this test mounts a tmpfs to fill it up, which needs root (CI runs it as root); \
             run it as root"
        );
        let dir = tempfile::tempdir().expect("a temporary directory");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("running mount");
        assert!(
            status.success(),
            "mount -t tmpfs on {:?} failed",
            dir.path()
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
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
    let fs = Tmpfs::mount("20m");
    // About 6 MiB stay free: the log zeroes 4 MiB ahead of its data at a
    // time, so the second step does not fit.
    let filler = fs.path().join("filler");
    std::fs::write(&filler, vec![1u8; 14 << 20]).expect("writing the filler");
    let spool = Spool::open(&fs.path().join("spool"), 1 << 30).expect("opening the spool");
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
    let spool = Spool::open(&fs.path().join("spool"), 1 << 30).unwrap();
    assert_eq!(spool.register("a").unwrap(), 10);
    assert_eq!(read_all(&spool).len(), want.len());
}
