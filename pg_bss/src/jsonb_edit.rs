//! Rebuilds a jsonb value with some of its values replaced: no text round
//! trip and no serde value, so what is kept is copied as it was stored
//! (numbers with all their digits and their scale). An [`Editor`] decides,
//! value by value in document order, what becomes of each. An object whose
//! members are only kept or replaced is patched in its binary form
//! ([`crate::jsonb_patch`]); anything deeper walks PostgreSQL's own
//! iterator and builds with its `pushJsonbValue`. Never looks at what a
//! value means: its editors do.

use pgrx::pg_sys::{self, jbvType, JsonbIteratorToken as Tok, JsonbValue};

/// Where a value is: the keys and indexes from the document's top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At<'a> {
    Key(&'a [u8]),
    Index(usize),
}

/// What becomes of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    /// Copied as it is, with everything in it.
    Keep,
    /// A container whose values are visited in turn (a scalar is kept).
    Descend,
    /// The editor pushed what stands in its place.
    Replaced,
}

/// Decides what becomes of each value, and pushes replacements. A value
/// may be visited again (the members of an object are, when a visit
/// descends into one of them): visits must give the same answer.
pub trait Editor {
    type Error;
    /// The value at `path` (empty: the whole document); a nested container
    /// comes as a `jbvBinary`.
    fn visit(
        &mut self,
        path: &[At<'_>],
        value: &JsonbValue,
        out: &mut Builder,
    ) -> Result<Visit, Self::Error>;
}

/// The value being built, in the current memory context.
pub struct Builder {
    state: *mut pg_sys::JsonbParseState,
    /// The token a value pushed now stands as (WJB_VALUE in an object,
    /// WJB_ELEM in an array, WJB_ELEM at the top).
    as_token: Tok::Type,
    top: *mut JsonbValue,
    /// Set while an object's members are patched: what a visit pushed,
    /// kept instead of built.
    capturing: bool,
    captured: Option<JsonbValue>,
}

impl Builder {
    fn new() -> Self {
        Builder {
            state: std::ptr::null_mut(),
            as_token: Tok::WJB_ELEM,
            top: std::ptr::null_mut(),
            capturing: false,
            captured: None,
        }
    }

    /// Pushes `tok` with `value`, keeping the top once the document closes.
    unsafe fn put(&mut self, tok: Tok::Type, value: *const JsonbValue) {
        let at_top = self.state.is_null();
        let made = pg_sys::pushJsonbValue(&mut self.state, tok, value.cast_mut());
        if at_top || self.state.is_null() {
            self.top = made;
        }
    }

    /// Pushes a scalar, or a container as a `jbvBinary` (copied), in place
    /// of the value visited.
    ///
    /// # Safety
    /// `value` must be a valid JsonbValue whose pointers outlive the build,
    /// and not a raw scalar's container.
    pub unsafe fn push(&mut self, value: &JsonbValue) {
        if self.capturing {
            self.captured = Some(*value);
            return;
        }
        if self.state.is_null() && value.type_ != jbvType::jbvBinary {
            // A scalar document is a one-element "raw scalar" array.
            let mut raw: JsonbValue = std::mem::zeroed();
            raw.type_ = jbvType::jbvArray;
            raw.val.array.rawScalar = true;
            raw.val.array.nElems = 1;
            self.put(Tok::WJB_BEGIN_ARRAY, &raw);
            self.put(Tok::WJB_ELEM, value);
            return self.put(Tok::WJB_END_ARRAY, std::ptr::null());
        }
        self.put(self.as_token, value)
    }

    /// Pushes the string `text` in place of the value visited.
    ///
    /// # Safety
    /// Called from [`Editor::visit`] only.
    pub unsafe fn push_string(&mut self, text: &str) {
        self.push(&string(text.as_bytes()))
    }

    /// Pushes `{"<key>": "<text>"}` in place of the value visited.
    ///
    /// # Safety
    /// Called from [`Editor::visit`] only.
    pub unsafe fn push_object_of_string(&mut self, key: &str, text: &str) {
        if self.capturing {
            return self.push(&binary(crate::jsonb_patch::object_of_string(key, text)));
        }
        self.put(Tok::WJB_BEGIN_OBJECT, std::ptr::null());
        self.put(Tok::WJB_KEY, &string(key.as_bytes()));
        self.put(Tok::WJB_VALUE, &string(text.as_bytes()));
        self.put(Tok::WJB_END_OBJECT, std::ptr::null());
    }

    /// Pushes the jsonb value `doc` in place of the value visited.
    ///
    /// # Safety
    /// `doc` must be a detoasted jsonb value that outlives the build.
    pub unsafe fn push_document(&mut self, doc: *mut pg_sys::Jsonb) {
        let root: *mut pg_sys::JsonbContainer = &mut (*doc).root;
        if crate::jsonb::kind(root) == crate::jsonb::Root::Scalar {
            let mut scalar: JsonbValue = std::mem::zeroed();
            pg_sys::JsonbExtractScalar(root, &mut scalar);
            return self.push(&scalar);
        }
        self.push(&binary(doc))
    }
}

/// The whole of `doc` as a `jbvBinary`.
pub unsafe fn binary(doc: *mut pg_sys::Jsonb) -> JsonbValue {
    let mut v: JsonbValue = std::mem::zeroed();
    v.type_ = jbvType::jbvBinary;
    v.val.binary.data = &mut (*doc).root;
    v.val.binary.len = pgrx::varsize_any_exhdr(doc.cast()) as i32;
    v
}

/// A jsonb string value of a copy of `bytes` in the current memory
/// context (the build keeps pointers until it ends).
fn string(bytes: &[u8]) -> JsonbValue {
    // SAFETY: a JsonbValue is plain data; zero is a valid bit pattern. The
    // copy is palloc'd with room for the bytes.
    unsafe {
        let copy = pg_sys::palloc(bytes.len().max(1)) as *mut u8;
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), copy, bytes.len());
        let mut v: JsonbValue = std::mem::zeroed();
        v.type_ = jbvType::jbvString;
        v.val.string.val = copy.cast();
        v.val.string.len = bytes.len() as i32;
        v
    }
}

