//! Owns opening a log directory: validating sealed segments, cutting a torn
//! tail off the active segment, and refusing to open on corruption. Must
//! never discard a record that a later valid frame proves was once
//! followed by more data, and never panic on any file content.

use std::fs::File;
use std::path::Path;

use crate::error::Error;
use crate::format::{self, HEADER_FIRST_SEQ_AT};
use crate::index::SparseIndex;
use crate::limits::{FRAME_ALIGN_BYTES, MIN_FRAME_BYTES, SEGMENT_HEADER_BYTES};
use crate::segment::{self, SegmentMeta};

/// State of a log directory after successful recovery.
pub(crate) struct Recovered {
    pub segments: Vec<SegmentMeta>,
    pub active: File,
    pub active_len: u64,
    pub next_seq: u64,
}

/// Validates every segment in `dir` (creating the first if none) and
/// repairs a torn tail of the newest one; marks the frames it keeps in `index`.
pub(crate) fn recover(
    dir: &Path,
    max_record_size: u32,
    index: &mut SparseIndex,
) -> Result<Recovered, Error> {
    let segments = segment::list_segments(dir)?;
    let Some((last, sealed)) = segments.split_last() else {
        let (meta, file) = segment::create_segment(dir, 0)?;
        return Ok(Recovered {
            segments: vec![meta],
            active: file,
            active_len: SEGMENT_HEADER_BYTES as u64,
            next_seq: 0,
        });
    };
    let mut expected = None;
    for s in sealed {
        expected = Some(check_sealed(s, expected, max_record_size, index)?);
    }
    let (active, active_len, next_seq) = recover_active(last, expected, max_record_size, index)?;
    // What the log opens on: the active segment's data ends at a frame
    // boundary after its header, and seqs continue from the sealed ones.
    debug_assert!(active_len >= SEGMENT_HEADER_BYTES as u64);
    debug_assert!((active_len as usize).is_multiple_of(FRAME_ALIGN_BYTES));
    debug_assert!(next_seq >= last.first_seq);
    debug_assert!(expected.is_none_or(|e| e == last.first_seq));
    Ok(Recovered {
        segments,
        active,
        active_len,
        next_seq,
    })
}

fn check_first(s: &SegmentMeta, first: u64, expected: Option<u64>) -> Result<(), Error> {
    if first != s.first_seq {
        return Err(Error::corrupt(
            &s.path,
            HEADER_FIRST_SEQ_AT as u64,
            format!(
                "header first_seq {first} does not match file name ({})",
                s.first_seq
            ),
        ));
    }
    if let Some(e) = expected {
        if first != e {
            return Err(Error::corrupt(
                &s.path,
                HEADER_FIRST_SEQ_AT as u64,
                format!("segment starts at seq {first} but the previous segment ends before {e}"),
            ));
        }
    }
    Ok(())
}

/// Checks a sealed segment end to end; returns the seq after its last record.
fn check_sealed(
    s: &SegmentMeta,
    expected: Option<u64>,
    max: u32,
    index: &mut SparseIndex,
) -> Result<u64, Error> {
    let buf = segment::read_only(&File::open(&s.path)?)?;
    let first = format::decode_header(&buf).map_err(|r| Error::corrupt(&s.path, 0, r))?;
    check_first(s, first, expected)?;
    let mut off = SEGMENT_HEADER_BYTES;
    let mut seq = first;
    index.segment_started();
    while off < buf.len() {
        let f = format::decode_frame(&buf, off, seq, max)
            .map_err(|e| Error::corrupt(&s.path, off as u64, format!("sealed segment: {e}")))?;
        index.frame(seq, off as u64);
        off = f.end;
        seq = next_seq_after(seq, &s.path, off)?;
    }
    debug_assert_eq!(
        off,
        buf.len(),
        "a sealed segment ends exactly at a frame end"
    );
    Ok(seq)
}

/// seq + 1, or corruption if a file claims the last possible seq was used.
fn next_seq_after(seq: u64, path: &Path, off: usize) -> Result<u64, Error> {
    seq.checked_add(1)
        .ok_or_else(|| Error::corrupt(path, off as u64, "sequence number space exhausted"))
}

/// Probes every aligned offset from `from` for a frame that validates with a
/// seq >= `lowest`. Seqs that could not fit in the remaining bytes are
/// skipped before computing a crc, so garbage tails are cheap to scan.
fn find_later_frame(buf: &[u8], from: usize, lowest: u64, max: u32) -> Option<usize> {
    let remaining = buf.len().saturating_sub(from) / MIN_FRAME_BYTES;
    let upper = lowest.saturating_add(remaining as u64).saturating_add(1);
    let mut p = from;
    while p.saturating_add(MIN_FRAME_BYTES) <= buf.len() {
        if let Some((len, seq)) = format::peek_header(buf, p) {
            if seq >= lowest
                && seq < upper
                && len <= max
                && format::decode_frame_any(buf, p, max).is_ok()
            {
                return Some(p);
            }
        }
        p += FRAME_ALIGN_BYTES;
    }
    None
}

/// Recovers the newest segment; returns (file, valid length, next seq).
fn recover_active(
    s: &SegmentMeta,
    expected: Option<u64>,
    max: u32,
    index: &mut SparseIndex,
) -> Result<(File, u64, u64), Error> {
    let file = segment::open_rw(&s.path)?;
    let buf = segment::read_only(&file)?;
    index.segment_started();
    let first = match format::decode_header(&buf) {
        Ok(first) => first,
        Err(reason) => {
            // A torn header on the newest segment is what a crash during
            // segment creation leaves behind; reset it unless data follows.
            if let Some(e) = expected {
                if e != s.first_seq {
                    return Err(Error::corrupt(
                        &s.path,
                        0,
                        format!(
                            "{reason}; file name seq {} does not follow previous segment ({e})",
                            s.first_seq
                        ),
                    ));
                }
            }
            if let Some(p) = find_later_frame(&buf, SEGMENT_HEADER_BYTES, s.first_seq, max) {
                return Err(Error::corrupt(
                    &s.path,
                    0,
                    format!("{reason}, but a valid frame follows at offset {p}"),
                ));
            }
            drop(buf);
            segment::reset_segment(&file, s.first_seq)?;
            return Ok((file, SEGMENT_HEADER_BYTES as u64, s.first_seq));
        }
    };
    check_first(s, first, expected)?;
    let mut off = SEGMENT_HEADER_BYTES;
    let mut seq = first;
    while off < buf.len() {
        match format::decode_frame(&buf, off, seq, max) {
            Ok(f) => {
                index.frame(seq, off as u64);
                off = f.end;
                seq = next_seq_after(seq, &s.path, off)?;
            }
            Err(e) => {
                if let Some(p) = find_later_frame(&buf, off, seq.saturating_add(1), max) {
                    return Err(Error::corrupt(
                        &s.path,
                        off as u64,
                        format!("{e}, but a valid later frame follows at offset {p}"),
                    ));
                }
                // Torn tail: nothing valid after it, so cut it durably.
                drop(buf);
                file.set_len(off as u64)?;
                file.sync_all()?;
                break;
            }
        }
    }
    Ok((file, off as u64, seq))
}
