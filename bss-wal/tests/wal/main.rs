//! The log engine's integration tests: recovery, corruption, kill -9, models.
//! One test binary (one link) for all of them; each module is one suite.

mod concurrency;
mod crash;
mod fuzz_corpus;
mod garbage;
mod io_failure;
mod model;
mod recovery;
mod roundtrip;
