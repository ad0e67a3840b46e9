//! AES-256-GCM (the RustCrypto `aes-gcm` crate) for personal fields and for
//! wrapping subject keys, and the envelope a sealed field is stored as:
//!
//! ```json
//! {"bss:pii": "<key id, 32 hex digits>.<base64url of nonce, ciphertext and tag>"}
//! ```
//!
//! Each seal takes a fresh random 96-bit nonce (PostgreSQL's
//! pg_strong_random, drawn 64 nonces at a time: a call costs as much as
//! sealing a field), and binds the key id as associated data, so a sealed
//! value opens only under the key it names. Never stores or looks up a key:
//! keys.rs does.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use pgrx::pg_sys;
use uuid::Uuid;

/// The one key of an envelope object.
pub const ENVELOPE_KEY: &str = "bss:pii";
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

pub type SecretKey = [u8; KEY_LEN];

/// `n` bytes from PostgreSQL's strong random source.
pub fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // SAFETY: writes N bytes into a buffer of N bytes.
    let ok = unsafe { pg_sys::pg_strong_random(bytes.as_mut_ptr().cast(), N) };
    assert!(ok, "pg_strong_random failed");
    bytes
}

/// Nonces drawn at once.
const NONCES_PER_DRAW: usize = 64;

thread_local! {
    /// Random nonces not used yet (each is used once, then zeroed); drawn
    /// in the backend that uses them, never before a fork.
    static NONCES: std::cell::RefCell<(usize, [u8; NONCE_LEN * NONCES_PER_DRAW])> =
        const { std::cell::RefCell::new((NONCES_PER_DRAW, [0; NONCE_LEN * NONCES_PER_DRAW])) };
}

/// A fresh random nonce.
fn nonce() -> [u8; NONCE_LEN] {
    NONCES.with(|pool| {
        let (next, bytes) = &mut *pool.borrow_mut();
        if *next == NONCES_PER_DRAW {
            *bytes = random();
            *next = 0;
        }
        let at = *next * NONCE_LEN;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&bytes[at..at + NONCE_LEN]);
        bytes[at..at + NONCE_LEN].fill(0);
        *next += 1;
        nonce
    })
}

/// nonce, ciphertext and tag of `plaintext` under `key`, bound to `aad`.
pub fn seal(key: &SecretKey, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    seal_with(
        &Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
        plaintext,
        aad,
    )
}

/// The plaintext of what `seal` made with the same key and `aad`; None when
/// the key or the associated data is not the one it was sealed with, or the
/// bytes were altered.
pub fn open(key: &SecretKey, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    open_with(
        &Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
        sealed,
        aad,
    )
}

fn seal_with(aead: &Aes256Gcm, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let nonce = nonce();
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + 16);
    out.extend_from_slice(&nonce);
    let sealed = aead
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("AES-GCM encryption of a bounded buffer cannot fail");
    out.extend_from_slice(&sealed);
    out
}

fn open_with(aead: &Aes256Gcm, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    aead.decrypt(
        Nonce::from_slice(nonce),
        Payload {
            msg: ciphertext,
            aad,
        },
    )
    .ok()
}

/// A key's check value: what identifies it (a wrapped key records the
/// master key's) without revealing it. The first 8 bytes of the GCM tag of
/// nothing under a zero nonce, in hex.
pub fn check_value(key: &SecretKey) -> String {
    let tag = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key))
        .encrypt(Nonce::from_slice(&[0u8; NONCE_LEN]), &b""[..])
        .expect("AES-GCM of nothing cannot fail");
    tag[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// A data subject's key, ready to seal and open their values (the AES key
/// schedule made once).
#[derive(Clone)]
pub struct SubjectKey {
    pub key_id: Uuid,
    aead: Aes256Gcm,
}

impl SubjectKey {
    pub fn new(key_id: Uuid, key: &SecretKey) -> Self {
        SubjectKey {
            key_id,
            aead: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
        }
    }

    /// The envelope's text for `plaintext` (a value's JSON text):
    /// `<key id>.<base64url of nonce, ciphertext and tag>`.
    pub fn seal(&self, plaintext: &[u8]) -> String {
        let sealed = seal_with(&self.aead, plaintext, self.key_id.as_bytes());
        let mut text = String::with_capacity(33 + sealed.len().div_ceil(3) * 4);
        text.push_str(
            self.key_id
                .simple()
                .encode_lower(&mut Uuid::encode_buffer()),
        );
        text.push('.');
        URL_SAFE_NO_PAD.encode_string(sealed, &mut text);
        text
    }

    /// The plaintext of an envelope's sealed bytes; None when they were not
    /// sealed under this key or were altered.
    pub fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        open_with(&self.aead, sealed, self.key_id.as_bytes())
    }
}

/// The key id and sealed bytes of an envelope's text; None for any other text.
pub fn parse_envelope(text: &[u8]) -> Option<(Uuid, Vec<u8>)> {
    let text = std::str::from_utf8(text).ok()?;
    let (id, body) = text.split_once('.')?;
    Some((
        Uuid::parse_str(id).ok()?,
        URL_SAFE_NO_PAD.decode(body).ok()?,
    ))
}
