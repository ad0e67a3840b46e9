//! bss-sidecar: forwards pg_bss events in commit order from PostgreSQL's
//! logical replication to Kafka and Redis, through a durable bss-wal spool.
//! This file only wires modules together.

pub mod ask;
pub mod backoff;
pub mod config;
pub mod event;
pub mod failure;
pub mod http;
pub mod metrics;
pub mod reader;
pub mod replay;
pub mod runner;
pub mod shutdown;
pub mod sink;
pub mod source;
pub mod spool;
pub mod stage;
pub mod status;
