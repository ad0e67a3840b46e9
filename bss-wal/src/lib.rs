//! bss-wal: a segmented, checksummed write-ahead log with group commit.
//! This file only wires modules together and re-exports the public API; it
//! must never hold logic. The byte format is specified in FORMAT.md.

mod error;
pub mod format;
#[doc(hidden)]
pub mod fuzzing;
mod group_commit;
mod index;
mod iter;
pub mod limits;
mod log;
mod recovery;
mod segment;
mod typed;

pub use crate::error::Error;
pub use crate::iter::{Iter, Record};
pub use crate::limits::{PREALLOCATE_BYTES, WRITE_BUFFER_FLUSH_BYTES};
pub use crate::log::{Log, Options, Stats};
pub use crate::segment::{parse_segment_file_name, segment_file_name};
pub use crate::typed::{TypedIter, TypedLog};

/// Earlier names of limits, kept so code written against them still builds.
#[deprecated(note = "use bss_wal::limits::DEFAULT_SEGMENT_BYTES")]
pub const DEFAULT_SEGMENT_SIZE: u64 = limits::DEFAULT_SEGMENT_BYTES;
#[deprecated(note = "use bss_wal::limits::DEFAULT_MAX_RECORD_BYTES")]
pub const DEFAULT_MAX_RECORD_SIZE: u32 = limits::DEFAULT_MAX_RECORD_BYTES;
#[deprecated(note = "use bss_wal::limits::MAX_RECORD_BYTES_LIMIT")]
pub const MAX_RECORD_SIZE_LIMIT: u32 = limits::MAX_RECORD_BYTES_LIMIT;
#[deprecated(note = "use bss_wal::limits::MIN_SEGMENT_BYTES")]
pub const MIN_SEGMENT_SIZE: u64 = limits::MIN_SEGMENT_BYTES;

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync>() {}
    #[test]
    fn log_is_send_sync() {
        assert_send_sync::<crate::Log>();
        assert_send_sync::<crate::TypedLog<String>>();
    }
}
