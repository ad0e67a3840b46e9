//! Owns the anomaly stage's state file, `anomaly.state` in the spool
//! directory: the detectors' state and the spool seq it reflects, saved
//! together. Format: 8 bytes [`MAGIC`] (its last byte the version), the seq
//! after the events the state has seen (u64, little-endian), the crc32 of
//! the payload (u32, little-endian), then the payload (bss-detect's
//! `Pipeline::save`). Must refuse a damaged or stale file, saying which and
//! how to start over; never half-write one (write, fsync, rename).

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use bss_detect::config::DetectorConfig;
use bss_detect::pipeline::Pipeline;

use crate::spool::write_durably;

/// The state file, in the spool directory.
pub const STATE_FILE: &str = "anomaly.state";
/// First bytes of the state file (and its format version).
const MAGIC: &[u8; 8] = b"BSSANOM1";
/// Bytes before the payload: magic, seq, crc32.
const HEADER_LEN: usize = 8 + 8 + 4;

/// The state saved last, the seq after the events it has seen, and notes
/// on what changed since (a detector added or reconfigured); empty
/// detectors from `cursor` when there is none.
pub fn load(
    path: &Path,
    detectors: Vec<DetectorConfig>,
    cursor: u64,
) -> Result<(Pipeline, u64, Vec<String>)> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((Pipeline::new(detectors), cursor, Vec::new()))
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let damaged = |why: &str| {
        anyhow!(
            "the anomaly state {} is damaged ({why}); remove it to start the detectors with empty windows",
            path.display()
        )
    };
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err(damaged("not a state file"));
    }
    let next = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    let crc = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes"));
    let payload = &bytes[HEADER_LEN..];
    if crc32fast::hash(payload) != crc {
        return Err(damaged("checksum mismatch"));
    }
    if next < cursor {
        bail!(
            "the anomaly state {} is older than the stage's spool cursor ({next} < {cursor}): \
             it was replaced by an older copy; remove it to start the detectors with empty windows",
            path.display()
        );
    }
    let (pipeline, notes) = Pipeline::restore(detectors, payload).map_err(|e| damaged(&e))?;
    Ok((pipeline, next, notes))
}

/// Replaces the state file by `pipeline`'s state at `next`, durably.
pub fn save(path: &Path, payload: &[u8], next: u64) -> Result<()> {
    let mut bytes = Vec::with_capacity(payload.len() + HEADER_LEN);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&next.to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    bytes.extend_from_slice(payload);
    write_durably(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_state_loads_with_its_seq_and_a_damaged_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STATE_FILE);
        let (fresh, from, _) = load(&path, Vec::new(), 7).unwrap();
        assert_eq!(from, 7, "no file: from the cursor");
        save(&path, &fresh.save(), 42).unwrap();
        let (_, from, _) = load(&path, Vec::new(), 7).unwrap();
        assert_eq!(from, 42);
        let Err(err) = load(&path, Vec::new(), 43) else {
            panic!("a state older than the cursor was loaded")
        };
        assert!(format!("{err:#}").contains("older than"), "{err:#}");
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let Err(err) = load(&path, Vec::new(), 7) else {
            panic!("a damaged state was loaded")
        };
        assert!(format!("{err:#}").contains("checksum mismatch"), "{err:#}");
    }
}
