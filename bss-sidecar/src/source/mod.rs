//! Owns reading events out of PostgreSQL: the pgoutput decoder, the
//! logical replication source, and the gap fill that follows a lost slot.

pub mod floor;
pub mod gap_fill;
pub mod history;
pub mod pgoutput;
pub mod replication;
pub mod snapshot;
pub mod standby_gate;
