//! Owns one direction of one proxied connection: reading chunks from one
//! socket and writing them to the other under the toxics currently set.
//!
//! A reader and a writer run side by side, joined by a queue of chunks
//! (a per-direction delay queue). The reader stamps each chunk with the
//! time it was read and keeps reading while chunks wait; the writer writes
//! them in order, each once its own latency has passed since it was read,
//! so a latency delays every chunk by its amount without serializing them.
//! The queue holds at most `QUEUED_BYTES_PER_DIRECTION`, then the reader
//! stops and TCP backpressure reaches the sender. A stall stops both
//! sides; a blackhole drops what is read or queued; a reset is the
//! connection's to carry out (it drops both links), so here it only stalls.
//!
//! The toxics are read again before every step and every wait ends when
//! they change, so a change applies at once. A link must never reorder,
//! duplicate or alter bytes, and never closes sockets: it returns, and its
//! connection decides.

use std::io;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use rand::Rng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::{sleep_until, Instant};

use crate::counters::Counters;
use crate::limits::{
    BANDWIDTH_SLICE, QUEUED_BYTES_PER_DIRECTION, READ_BYTES, READ_REFILL_BELOW_BYTES,
};
use crate::toxics::{next_change, Fault, Flow, Toxics};

/// Bytes read in one go, waiting to be written.
struct Chunk {
    bytes: Bytes,
    read_at: Instant,
}

/// Forwards `from` to `to` until `from` ends (then shuts `to` down for
/// writing after the last byte) or either side fails.
pub async fn forward<R, W>(
    flow: Flow,
    from: R,
    to: W,
    toxics: watch::Receiver<Toxics>,
    counters: &Counters,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (queue, queued) = mpsc::unbounded_channel();
    // Permits are bytes: the reader takes a chunk's worth before queueing
    // it, the writer gives them back once the chunk is gone.
    let budget = Semaphore::new(QUEUED_BYTES_PER_DIRECTION);
    let reader = Reader {
        from,
        queue,
        budget: &budget,
        toxics: toxics.clone(),
        counters,
    };
    let writer = Writer {
        flow,
        to,
        budget: &budget,
        toxics,
        counters,
        next_slice_at: None,
    };
    tokio::try_join!(reader.run(), writer.run(queued)).map(|_| ())
}

struct Reader<'a, R> {
    from: R,
    queue: mpsc::UnboundedSender<Chunk>,
    budget: &'a Semaphore,
    toxics: watch::Receiver<Toxics>,
    counters: &'a Counters,
}

impl<R: AsyncRead + Unpin> Reader<'_, R> {
    async fn run(mut self) -> io::Result<()> {
        let mut buf = BytesMut::with_capacity(READ_BYTES);
        loop {
            if self.toxics.borrow_and_update().fault == Some(Fault::Stall) {
                next_change(&mut self.toxics).await;
                continue;
            }
            if buf.capacity() - buf.len() < READ_REFILL_BELOW_BYTES {
                buf.reserve(READ_BYTES);
            }
            let mut room = (&mut buf).limit(READ_BYTES);
            let read = tokio::select! {
                read = self.from.read_buf(&mut room) => read?,
                // A stall set while the read waits stops it before any byte.
                () = next_change(&mut self.toxics) => continue,
            };
            if read == 0 {
                // Dropping the queue lets the writer pass the end on after
                // every chunk read before it.
                return Ok(());
            }
            let read_at = Instant::now();
            let bytes = buf.split().freeze();
            if self.toxics.borrow().fault == Some(Fault::Blackhole) {
                self.counters.dropped(bytes.len());
                continue;
            }
            // READ_BYTES fits both the budget and u32 (limits.rs asserts it).
            match self.budget.acquire_many(bytes.len() as u32).await {
                Ok(permit) => permit.forget(),
                // The budget is never closed; if it were, nothing more moves.
                Err(_) => return Ok(()),
            }
            if self.queue.send(Chunk { bytes, read_at }).is_err() {
                return Ok(());
            }
        }
    }
}

struct Writer<'a, W> {
    flow: Flow,
    to: W,
    budget: &'a Semaphore,
    toxics: watch::Receiver<Toxics>,
    counters: &'a Counters,
    /// Under a bandwidth limit, when the next slice may be written.
    next_slice_at: Option<Instant>,
}

impl<W: AsyncWrite + Unpin> Writer<'_, W> {
    async fn run(mut self, mut queued: mpsc::UnboundedReceiver<Chunk>) -> io::Result<()> {
        while let Some(chunk) = queued.recv().await {
            let len = chunk.bytes.len();
            let delivered = self.deliver(chunk).await;
            self.budget.add_permits(len);
            delivered?;
        }
        // The peer may be gone already; the other direction sees that, and
        // the end of this one has nowhere left to go.
        let _ = self.to.shutdown().await;
        Ok(())
    }

    async fn deliver(&mut self, chunk: Chunk) -> io::Result<()> {
        let Chunk { mut bytes, read_at } = chunk;
        // Drawn once per chunk: a wait cut short by a change of the toxics
        // must not draw the delay again.
        let jitter_draw: f64 = rand::rng().random_range(-1.0..=1.0);
        while !bytes.is_empty() {
            let toxics = *self.toxics.borrow_and_update();
            match toxics.fault {
                Some(Fault::Stall) | Some(Fault::Reset) => {
                    next_change(&mut self.toxics).await;
                    continue;
                }
                Some(Fault::Blackhole) => {
                    self.counters.dropped(bytes.len());
                    return Ok(());
                }
                None => {}
            }
            if let Some(latency) = toxics.latency.filter(|l| l.applies_to(self.flow)) {
                let due = read_at + latency.delay(jitter_draw);
                if Instant::now() < due {
                    self.wait_until(due).await;
                    continue;
                }
            }
            let now = Instant::now();
            let len = match toxics.bandwidth {
                None => {
                    self.next_slice_at = None;
                    bytes.len()
                }
                Some(bandwidth) => {
                    let start = match self.next_slice_at {
                        Some(at) if at > now => {
                            self.wait_until(at).await;
                            continue;
                        }
                        // Keep to the schedule across a late wake-up, but
                        // bank no credit over an idle spell.
                        Some(at) if now - at < BANDWIDTH_SLICE => at,
                        _ => now,
                    };
                    let len = bandwidth.slice_bytes().min(bytes.len());
                    self.next_slice_at = Some(start + bandwidth.time_for(len));
                    len
                }
            };
            self.to.write_all(&bytes[..len]).await?;
            self.counters.forwarded(self.flow, len);
            bytes.advance(len);
        }
        Ok(())
    }

    /// Waits until `at`, or less if the toxics change meanwhile.
    async fn wait_until(&mut self, at: Instant) {
        tokio::select! {
            () = sleep_until(at) => {}
            () = next_change(&mut self.toxics) => {}
        }
    }
}
