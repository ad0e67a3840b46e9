//! Owns reading events out of PostgreSQL: the pgoutput decoder and the
//! logical replication source.

pub mod pgoutput;
pub mod replication;
