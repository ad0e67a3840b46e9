//! Looks at a jsonb argument without turning it into text: its root kind and
//! its stored size. The payload itself goes to the INSERT untouched.

use pgrx::pg_sys;

/// What the top of a jsonb value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    Object,
    Array(u32),
    Scalar,
}

// From PostgreSQL's utils/jsonb.h: the container header is a count plus flags.
const JB_CMASK: u32 = 0x0FFF_FFFF;
const JB_FSCALAR: u32 = 0x1000_0000;
pub(crate) const JB_FOBJECT: u32 = 0x2000_0000;
const JB_FARRAY: u32 = 0x4000_0000;

/// The jsonb value of a datum, detoasted (a copy only when it was toasted).
///
/// # Safety
/// `datum` must be a valid, non-null jsonb datum.
pub unsafe fn detoast(datum: pg_sys::Datum) -> *mut pg_sys::Jsonb {
    pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) as *mut pg_sys::Jsonb
}

/// What a jsonb container (a whole value, or one nested in it) holds.
///
/// # Safety
/// `container` must point into a detoasted jsonb value.
pub unsafe fn kind(container: *const pg_sys::JsonbContainer) -> Root {
    let header = std::ptr::read_unaligned(container as *const u32);
    if header & JB_FSCALAR != 0 {
        Root::Scalar
    } else if header & JB_FOBJECT != 0 {
        Root::Object
    } else if header & JB_FARRAY != 0 {
        Root::Array(header & JB_CMASK)
    } else {
        Root::Scalar
    }
}

/// How many members an object container has, or elements an array has.
///
/// # Safety
/// As [`kind`].
pub unsafe fn count(container: *const pg_sys::JsonbContainer) -> u32 {
    std::ptr::read_unaligned(container as *const u32) & JB_CMASK
}

/// The root kind of a non-null jsonb datum.
///
/// # Safety
/// `datum` must be a valid jsonb datum.
pub unsafe fn root(datum: pg_sys::Datum) -> Root {
    let jb = detoast(datum);
    let root = kind(&(*jb).root);
    if jb as *mut std::ffi::c_void != datum.cast_mut_ptr() {
        pg_sys::pfree(jb.cast());
    }
    root
}

/// Bytes the value takes uncompressed, as stored.
///
/// # Safety
/// `datum` must be a valid varlena datum.
pub unsafe fn stored_size(datum: pg_sys::Datum) -> usize {
    pg_sys::toast_raw_datum_size(datum)
}

pub fn describe(root: Root) -> &'static str {
    match root {
        Root::Object => "an object",
        Root::Array(_) => "an array",
        Root::Scalar => "a scalar",
    }
}

/// A jsonb container (a whole value or one nested in it) as a serde_json
/// value, walking PostgreSQL's iterator: no text round trip. Numbers keep
/// their digits as far as serde_json can hold them (i64, u64, else f64).
///
/// # Safety
/// `container` must point into a detoasted jsonb value.
pub unsafe fn to_serde(container: *mut pg_sys::JsonbContainer) -> serde_json::Value {
    use pg_sys::JsonbIteratorToken as T;
    use serde_json::{Map, Value};

    enum Open {
        Array(Vec<Value>),
        Object(Map<String, Value>, Option<String>),
    }
    fn put(stack: &mut [Open], v: Value, root: &mut Option<Value>) {
        match stack.last_mut() {
            Some(Open::Array(items)) => items.push(v),
            Some(Open::Object(map, key)) => {
                if let Some(k) = key.take() {
                    map.insert(k, v);
                }
            }
            None => *root = Some(v),
        }
    }

    let mut it = pg_sys::JsonbIteratorInit(container);
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Value> = None;
    let mut raw_scalar = false;
    loop {
        let mut v: pg_sys::JsonbValue = std::mem::zeroed();
        let tok = pg_sys::JsonbIteratorNext(&mut it, &mut v, false);
        match tok {
            T::WJB_DONE => break,
            T::WJB_BEGIN_ARRAY => {
                if v.val.array.rawScalar {
                    raw_scalar = true;
                } else {
                    stack.push(Open::Array(Vec::new()));
                }
            }
            T::WJB_BEGIN_OBJECT => stack.push(Open::Object(Map::new(), None)),
            T::WJB_END_ARRAY if raw_scalar && stack.is_empty() => {}
            T::WJB_END_ARRAY | T::WJB_END_OBJECT => {
                let done = match stack.pop() {
                    Some(Open::Array(items)) => Value::Array(items),
                    Some(Open::Object(map, _)) => Value::Object(map),
                    None => Value::Null,
                };
                put(&mut stack, done, &mut root);
            }
            T::WJB_KEY => {
                if let Some(Open::Object(_, key)) = stack.last_mut() {
                    *key = Some(string_of(&v));
                }
            }
            _ => {
                let scalar = scalar_of(&v);
                put(&mut stack, scalar, &mut root);
            }
        }
    }
    root.unwrap_or(serde_json::Value::Null)
}

