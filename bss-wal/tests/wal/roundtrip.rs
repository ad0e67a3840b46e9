//! Appended records survive sync + reopen, in order, across many segments.

use bss_wal::{Log, Options, TypedLog};

/// Small so that a thousand records span many segments.
const SEGMENT_SIZE: u64 = 4096;
const RECORDS: u64 = 1000;

fn payload(seq: u64) -> Vec<u8> {
    let len = (seq * 37 % 150) as usize;
    (0..len)
        .map(|i| (seq as u8).wrapping_add(i as u8))
        .collect()
}

fn opts() -> Options {
    Options {
        segment_size: SEGMENT_SIZE,
        ..Options::default()
    }
}

#[test]
fn thousand_records_reopen_in_order() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = Log::open(dir.path(), opts()).unwrap();
        for s in 0..RECORDS {
            assert_eq!(log.append(&payload(s)).unwrap(), s);
        }
        log.sync().unwrap();
    }
    let segs = wal_files(dir.path());
    assert!(segs > 10, "expected many segments, got {segs}");
    let log = Log::open(dir.path(), opts()).unwrap();
    assert_eq!(log.next_seq(), RECORDS);
    let all: Vec<_> = log.iter_from(0).unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(all.len() as u64, RECORDS);
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r.seq(), i as u64);
        assert_eq!(r.payload(), &payload(i as u64)[..]);
    }
    for k in [0, 1, 17, 499, 998, 999] {
        let v: Vec<_> = log.iter_from(k).unwrap().map(|r| r.unwrap()).collect();
        assert_eq!(v.len() as u64, RECORDS - k);
        assert_eq!(v[0].seq(), k);
        assert_eq!(v[0].payload(), &payload(k)[..]);
    }
    assert_eq!(log.iter_from(RECORDS).unwrap().count(), 0);
    assert_eq!(log.iter_from(RECORDS + 50).unwrap().count(), 0);
    assert_eq!(log.append(b"more").unwrap(), RECORDS);
}

#[test]
fn iter_sees_unsynced_appends() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts()).unwrap();
    for s in 0..100 {
        log.append(&payload(s)).unwrap();
    }
    let v: Vec<_> = log
        .iter_from(0)
        .unwrap()
        .map(|r| r.unwrap().seq())
        .collect();
    assert_eq!(v, (0..100).collect::<Vec<_>>());
}

#[test]
fn append_batch_is_contiguous() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts()).unwrap();
    log.append(b"a").unwrap();
    let first = log.append_batch(&[b"b", b"cc", b"ddd"]).unwrap();
    assert_eq!(first, 1);
    assert_eq!(log.next_seq(), 4);
    assert_eq!(log.append_batch(&[]).unwrap(), 4);
    let v: Vec<_> = log
        .iter_from(0)
        .unwrap()
        .map(|r| r.unwrap().into_payload())
        .collect();
    assert_eq!(
        v,
        vec![
            b"a".to_vec(),
            b"b".to_vec(),
            b"cc".to_vec(),
            b"ddd".to_vec()
        ]
    );
}

#[test]
fn oversized_record_rejected_and_large_one_gets_own_segment() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(
        dir.path(),
        Options {
            segment_size: SEGMENT_SIZE,
            max_record_size: 10_000,
        },
    )
    .unwrap();
    assert!(matches!(
        log.append(&vec![1u8; 10_001]),
        Err(bss_wal::Error::RecordTooLarge { .. })
    ));
    log.append(b"x").unwrap();
    log.append(&vec![7u8; 9_000]).unwrap();
    log.append(b"y").unwrap();
    drop(log);
    let log = Log::open(dir.path(), opts_max(10_000)).unwrap();
    let v: Vec<_> = log
        .iter_from(0)
        .unwrap()
        .map(|r| r.unwrap().into_payload())
        .collect();
    assert_eq!(v, vec![b"x".to_vec(), vec![7u8; 9_000], b"y".to_vec()]);
}

fn opts_max(max: u32) -> Options {
    Options {
        segment_size: SEGMENT_SIZE,
        max_record_size: max,
    }
}

#[test]
fn typed_log_roundtrip() {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Ev {
        id: u32,
        name: String,
    }
    let dir = tempfile::tempdir().unwrap();
    {
        let log: TypedLog<Ev> = TypedLog::open(dir.path(), opts()).unwrap();
        for id in 0..50 {
            log.append(&Ev {
                id,
                name: format!("ev{id}"),
            })
            .unwrap();
        }
        log.sync().unwrap();
    }
    let log: TypedLog<Ev> = TypedLog::open(dir.path(), opts()).unwrap();
    let v: Vec<_> = log.iter_from(10).unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(v.len(), 40);
    assert_eq!(
        v[0],
        (
            10,
            Ev {
                id: 10,
                name: "ev10".into()
            }
        )
    );
}

fn wal_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "wal")
        })
        .count()
}

#[test]
fn truncate_before_drops_whole_segments_only() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts()).unwrap();
    for s in 0..RECORDS {
        log.append(&payload(s)).unwrap();
    }
    let before = wal_files(dir.path());
    log.truncate_before(500).unwrap();
    let after = wal_files(dir.path());
    assert!(after < before);
    let v: Vec<_> = log.iter_from(0).unwrap().map(|r| r.unwrap()).collect();
    let first = v[0].seq();
    assert!(first <= 500 && first > 0);
    for (i, r) in v.iter().enumerate() {
        assert_eq!(r.seq(), first + i as u64);
        assert_eq!(r.payload(), &payload(r.seq())[..]);
    }
    log.truncate_before(u64::MAX).unwrap();
    assert_eq!(wal_files(dir.path()), 1);
    drop(log);
    let log = Log::open(dir.path(), opts()).unwrap();
    assert_eq!(log.next_seq(), RECORDS);
    assert_eq!(log.append(b"z").unwrap(), RECORDS);
}

#[test]
fn a_directory_has_one_open_log_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts()).unwrap();
    log.append(b"first").unwrap();
    match Log::open(dir.path(), opts()) {
        Err(bss_wal::Error::Locked(d)) => assert_eq!(d, dir.path()),
        Err(e) => panic!("expected Locked, got {e}"),
        Ok(_) => panic!("a second open of a locked directory succeeded"),
    }
    drop(log);
    let log = Log::open(dir.path(), opts()).unwrap();
    assert_eq!(log.next_seq(), 1);
}
