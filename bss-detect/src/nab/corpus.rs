//! Owns a NAB corpus as the scorer sees it: data files (`timestamp,value`)
//! named as NAB names them (`realKnownCause/nyc_taxi.csv`), each with its
//! labelled anomaly windows turned into row ranges. It must never score, and
//! never bend a window to fit: as NAB's labeler does, it refuses a window
//! bound that is not a timestamp occurring exactly once in its file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::csv::CsvFile;
use super::error::NabError;
use super::timestamp::parse_nab_timestamp_us;

/// The subset of NAB committed with this crate (see its README.md).
pub fn committed_subset_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/nab")
}

/// A labelled anomaly window: rows `start_row..=end_row` of its file, the rows
/// whose timestamps are the window's bounds (NAB's `windowLimits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start_row: usize,
    pub end_row: usize,
}

impl Window {
    /// Rows in the window, bounds included (NAB's `windowWidth`).
    pub fn width(&self) -> usize {
        self.end_row - self.start_row + 1
    }
}

/// One data file of the corpus and its windows, in time order.
#[derive(Debug, Clone)]
pub struct LabelledFile {
    /// NAB's name for it: category folder and file name.
    pub name: String,
    pub timestamps_us: Vec<i64>,
    pub values: Vec<f64>,
    pub windows: Vec<Window>,
}

impl LabelledFile {
    pub fn rows(&self) -> usize {
        self.timestamps_us.len()
    }
}

/// The files named by a windows file, in name order (NAB's corpus is the
/// files its labels name; one with no anomaly has an empty list).
#[derive(Debug, Clone)]
pub struct Corpus {
    files: Vec<LabelledFile>,
}

impl Corpus {
    /// The committed subset: `data/`, `combined_windows.json` under
    /// [`committed_subset_dir`].
    pub fn load_committed_subset() -> Result<Corpus, NabError> {
        let dir = committed_subset_dir();
        Corpus::load(&dir.join("data"), &dir.join("combined_windows.json"))
    }

    /// The files named in `windows_path` (NAB's `combined_windows.json`
    /// shape: file name to a list of `[start, end]` timestamps), read from
    /// `data_dir` (NAB's `data/`).
    pub fn load(data_dir: &Path, windows_path: &Path) -> Result<Corpus, NabError> {
        let text = std::fs::read_to_string(windows_path).map_err(|source| NabError::Io {
            path: windows_path.to_path_buf(),
            source,
        })?;
        let labels: BTreeMap<String, Vec<[String; 2]>> =
            serde_json::from_str(&text).map_err(|source| NabError::Json {
                path: windows_path.to_path_buf(),
                source,
            })?;
        let files = labels
            .into_iter()
            .map(|(name, bounds)| {
                let (timestamps_us, values) = read_data_file(&data_dir.join(&name))?;
                let windows = locate_windows(&name, &timestamps_us, &bounds)?;
                Ok(LabelledFile {
                    name,
                    timestamps_us,
                    values,
                    windows,
                })
            })
            .collect::<Result<Vec<_>, NabError>>()?;
        Ok(Corpus { files })
    }

    /// Builds a corpus from files already in memory (tests, synthetic data);
    /// the same checks as loading apply to the windows.
    pub fn from_files(mut files: Vec<LabelledFile>) -> Result<Corpus, NabError> {
        files.sort_by(|a, b| a.name.cmp(&b.name));
        for pair in files.windows(2) {
            if pair[0].name == pair[1].name {
                return Err(NabError::Window {
                    file: pair[0].name.clone(),
                    message: "the file is in the corpus twice".into(),
                });
            }
        }
        for f in &files {
            check_windows(&f.name, f.rows(), &f.windows)?;
        }
        Ok(Corpus { files })
    }

    pub fn files(&self) -> &[LabelledFile] {
        &self.files
    }

    pub fn file(&self, name: &str) -> Option<&LabelledFile> {
        self.files.iter().find(|f| f.name == name)
    }

    /// Windows in all files: NAB's count of true anomalies, which makes the
    /// perfect score.
    pub fn window_count(&self) -> usize {
        self.files.iter().map(|f| f.windows.len()).sum()
    }

    pub fn row_count(&self) -> usize {
        self.files.iter().map(LabelledFile::rows).sum()
    }
}

/// Timestamps and values of a NAB data file (`timestamp,value`).
fn read_data_file(path: &Path) -> Result<(Vec<i64>, Vec<f64>), NabError> {
    let csv = CsvFile::read(path)?;
    let (t, v) = (csv.column("timestamp")?, csv.column("value")?);
    let rows = csv.rows()?;
    let mut timestamps = Vec::with_capacity(rows.len());
    let mut values = Vec::with_capacity(rows.len());
    for (line, fields) in rows {
        let ts = parse_nab_timestamp_us(fields[t])
            .ok_or_else(|| csv.error_at(line, format!("{:?} is not a NAB timestamp", fields[t])))?;
        let value: f64 = fields[v]
            .parse()
            .map_err(|_| csv.error_at(line, format!("{:?} is not a number", fields[v])))?;
        timestamps.push(ts);
        values.push(value);
    }
    Ok((timestamps, values))
}

