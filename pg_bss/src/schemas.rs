//! Owns the JSON Schemas of event types (`bss.schemas`) as appends see them:
//! compiled once per backend into validators (the `jsonschema` crate, every
//! draft it knows, formats checked), kept until a relcache invalidation
//! (`bss.register_schema` sends one for `bss.schemas`; any other only costs
//! a reload). Appends of a type without a schema pay one hash lookup. Must
//! never let an event of a type with a schema in the appender's snapshot
//! through unchecked.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use pgrx::spi::SpiClient;
use serde_json::Value;

use crate::append::spi_error;
use crate::error::{BssError, BssResult, SqlState};

/// What an event breaks: the rule's name and a message for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub rule: &'static str,
    pub message: String,
}

/// At most this many schema errors are named per event; the rest are counted.
const MAX_ERRORS_NAMED: usize = 5;

/// The compiled schemas by event type.
pub type Validators = HashMap<String, Rc<jsonschema::Validator>>;

thread_local! {
    static CACHE: RefCell<Option<Rc<Validators>>> = const { RefCell::new(None) };
    /// Bumped by every invalidation: what was read while one arrived is not kept.
    static GENERATION: Cell<u64> = const { Cell::new(0) };
}

/// Registers the invalidation callback, once, from _PG_init.
pub fn register() {
    // SAFETY: a static callback registered once per backend.
    unsafe {
        pgrx::pg_sys::CacheRegisterRelcacheCallback(
            Some(invalidate),
            pgrx::pg_sys::Datum::from(0usize),
        )
    }
}

unsafe extern "C-unwind" fn invalidate(_arg: pgrx::pg_sys::Datum, _relid: pgrx::pg_sys::Oid) {
    // Cannot fail: safe at any point PostgreSQL calls it.
    let _ = GENERATION.try_with(|g| g.set(g.get().wrapping_add(1)));
    let _ = CACHE.try_with(|c| c.try_borrow_mut().map(|mut c| *c = None));
}

/// Compiles `schema`; the error says what is wrong with it.
pub fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| e.to_string())
}

/// The validators of every type with a schema, loaded once per backend.
pub fn validators(client: &SpiClient<'_>) -> BssResult<Rc<Validators>> {
    if let Some(v) = CACHE.with(|c| c.borrow().clone()) {
        return Ok(v);
    }
    let generation = GENERATION.with(Cell::get);
    let mut all = Validators::new();
    let rows = client
        .select("SELECT type, schema FROM bss.schemas", None, &[])
        .map_err(spi_error)?;
    for row in rows {
        let (Ok(Some(type_)), Ok(Some(pgrx::JsonB(schema)))) =
            (row.get::<String>(1), row.get::<pgrx::JsonB>(2))
        else {
            continue;
        };
        // Registered schemas were compiled by register_schema; one that no
        // longer compiles (a crate upgrade) must not let events through.
        let validator = compile(&schema).map_err(|e| invalid_schema(&type_, &e))?;
        all.insert(type_, Rc::new(validator));
    }
    let all = Rc::new(all);
    if GENERATION.with(Cell::get) == generation {
        CACHE.with(|c| *c.borrow_mut() = Some(all.clone()));
    }
    Ok(all)
}

pub fn invalid_schema(type_: &str, why: &str) -> BssError {
    BssError::new(
        SqlState::InvalidSchema,
        format!("the JSON Schema for event type \"{type_}\" is not valid: {why}"),
    )
    .hint("Pass a JSON Schema document (draft 2020-12, 2019-09, 7, 6 or 4), e.g. '{\"type\": \"object\", \"required\": [\"amount\"]}'.")
}

/// What an event of `type_` breaks of its type's schema, if it has one;
/// `data` is only asked for when it does.
pub fn violation<'d>(
    all: &Validators,
    type_: &str,
    data: impl FnOnce() -> std::borrow::Cow<'d, Value>,
) -> Option<Violation> {
    let validator = all.get(type_)?;
    check(type_, validator, &data())
}

/// What `data` breaks of `validator`, as one violation (rule `schema`)
/// naming where and why, or None when it matches.
fn check(type_: &str, validator: &jsonschema::Validator, data: &Value) -> Option<Violation> {
    if validator.is_valid(data) {
        return None;
    }
    let mut named = Vec::new();
    let mut total = 0usize;
    for err in validator.iter_errors(data) {
        total += 1;
        if named.len() < MAX_ERRORS_NAMED {
            let at = err.instance_path().to_string();
            let at = if at.is_empty() { "/".to_string() } else { at };
            named.push(format!("at {at}: {err}"));
        }
    }
    let more = if total > named.len() {
        format!(" (and {} more)", total - named.len())
    } else {
        String::new()
    };
    Some(Violation {
        rule: "schema",
        message: format!(
            "data does not match the schema of \"{type_}\": {}{more}",
            named.join("; ")
        ),
    })
}
