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
use std::ffi::{CStr, CString};

use pgrx::pg_sys::{self, jbvType, JsonbValue};
use pgrx::spi::SpiClient;

use crate::error::{BssError, BssResult, During, SqlState};
use crate::jsonb_edit::{self, At, Builder, Editor, Visit};
use crate::schemas::{self, Validators};
use crate::{insert, jsonb};
use cipher::SubjectKey;
use fields::{FieldPath, Reach};

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
    keys: HashMap<String, SubjectKey>,
}

impl Sealer {
    /// `data` (a jsonb datum of an event of `type_`) with its personal
    /// fields sealed under the key of its data subject: `subject`, else the
    /// stream. None when there was nothing to seal (no schema marks any,
    /// or they are absent, null or sealed already).
    pub fn seal_event(
        &mut self,
        client: &mut SpiClient<'_>,
        schemas: &Validators,
        type_: &str,
        subject: Option<&str>,
        stream_id: &str,
        data: pg_sys::Datum,
    ) -> BssResult<Option<pg_sys::Datum>> {
        let fields = schemas::personal(schemas, type_);
        if fields.is_empty() {
            return Ok(None);
        }
        let subject = subject.unwrap_or(stream_id);
        // SAFETY: data is a non-null jsonb datum.
        unsafe {
            let whole = jsonb_edit::binary(jsonb::detoast(data));
            self.seal_data(client, fields, subject, &whole)
        }
    }

    /// The data of every element of `events` (a jsonb array of
    /// `append_events` elements) whose type marks personal fields, sealed
    /// (the invalid elements' too: they are kept as dead letters), as a
    /// `jsonb[]` by element (NULL where nothing was sealed) that the
    /// INSERT takes in place of each element's data; None when nothing was
    /// sealed. The batch itself is never rebuilt: only the data sealed is.
    pub fn seal_batch(
        &mut self,
        client: &mut SpiClient<'_>,
        schemas: &Validators,
        stream_id: &str,
        events: pg_sys::Datum,
    ) -> BssResult<Option<pg_sys::Datum>> {
        let sealed = self.seal_elements(client, schemas, stream_id, events)?;
        // SAFETY: every datum is a jsonb value built in the current context.
        Ok(sealed
            .iter()
            .any(Option::is_some)
            .then(|| unsafe { insert::array(&sealed, pg_sys::JSONBOID) }))
    }

    /// The data of each element of `events` as [`Sealer::seal_batch`] seals
    /// it, by element: None where nothing was sealed.
    pub fn seal_elements(
        &mut self,
        client: &mut SpiClient<'_>,
        schemas: &Validators,
        stream_id: &str,
        events: pg_sys::Datum,
    ) -> BssResult<Vec<Option<pg_sys::Datum>>> {
        let mut sealed: Vec<Option<pg_sys::Datum>> = Vec::new();
        // SAFETY: events is a non-null jsonb datum (an array: batch::check
        // said so); the walk reads it without nesting into the elements.
        unsafe {
            let doc = jsonb::detoast(events);
            let mut it = pg_sys::JsonbIteratorInit(&mut (*doc).root);
            loop {
                let mut element: JsonbValue = std::mem::zeroed();
                match pg_sys::JsonbIteratorNext(&mut it, &mut element, true) {
                    pg_sys::JsonbIteratorToken::WJB_DONE => break,
                    pg_sys::JsonbIteratorToken::WJB_ELEM => {}
                    _ => continue,
                }
                let data = self.seal_element(client, schemas, stream_id, &element)?;
                sealed.push(data);
            }
        }
        Ok(sealed)
    }

    /// An element's data with its personal fields sealed, when its type
    /// has any and there was one to seal.
    ///
    /// # Safety
    /// `element` must come from a walk over a live jsonb value.
    unsafe fn seal_element(
        &mut self,
        client: &mut SpiClient<'_>,
        schemas: &Validators,
        stream_id: &str,
        element: &JsonbValue,
    ) -> BssResult<Option<pg_sys::Datum>> {
        let Some(type_) = string_member(element, "type").and_then(|t| std::str::from_utf8(t).ok())
        else {
            return Ok(None);
        };
        let fields = schemas::personal(schemas, type_);
        let Some(data) = (!fields.is_empty())
            .then(|| jsonb::member(element, "data"))
            .flatten()
        else {
            return Ok(None);
        };
        let subject = string_member(element, "subject")
            .and_then(|s| std::str::from_utf8(s).ok())
            .unwrap_or(stream_id);
        self.seal_data(client, fields, subject, &data)
    }

