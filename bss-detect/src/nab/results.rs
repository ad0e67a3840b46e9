//! Owns reading the result files of NAB's published detectors
//! (`results/<detector>/<category>/<detector>_<file>.csv`, columns
//! `timestamp, value, anomaly_score, ...`, one row per data row) as
//! [`AnomalyScores`] for a corpus. It must never score them, and never accept
//! a result file that is not for its data file.
//!
//! Scores are taken by position, as NAB takes them (its scorer pairs the
//! n-th anomaly score with the data file's n-th timestamp). A result file
//! must list the data file's timestamps, in its order or re-sorted: NAB's
//! Random Cut Forest result for `machine_temperature_system_failure.csv`
//! lists 24 rows near 2014-01-07 02:00, where the data file goes back in
//! time, in timestamp order, and NAB scored those rows by position.

use std::path::{Path, PathBuf};

use super::corpus::{Corpus, LabelledFile};
use super::csv::CsvFile;
use super::error::NabError;
use super::timestamp::parse_nab_timestamp_us;
use super::AnomalyScores;

/// Where NAB keeps `detector`'s result for the data file `file`
/// (`realKnownCause/nyc_taxi.csv` → `<results_dir>/numenta/realKnownCause/numenta_nyc_taxi.csv`).
pub fn result_path(results_dir: &Path, detector: &str, file: &str) -> PathBuf {
    let (category, name) = file.rsplit_once('/').unwrap_or(("", file));
    results_dir
        .join(detector)
        .join(category)
        .join(format!("{detector}_{name}"))
}

/// `detector`'s anomaly scores for every file of `corpus`.
pub fn load_detector_scores(
    results_dir: &Path,
    detector: &str,
    corpus: &Corpus,
) -> Result<AnomalyScores, NabError> {
    corpus
        .files()
        .iter()
        .map(|f| {
            let path = result_path(results_dir, detector, &f.name);
            Ok((f.name.clone(), read_column(&path, "anomaly_score", f)?))
        })
        .collect()
}

/// The numeric column `column` of a result file for `file`, whose timestamps
/// must be the data file's, row for row.
pub fn read_column(path: &Path, column: &str, file: &LabelledFile) -> Result<Vec<f64>, NabError> {
    let csv = CsvFile::read(path)?;
    let (t, c) = (csv.column("timestamp")?, csv.column(column)?);
    let rows = csv.rows()?;
    if rows.len() != file.rows() {
        return Err(csv.error_at(
            1,
            format!(
                "has {} rows where {} has {}",
                rows.len(),
                file.name,
                file.rows()
            ),
        ));
    }
    let mut timestamps = Vec::with_capacity(rows.len());
    let mut values = Vec::with_capacity(rows.len());
    for (line, fields) in &rows {
        let ts = parse_nab_timestamp_us(fields[t]).ok_or_else(|| {
            csv.error_at(*line, format!("{:?} is not a NAB timestamp", fields[t]))
        })?;
        let value = fields[c].parse::<f64>().map_err(|_| {
            csv.error_at(*line, format!("{column} {:?} is not a number", fields[c]))
        })?;
        timestamps.push(ts);
        values.push(value);
    }
    if timestamps != file.timestamps_us {
        let (mut ours, mut theirs) = (timestamps.clone(), file.timestamps_us.clone());
        ours.sort_unstable();
        theirs.sort_unstable();
        if ours != theirs {
            let at = timestamps
                .iter()
                .zip(&file.timestamps_us)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            return Err(csv.error_at(
                rows[at].0,
                format!(
                    "timestamp {:?} is not the data file's ({} has other timestamps)",
                    rows[at].1[t], file.name
                ),
            ));
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_files_are_found_where_nab_puts_them() {
        assert_eq!(
            result_path(
                Path::new("/nab/results"),
                "numenta",
                "realKnownCause/nyc_taxi.csv"
            ),
            Path::new("/nab/results/numenta/realKnownCause/numenta_nyc_taxi.csv")
        );
    }

    #[test]
    fn a_result_file_whose_rows_are_not_the_data_files_is_refused() {
        let dir =
            std::env::temp_dir().join(format!("bss-detect-nab-results-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("r.csv");
        let file = LabelledFile {
            name: "x/y.csv".into(),
            timestamps_us: vec![
                parse_nab_timestamp_us("2014-07-01 00:00:00").expect("ts"),
                parse_nab_timestamp_us("2014-07-01 00:05:00").expect("ts"),
            ],
            values: vec![1.0, 2.0],
            windows: vec![],
        };
        std::fs::write(
            &path,
            "timestamp,value,anomaly_score\n2014-07-01 00:00:00,1,0.25\n2014-07-01 00:05:00,2,1e-3\n",
        )
        .expect("write");
        assert_eq!(
            read_column(&path, "anomaly_score", &file).expect("reads"),
            vec![0.25, 0.001]
        );
        std::fs::write(
            &path,
            "timestamp,value,anomaly_score\n2014-07-01 00:00:00,1,0.25\n2014-07-01 00:10:00,2,0.5\n",
        )
        .expect("write");
        let e = read_column(&path, "anomaly_score", &file).expect_err("wrong timestamp");
        assert!(e.to_string().contains("r.csv:3: timestamp"), "{e}");
        std::fs::write(
            &path,
            "timestamp,value,anomaly_score\n2014-07-01 00:05:00,2,0.5\n2014-07-01 00:00:00,1,0.25\n",
        )
        .expect("write");
        assert_eq!(
            read_column(&path, "anomaly_score", &file)
                .expect("re-sorted rows are read by position"),
            vec![0.5, 0.25]
        );
        let e = read_column(&path, "S(t)_standard", &file).expect_err("no column");
        assert!(e.to_string().contains("no column"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
