//! Tests across real, separate sessions against the devdb.
//! One test binary (one link) for all of them; each module is one suite.

mod personal_data;
mod read_all_gap_safety;
mod stream_locking;
mod time_travel;
