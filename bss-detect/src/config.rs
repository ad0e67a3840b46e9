//! Owns what one configured detector is (a `[[detector]]` table of the
//! sidecar's TOML): which events it watches, what it measures in them, how
//! it groups them, the algorithm with its parameters, and when it alarms
//! (`series::AlarmParams`: the likelihood threshold and episodes, the same
//! keys whatever the algorithm). Must refuse what it cannot use with a
//! message naming the detector and the setting.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::Algorithm;
use crate::series::AlarmParams;
use crate::time::parse_duration_us;

/// The event type the detectors' own events have; no detector may watch
/// it, so that an anomaly can never feed the detection that produced it.
pub const ANOMALY_EVENT_TYPE: &str = "anomaly.detected";

/// What a detector observes per event, or per key over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// The numbers at these JSON pointers into `data`, one observation per
    /// event (several pointers make one multi-feature observation).
    Fields(Vec<String>),
    /// How many events each key had over the last `window_us` (of the
    /// pipeline's clock), sampled every `every_us`.
    Count { window_us: i64, every_us: i64 },
}

/// One `[[detector]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorConfig {
    /// Names the detector in metrics and in its anomaly stream
    /// `anomaly-<name>`: lowercase letters, digits, `_` and `-`.
    pub name: String,
    pub event_types: Vec<String>,
    /// JSON pointer into `data` of the grouping key (one series per
    /// value); None: one series for all events.
    pub key: Option<String>,
    pub measure: Measure,
    /// Only events whose `data` has these values at these pointers.
    pub filters: Vec<(String, Value)>,
    /// Keys not seen for this long are forgotten (their state freed).
    pub idle_us: i64,
    /// At most this many keys are tracked; events of further keys are
    /// counted as refused, not judged.
    pub max_keys: usize,
    pub algorithm: Algorithm,
    pub alarm: AlarmParams,
}

/// Settings of a `[[detector]]` that are not the algorithm's.
const OWN_KEYS: &[&str] = &[
    "name",
    "event_type",
    "key",
    "field",
    "fields",
    "count",
    "every",
    "match",
    "idle",
    "max_keys",
];

