//! Owns decoding pgoutput (protocol version 1, binary tuples) messages of
//! the `bss_events` publication into [`Event`]s: Relation messages describe
//! the columns, Insert messages carry one row each. Pure functions over
//! bytes: never does IO, never panics on any input, and refuses a row whose
//! columns it cannot read rather than guessing.

use crate::event::Event;

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
pub const PG_EPOCH_OFFSET_US: i64 = 946_684_800_000_000;

const INT8_OID: u32 = 20;
const TEXT_OID: u32 = 25;
const VARCHAR_OID: u32 = 1043;
const UUID_OID: u32 = 2950;
const TIMESTAMPTZ_OID: u32 = 1184;
const JSONB_OID: u32 = 3802;

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("pgoutput message is truncated ({0})")]
    Truncated(&'static str),
    #[error("insert into relation {0}, which no Relation message described")]
    UnknownRelation(u32),
    #[error("column {column}: {reason}")]
    Column { column: String, reason: String },
    #[error("relation {0} lacks column {1}")]
    MissingColumn(String, &'static str),
}

/// One column of a relation as pgoutput describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub type_oid: u32,
}

/// A relation (table) as pgoutput describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub id: u32,
    pub namespace: String,
    pub name: String,
    pub columns: Vec<Column>,
}

/// A decoded pgoutput message, as far as the sidecar cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Relation(Relation),
    /// A row inserted into `relation`, one value per column (None = NULL).
    Insert {
        relation: u32,
        values: Vec<Option<Vec<u8>>>,
    },
    /// Anything else (Type, Origin, Update, Delete, Truncate): its tag.
    Other(u8),
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated(what));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn cstr(&mut self, what: &'static str) -> Result<String, DecodeError> {
        let end = self
            .buf
            .iter()
            .position(|&b| b == 0)
            .ok_or(DecodeError::Truncated(what))?;
        let s = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf = &self.buf[end + 1..];
        Ok(s)
    }
}

/// Decodes one pgoutput message (the payload of an XLogData).
pub fn decode(data: &[u8]) -> Result<Message, DecodeError> {
    let mut r = Reader { buf: data };
    match r.u8("tag")? {
        b'R' => {
            let id = r.u32("relation id")?;
            let namespace = r.cstr("namespace")?;
            let name = r.cstr("relation name")?;
            let _replica_identity = r.u8("replica identity")?;
            let n = r.u16("column count")?;
            let mut columns = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let _flags = r.u8("column flags")?;
                let name = r.cstr("column name")?;
                let type_oid = r.u32("column type")?;
                let _typmod = r.u32("column typmod")?;
                columns.push(Column { name, type_oid });
            }
            Ok(Message::Relation(Relation {
                id,
                namespace,
                name,
                columns,
            }))
        }
        b'I' => {
            let relation = r.u32("relation id")?;
            if r.u8("new tuple marker")? != b'N' {
                return Err(DecodeError::Truncated("new tuple marker"));
            }
            let n = r.u16("tuple column count")?;
            let mut values = Vec::with_capacity(n as usize);
            for _ in 0..n {
                match r.u8("tuple column kind")? {
                    b'n' | b'u' => values.push(None),
                    b't' | b'b' => {
                        let len = r.u32("value length")? as usize;
                        values.push(Some(r.take(len, "value")?.to_vec()));
                    }
                    _ => return Err(DecodeError::Truncated("tuple column kind")),
                }
            }
            Ok(Message::Insert { relation, values })
        }
        tag => Ok(Message::Other(tag)),
    }
}

/// Where each needed column of `bss.events` sits in a relation's tuples.
#[derive(Debug, Clone)]
pub struct EventColumns {
    relation: Relation,
    /// Position in the tuple of each column of [`NEEDED`], in its order.
    index: [usize; NEEDED.len()],
}

