//! bss-intel: event intelligence for BSS events. Owns reading meaning out
//! of what events carry: the sentiment of support tickets' free text
//! ([`sentiment`]) and sentence embeddings ([`embedding`]), and turning an
//! operator's question into a whitelisted query ([`ask`]); knows nothing of
//! PostgreSQL clients, the spool or Kafka (a pipeline stage or the CLI
//! wires it in: `ask`'s templates are SQL text, which it never runs).
//!
//! Third-party data (the VADER lexicons, the model's weights) is never
//! compiled in or committed: `scripts/intel_data.sh` fetches and verifies
//! it, and the crate loads it at run time.

pub mod ask;
pub mod classify;
pub mod embedding;
pub mod forecast;
pub mod routing;
pub mod sentiment;
