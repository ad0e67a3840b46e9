//! The load generator's integration tests.
//! One test binary (one link) for all of them; each module is one suite.

mod devdb_run;
mod history;
mod report_chart;
mod schemas;
mod simulator;
