//! Owns the write path: appending frames through a buffered writer, segment
//! roll-over and sealing, group-commit `sync`, and truncation. Must never
//! report a record durable before its bytes were fsynced, never write into
//! a sealed segment, and never remove the active segment.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::error::Error;
use crate::format;
use crate::group_commit::{GroupCommit, Syncer};
use crate::index::SparseIndex;
use crate::iter::{Iter, Snapshot};
use crate::limits::{
    DEFAULT_MAX_RECORD_BYTES, DEFAULT_SEGMENT_BYTES, FRAME_ALIGN_BYTES, MAX_RECORD_BYTES_LIMIT,
    MIN_SEGMENT_BYTES, PREALLOCATE_BYTES, SEGMENT_HEADER_BYTES, WRITE_BUFFER_CAPACITY_BYTES,
    WRITE_BUFFER_FLUSH_BYTES, ZERO_CHUNK_BYTES,
};
use crate::recovery;
use crate::segment::{self, SegmentMeta};

/// Tuning knobs of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// A new segment starts when the active one would grow past this many
    /// bytes; at least [`MIN_SEGMENT_BYTES`].
    pub segment_size: u64,
    /// Largest payload accepted, in bytes; at most [`MAX_RECORD_BYTES_LIMIT`].
    pub max_record_size: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            segment_size: DEFAULT_SEGMENT_BYTES,
            max_record_size: DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

impl Options {
    fn validate(&self) -> Result<(), Error> {
        if self.segment_size < MIN_SEGMENT_BYTES {
            return Err(Error::InvalidOptions(format!(
                "segment_size {} is below the minimum {MIN_SEGMENT_BYTES}",
                self.segment_size
            )));
        }
        if self.max_record_size > MAX_RECORD_BYTES_LIMIT {
            return Err(Error::InvalidOptions(format!(
                "max_record_size {} is above the limit {MAX_RECORD_BYTES_LIMIT}",
                self.max_record_size
            )));
        }
        Ok(())
    }
}

/// The zeros written ahead of the data, a chunk at a time (static: no
/// allocation, and its pages are never written).
static ZEROS: [u8; ZERO_CHUNK_BYTES] = [0; ZERO_CHUNK_BYTES];

/// State owned by whoever holds the writer lock.
struct Writer {
    /// All live segments sorted by first_seq; the last one is active.
    segments: Vec<SegmentMeta>,
    /// Active segment file; shared so `sync` can fsync outside the lock.
    file: Arc<File>,
    /// Bytes of the active segment already written to the file.
    file_len: u64,
    /// The file holds zeros up to here, past `file_len`.
    zeroed_len: u64,
    /// Preallocation step: PREALLOCATE_BYTES, or less for small segments.
    prealloc: u64,
    /// Encoded frames not yet written to the file.
    buf: Vec<u8>,
    next_seq: u64,
    /// Where frames start, so readers need not walk a segment from its start.
    index: SparseIndex,
}

impl Writer {
    /// Writes the buffer to the file; returns how many bytes it wrote.
    fn flush(&mut self) -> Result<u64, Error> {
        let n = self.buf.len() as u64;
        if n > 0 {
            let end = self.file_len + n;
            // The data first, then the zeros after it: a write that fails
            // part way (a full disk) leaves no hole in the file, and a full
            // tmpfs cannot map a hole for recovery to read (SIGBUS).
            self.file.write_all_at(&self.buf, self.file_len)?;
            self.file_len = end;
            self.buf.clear();
            if end > self.zeroed_len {
                // Zeros never validate as a frame, so recovery treats them
                // as the end of the log.
                let new_zeroed = end.div_ceil(self.prealloc) * self.prealloc;
                let mut at = end;
                while at < new_zeroed {
                    let n = (new_zeroed - at).min(ZEROS.len() as u64);
                    self.file.write_all_at(&ZEROS[..n as usize], at)?;
                    at += n;
                }
                self.zeroed_len = new_zeroed;
            }
        }
        self.debug_check();
        Ok(n)
    }

