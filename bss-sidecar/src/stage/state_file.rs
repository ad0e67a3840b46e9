//! Owns the format of a stage's state file in the spool directory: what
//! the stage saved and the spool seq it reflects, together. Format: 8
//! bytes of magic (the stage's; its last byte the version), the seq after
//! the events the state has seen (u64, little-endian), the crc32 of the
//! payload (u32, little-endian), then the payload (the stage's own
//! encoding, or JSON through `load_json`/`save_json`). Must refuse a
//! damaged or stale file, saying which and how to start over; never
//! half-write one (write, fsync, rename), nor write it on an async thread.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::spool::write_durably;

/// Bytes before the payload: magic, seq, crc32.
const HEADER_LEN: usize = 8 + 8 + 4;

/// What a stage's state file holds, and what starting over loses.
#[derive(Debug, Clone)]
pub struct StateFile {
    pub path: PathBuf,
    pub magic: &'static [u8; 8],
    /// What the file is, for messages ("the anomaly state").
    pub what: &'static str,
    /// What removing the file does ("to start the detectors with empty windows").
    pub start_over: &'static str,
}

impl StateFile {
    /// The payload saved last and the seq after the events it has seen;
    /// None when there is no file. Refuses a file older than `cursor` (the
    /// stage's spool cursor, which moves only after a save).
    pub fn load(&self, cursor: u64) -> Result<Option<(u64, Vec<u8>)>> {
        let path = &self.path;
        let mut bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        if bytes.len() < HEADER_LEN || &bytes[..8] != self.magic {
            return Err(self.damaged("not a state file"));
        }
        let next = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
        let crc = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes"));
        if crc32fast::hash(&bytes[HEADER_LEN..]) != crc {
            return Err(self.damaged("checksum mismatch"));
        }
        if next < cursor {
            bail!(
                "{} {} is older than the stage's spool cursor ({next} < {cursor}): \
                 it was replaced by an older copy; remove it {}",
                self.what,
                path.display(),
                self.start_over
            );
        }
        bytes.drain(..HEADER_LEN);
        Ok(Some((next, bytes)))
    }

    /// Why a file that passed its checksum cannot be used (`why`).
    pub fn damaged(&self, why: &str) -> anyhow::Error {
        anyhow!(
            "{} {} is damaged ({why}); remove it {}",
            self.what,
            self.path.display(),
            self.start_over
        )
    }

    /// `load` of a payload saved by `save_json`.
    pub fn load_json<T: DeserializeOwned>(&self, cursor: u64) -> Result<Option<(u64, T)>> {
        match self.load(cursor)? {
            None => Ok(None),
            Some((next, payload)) => {
                let value =
                    serde_json::from_slice(&payload).map_err(|e| self.damaged(&e.to_string()))?;
                Ok(Some((next, value)))
            }
        }
    }

    /// Replaces the file by `payload` at `next`, durably.
    pub fn save(&self, payload: &[u8], next: u64) -> Result<()> {
        let mut bytes = Vec::with_capacity(payload.len() + HEADER_LEN);
        bytes.extend_from_slice(self.magic);
        bytes.extend_from_slice(&next.to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        bytes.extend_from_slice(payload);
        write_durably(&self.path, &bytes)
    }

    /// `save` on a blocking thread (it fsyncs), from a stage's checkpoint;
    /// the error names the file.
    pub async fn save_off_thread(&self, payload: Vec<u8>, next: u64) -> Result<()> {
        let file = self.clone();
        tokio::task::spawn_blocking(move || file.save(&payload, next))
            .await?
            .with_context(|| format!("saving {}", self.path.display()))
    }

    /// `save_off_thread` of `value` as JSON.
    pub async fn save_json<T: Serialize>(&self, value: &T, next: u64) -> Result<()> {
        self.save_off_thread(serde_json::to_vec(value)?, next).await
    }
}
