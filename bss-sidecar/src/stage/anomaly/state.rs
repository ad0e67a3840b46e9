//! Owns the anomaly stage's state file, `anomaly.state` in the spool
//! directory (format: `stage::state_file`): the detectors' state
//! (bss-detect's `Pipeline::save`) and the spool seq it reflects.

use std::path::Path;

use anyhow::Result;
use bss_detect::config::DetectorConfig;
use bss_detect::pipeline::Pipeline;

use crate::stage::state_file::StateFile;

/// The state file, in the spool directory.
pub const STATE_FILE: &str = "anomaly.state";

pub fn file(path: &Path) -> StateFile {
    StateFile {
        path: path.to_owned(),
        magic: b"BSSANOM1",
        what: "the anomaly state",
        start_over: "to start the detectors with empty windows",
    }
}

/// The state saved last, the seq after the events it has seen, and notes
/// on what changed since (a detector added or reconfigured); empty
/// detectors from `cursor` when there is none.
pub fn load(
    path: &Path,
    detectors: Vec<DetectorConfig>,
    cursor: u64,
) -> Result<(Pipeline, u64, Vec<String>)> {
    let file = file(path);
    let Some((next, payload)) = file.load(cursor)? else {
        return Ok((Pipeline::new(detectors), cursor, Vec::new()));
    };
    let (pipeline, notes) = Pipeline::restore(detectors, &payload).map_err(|e| file.damaged(&e))?;
    Ok((pipeline, next, notes))
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
        file(&path).save(&fresh.save(), 42).unwrap();
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