    /// Where the next frame goes: the end of the file's data plus the buffer.
    fn tail(&self) -> u64 {
        self.file_len + self.buf.len() as u64
    }

    /// The writer's invariants, checked in debug builds after each change:
    /// the data (written and buffered) ends at a frame boundary after the
    /// header, zeros are only ahead of the data, and the active segment
    /// starts at or below the next seq.
    fn debug_check(&self) {
        debug_assert!(self.file_len >= SEGMENT_HEADER_BYTES as u64);
        debug_assert!(
            (self.file_len as usize).is_multiple_of(FRAME_ALIGN_BYTES),
            "the file's data ends at a frame boundary ({})",
            self.file_len
        );
        debug_assert!(self.buf.len().is_multiple_of(FRAME_ALIGN_BYTES));
        debug_assert!(self.zeroed_len >= self.file_len);
        debug_assert!(self
            .segments
            .last()
            .is_some_and(|s| s.first_seq <= self.next_seq));
    }
}

/// Counters of a log since it was opened, for metrics and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// fsyncs of segment files (group commits and segment seals).
    pub fsyncs: u64,
    /// Frame bytes written to segment files.
    pub bytes_written: u64,
}

/// A segmented, checksummed write-ahead log. Cheap to share across threads.
///
/// An IO error while writing or syncing *fails* the log: that call and
/// every later one return [`Error::Failed`]. After a failed fsync the kernel
/// may have dropped the dirty pages and cleared the error, so a retried
/// fsync could report success for bytes that never reached the disk (the
/// PostgreSQL "fsyncgate" lesson). Reopening the log recovers exactly what
/// is on disk: every record covered by a successful `sync`, and possibly
/// some records appended after it.
pub struct Log {
    core: Arc<Core>,
    /// Runs fsyncs back to back while `sync` callers queue up.
    flusher: Option<std::thread::JoinHandle<()>>,
}

/// The log's state, shared with the flusher thread.
struct Core {
    dir: PathBuf,
    opts: Options,
    /// Held for the life of the log: one writer per directory.
    _lock: File,
    /// Why the log failed, once an IO error struck the write path.
    failed: OnceLock<String>,
    fsyncs: AtomicU64,
    bytes_written: AtomicU64,
    writer: Mutex<Writer>,
    group: GroupCommit,
    /// Mirror of `Writer::next_seq` readable without the lock.
    next_seq: AtomicU64,
    /// Every record with seq below this is durable.
    durable_seq: AtomicU64,
}

impl Log {
    /// Opens (creating if needed) the log in `dir`, recovering from a crash.
    /// Fails with [`Error::Locked`] while another `Log` has `dir` open.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Log, Error> {
        let core = Arc::new(Core::open(dir.as_ref(), opts)?);
        let flusher = {
            let core = Arc::clone(&core);
            std::thread::Builder::new()
                .name("bss-wal-flusher".into())
                .spawn(move || core.group.run_flusher(&*core))?
        };
        Ok(Log {
            core,
            flusher: Some(flusher),
        })
    }

    /// Appends one record and returns its sequence number. Not yet durable.
    pub fn append(&self, payload: &[u8]) -> Result<u64, Error> {
        self.core.append_batch(&[payload])
    }

    /// Appends records contiguously; returns the seq of the first (or the
    /// next seq if `payloads` is empty). Not yet durable. A record that is
    /// too large rejects the whole batch before anything is appended; an IO
    /// error part way fails the log (see [`Log`]).
    pub fn append_batch(&self, payloads: &[&[u8]]) -> Result<u64, Error> {
        self.core.append_batch(payloads)
    }

    /// Makes every record appended before this call, by any thread,
    /// durable. Concurrent callers share fsyncs (group commit).
    pub fn sync(&self) -> Result<(), Error> {
        self.core.sync()
    }

    /// Iterates records with seq >= `seq`, in order, including every record
    /// appended before this call.
    pub fn iter_from(&self, seq: u64) -> Result<Iter<'_>, Error> {
        self.core.iter_from(seq)
    }

    /// The sequence number the next append will get.
    pub fn next_seq(&self) -> u64 {
        self.core.next_seq.load(Ordering::Acquire)
    }

    /// Every record with a seq below this is durable.
    pub fn durable_seq(&self) -> u64 {
        self.core.durable_seq()
    }

    /// Removes whole sealed segments all of whose records have seq < `seq`.
    pub fn truncate_before(&self, seq: u64) -> Result<(), Error> {
        self.core.truncate_before(seq)
    }

    /// Counters since the log was opened.
    pub fn stats(&self) -> Stats {
        Stats {
            fsyncs: self.core.fsyncs.load(Ordering::Relaxed),
            bytes_written: self.core.bytes_written.load(Ordering::Relaxed),
        }
    }

    /// The directory this log lives in.
    pub fn dir(&self) -> &Path {
        &self.core.dir
    }
}

