//! Owns reading NAB's CSV files: a header line, then lines of plain
//! comma-separated fields (NAB never quotes). It must never guess at a line
//! it does not understand: a quote or a line with the wrong number of fields
//! is an error naming the file and line.

use std::path::{Path, PathBuf};

use super::error::NabError;

/// A whole CSV file in memory, read by column name.
pub(crate) struct CsvFile {
    path: PathBuf,
    text: String,
}

impl CsvFile {
    pub(crate) fn read(path: &Path) -> Result<CsvFile, NabError> {
        let text = std::fs::read_to_string(path).map_err(|source| NabError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if let Some(at) = text.find('"') {
            let line = text[..at].matches('\n').count() + 1;
            return Err(error(path, line, "has a quoted field".into()));
        }
        Ok(CsvFile {
            path: path.to_path_buf(),
            text,
        })
    }

    fn lines(&self) -> impl Iterator<Item = (usize, &str)> {
        self.text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l))
            .filter(|(_, l)| !l.is_empty())
    }

    /// The header's field names.
    pub(crate) fn header(&self) -> Result<Vec<&str>, NabError> {
        match self.lines().next() {
            Some((_, line)) => Ok(line.split(',').collect()),
            None => Err(error(&self.path, 1, "is empty (no header)".into())),
        }
    }

    /// The position of the column `name` in the header.
    pub(crate) fn column(&self, name: &str) -> Result<usize, NabError> {
        let header = self.header()?;
        header.iter().position(|h| *h == name).ok_or_else(|| {
            error(
                &self.path,
                1,
                format!("has no column {name:?} (header: {})", header.join(",")),
            )
        })
    }

    /// The data lines as (line number, fields), each with as many fields as
    /// the header.
    pub(crate) fn rows(&self) -> Result<Vec<(usize, Vec<&str>)>, NabError> {
        let width = self.header()?.len();
        self.lines()
            .skip(1)
            .map(|(n, line)| {
                let fields: Vec<&str> = line.split(',').collect();
                if fields.len() == width {
                    Ok((n, fields))
                } else {
                    Err(error(
                        &self.path,
                        n,
                        format!("has {} fields where the header has {width}", fields.len()),
                    ))
                }
            })
            .collect()
    }

    /// An error about line `line` of this file.
    pub(crate) fn error_at(&self, line: usize, message: String) -> NabError {
        error(&self.path, line, message)
    }
}

fn error(path: &Path, line: usize, message: String) -> NabError {
    NabError::Csv {
        path: path.to_path_buf(),
        line,
        message,
    }
}
