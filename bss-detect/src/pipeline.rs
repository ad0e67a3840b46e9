//! Owns running the configured detectors over a stream of events in order:
//! picking the events a detector watches, turning them into observations
//! per key (numbers at JSON pointers, or counts over a sliding window of the
//! pipeline's clock), feeding each key's detector, and naming the anomalies.
//! Must be deterministic (same state and events, same anomalies with the
//! same ids, in the same order) and must count every event it could not
//! judge rather than drop it unseen.
//!
//! Count windows are sampled when the clock passes the end of a step
//! (`every`), for every key the detector knows, so that an absence (a drop
//! to zero) is observed although no event carries it. The clock is the
//! `time_us` of each event, whatever its type; it never moves back. Each
//! key's series is a [`SeriesDetector`], so that an anomaly, of a count or
//! of a field, is reported once per episode (the first anomalous
//! observation, then nothing until `normal_to_end_episode` observations in
//! a row are normal) and carries the likelihood beside the raw score.

use std::collections::{BTreeMap, VecDeque};

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::config::{DetectorConfig, Measure};
use crate::series::SeriesDetector;
use crate::time::format_rfc3339_us;
use crate::Verdict;

/// Steps of count windows evaluated at once when the clock jumps (after
/// a silence): beyond a window's worth, more empty samples change nothing
/// but the time they take.
const MAX_CATCH_UP_STEPS: i64 = 64;

/// Names anomaly ids: UUID v5 in this namespace of (detector, key, time, source).
const ANOMALY_NAMESPACE: Uuid = Uuid::from_u128(0x6a1c_52d4_3f0e_4b8e_9d37_0c5b_bd2e_a1f7);

/// One event as the pipeline sees it.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub event_id: &'a str,
    pub event_type: &'a str,
    /// The pipeline's clock at this event, microseconds since the epoch
    /// (the sidecar passes the commit time).
    pub time_us: i64,
    /// The event's `data`; None when [`Pipeline::wants_data`] said no.
    pub data: Option<&'a Value>,
}

/// A detected anomaly.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    /// A name-based UUID of what was detected: a redone detection has the same id.
    pub id: Uuid,
    pub detector: String,
    pub algorithm: &'static str,
    /// The key's value (None for a detector without `key`).
    pub key: Option<String>,
    /// The observation: the field values, or the count.
    pub value: Vec<f64>,
    /// The raw score, in the algorithm's own unit.
    pub score: f64,
    /// The anomaly likelihood, in [0, 1].
    pub likelihood: f64,
    /// When: the event's clock, or the end of the count window.
    pub time_us: i64,
    /// The event judged, or for a count the event that closed the window.
    pub source_event_id: String,
    pub source_event_type: String,
    /// The count window `[start, end)`, for count detectors.
    pub window_us: Option<(i64, i64)>,
}

impl Anomaly {
    /// The stream it is appended to.
    pub fn stream_id(&self) -> String {
        format!("anomaly-{}", self.detector)
    }

    /// The `data` of its `anomaly.detected` event.
    pub fn data(&self) -> Value {
        let value = match self.value.as_slice() {
            [one] => json!(one),
            many => json!(many),
        };
        let mut d = json!({
            "detector": self.detector,
            "algorithm": self.algorithm,
            "key": self.key,
            "value": value,
            "score": self.score,
            "likelihood": self.likelihood,
            "source_event_id": self.source_event_id,
            "source_event_type": self.source_event_type,
        });
        if let Some((start, end)) = self.window_us {
            d["window"] = json!({"start": format_rfc3339_us(start), "end": format_rfc3339_us(end)});
        }
        d
    }
}

/// What one detector did, since it started with empty state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Observations judged (events, or count samples).
    pub observations: u64,
    pub anomalies: u64,
    /// Watched events without a usable key or number at the configured pointers.
    pub skipped: u64,
    /// Events older than a count window still open; not counted.
    pub late: u64,
    /// Events of new keys beyond `max_keys`; not judged.
    pub refused: u64,
    /// Keys forgotten after `idle`.
    pub evicted: u64,
}

