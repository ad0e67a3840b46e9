//! Criterion benchmarks of bss-wal, the figures issue 3 asks for:
//! buffered appends, durable group commit against a write_all + sync_data
//! baseline in the same group sizes, sequential reads, and opening a 1 GiB
//! log. Run with `make bench-wal`; `benches/wal_report.py` turns criterion's
//! output into the README table.
//!
//! Logs live under `BSS_WAL_BENCH_DIR` (default `target/wal-bench`, on the
//! same disk as the build) rather than /tmp, which may be a RAM disk that
//! makes fsync free.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use bss_wal::format::{encode_frame, frame_len};
use bss_wal::{Log, Options, PREALLOCATE_BYTES};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const RECORD: usize = 256;
const WRITERS: usize = 16;
const GIB: u64 = 1024 * 1024 * 1024;

fn bench_root() -> PathBuf {
    let root = std::env::var_os("BSS_WAL_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/wal-bench"));
    std::fs::create_dir_all(&root).unwrap();
    root
}

fn fresh_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(name)
        .tempdir_in(bench_root())
        .unwrap()
}

fn payload(len: usize, salt: u64) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64).wrapping_mul(31).wrapping_add(salt) as u8)
        .collect()
}

/// Appends without sync: the path a sidecar takes between fsyncs.
fn buffered_appends(c: &mut Criterion) {
    let mut g = c.benchmark_group("append_buffered");
    g.throughput(Throughput::Elements(1));
    let p = payload(RECORD, 7);
    g.bench_function(BenchmarkId::from_parameter(format!("{RECORD}B")), |b| {
        b.iter_custom(|iters| {
            // A fresh log per sample keeps the disk footprint bounded.
            let dir = fresh_dir("append");
            let log = Log::open(dir.path(), Options::default()).unwrap();
            let t = Instant::now();
            for _ in 0..iters {
                log.append(&p).unwrap();
            }
            let elapsed = t.elapsed();
            drop(log);
            elapsed
        })
    });
    g.finish();
}

/// Records and fsyncs seen by the bss-wal side of the durable benchmark,
/// so the baseline can use the group size the log actually achieved.
static GROUP_RECORDS: AtomicU64 = AtomicU64::new(0);
static GROUP_FSYNCS: AtomicU64 = AtomicU64::new(0);

fn mean_group_size() -> u64 {
    let fsyncs = GROUP_FSYNCS.load(Ordering::Relaxed).max(1);
    ((GROUP_RECORDS.load(Ordering::Relaxed) as f64 / fsyncs as f64).round() as u64).max(1)
}

/// 16 threads each append a record and wait for it to be durable; one
/// fsync covers whatever the others appended meanwhile.
fn durable_group_commit(c: &mut Criterion) {
    let mut g = c.benchmark_group("append_durable");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    g.bench_function(
        BenchmarkId::new("bss_wal", format!("{WRITERS}_threads")),
        |b| {
            b.iter_custom(|iters| {
                let dir = fresh_dir("durable");
                let log = Arc::new(Log::open(dir.path(), Options::default()).unwrap());
                let per_thread = iters.div_ceil(WRITERS as u64);
                let start = Arc::new(Barrier::new(WRITERS + 1));
                let fsyncs_before = log.stats().fsyncs;
                let handles: Vec<_> = (0..WRITERS)
                    .map(|t| {
                        let log = Arc::clone(&log);
                        let start = Arc::clone(&start);
                        std::thread::spawn(move || {
                            let p = payload(RECORD, t as u64);
                            start.wait();
                            for _ in 0..per_thread {
                                log.append(&p).unwrap();
                                log.sync().unwrap();
                            }
                        })
                    })
                    .collect();
                start.wait();
                let t = Instant::now();
                for h in handles {
                    h.join().unwrap();
                }
                let elapsed = t.elapsed();
                let records = per_thread * WRITERS as u64;
                GROUP_RECORDS.fetch_add(records, Ordering::Relaxed);
                GROUP_FSYNCS.fetch_add(log.stats().fsyncs - fsyncs_before, Ordering::Relaxed);
                // Scale to the iteration count criterion asked for.
                elapsed.mul_f64(iters as f64 / records as f64)
            })
        },
    );
    let group = mean_group_size();
    eprintln!(
        "bss_wal: {} records, {} fsyncs, mean group {group}",
        GROUP_RECORDS.load(Ordering::Relaxed),
        GROUP_FSYNCS.load(Ordering::Relaxed)
    );
    // The plain baseline appends to a growing file; the zero-filled one
    // also writes zeros 4 MiB ahead, as bss-wal does, so the two ratios
    // separate what preallocation buys from what group commit costs.
    for (name, zero_fill) in [
        ("write_all_sync_data", false),
        ("write_all_sync_data_zero_filled", true),
    ] {
        g.bench_function(BenchmarkId::new(name, format!("group_{group}")), |b| {
            b.iter_custom(|iters| baseline(iters, group, zero_fill))
        });
    }
    g.finish();
}

