//! Owns segment files as files: naming, listing, creating and removing them,
//! and directory fsync. Must never interpret frames (that is format.rs and
//! recovery.rs) and never write into a sealed segment.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::format;
use crate::limits::SEGMENT_NAME_DIGITS;

/// File name extension of segment files.
pub const SEGMENT_EXT: &str = "wal";

/// One segment as the log tracks it in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentMeta {
    pub first_seq: u64,
    pub path: PathBuf,
}

/// File name of the segment whose first record is `first_seq`.
pub fn segment_file_name(first_seq: u64) -> String {
    format!(
        "{first_seq:0width$}.{SEGMENT_EXT}",
        width = SEGMENT_NAME_DIGITS
    )
}

/// Parses a segment file name; None for anything that is not one.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(SEGMENT_EXT)?.strip_suffix('.')?;
    if stem.len() != SEGMENT_NAME_DIGITS || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Lists segment files in `dir`, sorted by first_seq.
pub fn list_segments(dir: &Path) -> Result<Vec<SegmentMeta>, Error> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(first_seq) = parse_segment_file_name(name) {
            if entry.file_type()?.is_file() {
                out.push(SegmentMeta {
                    first_seq,
                    path: entry.path(),
                });
            }
        }
    }
    out.sort_by_key(|s| s.first_seq);
    Ok(out)
}

/// File name of the lock held while a log is open.
pub const LOCK_FILE: &str = "LOCK";

/// Takes the exclusive lock on a log directory (flock on `LOCK`, released
/// when the returned file closes, also when the process dies).
pub fn lock_dir(dir: &Path) -> Result<File, Error> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
    }
}

/// fsyncs a directory so that file creation/removal in it is durable.
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// A whole segment file, mapped read-only (recovery reads each byte once,
/// so mapping beats copying a file of up to segment_size into memory).
pub fn read_only(file: &File) -> Result<SegmentBytes, Error> {
    if file.metadata()?.len() == 0 {
        return Ok(SegmentBytes::Empty);
    }
    // SAFETY: the log holds the directory lock, so no other log writes the
    // file; external modification of log files is outside the contract.
    let map = unsafe { memmap2::MmapOptions::new().populate().map(file)? };
    Ok(SegmentBytes::Mapped(map))
}

/// Bytes of a segment file; see [`read_only`].
pub enum SegmentBytes {
    Mapped(memmap2::Mmap),
    Empty,
}

impl std::ops::Deref for SegmentBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            SegmentBytes::Mapped(m) => m,
            SegmentBytes::Empty => &[],
        }
    }
}

/// Opens an existing segment for reading and writing.
pub fn open_rw(path: &Path) -> Result<File, Error> {
    Ok(OpenOptions::new().read(true).write(true).open(path)?)
}

/// Creates a new, empty segment (header only), fsyncs it and the directory.
pub fn create_segment(dir: &Path, first_seq: u64) -> Result<(SegmentMeta, File), Error> {
    let name = segment_file_name(first_seq);
    // Listing finds the segment again under the seq it was created for.
    debug_assert_eq!(parse_segment_file_name(&name), Some(first_seq));
    let path = dir.join(name);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    file.write_all_at(&format::encode_header(first_seq), 0)?;
    file.sync_all()?;
    sync_dir(dir)?;
    Ok((SegmentMeta { first_seq, path }, file))
}

/// Rewrites `file` as an empty segment starting at `first_seq`, durably.
pub fn reset_segment(file: &File, first_seq: u64) -> Result<(), Error> {
    file.set_len(0)?;
    file.write_all_at(&format::encode_header(first_seq), 0)?;
    file.sync_all()?;
    Ok(())
}
