//! The errors pg_bss raises, each with its own SQLSTATE, and the one place that
//! raises them.
//!
//! SQLSTATE class `XB` (X = implementation-defined range, B = BSS). pgrx can only
//! raise the SQLSTATEs it knows, so our SQL entry points (see `entry.rs`) run the
//! Rust body under pgrx's guard, get a `BssError` back as a value, and raise it
//! here from the outermost frame, where nothing is left to drop.

use std::ffi::{c_char, c_int, CString};

use pgrx::pg_sys;

/// Every kind of bad input has its own code; the README lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlState {
    /// The stream is not at the version the caller expected.
    WrongExpectedVersion,
    /// Empty, over-long or otherwise unusable stream id.
    InvalidStreamId,
    /// An event (or one element of a batch) breaks a rule: missing type, bad id, bad time...
    InvalidEvent,
    /// A CloudEvents structured-mode event breaks the CloudEvents 1.0.2 spec.
    InvalidCloudEvent,
    /// `data` or `metadata` over the configured size limit.
    EventTooLarge,
    /// `events` is not a non-empty JSON array, or has too many elements.
    InvalidBatch,
    /// UPDATE, DELETE or TRUNCATE on `bss.events` (raised from SQL, listed for the README).
    #[allow(dead_code)]
    AppendOnly,
    /// A retried batch overlaps stored events only in part, or reuses an id in another stream.
    IdempotencyConflict,
    /// A read argument out of range (max_count, consumer group).
    InvalidArgument,
    /// A stream that does not exist (raised from SQL, listed for the README).
    #[allow(dead_code)]
    UnknownStream,
    /// A function that cannot fold events: wrong signature, STRICT, set-returning.
    InvalidReducer,
    /// A projection that does not exist (raised from SQL, listed for the README).
    #[allow(dead_code)]
    UnknownProjection,
    /// An event's data does not match the JSON Schema registered for its type.
    SchemaViolation,
    /// A JSON Schema that cannot be compiled.
    InvalidSchema,
    /// A statement pg_bss runs itself failed: a bug, not bad input.
    Internal,
    /// The caller's role may not do this (PostgreSQL's own code).
    InsufficientPrivilege,
    /// `bss.tenant` is not a tenant name, or `*` for an append.
    InvalidTenant,
    /// Personal data cannot be sealed or opened: no usable master key, or a
    /// subject key that does not open under it.
    PersonalDataKey,
    /// An append in a region that does not own the stream, whose category
    /// refuses such appends (regions/route.rs); also raised from SQL.
    NotOwner,
    /// A replicated event arrived before earlier versions of its stream
    /// (regions/apply.rs): the apply worker retries it.
    ReplicationGap,
    /// An append to a stream this region owns while the region is fenced:
    /// its keeper has not confirmed that it knows every epoch (regions/route.rs).
    Fenced,
}

impl SqlState {
    pub const fn code(self) -> &'static str {
        match self {
            SqlState::WrongExpectedVersion => "XB001",
            SqlState::InvalidStreamId => "XB002",
            SqlState::InvalidEvent => "XB003",
            SqlState::InvalidCloudEvent => "XB004",
            SqlState::EventTooLarge => "XB005",
            SqlState::InvalidBatch => "XB006",
            SqlState::AppendOnly => "XB007",
            SqlState::IdempotencyConflict => "XB008",
            SqlState::InvalidArgument => "XB009",
            SqlState::UnknownStream => "XB010",
            SqlState::InvalidReducer => "XB011",
            SqlState::UnknownProjection => "XB012",
            SqlState::SchemaViolation => "XB013",
            SqlState::InvalidSchema => "XB014",
            SqlState::Internal => "XB015",
            SqlState::InsufficientPrivilege => "42501",
            SqlState::InvalidTenant => "XB016",
            SqlState::PersonalDataKey => "XB017",
            SqlState::NotOwner => "XB018",
            SqlState::ReplicationGap => "XB019",
            SqlState::Fenced => "XB020",
        }
    }

    fn packed(self) -> c_int {
        packed(self.code())
    }
}

/// PostgreSQL's MAKE_SQLSTATE of a five-character code: six bits per character.
pub fn packed(code: &str) -> c_int {
    code.bytes()
        .enumerate()
        .map(|(i, b)| ((b.wrapping_sub(b'0') as c_int) & 0x3F) << (6 * i))
        .sum()
}

