//! Personal data (GDPR): the fields an event type's JSON Schema marks
//! `"x-pii": true` are sealed on append with the data subject's key (the
//! event's CloudEvents `subject`, else its stream), before the row exists,
//! so only ciphertext ever reaches a table, the WAL, a standby, a backup or
//! the sidecar's sinks. Reads open them for members of `bss_pii_reader`
//! (and superusers), show [`MASKED`] to everyone else, and [`ERASED`] once
//! `bss.erase_subject` destroyed the subject's key. Must never write a
//! plaintext personal value anywhere, or put one in an error message.

pub mod cipher;
pub mod fields;
pub mod keys;

use std::collections::HashMap;
use std::ffi::CStr;

use pgrx::pg_sys;
use pgrx::spi::SpiClient;
use serde_json::Value;
use uuid::Uuid;

use crate::error::BssResult;
use cipher::SecretKey;
use fields::FieldPath;

/// What a sealed value reads as once its subject was erased.
pub const ERASED: &str = "[erased]";
/// What a sealed value reads as for a role that may not see personal data.
pub const MASKED: &str = "[personal data]";
/// Members see personal data in plaintext.
const READER_ROLE: &CStr = c"bss_pii_reader";
/// The category of the events `bss.erase_subject` records.
pub const ERASURE_CATEGORY: &str = "erasure";

/// Seals personal fields, one key lookup per data subject per call.
#[derive(Default)]
pub struct Sealer {
    keys: HashMap<String, (Uuid, SecretKey)>,
}

impl Sealer {
    /// Seals the values at `fields` in `data` under `subject`'s key (made
    /// when it has none); whether there was any. Values already sealed are
    /// left as they are.
    pub fn seal(
        &mut self,
        client: &mut SpiClient<'_>,
        fields: &[FieldPath],
        subject: &str,
        data: &mut Value,
    ) -> BssResult<bool> {
        let mut targets = 0usize;
        for path in fields {
            fields::each_at::<()>(data, path, &mut |v| {
                targets += usize::from(cipher::envelope(v).is_none() && !v.is_null());
                Ok(())
            })
            .ok();
        }
        if targets == 0 {
            return Ok(false);
        }
        let (key_id, key) = match self.keys.get(subject) {
            Some(k) => *k,
            None => {
                let k = keys::for_subject(client, subject)?;
                self.keys.insert(subject.to_owned(), k);
                k
            }
        };
        for path in fields {
            fields::each_at::<()>(data, path, &mut |v| {
                if cipher::envelope(v).is_none() && !v.is_null() {
                    *v = cipher::seal_value(key_id, &key, v);
                }
                Ok(())
            })
            .ok();
        }
        Ok(true)
    }
}

/// Whether the role in effect (outside the store's functions) sees
/// personal data in plaintext.
pub fn may_see_personal_data() -> bool {
    // SAFETY: reads a backend global; membership from the backend's cache.
    let caller = unsafe { pg_sys::GetOuterUserId() };
    if unsafe { pg_sys::superuser_arg(caller) } {
        return true;
    }
    // SAFETY: a syscache lookup by name; missing_ok.
    let role = unsafe { pg_sys::get_role_oid(READER_ROLE.as_ptr(), true) };
    role != pg_sys::InvalidOid && unsafe { pg_sys::has_privs_of_role(caller, role) }
}

/// Replaces every sealed value in `doc` by its plaintext, [`MASKED`] or
/// [`ERASED`]; whether there was any.
pub fn reveal(client: &SpiClient<'_>, doc: &mut Value, may_see: bool) -> BssResult<bool> {
    if let Some((key_id, sealed)) = cipher::envelope(doc) {
        *doc = match keys::by_id(client, key_id)? {
            None => Value::String(ERASED.into()),
            Some(_) if !may_see => Value::String(MASKED.into()),
            Some(key) => cipher::open_value(key_id, &key, &sealed)
                .unwrap_or_else(|| Value::String(ERASED.into())),
        };
        return Ok(true);
    }
    let mut any = false;
    match doc {
        Value::Object(map) => {
            for v in map.values_mut() {
                any |= reveal(client, v, may_see)?;
            }
        }
        Value::Array(items) => {
            for v in items {
                any |= reveal(client, v, may_see)?;
            }
        }
        _ => {}
    }
    Ok(any)
}

/// Whether raw bytes (a jsonb datum's) may hold a sealed value: the
/// envelope's key appears in them. False means certainly not.
pub fn may_hold_sealed(bytes: &[u8]) -> bool {
    let key = cipher::ENVELOPE_KEY.as_bytes();
    bytes.windows(key.len()).any(|w| w == key)
}
