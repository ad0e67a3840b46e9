//! Owns every limit of bss-wal: the sizes of the on-disk layout, the bounds
//! and defaults of `Options`, and the tuning of the write path and the
//! sparse index. Each has its unit in its name and the reason for its
//! value; the `const` assertions below state how they relate, so changing
//! one in a way that breaks another fails the build. Must never hold logic:
//! code that needs a limit reads it from here, and no other module spells
//! out a size of its own.

use std::mem::size_of;

// ---- On-disk layout (FORMAT.md). Changing one changes the format version.

/// Size of the header at the start of every segment file: magic, version,
/// first_seq and a crc, padded so the first frame starts aligned.
pub const SEGMENT_HEADER_BYTES: usize = 32;
/// Bytes at the start of the segment header that its crc covers: every
/// field before the crc itself.
pub const SEGMENT_HEADER_CRC_COVERS_BYTES: usize = 24;
/// Size of a frame header: len (u32), crc (u32) and seq (u64).
pub const FRAME_HEADER_BYTES: usize = 16;
/// Frames start and end on this alignment, so the recovery probe for a
/// later valid frame only has to try every eighth offset.
pub const FRAME_ALIGN_BYTES: usize = 8;
/// The smallest frame, one with an empty payload: recovery bounds the seqs
/// it probes for by how many of these fit in the bytes left.
pub const MIN_FRAME_BYTES: usize = FRAME_HEADER_BYTES;
/// Decimal digits of first_seq in a segment file name: enough for any u64,
/// zero-padded so that names sort as their seqs do.
pub const SEGMENT_NAME_DIGITS: usize = 20;

// ---- Options: bounds and defaults.

/// Default target size of one segment file: large enough that rolling over
/// (an fsync and a directory fsync) is rare, small enough that
/// `truncate_before` frees space in useful steps.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// Smallest accepted `segment_size`: a header plus one empty frame.
pub const MIN_SEGMENT_BYTES: u64 = (SEGMENT_HEADER_BYTES + MIN_FRAME_BYTES) as u64;
/// Default largest payload `append` accepts: a generous bound on what one
/// record may make a reader allocate, and a quarter of a default segment
/// so that segments keep close to their target size.
pub const DEFAULT_MAX_RECORD_BYTES: u32 = 16 * 1024 * 1024;
/// Ceiling for `max_record_size`: bounds what one hostile len field in a
/// file can make a reader allocate.
pub const MAX_RECORD_BYTES_LIMIT: u32 = 1024 * 1024 * 1024;

// ---- Write path.

/// The in-memory write buffer is written to the file once it grows past
/// this: large writes, and a bounded amount of unwritten data.
pub const WRITE_BUFFER_FLUSH_BYTES: usize = 1024 * 1024;
/// The write buffer's initial capacity: room for a buffer just under the
/// flush threshold plus a record of up to as much again, without growing.
pub const WRITE_BUFFER_CAPACITY_BYTES: usize = 2 * WRITE_BUFFER_FLUSH_BYTES;
/// The active segment is filled with zeros this far ahead of its data, so
/// that an fdatasync rarely has to commit a new file size (see FORMAT.md).
pub const PREALLOCATE_BYTES: u64 = 4 * 1024 * 1024;
/// Zeros are written ahead of the data this many bytes at a time, from one
/// static buffer (no allocation, and its pages are never written).
pub const ZERO_CHUNK_BYTES: usize = 1024 * 1024;

// ---- Sparse index (index.rs).

/// Marks per segment, at most: a reader starting at any seq steps over at
/// most 1/1024th of a segment, and a segment's marks take at most
/// `INDEX_MARKS_PER_SEGMENT * 16` bytes of memory.
pub const INDEX_MARKS_PER_SEGMENT: u64 = 1024;
/// The smallest distance between two marks, for tiny segments: a mark per
/// few frames at most, never one per frame.
pub const INDEX_MIN_MARK_INTERVAL_BYTES: u64 = 64;

/// Decimal digits of `n`.
const fn decimal_digits(mut n: u64) -> usize {
    let mut digits = 1;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits
}

// ---- How the limits relate. Each assertion fails the build when broken.

