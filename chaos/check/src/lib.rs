//! bss-chaos-check as a library: the account of a chaos scenario (a pure
//! function of the load generator's history, the store's rows and the
//! sinks' arrivals), its report and chart, and the I/O around it (watching
//! Kafka and Redis, reading PostgreSQL), and two regions' stores compared.
//! The binary (`main.rs`) only parses
//! the command line and wires these.

pub mod account;
pub mod arrivals;
pub mod chart;
pub mod history;
pub mod regions;
pub mod report;
pub mod store;
pub mod watch;
