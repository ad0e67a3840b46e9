//! Owns how handling a batch of the spool fails, for every consumer the
//! runner drives (a sink's delivery, a stage's work): for now, and the
//! runner tries the same batch again after a backoff, or for good, and the
//! sidecar stops. Must never say more than that: what to do about it is the
//! runner's.

/// Why a sink or a stage could not handle a batch.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The destination is unreachable or refused for now: the runner retries
    /// the same batch after a backoff, for as long as it takes.
    #[error("{0}")]
    Retry(String),
    /// Retrying cannot help (bad configuration, a message the destination
    /// will never accept): the sidecar stops with this error.
    #[error("{0}")]
    Fatal(String),
}
