//! A jsonb object with some of its members' values replaced, written
//! straight in PostgreSQL's binary format (utils/jsonb.h): the keys and
//! every kept value are copied as stored, byte for byte, and only the
//! container's entries are written anew. No iterator, no parse state, no
//! sort of the keys (they keep their stored order, which is jsonb's) and
//! no conversion pass: what [`crate::jsonb_edit`] uses when an editor
//! keeps or replaces the members of an object without going inside them.
//! Knows the format; never decides what a value becomes.

use pgrx::pg_sys::{self, jbvType, JsonbValue};

use crate::jsonb::{self, Root, JB_FOBJECT};

// A container's entry (JEntry): a length, or every JB_OFFSET_STRIDE'th
// entry the end offset, plus the type of the value.
const JENTRY_OFFLENMASK: u32 = 0x0FFF_FFFF;
const JENTRY_TYPEMASK: u32 = 0x7000_0000;
const JENTRY_HAS_OFF: u32 = 0x8000_0000;
const JENTRY_ISSTRING: u32 = 0x0000_0000;
const JENTRY_ISNUMERIC: u32 = 0x1000_0000;
const JENTRY_ISBOOL_FALSE: u32 = 0x2000_0000;
const JENTRY_ISBOOL_TRUE: u32 = 0x3000_0000;
const JENTRY_ISNULL: u32 = 0x4000_0000;
const JENTRY_ISCONTAINER: u32 = 0x5000_0000;
const JB_OFFSET_STRIDE: usize = 32;

/// Numbers and containers start on a 4-byte boundary of the data area
/// (the padding before them counts as part of their entry).
fn aligned(kind: u32) -> bool {
    kind == JENTRY_ISNUMERIC || kind == JENTRY_ISCONTAINER
}

fn int_align(n: usize) -> usize {
    (n + 3) & !3
}

/// An object container, read in place.
pub struct Object {
    root: *const pg_sys::JsonbContainer,
    pairs: usize,
    /// Each entry's end in the data area: the keys', then the values'.
    ends: Vec<usize>,
}

impl Object {
    /// # Safety
    /// `root` must be an object container in a live, detoasted jsonb value.
    pub unsafe fn new(root: *const pg_sys::JsonbContainer) -> Self {
        debug_assert_eq!(jsonb::kind(root), Root::Object);
        let pairs = jsonb::count(root) as usize;
        let mut ends = Vec::with_capacity(2 * pairs);
        let mut end = 0usize;
        for i in 0..2 * pairs {
            let entry = Self::entry_at(root, i);
            let field = (entry & JENTRY_OFFLENMASK) as usize;
            end = if entry & JENTRY_HAS_OFF != 0 {
                field
            } else {
                end + field
            };
            ends.push(end);
        }
        Object { root, pairs, ends }
    }

    unsafe fn entry_at(root: *const pg_sys::JsonbContainer, i: usize) -> u32 {
        std::ptr::read_unaligned((root as *const u32).add(1 + i))
    }

    /// How many members.
    pub fn len(&self) -> usize {
        self.pairs
    }

    fn start(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.ends[i - 1]
        }
    }

    unsafe fn data(&self) -> *const u8 {
        (self.root as *const u8).add(4 + 8 * self.pairs)
    }

    /// The key of member `i`, in the container.
    ///
    /// # Safety
    /// The container must outlive the slice.
    pub unsafe fn key<'a>(&self, i: usize) -> &'a [u8] {
        let start = self.start(i);
        std::slice::from_raw_parts(self.data().add(start), self.ends[i] - start)
    }

    /// Entry `i`'s type and its value's bytes (after any padding).
    unsafe fn stored(&self, i: usize) -> (u32, &[u8]) {
        let kind = Self::entry_at(self.root, i) & JENTRY_TYPEMASK;
        let mut start = self.start(i);
        if aligned(kind) {
            start = int_align(start);
        }
        let bytes = std::slice::from_raw_parts(self.data().add(start), self.ends[i] - start);
        (kind, bytes)
    }

    /// The value of member `i` as PostgreSQL's iterator gives it: a scalar,
    /// or a nested container as a `jbvBinary`; it points into the container.
    pub unsafe fn value(&self, i: usize) -> JsonbValue {
        let (kind, bytes) = self.stored(self.pairs + i);
        let mut v: JsonbValue = std::mem::zeroed();
        match kind {
            JENTRY_ISSTRING => {
                v.type_ = jbvType::jbvString;
                v.val.string.val = bytes.as_ptr() as *mut std::ffi::c_char;
                v.val.string.len = bytes.len() as i32;
            }
            JENTRY_ISNUMERIC => {
                v.type_ = jbvType::jbvNumeric;
                v.val.numeric = bytes.as_ptr() as pg_sys::Numeric;
            }
            JENTRY_ISBOOL_FALSE | JENTRY_ISBOOL_TRUE => {
                v.type_ = jbvType::jbvBool;
                v.val.boolean = kind == JENTRY_ISBOOL_TRUE;
            }
            JENTRY_ISNULL => v.type_ = jbvType::jbvNull,
            _ => {
                v.type_ = jbvType::jbvBinary;
                v.val.binary.data = bytes.as_ptr() as *mut pg_sys::JsonbContainer;
                v.val.binary.len = bytes.len() as i32;
            }
        }
        v
    }

    /// This object with the value of member `i` replaced by `values[i]`
    /// where that is Some, as a new jsonb value in the current memory
    /// context; None when a replacement is not a scalar or a nested
    /// container (`jbvBinary`), which this writer does not take.
    ///
    /// # Safety
    /// Every replacement's pointers must be live; `values` has one slot per
    /// member.
    pub unsafe fn with_values(&self, values: &[Option<JsonbValue>]) -> Option<*mut pg_sys::Jsonb> {
        assert_eq!(values.len(), self.pairs, "one slot per member");
        let mut parts = Vec::with_capacity(self.pairs);
        for (i, value) in values.iter().enumerate() {
            parts.push(match value {
                Some(v) => part(v)?,
                None => self.stored(self.pairs + i),
            });
        }
        let key_entries = std::slice::from_raw_parts((self.root as *const u32).add(1), self.pairs);
        // The keys' bytes end where the first value's start.
        let keys = std::slice::from_raw_parts(self.data(), self.start(self.pairs));
        Some(write_object(key_entries, keys, &parts))
    }
}

