//! The INSERT of an append, one statement for each shape the rows come in:
//! one event given as arguments, a checked jsonb batch (without its invalid
//! elements), or parsed CloudEvents as column arrays. Each writes what the
//! steps before it took under the stream lock (`Slot`): versions after
//! `before`, positions, horizon, region, recorded_at. Must never run without
//! the stream locked and its positions taken (append.rs calls it).

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::spi::SpiClient;
use pgrx::Uuid;

use crate::error::{BssResult, During};
use crate::statements::{generic_plan, Plans, Scans};
use crate::{guc, position};

/// What the steps before the insert took for `n` rows, with the stream locked.
pub struct Slot<'s> {
    pub stream_id: &'s str,
    /// The stream's version before the append: the rows get `before + 1..`.
    pub before: i64,
    pub positions: Vec<i64>,
    /// An xid8 datum (position.rs).
    pub horizon: pg_sys::Datum,
    pub region: String,
    /// A timestamptz datum returned by the stream lock.
    pub recorded_at: pg_sys::Datum,
}

impl Slot<'_> {
    fn horizon(&self) -> DatumWithOid<'static> {
        // SAFETY: an xid8 datum (pass-by-value) from position::horizon.
        unsafe { DatumWithOid::new(self.horizon, pg_sys::XID8OID) }
    }

    fn recorded_at(&self) -> DatumWithOid<'static> {
        // SAFETY: a timestamptz datum (pass-by-value) returned by the lock query.
        unsafe { DatumWithOid::new(self.recorded_at, pg_sys::TIMESTAMPTZOID) }
    }
}

/// Rows of one shape, ready to insert into the slot taken for them.
pub trait Insert {
    /// How many rows (at least one).
    fn count(&self) -> i64;
    /// The event ids the caller named, for the retry check.
    fn named_ids(&self) -> &[Uuid];
    /// The type of the event, when there is only one (who may append it
    /// can depend on it: `roles::check_may_append`).
    fn single_type(&self) -> Option<&str> {
        None
    }
    fn insert(self, client: &mut SpiClient<'_>, plans: &Plans, slot: Slot<'_>) -> BssResult<()>;
}

/// One event, its payloads as the caller's jsonb datums.
pub struct OneEvent<'a> {
    pub stream_id: &'a str,
    pub type_: &'a str,
    pub data: pg_sys::Datum,
    pub metadata: Option<pg_sys::Datum>,
    pub event_id: Option<Uuid>,
    pub source: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub time: Option<pg_sys::Datum>,
}

impl Insert for &OneEvent<'_> {
    fn count(&self) -> i64 {
        1
    }

    fn named_ids(&self) -> &[Uuid] {
        self.event_id.as_slice()
    }

    fn single_type(&self) -> Option<&str> {
        Some(self.type_)
    }

    /// Inserts the event at version `before + 1`.
    fn insert(self, client: &mut SpiClient<'_>, plans: &Plans, slot: Slot<'_>) -> BssResult<()> {
        insert_one(client, plans, slot, self)
    }
}

fn insert_one(
    client: &mut SpiClient<'_>,
    plans: &Plans,
    slot: Slot<'_>,
    ev: &OneEvent<'_>,
) -> BssResult<()> {
    let event_id = ev
        .event_id
        .unwrap_or_else(|| Uuid::from_bytes(*position::uuid_v7().as_bytes()));
    let source = ev
        .source
        .map(str::to_owned)
        .unwrap_or_else(|| guc::string(&guc::DEFAULT_SOURCE, "/pg_bss"));
    // SAFETY: the raw datums are the caller's arguments of the declared types.
    let args = unsafe {
        [
            slot.positions[0].into(),
            ev.stream_id.into(),
            (slot.before + 1).into(),
            event_id.into(),
            source.as_str().into(),
            ev.type_.into(),
            DatumWithOid::new(ev.subject, pg_sys::TEXTOID),
            nullable(ev.time, pg_sys::TIMESTAMPTZOID),
            DatumWithOid::new(ev.data, pg_sys::JSONBOID),
            nullable(ev.metadata, pg_sys::JSONBOID),
            slot.region.as_str().into(),
            slot.horizon(),
            slot.recorded_at(),
        ]
    };
    client
        .update(&plans.insert_one, None, &args)
        .during("insert the event")?;
    Ok(())
}

/// A caller's argument datum of type `oid`, or SQL NULL.
///
/// # Safety
/// `d` must be a valid datum of type `oid` for as long as the query runs.
pub unsafe fn nullable<'a>(d: Option<pg_sys::Datum>, oid: pg_sys::Oid) -> DatumWithOid<'a> {
    match d {
        Some(d) => DatumWithOid::new(d, oid),
        None => DatumWithOid::null_oid(oid),
    }
}

