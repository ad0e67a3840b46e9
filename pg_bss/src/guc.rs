//! The `bss.*` settings (GUCs). They live in postgresql.conf or `ALTER DATABASE ... SET`.
//!
//! SQL code reads them with `current_setting('bss.x', true)` and its own default,
//! because plain SQL may run before this library is loaded. The prefix `bss`
//! is reserved once they are defined: a setting of it that is not defined
//! here is refused. Every setting lives here; no other module defines one.

use std::ffi::CString;

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};

/// Length of one partition of `bss.events` (an interval; months allowed).
pub static PARTITION_INTERVAL: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"1 day"));
/// How many partitions ahead of now are kept in existence.
pub static PARTITION_PREMAKE: GucSetting<i32> = GucSetting::<i32>::new(4);
/// Largest `data` (and, separately, `metadata`) one event may carry, in bytes as stored.
pub static MAX_DATA_BYTES: GucSetting<i32> = GucSetting::<i32>::new(1024 * 1024);
/// Most events one `append_events` / `append_cloudevents` call may carry.
pub static MAX_BATCH_EVENTS: GucSetting<i32> = GucSetting::<i32>::new(10_000);
/// CloudEvents `source` of events appended without one.
pub static DEFAULT_SOURCE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"/pg_bss"));
/// The region this database appends in, recorded on every event.
pub static REGION: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"local"));
/// Whether appends to the streams this region owns need a lease from its
/// region keeper (regions/route.rs, sql/region_fencing.sql).
pub static REGION_FENCING: GucSetting<bool> = GucSetting::<bool>::new(false);
/// The file holding the master key personal data is sealed under (pii/keys.rs).
pub static MASTER_KEY_FILE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
/// The file of the master key before a rotation (pii/keys.rs): keys still
/// wrapped under it open, and bss.rotate_master_key re-wraps them.
pub static PREVIOUS_MASTER_KEY_FILE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(None);
/// The tenant this transaction acts for (tenants.rs checks it).
pub static TENANT: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

pub fn register() {
    GucRegistry::define_string_guc(
        c"bss.partition_interval",
        c"Length of one partition of bss.events.",
        c"An interval such as '1 day', '6 hours' or '1 month'; new partitions use it.",
        &PARTITION_INTERVAL,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"bss.partition_premake",
        c"How many partitions of bss.events to keep ahead of the current time.",
        c"",
        &PARTITION_PREMAKE,
        1,
        10_000,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"bss.max_data_bytes",
        c"Largest data (or metadata) of one event, in bytes as stored.",
        c"Kafka's default message limit is about 1 MB; keep this below the broker's message.max.bytes.",
        &MAX_DATA_BYTES,
        1024,
        256 * 1024 * 1024,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"bss.max_batch_events",
        c"Most events accepted by one append_events or append_cloudevents call.",
        c"",
        &MAX_BATCH_EVENTS,
        1,
        1_000_000,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"bss.default_source",
        c"CloudEvents source of events appended without one.",
        c"",
        &DEFAULT_SOURCE,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"bss.region",
        c"The region this database appends events in.",
        c"Recorded on every event, for multi-region replication.",
        &REGION,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"bss.region_fencing",
        c"Whether appends to the streams this region owns need a lease from its region keeper.",
        c"On: the region refuses them (XB020) until bss-region-keeper has confirmed that it knows every epoch, and again when the lease lapses. Set in postgresql.conf, never per session.",
        &REGION_FENCING,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"bss.master_key_file",
        c"The file holding the master key that data subjects' keys are wrapped under.",
        c"64 hex digits (a 256-bit key), readable by the server's user only; outside the data directory and its backups.",
        &MASTER_KEY_FILE,
        GucContext::Sighup,
        GucFlags::SUPERUSER_ONLY,
    );
    GucRegistry::define_string_guc(
        c"bss.previous_master_key_file",
        c"The file holding the master key before a rotation (bss.rotate_master_key).",
        c"Set with bss.master_key_file naming the new key; unset once bss.rotate_master_key re-wrapped every key.",
        &PREVIOUS_MASTER_KEY_FILE,
        GucContext::Sighup,
        GucFlags::SUPERUSER_ONLY,
    );
    GucRegistry::define_string_guc(
        c"bss.tenant",
        c"The tenant this session or transaction acts for (unset: default).",
        c"Appends store their events under it and reads see its rows only; '*' reads every tenant (bss_admin, pg_monitor).",
        &TENANT,
        GucContext::Userset,
        GucFlags::default(),
    );
    // After the definitions: a `bss.*` name that is not one of them (a
    // misspelt setting) is now an error, not a silent placeholder; existing
    // placeholders are reported and removed.
    // SAFETY: a valid C string, called from _PG_init.
    unsafe { pgrx::pg_sys::MarkGUCPrefixReserved(c"bss".as_ptr()) };
}

pub fn string(setting: &GucSetting<Option<CString>>, fallback: &str) -> String {
    setting
        .get()
        .and_then(|c| c.into_string().ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| fallback.to_owned())
}
