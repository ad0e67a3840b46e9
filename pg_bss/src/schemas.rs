//! Owns the JSON Schemas of event types (`bss.schemas`) as appends see them:
//! compiled once per backend into validators (the `jsonschema` crate, every
//! draft it knows, formats checked), kept until a relcache invalidation
//! (`bss.register_schema` sends one for `bss.schemas`; any other only costs
//! a reload). Appends of a type without a schema pay one hash lookup. Must
//! never let an event of a type with a schema in the appender's snapshot
//! through unchecked.

use std::collections::HashMap;
use std::rc::Rc;

use pgrx::spi::SpiClient;
use serde_json::Value;

use crate::error::{BssError, BssResult, During, SqlState};
use crate::installed_sql;
use crate::pii::fields::{is_personal, personal_fields, FieldPath};
use crate::session_cache::SessionCache;

/// At most this many schema errors are named per event; the rest are counted.
const MAX_ERRORS_NAMED: usize = 5;

/// A type's compiled schema and the personal fields it marks.
pub struct TypeSchema {
    pub validator: jsonschema::Validator,
    pub personal: Vec<FieldPath>,
}

/// The compiled schemas by event type.
pub type Validators = HashMap<String, Rc<TypeSchema>>;

/// The personal fields of `type_`'s data (none without a schema).
pub fn personal<'a>(all: &'a Validators, type_: &str) -> &'a [FieldPath] {
    all.get(type_).map_or(&[], |s| s.personal.as_slice())
}

/// Whether any type has personal fields (appends skip sealing otherwise).
pub fn any_personal(all: &Validators) -> bool {
    all.values().any(|s| !s.personal.is_empty())
}

thread_local! {
    static CACHE: SessionCache<Validators> = const { SessionCache::new() };
}

/// Registers the invalidation callback, once, from _PG_init.
pub fn register() {
    SessionCache::register(&CACHE);
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
    CACHE.with(|cache| cache.get_or_load(|| load(client)))
}

fn load(client: &SpiClient<'_>) -> BssResult<Validators> {
    let mut all = Validators::new();
    // Installed SQL older than 0.3.0: no type has a schema.
    if !installed_sql::has_table(client, "bss.schemas")? {
        return Ok(all);
    }
    let rows = client
        .select("SELECT type, schema FROM bss.schemas", None, &[])
        .during("read bss.schemas")?;
    for row in rows {
        let (Ok(Some(type_)), Ok(Some(pgrx::JsonB(schema)))) =
            (row.get::<String>(1), row.get::<pgrx::JsonB>(2))
        else {
            continue;
        };
        // Registered schemas were compiled by register_schema; one that no
        // longer compiles (a crate upgrade) must not let events through.
        let validator = compile(&schema).map_err(|e| invalid_schema(&type_, &e))?;
        let personal = personal_fields(&schema);
        all.insert(
            type_,
            Rc::new(TypeSchema {
                validator,
                personal,
            }),
        );
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

/// What an event of `type_` breaks of its type's schema (rule `schema`),
/// if it has one; `data` is only asked for when it does.
pub fn violation<'d>(
    all: &Validators,
    type_: &str,
    data: impl FnOnce() -> std::borrow::Cow<'d, Value>,
) -> Option<String> {
    let schema = all.get(type_)?;
    check(type_, schema, &data())
}

/// What `data` breaks of the schema, one message naming where and why,
/// or None when it matches. The value of a personal field is never quoted:
/// only the keyword it breaks.
fn check(type_: &str, schema: &TypeSchema, data: &Value) -> Option<String> {
    if schema.validator.is_valid(data) {
        return None;
    }
    let mut named = Vec::new();
    let mut total = 0usize;
    for err in schema.validator.iter_errors(data) {
        total += 1;
        if named.len() < MAX_ERRORS_NAMED {
            let pointer = err.instance_path().to_string();
            let at = if pointer.is_empty() {
                "/".to_string()
            } else {
                pointer.clone()
            };
            if is_personal(&schema.personal, &pointer) {
                let schema_path = err.schema_path().to_string();
                let keyword = schema_path.rsplit('/').next().unwrap_or("");
                named.push(format!(
                    "at {at}: a personal field breaks the schema's \"{keyword}\" (its value is not shown)"
                ));
            } else {
                named.push(format!("at {at}: {err}"));
            }
        }
    }
    let more = if total > named.len() {
        format!(" (and {} more)", total - named.len())
    } else {
        String::new()
    };
    Some(format!(
        "data does not match the schema of \"{type_}\": {}{more}",
        named.join("; ")
    ))
}
