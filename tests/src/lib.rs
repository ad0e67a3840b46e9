//! bss-tests: what the integration tests of every crate share, written once:
//! sessions on the devdb (`devdb`), run-unique names (`unique`), a real
//! Kafka-protocol broker (`broker`) and redis-server (`redis_server`), the
//! processes they run as (`process`), a deterministic generator for test
//! schedules (`rng`) and the reference JSON merge patch (`merge_patch`).
//! Its own tests (`tests/`) run pg_bss across real, separate sessions.
//!
//! This file only wires modules together and re-exports what tests use
//! from the root; it must never hold a helper itself.

pub mod broker;
pub mod devdb;
mod merge_patch;
pub mod process;
pub mod redis_server;
mod rng;
mod unique;

pub use crate::devdb::{
    append, database_url, head_position, read_all_positions, session, sqlstate,
};
pub use crate::merge_patch::merge_patch;
pub use crate::rng::Rng;
pub use crate::unique::unique;
pub use postgres::{Client, NoTls};
