//! Owns the typed layer: a `Log` whose payloads are MessagePack-encoded
//! values. Must never change the byte format below it; a payload that does
//! not decode is an `Err`, never a panic.

use std::marker::PhantomData;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Error;
use crate::iter::Iter;
use crate::log::{Log, Options};

/// A log of `T` values, stored as MessagePack (named fields).
pub struct TypedLog<T> {
    log: Log,
    // fn() -> T keeps TypedLog Send + Sync regardless of T.
    _t: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> TypedLog<T> {
    /// Opens the log in `dir`; see [`Log::open`].
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Self, Error> {
        Ok(Self::from_log(Log::open(dir, opts)?))
    }

    /// Wraps an already open log.
    pub fn from_log(log: Log) -> Self {
        TypedLog {
            log,
            _t: PhantomData,
        }
    }

    /// Encodes and appends `value`; returns its seq. Not yet durable.
    pub fn append(&self, value: &T) -> Result<u64, Error> {
        let bytes = rmp_serde::to_vec_named(value).map_err(|e| Error::Encode(e.to_string()))?;
        self.log.append(&bytes)
    }

    /// See [`Log::sync`].
    pub fn sync(&self) -> Result<(), Error> {
        self.log.sync()
    }

    /// Decoded records with seq >= `seq`, as `(seq, value)`.
    pub fn iter_from(&self, seq: u64) -> Result<TypedIter<'_, T>, Error> {
        Ok(TypedIter {
            inner: self.log.iter_from(seq)?,
            _t: PhantomData,
        })
    }

    /// See [`Log::next_seq`].
    pub fn next_seq(&self) -> u64 {
        self.log.next_seq()
    }

    /// See [`Log::truncate_before`].
    pub fn truncate_before(&self, seq: u64) -> Result<(), Error> {
        self.log.truncate_before(seq)
    }

    /// The untyped log underneath.
    pub fn log(&self) -> &Log {
        &self.log
    }
}

/// Iterator of decoded `(seq, value)` pairs.
pub struct TypedIter<'a, T> {
    inner: Iter<'a>,
    _t: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Iterator for TypedIter<'_, T> {
    type Item = Result<(u64, T), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let rec = match self.inner.next()? {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        let seq = rec.seq();
        Some(
            rmp_serde::from_slice(rec.payload())
                .map(|v| (seq, v))
                .map_err(|e| Error::Decode {
                    seq,
                    reason: e.to_string(),
                }),
        )
    }
}
