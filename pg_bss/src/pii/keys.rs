//! Owns the keys of personal data: the master key, read from the file
//! `bss.master_key_file` names (outside the database: never in a table, the
//! WAL or a backup), and the data subjects' keys, random AES-256 keys
//! stored in `bss.subject_keys` only wrapped (sealed) under the master key.
//! A subject's key is made by the first append of personal data about it
//! and destroyed by `bss.erase_subject`; a value sealed under a destroyed
//! key can no longer be opened by anyone. Never logs a key or a plaintext.
//!
//! A session keeps the subject keys it sealed under (up to
//! [`KNOWN_SUBJECTS`]) for its next appends, from the commit of the
//! transaction that read or made them: a key rolled back is never kept.
//! `bss.erase_subject` sends a relcache invalidation of `bss.subject_keys`
//! with its commit, which makes every session drop them before its next
//! transaction: an append that starts after an erasure committed seals
//! under a new key. (One concurrent with it may seal under the erased key,
//! and then reads as erased.)

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::time::SystemTime;

use pgrx::pg_sys;
use pgrx::spi::{OwnedPreparedStatement, SpiClient};
use uuid::Uuid;

use super::cipher::{self, SecretKey, SubjectKey, KEY_LEN};
use crate::error::{BssError, BssResult, During, SqlState};
use crate::guc;
use crate::session_cache::SessionCache;

struct Master {
    path: String,
    modified: SystemTime,
    key: SecretKey,
    check: String,
}

/// The key table's statements, prepared once per session.
struct Statements {
    for_subject: OwnedPreparedStatement,
    store: OwnedPreparedStatement,
    by_id: OwnedPreparedStatement,
    destroy: OwnedPreparedStatement,
}

/// The statements, prepared on first use in this session (and kept, as the
/// append path's are, for the life of the backend).
fn statements(client: &SpiClient<'_>) -> BssResult<&'static Statements> {
    if let Some(st) = STATEMENTS.with(|cell| cell.get().copied()) {
        return Ok(st);
    }
    use pg_sys::{BYTEAOID, TEXTOID, UUIDOID};
    let prepare = |sql, args: &[pg_sys::Oid]| {
        crate::statements::prepare(client, sql, args).during("prepare the key table's statements")
    };
    let made: &'static Statements = Box::leak(Box::new(Statements {
        for_subject: prepare(
            "SELECT key_id, wrapped, master_check FROM bss.subject_keys WHERE subject = $1",
            &[TEXTOID],
        )?,
        store: prepare(
            "INSERT INTO bss.subject_keys (subject, key_id, wrapped, master_check) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING RETURNING key_id",
            &[TEXTOID, UUIDOID, BYTEAOID, TEXTOID],
        )?,
        by_id: prepare(
            "SELECT wrapped, master_check FROM bss.subject_keys WHERE key_id = $1",
            &[UUIDOID],
        )?,
        destroy: prepare(
            "DELETE FROM bss.subject_keys WHERE subject = $1 RETURNING key_id",
            &[TEXTOID],
        )?,
    }));
    STATEMENTS.with(|cell| cell.set(made).ok());
    Ok(made)
}

thread_local! {
    static STATEMENTS: OnceCell<&'static Statements> = const { OnceCell::new() };
    /// The current and the previous master key, as last read.
    static MASTER: RefCell<[Option<Master>; 2]> = const { RefCell::new([None, None]) };
    /// Subject keys opened in this transaction, by key id (None: erased).
    static OPENED: RefCell<HashMap<Uuid, Option<SubjectKey>>> = RefCell::new(HashMap::new());
    /// Subject keys of committed rows, by tenant and subject.
    static KNOWN: SessionCache<RefCell<HashMap<Subject, (Uuid, SecretKey)>>> =
        const { SessionCache::new() };
    /// Subject keys read or made in this transaction, with the generation of
    /// KNOWN they were read at: kept in KNOWN at commit if it is unchanged.
    static FOUND: RefCell<HashMap<Subject, (u64, Uuid, SecretKey)>> = RefCell::new(HashMap::new());
}

/// A data subject: (tenant, subject).
type Subject = (String, String);

/// Subjects a session keeps keys of, at most (about 100 bytes each); past
/// it, it starts again from none.
const KNOWN_SUBJECTS: usize = 65_536;

fn known() -> std::rc::Rc<RefCell<HashMap<Subject, (Uuid, SecretKey)>>> {
    KNOWN
        .with(|k| k.get_or_load(|| Ok::<_, std::convert::Infallible>(RefCell::new(HashMap::new()))))
        .unwrap_or_else(|never| match never {})
}

