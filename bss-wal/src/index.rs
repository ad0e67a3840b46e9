//! Owns the sparse in-memory index of frame positions: about every
//! `1 / INDEX_MARKS_PER_SEGMENT` of a segment, the seq and offset of a frame, so a reader that
//! starts at any seq steps over at most that many bytes of its segment
//! instead of walking it from the start. Built as frames are appended and
//! as recovery validates them; never written to disk. A mark is only a
//! starting point: the iterator still checks the frame it lands on, so a
//! wrong mark shows as corruption, never as a wrong record.

use std::collections::VecDeque;

use crate::limits::{INDEX_MARKS_PER_SEGMENT, INDEX_MIN_MARK_INTERVAL_BYTES, SEGMENT_HEADER_BYTES};

/// Where a frame starts: its seq and its byte offset in its segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub seq: u64,
    pub offset: u64,
}

/// Marks over all live segments, in seq order. Segments hold consecutive
/// seqs, so the segment of a mark is the one whose seq range holds it.
pub(crate) struct SparseIndex {
    interval: u64,
    marks: VecDeque<Position>,
    /// Offset of the newest mark in the active segment (or its header end).
    last_offset: u64,
}

impl SparseIndex {
    pub fn new(segment_size: u64) -> SparseIndex {
        SparseIndex {
            interval: (segment_size / INDEX_MARKS_PER_SEGMENT).max(INDEX_MIN_MARK_INTERVAL_BYTES),
            marks: VecDeque::new(),
            last_offset: SEGMENT_HEADER_BYTES as u64,
        }
    }

    /// A new segment starts: offsets count from its beginning again.
    pub fn segment_started(&mut self) {
        self.last_offset = SEGMENT_HEADER_BYTES as u64;
    }

    /// The frame `seq` starts at `offset` of the active (or, in recovery,
    /// the segment being checked) segment; called for every frame in order.
    pub fn frame(&mut self, seq: u64, offset: u64) {
        debug_assert!(
            offset >= SEGMENT_HEADER_BYTES as u64,
            "frame offset {offset} is inside the segment header"
        );
        debug_assert!(
            self.marks.back().is_none_or(|m| m.seq < seq),
            "frames are marked in increasing seq order (seq {seq})"
        );
        if offset >= self.last_offset + self.interval {
            self.marks.push_back(Position { seq, offset });
            self.last_offset = offset;
        }
    }

    /// Where to start reading for `seq` in the segment whose first record
    /// is `segment_first_seq`: the last mark at or before `seq` in it, or
    /// the segment's first frame.
    pub fn seek(&self, seq: u64, segment_first_seq: u64) -> Position {
        let after = self.marks.partition_point(|m| m.seq <= seq);
        match after.checked_sub(1).map(|i| self.marks[i]) {
            Some(m) if m.seq >= segment_first_seq => m,
            _ => Position {
                seq: segment_first_seq,
                offset: SEGMENT_HEADER_BYTES as u64,
            },
        }
    }

    /// Drops the marks of records below `seq` (their segments are gone).
    pub fn forget_before(&mut self, seq: u64) {
        let n = self.marks.partition_point(|m| m.seq < seq);
        self.marks.drain(..n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = SEGMENT_HEADER_BYTES as u64;

    #[test]
    fn seek_finds_the_last_mark_of_the_segment_at_or_before_the_seq() {
        let mut ix = SparseIndex::new(64 * 1024); // interval 64
                                                  // Segment from seq 0: frames of 40 bytes.
        for seq in 0..10 {
            ix.frame(seq, H + 40 * seq);
        }
        // Marks at offsets >= 32+64: seq 2 (112), seq 4 (192), 6, 8.
        assert_eq!(ix.seek(0, 0), Position { seq: 0, offset: H });
        assert_eq!(ix.seek(1, 0), Position { seq: 0, offset: H });
        assert_eq!(
            ix.seek(3, 0),
            Position {
                seq: 2,
                offset: H + 80
            }
        );
        assert_eq!(
            ix.seek(9, 0),
            Position {
                seq: 8,
                offset: H + 320
            }
        );
        // A second segment from seq 10: no mark of the first one is used.
        ix.segment_started();
        ix.frame(10, H);
        assert_eq!(ix.seek(10, 10), Position { seq: 10, offset: H });
        ix.frame(11, H + 100);
        assert_eq!(
            ix.seek(12, 10),
            Position {
                seq: 11,
                offset: H + 100
            }
        );
        ix.forget_before(10);
        assert_eq!(ix.marks.len(), 1);
        assert_eq!(ix.seek(5, 0), Position { seq: 0, offset: H });
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "increasing seq order")]
    fn marking_a_frame_below_the_newest_mark_panics_in_debug_builds() {
        let mut ix = SparseIndex::new(64 * 1024);
        ix.frame(5, H + 64);
        ix.frame(4, H + 128);
    }
}