/// Writes `iters` frames of RECORD bytes, `group` per write_all + sync_data.
fn baseline(iters: u64, group: u64, zero_fill: bool) -> Duration {
    let dir = fresh_dir("baseline");
    let f = File::create(dir.path().join("baseline.log")).unwrap();
    // The same frames bss-wal writes, built outside the timing.
    let mut batch = Vec::new();
    for i in 0..group {
        encode_frame(&mut batch, i, &payload(RECORD, i));
    }
    assert_eq!(batch.len(), frame_len(RECORD) * group as usize);
    let groups = iters.div_ceil(group);
    let (mut len, mut zeroed) = (0u64, 0u64);
    let t = Instant::now();
    for _ in 0..groups {
        let end = len + batch.len() as u64;
        if zero_fill && end > zeroed {
            let to = end.div_ceil(PREALLOCATE_BYTES) * PREALLOCATE_BYTES;
            f.write_all_at(&vec![0u8; (to - end) as usize], end)
                .unwrap();
            zeroed = to;
        }
        f.write_all_at(&batch, len).unwrap();
        f.sync_data().unwrap();
        len = end;
    }
    t.elapsed().mul_f64(iters as f64 / (groups * group) as f64)
}

/// Fills a log with `bytes` of payload in records of `record` bytes.
fn filled_log(name: &str, record: usize, bytes: u64) -> tempfile::TempDir {
    let dir = fresh_dir(name);
    let log = Log::open(dir.path(), Options::default()).unwrap();
    let p = payload(record, 3);
    let batch: Vec<&[u8]> = vec![&p; 1024];
    for _ in 0..bytes / (record as u64 * 1024) {
        log.append_batch(&batch).unwrap();
    }
    log.sync().unwrap();
    dir
}

/// Reads a whole log front to back, checking every checksum on the way.
fn sequential_reads(c: &mut Criterion) {
    let mut g = c.benchmark_group("iter_from");
    g.sample_size(10);
    for record in [RECORD, 4096] {
        let bytes = 256 * 1024 * 1024;
        let dir = filled_log("read", record, bytes);
        let log = Log::open(dir.path(), Options::default()).unwrap();
        g.throughput(Throughput::Bytes(bytes));
        g.bench_function(BenchmarkId::from_parameter(format!("{record}B")), |b| {
            b.iter(|| {
                let mut n = 0u64;
                for r in log.iter_from(0).unwrap() {
                    n += r.unwrap().payload().len() as u64;
                }
                assert_eq!(n, bytes);
            })
        });
    }
    g.finish();
}

/// Opening validates every frame of every segment and recovers the tail.
fn open_1gib(c: &mut Criterion) {
    let mut g = c.benchmark_group("open");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(GIB));
    let dir = filled_log("open", RECORD, GIB);
    g.bench_function("1GiB", |b| {
        b.iter(|| {
            let log = Log::open(dir.path(), Options::default()).unwrap();
            assert_eq!(log.next_seq(), GIB / RECORD as u64);
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    buffered_appends,
    durable_group_commit,
    sequential_reads,
    open_1gib
);
criterion_main!(benches);