/// The rows of each window's bounds, as NAB's labeler requires them: each
/// bound the timestamp of exactly one row.
fn locate_windows(
    name: &str,
    timestamps_us: &[i64],
    bounds: &[[String; 2]],
) -> Result<Vec<Window>, NabError> {
    let row_of = |text: &str| -> Result<usize, NabError> {
        let err = |message: String| NabError::Window {
            file: name.to_string(),
            message,
        };
        let t = parse_nab_timestamp_us(text)
            .ok_or_else(|| err(format!("{text:?} is not a NAB timestamp")))?;
        let mut rows = timestamps_us
            .iter()
            .enumerate()
            .filter(|(_, &ts)| ts == t)
            .map(|(i, _)| i);
        match (rows.next(), rows.next()) {
            (Some(row), None) => Ok(row),
            (None, _) => Err(err(format!("{text} is not a timestamp of the file"))),
            (Some(_), Some(_)) => Err(err(format!("{text} occurs more than once in the file"))),
        }
    };
    let windows = bounds
        .iter()
        .map(|[start, end]| {
            Ok(Window {
                start_row: row_of(start)?,
                end_row: row_of(end)?,
            })
        })
        .collect::<Result<Vec<_>, NabError>>()?;
    check_windows(name, timestamps_us.len(), &windows)?;
    Ok(windows)
}

/// Windows are in order, apart, inside the file and at least two rows wide
/// (NAB measures a false positive's distance in window widths minus one, and
/// divides by zero on a window of one row).
fn check_windows(name: &str, rows: usize, windows: &[Window]) -> Result<(), NabError> {
    let err = |message: String| NabError::Window {
        file: name.to_string(),
        message,
    };
    let mut previous_end: Option<usize> = None;
    for (i, w) in windows.iter().enumerate() {
        if w.end_row >= rows {
            return Err(err(format!(
                "window {i} ends at row {} of {rows}",
                w.end_row
            )));
        }
        if w.end_row <= w.start_row {
            return Err(err(format!(
                "window {i} (rows {}..={}) is not at least two rows wide",
                w.start_row, w.end_row
            )));
        }
        if previous_end.is_some_and(|e| w.start_row <= e) {
            return Err(err(format!(
                "window {i} (from row {}) does not start after the previous one ends",
                w.start_row
            )));
        }
        previous_end = Some(w.end_row);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the committed subset is: the files the README lists, their
    /// windows, and no window that NAB would refuse.
    #[test]
    fn committed_subset_has_its_17_files_and_42_windows() {
        let corpus = Corpus::load_committed_subset().expect("committed NAB subset loads");
        assert_eq!(corpus.files().len(), 17);
        assert_eq!(corpus.window_count(), 42);
        let taxi = corpus
            .file("realKnownCause/nyc_taxi.csv")
            .expect("nyc_taxi");
        assert_eq!(taxi.rows(), 10_320);
        assert_eq!(taxi.windows.len(), 5);
        let machine = corpus
            .file("realKnownCause/machine_temperature_system_failure.csv")
            .expect("machine temperature");
        assert_eq!(machine.rows(), 22_695);
        assert_eq!(corpus.row_count(), 95_836);
    }

    #[test]
    fn a_window_bound_that_is_not_a_row_is_refused() {
        let ts: Vec<i64> = (0..10).map(|i| i * 300_000_000).collect();
        let bounds = [[
            "1970-01-01 00:05:00.000000".to_string(),
            "1970-01-01 00:07:00.000000".to_string(),
        ]];
        let e = locate_windows("x.csv", &ts, &bounds).expect_err("00:07 is no row");
        assert!(
            e.to_string().contains("00:07:00.000000 is not a timestamp"),
            "{e}"
        );
    }

    #[test]
    fn a_window_bound_at_a_repeated_timestamp_is_refused() {
        let ts = vec![0, 60_000_000, 60_000_000, 120_000_000];
        let bounds = [[
            "1970-01-01 00:00:00".to_string(),
            "1970-01-01 00:01:00".to_string(),
        ]];
        let e = locate_windows("x.csv", &ts, &bounds).expect_err("00:01 is twice");
        assert!(e.to_string().contains("more than once"), "{e}");
    }

    #[test]
    fn overlapping_or_one_row_windows_are_refused() {
        let w = |start_row, end_row| Window { start_row, end_row };
        assert!(check_windows("x", 10, &[w(1, 3), w(5, 6)]).is_ok());
        assert!(check_windows("x", 10, &[w(1, 3), w(3, 6)]).is_err());
        assert!(check_windows("x", 10, &[w(5, 6), w(1, 3)]).is_err());
        assert!(check_windows("x", 10, &[w(4, 4)]).is_err());
        assert!(check_windows("x", 10, &[w(8, 10)]).is_err());
    }
}
