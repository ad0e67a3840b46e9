//! `read_all` never skips a committed event: positions are taken before commit,
//! so a reader must not move past a position an open transaction still holds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bss_tests::*;

fn position_of(c: &mut Client, stream: &str) -> i64 {
    c.query_one(
        "SELECT global_position FROM bss.events WHERE stream_id = $1 AND stream_version = 1",
        &[&stream],
    )
    .unwrap()
    .get(0)
}

#[test]
fn read_all_holds_back_a_later_commit_until_the_earlier_position_commits() {
    let (mut a, mut b, mut reader) = (session(), session(), session());
    let start = head_position(&mut reader);
    let (sa, sb) = (unique("gapa-"), unique("gapb-"));

    a.batch_execute("BEGIN").unwrap();
    append(&mut a, &sa).unwrap();
    let pa = position_of(&mut a, &sa);
    append(&mut b, &sb).unwrap(); // commits, with a larger position
    let pb = position_of(&mut b, &sb);
    assert!(pb > pa, "the second append took the larger position");

    let seen = read_all_positions(&mut reader, start, 1000);
    assert!(
        !seen.contains(&pb),
        "read_all returned position {pb} while {pa} was still open: {seen:?}"
    );

    a.batch_execute("COMMIT").unwrap();
    let seen = read_all_positions(&mut reader, start, 1000);
    let ia = seen
        .iter()
        .position(|p| *p == pa)
        .expect("the earlier position appears after its commit");
    let ib = seen
        .iter()
        .position(|p| *p == pb)
        .expect("the later position appears too");
    assert!(ia < ib, "positions come in order: {seen:?}");
}

#[test]
fn read_all_moves_on_once_the_earlier_transaction_rolls_back() {
    let (mut a, mut b, mut reader) = (session(), session(), session());
    let start = head_position(&mut reader);
    let (sa, sb) = (unique("gapra-"), unique("gaprb-"));

    a.batch_execute("BEGIN").unwrap();
    append(&mut a, &sa).unwrap();
    append(&mut b, &sb).unwrap();
    let pb = position_of(&mut b, &sb);
    assert!(!read_all_positions(&mut reader, start, 1000).contains(&pb));
    a.batch_execute("ROLLBACK").unwrap();
    assert!(read_all_positions(&mut reader, start, 1000).contains(&pb));
}

/// Writers commit and roll back in random order while a reader follows the
/// store page by page. The reader must end with exactly the committed events
/// since it started, each once, in increasing position order.
#[test]
fn concurrent_readers_see_a_prefix_that_only_grows() {
    const WRITERS: u64 = 4;
    const TRANSACTIONS: u64 = 120;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut setup = session();
    let start = head_position(&mut setup);
    let prefix = unique("prefix-");
    let done = Arc::new(AtomicBool::new(false));

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let prefix = prefix.clone();
            thread::spawn(move || {
                let mut c = session();
                let mut rng = Rng::new(0x9E37_79B9 + w);
                for t in 0..TRANSACTIONS {
                    c.batch_execute("BEGIN").unwrap();
                    for _ in 0..=rng.below(2) {
                        append(&mut c, &format!("{prefix}-{w}-{}", rng.below(5))).unwrap();
                        thread::sleep(Duration::from_micros(rng.below(3000)));
                    }
                    c.batch_execute(if t % 7 == 3 { "ROLLBACK" } else { "COMMIT" })
                        .unwrap();
                }
            })
        })
        .collect();

    let reader = {
        let done = done.clone();
        thread::spawn(move || {
            let mut c = session();
            let mut cursor = start;
            let mut seen = Vec::new();
            loop {
                let finished = done.load(Ordering::SeqCst);
                let page = read_all_positions(&mut c, cursor, 50);
                for p in &page {
                    assert!(*p > cursor, "read_all went back: {p} after {cursor}");
                    cursor = *p;
                }
                seen.extend(page.iter().copied());
                if finished && page.is_empty() {
                    return seen;
                }
                assert!(Instant::now() < deadline, "reader did not catch up in time");
                thread::sleep(Duration::from_millis(1));
            }
        })
    };

    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let seen = reader.join().unwrap();

    let committed: Vec<i64> = setup
        .query(
            "SELECT global_position FROM bss.events WHERE global_position > $1 ORDER BY 1",
            &[&start],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let ours = setup
        .query_one(
            "SELECT count(*) FROM bss.events WHERE stream_id LIKE $1 || '%'",
            &[&prefix],
        )
        .unwrap()
        .get::<_, i64>(0);
    assert!(ours > 0, "the writers committed something");
    assert_eq!(
        seen, committed,
        "the reader saw every committed event exactly once, in order"
    );
}