/// Counts of the last steps of a count window, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CountRing {
    /// The step the last element counts.
    newest: i64,
    counts: VecDeque<u32>,
    sum: u64,
}

impl CountRing {
    fn new(step: i64, steps: usize) -> Self {
        CountRing {
            newest: step,
            counts: std::iter::repeat_n(0, steps).collect(),
            sum: 0,
        }
    }

    /// Moves the window so that its newest step is `step`.
    fn advance_to(&mut self, step: i64) {
        let n = self.counts.len() as i64;
        let shift = step - self.newest;
        if shift <= 0 {
            return;
        }
        if shift >= n {
            self.counts.iter_mut().for_each(|c| *c = 0);
            self.sum = 0;
        } else {
            for _ in 0..shift {
                self.sum -= u64::from(self.counts.pop_front().unwrap_or(0));
                self.counts.push_back(0);
            }
        }
        self.newest = step;
    }

    /// Counts one event in `step`; false if the step left the window.
    fn add(&mut self, step: i64) -> bool {
        self.advance_to(step);
        let age = self.newest - step;
        let n = self.counts.len() as i64;
        if age >= n {
            return false;
        }
        let i = (n - 1 - age) as usize;
        self.counts[i] = self.counts[i].saturating_add(1);
        self.sum += 1;
        true
    }
}

/// One key's series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Series {
    detector: SeriesDetector,
    last_seen_us: i64,
    counts: Option<CountRing>,
}

/// Everything one detector remembers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DetectorState {
    series: BTreeMap<String, Series>,
    /// Count detectors: the step the clock is in.
    step: Option<i64>,
    /// When idle keys were last looked for.
    last_sweep_us: Option<i64>,
    stats: Stats,
}

/// Key of the one series of a detector without `key`.
const ONE_SERIES: &str = "";

struct Run {
    config: DetectorConfig,
    fingerprint: String,
    state: DetectorState,
}

/// The configured detectors and their state.
pub struct Pipeline {
    runs: Vec<Run>,
}

/// The saved form: each detector's fingerprint and state, by name.
#[derive(Serialize, Deserialize)]
struct Saved<S> {
    detectors: BTreeMap<String, (String, S)>,
}

impl Pipeline {
    pub fn new(configs: Vec<DetectorConfig>) -> Pipeline {
        Pipeline {
            runs: configs
                .into_iter()
                .map(|config| Run {
                    fingerprint: config.fingerprint(),
                    config,
                    state: DetectorState::default(),
                })
                .collect(),
        }
    }

    /// A pipeline with the state [`Pipeline::save`] wrote. A detector whose
    /// configuration changed since (or that is new) starts empty; the
    /// returned notes say which.
    pub fn restore(
        configs: Vec<DetectorConfig>,
        saved: &[u8],
    ) -> Result<(Pipeline, Vec<String>), String> {
        let mut pipeline = Pipeline::new(configs);
        let mut notes = Vec::new();
        let mut saved: Saved<DetectorState> = match rmp_serde::from_slice(saved) {
            Ok(saved) => saved,
            // Saved by a version whose state had another form: its detectors
            // start empty, as they would after a change of configuration.
            Err(e) => match rmp_serde::from_slice::<Saved<IgnoredAny>>(saved) {
                Ok(earlier) => {
                    notes.extend(earlier.detectors.keys().map(|name| {
                        format!(
                            "detector {name}: its state was saved by an earlier version; \
                             it starts with empty windows"
                        )
                    }));
                    return Ok((pipeline, notes));
                }
                Err(_) => return Err(format!("the saved detector state is unreadable: {e}")),
            },
        };
        for run in &mut pipeline.runs {
            match saved.detectors.remove(&run.config.name) {
                Some((fp, state)) if fp == run.fingerprint => run.state = state,
                Some(_) => notes.push(format!(
                    "detector {}: its configuration changed; it starts with empty windows",
                    run.config.name
                )),
                None => notes.push(format!(
                    "detector {}: new; it starts with empty windows",
                    run.config.name
                )),
            }
        }
        for name in saved.detectors.keys() {
            notes.push(format!(
                "detector {name}: no longer configured; its state is dropped"
            ));
        }
        Ok((pipeline, notes))
    }

