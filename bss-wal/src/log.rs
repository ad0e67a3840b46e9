//! Owns the write path: appending frames through a buffered writer, segment
//! roll-over and sealing, group-commit `sync`, and truncation. Must never
//! report a record durable before its bytes were fsynced, never write into
//! a sealed segment, and never remove the active segment.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::Error;
use crate::format::{self, SEGMENT_HEADER_LEN};
use crate::iter::{Iter, Snapshot};
use crate::recovery;
use crate::segment::{self, SegmentMeta};

/// Default target size of one segment file.
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 * 1024 * 1024;
/// Default largest payload accepted by `append`.
pub const DEFAULT_MAX_RECORD_SIZE: u32 = 16 * 1024 * 1024;
/// Hard ceiling for `max_record_size`, bounding per-record allocations.
pub const MAX_RECORD_SIZE_LIMIT: u32 = 1024 * 1024 * 1024;
/// Smallest accepted `segment_size`: a header plus one small frame.
pub const MIN_SEGMENT_SIZE: u64 = (SEGMENT_HEADER_LEN + format::FRAME_HEADER_LEN) as u64;
/// The in-memory write buffer is written to the file once it grows past this.
pub const WRITE_BUFFER_FLUSH_BYTES: usize = 1024 * 1024;

/// Tuning knobs of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// A new segment starts when the active one would grow past this.
    pub segment_size: u64,
    /// Largest payload accepted, in bytes.
    pub max_record_size: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            segment_size: DEFAULT_SEGMENT_SIZE,
            max_record_size: DEFAULT_MAX_RECORD_SIZE,
        }
    }
}

impl Options {
    fn validate(&self) -> Result<(), Error> {
        if self.segment_size < MIN_SEGMENT_SIZE {
            return Err(Error::InvalidOptions(format!(
                "segment_size {} is below the minimum {MIN_SEGMENT_SIZE}",
                self.segment_size
            )));
        }
        if self.max_record_size > MAX_RECORD_SIZE_LIMIT {
            return Err(Error::InvalidOptions(format!(
                "max_record_size {} is above the limit {MAX_RECORD_SIZE_LIMIT}",
                self.max_record_size
            )));
        }
        Ok(())
    }
}

/// State owned by whoever holds the writer lock.
struct Writer {
    /// All live segments sorted by first_seq; the last one is active.
    segments: Vec<SegmentMeta>,
    /// Active segment file; shared so `sync` can fsync outside the lock.
    file: Arc<File>,
    /// Bytes of the active segment already written to the file.
    file_len: u64,
    /// Encoded frames not yet written to the file.
    buf: Vec<u8>,
    next_seq: u64,
}

impl Writer {
    fn flush(&mut self) -> Result<(), Error> {
        if self.buf.is_empty() {
            return Ok(());
        }
        // Positioned write: a failed attempt leaves file_len untouched so a
        // retry rewrites the same bytes at the same place.
        self.file.write_all_at(&self.buf, self.file_len)?;
        self.file_len += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

/// A segmented, checksummed write-ahead log. Cheap to share across threads.
pub struct Log {
    dir: PathBuf,
    opts: Options,
    writer: Mutex<Writer>,
    /// Serializes fsyncs so concurrent `sync` callers share one.
    sync_lock: Mutex<()>,
    /// Mirror of `Writer::next_seq` readable without the lock.
    next_seq: AtomicU64,
    /// Every record with seq below this is durable.
    durable_seq: AtomicU64,
}

impl Log {
    /// Opens (creating if needed) the log in `dir`, recovering from a crash.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Log, Error> {
        opts.validate()?;
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)?;
        let rec = recovery::recover(&dir, opts.max_record_size)?;
        // What recovery kept may only be in the page cache of a crashed
        // process; make it durable before calling it so.
        rec.active.sync_all()?;
        let writer = Writer {
            segments: rec.segments,
            file: Arc::new(rec.active),
            file_len: rec.active_len,
            buf: Vec::new(),
            next_seq: rec.next_seq,
        };
        Ok(Log {
            dir,
            opts,
            writer: Mutex::new(writer),
            sync_lock: Mutex::new(()),
            next_seq: AtomicU64::new(rec.next_seq),
            durable_seq: AtomicU64::new(rec.next_seq),
        })
    }