    /// `data` (a `jbvBinary`) with `fields` sealed under `subject`'s key;
    /// None when there was nothing to seal.
    ///
    /// # Safety
    /// `data` must be a `jbvBinary` of a live, detoasted jsonb value.
    unsafe fn seal_data(
        &mut self,
        client: &mut SpiClient<'_>,
        fields: &[FieldPath],
        subject: &str,
        data: &JsonbValue,
    ) -> BssResult<Option<pg_sys::Datum>> {
        let mut editor = SealData {
            with: Sealing {
                sealer: self,
                client,
                sealed: false,
            },
            fields,
            subject,
        };
        let out = jsonb_edit::edit_value(data, &mut editor)?;
        Ok(out.filter(|_| editor.with.sealed))
    }

    /// The key of `subject`, looked up (or made) once per call.
    fn key(&mut self, client: &mut SpiClient<'_>, subject: &str) -> BssResult<&SubjectKey> {
        if !self.keys.contains_key(subject) {
            let key = keys::for_subject(client, subject)?;
            self.keys.insert(subject.to_owned(), key);
        }
        Ok(&self.keys[subject])
    }
}

/// What the sealing editors share: the keys, and whether they sealed.
struct Sealing<'s, 'c, 'a> {
    sealer: &'s mut Sealer,
    client: &'c mut SpiClient<'a>,
    sealed: bool,
}

impl Sealing<'_, '_, '_> {
    /// Seals `value` when it is one of `fields` (at `path` in the data),
    /// under `subject`'s key; nulls and sealed values stay as they are.
    fn visit(
        &mut self,
        fields: &[FieldPath],
        subject: &str,
        path: &[At<'_>],
        value: &JsonbValue,
        out: &mut Builder,
    ) -> BssResult<Visit> {
        match fields::reach(fields, path) {
            Reach::Outside => return Ok(Visit::Keep),
            Reach::Holds => return Ok(Visit::Descend),
            Reach::Personal => {}
        }
        // SAFETY: value comes from the walk over a live jsonb value.
        if value.type_ == jbvType::jbvNull || unsafe { envelope_text(value) }.is_some() {
            return Ok(Visit::Keep);
        }
        let key = self.sealer.key(self.client, subject)?;
        // SAFETY: as above; the text is palloc'd in the current context.
        let text = key.seal(&unsafe { jsonb::value_text(value) });
        // SAFETY: called from a visit.
        unsafe { out.push_object_of_string(cipher::ENVELOPE_KEY, &text) };
        self.sealed = true;
        Ok(Visit::Replaced)
    }
}

/// Seals one event's data.
struct SealData<'f, 's, 'c, 'a> {
    with: Sealing<'s, 'c, 'a>,
    fields: &'f [FieldPath],
    subject: &'f str,
}

impl Editor for SealData<'_, '_, '_, '_> {
    type Error = BssError;
    fn visit(
        &mut self,
        path: &[At<'_>],
        value: &JsonbValue,
        out: &mut Builder,
    ) -> BssResult<Visit> {
        self.with.visit(self.fields, self.subject, path, value, out)
    }
}

/// The string value of `key` in an object (a `jbvBinary`), if it has one.
///
/// # Safety
/// As [`jsonb::member`].
unsafe fn string_member<'j>(value: &'j JsonbValue, key: &str) -> Option<&'j [u8]> {
    let found = jsonb::member(value, key)?;
    if found.type_ != jbvType::jbvString {
        return None;
    }
    let s = found.val.string;
    Some(std::slice::from_raw_parts(
        s.val as *const u8,
        s.len as usize,
    ))
}

/// The text of an envelope (`{"bss:pii": "<text>"}`), None for any other value.
///
/// # Safety
/// As [`string_member`].
unsafe fn envelope_text(value: &JsonbValue) -> Option<&[u8]> {
    if value.type_ != jbvType::jbvBinary
        || jsonb::kind(value.val.binary.data) != jsonb::Root::Object
        || jsonb::count(value.val.binary.data) != 1
    {
        return None;
    }
    string_member(value, cipher::ENVELOPE_KEY)
}

