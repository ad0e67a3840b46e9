//! bss-loadgen as a library: the simulator, support-ticket texts, anomaly injection, load stages,
//! the open-loop writer, the history of every append's fate, the Kafka
//! end-to-end watcher, and the report and chart. The binary (`main.rs`) only parses the command line and wires these.

pub mod anomalies;
pub mod chart;
pub mod clock;
pub mod history;
pub mod kafka_watch;
pub mod progress;
pub mod report;
pub mod schemas;
pub mod simulator;
pub mod stages;
pub mod ticket_text;
pub mod traffic;
pub mod writer;