/// Columns the sidecar reads, with the types it accepts for each, in the
/// order [`EventColumns::event`] takes them.
const NEEDED: &[(&str, &[u32])] = &[
    ("global_position", &[INT8_OID]),
    ("stream_id", &[TEXT_OID, VARCHAR_OID]),
    ("stream_version", &[INT8_OID]),
    ("event_id", &[UUID_OID]),
    ("source", &[TEXT_OID, VARCHAR_OID]),
    ("type", &[TEXT_OID, VARCHAR_OID]),
    ("subject", &[TEXT_OID, VARCHAR_OID]),
    ("time", &[TIMESTAMPTZ_OID]),
    ("datacontenttype", &[TEXT_OID, VARCHAR_OID]),
    ("dataschema", &[TEXT_OID, VARCHAR_OID]),
    ("data", &[JSONB_OID]),
    ("metadata", &[JSONB_OID]),
    ("region", &[TEXT_OID, VARCHAR_OID]),
    ("recorded_at", &[TIMESTAMPTZ_OID]),
    ("tenant", &[TEXT_OID, VARCHAR_OID]),
];

impl EventColumns {
    /// Maps the columns of a `bss.events` relation; refuses one that lacks
    /// a needed column or has it with an unexpected type.
    pub fn new(relation: Relation) -> Result<Self, DecodeError> {
        let full_name = format!("{}.{}", relation.namespace, relation.name);
        let mut index = [0; NEEDED.len()];
        for (k, (name, types)) in NEEDED.iter().enumerate() {
            let i = relation
                .columns
                .iter()
                .position(|c| c.name == *name)
                .ok_or_else(|| DecodeError::MissingColumn(full_name.clone(), name))?;
            let oid = relation.columns[i].type_oid;
            if !types.contains(&oid) {
                return Err(DecodeError::Column {
                    column: format!("{full_name}.{name}"),
                    reason: format!("type oid {oid} is not one of {types:?}"),
                });
            }
            index[k] = i;
        }
        Ok(EventColumns { relation, index })
    }

    pub fn relation(&self) -> &Relation {
        &self.relation
    }

    /// Builds the event of one inserted row (binary tuple format), taking
    /// the column values without copying them. The commit fields are
    /// filled in when the transaction's commit arrives.
    pub fn event(&self, values: Vec<Option<Vec<u8>>>) -> Result<Event, DecodeError> {
        let mut row = Row {
            index: &self.index,
            next: 0,
            values,
        };
        Ok(Event {
            commit_lsn: 0,
            txn_index: 0,
            commit_time_us: 0,
            global_position: int8(&row.required("global_position")?, "global_position")?,
            stream_id: row.text("stream_id")?,
            stream_version: int8(&row.required("stream_version")?, "stream_version")?,
            event_id: uuid(&row.required("event_id")?)?,
            source: row.text("source")?,
            event_type: row.text("type")?,
            subject: row.opt_text("subject")?,
            time: timestamptz(&row.required("time")?, "time")?,
            datacontenttype: row.text("datacontenttype")?,
            dataschema: row.opt_text("dataschema")?,
            data: jsonb(row.required("data")?, "data")?,
            metadata: jsonb(row.required("metadata")?, "metadata")?,
            region: row.text("region")?,
            recorded_at: timestamptz(&row.required("recorded_at")?, "recorded_at")?,
            tenant: row.text("tenant")?,
        })
    }
}

/// The values of one inserted row, taken out column by column in the
/// order of [`NEEDED`] (the name is checked in debug builds).
struct Row<'a> {
    index: &'a [usize; NEEDED.len()],
    next: usize,
    values: Vec<Option<Vec<u8>>>,
}

impl Row<'_> {
    fn take(&mut self, name: &'static str) -> Result<Option<Vec<u8>>, DecodeError> {
        debug_assert_eq!(NEEDED[self.next].0, name, "columns taken out of order");
        let i = self.index[self.next];
        self.next += 1;
        Ok(self
            .values
            .get_mut(i)
            .ok_or(DecodeError::Truncated("tuple shorter than relation"))?
            .take())
    }

    fn required(&mut self, name: &'static str) -> Result<Vec<u8>, DecodeError> {
        self.take(name)?
            .ok_or_else(|| column_error(name, "is NULL"))
    }

    fn text(&mut self, name: &'static str) -> Result<String, DecodeError> {
        utf8(self.required(name)?, name)
    }

    fn opt_text(&mut self, name: &'static str) -> Result<Option<String>, DecodeError> {
        self.take(name)?.map(|b| utf8(b, name)).transpose()
    }
}

fn utf8(b: Vec<u8>, column: &str) -> Result<String, DecodeError> {
    String::from_utf8(b).map_err(|_| column_error(column, "is not UTF-8"))
}

