//! Owns reading records back: walking a snapshot of the segment list
//! through mmap, from the sparse index's position for the start seq,
//! sealed segments whole and the active one up to what was written when
//! the iterator was created. Must never yield a payload whose
//! frame failed its checksum, and never read past that point.

use std::fs::File;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;

use memmap2::{Mmap, MmapOptions};

use crate::error::Error;
use crate::format;
use crate::index::Position;
use crate::limits::SEGMENT_HEADER_BYTES;
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
    /// Where to start in the first segment: a frame at or before the start seq.
    pub start: Position,
    /// Segments from the one holding the start seq; the last is active.
    pub segments: Vec<SegmentMeta>,
    pub active_file: Arc<File>,
    /// Bytes of the active segment written to the file at snapshot time.
    pub active_len: u64,
    /// Seq after the last record appended at snapshot time.
    pub end_seq: u64,
}

struct Cursor {
    map: Mmap,
    active: bool,
    path: PathBuf,
    off: u64,
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
        let active = idx + 1 == self.snap.segments.len();
        // SAFETY: this crate never shrinks a segment below what a snapshot
        // saw: sealed segments are never written or truncated (only
        // unlinked, which keeps the mapping valid), and the active one is
        // mapped only up to the bytes written before the snapshot. External
        // modification of log files is outside the contract.
        let map = if active {
            unsafe {
                MmapOptions::new()
                    .len(self.snap.active_len as usize)
                    .map(&*self.snap.active_file)?
            }
        } else {
            unsafe { Mmap::map(&File::open(&meta.path)?)? }
        };
        let first = format::decode_header(&map).map_err(|r| Error::corrupt(&meta.path, 0, r))?;
        if first != meta.first_seq || self.expected.is_some_and(|e| e != first) {
            return Err(Error::corrupt(
                &meta.path,
                format::HEADER_FIRST_SEQ_AT as u64,
                format!(
                    "segment starts at seq {first}, expected {}",
                    self.expected.unwrap_or(meta.first_seq)
                ),
            ));
        }
        // The first segment starts at the index's position, later ones
        // at their first frame (which is where the index points for them).
        let at = if idx == 0 {
            self.snap.start
        } else {
            Position {
                seq: first,
                offset: SEGMENT_HEADER_BYTES as u64,
            }
        };
        Ok(Cursor {
            map,
            active,
            path: meta.path.clone(),
            off: at.offset,
            seq: at.seq,
        })
    }

    /// Reads the frame at the cursor; returns its payload if it is wanted.
    /// Frames before the start seq are only stepped over (their header
    /// checked, not their crc): open validated every frame, and a payload
    /// that is not returned cannot be a corrupt one handed out.
    fn read_frame(&self, cur: &mut Cursor) -> Result<Option<Vec<u8>>, Error> {
        let off = cur.off;
        let want = cur.seq >= self.start;
        let map = &cur.map;
        let corrupt = |e: format::FrameError| Error::corrupt(&cur.path, off, e.to_string());
        let (payload, end) = if want {
            let f = format::decode_frame(map, off as usize, cur.seq, self.max_record_size)
                .map_err(corrupt)?;
            let p = map[f.payload_start..f.payload_start + f.payload_len].to_vec();
            (Some(p), f.end)
        } else {
            let end = format::skip_frame(map, off as usize, cur.seq, self.max_record_size)
                .map_err(corrupt)?;
            (None, end)
        };
        cur.off = end as u64;
        cur.seq = cur.seq.saturating_add(1);
        Ok(payload)
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
            if cur.off >= cur.map.len() as u64 {
                if cur.active {
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
            debug_assert!(
                cur.off <= cur.map.len() as u64,
                "read past the mapped bytes"
            );
            self.cur = Some(cur);
            if let Some(payload) = payload {
                debug_assert!(
                    seq >= self.start && seq < self.snap.end_seq,
                    "seq {seq} is outside what the iterator was asked for"
                );
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
