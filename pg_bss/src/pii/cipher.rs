//! AES-256-GCM (the RustCrypto `aes-gcm` crate) for personal fields and for
//! wrapping subject keys, and the envelope a sealed field is stored as:
//!
//! ```json
//! {"bss:pii": "<key id, 32 hex digits>.<base64url of nonce, ciphertext and tag>"}
//! ```
//!
//! Each seal takes a fresh random 96-bit nonce (PostgreSQL's
//! pg_strong_random), and binds the key id as associated data, so a sealed
//! value opens only under the key it names. Never stores or looks up a key:
//! keys.rs does.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use pgrx::pg_sys;
use serde_json::{Map, Value};
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

/// nonce, ciphertext and tag of `plaintext` under `key`, bound to `aad`.
pub fn seal(key: &SecretKey, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    let nonce = random::<NONCE_LEN>();
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("AES-GCM encryption of a bounded buffer cannot fail");
    [&nonce[..], &sealed].concat()
}

/// The plaintext of what `seal` made with the same key and `aad`; None when
/// the key or the associated data is not the one it was sealed with, or the
/// bytes were altered.
pub fn open(key: &SecretKey, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key))
        .decrypt(
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

/// The envelope of `value` sealed under the subject key `key_id`.
pub fn seal_value(key_id: Uuid, key: &SecretKey, value: &Value) -> Value {
    let plaintext = serde_json::to_vec(value).expect("a JSON value serializes");
    let sealed = seal(key, &plaintext, key_id.as_bytes());
    let mut env = Map::new();
    env.insert(
        ENVELOPE_KEY.to_owned(),
        Value::String(format!(
            "{}.{}",
            key_id.simple(),
            URL_SAFE_NO_PAD.encode(sealed)
        )),
    );
    Value::Object(env)
}

/// The key id and sealed bytes of an envelope; None for any other value.
pub fn envelope(value: &Value) -> Option<(Uuid, Vec<u8>)> {
    let Value::Object(map) = value else {
        return None;
    };
    if map.len() != 1 {
        return None;
    }
    let text = map.get(ENVELOPE_KEY)?.as_str()?;
    let (id, body) = text.split_once('.')?;
    Some((
        Uuid::parse_str(id).ok()?,
        URL_SAFE_NO_PAD.decode(body).ok()?,
    ))
}

/// The value inside an envelope's sealed bytes, under its key.
pub fn open_value(key_id: Uuid, key: &SecretKey, sealed: &[u8]) -> Option<Value> {
    let plaintext = open(key, sealed, key_id.as_bytes())?;
    serde_json::from_slice(&plaintext).ok()
}
