//! pg_bss: the BSS event store inside PostgreSQL.
//!
//! `CREATE EXTENSION pg_bss` creates schema `bss`: the append-only,
//! time-partitioned table `bss.events`, the publication `bss_events` for logical
//! decoding, and the SQL API (`bss.append_event`, `bss.append_events`,
//! `bss.append_cloudevents`, `bss.read_stream`, `bss.read_all`,
//! `bss.read_category`, `bss.stream_version`, partition management).
//!
//! SQL lives in `sql/pg_bss.sql`; Rust does the append path, where speed, exact
//! ordering and clear errors matter. This crate owns the on-disk event model;
//! it never talks to anything outside PostgreSQL.

mod append;
mod batch;
mod cloudevents;
mod entry;
mod error;
mod guc;
mod jsonb;
mod partitions;
mod position;

::pgrx::pg_module_magic!(name, version);

pgrx::extension_sql_file!("../../sql/pg_bss.sql", name = "bootstrap", bootstrap);

#[pgrx::pg_guard]
pub extern "C-unwind" fn _PG_init() {
    guc::register();
    partitions::register_abort_callbacks();
}

#[cfg(any(test, feature = "pg_test"))]
mod tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec!["wal_level = logical"]
    }
}