/// `bss.rotate_master_key()`: re-wraps the subject keys still wrapped
/// under `bss.previous_master_key_file`'s key under `bss.master_key_file`'s,
/// and records it in the audit trail; how many.
pub fn rotate_master_key() -> BssResult<i64> {
    pgrx::spi::Spi::connect_mut(|client| {
        let (rewrapped, from, to) = keys::rotate(client)?;
        client
            .update(
                "SELECT bss.audit('rotate_master_key', $1, jsonb_build_object('from', $2, 'keys_rewrapped', $3))",
                None,
                &[to.as_str().into(), from.as_str().into(), rewrapped.into()],
            )
            .during("record the rotation in the audit trail")?;
        Ok(rewrapped)
    })
}

/// Whether the role in effect (outside the store's functions) sees
/// personal data in plaintext.
pub fn may_see_personal_data() -> bool {
    crate::roles::caller_is_superuser_or_in(&[READER_ROLE])
}

/// The jsonb datum `doc` with every sealed value replaced by its plaintext,
/// [`MASKED`] or [`ERASED`]; `doc` itself when it holds none.
///
/// # Safety
/// `doc` must be a non-null jsonb datum.
pub unsafe fn reveal(
    client: &SpiClient<'_>,
    doc: pg_sys::Datum,
    may_see: bool,
) -> BssResult<pg_sys::Datum> {
    let value = jsonb::detoast(doc);
    let len = pgrx::varsize_any_exhdr(value.cast());
    let bytes = std::slice::from_raw_parts(pgrx::vardata_any(value.cast()).cast::<u8>(), len);
    if !may_hold_sealed(bytes) {
        return Ok(doc);
    }
    let mut editor = Reveal {
        client,
        may_see,
        changed: false,
    };
    let out = jsonb_edit::edit(value, &mut editor)?;
    Ok(out.filter(|_| editor.changed).unwrap_or(doc))
}

/// Opens, masks or marks erased every envelope it meets.
struct Reveal<'c, 'a> {
    client: &'c SpiClient<'a>,
    may_see: bool,
    changed: bool,
}

impl Editor for Reveal<'_, '_> {
    type Error = BssError;
    fn visit(&mut self, _: &[At<'_>], value: &JsonbValue, out: &mut Builder) -> BssResult<Visit> {
        if value.type_ != jbvType::jbvBinary {
            return Ok(Visit::Keep);
        }
        // SAFETY: value comes from the walk over a live jsonb value.
        let envelope = unsafe { envelope_text(value) }.and_then(cipher::parse_envelope);
        let Some((key_id, sealed)) = envelope else {
            // SAFETY: as above.
            let bytes = unsafe {
                let b = value.val.binary;
                std::slice::from_raw_parts(b.data as *const u8, b.len as usize)
            };
            return Ok(if may_hold_sealed(bytes) {
                Visit::Descend
            } else {
                Visit::Keep
            });
        };
        let opened = match keys::by_id(self.client, key_id)? {
            None => None,
            Some(_) if !self.may_see => {
                // SAFETY: called from a visit.
                unsafe { out.push_string(MASKED) };
                self.changed = true;
                return Ok(Visit::Replaced);
            }
            Some(key) => key.open(&sealed),
        };
        match opened.and_then(|plain| CString::new(plain).ok()) {
            // SAFETY: jsonb_in reads a NUL-terminated text; what it returns
            // lives in the current memory context, as the build does.
            Some(text) => unsafe {
                let doc = pgrx::direct_function_call_as_datum(
                    pg_sys::jsonb_in,
                    &[Some(pg_sys::Datum::from(text.as_ptr()))],
                )
                .ok_or_else(|| {
                    BssError::new(SqlState::Internal, "a sealed value opened to no JSON")
                })?;
                out.push_document(jsonb::detoast(doc));
            },
            // SAFETY: called from a visit.
            None => unsafe { out.push_string(ERASED) },
        }
        self.changed = true;
        Ok(Visit::Replaced)
    }
}
/// Whether raw bytes (a jsonb datum's) may hold a sealed value: the
/// envelope's key appears in them. False means certainly not.
pub fn may_hold_sealed(bytes: &[u8]) -> bool {
    let key = cipher::ENVELOPE_KEY.as_bytes();
    bytes.windows(key.len()).any(|w| w == key)
}
