//! Owns the byte layout of segment headers and record frames (see FORMAT.md).
//! Pure encode/decode over byte slices: must never do IO and never panic on
//! any input bytes. The sizes it lays out are limits.rs's; the field offsets
//! within them are here, asserted to fill them exactly.

use crate::limits::{
    FRAME_ALIGN_BYTES, FRAME_HEADER_BYTES, MAX_RECORD_BYTES_LIMIT, SEGMENT_HEADER_BYTES,
    SEGMENT_HEADER_CRC_COVERS_BYTES,
};

/// Magic at the start of every segment file.
pub const MAGIC: [u8; 8] = *b"BSSWAL\0\x01";
/// On-disk format version written into every segment header.
pub const FORMAT_VERSION: u32 = 1;

/// Byte offsets of the segment header's fields (FORMAT.md, "Segment header").
const HEADER_MAGIC_AT: usize = 0;
const HEADER_VERSION_AT: usize = 8;
const HEADER_RESERVED_AT: usize = 12;
/// Where first_seq sits in the header; errors about it name this offset.
pub const HEADER_FIRST_SEQ_AT: usize = 16;
const HEADER_CRC_AT: usize = 24;
const HEADER_RESERVED_2_AT: usize = 28;

/// Byte offsets of a frame header's fields (FORMAT.md, "Record frame").
const FRAME_LEN_AT: usize = 0;
const FRAME_CRC_AT: usize = 4;
const FRAME_SEQ_AT: usize = 8;

// The fields follow each other without gaps and fill their headers
// exactly; the crc covers every header field before it.
const _: () = assert!(HEADER_MAGIC_AT + MAGIC.len() == HEADER_VERSION_AT);
const _: () = assert!(HEADER_VERSION_AT + 4 == HEADER_RESERVED_AT);
const _: () = assert!(HEADER_RESERVED_AT + 4 == HEADER_FIRST_SEQ_AT);
const _: () = assert!(HEADER_FIRST_SEQ_AT + 8 == HEADER_CRC_AT);
const _: () = assert!(HEADER_CRC_AT == SEGMENT_HEADER_CRC_COVERS_BYTES);
const _: () = assert!(HEADER_CRC_AT + 4 == HEADER_RESERVED_2_AT);
const _: () = assert!(HEADER_RESERVED_2_AT + 4 == SEGMENT_HEADER_BYTES);
const _: () = assert!(FRAME_LEN_AT + 4 == FRAME_CRC_AT);
const _: () = assert!(FRAME_CRC_AT + 4 == FRAME_SEQ_AT);
const _: () = assert!(FRAME_SEQ_AT + 8 == FRAME_HEADER_BYTES);

/// Rounds a payload length up to the frame alignment.
pub fn padded_len(payload_len: usize) -> usize {
    payload_len.div_ceil(FRAME_ALIGN_BYTES) * FRAME_ALIGN_BYTES
}

/// Total on-disk size of a frame carrying `payload_len` bytes.
pub fn frame_len(payload_len: usize) -> usize {
    FRAME_HEADER_BYTES + padded_len(payload_len)
}

/// Encodes a segment header for a segment starting at `first_seq`.
pub fn encode_header(first_seq: u64) -> [u8; SEGMENT_HEADER_BYTES] {
    let mut h = [0u8; SEGMENT_HEADER_BYTES];
    h[HEADER_MAGIC_AT..HEADER_VERSION_AT].copy_from_slice(&MAGIC);
    h[HEADER_VERSION_AT..HEADER_RESERVED_AT].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    // The reserved fields stay zero.
    h[HEADER_FIRST_SEQ_AT..HEADER_CRC_AT].copy_from_slice(&first_seq.to_le_bytes());
    let crc = crc32fast::hash(&h[..SEGMENT_HEADER_CRC_COVERS_BYTES]);
    h[HEADER_CRC_AT..HEADER_RESERVED_2_AT].copy_from_slice(&crc.to_le_bytes());
    debug_assert_eq!(
        decode_header(&h),
        Ok(first_seq),
        "a header must decode to what encoded it"
    );
    h
}

/// Decodes a segment header, returning its first_seq or why it is invalid.
pub fn decode_header(buf: &[u8]) -> Result<u64, &'static str> {
    let h = buf
        .get(..SEGMENT_HEADER_BYTES)
        .ok_or("segment header is short")?;
    if h[HEADER_MAGIC_AT..HEADER_VERSION_AT] != MAGIC {
        return Err("bad segment magic");
    }
    let crc = u32_at(h, HEADER_CRC_AT);
    if crc != crc32fast::hash(&h[..SEGMENT_HEADER_CRC_COVERS_BYTES]) {
        return Err("bad segment header crc");
    }
    if u32_at(h, HEADER_VERSION_AT) != FORMAT_VERSION {
        return Err("unsupported format version");
    }
    if u32_at(h, HEADER_RESERVED_AT) != 0 || u32_at(h, HEADER_RESERVED_2_AT) != 0 {
        return Err("nonzero reserved header field");
    }
    Ok(u64_at(h, HEADER_FIRST_SEQ_AT))
}