    /// Appends one record and returns its sequence number. Not yet durable.
    pub fn append(&self, payload: &[u8]) -> Result<u64, Error> {
        self.append_batch(&[payload])
    }

    /// Appends records contiguously; returns the seq of the first (or the
    /// next seq if `payloads` is empty). Not yet durable.
    pub fn append_batch(&self, payloads: &[&[u8]]) -> Result<u64, Error> {
        // Check sizes first so an oversized record rejects the whole batch.
        for p in payloads {
            self.check_size(p)?;
        }
        let mut w = self.writer.lock();
        let first = w.next_seq;
        for p in payloads {
            self.append_locked(&mut w, p)?;
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

    fn append_locked(&self, w: &mut Writer, payload: &[u8]) -> Result<(), Error> {
        let frame_len = format::frame_len(payload.len()) as u64;
        let cur = w.file_len + w.buf.len() as u64;
        // An empty segment takes any record so oversized ones still fit.
        if cur > SEGMENT_HEADER_LEN as u64 && cur + frame_len > self.opts.segment_size {
            self.roll(w)?;
        }
        let next = w.next_seq.checked_add(1).ok_or(Error::SeqExhausted)?;
        format::encode_frame(&mut w.buf, w.next_seq, payload);
        w.next_seq = next;
        self.next_seq.store(w.next_seq, Ordering::Release);
        if w.buf.len() >= WRITE_BUFFER_FLUSH_BYTES {
            w.flush()?;
        }
        Ok(())
    }

    /// Seals the active segment and starts a new one at `w.next_seq`.
    fn roll(&self, w: &mut Writer) -> Result<(), Error> {
        w.flush()?;
        // Sealed segments end exactly at their data, and are durable before
        // the next segment exists, so recovery can be strict about them.
        w.file.set_len(w.file_len)?;
        w.file.sync_all()?;
        self.durable_seq.fetch_max(w.next_seq, Ordering::AcqRel);
        let (meta, file) = segment::create_segment(&self.dir, w.next_seq)?;
        w.segments.push(meta);
        w.file = Arc::new(file);
        w.file_len = SEGMENT_HEADER_LEN as u64;
        Ok(())
    }

    /// Makes every record appended before this call durable.
    pub fn sync(&self) -> Result<(), Error> {
        let target = self.next_seq.load(Ordering::Acquire);
        if self.durable_seq.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        let _g = self.sync_lock.lock();
        // Someone else's fsync may have covered us while we waited.
        if self.durable_seq.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        let (file, upto) = {
            let mut w = self.writer.lock();
            w.flush()?;
            (Arc::clone(&w.file), w.next_seq)
        };
        // fsync outside the writer lock so appends continue meanwhile. If the
        // segment rolled in between, roll() already synced it: still correct.
        file.sync_data()?;
        self.durable_seq.fetch_max(upto, Ordering::AcqRel);
        Ok(())
    }

    /// Iterates records with seq >= `seq`, in order, including every record
    /// appended before this call.
    pub fn iter_from(&self, seq: u64) -> Result<Iter<'_>, Error> {
        let mut w = self.writer.lock();
        w.flush()?;
        let idx = w
            .segments
            .partition_point(|s| s.first_seq <= seq)
            .saturating_sub(1);
        let snap = Snapshot {
            segments: w.segments[idx..].to_vec(),
            active_file: Arc::clone(&w.file),
            active_len: w.file_len,
            end_seq: w.next_seq,
        };
        drop(w);
        Ok(Iter::new(snap, seq, self.opts.max_record_size))
    }

    /// The sequence number the next append will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq.load(Ordering::Acquire)
    }

    /// Removes whole sealed segments all of whose records have seq < `seq`.
    pub fn truncate_before(&self, seq: u64) -> Result<(), Error> {
        let mut w = self.writer.lock();
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
        if removed {
            segment::sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// The directory this log lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Log {
    /// Flushes and fsyncs so a clean drop loses nothing; errors cannot be
    /// reported from drop, and recovery handles whatever was not written.
    fn drop(&mut self) {
        let _ = self.sync();
    }
}
