//! The fault proxy's tests: its toxics and its command line.
//! One test binary (one link) for all of them; each module is one suite.

mod support;

mod cli;
mod proxy;