fn column_error(column: &str, reason: &str) -> DecodeError {
    DecodeError::Column {
        column: column.to_owned(),
        reason: reason.to_owned(),
    }
}

fn int8(b: &[u8], column: &str) -> Result<i64, DecodeError> {
    let a: [u8; 8] = b
        .try_into()
        .map_err(|_| column_error(column, "int8 is not 8 bytes"))?;
    Ok(i64::from_be_bytes(a))
}

fn uuid(b: &[u8]) -> Result<String, DecodeError> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if b.len() != 16 {
        return Err(column_error("event_id", "uuid is not 16 bytes"));
    }
    let mut s = String::with_capacity(36);
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(HEX[usize::from(x >> 4)] as char);
        s.push(HEX[usize::from(x & 15)] as char);
    }
    Ok(s)
}

/// jsonb's binary send format: a version byte (1), then the JSON text.
fn jsonb(mut b: Vec<u8>, column: &str) -> Result<String, DecodeError> {
    if b.first() != Some(&1) {
        return Err(column_error(column, "unknown jsonb binary version"));
    }
    b.remove(0);
    String::from_utf8(b).map_err(|_| column_error(column, "jsonb is not UTF-8"))
}

/// timestamptz's binary format (µs since 2000-01-01 UTC) as RFC 3339.
fn timestamptz(b: &[u8], column: &str) -> Result<String, DecodeError> {
    let pg_us = int8(b, column)?;
    let unix_us = pg_us
        .checked_add(PG_EPOCH_OFFSET_US)
        .ok_or_else(|| column_error(column, "timestamp out of range"))?;
    rfc3339_from_unix_us(unix_us).ok_or_else(|| column_error(column, "timestamp out of range"))
}