/// `doc` rebuilt as `editor` decides, or None when it kept the whole
/// document (then nothing was built).
///
/// # Safety
/// `doc` must be a detoasted jsonb value.
pub unsafe fn edit<E: Editor>(
    doc: *mut pg_sys::Jsonb,
    editor: &mut E,
) -> Result<Option<pg_sys::Datum>, E::Error> {
    edit_value(&binary(doc), editor)
}

/// As [`edit`], for a container inside a jsonb value (a `jbvBinary`, such
/// as an array element or an object's member): the result is a jsonb
/// value of its own.
///
/// # Safety
/// `whole` must be a `jbvBinary` of a live, detoasted jsonb value.
pub unsafe fn edit_value<E: Editor>(
    whole: &JsonbValue,
    editor: &mut E,
) -> Result<Option<pg_sys::Datum>, E::Error> {
    debug_assert_eq!(whole.type_, jbvType::jbvBinary);
    let root = whole.val.binary.data;
    let mut out = Builder::new();
    let mut path = Vec::new();
    match editor.visit(&path, whole, &mut out)? {
        Visit::Keep => return Ok(None),
        Visit::Replaced => {}
        Visit::Descend => {
            if crate::jsonb::kind(root) == crate::jsonb::Root::Object {
                match patch_members(root, editor)? {
                    Patched::Kept => return Ok(None),
                    Patched::Written(doc) => return Ok(Some(pg_sys::Datum::from(doc))),
                    Patched::Walk => {}
                }
            }
            walk(&mut out, &mut path, root, editor)?
        }
    }
    assert!(!out.top.is_null(), "a rebuilt jsonb value has a top");
    Ok(Some(pg_sys::Datum::from(pg_sys::JsonbValueToJsonb(
        out.top,
    ))))
}

/// What became of an object's members patched in its binary form.
enum Patched {
    /// Every member was kept.
    Kept,
    /// The object with some members replaced.
    Written(*mut pg_sys::Jsonb),
    /// A visit descends into a member, or pushed what the binary writer
    /// does not take: the object has to be walked.
    Walk,
}

/// The object `root` with its members kept or replaced as `editor` decides.
///
/// # Safety
/// `root` must be an object container in a live, detoasted jsonb value.
unsafe fn patch_members<E: Editor>(
    root: *mut pg_sys::JsonbContainer,
    editor: &mut E,
) -> Result<Patched, E::Error> {
    let object = crate::jsonb_patch::Object::new(root);
    let mut out = Builder::new();
    out.capturing = true;
    let mut values = Vec::with_capacity(object.len());
    let mut replaced = false;
    for i in 0..object.len() {
        let value = object.value(i);
        match editor.visit(&[At::Key(object.key(i))], &value, &mut out)? {
            Visit::Descend if value.type_ == jbvType::jbvBinary => return Ok(Patched::Walk),
            Visit::Keep | Visit::Descend => values.push(None),
            Visit::Replaced => {
                values.push(Some(
                    out.captured.take().expect("a visit that replaces pushes"),
                ));
                replaced = true;
            }
        }
    }
    if !replaced {
        return Ok(Patched::Kept);
    }
    Ok(object
        .with_values(&values)
        .map_or(Patched::Walk, Patched::Written))
}

/// Pushes the tokens of `container`, visiting each of its values.
unsafe fn walk<'a, E: Editor>(
    out: &mut Builder,
    path: &mut Vec<At<'a>>,
    container: *mut pg_sys::JsonbContainer,
    editor: &mut E,
) -> Result<(), E::Error> {
    let raw_scalar = crate::jsonb::kind(container) == crate::jsonb::Root::Scalar;
    let mut it = pg_sys::JsonbIteratorInit(container);
    let mut index = 0usize;
    loop {
        let mut v: JsonbValue = std::mem::zeroed();
        let tok = pg_sys::JsonbIteratorNext(&mut it, &mut v, true);
        match tok {
            Tok::WJB_DONE => return Ok(()),
            Tok::WJB_KEY => {
                out.put(tok, &v);
                let s = v.val.string;
                // Points into the container, which outlives the walk.
                let key: &'a [u8] = std::slice::from_raw_parts(s.val as *const u8, s.len as usize);
                path.push(At::Key(key));
            }
            Tok::WJB_VALUE | Tok::WJB_ELEM => {
                if tok == Tok::WJB_ELEM && !raw_scalar {
                    path.push(At::Index(index));
                    index += 1;
                }
                let nested = !raw_scalar || tok == Tok::WJB_VALUE;
                out.as_token = tok;
                match editor.visit(path, &v, out)? {
                    Visit::Replaced => {}
                    Visit::Descend if v.type_ == jbvType::jbvBinary => {
                        walk(out, path, v.val.binary.data, editor)?
                    }
                    Visit::Keep | Visit::Descend => out.put(tok, &v),
                }
                if nested {
                    path.pop();
                }
            }
            Tok::WJB_BEGIN_ARRAY => {
                let raw = v.val.array.rawScalar;
                out.put(tok, if raw { &v } else { std::ptr::null() });
            }
            // WJB_BEGIN_OBJECT, WJB_END_ARRAY, WJB_END_OBJECT
            _ => out.put(tok, std::ptr::null()),
        }
    }
}
