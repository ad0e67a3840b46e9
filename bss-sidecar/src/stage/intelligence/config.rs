//! Owns the `[intelligence]` table of the sidecar's configuration: which
//! events carry free text to classify, where the models and rules are, and
//! the bounds the stage works in. Must refuse, naming the setting, what the
//! stage could not use, before anything starts; never load a model itself.

use std::path::PathBuf;
use std::time::Duration;

use bss_intel::embedding::Precision;
use serde::Deserialize;

/// The `[intelligence]` table, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntelligenceConfig {
    /// The folder `scripts/intel_data.sh` fills (`minilm/`, `vader/`) and
    /// `bss-intel train` writes `classifier.json` to.
    pub data_dir: PathBuf,
    /// The classifier (default: `data_dir/classifier.json`).
    #[serde(default)]
    pub classifier: Option<PathBuf>,
    /// Routing rules (default: the ones bss-intel ships, its routing.toml).
    #[serde(default)]
    pub rules: Option<PathBuf>,
    /// Types of the events to classify; each gets a `<prefix>.classified`
    /// event in its stream (`ticket.opened` → `ticket.classified`).
    #[serde(default = "default_types")]
    pub types: Vec<String>,
    /// JSON pointer to the free text in the event's data.
    #[serde(default = "default_text")]
    pub text: String,
    /// JSON pointer to the customer's stream id in the event's data: the
    /// customer's `segment` and `plan` are read from that stream's events.
    #[serde(default = "default_customer")]
    pub customer: String,
    /// Most events waiting for the model. The stage reads on from the
    /// spool only as the model makes room, for at most `max_wait_ms` after
    /// an event's commit: an event that finds the backlog still full then
    /// is routed at once without a class (on sentiment, segment, plan and
    /// anomalies). So the time to a route stays bounded when the model
    /// cannot keep up, and a short catch-up after a restart still gets it.
    #[serde(default = "default_max_backlog")]
    pub max_backlog: usize,
    /// How long after its commit an event may wait for room in the backlog.
    #[serde(default = "default_max_wait_ms")]
    pub max_wait_ms: u64,
    /// How the model computes: `"auto"` (int8 where the CPU has AVX-512
    /// VNNI, else f32), `"int8"` or `"f32"`. Train the classifier in the
    /// same precision (the stage warns at start when it was not).
    #[serde(default)]
    pub precision: Precision,
    /// Texts embedded together (fewer, larger matrix products).
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Threads the model may use; the rest of the machine is PostgreSQL's.
    /// (int8 uses one.)
    #[serde(default = "default_threads")]
    pub threads: usize,
    /// The nice value of the model's threads (0 to 19): PostgreSQL, the
    /// sinks and the rest of the sidecar get the CPU first.
    #[serde(default = "default_model_nice")]
    pub model_nice: i32,
    /// The share of a core the model may use on average, 0 < x <= 1:
    /// after a batch that took t, the model pauses t * (1 - x) / x. Bounds
    /// it whatever the scheduler does (with autogroup, the default on
    /// Debian, a thread's nice value weighs only against the threads of
    /// its own session, not against PostgreSQL's). With `threads` above 1,
    /// up to `threads` times this.
    #[serde(default = "default_model_cpu")]
    pub model_cpu: f64,
    /// How far back anomalies count as recent for routing
    /// (`anomalies_at_least`).
    #[serde(default = "default_anomaly_window_secs")]
    pub anomaly_window_secs: u64,
    /// How often the waiting events are saved (and the stage's spool
    /// cursor moved).
    #[serde(default = "default_checkpoint_secs")]
    pub checkpoint_secs: u64,
}

fn default_types() -> Vec<String> {
    vec!["ticket.opened".to_owned()]
}
fn default_text() -> String {
    "/text".to_owned()
}
fn default_customer() -> String {
    "/customer_id".to_owned()
}
/// About 0.15 s of the model's work at 4.5 ms a ticket (int8) on one quiet
/// core of the 2-core test machine, 0.6 s at `model_cpu` 0.25: with
/// max_wait_ms, a ticket is routed within about two seconds of its commit,
/// by the model while it keeps up.
fn default_max_backlog() -> usize {
    32
}
fn default_max_wait_ms() -> u64 {
    1000
}
fn default_batch() -> usize {
    16
}
fn default_threads() -> usize {
    1
}
fn default_model_nice() -> i32 {
    10
}
fn default_model_cpu() -> f64 {
    0.25
}
fn default_anomaly_window_secs() -> u64 {
    3600
}
fn default_checkpoint_secs() -> u64 {
    1
}

/// What a classified event of type `event_type` is called.
pub fn classified_type(event_type: &str) -> String {
    let prefix = event_type
        .rsplit_once('.')
        .map_or(event_type, |(prefix, _)| prefix);
    format!("{prefix}.classified")
}