/// Formats microseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.ffffffZ`
/// (years 0001 to 9999; None outside).
pub fn rfc3339_from_unix_us(us: i64) -> Option<String> {
    let secs = us.div_euclid(1_000_000);
    let micros = us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    if !(1..=9999).contains(&y) {
        return None;
    }
    // Written digit by digit: this runs twice per event on the hot path.
    let mut out = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, mut v: u64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y as u64);
    put(5, 2, m.into());
    put(8, 2, d.into());
    put(11, 2, (sod / 3600) as u64);
    put(14, 2, (sod % 3600 / 60) as u64);
    put(17, 2, (sod % 60) as u64);
    put(20, 6, micros as u64);
    String::from_utf8(out.to_vec()).ok()
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day)
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relation_bytes(columns: &[(&str, u32)]) -> Vec<u8> {
        let mut b = vec![b'R'];
        b.extend_from_slice(&16_384u32.to_be_bytes());
        b.extend_from_slice(b"bss\0events\0d");
        b.extend_from_slice(&(columns.len() as u16).to_be_bytes());
        for (name, oid) in columns {
            b.push(0);
            b.extend_from_slice(name.as_bytes());
            b.push(0);
            b.extend_from_slice(&oid.to_be_bytes());
            b.extend_from_slice(&u32::MAX.to_be_bytes());
        }
        b
    }

    fn events_columns() -> Vec<(&'static str, u32)> {
        let mut c: Vec<(&str, u32)> = NEEDED.iter().map(|(n, t)| (*n, t[0])).collect();
        c.insert(3, ("category", TEXT_OID));
        c.push(("position_horizon", 5069));
        c
    }

    fn insert_bytes(values: &[Option<Vec<u8>>]) -> Vec<u8> {
        let mut b = vec![b'I'];
        b.extend_from_slice(&16_384u32.to_be_bytes());
        b.push(b'N');
        b.extend_from_slice(&(values.len() as u16).to_be_bytes());
        for v in values {
            match v {
                None => b.push(b'n'),
                Some(v) => {
                    b.push(b'b');
                    b.extend_from_slice(&(v.len() as u32).to_be_bytes());
                    b.extend_from_slice(v);
                }
            }
        }
        b
    }

    fn row() -> Vec<Option<Vec<u8>>> {
        let ts = (1_795_000_000_000_000i64 - PG_EPOCH_OFFSET_US)
            .to_be_bytes()
            .to_vec();
        let mut jsonb = vec![1u8];
        jsonb.extend_from_slice(br#"{"a": 1}"#);
        vec![
            Some(42i64.to_be_bytes().to_vec()),
            Some(b"customer-1".to_vec()),
            Some(3i64.to_be_bytes().to_vec()),
            Some(b"customer".to_vec()),
            Some((0u8..16).collect()),
            Some(b"/crm".to_vec()),
            Some(b"customer.created".to_vec()),
            None,
            Some(ts.clone()),
            Some(b"application/json".to_vec()),
            None,
            Some(jsonb.clone()),
            Some(vec![1, b'{', b'}']),
            Some(b"local".to_vec()),
            Some(ts),
            Some(7u64.to_be_bytes().to_vec()),
        ]
    }

    #[test]
    fn relation_and_insert_decode_into_an_event() {
        let Message::Relation(rel) = decode(&relation_bytes(&events_columns())).unwrap() else {
            panic!("not a relation");
        };
        assert_eq!(
            (rel.namespace.as_str(), rel.name.as_str()),
            ("bss", "events")
        );
        let cols = EventColumns::new(rel).unwrap();
        let Message::Insert { relation, values } = decode(&insert_bytes(&row())).unwrap() else {
            panic!("not an insert");
        };
        assert_eq!(relation, 16_384);
        let e = cols.event(values).unwrap();
        assert_eq!(e.global_position, 42);
        assert_eq!(e.stream_id, "customer-1");
        assert_eq!(e.stream_version, 3);
        assert_eq!(e.event_id, "00010203-0405-0607-0809-0a0b0c0d0e0f");
        assert_eq!(e.subject, None);
        assert_eq!(e.time, "2026-11-18T11:06:40.000000Z");
        assert_eq!(e.data, r#"{"a": 1}"#);
        assert_eq!(e.metadata, "{}");
    }

    #[test]
    fn truncated_and_garbage_input_is_an_error_not_a_panic() {
        let full = insert_bytes(&row());
        for cut in 0..full.len() {
            assert!(decode(&full[..cut]).is_err(), "cut at {cut}");
        }
        let rel = relation_bytes(&events_columns());
        for cut in 1..rel.len() {
            assert!(decode(&rel[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn a_relation_without_a_needed_column_or_with_a_wrong_type_is_refused() {
        let mut cols = events_columns();
        cols.retain(|(n, _)| *n != "data");
        let Message::Relation(rel) = decode(&relation_bytes(&cols)).unwrap() else {
            panic!()
        };
        assert!(matches!(
            EventColumns::new(rel),
            Err(DecodeError::MissingColumn(_, "data"))
        ));
        let mut cols = events_columns();
        cols[0].1 = TEXT_OID;
        let Message::Relation(rel) = decode(&relation_bytes(&cols)).unwrap() else {
            panic!()
        };
        assert!(matches!(
            EventColumns::new(rel),
            Err(DecodeError::Column { .. })
        ));
    }

    #[test]
    fn null_in_a_required_column_is_refused() {
        let Message::Relation(rel) = decode(&relation_bytes(&events_columns())).unwrap() else {
            panic!()
        };
        let cols = EventColumns::new(rel).unwrap();
        let mut values = row();
        values[1] = None;
        assert!(cols.event(values).is_err());
    }

    #[test]
    fn rfc3339_formatting() {
        assert_eq!(
            rfc3339_from_unix_us(0).unwrap(),
            "1970-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            rfc3339_from_unix_us(951_782_400_000_001).unwrap(),
            "2000-02-29T00:00:00.000001Z"
        );
        assert_eq!(
            rfc3339_from_unix_us(-1).unwrap(),
            "1969-12-31T23:59:59.999999Z"
        );
        assert_eq!(
            rfc3339_from_unix_us(253_402_300_799_999_999).unwrap(),
            "9999-12-31T23:59:59.999999Z"
        );
        assert!(rfc3339_from_unix_us(253_402_300_800_000_000).is_none());
        assert!(rfc3339_from_unix_us(i64::MAX).is_none());
    }

    #[test]
    fn uuid_formatting() {
        let b: Vec<u8> = (0..16).map(|i| 0xf0 | i).collect();
        assert_eq!(uuid(&b).unwrap(), "f0f1f2f3-f4f5-f6f7-f8f9-fafbfcfdfeff");
        assert!(uuid(&b[..15]).is_err());
    }
}