/// The key of `subject` kept by this session or read in this transaction.
fn remembered(subject: &Subject) -> Option<(Uuid, SecretKey)> {
    if let Some(&(key_id, key)) = known().borrow().get(subject) {
        return Some((key_id, key));
    }
    FOUND.with(|f| f.borrow().get(subject).map(|&(_, id, key)| (id, key)))
}

fn remember(subject: Subject, generation: u64, key_id: Uuid, key: SecretKey) {
    FOUND.with(|f| f.borrow_mut().insert(subject, (generation, key_id, key)));
}

/// At commit: keeps the keys this transaction read or made, unless an
/// invalidation arrived since they were read.
fn keep_found() {
    let found = FOUND.with(|f| std::mem::take(&mut *f.borrow_mut()));
    if found.is_empty() {
        return;
    }
    let now = KNOWN.with(SessionCache::generation);
    let known = known();
    let mut known = known.borrow_mut();
    for (subject, (generation, key_id, key)) in found {
        if generation != now {
            continue;
        }
        if known.len() >= KNOWN_SUBJECTS {
            known.clear();
        }
        known.insert(subject, (key_id, key));
    }
}

/// Registers the cache's invalidation and the transaction callbacks, once,
/// from _PG_init.
pub fn register() {
    SessionCache::register(&KNOWN);
    // SAFETY: registering static callbacks once, from _PG_init.
    unsafe {
        pg_sys::RegisterXactCallback(Some(on_xact_event), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact_event), std::ptr::null_mut());
    }
}

fn no_master(why: String) -> BssError {
    BssError::new(SqlState::PersonalDataKey, why).hint(
        "Personal data is sealed under a master key kept outside the database: \
         write 64 hex digits (openssl rand -hex 32) to a file only the server's user can read, \
         and set bss.master_key_file to it in postgresql.conf (then SELECT pg_reload_conf()).",
    )
}

/// Which master key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    /// `bss.master_key_file`'s: wraps every new key.
    Current,
    /// `bss.previous_master_key_file`'s, during a rotation: opens keys not
    /// re-wrapped yet.
    Previous,
}

impl Which {
    fn setting(self) -> (&'static str, String) {
        match self {
            Which::Current => (
                "bss.master_key_file",
                guc::string(&guc::MASTER_KEY_FILE, ""),
            ),
            Which::Previous => (
                "bss.previous_master_key_file",
                guc::string(&guc::PREVIOUS_MASTER_KEY_FILE, ""),
            ),
        }
    }
}

/// The current master key (`bss.master_key_file`'s) and its check value;
/// an error naming the setting when it is not set.
fn current_master() -> BssResult<(SecretKey, String)> {
    let (name, path) = Which::Current.setting();
    if path.is_empty() {
        return Err(no_master(format!(
            "{name} is not set: personal data (fields marked x-pii) cannot be sealed or opened"
        )));
    }
    load_master(Which::Current, name, path)
}

/// The previous master key during a rotation and its check value; None
/// when `bss.previous_master_key_file` is not set.
fn previous_master() -> BssResult<Option<(SecretKey, String)>> {
    let (name, path) = Which::Previous.setting();
    if path.is_empty() {
        return Ok(None);
    }
    load_master(Which::Previous, name, path).map(Some)
}

/// The master key in the file `path` (setting `name`) and its check value,
/// read again when the path or the file's modification time changed.
fn load_master(which: Which, name: &str, path: String) -> BssResult<(SecretKey, String)> {
    let meta = std::fs::metadata(&path).map_err(|e| {
        no_master(format!(
            "cannot read the master key file {path:?} ({name}): {e}"
        ))
    })?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(no_master(format!(
            "the master key file {path:?} ({name}) is readable by others than its owner (mode {:o})",
            meta.permissions().mode() & 0o777
        )));
    }
    let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    MASTER.with(|m| {
        let mut m = m.borrow_mut();
        let slot = &mut m[which as usize];
        let stale = slot
            .as_ref()
            .is_none_or(|k| k.path != path || k.modified != modified);
        if stale {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| no_master(format!("cannot read the master key file {path:?} ({name}): {e}")))?;
            let key = parse_hex_key(text.trim()).ok_or_else(|| {
                no_master(format!(
                    "the master key file {path:?} ({name}) does not hold 64 hex digits (a 256-bit key)"
                ))
            })?;
            let check = cipher::check_value(&key);
            *slot = Some(Master {
                path,
                modified,
                key,
                check,
            });
        }
        let k = slot.as_ref().expect("loaded above");
        Ok((k.key, k.check.clone()))
    })
}

