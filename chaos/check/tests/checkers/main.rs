//! The checkers' tests: bad histories they must reject.
//! One test binary (one link) for all of them; each module is one suite.

mod account;
mod account_command;
mod chart;
mod watch;
