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

use pgrx::spi::SpiClient;
use serde_json::Value;
use uuid::Uuid;

use crate::error::BssResult;
use crate::schemas::Validators;
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
    /// Seals the personal fields of an event of `type_` (none without a
    /// schema that marks some) in `data`, under the key of its data
    /// subject: `subject`, else the stream. Whether there was any.
    pub fn seal_event(
        &mut self,
        client: &mut SpiClient<'_>,
        schemas: &Validators,
        type_: &str,
        subject: Option<&str>,
        stream_id: &str,
        data: &mut Value,
    ) -> BssResult<bool> {
        let personal = crate::schemas::personal(schemas, type_);
        if personal.is_empty() {
            return Ok(false);
        }
        self.seal(client, personal, subject.unwrap_or(stream_id), data)
    }

    /// Seals the values at `fields` in `data` under `subject`'s key (looked
    /// up, or made, at the first value to seal); whether there was any.
    /// Values already sealed, and nulls, are left as they are.
    fn seal(
        &mut self,
        client: &mut SpiClient<'_>,
        fields: &[FieldPath],
        subject: &str,
        data: &mut Value,
    ) -> BssResult<bool> {
        let mut sealed = false;
        for path in fields {
            fields::each_at(data, path, &mut |v| -> BssResult<()> {
                if v.is_null() || cipher::envelope(v).is_some() {
                    return Ok(());
                }
                let (key_id, key) = match self.keys.get(subject) {
                    Some(k) => *k,
                    None => {
                        let k = keys::for_subject(client, subject)?;
                        self.keys.insert(subject.to_owned(), k);
                        k
                    }
                };
                *v = cipher::seal_value(key_id, &key, v);
                sealed = true;
                Ok(())
            })?;
        }
        Ok(sealed)
    }
}

/// Whether the role in effect (outside the store's functions) sees
/// personal data in plaintext.
pub fn may_see_personal_data() -> bool {
    crate::roles::caller_is_superuser_or_in(&[READER_ROLE])
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
