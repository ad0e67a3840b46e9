//! Owns folding events into a state: the aggregate
//! `bss.fold(reducer regprocedure, initial jsonb, event bss.events)` that
//! `bss.aggregate`, snapshots and projections run over a stream's events in
//! version order, and `bss.jsonb_merge_patch`. The default reducer,
//! `bss.reduce_merge_patch`, runs natively (merge_patch.rs); any other
//! reducer is called through the function manager, once per event, with
//! its plan cached for the whole fold. Must refuse a function that is not
//! a reducer before calling it, call a reducer exactly once per event in
//! the order given, and name the reducer, stream and version in the
//! DETAIL of any error a reducer raises.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::AssertUnwindSafe;

use pgrx::fcinfo::{direct_function_call_as_datum, pg_getarg_datum_raw};
use pgrx::pg_sys::panic::CaughtError;
use pgrx::pg_sys::{self, Datum, FunctionCallInfo, Oid, PgTryBuilder};

use crate::call_args;
use crate::error::{BssError, BssResult, SqlState};
use crate::merge_patch::{merge_patch, Doc};
use crate::roles;

/// The default reducer, folded natively: `bss.reduce_merge_patch`.
const NATIVE_REDUCER: &CStr = c"reduce_merge_patch";

/// The state of one fold, owned by the aggregate's memory context: a
/// callback on that context drops it, also when the query fails.
struct Fold {
    /// The default reducer: fold `data` with merge patch in Rust.
    native: bool,
    /// Native: the state (None: SQL NULL).
    doc: Option<Doc>,
    /// Otherwise: the state, a jsonb copied into `cx` (None: SQL NULL).
    state: Option<Datum>,
    cx: pg_sys::MemoryContext,
    flinfo: pg_sys::FmgrInfo,
    fcinfo: *mut pg_sys::FunctionCallInfoBaseData,
    /// The role the reducer runs as (its owner, inside the store's own
    /// functions: roles.rs); None: as the caller.
    run_as: Option<Oid>,
    /// For errors: the reducer's signature, the stream, the version.
    reducer_name: CString,
    stream_id: CString,
    version: i64,
}

/// Whether `reducer` can fold events of row type `event_type`: a plain,
/// non-strict, single-result function (jsonb, event) returning jsonb.
/// Ok is its name (`schema.name(argtypes)`); Err names the function and
/// what is wrong with it.
///
/// # Safety
/// Must run inside a backend (catalog lookups).
pub unsafe fn check_reducer(reducer: Oid, event_type: Oid) -> BssResult<String> {
    let name = procedure_name(reducer);
    let mut argtypes: *mut Oid = std::ptr::null_mut();
    let mut nargs: c_int = 0;
    let invalid = |what: &str| {
        BssError::new(
            SqlState::InvalidReducer,
            format!("{name} is not a reducer: {what}"),
        )
        .hint("A reducer is a function (state jsonb, event bss.events) RETURNS jsonb, not STRICT (the first event meets a NULL state), e.g. bss.reduce_merge_patch.")
    };
    let rettype = pg_sys::get_func_signature(reducer, &mut argtypes, &mut nargs);
    let args: &[Oid] = if nargs > 0 {
        std::slice::from_raw_parts(argtypes, nargs as usize)
    } else {
        &[]
    };
    if pg_sys::get_func_prokind(reducer) != b'f' as c_char {
        return Err(invalid("it is not a plain function"));
    }
    if args != [pg_sys::JSONBOID, event_type] {
        return Err(invalid("its arguments are not (jsonb, bss.events)"));
    }
    if rettype != pg_sys::JSONBOID || pg_sys::get_func_retset(reducer) {
        return Err(invalid("it does not return one jsonb"));
    }
    if pg_sys::func_strict(reducer) {
        return Err(invalid("it is STRICT"));
    }
    Ok(name)
}

/// `schema.name(argtypes)` of a function, or its OID if it does not exist.
unsafe fn procedure_name(oid: Oid) -> String {
    if pg_sys::get_func_name(oid).is_null() {
        return format!("function {}", u32::from(oid));
    }
    CStr::from_ptr(pg_sys::format_procedure(oid))
        .to_string_lossy()
        .into_owned()
}

/// Whether `reducer` is `bss.reduce_merge_patch`.
unsafe fn is_native(reducer: Oid) -> bool {
    let name = pg_sys::get_func_name(reducer);
    if name.is_null() || CStr::from_ptr(name) != NATIVE_REDUCER {
        return false;
    }
    pg_sys::get_func_namespace(reducer) == pg_sys::get_namespace_oid(c"bss".as_ptr(), true)
}

unsafe fn jsonb_text(datum: Datum) -> String {
    let cstr = direct_function_call_as_datum(pg_sys::jsonb_out, &[Some(datum)])
        .expect("jsonb_out returns text");
    CStr::from_ptr(cstr.cast_mut_ptr::<c_char>())
        .to_string_lossy()
        .into_owned()
}

