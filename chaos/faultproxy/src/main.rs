//! A fault-injecting TCP proxy for the chaos test bed (latency, jitter, blackholes, resets), in the manner of toxiproxy.
//! (Being written; see issue 22.)

fn main() {}