// Frame boundaries are computed by rounding up to the alignment.
const _: () = assert!(FRAME_ALIGN_BYTES.is_power_of_two());
// Every frame starts aligned: the first right after the segment header,
// each next one after a header and a padded payload.
const _: () = assert!(SEGMENT_HEADER_BYTES.is_multiple_of(FRAME_ALIGN_BYTES));
const _: () = assert!(FRAME_HEADER_BYTES.is_multiple_of(FRAME_ALIGN_BYTES));
// The frame header is exactly its three fields.
const _: () = assert!(FRAME_HEADER_BYTES == size_of::<u32>() + size_of::<u32>() + size_of::<u64>());
// The header crc covers magic, version, reserved and first_seq (24 bytes);
// the crc and a reserved u32 follow it and end the header.
const _: () = assert!(SEGMENT_HEADER_CRC_COVERS_BYTES == 8 + 4 + 4 + size_of::<u64>());
const _: () = assert!(
    SEGMENT_HEADER_CRC_COVERS_BYTES + size_of::<u32>() + size_of::<u32>() == SEGMENT_HEADER_BYTES
);
// A file name can hold every first_seq.
const _: () = assert!(SEGMENT_NAME_DIGITS == decimal_digits(u64::MAX));
// The u32 len field can express the largest record, and the whole frame
// of the largest record (header and padding too) still fits in a u32, so
// no offset arithmetic over one frame overflows, even with a 32-bit usize.
const _: () = assert!(
    MAX_RECORD_BYTES_LIMIT as u64 + FRAME_HEADER_BYTES as u64 + FRAME_ALIGN_BYTES as u64
        <= u32::MAX as u64
);
const _: () = assert!(size_of::<usize>() >= size_of::<u32>());
// The defaults are valid options.
const _: () = assert!(DEFAULT_MAX_RECORD_BYTES <= MAX_RECORD_BYTES_LIMIT);
const _: () = assert!(DEFAULT_SEGMENT_BYTES >= MIN_SEGMENT_BYTES);
// The smallest segment is a whole number of frames after its header.
const _: () = assert!((MIN_SEGMENT_BYTES as usize).is_multiple_of(FRAME_ALIGN_BYTES));
// With the defaults, a header plus the largest record fits in a segment:
// only a log configured so needs the oversized-segment rule of FORMAT.md.
const _: () = assert!(
    SEGMENT_HEADER_BYTES as u64
        + FRAME_HEADER_BYTES as u64
        + DEFAULT_MAX_RECORD_BYTES as u64
        + FRAME_ALIGN_BYTES as u64
        <= DEFAULT_SEGMENT_BYTES
);
// A default segment ends on a preallocation step, so zero-filling never
// grows it past its size unless one record does.
const _: () = assert!(DEFAULT_SEGMENT_BYTES.is_multiple_of(PREALLOCATE_BYTES));
// One preallocation step holds several buffer flushes: most fdatasyncs
// find the file size unchanged.
const _: () = assert!(PREALLOCATE_BYTES >= 2 * WRITE_BUFFER_FLUSH_BYTES as u64);
// A zero chunk is no larger than one step: the static buffer holds no
// more than the largest single zero-fill needs.
const _: () = assert!(ZERO_CHUNK_BYTES as u64 <= PREALLOCATE_BYTES);
// The write buffer's capacity covers the flush threshold.
const _: () = assert!(WRITE_BUFFER_CAPACITY_BYTES >= WRITE_BUFFER_FLUSH_BYTES);
// Marks are at least a few frames apart, and a default segment uses its
// proportional interval, not the minimum.
const _: () = assert!(INDEX_MIN_MARK_INTERVAL_BYTES >= 2 * MIN_FRAME_BYTES as u64);
const _: () =
    assert!(DEFAULT_SEGMENT_BYTES / INDEX_MARKS_PER_SEGMENT >= INDEX_MIN_MARK_INTERVAL_BYTES);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_digits_counts_the_digits_the_segment_name_assertion_relies_on() {
        assert_eq!(decimal_digits(0), 1);
        assert_eq!(decimal_digits(9), 1);
        assert_eq!(decimal_digits(10), 2);
        assert_eq!(decimal_digits(99_999), 5);
        assert_eq!(decimal_digits(100_000), 6);
        assert_eq!(decimal_digits(u64::MAX), 20);
    }
}