/// Appends one encoded frame to `out`.
pub fn encode_frame(out: &mut Vec<u8>, seq: u64, payload: &[u8]) {
    // Callers bound payload by max_record_size (<= MAX_RECORD_BYTES_LIMIT,
    // which a u32 holds) before encoding.
    debug_assert!(payload.len() <= MAX_RECORD_BYTES_LIMIT as usize);
    let start = out.len();
    let len = payload.len() as u32;
    let crc = frame_crc(seq, len, payload);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(payload);
    let pad = padded_len(payload.len()) - payload.len();
    out.extend_from_slice(&[0u8; FRAME_ALIGN_BYTES][..pad]);
    debug_assert_eq!(
        out.len() - start,
        frame_len(payload.len()),
        "a frame's length must match its header"
    );
}

fn frame_crc(seq: u64, len: u32, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(&len.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Why a frame failed to validate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The buffer ends before the frame does (torn write).
    Short,
    /// len field exceeds max_record_size.
    TooLarge(u32),
    /// Padding bytes after the payload are not zero.
    BadPadding,
    /// Checksum mismatch.
    BadCrc,
    /// Valid frame, but not the sequence number expected here.
    WrongSeq { expected: u64, found: u64 },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Short => write!(f, "frame is truncated"),
            FrameError::TooLarge(l) => write!(f, "frame length {l} exceeds max_record_size"),
            FrameError::BadPadding => write!(f, "nonzero frame padding"),
            FrameError::BadCrc => write!(f, "frame crc mismatch"),
            FrameError::WrongSeq { expected, found } => {
                write!(f, "frame seq {found}, expected {expected}")
            }
        }
    }
}

/// A validated frame located inside some buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef {
    pub seq: u64,
    /// Offset of the payload within the buffer.
    pub payload_start: usize,
    pub payload_len: usize,
    /// Offset just past this frame (its padding included).
    pub end: usize,
}

/// Reads only the frame header fields (len, seq) at `off`, if present.
pub fn peek_header(buf: &[u8], off: usize) -> Option<(u32, u64)> {
    let h = buf.get(off..off.checked_add(FRAME_HEADER_BYTES)?)?;
    Some((u32_at(h, FRAME_LEN_AT), u64_at(h, FRAME_SEQ_AT)))
}

/// Validates the frame at `off` without checking its sequence number.
pub fn decode_frame_any(
    buf: &[u8],
    off: usize,
    max_record_size: u32,
) -> Result<FrameRef, FrameError> {
    let h = off
        .checked_add(FRAME_HEADER_BYTES)
        .and_then(|e| buf.get(off..e))
        .ok_or(FrameError::Short)?;
    let len = u32_at(h, FRAME_LEN_AT);
    let crc = u32_at(h, FRAME_CRC_AT);
    let seq = u64_at(h, FRAME_SEQ_AT);
    if len > max_record_size {
        return Err(FrameError::TooLarge(len));
    }
    let payload_start = off + FRAME_HEADER_BYTES;
    // checked: a hostile len must not overflow offsets on narrow targets.
    let end = payload_start
        .checked_add(padded_len(len as usize))
        .ok_or(FrameError::Short)?;
    let body = buf.get(payload_start..end).ok_or(FrameError::Short)?;
    let (payload, pad) = body.split_at(len as usize);
    if pad.iter().any(|&b| b != 0) {
        return Err(FrameError::BadPadding);
    }
    if frame_crc(seq, len, payload) != crc {
        return Err(FrameError::BadCrc);
    }
    debug_assert_eq!(
        end - off,
        frame_len(len as usize),
        "a frame's length must match its header"
    );
    Ok(FrameRef {
        seq,
        payload_start,
        payload_len: len as usize,
        end,
    })
}

/// Validates the frame at `off`, which must carry `expected_seq`.
pub fn decode_frame(
    buf: &[u8],
    off: usize,
    expected_seq: u64,
    max_record_size: u32,
) -> Result<FrameRef, FrameError> {
    let f = decode_frame_any(buf, off, max_record_size)?;
    if f.seq != expected_seq {
        return Err(FrameError::WrongSeq {
            expected: expected_seq,
            found: f.seq,
        });
    }
    Ok(f)
}

/// Steps over the frame at `off` without computing its crc: checks that
/// its header carries `expected_seq` and a length that fits; returns the
/// offset just past it. For frames a reader skips, never for payloads it
/// returns.
pub fn skip_frame(
    buf: &[u8],
    off: usize,
    expected_seq: u64,
    max_record_size: u32,
) -> Result<usize, FrameError> {
    let (len, seq) = peek_header(buf, off).ok_or(FrameError::Short)?;
    if len > max_record_size {
        return Err(FrameError::TooLarge(len));
    }
    if seq != expected_seq {
        return Err(FrameError::WrongSeq {
            expected: expected_seq,
            found: seq,
        });
    }
    let end = (off + FRAME_HEADER_BYTES)
        .checked_add(padded_len(len as usize))
        .ok_or(FrameError::Short)?;
    if end > buf.len() {
        return Err(FrameError::Short);
    }
    Ok(end)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_frame_never_validates() {
        let zeros = [0u8; 64];
        assert!(decode_frame(&zeros, 0, 0, 1024).is_err());
        assert!(decode_frame_any(&zeros, 0, 1024).is_err());
    }

    #[test]
    fn roundtrip() {
        let mut v = Vec::new();
        encode_frame(&mut v, 7, b"hello");
        assert_eq!(v.len(), frame_len(5));
        let f = decode_frame(&v, 0, 7, 1024).unwrap();
        assert_eq!(
            &v[f.payload_start..f.payload_start + f.payload_len],
            b"hello"
        );
        assert_eq!(decode_header(&encode_header(42)), Ok(42));
    }
}