    /// The state of every detector, to give to [`Pipeline::restore`].
    pub fn save(&self) -> Vec<u8> {
        let saved = Saved {
            detectors: self
                .runs
                .iter()
                .map(|r| (r.config.name.clone(), (r.fingerprint.clone(), &r.state)))
                .collect(),
        };
        rmp_serde::to_vec(&saved).expect("detector state serialises")
    }

    /// Whether some detector reads the `data` of events of this type.
    pub fn wants_data(&self, event_type: &str) -> bool {
        self.runs
            .iter()
            .any(|r| r.config.event_types.iter().any(|t| t == event_type))
    }

    /// Each detector's name and statistics.
    pub fn stats(&self) -> impl Iterator<Item = (&str, &Stats)> {
        self.runs
            .iter()
            .map(|r| (r.config.name.as_str(), &r.state.stats))
    }

    /// Each detector's name and the number of keys it tracks.
    pub fn keys(&self) -> impl Iterator<Item = (&str, usize)> {
        self.runs
            .iter()
            .map(|r| (r.config.name.as_str(), r.state.series.len()))
    }

    /// Feeds one event, in order; appends what it reveals to `out`.
    pub fn observe(&mut self, input: &Input<'_>, out: &mut Vec<Anomaly>) {
        for run in &mut self.runs {
            run.observe(input, out);
        }
    }
}