unsafe fn string_of(v: &pg_sys::JsonbValue) -> String {
    let s = v.val.string;
    let bytes = std::slice::from_raw_parts(s.val as *const u8, s.len as usize);
    String::from_utf8_lossy(bytes).into_owned()
}

/// One value as the iterator hands it out (a nested container or a scalar).
///
/// # Safety
/// `v` must come from an iterator over a live, detoasted jsonb value.
pub unsafe fn value_to_serde(v: &pg_sys::JsonbValue) -> serde_json::Value {
    if v.type_ == pg_sys::jbvType::jbvBinary {
        to_serde(v.val.binary.data)
    } else {
        scalar_of(v)
    }
}

unsafe fn scalar_of(v: &pg_sys::JsonbValue) -> serde_json::Value {
    use pg_sys::jbvType;
    use serde_json::Value;
    match v.type_ {
        jbvType::jbvString => Value::String(string_of(v)),
        jbvType::jbvBool => Value::Bool(v.val.boolean),
        jbvType::jbvNumeric => {
            let text = pg_sys::numeric_normalize(v.val.numeric);
            let digits = std::ffi::CStr::from_ptr(text).to_string_lossy();
            let n = digits
                .parse::<i64>()
                .ok()
                .map(serde_json::Number::from)
                .or_else(|| digits.parse::<u64>().ok().map(serde_json::Number::from))
                .or_else(|| {
                    digits
                        .parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                });
            pg_sys::pfree(text.cast());
            n.map(Value::Number).unwrap_or(Value::Null)
        }
        _ => Value::Null,
    }
}

/// A jsonb datum of `value` (through its text, as jsonb_in reads it),
/// allocated in the current memory context.
pub fn from_serde(value: serde_json::Value) -> pg_sys::Datum {
    use pgrx::IntoDatum;
    pgrx::JsonB(value)
        .into_datum()
        .expect("a jsonb value is never NULL")
}

/// The jsonb datum of JSON text, as jsonb_in reads it (its errors raised
/// as jsonb_in raises them), in the current memory context.
pub fn from_text(text: &str) -> crate::error::BssResult<pg_sys::Datum> {
    let text = std::ffi::CString::new(text).map_err(|_| {
        crate::error::BssError::new(
            crate::error::SqlState::InvalidArgument,
            "JSON text holds a NUL character",
        )
    })?;
    // SAFETY: jsonb_in reads a NUL-terminated text, which outlives the call.
    let datum = unsafe {
        pgrx::direct_function_call_as_datum(
            pg_sys::jsonb_in,
            &[Some(pg_sys::Datum::from(text.as_ptr()))],
        )
    };
    Ok(datum.expect("jsonb_in returns a value or raises"))
}