fn parse_hex_key(text: &str) -> Option<SecretKey> {
    if text.len() != 2 * KEY_LEN {
        return None;
    }
    let mut key = [0u8; KEY_LEN];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(key)
}

fn unwrap_key(key_id: Uuid, wrapped: &[u8], master_check: &str) -> BssResult<SecretKey> {
    let (current, check) = current_master()?;
    let master = if master_check == check {
        current
    } else {
        match previous_master()? {
            Some((previous, previous_check)) if previous_check == master_check => previous,
            _ => {
                return Err(no_master(format!(
                    "subject key {key_id} is wrapped under master key {master_check}, not under the one \
                     bss.master_key_file holds ({check}) nor under bss.previous_master_key_file's"
                )))
            }
        }
    };
    cipher::open(&master, wrapped, key_id.as_bytes())
        .and_then(|k| <SecretKey>::try_from(k.as_slice()).ok())
        .ok_or_else(|| {
            BssError::new(
                SqlState::PersonalDataKey,
                format!("subject key {key_id} does not open under the master key: it was altered"),
            )
        })
}

/// Re-wraps every subject key (of the tenant in effect, or of all under
/// `*`) that is still wrapped under the previous master key under the
/// current one. (How many, the previous key's check value, the current's.)
/// The subject keys themselves do not change: nothing sealed is touched.
pub fn rotate(client: &mut SpiClient<'_>) -> BssResult<(i64, String, String)> {
    const STEP: &str = "re-wrap the subject keys";
    let (current, check) = current_master()?;
    let Some((previous, previous_check)) = previous_master()? else {
        return Err(no_master(
            "bss.previous_master_key_file is not set: there is no master key to rotate away from".into(),
        )
        .hint("Write the new key to a file, set bss.master_key_file to it and bss.previous_master_key_file to the old one, reload, then call bss.rotate_master_key()."));
    };
    if previous_check == check {
        return Err(no_master(format!(
            "bss.previous_master_key_file holds the same key as bss.master_key_file ({check})"
        )));
    }
    let rows = client
        .update(
            "SELECT key_id, wrapped FROM bss.subject_keys WHERE master_check = $1 FOR UPDATE",
            None,
            &[previous_check.as_str().into()],
        )
        .during(STEP)?;
    let mut rewrapped = 0i64;
    for row in rows {
        let key_id: pgrx::Uuid = row.get(1).during(STEP)?.expect("NOT NULL");
        let wrapped: Vec<u8> = row.get(2).during(STEP)?.expect("NOT NULL");
        let id = Uuid::from_bytes(*key_id.as_bytes());
        let key = cipher::open(&previous, &wrapped, id.as_bytes()).ok_or_else(|| {
            BssError::new(
                SqlState::PersonalDataKey,
                format!(
                    "subject key {id} does not open under the previous master key: it was altered"
                ),
            )
        })?;
        let again = cipher::seal(&current, &key, id.as_bytes());
        client
            .update(
                "UPDATE bss.subject_keys SET wrapped = $2, master_check = $3 WHERE key_id = $1",
                None,
                &[key_id.into(), again.into(), check.as_str().into()],
            )
            .during(STEP)?;
        rewrapped += 1;
    }
    Ok((rewrapped, previous_check, check))
}

/// The key personal data about `subject` (of the tenant in effect) is
/// sealed under, made and stored wrapped when it has none.
pub fn for_subject(client: &mut SpiClient<'_>, subject: &str) -> BssResult<SubjectKey> {
    const STEP: &str = "find the data subject's key";
    let who: Subject = (crate::tenants::for_append()?, subject.to_owned());
    if let Some((key_id, key)) = remembered(&who) {
        return Ok(SubjectKey::new(key_id, &key));
    }
    let generation = KNOWN.with(SessionCache::generation);
    loop {
        let st = statements(client)?;
        let row = client
            .select(&st.for_subject, Some(1), &[subject.into()])
            .during(STEP)?;
        if let Some(found) = row.into_iter().next() {
            let key_id: pgrx::Uuid = found.get(1).during(STEP)?.expect("NOT NULL");
            let wrapped: Vec<u8> = found.get(2).during(STEP)?.expect("NOT NULL");
            let check: String = found.get(3).during(STEP)?.expect("NOT NULL");
            let key_id = Uuid::from_bytes(*key_id.as_bytes());
            let key = unwrap_key(key_id, &wrapped, &check)?;
            remember(who, generation, key_id, key);
            return Ok(SubjectKey::new(key_id, &key));
        }
        let key_id = Uuid::new_v4();
        let key = cipher::random::<KEY_LEN>();
        let (master, check) = current_master()?;
        let wrapped = cipher::seal(&master, &key, key_id.as_bytes());
        let args = [
            subject.into(),
            pgrx::Uuid::from_bytes(*key_id.as_bytes()).into(),
            wrapped.into(),
            check.into(),
        ];
        let made = client
            .update(&st.store, Some(1), &args)
            .during("store the data subject's new key")?;
        if !made.is_empty() {
            remember(who, generation, key_id, key);
            let key = SubjectKey::new(key_id, &key);
            OPENED.with(|o| o.borrow_mut().insert(key_id, Some(key.clone())));
            return Ok(key);
        }
        // Another transaction made it first: take that one.
    }
}

