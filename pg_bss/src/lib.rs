//! pg_bss: the BSS event store inside PostgreSQL.
//!
//! `CREATE EXTENSION pg_bss` creates schema `bss`: the append-only,
//! time-partitioned table `bss.events`, the publication `bss_events` for logical
//! decoding, and the SQL API (`bss.append_event`, `bss.append_events`,
//! `bss.append_cloudevents`, `bss.read_stream`, `bss.read_all`,
//! `bss.read_category`, `bss.stream_version`, partition management), and the
//! read side (`bss.aggregate`, reducers, snapshots, projections: see
//! `sql/time_travel.sql` and `fold.rs`), and data quality (JSON Schemas per
//! event type, dead letters, `bss.validate_event`: `sql/data_quality.sql`,
//! `schemas.rs`, `dead_letters.rs`), and observability (the view `bss.stats`
//! for a Prometheus postgres_exporter: `sql/observability.sql`), and partition
//! upkeep (`bss.ensure_partitions`, autovacuum settings for append-only
//! partitions: `sql/partition_upkeep.sql`), and the audit trail (a
//! hash-chained `bss.audit_log`, `bss.verify_audit`: `sql/audit.sql`), and tenants (a tenant on every row, row-level security:
//! `sql/tenants.sql`, `tenants.rs`), and personal data (fields sealed per data
//! subject, `bss.erase_subject`: `sql/personal_data.sql`, `pii/`), and privileges (group roles
//! bss_writer, bss_reader, bss_admin, bss_sidecar; the functions run as
//! bss_store: `sql/privileges.sql`, `roles.rs`).
//!
//! SQL lives in `sql/`; Rust does the append path, where speed, exact
//! ordering and clear errors matter. This crate owns the on-disk event model;
//! it never talks to anything outside PostgreSQL.

/// Declares a C function PostgreSQL calls (`LANGUAGE c` in the SQL files):
/// runs the Rust body under pgrx's guard and raises a returned `BssError`.
macro_rules! sql_function {
    ($name:ident, $finfo:ident, $body:path) => {
        #[no_mangle]
        pub extern "C" fn $finfo() -> &'static pg_sys::Pg_finfo_record {
            const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
            &V1
        }

        /// # Safety
        /// Called by PostgreSQL's function manager with a valid `fcinfo`.
        #[no_mangle]
        pub unsafe extern "C-unwind" fn $name(fcinfo: FunctionCallInfo) -> pg_sys::Datum {
            let outcome: BssResult<pg_sys::Datum> =
                pg_sys::panic::pgrx_extern_c_guard(|| $body(fcinfo));
            match outcome {
                Ok(datum) => datum,
                Err(err) => raise(err),
            }
        }
    };
}

// The SQL entry points, and what they share.
mod call_args;
mod entry;
mod error;
mod guc;
mod installed_sql;

// The rules an event must keep, and the checks of each way events come in.
mod batch;
mod cloudevents;
mod rfc3339;
mod rules;
mod schemas;
mod stream_id;

// The steps of an append (append.rs runs them in order).
mod append;
mod append_streams;
mod dead_letters;
mod expected_version;
mod idempotency;
mod insert;
mod partitions;
mod position;
mod roles;
mod statements;
mod stream_lock;
mod tenants;

// Personal data: sealed on append, opened or masked on read, erased.
mod pii;

// Several regions: who owns a stream, forwarding, applying replicated events.
mod regions;

// The read side, and what the store shares.
mod fold;
mod jsonb;
mod jsonb_edit;
mod jsonb_patch;
mod merge_patch;
mod read_side;
mod session_cache;

::pgrx::pg_module_magic!(name, version);

pgrx::extension_sql_file!("../sql/pg_bss.sql", name = "bootstrap", bootstrap);
pgrx::extension_sql_file!(
    "../sql/time_travel.sql",
    name = "time_travel",
    requires = ["bootstrap"]
);
pgrx::extension_sql_file!(
    "../sql/data_quality.sql",
    name = "data_quality",
    requires = ["time_travel"]
);
pgrx::extension_sql_file!(
    "../sql/partition_upkeep.sql",
    name = "partition_upkeep",
    requires = ["data_quality"]
);
pgrx::extension_sql_file!(
    "../sql/regions.sql",
    name = "regions",
    requires = ["partition_upkeep"]
);
pgrx::extension_sql_file!(
    "../sql/region_fencing.sql",
    name = "region_fencing",
    requires = ["regions"]
);
pgrx::extension_sql_file!(
    "../sql/observability.sql",
    name = "observability",
    requires = ["region_fencing"]
);
pgrx::extension_sql_file!(
    "../sql/audit.sql",
    name = "audit",
    requires = ["observability"]
);
pgrx::extension_sql_file!("../sql/tenants.sql", name = "tenants", requires = ["audit"]);
pgrx::extension_sql_file!(
    "../sql/personal_data.sql",
    name = "personal_data",
    requires = ["tenants"]
);
pgrx::extension_sql_file!("../sql/privileges.sql", name = "privileges", finalize);

#[pgrx::pg_guard]
pub extern "C-unwind" fn _PG_init() {
    guc::register();
    partitions::register_abort_callbacks();
    read_side::register();
    schemas::register();
    pii::keys::register();
}

#[cfg(any(test, feature = "pg_test"))]
mod test_support;

#[cfg(any(test, feature = "pg_test"))]
mod tests;

#[cfg(any(test, feature = "pg_test"))]
mod data_quality_tests;

#[cfg(any(test, feature = "pg_test"))]
mod append_streams_tests;

#[cfg(any(test, feature = "pg_test"))]
mod observability_tests;

#[cfg(any(test, feature = "pg_test"))]
mod jsonb_patch_tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec!["wal_level = logical"]
    }
}