impl DetectorConfig {
    /// Reads one `[[detector]]` table (as JSON: the sidecar converts TOML).
    pub fn from_table(table: &Map<String, Value>) -> Result<DetectorConfig, String> {
        let name = match table.get("name") {
            Some(Value::String(n)) => n.clone(),
            Some(_) => return Err("a [[detector]]'s `name` must be a string".into()),
            None => return Err("a [[detector]] needs a `name`".into()),
        };
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
        {
            return Err(format!(
                "detector name {name:?} must be 1 to 64 lowercase letters, digits, `_` or `-` \
                 (it names the stream anomaly-<name>)"
            ));
        }
        let fail = |msg: String| format!("detector {name}: {msg}");
        let event_types = match table.get("event_type") {
            Some(Value::String(t)) => vec![t.clone()],
            Some(Value::Array(ts)) if !ts.is_empty() => ts
                .iter()
                .map(|t| t.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| fail("`event_type` must be a string or a list of strings".into()))?,
            Some(_) => {
                return Err(fail(
                    "`event_type` must be a string or a non-empty list of strings".into(),
                ))
            }
            None => {
                return Err(fail(
                    "`event_type` is required (the event type it watches)".into(),
                ))
            }
        };
        if let Some(t) = event_types
            .iter()
            .find(|t| t.is_empty() || t.as_str() == ANOMALY_EVENT_TYPE)
        {
            return Err(fail(format!(
                "cannot watch event type {t:?}{}",
                if t.is_empty() {
                    ""
                } else {
                    ": anomalies would feed their own detection"
                }
            )));
        }
        let pointer = |setting: &str, v: &Value| -> Result<String, String> {
            match v.as_str() {
                Some(p) if p.starts_with('/') => Ok(p.to_owned()),
                _ => Err(fail(format!(
                    "`{setting}` must be a JSON pointer into data, like \"/msisdn\", not {v}"
                ))),
            }
        };
        let key = table.get("key").map(|v| pointer("key", v)).transpose()?;
        let fields = match (table.get("field"), table.get("fields")) {
            (Some(_), Some(_)) => return Err(fail("give `field` or `fields`, not both".into())),
            (Some(f), None) => Some(vec![pointer("field", f)?]),
            (None, Some(Value::Array(fs))) if !fs.is_empty() => Some(
                fs.iter()
                    .map(|f| pointer("fields", f))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            (None, Some(_)) => {
                return Err(fail(
                    "`fields` must be a non-empty list of JSON pointers".into(),
                ))
            }
            (None, None) => None,
        };
        let duration = |setting: &str| -> Result<Option<i64>, String> {
            match table.get(setting) {
                None => Ok(None),
                Some(Value::String(s)) => parse_duration_us(s)
                    .map(Some)
                    .map_err(|e| fail(format!("`{setting}`: {e}"))),
                Some(v) => Err(fail(format!(
                    "`{setting}` must be a duration like \"30s\", not {v}"
                ))),
            }
        };
        let count = duration("count")?;
        let every = duration("every")?;
        let measure = match (fields, count) {
            (Some(_), Some(_)) => {
                return Err(fail("give `field`/`fields` or `count`, not both".into()))
            }
            (None, None) => {
                return Err(fail(
                    "say what to measure: `field = \"/bytes\"` (a number in data) or \
                     `count = \"30s\"` (events per key over a window)"
                        .into(),
                ))
            }
            (Some(f), None) => {
                if every.is_some() {
                    return Err(fail("`every` only goes with `count`".into()));
                }
                Measure::Fields(f)
            }
            (None, Some(window_us)) => {
                let every_us = every.unwrap_or((window_us / 6).max(1));
                if every_us > window_us || window_us % every_us != 0 {
                    return Err(fail(format!(
                        "`every` must divide `count` (a window of {window_us} us sampled every {every_us} us)"
                    )));
                }
                if window_us / every_us > 1_000 {
                    return Err(fail("`count` / `every` must be at most 1000 steps".into()));
                }
                Measure::Count {
                    window_us,
                    every_us,
                }
            }
        };
        let filters = match table.get("match") {
            None => Vec::new(),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(p, v)| {
                    if p.starts_with('/') {
                        Ok((p.clone(), v.clone()))
                    } else {
                        Err(fail(format!(
                            "`match` keys must be JSON pointers like \"/service\", not {p:?}"
                        )))
                    }
                })
                .collect::<Result<_, _>>()?,
            Some(v) => {
                return Err(fail(format!(
                    "`match` must be a table of JSON pointer = value, not {v}"
                )))
            }
        };
        let idle_us = duration("idle")?.unwrap_or(3_600_000_000);
        let max_keys = match table.get("max_keys") {
            None => 1_000_000,
            Some(v) => match v.as_u64() {
                Some(n) if n > 0 => n as usize,
                _ => {
                    return Err(fail(format!(
                        "`max_keys` must be a positive whole number, not {v}"
                    )))
                }
            },
        };
        let others: Map<String, Value> = table
            .iter()
            .filter(|(k, _)| !OWN_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let (algorithm, alarm) = algorithm_from_table(&others).map_err(fail)?;
        let features = match &measure {
            Measure::Fields(f) => f.len(),
            Measure::Count { .. } => 1,
        };
        if algorithm.features() != features {
            return Err(fail(match &algorithm {
                Algorithm::HalfSpaceTrees(_)
                | Algorithm::IsolationForest(_)
                | Algorithm::OneClassSvm(_) => format!(
                    "{} has `features` = {} but measures {features} value(s)",
                    algorithm.name(),
                    algorithm.features()
                ),
                _ => format!(
                    "{} judges one value; {features} `fields` need half_space_trees, \
                     isolation_forest or one_class_svm",
                    algorithm.name()
                ),
            }));
        }
        Ok(DetectorConfig {
            name,
            event_types,
            key,
            measure,
            filters,
            idle_us,
            max_keys,
            algorithm,
            alarm,
        })
    }

    /// The stream its anomalies are appended to.
    pub fn stream_id(&self) -> String {
        format!("anomaly-{}", self.name)
    }

    /// A seed for randomised models, fixed by the name.
    pub fn seed(&self) -> u64 {
        // FNV-1a: stable across builds, unlike std's hasher.
        self.name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    }

    /// Everything that decides its verdicts, as text: saved state is used
    /// again only by a detector with the same fingerprint.
    pub fn fingerprint(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The algorithm and alarm settings of a table holding nothing else (a
/// `[[detector]]` without its own settings, or what a benchmark feeding a
/// [`crate::series::SeriesDetector`] configures), each checked; the error
/// names the setting, not the detector.
pub fn algorithm_from_table(
    table: &Map<String, Value>,
) -> Result<(Algorithm, AlarmParams), String> {
    let (alarm, params): (Map<String, Value>, Map<String, Value>) = table
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .partition(|(k, _)| AlarmParams::KEYS.contains(&k.as_str()));
    if !params.contains_key("algorithm") {
        return Err(format!(
            "`algorithm` is required: {}",
            Algorithm::NAMES.join(", ")
        ));
    }
    let algorithm: Algorithm =
        serde_json::from_value(Value::Object(params)).map_err(|e| e.to_string())?;
    algorithm.validate()?;
    let alarm: AlarmParams =
        serde_json::from_value(Value::Object(alarm)).map_err(|e| e.to_string())?;
    alarm.validate()?;
    Ok((algorithm, alarm))
}

/// Reads a list of `[[detector]]` tables; names must be unique.
pub fn from_tables(tables: &[Value]) -> Result<Vec<DetectorConfig>, String> {
    let mut out: Vec<DetectorConfig> = Vec::with_capacity(tables.len());
    for (i, t) in tables.iter().enumerate() {
        let table = t
            .as_object()
            .ok_or_else(|| format!("[[detector]] number {} is not a table", i + 1))?;
        let cfg = DetectorConfig::from_table(table)?;
        if out.iter().any(|c| c.name == cfg.name) {
            return Err(format!("two detectors are named {:?}", cfg.name));
        }
        out.push(cfg);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<DetectorConfig, String> {
        DetectorConfig::from_table(v.as_object().unwrap())
    }

    #[test]
    fn reads_a_count_detector_and_a_field_detector() {
        let c = parse(json!({"name": "usage-spike", "event_type": "usage.recorded", "key": "/msisdn",
            "count": "30s", "every": "5s", "algorithm": "zscore", "threshold": 6.0, "direction": "high"}))
        .unwrap();
        assert_eq!(
            c.measure,
            Measure::Count {
                window_us: 30_000_000,
                every_us: 5_000_000
            }
        );
        assert_eq!(c.key.as_deref(), Some("/msisdn"));
        assert_eq!(c.stream_id(), "anomaly-usage-spike");
        match &c.algorithm {
            Algorithm::Zscore(p) => assert_eq!(p.threshold, 6.0),
            other => panic!("{other:?}"),
        }
        let f = parse(
            json!({"name": "big-session", "event_type": ["usage.recorded"], "field": "/bytes",
            "match": {"/service": "data"}, "algorithm": "threshold", "above": 50e9}),
        )
        .unwrap();
        assert_eq!(f.measure, Measure::Fields(vec!["/bytes".into()]));
        assert_eq!(f.filters, vec![("/service".to_string(), json!("data"))]);
        assert_ne!(c.fingerprint(), f.fingerprint());
        assert_eq!(
            c.seed(),
            parse(
                json!({"name": "usage-spike", "event_type": "x", "field": "/a",
            "algorithm": "ewma"})
            )
            .unwrap()
            .seed()
        );
    }

    #[test]
    fn refuses_what_it_cannot_use_naming_the_setting() {
        let cases = [
            (
                json!({"event_type": "a", "field": "/x", "algorithm": "zscore"}),
                "needs a `name`",
            ),
            (
                json!({"name": "Bad Name", "event_type": "a", "field": "/x", "algorithm": "zscore"}),
                "lowercase",
            ),
            (
                json!({"name": "d", "field": "/x", "algorithm": "zscore"}),
                "`event_type` is required",
            ),
            (
                json!({"name": "d", "event_type": "anomaly.detected", "field": "/x", "algorithm": "zscore"}),
                "feed their own",
            ),
            (
                json!({"name": "d", "event_type": "a", "field": "bytes", "algorithm": "zscore"}),
                "JSON pointer",
            ),
            (
                json!({"name": "d", "event_type": "a", "algorithm": "zscore"}),
                "say what to measure",
            ),
            (
                json!({"name": "d", "event_type": "a", "field": "/x", "count": "1m", "algorithm": "zscore"}),
                "not both",
            ),
            (
                json!({"name": "d", "event_type": "a", "count": "1m", "every": "7s", "algorithm": "zscore"}),
                "must divide",
            ),
            (
                json!({"name": "d", "event_type": "a", "count": "10", "algorithm": "zscore"}),
                "`count`: duration",
            ),
            (
                json!({"name": "d", "event_type": "a", "field": "/x"}),
                "`algorithm` is required",
            ),
            (
                json!({"name": "d", "event_type": "a", "field": "/x", "algorithm": "prophet"}),
                "unknown variant",
            ),
            (
                json!({"name": "d", "event_type": "a", "field": "/x", "algorithm": "zscore", "treshold": 3}),
                "treshold",
            ),
            (
                json!({"name": "d", "event_type": "a", "field": "/x", "algorithm": "zscore", "window": 1}),
                "window",
            ),
            (
                json!({"name": "d", "event_type": "a", "fields": ["/x", "/y"], "algorithm": "zscore"}),
                "need half_space_trees",
            ),
            (
                json!({"name": "d", "event_type": "a", "field": "/x", "algorithm": "threshold"}),
                "above",
            ),
            (
                json!({"name": "d", "event_type": "a", "fields": ["/x", "/y"], "algorithm": "isolation_forest"}),
                "isolation_forest has `features` = 1 but measures 2",
            ),
            (
                json!({"name": "d", "event_type": "a", "field": "/x", "algorithm": "isolation_forest", "sample_size": 2048}),
                "isolation_forest: `window` = 1024 is not in 2048..=65536 (at least `sample_size`)",
            ),
            (
                json!({"name": "d", "event_type": "a", "field": "/x", "algorithm": "one_class_svm", "nu": 0}),
                "one_class_svm: `nu` = 0 is not in (0, 1]",
            ),
            (
                json!({"name": "d", "event_type": "a", "field": "/x", "algorithm": "one_class_svm", "window": 4096}),
                "one_class_svm: `window` = 4096",
            ),
            (
                json!({"name": "d", "event_type": "a", "field": "/x", "algorithm": "mad", "min_spread_ratio": 2}),
                "`min_spread_ratio` = 2",
            ),
            (
                json!({"name": "d", "event_type": "a", "field": "/x", "algorithm": "half_space_trees", "min_spread_ratio": 0.1}),
                "min_spread_ratio",
            ),
            (
                json!({"name": "d", "event_type": "a", "field": "/x", "algorithm": "zscore", "likelihood_threshold": 1.5}),
                "`likelihood_threshold` = 1.5 is not between 0 and 1",
            ),
            (
                json!({"name": "d", "event_type": "a", "field": "/x", "algorithm": "zscore", "likelihood_window": 4}),
                "`likelihood_window` = 4 is not in 5..=",
            ),
            (
                json!({"name": "d", "event_type": "a", "field": "/x", "algorithm": "ewma", "normal_to_end_episode": 0}),
                "`normal_to_end_episode` = 0",
            ),
            (
                json!({"name": "d", "event_type": "a", "field": "/x", "algorithm": "ewma", "likelihood_treshold": 0.9}),
                "likelihood_treshold",
            ),
        ];
        for (table, want) in cases {
            let err = parse(table.clone()).unwrap_err();
            assert!(err.contains(want), "{table}: {err:?} does not say {want:?}");
            if table.get("name").and_then(Value::as_str) == Some("d") {
                assert!(err.starts_with("detector d: "), "{err}");
            }
        }
        let two = [
            json!({"name": "d", "event_type": "a", "field": "/x", "algorithm": "ewma"}),
            json!({"name": "d", "event_type": "b", "field": "/x", "algorithm": "ewma"}),
        ];
        assert!(from_tables(&two).unwrap_err().contains("two detectors"));
    }

    #[test]
    fn reads_the_new_algorithms_and_the_alarm_settings_of_any_algorithm() {
        let forest = parse(json!({"name": "calls", "event_type": "usage.recorded",
            "fields": ["/seconds", "/charge"], "algorithm": "isolation_forest", "features": 2,
            "trees": 50, "likelihood_threshold": 0.9999, "normal_to_end_episode": 5}))
        .unwrap();
        match &forest.algorithm {
            Algorithm::IsolationForest(p) => assert_eq!((p.trees, p.features), (50, 2)),
            other => panic!("{other:?}"),
        }
        assert_eq!(forest.alarm.likelihood_threshold, Some(0.9999));
        assert_eq!(forest.alarm.normal_to_end_episode, 5);
        assert_eq!(
            forest.alarm.likelihood_window,
            AlarmParams::default().likelihood_window
        );
        let svm = parse(json!({"name": "gauge", "event_type": "x", "field": "/v",
            "algorithm": "one_class_svm", "nu": 0.05, "shingle": 8}))
        .unwrap();
        match &svm.algorithm {
            Algorithm::OneClassSvm(p) => assert_eq!((p.nu, p.shingle, p.gamma), (0.05, 8, None)),
            other => panic!("{other:?}"),
        }
        assert_eq!(svm.alarm, AlarmParams::default());
        // The same alarm keys read alone, as a benchmark would.
        let table =
            json!({"algorithm": "mad", "min_spread_ratio": 0.01, "likelihood_short_window": 5});
        let (algorithm, alarm) = algorithm_from_table(table.as_object().unwrap()).unwrap();
        assert_eq!(algorithm.name(), "mad");
        assert_eq!(alarm.likelihood_short_window, 5);
    }

    #[test]
    fn the_alarm_keys_are_the_alarm_settings() {
        let written = serde_json::to_value(AlarmParams::default()).unwrap();
        let mut fields: Vec<&str> = written
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut keys = AlarmParams::KEYS.to_vec();
        fields.sort_unstable();
        keys.sort_unstable();
        assert_eq!(fields, keys);
        assert!(keys.iter().all(|k| !OWN_KEYS.contains(k)));
    }
}
