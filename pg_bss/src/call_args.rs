//! Reads the arguments of a C entry point (`LANGUAGE c`) by position. An
//! older SQL declaration of the same C symbol (between installing a new
//! library and `ALTER EXTENSION ... UPDATE`) may pass fewer arguments: one
//! past `nargs` reads as NULL, never as whatever lies beyond the array.

use pgrx::fcinfo::{pg_arg_is_null, pg_getarg, pg_getarg_datum_raw};
use pgrx::pg_sys::{self, FunctionCallInfo};
use pgrx::FromDatum;

fn passed(fcinfo: FunctionCallInfo, n: usize) -> bool {
    // SAFETY: fcinfo is the valid call info PostgreSQL passed in.
    let nargs = unsafe { (*fcinfo).nargs };
    usize::try_from(nargs).is_ok_and(|nargs| n < nargs)
}

/// Argument `n` (0-based) as its raw datum; None for NULL or not passed.
///
/// # Safety
/// `fcinfo` must be the valid call info of the running call.
pub unsafe fn datum(fcinfo: FunctionCallInfo, n: usize) -> Option<pg_sys::Datum> {
    if !passed(fcinfo, n) || pg_arg_is_null(fcinfo, n) {
        None
    } else {
        Some(pg_getarg_datum_raw(fcinfo, n))
    }
}

/// Argument `n` (0-based) as a `T`; None for NULL or not passed.
///
/// # Safety
/// `fcinfo` must be the valid call info of the running call, and argument
/// `n` of SQL type `T`.
pub unsafe fn value<T: FromDatum>(fcinfo: FunctionCallInfo, n: usize) -> Option<T> {
    if passed(fcinfo, n) {
        pg_getarg(fcinfo, n)
    } else {
        None
    }
}

/// Array argument `n` (0-based) of element type `element`, as its elements'
/// raw datums (None for a NULL element), which live as long as the call;
/// None for a NULL array or one not passed.
///
/// # Safety
/// `fcinfo` must be the valid call info of the running call, and argument
/// `n` an array of `element`.
pub unsafe fn datums(
    fcinfo: FunctionCallInfo,
    n: usize,
    element: pg_sys::Oid,
) -> Option<Vec<Option<pg_sys::Datum>>> {
    let d = datum(fcinfo, n)?;
    let array = pg_sys::pg_detoast_datum(d.cast_mut_ptr()) as *mut pg_sys::ArrayType;
    let (mut len, mut by_value, mut align) = (0i16, false, 0 as std::ffi::c_char);
    pg_sys::get_typlenbyvalalign(element, &mut len, &mut by_value, &mut align);
    let mut elems: *mut pg_sys::Datum = std::ptr::null_mut();
    let mut nulls: *mut bool = std::ptr::null_mut();
    let mut count = 0;
    pg_sys::deconstruct_array(
        array,
        element,
        len.into(),
        by_value,
        align,
        &mut elems,
        &mut nulls,
        &mut count,
    );
    Some(
        (0..count as usize)
            .map(|i| (!*nulls.add(i)).then(|| *elems.add(i)))
            .collect(),
    )
}
