//! bss-intel: event intelligence for BSS events. Owns reading meaning out of
//! what events carry, starting with the sentiment of support tickets' free
//! text ([`sentiment`]); knows nothing of PostgreSQL, the spool or Kafka (a
//! pipeline stage wires it in).
//!
//! Third-party data (the VADER lexicons) is never compiled in or committed:
//! `scripts/intel_data.sh` fetches and verifies it, and the crate loads it at
//! run time.

pub mod sentiment;
