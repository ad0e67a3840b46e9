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

/// The root kind of a non-null jsonb datum.
///
/// # Safety
/// `datum` must be a valid jsonb datum.
pub unsafe fn root(datum: pg_sys::Datum) -> Root {
    let detoasted = pg_sys::pg_detoast_datum(datum.cast_mut_ptr());
    // A detoasted varlena has a 4-byte header; the container header follows.
    let header = std::ptr::read_unaligned((detoasted as *const u8).add(4) as *const u32);
    if detoasted != datum.cast_mut_ptr() {
        pg_sys::pfree(detoasted.cast());
    }
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
