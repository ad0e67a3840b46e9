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
mod log;
mod recovery;
mod segment;
mod typed;

pub use crate::error::Error;
pub use crate::iter::{Iter, Record};
pub use crate::log::{
    Log, Options, Stats, DEFAULT_MAX_RECORD_SIZE, DEFAULT_SEGMENT_SIZE, MAX_RECORD_SIZE_LIMIT,
    MIN_SEGMENT_SIZE, PREALLOCATE_BYTES, WRITE_BUFFER_FLUSH_BYTES,
};
pub use crate::segment::{parse_segment_file_name, segment_file_name};
pub use crate::typed::{TypedIter, TypedLog};

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync>() {}
    #[test]
    fn log_is_send_sync() {
        assert_send_sync::<crate::Log>();
        assert_send_sync::<crate::TypedLog<String>>();
    }
}