unsafe fn jsonb_from_text(text: &str) -> Datum {
    let cstr = CString::new(text).unwrap_or_default();
    direct_function_call_as_datum(pg_sys::jsonb_in, &[Some(Datum::from(cstr.as_ptr()))])
        .expect("jsonb_in returns jsonb")
}

fn bad_json(what: &str, e: serde_json::Error) -> BssError {
    BssError::new(
        SqlState::InvalidArgument,
        format!("{what} is not valid JSON: {e}"),
    )
}

/// A copy of a jsonb datum in `cx`.
unsafe fn copy_jsonb(datum: Datum, cx: pg_sys::MemoryContext) -> Datum {
    let old = pg_sys::MemoryContextSwitchTo(cx);
    let copy = pg_sys::pg_detoast_datum_copy(datum.cast_mut_ptr());
    pg_sys::MemoryContextSwitchTo(old);
    Datum::from(copy)
}

unsafe extern "C-unwind" fn drop_fold(arg: *mut c_void) {
    drop(Box::from_raw(arg as *mut Fold));
}

unsafe fn start_fold(fcinfo: FunctionCallInfo, cx: pg_sys::MemoryContext) -> BssResult<*mut Fold> {
    if call_args::datum(fcinfo, 1).is_none() {
        return Err(BssError::new(SqlState::InvalidReducer, "reducer must not be NULL")
            .hint("Pass a function (state jsonb, event bss.events) RETURNS jsonb, e.g. 'bss.reduce_merge_patch'::regprocedure."));
    }
    let reducer = Oid::from(pg_getarg_datum_raw(fcinfo, 1).value() as u32);
    let event_type = pg_sys::get_fn_expr_argtype((*fcinfo).flinfo, 3);
    let reducer_name = check_reducer(reducer, event_type)?;
    let run_as = roles::reducer_runs_as(reducer, &reducer_name)?;
    let native = is_native(reducer);
    let initial = call_args::datum(fcinfo, 2);
    let mut fold = Box::new(Fold {
        native,
        doc: None,
        state: None,
        cx,
        flinfo: pg_sys::FmgrInfo::default(),
        fcinfo: std::ptr::null_mut(),
        run_as,
        reducer_name: CString::new(reducer_name).unwrap_or_default(),
        stream_id: CString::default(),
        version: 0,
    });
    if native {
        if let Some(d) = initial {
            fold.doc = Some(Doc::parse(&jsonb_text(d)).map_err(|e| bad_json("initial", e))?);
        }
    } else {
        fold.state = initial.map(|d| copy_jsonb(d, cx));
        pg_sys::fmgr_info_cxt(reducer, &mut fold.flinfo, cx);
        let size = std::mem::size_of::<pg_sys::FunctionCallInfoBaseData>()
            + 2 * std::mem::size_of::<pg_sys::NullableDatum>();
        fold.fcinfo = pg_sys::MemoryContextAllocZero(cx, size) as *mut _;
    }
    let fold = Box::into_raw(fold);
    if !native {
        // Point the call info at the FmgrInfo where it now lives.
        let f = &mut *fold;
        (*f.fcinfo).flinfo = &mut f.flinfo;
        (*f.fcinfo).fncollation = pg_sys::DEFAULT_COLLATION_OID;
        (*f.fcinfo).nargs = 2;
    }
    let cb =
        pg_sys::MemoryContextAllocZero(cx, std::mem::size_of::<pg_sys::MemoryContextCallback>())
            as *mut pg_sys::MemoryContextCallback;
    (*cb).func = Some(drop_fold);
    (*cb).arg = fold as *mut c_void;
    pg_sys::MemoryContextRegisterResetCallback(cx, cb);
    Ok(fold)
}

/// `bss_fold_step(internal, regprocedure, jsonb, bss.events) RETURNS internal`.
pub unsafe fn fold_step(fcinfo: FunctionCallInfo) -> BssResult<Datum> {
    let mut cx: pg_sys::MemoryContext = std::ptr::null_mut();
    if pg_sys::AggCheckCallContext(fcinfo, &mut cx) == 0 {
        return Err(BssError::new(
            SqlState::InvalidArgument,
            "bss.fold_step can only be called by the aggregate bss.fold",
        ));
    }
    let fold = if call_args::datum(fcinfo, 0).is_none() {
        start_fold(fcinfo, cx)?
    } else {
        pg_getarg_datum_raw(fcinfo, 0).cast_mut_ptr::<Fold>()
    };
    let f = &mut *fold;
    if call_args::datum(fcinfo, 3).is_none() {
        return Err(BssError::new(
            SqlState::InvalidArgument,
            "bss.fold: the event is NULL",
        ));
    }
    let event = pg_getarg_datum_raw(fcinfo, 3);
    let tuple = pg_sys::pg_detoast_datum(event.cast_mut_ptr()) as pg_sys::HeapTupleHeader;
    let mut isnull = false;
    let version = pg_sys::GetAttributeByName(tuple, c"stream_version".as_ptr(), &mut isnull);
    f.version = if isnull { 0 } else { version.value() as i64 };
    if f.stream_id.is_empty() {
        let id = pg_sys::GetAttributeByName(tuple, c"stream_id".as_ptr(), &mut isnull);
        if !isnull {
            let text = pg_sys::text_to_cstring(id.cast_mut_ptr());
            f.stream_id = CStr::from_ptr(text).to_owned();
        }
    }

    let outcome = if f.native {
        native_step(f, tuple)
    } else {
        reducer_step(f, event)
    };
    outcome.map_err(|e| {
        e.detail(format!(
            "reducer {} folding version {} of stream \"{}\"",
            f.reducer_name.to_string_lossy(),
            f.version,
            f.stream_id.to_string_lossy()
        ))
    })?;
    Ok(Datum::from(fold))
}

