//! Owns every limit of the proxy: its name, its unit and its reason. Code
//! elsewhere uses these names and never spells a limit as a literal.

use std::time::Duration;

/// The most one read takes from a socket: a chunk is at most this long.
/// 64 KiB is what one loopback or LAN read commonly returns under load, so
/// a bulk transfer costs one read, one queue entry and one write per 64 KiB.
pub const READ_BYTES: usize = 64 * 1024;

/// The read buffer is topped up to `READ_BYTES` once less than this is left
/// in it. Small chunks (a PostgreSQL message, a Kafka request) then share
/// one allocation instead of each pinning 64 KiB while it waits in a delay
/// queue.
pub const READ_REFILL_BELOW_BYTES: usize = 4 * 1024;

/// The most bytes one direction of one connection holds read but not yet
/// written (waiting out a latency, a stall or a bandwidth limit). Past it
/// the proxy stops reading, so TCP backpressure reaches the sender. 8 MiB
/// carries 16 MB/s through a 500 ms latency, far more than the test bed
/// moves.
pub const QUEUED_BYTES_PER_DIRECTION: usize = 8 * 1024 * 1024;

/// A bandwidth limit writes a slice of this much time's worth of bytes,
/// then waits until the slice is paid for, as toxiproxy's bandwidth toxic
/// does: smooth enough at any rate, few enough wake-ups at high ones.
pub const BANDWIDTH_SLICE: Duration = Duration::from_millis(100);

/// The longest control request line accepted; a request is a few dozen
/// bytes, anything longer is a client gone wrong.
pub const CONTROL_LINE_MAX_BYTES: u64 = 4 * 1024;

/// How long a control client waits for the proxy's answer.
pub const CONTROL_ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

const _: () = assert!(READ_REFILL_BELOW_BYTES < READ_BYTES);
// A reader always gets its chunk's bytes from the budget.
const _: () = assert!(READ_BYTES <= QUEUED_BYTES_PER_DIRECTION);
// The semaphore that enforces the budget counts in u32 permits.
const _: () = assert!(QUEUED_BYTES_PER_DIRECTION <= u32::MAX as usize);
