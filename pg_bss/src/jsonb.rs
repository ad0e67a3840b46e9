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
const JB_FOBJECT: u32 = 0x2000_0000;
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
