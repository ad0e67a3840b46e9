//! Owns which tenant a transaction acts for: the `bss.tenant` setting,
//! checked. Every row of the store carries a tenant (`DEFAULT
//! bss.current_tenant()`), and the row-level security policies of
//! `sql/tenants.sql` let a query see the rows of this tenant only. Never
//! reads or writes a table: what a tenant may see is the policies' job.
//!
//! - Unset or empty, the tenant is `default`: a store that never sets it is
//!   one tenant.
//! - A name is 1 to 63 characters: ASCII letters, digits, `_`, `.`, `:`,
//!   `-`, starting with a letter or a digit.
//! - `*` reads every tenant; only superusers and members of bss_admin or
//!   pg_monitor may set it (checked on use: any role may SET a setting), and
//!   nothing is appended under it: an event belongs to one tenant.

use std::ffi::CStr;

use crate::error::{BssError, BssResult, SqlState};
use crate::{guc, roles};

/// The tenant of sessions that never set `bss.tenant`.
pub const DEFAULT: &str = "default";
/// Every tenant, for reading.
pub const ALL: &str = "*";
/// Roles whose members may read every tenant.
const ALL_TENANT_ROLES: [&CStr; 2] = [c"bss_admin", c"pg_monitor"];

/// The tenant in effect, checked: a name, or `*` for a role allowed it.
pub fn current() -> BssResult<String> {
    let tenant = guc::string(&guc::TENANT, DEFAULT);
    if tenant == ALL {
        check_may_read_all()?;
        return Ok(tenant);
    }
    if !is_name(&tenant) {
        return Err(BssError::new(
            SqlState::InvalidTenant,
            format!("invalid tenant {tenant:?} in bss.tenant"),
        )
        .hint("A tenant is 1 to 63 letters, digits, '_', '.', ':' or '-', starting with a letter or a digit: SET LOCAL bss.tenant = 'acme'."));
    }
    Ok(tenant)
}

/// The tenant an append stores its events under: `current()`, never `*`.
pub fn for_append() -> BssResult<String> {
    let tenant = current()?;
    if tenant == ALL {
        return Err(BssError::new(
            SqlState::InvalidTenant,
            "bss.tenant is '*' (every tenant): an event is appended for one tenant",
        )
        .hint("SET LOCAL bss.tenant to the tenant the events belong to."));
    }
    Ok(tenant)
}

fn is_name(t: &str) -> bool {
    let ok = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b':' | b'-');
    (1..=63).contains(&t.len()) && t.as_bytes()[0].is_ascii_alphanumeric() && t.bytes().all(ok)
}

fn check_may_read_all() -> BssResult<()> {
    if roles::caller_is_superuser_or_in(&ALL_TENANT_ROLES) {
        return Ok(());
    }
    Err(BssError::new(
        SqlState::InsufficientPrivilege,
        format!(
            "role \"{}\" may not read every tenant (bss.tenant = '*')",
            roles::acting_role_name()
        ),
    )
    .hint("Reading every tenant takes membership of bss_admin or pg_monitor; set bss.tenant to one tenant instead."))
}

#[cfg(test)]
mod tests {
    use super::is_name;

    #[test]
    fn names() {
        for ok in [
            "default",
            "acme",
            "t1",
            "eu-west:acme.de",
            "A_b",
            &"x".repeat(63),
        ] {
            assert!(is_name(ok), "{ok}");
        }
        for bad in ["", "*", "-acme", "_a", "a b", "a'b", "ä", &"x".repeat(64)] {
            assert!(!is_name(bad), "{bad}");
        }
    }
}