impl Drop for Log {
    /// Flushes and fsyncs so a clean drop loses nothing, then stops the
    /// flusher. Errors cannot be reported from drop; recovery handles
    /// whatever was not written.
    fn drop(&mut self) {
        let _ = self.sync();
        self.core.group.shutdown();
        if let Some(f) = self.flusher.take() {
            let _ = f.join();
        }
    }
}

impl Core {
    fn open(dir: &Path, opts: Options) -> Result<Core, Error> {
        opts.validate()?;
        let dir = dir.to_path_buf();
        std::fs::create_dir_all(&dir)?;
        let lock = segment::lock_dir(&dir)?;
        let mut index = SparseIndex::new(opts.segment_size);
        let rec = recovery::recover(&dir, opts.max_record_size, &mut index)?;
        // What recovery kept may only be in the page cache of a crashed
        // process; make it durable before calling it so.
        rec.active.sync_all()?;
        let writer = Writer {
            segments: rec.segments,
            file: Arc::new(rec.active),
            file_len: rec.active_len,
            zeroed_len: rec.active_len,
            prealloc: PREALLOCATE_BYTES.min(opts.segment_size),
            buf: Vec::with_capacity(WRITE_BUFFER_CAPACITY_BYTES),
            next_seq: rec.next_seq,
            index,
        };
        Ok(Core {
            dir,
            opts,
            _lock: lock,
            failed: OnceLock::new(),
            fsyncs: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            writer: Mutex::new(writer),
            group: GroupCommit::default(),
            next_seq: AtomicU64::new(rec.next_seq),
            durable_seq: AtomicU64::new(rec.next_seq),
        })
    }

    fn append_batch(&self, payloads: &[&[u8]]) -> Result<u64, Error> {
        for p in payloads {
            self.check_size(p)?;
        }
        self.check_failed()?;
        let mut w = self.writer.lock();
        let first = w.next_seq;
        for p in payloads {
            let r = self.append_locked(&mut w, p);
            self.watch(r)?;
        }
        Ok(first)
    }

    fn check_size(&self, payload: &[u8]) -> Result<(), Error> {
        if payload.len() > self.opts.max_record_size as usize {
            return Err(Error::RecordTooLarge {
                len: payload.len(),
                max: self.opts.max_record_size,
            });
        }
        Ok(())
    }

    /// Fails the log on an IO error from the write path.
    fn watch<T>(&self, r: Result<T, Error>) -> Result<T, Error> {
        if let Err(Error::Io(e)) = &r {
            let _ = self.failed.set(e.to_string());
        }
        r
    }

    fn write_out(&self, w: &mut Writer) -> Result<(), Error> {
        let n = w.flush()?;
        self.bytes_written.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }

    fn append_locked(&self, w: &mut Writer, payload: &[u8]) -> Result<(), Error> {
        let frame_len = format::frame_len(payload.len()) as u64;
        let cur = w.tail();
        // An empty segment takes any record so oversized ones still fit.
        if cur > SEGMENT_HEADER_BYTES as u64 && cur + frame_len > self.opts.segment_size {
            self.roll(w)?;
        }
        let next = w.next_seq.checked_add(1).ok_or(Error::SeqExhausted)?;
        let offset = w.tail();
        w.index.frame(w.next_seq, offset);
        format::encode_frame(&mut w.buf, w.next_seq, payload);
        debug_assert_eq!(
            w.tail(),
            offset + frame_len,
            "the frame takes what frame_len says"
        );
        w.next_seq = next;
        self.next_seq.store(w.next_seq, Ordering::Release);
        w.debug_check();
        if w.buf.len() >= WRITE_BUFFER_FLUSH_BYTES {
            self.write_out(w)?;
        }
        Ok(())
    }

