//! Owns who may do what where SQL grants cannot say it: which streams a
//! caller may append to, and as whom a reducer runs. The group roles
//! themselves, their grants and the functions' owners are in
//! `sql/privileges.sql`; this module only reads them. Never grants, and never
//! lets a reducer run with the rights of the store's own role.
//!
//! The append and read functions run as `bss_store` (SECURITY DEFINER), a
//! role nobody can log in as or be a member of. Inside them:
//! - the caller is the role in effect outside any function (the login role,
//!   or the one SET ROLE chose): `GetOuterUserId`;
//! - a reducer registered by an administrator runs as its owner, in a
//!   restricted operation (no SET ROLE, no temporary tables), as PostgreSQL
//!   runs an index expression during maintenance: so a reducer can do no more
//!   than the role that wrote it.

use std::ffi::CStr;

use pgrx::pg_sys::{self, Oid};

use crate::error::{BssError, BssResult, SqlState};
use crate::stream_id;

/// The role the store's functions run as (owner of the SECURITY DEFINER ones).
const STORE: &CStr = c"bss_store";
/// Applications: may append to any stream.
const WRITER: &CStr = c"bss_writer";
/// The category the sidecar's role may append to (its anomaly events).
pub const SIDECAR_CATEGORY: &str = "anomaly";
/// How the types of the events the sidecar's role may append to any stream
/// end: what its intelligence stage derives from an event and appends to
/// that event's stream (`ticket.classified` after `ticket.opened`).
pub const SIDECAR_DERIVED_SUFFIX: &str = ".classified";

fn role(name: &CStr) -> Option<Oid> {
    // SAFETY: a syscache lookup by name; missing_ok makes it return InvalidOid.
    let oid = unsafe { pg_sys::get_role_oid(name.as_ptr(), true) };
    (oid != pg_sys::InvalidOid).then_some(oid)
}

fn role_name(oid: Oid) -> String {
    // SAFETY: noerr: a NULL for a dropped role, never an error.
    let name = unsafe { pg_sys::GetUserNameFromId(oid, true) };
    if name.is_null() {
        return format!("role {}", oid.to_u32());
    }
    // SAFETY: a palloc'd, NUL-terminated role name.
    unsafe { CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned()
}

/// Whether the caller (GetOuterUserId) is a superuser or a member of one
/// of `roles` (by name; a role that does not exist has no members).
pub fn caller_is_superuser_or_in(roles: &[&CStr]) -> bool {
    // SAFETY: reads a backend global.
    let caller = unsafe { pg_sys::GetOuterUserId() };
    // SAFETY: superuser and membership from the backend's caches.
    let superuser = unsafe { pg_sys::superuser_arg(caller) };
    superuser
        || roles
            .iter()
            .any(|name| role(name).is_some_and(|r| unsafe { pg_sys::has_privs_of_role(caller, r) }))
}

/// The caller's name (GetOuterUserId), for the audit trail.
pub fn acting_role_name() -> String {
    // SAFETY: reads a backend global.
    role_name(unsafe { pg_sys::GetOuterUserId() })
}

/// Whether the caller may append to `stream_id` (events of `event_type`,
/// when the call appends one event): members of bss_writer (and
/// superusers) to any stream but `erasure-*` (bss.erase_subject's own);
/// anyone else the append functions admit (the sidecar's role) only to
/// `anomaly-*` streams, and single events of a `*.classified` type to any
/// other.
pub fn check_may_append(stream_id: &str, event_type: Option<&str>) -> BssResult<()> {
    let category = stream_id::category(stream_id);
    if category == crate::pii::ERASURE_CATEGORY {
        return Err(BssError::new(
            SqlState::InsufficientPrivilege,
            format!(
                "stream \"{stream_id}\" records erasures: only bss.erase_subject appends to it"
            ),
        )
        .hint("Erase a data subject with SELECT bss.erase_subject('<subject>') (bss_admin)."));
    }
    if category == SIDECAR_CATEGORY
        || event_type.is_some_and(|t| t.ends_with(SIDECAR_DERIVED_SUFFIX))
    {
        return Ok(());
    }
    if caller_is_superuser_or_in(&[WRITER]) {
        return Ok(());
    }
    Err(BssError::new(
        SqlState::InsufficientPrivilege,
        format!(
            "role \"{}\" may not append to stream \"{stream_id}\": only to {SIDECAR_CATEGORY}-* streams, \
             and events of a *{SIDECAR_DERIVED_SUFFIX} type",
            acting_role_name()
        ),
    )
    .hint("Appending to any stream takes membership of bss_writer: GRANT bss_writer TO <role>."))
}

/// The owner a reducer is to run as, when the fold runs inside a SECURITY
/// DEFINER function (the store's, or `bss.rebuild_projection`, which runs as
/// the extension's owner): a reducer never gets the rights of the function
/// it is called from. None when it runs as the caller. Outside the store's
/// own functions the role in effect must be allowed to execute it (fmgr does
/// not check: the function comes as an argument).
///
/// # Safety
/// `reducer` is a function that exists (check_reducer passed).
pub unsafe fn reducer_runs_as(reducer: Oid, reducer_name: &str) -> BssResult<Option<Oid>> {
    let current = pg_sys::GetUserId();
    if role(STORE) != Some(current)
        && pg_sys::pg_proc_aclcheck(reducer, current, pg_sys::ACL_EXECUTE as pg_sys::AclMode)
            != pg_sys::AclResult::ACLCHECK_OK
    {
        return Err(BssError::new(
            SqlState::InsufficientPrivilege,
            format!(
                "permission denied for function {reducer_name}: role \"{}\" may not fold with it",
                role_name(current)
            ),
        )
        .hint("GRANT EXECUTE ON FUNCTION to the role, or read the state with bss.aggregate."));
    }
    if current == pg_sys::GetOuterUserId() {
        return Ok(None);
    }
    function_owner(reducer).map(Some).ok_or_else(|| {
        BssError::new(
            SqlState::InvalidReducer,
            format!("function {reducer_name} does not exist"),
        )
    })
}

unsafe fn function_owner(f: Oid) -> Option<Oid> {
    let tuple = pg_sys::SearchSysCache1(
        pg_sys::SysCacheIdentifier::PROCOID as _,
        pg_sys::Datum::from(f),
    );
    if tuple.is_null() {
        return None; // dropped since check_reducer looked
    }
    let owner = (*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_proc>(tuple)).proowner;
    pg_sys::ReleaseSysCache(tuple);
    Some(owner)
}

/// The user and security context to restore after running as another role.
pub struct RunningAs {
    user: Oid,
    context: std::ffi::c_int,
}

/// Switches to `owner` in a restricted operation until `restore`.
///
/// # Safety
/// The caller restores, also when what runs in between raises an error
/// (a transaction abort restores as well).
pub unsafe fn run_as(owner: Oid) -> RunningAs {
    let mut user = pg_sys::InvalidOid;
    let mut context = 0;
    pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
    let restricted = (pg_sys::SECURITY_LOCAL_USERID_CHANGE | pg_sys::SECURITY_RESTRICTED_OPERATION)
        as std::ffi::c_int;
    pg_sys::SetUserIdAndSecContext(owner, context | restricted);
    RunningAs { user, context }
}

impl RunningAs {
    /// # Safety
    /// Called once, in the same call frame that switched.
    pub unsafe fn restore(self) {
        pg_sys::SetUserIdAndSecContext(self.user, self.context);
    }
}
