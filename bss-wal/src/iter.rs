//! Owns reading records back: walking a snapshot of the segment list,
//! sealed segments through mmap and the active one with positioned reads.
//! Must never yield a payload whose frame failed its checksum, and never
//! read past what was written when the iterator was created.

use std::fs::File;
use std::marker::PhantomData;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use memmap2::Mmap;

use crate::error::Error;
use crate::format::{self, FRAME_HEADER_LEN, SEGMENT_HEADER_LEN};
use crate::log::Log;
use crate::segment::SegmentMeta;

/// One record read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    seq: u64,
    payload: Vec<u8>,
}

impl Record {
    /// Sequence number of this record.
    pub fn seq(&self) -> u64 {
        self.seq
    }
    /// The bytes that were appended.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
    /// Takes the payload without copying.
    pub fn into_payload(self) -> Vec<u8> {
        self.payload
    }
}

/// What the log looked like when `iter_from` was called.
pub(crate) struct Snapshot {
    /// Segments from the one holding the start seq; the last is active.
    pub segments: Vec<SegmentMeta>,
    pub active_file: Arc<File>,
    /// Bytes of the active segment written to the file at snapshot time.
    pub active_len: u64,
    /// Seq after the last record appended at snapshot time.
    pub end_seq: u64,
}

enum Source {
    Mapped(Mmap),
    Active,
}

struct Cursor {
    src: Source,
    path: PathBuf,
    off: u64,
    len: u64,
    seq: u64,
}

/// Iterator over records in seq order; yields `Err` and stops on corruption.
pub struct Iter<'a> {
    _log: PhantomData<&'a Log>,
    snap: Snapshot,
    next_idx: usize,
    cur: Option<Cursor>,
    /// Seq the next segment must start with, once known.
    expected: Option<u64>,
    start: u64,
    max_record_size: u32,
    done: bool,
}

impl<'a> Iter<'a> {
    pub(crate) fn new(snap: Snapshot, start: u64, max_record_size: u32) -> Self {
        Iter {
            _log: PhantomData,
            done: start >= snap.end_seq,
            snap,
            next_idx: 0,
            cur: None,
            expected: None,
            start,
            max_record_size,
        }
    }

    fn open_segment(&mut self, idx: usize) -> Result<Cursor, Error> {
        let meta = &self.snap.segments[idx];
        let is_active = idx + 1 == self.snap.segments.len();
        let (src, first, len) = if is_active {
            let mut h = [0u8; SEGMENT_HEADER_LEN];
            self.snap.active_file.read_exact_at(&mut h, 0)?;
            let first = format::decode_header(&h).map_err(|r| Error::corrupt(&meta.path, 0, r))?;
            (Source::Active, first, self.snap.active_len)
        } else {
            let file = File::open(&meta.path)?;
            // SAFETY: sealed segments are never written or truncated by this
            // crate (only unlinked, which keeps the mapping valid); external
            // modification of log files is outside the contract.
            let map = unsafe { Mmap::map(&file)? };
            let first =
                format::decode_header(&map).map_err(|r| Error::corrupt(&meta.path, 0, r))?;
            let len = map.len() as u64;
            (Source::Mapped(map), first, len)
        };
        if first != meta.first_seq || self.expected.is_some_and(|e| e != first) {
            return Err(Error::corrupt(
                &meta.path,
                16,
                format!(
                    "segment starts at seq {first}, expected {}",
                    self.expected.unwrap_or(meta.first_seq)
                ),
            ));
        }
        Ok(Cursor {
            src,
            path: meta.path.clone(),
            off: SEGMENT_HEADER_LEN as u64,
            len,
            seq: first,
        })
    }

    /// Reads the frame at the cursor; returns its payload if it is wanted.
    fn read_frame(&self, cur: &mut Cursor) -> Result<Option<Vec<u8>>, Error> {
        let corrupt =
            |off: u64, e: format::FrameError| Error::corrupt(&cur.path, off, e.to_string());
        let off = cur.off;
        let want = cur.seq >= self.start;
        match &cur.src {
            Source::Mapped(map) => {
                let at = off as usize;
                let f = format::decode_frame(map, at, cur.seq, self.max_record_size)
                    .map_err(|e| corrupt(off, e))?;
                let payload =
                    want.then(|| map[f.payload_start..f.payload_start + f.payload_len].to_vec());
                cur.off = f.end as u64;
                cur.seq = cur.seq.saturating_add(1);
                Ok(payload)
            }
            Source::Active => {
                let mut h = [0u8; FRAME_HEADER_LEN];
                if off + FRAME_HEADER_LEN as u64 > cur.len {
                    return Err(corrupt(off, format::FrameError::Short));
                }
                self.snap.active_file.read_exact_at(&mut h, off)?;
                let (len, _) = format::peek_header(&h, 0)
                    .ok_or_else(|| corrupt(off, format::FrameError::Short))?;
                if len > self.max_record_size {
                    return Err(corrupt(off, format::FrameError::TooLarge(len)));
                }
                let total = format::frame_len(len as usize);
                if off + total as u64 > cur.len {
                    return Err(corrupt(off, format::FrameError::Short));
                }
                let mut frame = vec![0u8; total];
                self.snap.active_file.read_exact_at(&mut frame, off)?;
                let f = format::decode_frame(&frame, 0, cur.seq, self.max_record_size)
                    .map_err(|e| corrupt(off, e))?;
                cur.off += f.end as u64;
                cur.seq = cur.seq.saturating_add(1);
                if !want {
                    return Ok(None);
                }
                frame.truncate(f.payload_start + f.payload_len);
                frame.drain(..f.payload_start);
                Ok(Some(frame))
            }
        }
    }

    fn step(&mut self) -> Result<Option<Record>, Error> {
        loop {
            let mut cur = match self.cur.take() {
                Some(c) => c,
                None => {
                    if self.next_idx >= self.snap.segments.len() {
                        return Ok(None);
                    }
                    let c = self.open_segment(self.next_idx)?;
                    self.next_idx += 1;
                    c
                }
            };
            if cur.seq >= self.snap.end_seq {
                return Ok(None);
            }
            if cur.off >= cur.len {
                if matches!(cur.src, Source::Active) {
                    return Err(Error::corrupt(
                        &cur.path,
                        cur.off,
                        format!("log ends at seq {} before {}", cur.seq, self.snap.end_seq),
                    ));
                }
                self.expected = Some(cur.seq);
                continue;
            }
            let seq = cur.seq;
            let payload = self.read_frame(&mut cur)?;
            self.cur = Some(cur);
            if let Some(payload) = payload {
                return Ok(Some(Record { seq, payload }));
            }
        }
    }
}

impl Iterator for Iter<'_> {
    type Item = Result<Record, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
