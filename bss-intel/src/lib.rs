//! bss-intel: event intelligence for BSS events. Owns reading meaning out
//! of what events carry: the sentiment of support tickets' free text
//! ([`sentiment`]) and sentence embeddings ([`embedding`]); knows nothing of
//! PostgreSQL, the spool or Kafka (a pipeline stage wires it in).
//!
//! Third-party data (the VADER lexicons, the model's weights) is never
//! compiled in or committed: `scripts/intel_data.sh` fetches and verifies
//! it, and the crate loads it at run time.

pub mod classify;
pub mod embedding;
pub mod forecast;
pub mod routing;
pub mod sentiment;
