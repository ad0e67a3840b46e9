//! Reading bss-loadgen's history file (its format is bss-loadgen's
//! `history.rs`): whole, for the account, or as it grows, for the watch.
//! Must never take a line the load generator has not finished writing.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use bss_loadgen::history::{AppendRecord, EndRecord, HistoryLine};

/// The appends of a history and its end line, if it has one yet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub appends: Vec<AppendRecord>,
    pub end: Option<EndRecord>,
}

impl History {
    /// Whether the history has its end line and every append it announces.
    pub fn is_complete(&self) -> bool {
        self.end
            .as_ref()
            .is_some_and(|e| e.appends == self.appends.len() as u64)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("reading the history {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("line {line} of the history {path} is not a history line: {source}")]
    Parse {
        path: PathBuf,
        line: usize,
        source: serde_json::Error,
    },
}

/// Reads a history as it grows: each `poll` takes the lines completed since.
pub struct HistoryTail {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
    lines: usize,
    pub history: History,
}

impl HistoryTail {
    pub fn new(path: &Path) -> Self {
        HistoryTail {
            path: path.to_owned(),
            offset: 0,
            partial: Vec::new(),
            lines: 0,
            history: History::default(),
        }
    }

    /// Takes the complete lines written since the last poll; a file that
    /// does not exist yet has none. Returns the appends added.
    pub fn poll(&mut self) -> Result<&[AppendRecord], HistoryError> {
        let before = self.history.appends.len();
        let io = |source| HistoryError::Io {
            path: self.path.clone(),
            source,
        };
        let mut f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(&[]),
            Err(e) => return Err(io(e)),
        };
        f.seek(SeekFrom::Start(self.offset)).map_err(io)?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).map_err(io)?;
        self.offset += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        let Some(last_newline) = self.partial.iter().rposition(|&b| b == b'\n') else {
            return Ok(&[]);
        };
        let rest = self.partial.split_off(last_newline + 1);
        let complete = std::mem::replace(&mut self.partial, rest);
        for line in complete.split(|&b| b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.lines += 1;
            let parsed: HistoryLine =
                serde_json::from_slice(line).map_err(|source| HistoryError::Parse {
                    path: self.path.clone(),
                    line: self.lines,
                    source,
                })?;
            match parsed {
                HistoryLine::Append(a) => self.history.appends.push(a),
                HistoryLine::End(e) => self.history.end = Some(e),
            }
        }
        Ok(&self.history.appends[before..])
    }
}

/// Reads a whole history file (a torn last line is left out).
pub fn read(path: &Path) -> Result<History, HistoryError> {
    let mut tail = HistoryTail::new(path);
    if !path.exists() {
        return Err(HistoryError::Io {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    tail.poll()?;
    Ok(tail.history)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const LINE: &str = r#"{"stream_id":"usage-r-1","event_ids":["0190f0f0-0000-7000-8000-000000000001"],"types":["usage.recorded"],"outcome":"acknowledged","sqlstate":null,"intended_unix":1.0,"done_unix":1.5,"latency_ms":500.0}"#;

    #[test]
    fn a_tail_takes_only_complete_lines_and_then_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        let mut tail = HistoryTail::new(&path);
        assert!(tail.poll().unwrap().is_empty(), "no file yet is no lines");
        let mut f = File::create(&path).unwrap();
        write!(f, "{LINE}\n{}", &LINE[..40]).unwrap();
        f.flush().unwrap();
        assert_eq!(tail.poll().unwrap().len(), 1);
        write!(
            f,
            "{}\n{{\"end\":true,\"offered\":2,\"appends\":2}}\n",
            &LINE[40..]
        )
        .unwrap();
        f.flush().unwrap();
        assert_eq!(tail.poll().unwrap().len(), 1);
        assert!(tail.history.is_complete());
        assert_eq!(read(&path).unwrap(), tail.history);
    }

    #[test]
    fn a_history_without_its_end_line_is_incomplete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        std::fs::write(&path, format!("{LINE}\n")).unwrap();
        let h = read(&path).unwrap();
        assert_eq!(h.appends.len(), 1);
        assert!(!h.is_complete());
    }
}
