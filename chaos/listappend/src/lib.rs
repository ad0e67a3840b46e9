//! bss-listappend: an Elle list-append style isolation check of pg_bss
//! streams under faults. Clients append unique values to streams and read
//! them (`client`, through `store`, on the streams `stream_pool` hands
//! out), every operation goes into a `history`, and after the run the
//! `checker` compares the history with every stream's final list; `report`
//! writes what it found. `run` drives one whole run.
//!
//! This file only wires modules together; it must never hold logic itself.

pub mod checker;
pub mod history;
