//! bss-faultproxy: a fault-injecting TCP proxy for the chaos test bed, in
//! the manner of toxiproxy. It sits in front of a server, forwards bytes
//! both ways, and applies the toxics set over its control socket (latency
//! with jitter, bandwidth, stall, blackhole, reset) at once to open and new
//! connections.
//!
//! This file only wires the modules together; it must never hold behaviour.

pub mod client;
mod connection;
mod control;
pub mod counters;
mod limits;
mod link;
pub mod protocol;
pub mod proxy;
pub mod toxics;

pub use crate::control::ControlError;
pub use crate::proxy::{Proxy, ProxyConfig, ProxyError};
