//! What the extension's installed SQL provides. A new library runs under an
//! older version's SQL between installing it and `ALTER EXTENSION pg_bss
//! UPDATE`: then the tables later versions added (the read side's in 0.2.0,
//! `bss.schemas` in 0.3.0) are absent, and appends do without them instead
//! of failing. Asked only when a per-session cache is loaded, never per
//! append. Must never create or change anything.

use pgrx::spi::SpiClient;

use crate::error::{BssResult, During};

/// Whether the table `name` (schema-qualified) exists.
pub fn has_table(client: &SpiClient<'_>, name: &str) -> BssResult<bool> {
    let found: Option<bool> = client
        .select(
            "SELECT to_regclass($1) IS NOT NULL",
            Some(1),
            &[name.into()],
        )
        .during("look up the extension's tables")?
        .first()
        .get_one()
        .during("look up the extension's tables")?;
    Ok(found.unwrap_or(false))
}
