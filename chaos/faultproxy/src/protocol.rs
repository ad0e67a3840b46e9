//! Owns the control protocol, the one contract between `bss-faultproxy
//! serve` and its client subcommands (or a script with `socat`/`nc -U`).
//! It must never hold behaviour: the server side lives in `control.rs`, the
//! client side in `client.rs`.
//!
//! Over the unix socket given by `--control`, the client writes one line
//! of JSON (a request) and reads one line of JSON (its answer); it may send
//! further requests on the same connection. Requests, by `op`:
//!
//! ```text
//! {"op":"latency","ms":200,"jitter_ms":20,"direction":"both"}   jitter_ms defaults to 0,
//!                                                                direction (both|upstream|downstream) to both
//! {"op":"bandwidth","kbytes_per_second":100}                     kilobytes of 1000 bytes, at least 1
//! {"op":"stall"}      {"op":"blackhole"}      {"op":"reset"}     each replaces the other two
//! {"op":"clear"}                                                 every toxic off
//! {"op":"status"}                                                changes nothing
//! ```
//!
//! Latency and bandwidth combine with each other and with a fault. Every
//! answer is either `{"ok":true,"status":STATUS}`, the state after the
//! request, or `{"ok":false,"error":"..."}` (then nothing changed). STATUS:
//!
//! ```text
//! {"name":"pg","listen":"10.213.0.11:5433","upstream":"127.0.0.1:5432",
//!  "toxics":{"latency":{"ms":200,"jitter_ms":20,"direction":"both"},"bandwidth":null,"fault":null},
//!  "connections_open":1,"connections_accepted":4,"connections_reset":0,"upstream_connect_failures":0,
//!  "bytes_upstream":1024,"bytes_downstream":2048,"bytes_dropped":0}
//! ```
//!
//! `upstream` is bytes written to the upstream server, `downstream` bytes
//! written back to clients; `fault` is null, "stall", "blackhole" or
//! "reset".

use serde::{Deserialize, Serialize};

use crate::counters::CounterSnapshot;
use crate::toxics::{Bandwidth, Latency, Toxics};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Latency(Latency),
    Bandwidth(Bandwidth),
    Stall,
    Blackhole,
    Reset,
    Clear,
    Status,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Answer {
    pub fn ok(status: Status) -> Self {
        Answer {
            ok: true,
            status: Some(status),
            error: None,
        }
    }

    pub fn refused(error: impl Into<String>) -> Self {
        Answer {
            ok: false,
            status: None,
            error: Some(error.into()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub name: String,
    pub listen: String,
    pub upstream: String,
    pub toxics: Toxics,
    #[serde(flatten)]
    pub counters: CounterSnapshot,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toxics::LatencyDirection;

    #[test]
    fn a_latency_request_defaults_its_jitter_and_direction() {
        let r: Request = serde_json::from_str(r#"{"op":"latency","ms":200}"#).expect("parses");
        assert_eq!(
            r,
            Request::Latency(Latency {
                ms: 200,
                jitter_ms: 0,
                direction: LatencyDirection::Both
            })
        );
    }

    #[test]
    fn requests_read_back_what_they_write() {
        for r in [
            Request::Bandwidth(Bandwidth {
                kbytes_per_second: 7,
            }),
            Request::Stall,
            Request::Clear,
            Request::Status,
        ] {
            let line = serde_json::to_string(&r).expect("serializes");
            assert_eq!(serde_json::from_str::<Request>(&line).expect("parses"), r);
        }
        assert_eq!(
            serde_json::to_string(&Request::Blackhole).expect("serializes"),
            r#"{"op":"blackhole"}"#
        );
    }

    #[test]
    fn an_unknown_op_does_not_parse() {
        assert!(serde_json::from_str::<Request>(r#"{"op":"explode"}"#).is_err());
    }
}
