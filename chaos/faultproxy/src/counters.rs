//! Owns the proxy's counters: connections open and accepted, bytes
//! forwarded each way and dropped, upstream connects that failed,
//! connections reset. Links and connections add to them; the control
//! socket reads a snapshot. Counting is a relaxed atomic add per chunk,
//! never per byte; this module must never decide anything from a count.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::toxics::Flow;

#[derive(Debug, Default)]
pub struct Counters {
    connections_open: AtomicU64,
    connections_accepted: AtomicU64,
    connections_reset: AtomicU64,
    upstream_connect_failures: AtomicU64,
    bytes_upstream: AtomicU64,
    bytes_downstream: AtomicU64,
    bytes_dropped: AtomicU64,
}

/// The counters at one moment, as the status answer carries them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterSnapshot {
    pub connections_open: u64,
    pub connections_accepted: u64,
    pub connections_reset: u64,
    pub upstream_connect_failures: u64,
    /// Bytes written to the upstream server.
    pub bytes_upstream: u64,
    /// Bytes written back to clients.
    pub bytes_downstream: u64,
    /// Bytes a blackhole swallowed, both ways.
    pub bytes_dropped: u64,
}

/// Counts a connection as open from `Counters::accepted` until dropped.
pub struct OpenConnection<'a>(&'a Counters);

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Counters {
    pub fn accepted(&self) -> OpenConnection<'_> {
        self.connections_accepted.fetch_add(1, Ordering::Relaxed);
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(self)
    }

    pub fn reset(&self) {
        self.connections_reset.fetch_add(1, Ordering::Relaxed);
    }

    pub fn upstream_connect_failed(&self) {
        self.upstream_connect_failures
            .fetch_add(1, Ordering::Relaxed);
    }

    pub fn forwarded(&self, flow: Flow, bytes: usize) {
        let counter = match flow {
            Flow::Upstream => &self.bytes_upstream,
            Flow::Downstream => &self.bytes_downstream,
        };
        counter.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn dropped(&self, bytes: usize) {
        self.bytes_dropped
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> CounterSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CounterSnapshot {
            connections_open: get(&self.connections_open),
            connections_accepted: get(&self.connections_accepted),
            connections_reset: get(&self.connections_reset),
            upstream_connect_failures: get(&self.upstream_connect_failures),
            bytes_upstream: get(&self.bytes_upstream),
            bytes_downstream: get(&self.bytes_downstream),
            bytes_dropped: get(&self.bytes_dropped),
        }
    }
}