/// A one-dimensional array of `values`, each a datum of type `element`
/// (NULL elements for None): the array arguments of the inserts.
///
/// # Safety
/// Every datum must be a live value of type `element`.
pub unsafe fn array(values: &[Option<pg_sys::Datum>], element: pg_sys::Oid) -> pg_sys::Datum {
    let (mut len, mut by_value, mut align) = (0i16, false, 0 as std::ffi::c_char);
    pg_sys::get_typlenbyvalalign(element, &mut len, &mut by_value, &mut align);
    let mut datums: Vec<pg_sys::Datum> = values
        .iter()
        .map(|v| v.unwrap_or(pg_sys::Datum::from(0usize)))
        .collect();
    let mut nulls: Vec<bool> = values.iter().map(Option::is_none).collect();
    let mut dims = [values.len() as i32];
    let mut lower_bounds = [1];
    pg_sys::Datum::from(pg_sys::construct_md_array(
        datums.as_mut_ptr(),
        nulls.as_mut_ptr(),
        1,
        dims.as_mut_ptr(),
        lower_bounds.as_mut_ptr(),
        element,
        len.into(),
        by_value,
        align,
    ))
}

/// The valid elements of a checked batch: the caller's jsonb array `events`
/// but the elements at the 0-based `skipped` indexes (kept as dead letters),
/// each with its data from `sealed_data` (a `jsonb[]` by element) where
/// that has one.
pub struct Batch {
    pub events: pg_sys::Datum,
    pub sealed_data: Option<pg_sys::Datum>,
    pub valid: i64,
    pub named_ids: Vec<Uuid>,
    pub skipped: Vec<usize>,
}

impl Insert for Batch {
    fn count(&self) -> i64 {
        self.valid
    }

    fn named_ids(&self) -> &[Uuid] {
        &self.named_ids
    }

    /// Inserts the valid elements in batch order, versions and positions dense.
    fn insert(self, client: &mut SpiClient<'_>, plans: &Plans, slot: Slot<'_>) -> BssResult<()> {
        insert_batch(client, plans, slot, &self)
    }
}

fn insert_batch(
    client: &mut SpiClient<'_>,
    plans: &Plans,
    slot: Slot<'_>,
    batch: &Batch,
) -> BssResult<()> {
    let source = guc::string(&guc::DEFAULT_SOURCE, "/pg_bss");
    // SAFETY: events is the caller's non-null jsonb argument, sealed_data
    // a jsonb[] built for this call.
    let events = unsafe { DatumWithOid::new(batch.events, pg_sys::JSONBOID) };
    let sealed_data = unsafe { nullable(batch.sealed_data, pg_sys::JSONBARRAYOID) };
    let (horizon, recorded_at) = (slot.horizon(), slot.recorded_at());
    let mut args = vec![
        slot.positions.into(),
        slot.stream_id.into(),
        slot.before.into(),
        source.as_str().into(),
        slot.region.as_str().into(),
        horizon,
        events,
        recorded_at,
        sealed_data,
    ];
    let statement = if batch.skipped.is_empty() {
        &plans.insert_batch
    } else {
        let ordinals: Vec<i64> = batch.skipped.iter().map(|i| *i as i64 + 1).collect();
        args.push(ordinals.into());
        &plans.insert_valid
    };
    client
        .update(statement, None, &args)
        .during("insert the batch's events")?;
    Ok(())
}

/// Parsed rows for one stream (the CloudEvents path).
pub struct Rows {
    pub event_ids: Vec<Uuid>,
    pub sources: Vec<String>,
    pub types: Vec<String>,
    pub subjects: Vec<Option<String>>,
    pub times: Vec<Option<String>>,
    pub data: Vec<String>,
    pub metadata: Vec<String>,
    pub datacontenttypes: Vec<Option<String>>,
    pub dataschemas: Vec<Option<String>>,
}

impl Insert for Rows {
    fn count(&self) -> i64 {
        self.event_ids.len() as i64
    }

    fn named_ids(&self) -> &[Uuid] {
        &self.event_ids
    }

    /// Inserts the rows, moving each column into the statement's arguments.
    fn insert(self, client: &mut SpiClient<'_>, plans: &Plans, slot: Slot<'_>) -> BssResult<()> {
        insert_rows(client, plans, slot, self)
    }
}

fn insert_rows(
    client: &mut SpiClient<'_>,
    plans: &Plans,
    slot: Slot<'_>,
    rows: Rows,
) -> BssResult<()> {
    let (horizon, recorded_at) = (slot.horizon(), slot.recorded_at());
    let args = [
        slot.positions.into(),
        slot.stream_id.into(),
        slot.before.into(),
        slot.region.as_str().into(),
        horizon,
        rows.event_ids.into(),
        rows.sources.into(),
        rows.types.into(),
        rows.subjects.into(),
        rows.times.into(),
        rows.data.into(),
        rows.metadata.into(),
        rows.datacontenttypes.into(),
        rows.dataschemas.into(),
        recorded_at,
    ];
    generic_plan(Scans::Any, || {
        client.update(&plans.insert_rows, None, &args)
    })
    .during("insert the CloudEvents")?;
    Ok(())
}