/// An error for the user: code, message naming the object, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BssError {
    pub state: SqlState,
    /// Raised with this packed SQLSTATE instead of `state`'s: an error of
    /// someone else's code (a reducer's) passed on with our context.
    pub foreign_code: Option<c_int>,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl BssError {
    pub fn new(state: SqlState, message: impl Into<String>) -> Self {
        BssError {
            state,
            foreign_code: None,
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    /// An error raised by other code, with its packed SQLSTATE.
    pub fn with_code(code: c_int, message: impl Into<String>) -> Self {
        BssError {
            foreign_code: Some(code),
            ..BssError::new(SqlState::InvalidArgument, message)
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

pub type BssResult<T> = Result<T, BssError>;

impl BssError {
    /// A failed SPI call of pg_bss's own statements during `step`: not the
    /// caller's input, so its own SQLSTATE, and a hint to report it. (An
    /// error PostgreSQL raises while running a statement does not come
    /// here: it propagates as itself.)
    pub fn internal(step: &str, e: pgrx::spi::SpiError) -> Self {
        BssError::new(
            SqlState::Internal,
            format!("internal: pg_bss failed to {step}: {e}"),
        )
        .hint("This is a bug in pg_bss: please report it with this message.")
    }
}

impl From<pgrx::spi::SpiError> for BssError {
    fn from(e: pgrx::spi::SpiError) -> Self {
        BssError::internal("run one of its statements", e)
    }
}

/// Names the step of an SPI call in its XB015 message:
/// `client.update(..).during("lock the stream")?`.
pub trait During<T> {
    fn during(self, step: &str) -> BssResult<T>;
}

impl<T> During<T> for Result<T, pgrx::spi::SpiError> {
    fn during(self, step: &str) -> BssResult<T> {
        self.map_err(|e| BssError::internal(step, e))
    }
}

unsafe extern "C-unwind" {
    fn errstart(elevel: c_int, domain: *const c_char) -> bool;
    fn errcode(sqlerrcode: c_int) -> c_int;
    fn errmsg_internal(fmt: *const c_char, ...) -> c_int;
    fn errdetail_internal(fmt: *const c_char, ...) -> c_int;
    fn errhint(fmt: *const c_char, ...) -> c_int;
    fn errfinish(filename: *const c_char, lineno: c_int, funcname: *const c_char);
}

/// Copy a Rust string into the error memory context, where PostgreSQL frees it.
unsafe fn error_cstring(s: &str) -> *mut c_char {
    let cleaned = CString::new(s.replace('\0', "\\0")).unwrap_or_default();
    let bytes = cleaned.as_bytes_with_nul();
    let old = pg_sys::MemoryContextSwitchTo(pg_sys::ErrorContext);
    let ptr = pg_sys::palloc(bytes.len()) as *mut c_char;
    std::ptr::copy_nonoverlapping(bytes.as_ptr() as *const c_char, ptr, bytes.len());
    pg_sys::MemoryContextSwitchTo(old);
    ptr
}

/// Raise `err` as a PostgreSQL ERROR. Never returns.
///
/// # Safety
/// Call only from the outermost Rust frame of a function PostgreSQL called
/// (errfinish longjmps over it): everything with a destructor must already be
/// dropped, which this function does for `err` itself before jumping.
pub unsafe fn raise(err: BssError) -> ! {
    const PERCENT_S: &std::ffi::CStr = c"%s";
    let code = err.foreign_code.unwrap_or_else(|| err.state.packed());
    let message = error_cstring(&err.message);
    let detail = err.detail.as_deref().map(|d| error_cstring(d));
    let hint = err.hint.as_deref().map(|h| error_cstring(h));
    drop(err);
    if errstart(pgrx::PgLogLevel::ERROR as c_int, std::ptr::null()) {
        errcode(code);
        errmsg_internal(PERCENT_S.as_ptr(), message);
        if let Some(detail) = detail {
            errdetail_internal(PERCENT_S.as_ptr(), detail);
        }
        if let Some(hint) = hint {
            errhint(PERCENT_S.as_ptr(), hint);
        }
        errfinish(c"pg_bss".as_ptr(), 0, c"pg_bss".as_ptr());
    }
    unreachable!("errfinish returned at ERROR level")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_pack_like_make_sqlstate() {
        // MAKE_SQLSTATE('X','B','0','0','1')
        let expected = (((b'X' - b'0') as c_int) & 0x3F)
            | ((((b'B' - b'0') as c_int) & 0x3F) << 6)
            | (1 << 24);
        assert_eq!(SqlState::WrongExpectedVersion.packed(), expected);
    }

    #[test]
    fn every_error_kind_has_its_own_sqlstate() {
        let all = [
            SqlState::WrongExpectedVersion,
            SqlState::InvalidStreamId,
            SqlState::InvalidEvent,
            SqlState::InvalidCloudEvent,
            SqlState::EventTooLarge,
            SqlState::InvalidBatch,
            SqlState::AppendOnly,
            SqlState::IdempotencyConflict,
            SqlState::InvalidArgument,
            SqlState::UnknownStream,
            SqlState::InvalidReducer,
            SqlState::UnknownProjection,
            SqlState::SchemaViolation,
            SqlState::InvalidSchema,
            SqlState::Internal,
        ];
        let mut codes: Vec<_> = all.iter().map(|s| s.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }

    #[test]
    fn an_spi_failure_is_internal_not_a_bad_argument() {
        let err = BssError::from(pgrx::spi::SpiError::InvalidPosition);
        assert_eq!(err.state, SqlState::Internal);
        assert_eq!(err.state.code(), "XB015");
        assert!(err.message.starts_with("internal: "), "{}", err.message);
        assert!(err.hint.is_some_and(|h| h.contains("bug")));
        let err = Err::<(), _>(pgrx::spi::SpiError::InvalidPosition)
            .during("lock the stream")
            .unwrap_err();
        assert_eq!(err.state, SqlState::Internal);
        assert!(
            err.message
                .starts_with("internal: pg_bss failed to lock the stream: "),
            "{}",
            err.message
        );
    }
}