/// Destroys the key of `subject` (of the tenant in effect): every value
/// sealed under it reads as erased from now on. How many were destroyed.
pub fn destroy(client: &mut SpiClient<'_>, subject: &str) -> BssResult<i64> {
    let st = statements(client)?;
    let gone = client
        .update(&st.destroy, None, &[subject.into()])
        .during("destroy the data subject's key")?
        .len();
    forget_opened();
    FOUND.with(|f| f.borrow_mut().clear());
    known().borrow_mut().clear();
    // Every session drops the keys it keeps when this commits.
    // SAFETY: looks up and invalidates a relation by name, in a transaction.
    unsafe {
        let schema = pg_sys::get_namespace_oid(c"bss".as_ptr(), false);
        let relid = pg_sys::get_relname_relid(c"subject_keys".as_ptr(), schema);
        pg_sys::CacheInvalidateRelcacheByRelid(relid);
    }
    Ok(gone as i64)
}

/// The key `key_id` names, None once its subject was erased (or when the
/// tenant in effect may not see it).
pub fn by_id(client: &SpiClient<'_>, key_id: Uuid) -> BssResult<Option<SubjectKey>> {
    if let Some(known) = OPENED.with(|o| o.borrow().get(&key_id).cloned()) {
        return Ok(known);
    }
    const STEP: &str = "find a sealed value's key";
    let st = statements(client)?;
    let rows = client
        .select(
            &st.by_id,
            Some(1),
            &[pgrx::Uuid::from_bytes(*key_id.as_bytes()).into()],
        )
        .during(STEP)?;
    let key = match rows.into_iter().next() {
        Some(row) => {
            let wrapped: Vec<u8> = row.get(1).during(STEP)?.expect("NOT NULL");
            let check: String = row.get(2).during(STEP)?.expect("NOT NULL");
            Some(SubjectKey::new(
                key_id,
                &unwrap_key(key_id, &wrapped, &check)?,
            ))
        }
        None => None,
    };
    OPENED.with(|o| o.borrow_mut().insert(key_id, key.clone()));
    Ok(key)
}

/// Forgets the keys opened so far (at the end of every transaction, and
/// after an erasure): a key is never used past the snapshot it was read in.
pub fn forget_opened() {
    OPENED.with(|o| o.borrow_mut().clear());
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_xact_event(
    event: pg_sys::XactEvent::Type,
    _arg: *mut std::ffi::c_void,
) {
    use pg_sys::XactEvent::*;
    forget_opened();
    match event {
        XACT_EVENT_COMMIT | XACT_EVENT_PARALLEL_COMMIT => keep_found(),
        XACT_EVENT_ABORT | XACT_EVENT_PARALLEL_ABORT | XACT_EVENT_PREPARE => {
            FOUND.with(|f| f.borrow_mut().clear())
        }
        _ => {}
    }
}

/// A rolled-back subtransaction may have made a key: keep none read so far.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_subxact_event(
    event: pg_sys::SubXactEvent::Type,
    _mine: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    if event == pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB {
        FOUND.with(|f| f.borrow_mut().clear());
        forget_opened();
    }
}

#[cfg(test)]
mod tests {
    use super::parse_hex_key;

    #[test]
    fn master_key_files_hold_64_hex_digits() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let key = parse_hex_key(hex).unwrap();
        assert_eq!(key[1], 0x11);
        assert_eq!(key[31], 0xff);
        assert!(parse_hex_key(&hex[..62]).is_none());
        assert!(parse_hex_key(&format!("{}zz", &hex[..62])).is_none());
        assert!(parse_hex_key("é".repeat(32).as_str()).is_none());
    }
}