impl Run {
    fn observe(&mut self, input: &Input<'_>, out: &mut Vec<Anomaly>) {
        if let Measure::Count {
            window_us,
            every_us,
        } = self.config.measure
        {
            self.close_steps(input, window_us, every_us, out);
        }
        self.sweep_idle(input.time_us);
        if !self
            .config
            .event_types
            .iter()
            .any(|t| t == input.event_type)
        {
            return;
        }
        let Some(data) = input.data else {
            self.state.stats.skipped += 1;
            return;
        };
        if !self
            .config
            .filters
            .iter()
            .all(|(p, want)| data.pointer(p) == Some(want))
        {
            return;
        }
        let key = match &self.config.key {
            None => ONE_SERIES.to_owned(),
            Some(p) => match data.pointer(p) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => {
                    self.state.stats.skipped += 1;
                    return;
                }
            },
        };
        match &self.config.measure {
            Measure::Fields(pointers) => {
                let mut values = Vec::with_capacity(pointers.len());
                for p in pointers {
                    match data.pointer(p).and_then(Value::as_f64) {
                        Some(v) if v.is_finite() => values.push(v),
                        _ => {
                            self.state.stats.skipped += 1;
                            return;
                        }
                    }
                }
                let Some(series) = self.series(&key, input.time_us, None) else {
                    return;
                };
                let verdict = series.detector.observe(&values);
                self.state.stats.observations += 1;
                if verdict.alarm {
                    self.state.stats.anomalies += 1;
                    out.push(self.anomaly(key, values, verdict, input, input.time_us, None));
                }
            }
            Measure::Count {
                window_us,
                every_us,
            } => {
                let steps = (window_us / every_us) as usize;
                let step = input.time_us.div_euclid(*every_us);
                let now = self.state.step.unwrap_or(step).max(step);
                let Some(series) =
                    self.series(&key, input.time_us, Some(CountRing::new(now, steps)))
                else {
                    return;
                };
                let counted = series.counts.as_mut().is_some_and(|c| c.add(step));
                if !counted {
                    self.state.stats.late += 1;
                }
            }
        }
    }

    /// The series of `key`, made if new (None, counted, past `max_keys`).
    fn series(&mut self, key: &str, now_us: i64, counts: Option<CountRing>) -> Option<&mut Series> {
        let state = &mut self.state;
        if !state.series.contains_key(key) {
            if state.series.len() >= self.config.max_keys {
                state.stats.refused += 1;
                return None;
            }
            state.series.insert(
                key.to_owned(),
                Series {
                    detector: SeriesDetector::new(
                        &self.config.algorithm,
                        &self.config.alarm,
                        self.config.seed(),
                    ),
                    last_seen_us: now_us,
                    counts,
                },
            );
        }
        let s = state.series.get_mut(key)?;
        s.last_seen_us = s.last_seen_us.max(now_us);
        Some(s)
    }

    /// Samples every key's count for each step the clock has left.
    fn close_steps(
        &mut self,
        input: &Input<'_>,
        window_us: i64,
        every_us: i64,
        out: &mut Vec<Anomaly>,
    ) {
        let step = input.time_us.div_euclid(every_us);
        let Some(current) = self.state.step else {
            self.state.step = Some(step);
            return;
        };
        if step <= current {
            return;
        }
        let first = current.max(step - MAX_CATCH_UP_STEPS - window_us / every_us);
        for closed in first..step {
            let end = (closed + 1) * every_us;
            let mut found = Vec::new();
            for (key, s) in self.state.series.iter_mut() {
                let Some(ring) = s.counts.as_mut() else {
                    continue;
                };
                ring.advance_to(closed);
                let x = ring.sum as f64;
                let verdict = s.detector.observe(&[x]);
                self.state.stats.observations += 1;
                if verdict.alarm {
                    found.push((key.clone(), x, verdict));
                }
            }
            for (key, x, verdict) in found {
                self.state.stats.anomalies += 1;
                out.push(self.anomaly(
                    key,
                    vec![x],
                    verdict,
                    input,
                    end,
                    Some((end - window_us, end)),
                ));
            }
        }
        self.state.step = Some(step);
    }

    /// Forgets keys not seen for `idle`, looking at most every `idle / 4`.
    fn sweep_idle(&mut self, now_us: i64) {
        let idle = self.config.idle_us;
        let last = *self.state.last_sweep_us.get_or_insert(now_us);
        if now_us - last < idle / 4 {
            return;
        }
        self.state.last_sweep_us = Some(now_us);
        let before = self.state.series.len();
        self.state
            .series
            .retain(|_, s| now_us - s.last_seen_us <= idle);
        self.state.stats.evicted += (before - self.state.series.len()) as u64;
    }

    fn anomaly(
        &self,
        key: String,
        value: Vec<f64>,
        verdict: Verdict,
        input: &Input<'_>,
        time_us: i64,
        window_us: Option<(i64, i64)>,
    ) -> Anomaly {
        let key = self.config.key.is_some().then_some(key);
        let name = format!(
            "{}\n{}\n{time_us}\n{}",
            self.config.name,
            key.as_deref().unwrap_or(ONE_SERIES),
            input.event_id
        );
        Anomaly {
            id: Uuid::new_v5(&ANOMALY_NAMESPACE, name.as_bytes()),
            detector: self.config.name.clone(),
            algorithm: self.config.algorithm.name(),
            key,
            value,
            score: verdict.score,
            likelihood: verdict.likelihood,
            time_us,
            source_event_id: input.event_id.to_owned(),
            source_event_type: input.event_type.to_owned(),
            window_us,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_tables;

    const S: i64 = 1_000_000;

    fn pipeline(tables: Value) -> Pipeline {
        Pipeline::new(from_tables(tables.as_array().unwrap()).unwrap())
    }

    /// Feeds `(seconds, type, data)` events; returns the anomalies.
    fn feed(p: &mut Pipeline, events: &[(i64, &str, Value)]) -> Vec<Anomaly> {
        let mut out = Vec::new();
        for (i, (t, ty, data)) in events.iter().enumerate() {
            let id = format!("e{i}");
            let wants = p.wants_data(ty);
            p.observe(
                &Input {
                    event_id: &id,
                    event_type: ty,
                    time_us: t * S,
                    data: wants.then_some(data),
                },
                &mut out,
            );
        }
        out
    }

    fn drop_detector() -> Value {
        json!([{"name": "cell-drop", "event_type": "usage.recorded", "key": "/cell",
                "count": "10s", "every": "5s", "algorithm": "threshold", "below": 1}])
    }

    /// One usage event per second from cells a and b, except from `gap` on cell a.
    fn traffic(
        seconds: std::ops::Range<i64>,
        gap: std::ops::Range<i64>,
    ) -> Vec<(i64, &'static str, Value)> {
        let mut v = Vec::new();
        for t in seconds {
            v.push((t, "usage.recorded", json!({"cell": "b"})));
            if !gap.contains(&t) {
                v.push((t, "usage.recorded", json!({"cell": "a"})));
            }
            v.push((t, "payment.received", json!({})));
        }
        v
    }

    #[test]
    fn a_count_drops_to_zero_without_any_event_of_that_key_and_is_reported_once() {
        let mut p = pipeline(drop_detector());
        let found = feed(&mut p, &traffic(0..120, 40..70));
        // Both keys start counting at 0 s: their first window is complete at 10 s,
        // but the threshold sees partial windows before then as well.
        let a: Vec<_> = found
            .iter()
            .filter(|a| a.key.as_deref() == Some("a"))
            .collect();
        let late: Vec<_> = a.iter().filter(|x| x.time_us > 20 * S).collect();
        assert_eq!(late.len(), 1, "one episode, one report: {found:#?}");
        let d = late[0];
        assert_eq!(d.value, vec![0.0]);
        assert_eq!(
            d.time_us,
            50 * S,
            "the first window with no event of a is [40 s, 50 s)"
        );
        assert_eq!(d.window_us, Some((40 * S, 50 * S)));
        assert_eq!(d.source_event_type, "usage.recorded", "{d:?}");
        assert!(
            found.iter().all(|x| x.key.as_deref() != Some("b")),
            "{found:#?}"
        );
        let data = d.data();
        assert_eq!(data["window"]["start"], "1970-01-01T00:00:40.000000Z");
        assert_eq!(data["key"], "a");
        assert_eq!(data["value"], 0.0);
    }

    #[test]
    fn other_event_types_move_the_clock_so_a_silence_is_seen_while_it_lasts() {
        let mut p = pipeline(
            json!([{"name": "payments", "event_type": "payment.received",
            "count": "10s", "every": "5s", "algorithm": "threshold", "below": 1}]),
        );
        let mut events = Vec::new();
        for t in 0..100 {
            if !(30..80).contains(&t) {
                events.push((t, "payment.received", json!({})));
            }
            events.push((t, "usage.recorded", json!({})));
        }
        let found = feed(&mut p, &events);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(
            found[0].time_us,
            40 * S,
            "seen at 40 s, not when payments resume at 80 s"
        );
        assert_eq!(found[0].key, None);
        assert_eq!(found[0].data()["key"], Value::Null);
    }

    #[test]
    fn field_detectors_judge_each_matching_event_and_count_what_they_cannot_read() {
        let mut p = pipeline(
            json!([{"name": "big-session", "event_type": "usage.recorded",
            "key": "/msisdn", "field": "/bytes", "match": {"/service": "data"},
            "algorithm": "threshold", "above": 50e9}]),
        );
        let found = feed(
            &mut p,
            &[
                (
                    1,
                    "usage.recorded",
                    json!({"service": "data", "msisdn": "31600000001", "bytes": 1e9}),
                ),
                (
                    2,
                    "usage.recorded",
                    json!({"service": "data", "msisdn": "31600000001", "bytes": 60e9}),
                ),
                (
                    3,
                    "usage.recorded",
                    json!({"service": "voice", "msisdn": "31600000002", "bytes": 90e9}),
                ),
                (
                    4,
                    "usage.recorded",
                    json!({"service": "data", "msisdn": 31600000003u64, "bytes": 70e9}),
                ),
                (
                    5,
                    "usage.recorded",
                    json!({"service": "data", "msisdn": "31600000004", "bytes": "lots"}),
                ),
                (
                    6,
                    "usage.recorded",
                    json!({"service": "data", "bytes": 80e9}),
                ),
                (7, "payment.received", json!({"bytes": 99e9})),
            ],
        );
        let keys: Vec<_> = found.iter().map(|a| a.key.clone().unwrap()).collect();
        assert_eq!(keys, ["31600000001", "31600000003"]);
        assert_eq!(found[0].source_event_id, "e1");
        assert_eq!(found[0].value, vec![60e9]);
        assert_eq!(found[0].time_us, 2 * S);
        let stats = p.stats().next().unwrap().1.clone();
        assert_eq!(stats.observations, 3);
        assert_eq!(
            stats.skipped, 2,
            "a number that is text, and no key: {stats:?}"
        );
        assert_eq!(stats.anomalies, 2);
    }

    /// The anomalies of `events` fed to one pipeline of `tables`, and those
    /// of the same events fed to a pipeline saved after `cut` of them and
    /// restored (event ids as in one run); the two pipelines' statistics.
    fn whole_and_restored(
        tables: &Value,
        events: &[(i64, &str, Value)],
        cut: usize,
    ) -> ((Vec<Anomaly>, Vec<Anomaly>), (Stats, Stats)) {
        let mut whole = pipeline(tables.clone());
        let all = feed(&mut whole, events);
        let (head, tail) = events.split_at(cut);
        let mut first = pipeline(tables.clone());
        let mut got = feed(&mut first, head);
        let saved = first.save();
        let configs = from_tables(tables.as_array().unwrap()).unwrap();
        let (mut second, notes) = Pipeline::restore(configs, &saved).unwrap();
        assert!(notes.is_empty(), "{notes:?}");
        // Event ids restart at e0 in `feed`: renumber the second half's.
        let mut rest = feed(&mut second, tail);
        for a in &mut rest {
            let n: usize = a.source_event_id[1..].parse().unwrap();
            a.source_event_id = format!("e{}", n + head.len());
        }
        got.extend(rest);
        let stats = |p: &Pipeline| p.stats().next().unwrap().1.clone();
        ((all, got), (stats(&whole), stats(&second)))
    }

    #[test]
    fn saved_state_restores_to_exactly_the_same_detections() {
        let events = traffic(0..200, 100..130);
        let ((all, got), (whole, second)) = whole_and_restored(&drop_detector(), &events, 250);
        assert!(!all.is_empty());
        let strip = |v: &[Anomaly]| {
            v.iter()
                .map(|a| {
                    (
                        a.key.clone(),
                        a.time_us,
                        a.value.clone(),
                        a.source_event_id.clone(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&got), strip(&all));
        assert_eq!(second, whole);
    }

    /// A gauge of noise around 100 with a spike every 600 readings, one a second.
    fn gauge(n: i64) -> Vec<(i64, &'static str, Value)> {
        (0..n)
            .map(|t| {
                let noise = ((t * 7_919) % 13) as f64 - 6.0;
                let v = if t % 600 == 599 { 300.0 } else { 100.0 + noise };
                (t, "gauge", json!({"v": v, "meter": format!("m{}", t % 2)}))
            })
            .collect()
    }

    #[test]
    fn the_new_detectors_and_the_likelihood_restore_to_the_same_scores() {
        for table in [
            json!({"algorithm": "isolation_forest"}),
            json!({"algorithm": "one_class_svm"}),
            json!({"algorithm": "mad", "likelihood_threshold": 0.9999}),
        ] {
            let mut d = json!({"name": "g", "event_type": "gauge", "key": "/meter", "field": "/v"});
            d.as_object_mut()
                .unwrap()
                .extend(table.as_object().unwrap().clone());
            let tables = json!([d]);
            // Cut after several refits, between two.
            let ((all, got), (whole, second)) = whole_and_restored(&tables, &gauge(3_000), 1_500);
            assert!(all.len() >= 4, "{table}: {} anomalies", all.len());
            let strip = |v: &[Anomaly]| {
                v.iter()
                    .map(|a| {
                        (
                            a.key.clone(),
                            a.time_us,
                            a.score.to_bits(),
                            a.likelihood.to_bits(),
                            a.source_event_id.clone(),
                        )
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(strip(&got), strip(&all), "{table}");
            assert_eq!(second, whole, "{table}");
        }
    }

    #[test]
    fn a_field_anomaly_is_reported_once_per_episode() {
        let tables = json!([{"name": "g", "event_type": "gauge", "field": "/v",
            "algorithm": "threshold", "above": 200, "normal_to_end_episode": 2}]);
        let mut p = pipeline(tables);
        let values = [100, 250, 260, 100, 270, 100, 100, 280];
        let events: Vec<_> = values
            .iter()
            .enumerate()
            .map(|(t, v)| (t as i64, "gauge", json!({"v": v})))
            .collect();
        let found = feed(&mut p, &events);
        let at: Vec<f64> = found.iter().map(|a| a.value[0]).collect();
        assert_eq!(at, [250.0, 280.0], "one report until two normal readings");
        assert_eq!(p.stats().next().unwrap().1.anomalies, 2);
        assert!((0.0..=1.0).contains(&found[0].likelihood));
        assert_eq!(found[0].data()["likelihood"], found[0].likelihood);
    }

    #[test]
    fn a_state_saved_by_an_earlier_version_starts_every_detector_empty() {
        // The layout before `SeriesDetector`: a model and an episode flag.
        #[derive(Serialize)]
        struct EarlierSeries {
            model: (u8, f64),
            last_seen_us: i64,
            in_episode: bool,
        }
        let earlier = Saved {
            detectors: [(
                "cell-drop".to_owned(),
                (
                    "an older fingerprint".to_owned(),
                    vec![EarlierSeries {
                        model: (1, 2.0),
                        last_seen_us: 7,
                        in_episode: true,
                    }],
                ),
            )]
            .into_iter()
            .collect(),
        };
        let bytes = rmp_serde::to_vec(&earlier).unwrap();
        let configs = from_tables(drop_detector().as_array().unwrap()).unwrap();
        let (p, notes) = Pipeline::restore(configs, &bytes).unwrap();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("earlier version"), "{notes:?}");
        assert_eq!(p.keys().next().unwrap().1, 0);
    }

    #[test]
    fn anomaly_ids_are_the_same_when_the_same_detection_is_redone() {
        let events = traffic(0..120, 40..70);
        let a = feed(&mut pipeline(drop_detector()), &events);
        let b = feed(&mut pipeline(drop_detector()), &events);
        assert_eq!(a, b);
        let ids: std::collections::HashSet<_> = a.iter().map(|x| x.id).collect();
        assert_eq!(ids.len(), a.len(), "distinct detections have distinct ids");
    }

    #[test]
    fn a_changed_configuration_starts_empty_and_says_so() {
        let mut p = pipeline(drop_detector());
        feed(&mut p, &traffic(0..30, 0..0));
        let saved = p.save();
        let mut changed = drop_detector();
        changed[0]["below"] = json!(2);
        let configs = from_tables(changed.as_array().unwrap()).unwrap();
        let (p2, notes) = Pipeline::restore(configs, &saved).unwrap();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("configuration changed"), "{notes:?}");
        assert_eq!(p2.keys().next().unwrap().1, 0);
        let err = Pipeline::restore(vec![], b"not state").err().unwrap();
        assert!(err.contains("unreadable"), "{err}");
    }

    #[test]
    fn late_refused_and_idle_events_are_counted() {
        let mut p = pipeline(
            json!([{"name": "c", "event_type": "x", "key": "/k", "count": "10s",
            "every": "5s", "max_keys": 2, "idle": "1m", "algorithm": "threshold", "above": 100}]),
        );
        feed(
            &mut p,
            &[
                (100, "x", json!({"k": "a"})),
                (101, "x", json!({"k": "b"})),
                (102, "x", json!({"k": "c"})),
                (80, "x", json!({"k": "a"})),
                (96, "x", json!({"k": "a"})),
                (300, "y", json!({})),
            ],
        );
        let stats = p.stats().next().unwrap().1.clone();
        assert_eq!(stats.refused, 1, "{stats:?}");
        assert_eq!(
            stats.late, 1,
            "80 s is older than the window at 100 s; 96 s is in it: {stats:?}"
        );
        assert_eq!(stats.evicted, 2, "{stats:?}");
        assert_eq!(p.keys().next().unwrap().1, 0);
    }
}