unsafe fn native_step(f: &mut Fold, tuple: pg_sys::HeapTupleHeader) -> BssResult<()> {
    let mut isnull = false;
    let data = pg_sys::GetAttributeByName(tuple, c"data".as_ptr(), &mut isnull);
    if isnull {
        return Ok(()); // no patch: the state stays
    }
    let patch = Doc::parse(&jsonb_text(data)).map_err(|e| bad_json("data", e))?;
    f.doc = Some(merge_patch(f.doc.take(), patch));
    Ok(())
}

/// Calls the reducer on `event`. An error it raises comes back with its
/// SQLSTATE, message and hint, to be raised again naming the fold.
unsafe fn reducer_step(f: &mut Fold, event: Datum) -> BssResult<()> {
    let running_as = f.run_as.map(|owner| roles::run_as(owner));
    let fold = AssertUnwindSafe(&mut *f);
    let outcome = PgTryBuilder::new(move || {
        let f = fold;
        call_reducer(f.0, event);
        Ok(())
    })
    .catch_others(|caught| match caught {
        CaughtError::PostgresError(report) | CaughtError::ErrorReport(report) => {
            let mut err = BssError::with_code(report.sql_error_code() as c_int, report.message());
            if let Some(hint) = report.hint() {
                err = err.hint(hint);
            }
            Err(err)
        }
        CaughtError::RustPanic { ereport, .. } => Err(BssError::new(
            SqlState::InvalidReducer,
            ereport.message().to_owned(),
        )),
    })
    .execute();
    if let Some(running_as) = running_as {
        running_as.restore();
    }
    outcome
}

unsafe fn call_reducer(f: &mut Fold, event: Datum) {
    let fcinfo = &mut *f.fcinfo;
    let args = fcinfo.args.as_mut_slice(2);
    (args[0].value, args[0].isnull) = match f.state {
        Some(d) => (d, false),
        None => (Datum::from(0usize), true),
    };
    (args[1].value, args[1].isnull) = (event, false);
    fcinfo.isnull = false;
    let func = f.flinfo.fn_addr.expect("fmgr_info set fn_addr");
    let result = pgrx::pg_sys::ffi::pg_guard_ffi_boundary(|| func(f.fcinfo));
    let new_state = (!(*f.fcinfo).isnull).then(|| copy_jsonb(result, f.cx));
    if let Some(old) = std::mem::replace(&mut f.state, new_state) {
        pg_sys::pfree(old.cast_mut_ptr());
    }
}

/// `bss_fold_final(internal) RETURNS jsonb`: the state (NULL when no event
/// was folded; the caller then has its initial state).
pub unsafe fn fold_final(fcinfo: FunctionCallInfo) -> BssResult<Datum> {
    if call_args::datum(fcinfo, 0).is_none() {
        (*fcinfo).isnull = true;
        return Ok(Datum::from(0usize));
    }
    let f = &*pg_getarg_datum_raw(fcinfo, 0).cast_mut_ptr::<Fold>();
    let out = if f.native {
        f.doc.as_ref().map(|doc| jsonb_from_text(&doc.to_json()))
    } else {
        f.state
    };
    match out {
        Some(d) => Ok(d),
        None => {
            (*fcinfo).isnull = true;
            Ok(Datum::from(0usize))
        }
    }
}

/// `bss_jsonb_merge_patch(target jsonb, patch jsonb) RETURNS jsonb`: RFC
/// 7396; a NULL target is no document yet, a NULL patch changes nothing.
pub unsafe fn jsonb_merge_patch(fcinfo: FunctionCallInfo) -> BssResult<Datum> {
    if call_args::datum(fcinfo, 1).is_none() {
        if call_args::datum(fcinfo, 0).is_none() {
            (*fcinfo).isnull = true;
            return Ok(Datum::from(0usize));
        }
        return Ok(pg_getarg_datum_raw(fcinfo, 0));
    }
    let target = if call_args::datum(fcinfo, 0).is_none() {
        None
    } else {
        let text = jsonb_text(pg_getarg_datum_raw(fcinfo, 0));
        Some(Doc::parse(&text).map_err(|e| bad_json("target", e))?)
    };
    let patch = Doc::parse(&jsonb_text(pg_getarg_datum_raw(fcinfo, 1)))
        .map_err(|e| bad_json("patch", e))?;
    Ok(jsonb_from_text(&merge_patch(target, patch).to_json()))
}
