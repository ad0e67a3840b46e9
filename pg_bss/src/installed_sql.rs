//! What the extension's installed SQL provides. A new library runs under an
//! older version's SQL between installing it and `ALTER EXTENSION pg_bss
//! UPDATE`: then the tables and functions later versions added (the read
//! side's in 0.2.0, `bss.schemas` in 0.3.0, the tenant check in 0.7.0) are
//! absent, and appends do without them instead of failing. Asked only when a per-session cache is loaded, never per
//! append. Must never create or change anything.

use pgrx::spi::SpiClient;

use crate::error::{BssResult, During};

/// Whether the table `name` (schema-qualified) exists.
pub fn has_table(client: &SpiClient<'_>, name: &str) -> BssResult<bool> {
    resolves(client, "SELECT to_regclass($1) IS NOT NULL", name)
}

/// Whether the function `signature` (schema-qualified, with argument types) exists.
pub fn has_function(client: &SpiClient<'_>, signature: &str) -> BssResult<bool> {
    resolves(client, "SELECT to_regprocedure($1) IS NOT NULL", signature)
}

fn resolves(client: &SpiClient<'_>, query: &str, name: &str) -> BssResult<bool> {
    const STEP: &str = "look up the extension's installed SQL";
    let found: Option<bool> = client
        .select(query, Some(1), &[name.into()])
        .during(STEP)?
        .first()
        .get_one()
        .during(STEP)?;
    Ok(found.unwrap_or(false))
}
