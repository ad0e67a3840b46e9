//! bss-listappend: an Elle list-append style isolation check of pg_bss
//! streams under faults. Clients (`client`) append unique values to
//! streams and read them through `store`, on the streams `stream_pool`
//! hands out; every operation goes into a `history`, and after the run
//! (`run`) the `checker` compares the history with every stream's final
//! list; `report` says what it found.
//!
//! This file only wires modules together; it must never hold logic itself.

pub mod checker;
pub mod client;
pub mod duration;
pub mod history;
pub mod report;
pub mod run;
pub mod store;
pub mod stream_pool;