    /// Seals the active segment and starts a new one at `w.next_seq`.
    fn roll(&self, w: &mut Writer) -> Result<(), Error> {
        self.write_out(w)?;
        // Sealed segments end exactly at their data, and are durable before
        // the next segment exists, so recovery can be strict about them.
        w.file.set_len(w.file_len)?;
        w.file.sync_all()?;
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.durable_seq.fetch_max(w.next_seq, Ordering::AcqRel);
        // Only a segment holding a record is sealed, so first seqs increase.
        debug_assert!(w.buf.is_empty());
        debug_assert!(w.segments.last().is_some_and(|s| s.first_seq < w.next_seq));
        let (meta, file) = segment::create_segment(&self.dir, w.next_seq)?;
        w.segments.push(meta);
        w.file = Arc::new(file);
        w.file_len = SEGMENT_HEADER_BYTES as u64;
        w.zeroed_len = w.file_len;
        w.index.segment_started();
        w.debug_check();
        Ok(())
    }

    fn sync(&self) -> Result<(), Error> {
        let target = self.next_seq.load(Ordering::Acquire);
        self.group.sync(self, target)
    }

    fn iter_from(&self, seq: u64) -> Result<Iter<'_>, Error> {
        self.check_failed()?;
        let mut w = self.writer.lock();
        let r = self.write_out(&mut w);
        self.watch(r)?;
        let idx = w
            .segments
            .partition_point(|s| s.first_seq <= seq)
            .saturating_sub(1);
        let snap = Snapshot {
            start: w.index.seek(seq, w.segments[idx].first_seq),
            segments: w.segments[idx..].to_vec(),
            active_file: Arc::clone(&w.file),
            active_len: w.file_len,
            end_seq: w.next_seq,
        };
        drop(w);
        Ok(Iter::new(snap, seq, self.opts.max_record_size))
    }

    fn truncate_before(&self, seq: u64) -> Result<(), Error> {
        self.check_failed()?;
        let mut w = self.writer.lock();
        let active = w.segments.last().map(|s| s.first_seq);
        let mut removed = false;
        while w.segments.len() > 1 && w.segments[1].first_seq <= seq {
            match std::fs::remove_file(&w.segments[0].path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            w.segments.remove(0);
            removed = true;
        }
        debug_assert_eq!(
            w.segments.last().map(|s| s.first_seq),
            active,
            "truncation never removes the active segment"
        );
        if removed {
            let first = w.segments[0].first_seq;
            w.index.forget_before(first);
            self.watch(segment::sync_dir(&self.dir))?;
        }
        Ok(())
    }
}

impl Syncer for Core {
    fn durable_seq(&self) -> u64 {
        self.durable_seq.load(Ordering::Acquire)
    }

    fn check_failed(&self) -> Result<(), Error> {
        match self.failed.get() {
            Some(reason) => Err(Error::Failed(reason.clone())),
            None => Ok(()),
        }
    }

    type Round = (Arc<File>, u64);

    fn flush(&self) -> Result<Self::Round, Error> {
        let mut w = self.writer.lock();
        let r = self.write_out(&mut w);
        self.watch(r)?;
        Ok((Arc::clone(&w.file), w.next_seq))
    }

    fn fsync(&self, (file, upto): Self::Round) -> Result<(), Error> {
        // fsync outside the writer lock so appends continue meanwhile. If the
        // segment rolled in between, roll() already synced it: still correct.
        debug_assert!(
            upto <= self.next_seq.load(Ordering::Acquire),
            "a round never covers records not yet appended"
        );
        self.watch(file.sync_data().map_err(Error::from))?;
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.durable_seq.fetch_max(upto, Ordering::AcqRel);
        Ok(())
    }
}
