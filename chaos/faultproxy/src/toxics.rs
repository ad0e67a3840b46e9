//! Owns the toxics currently set on a proxy: what they are, how they
//! combine, and what each one means for one chunk of bytes (its delay, its
//! pacing). The proxy keeps one `Toxics` value in a `tokio::sync::watch`
//! channel; every link of every connection reads it before each step, so a
//! change applies at once to open connections and new ones.
//!
//! Latency and bandwidth combine; the faults (stall, blackhole, reset)
//! replace each other. This module is state, arithmetic and waiting for a
//! change: it must never touch a socket or a clock.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::limits::BANDWIDTH_SLICE;

/// Every toxic currently set; the default is none, bytes flow untouched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Toxics {
    pub latency: Option<Latency>,
    pub bandwidth: Option<Bandwidth>,
    pub fault: Option<Fault>,
}

/// The way bytes travel through a connection of the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// From the client to the upstream server.
    Upstream,
    /// From the upstream server back to the client.
    Downstream,
}

/// Which flows a latency delays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LatencyDirection {
    Both,
    Upstream,
    Downstream,
}

/// Each chunk waits `ms` plus a uniform jitter in [-jitter_ms, +jitter_ms]
/// (never below zero) after it was read before it is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    pub ms: u64,
    #[serde(default)]
    pub jitter_ms: u64,
    #[serde(default = "both")]
    pub direction: LatencyDirection,
}

fn both() -> LatencyDirection {
    LatencyDirection::Both
}

impl Latency {
    pub fn applies_to(&self, flow: Flow) -> bool {
        matches!(
            (self.direction, flow),
            (LatencyDirection::Both, _)
                | (LatencyDirection::Upstream, Flow::Upstream)
                | (LatencyDirection::Downstream, Flow::Downstream)
        )
    }

    /// The delay of a chunk that drew `draw` in [-1, 1] for its jitter.
    pub fn delay(&self, draw: f64) -> Duration {
        let ms = self.ms as f64 + draw.clamp(-1.0, 1.0) * self.jitter_ms as f64;
        Duration::from_secs_f64(ms.max(0.0) / 1000.0)
    }
}

/// Each direction of each connection writes at most this many kilobytes
/// (1000 bytes, as toxiproxy's rate) per second.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bandwidth {
    pub kbytes_per_second: u64,
}

impl Bandwidth {
    fn bytes_per_second(&self) -> f64 {
        self.kbytes_per_second as f64 * 1000.0
    }

    /// The most bytes written in one step: one `BANDWIDTH_SLICE` worth, at
    /// least one byte.
    pub fn slice_bytes(&self) -> usize {
        ((self.bytes_per_second() * BANDWIDTH_SLICE.as_secs_f64()) as usize).max(1)
    }

    /// How long writing `bytes` takes at this rate.
    pub fn time_for(&self, bytes: usize) -> Duration {
        Duration::from_secs_f64(bytes as f64 / self.bytes_per_second().max(1.0))
    }
}

/// The faults, of which at most one is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Nothing moves and nothing is read (TCP backpressure acts); what is
    /// held flows on, in order, once cleared.
    Stall,
    /// Bytes are read and dropped for good, in both directions.
    Blackhole,
    /// Every connection is reset (RST to both peers), new ones on accept.
    Reset,
}

/// Waits for the next change of the toxics. Once the proxy is gone (the
/// sender dropped) nothing can change any more, so it never returns.
pub async fn next_change(toxics: &mut watch::Receiver<Toxics>) {
    if toxics.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Returns once a reset is set (at once if it is set already).
pub async fn reset_set(mut toxics: watch::Receiver<Toxics>) {
    if toxics
        .wait_for(|t| t.fault == Some(Fault::Reset))
        .await
        .is_err()
    {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_spreads_the_delay_both_ways_and_never_below_zero() {
        let l = Latency {
            ms: 100,
            jitter_ms: 30,
            direction: LatencyDirection::Both,
        };
        assert_eq!(l.delay(-1.0), Duration::from_millis(70));
        assert_eq!(l.delay(1.0), Duration::from_millis(130));
        assert_eq!(l.delay(0.0), Duration::from_millis(100));
        let wide = Latency {
            jitter_ms: 500,
            ..l
        };
        assert_eq!(wide.delay(-1.0), Duration::ZERO);
    }

    #[test]
    fn a_latency_delays_only_its_direction() {
        let up = Latency {
            ms: 1,
            jitter_ms: 0,
            direction: LatencyDirection::Upstream,
        };
        assert!(up.applies_to(Flow::Upstream));
        assert!(!up.applies_to(Flow::Downstream));
        let both = Latency {
            direction: LatencyDirection::Both,
            ..up
        };
        assert!(both.applies_to(Flow::Upstream) && both.applies_to(Flow::Downstream));
    }

    #[test]
    fn a_bandwidth_slice_is_a_tenth_of_a_second_of_bytes_and_costs_that_long() {
        let b = Bandwidth {
            kbytes_per_second: 500,
        };
        assert_eq!(b.slice_bytes(), 50_000);
        assert_eq!(b.time_for(50_000), Duration::from_millis(100));
        let slow = Bandwidth {
            kbytes_per_second: 0,
        };
        assert_eq!(slow.slice_bytes(), 1);
    }
}
