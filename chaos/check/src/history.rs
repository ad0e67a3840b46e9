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

/// Reads histories as they grow (one per load generator: the region
/// scenarios run one in each region): each `poll` takes the lines completed
/// since, and `history` is all of them, ended once every one has ended.
pub struct HistoryTail {
    files: Vec<FileTail>,
    pub history: History,
}

/// Where the reading of one history file stands.
struct FileTail {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
    lines: usize,
    end: Option<EndRecord>,
}

impl HistoryTail {
    pub fn new(path: &Path) -> Self {
        Self::many(std::slice::from_ref(&path.to_owned()))
    }

    pub fn many(paths: &[PathBuf]) -> Self {
        HistoryTail {
            files: paths
                .iter()
                .map(|p| FileTail {
                    path: p.clone(),
                    offset: 0,
                    partial: Vec::new(),
                    lines: 0,
                    end: None,
                })
                .collect(),
            history: History::default(),
        }
    }

    /// Takes the complete lines written since the last poll; a file that
    /// does not exist yet has none. Returns the appends added.
    pub fn poll(&mut self) -> Result<&[AppendRecord], HistoryError> {
        let before = self.history.appends.len();
        for file in &mut self.files {
            file.poll(&mut self.history.appends)?;
        }
        if self.history.end.is_none() && self.files.iter().all(|f| f.end.is_some()) {
            let ends = self.files.iter().filter_map(|f| f.end.as_ref());
            self.history.end = Some(EndRecord {
                end: true,
                offered: ends.clone().map(|e| e.offered).sum(),
                appends: ends.map(|e| e.appends).sum(),
            });
        }
        Ok(&self.history.appends[before..])
    }
}

impl FileTail {
    fn poll(&mut self, appends: &mut Vec<AppendRecord>) -> Result<(), HistoryError> {
        let io = |source| HistoryError::Io {
            path: self.path.clone(),
            source,
        };
        let mut f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(e)),
        };
        f.seek(SeekFrom::Start(self.offset)).map_err(io)?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).map_err(io)?;
        self.offset += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        let Some(last_newline) = self.partial.iter().rposition(|&b| b == b'\n') else {
            return Ok(());
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
                HistoryLine::Append(a) => appends.push(a),
                HistoryLine::End(e) => self.end = Some(e),
            }
        }
        Ok(())
    }
}

/// Reads whole history files, as one (a torn last line is left out).
pub fn read(paths: &[PathBuf]) -> Result<History, HistoryError> {
    if let Some(path) = paths.iter().find(|p| !p.exists()) {
        return Err(HistoryError::Io {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let mut tail = HistoryTail::many(paths);
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
        assert_eq!(read(std::slice::from_ref(&path)).unwrap(), tail.history);
    }

    #[test]
    fn a_history_without_its_end_line_is_incomplete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        std::fs::write(&path, format!("{LINE}\n")).unwrap();
        let h = read(std::slice::from_ref(&path)).unwrap();
        assert_eq!(h.appends.len(), 1);
        assert!(!h.is_complete());
    }

    #[test]
    fn two_histories_read_as_one_end_when_both_have_ended() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
        std::fs::write(
            &a,
            format!("{LINE}\n{{\"end\":true,\"offered\":1,\"appends\":1}}\n"),
        )
        .unwrap();
        let mut tail = HistoryTail::many(&[a.clone(), b.clone()]);
        assert_eq!(tail.poll().unwrap().len(), 1);
        assert!(!tail.history.is_complete(), "b has not ended");
        std::fs::write(
            &b,
            format!("{LINE}\n{LINE}\n{{\"end\":true,\"offered\":2,\"appends\":2}}\n"),
        )
        .unwrap();
        assert_eq!(tail.poll().unwrap().len(), 2);
        assert!(tail.history.is_complete());
        assert_eq!(
            tail.history.end.as_ref().map(|e| (e.offered, e.appends)),
            Some((3, 3))
        );
        assert_eq!(read(&[a, b]).unwrap(), tail.history);
    }
}
