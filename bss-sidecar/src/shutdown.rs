//! Owns the order of shutdown: on SIGTERM or SIGINT the source stops first
//! (nothing more is spooled), then everything that reads the spool (sinks,
//! the anomaly stage, the status sampler and the HTTP server) drains and
//! stops. Must never stop a consumer of the spool before the source.

use std::future::Future;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// The two stop signals, given in order: the source's, then the rest's.
pub struct Shutdown {
    source: watch::Sender<bool>,
    consumers: watch::Sender<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown {
            source: watch::Sender::new(false),
            consumers: watch::Sender::new(false),
        }
    }
}

impl Shutdown {
    /// Turns true when the source must stop.
    pub fn source(&self) -> watch::Receiver<bool> {
        self.source.subscribe()
    }

    /// Turns true when the sinks, the stage and the HTTP server must drain
    /// and stop: after the source has stopped.
    pub fn consumers(&self) -> watch::Receiver<bool> {
        self.consumers.subscribe()
    }

    pub fn stop_source(&self) {
        self.source.send_replace(true);
    }

    pub fn stop_consumers(&self) {
        self.consumers.send_replace(true);
    }
}

/// Resolves once `shutdown` turns true (or its sender is gone).
pub async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // The borrow guard must not live across an await: it is not Send.
    let _ = shutdown.wait_for(|s| *s).await.map(|_| ());
}

/// Installs the SIGTERM and SIGINT handlers now; the future resolves at the
/// first of them.
pub fn termination_signal() -> std::io::Result<impl Future<Output = ()>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumers_are_not_stopped_by_the_source_stop() {
        let s = Shutdown::default();
        let (source, consumers) = (s.source(), s.consumers());
        s.stop_source();
        assert!(*source.borrow());
        assert!(!*consumers.borrow(), "the sinks keep draining");
        s.stop_consumers();
        assert!(*consumers.borrow());
    }
}