impl IntelligenceConfig {
    pub fn classifier_path(&self) -> PathBuf {
        self.classifier
            .clone()
            .unwrap_or_else(|| self.data_dir.join("classifier.json"))
    }

    pub fn checkpoint_every(&self) -> Duration {
        Duration::from_secs(self.checkpoint_secs)
    }

    pub fn max_wait(&self) -> Duration {
        Duration::from_millis(self.max_wait_ms)
    }

    /// How long the model pauses after a batch that took `busy`.
    pub fn model_pause(&self, busy: Duration) -> Duration {
        busy.mul_f64((1.0 - self.model_cpu) / self.model_cpu)
    }

    pub fn anomaly_window(&self) -> Duration {
        Duration::from_secs(self.anomaly_window_secs)
    }

    /// Refuses what the stage could not run with, naming the setting.
    /// Looks for the files, does not load them.
    pub fn check(&self) -> Result<(), String> {
        if self.types.is_empty() {
            return Err("types is empty: name the event types to classify".into());
        }
        for t in &self.types {
            if t.ends_with(".classified") {
                return Err(format!(
                    "types: {t:?} is what the stage appends; classifying it would feed the stage its own events"
                ));
            }
        }
        for (name, pointer) in [("text", &self.text), ("customer", &self.customer)] {
            if !pointer.starts_with('/') {
                return Err(format!(
                    "{name} = {pointer:?} is not a JSON pointer (e.g. \"/text\")"
                ));
            }
        }
        for (name, n) in [
            ("max_backlog", self.max_backlog),
            ("batch", self.batch),
            ("threads", self.threads),
        ] {
            if n == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        if self.checkpoint_secs == 0 {
            return Err("checkpoint_secs must be at least 1".into());
        }
        if !(0..=19).contains(&self.model_nice) {
            return Err(format!("model_nice = {}: want 0 to 19", self.model_nice));
        }
        if !(self.model_cpu > 0.0 && self.model_cpu <= 1.0) {
            return Err(format!(
                "model_cpu = {}: want a share of a core above 0 and at most 1",
                self.model_cpu
            ));
        }
        let needed = [
            (
                "data_dir",
                self.data_dir.join("minilm").join("model.safetensors"),
                "run scripts/intel_data.sh",
            ),
            (
                "data_dir",
                self.data_dir.join("vader").join("vader_lexicon.txt"),
                "run scripts/intel_data.sh",
            ),
            (
                "classifier",
                self.classifier_path(),
                "train one with bss-intel train (make intel-classifier)",
            ),
        ];
        for (name, path, hint) in needed {
            if !path.is_file() {
                return Err(format!(
                    "{name}: {} does not exist ({hint})",
                    path.display()
                ));
            }
        }
        if let Some(rules) = &self.rules {
            bss_intel::routing::Rules::load(rules).map_err(|e| format!("rules: {e}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_classified_event_is_named_after_the_type_it_classifies() {
        assert_eq!(classified_type("ticket.opened"), "ticket.classified");
        assert_eq!(classified_type("crm.case.filed"), "crm.case.classified");
        assert_eq!(classified_type("complaint"), "complaint.classified");
    }

    /// `model_cpu` as TOML writes it (`nan` too).
    fn with_model_cpu(model_cpu: &str) -> IntelligenceConfig {
        toml::from_str(&format!("data_dir = \"/nowhere\"\nmodel_cpu = {model_cpu}")).unwrap()
    }

    #[test]
    fn the_model_pauses_so_that_it_runs_its_share_of_the_time() {
        let busy = Duration::from_millis(100);
        assert_eq!(
            with_model_cpu("0.25").model_pause(busy),
            Duration::from_millis(300)
        );
        assert_eq!(with_model_cpu("0.5").model_pause(busy), busy);
        assert_eq!(with_model_cpu("1.0").model_pause(busy), Duration::ZERO);
    }

    #[test]
    fn a_share_of_a_core_outside_0_to_1_is_refused_by_name() {
        for bad in ["0.0", "-0.5", "1.5", "nan"] {
            let err = with_model_cpu(bad).check().unwrap_err();
            assert!(err.starts_with("model_cpu = "), "{err}");
        }
    }

    #[test]
    fn precision_is_auto_unless_set_and_an_unknown_one_is_refused_by_name() {
        let cfg = |extra: &str| {
            toml::from_str::<IntelligenceConfig>(&format!("data_dir = \"/x\"\n{extra}"))
        };
        assert_eq!(cfg("").unwrap().precision, Precision::Auto);
        assert_eq!(
            cfg("precision = \"f32\"").unwrap().precision,
            Precision::F32
        );
        assert_eq!(
            cfg("precision = \"int8\"").unwrap().precision,
            Precision::Int8
        );
        let err = cfg("precision = \"fp16\"").unwrap_err().to_string();
        assert!(err.contains("fp16") && err.contains("int8"), "{err}");
    }
}