/// A replacement's entry type and bytes, None for what the writer does
/// not take.
unsafe fn part(v: &JsonbValue) -> Option<(u32, &[u8])> {
    Some(match v.type_ {
        jbvType::jbvNull => (JENTRY_ISNULL, &[][..]),
        jbvType::jbvBool if v.val.boolean => (JENTRY_ISBOOL_TRUE, &[][..]),
        jbvType::jbvBool => (JENTRY_ISBOOL_FALSE, &[][..]),
        jbvType::jbvString => {
            let s = v.val.string;
            (
                JENTRY_ISSTRING,
                std::slice::from_raw_parts(s.val as *const u8, s.len as usize),
            )
        }
        jbvType::jbvNumeric => {
            let n = v.val.numeric as *const u8;
            let len = pgrx::varsize_any(n.cast());
            (JENTRY_ISNUMERIC, std::slice::from_raw_parts(n, len))
        }
        jbvType::jbvBinary => {
            let b = v.val.binary;
            // A raw scalar's container is a document's top, never a member.
            if jsonb::kind(b.data) == Root::Scalar {
                return None;
            }
            (
                JENTRY_ISCONTAINER,
                std::slice::from_raw_parts(b.data as *const u8, b.len as usize),
            )
        }
        _ => return None,
    })
}

/// `{"<key>": "<text>"}` as a jsonb value in the current memory context.
pub fn object_of_string(key: &str, text: &str) -> *mut pg_sys::Jsonb {
    if key.len() > JENTRY_OFFLENMASK as usize {
        too_big();
    }
    // The first entry of a container always stores its end offset.
    let key_entry = [JENTRY_ISSTRING | JENTRY_HAS_OFF | key.len() as u32];
    // SAFETY: the parts are plain bytes; the result is palloc'd.
    unsafe {
        write_object(
            &key_entry,
            key.as_bytes(),
            &[(JENTRY_ISSTRING, text.as_bytes())],
        )
    }
}

/// A jsonb object of the keys as stored (their entries and bytes, copied)
/// and one value per key, written in the current memory context.
unsafe fn write_object(
    key_entries: &[u32],
    keys: &[u8],
    values: &[(u32, &[u8])],
) -> *mut pg_sys::Jsonb {
    let pairs = values.len();
    debug_assert_eq!(key_entries.len(), pairs);
    // Where each value goes in the data area, and its entry.
    let mut at = Vec::with_capacity(pairs);
    let mut value_entries = Vec::with_capacity(pairs);
    let mut end = keys.len();
    for (j, (kind, bytes)) in values.iter().enumerate() {
        let before = end;
        let start = if aligned(*kind) { int_align(end) } else { end };
        end = start + bytes.len();
        if end > JENTRY_OFFLENMASK as usize {
            too_big();
        }
        at.push(start);
        value_entries.push(if (pairs + j).is_multiple_of(JB_OFFSET_STRIDE) {
            kind | JENTRY_HAS_OFF | end as u32
        } else {
            kind | (end - before) as u32
        });
    }
    let head = pg_sys::VARHDRSZ + 4 + 8 * pairs;
    let total = head + end;
    // Zeroed: the padding before aligned values is zeros, as PostgreSQL writes it.
    let out = pg_sys::palloc0(total) as *mut u8;
    pgrx::set_varsize_4b(out.cast(), total as i32);
    let words = out.add(pg_sys::VARHDRSZ) as *mut u32;
    std::ptr::write_unaligned(words, pairs as u32 | JB_FOBJECT);
    for (i, entry) in key_entries.iter().chain(&value_entries).enumerate() {
        std::ptr::write_unaligned(words.add(1 + i), *entry);
    }
    let data = out.add(head);
    std::ptr::copy_nonoverlapping(keys.as_ptr(), data, keys.len());
    for ((_, bytes), start) in values.iter().zip(at) {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), data.add(start), bytes.len());
    }
    out.cast()
}

/// PostgreSQL's own error for an object too large for its entries.
fn too_big() -> ! {
    pgrx::ereport!(
        ERROR,
        pgrx::PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
        format!(
            "total size of jsonb object elements exceeds the maximum of {JENTRY_OFFLENMASK} bytes"
        )
    );
}