/// The JSON text of a jsonb datum, as jsonb_out writes it.
///
/// # Safety
/// `datum` must be a valid, non-null jsonb datum.
pub unsafe fn to_text(datum: pg_sys::Datum) -> String {
    let jb = detoast(datum);
    let text = pg_sys::JsonbToCString(
        std::ptr::null_mut(),
        &mut (*jb).root,
        pgrx::varsize_any_exhdr(jb.cast()) as i32,
    );
    std::ffi::CStr::from_ptr(text)
        .to_string_lossy()
        .into_owned()
}

/// The value of member `key` of a value (as PostgreSQL's iterator gives
/// it: nested containers as a `jbvBinary`), if it is an object that has one.
///
/// # Safety
/// `value` must come from a walk over a live, detoasted jsonb value.
pub unsafe fn member(value: &pg_sys::JsonbValue, key: &str) -> Option<pg_sys::JsonbValue> {
    if value.type_ != pg_sys::jbvType::jbvBinary || kind(value.val.binary.data) != Root::Object {
        return None;
    }
    let mut found: pg_sys::JsonbValue = std::mem::zeroed();
    let hit = pg_sys::getKeyJsonValueFromContainer(
        value.val.binary.data,
        key.as_ptr().cast(),
        key.len() as i32,
        &mut found,
    );
    (!hit.is_null()).then_some(found)
}

/// A value's JSON text as jsonb_out writes it (numbers keep all their
/// digits and their scale).
///
/// # Safety
/// As [`member`].
pub unsafe fn value_text(value: &pg_sys::JsonbValue) -> Vec<u8> {
    use pg_sys::jbvType;
    match value.type_ {
        jbvType::jbvString => {
            let s = value.val.string;
            let bytes = std::slice::from_raw_parts(s.val as *const u8, s.len as usize);
            // jsonb strings are UTF-8 (the database encoding's, checked on
            // input); serde_json escapes what jsonb_out escapes.
            serde_json::to_vec(&String::from_utf8_lossy(bytes)).expect("a string serializes")
        }
        jbvType::jbvBool => (if value.val.boolean { "true" } else { "false" }).into(),
        jbvType::jbvNull => "null".into(),
        _ => {
            let (container, len) = if value.type_ == jbvType::jbvBinary {
                (value.val.binary.data, value.val.binary.len)
            } else {
                let doc = pg_sys::JsonbValueToJsonb(value as *const _ as *mut _);
                (
                    &mut (*doc).root as *mut pg_sys::JsonbContainer,
                    pgrx::varsize_any_exhdr(doc.cast()) as i32,
                )
            };
            let text = pg_sys::JsonbToCString(std::ptr::null_mut(), container, len);
            std::ffi::CStr::from_ptr(text).to_bytes().to_vec()
        }
    }
}

/// The JSON text of member `key` of the object `datum` holds, or of each
/// object of the array it holds, in order; None where it has no such
/// member, or is not an object.
///
/// # Safety
/// `datum` must be a valid, non-null jsonb datum.
pub unsafe fn member_texts(datum: pg_sys::Datum, key: &str) -> Vec<Option<String>> {
    use pg_sys::{JsonbIteratorToken as Tok, JsonbValue};
    let text = |v: &JsonbValue| {
        member(v, key).map(|m| String::from_utf8_lossy(&value_text(&m)).into_owned())
    };
    let jb = detoast(datum);
    let root: *mut pg_sys::JsonbContainer = &mut (*jb).root;
    match kind(root) {
        Root::Object => vec![text(&crate::jsonb_edit::binary(jb))],
        Root::Array(_) => {
            let mut it = pg_sys::JsonbIteratorInit(root);
            let mut texts = Vec::new();
            loop {
                let mut v: JsonbValue = std::mem::zeroed();
                match pg_sys::JsonbIteratorNext(&mut it, &mut v, true) {
                    Tok::WJB_DONE => return texts,
                    Tok::WJB_ELEM => texts.push(text(&v)),
                    _ => {}
                }
            }
        }
        Root::Scalar => vec![None],
    }
}
