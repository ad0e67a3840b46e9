//! The log engine's integration tests: recovery, corruption, models, concurrency.
//! One test binary (one link) for all of them; each module is one suite.

mod concurrency;
mod fuzz_corpus;
mod garbage;
mod model;
mod recovery;
mod roundtrip;
