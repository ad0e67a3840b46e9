//! The sidecar's integration tests, against the devdb, real brokers and Redis.
//! One test binary (one link) for all of them; each module is one suite.

mod support;

mod anomaly_stage;
mod ask_endpoint;
mod check_config;
mod erasure;
mod forecast_stage;
mod gap_fill;
mod intelligence_stage;
mod kafka_sink;
mod multi_host;
mod pipeline;
mod redis_sink;
mod replay;
mod spool_disk_full;
mod standby_gate;
mod status_page;
