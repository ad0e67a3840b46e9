//! A trained classifier as `bss-intel train` writes it: the classes, what
//! it was trained on, and the weights; loaded and applied to embeddings.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::logistic::{self, Training};

/// The file format's version; a file of another is refused.
const FORMAT: u32 = 1;

/// What the classifier was trained on, kept in its file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainedOn {
    /// How many labelled examples, and of each class (in `labels`' order).
    pub examples: usize,
    pub per_class: Vec<usize>,
    /// The sha256 of the embedding model's weights the vectors came from.
    pub embedding_sha256: String,
    /// The precision the model computed them in (`int8`, `f32`; files
    /// written before int8 existed were f32).
    #[serde(default = "f32_precision")]
    pub embedding_precision: String,
    /// Where the examples came from (e.g. the generator's command and seed).
    pub source: String,
    pub training: Training,
}

fn f32_precision() -> String {
    "f32".to_owned()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Classifier {
    format: u32,
    labels: Vec<String>,
    trained_on: TrainedOn,
    weights: Vec<Vec<f64>>,
    bias: Vec<f64>,
}

/// The class of one text and how sure the classifier is (its probability).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    pub class: String,
    pub confidence: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    #[error("{path} is missing: train one with `bss-intel train` (make intel-classifier)")]
    Missing { path: PathBuf },
    #[error("cannot read the classifier {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("cannot train: {0}")]
    Training(String),
}

impl Classifier {
    /// Trains on `(embedding, label)` examples, embedded by the model whose
    /// weights have `embedding_sha256` in `embedding_precision`; the
    /// classes are the labels seen, sorted.
    pub fn train(
        examples: &[(Vec<f32>, String)],
        embedding_sha256: &str,
        embedding_precision: &str,
        source: &str,
        training: Training,
    ) -> Result<Self, ClassifierError> {
        let mut labels: Vec<String> = examples.iter().map(|(_, l)| l.clone()).collect();
        labels.sort();
        labels.dedup();
        if labels.len() < 2 {
            return Err(ClassifierError::Training(format!(
                "{} examples with {} class(es): at least two classes are needed",
                examples.len(),
                labels.len()
            )));
        }
        let dims = examples[0].0.len();
        if let Some((v, l)) = examples.iter().find(|(v, _)| v.len() != dims) {
            return Err(ClassifierError::Training(format!(
                "an example of class {l} has {} numbers, the first has {dims}",
                v.len()
            )));
        }
        let ys: Vec<usize> = examples
            .iter()
            .map(|(_, l)| labels.binary_search(l).expect("a label of the examples"))
            .collect();
        let xs: Vec<Vec<f32>> = examples.iter().map(|(v, _)| v.clone()).collect();
        let mut per_class = vec![0; labels.len()];
        ys.iter().for_each(|&y| per_class[y] += 1);
        let (weights, bias) = logistic::train(&xs, &ys, labels.len(), dims, training);
        Ok(Classifier {
            format: FORMAT,
            trained_on: TrainedOn {
                examples: examples.len(),
                per_class,
                embedding_sha256: embedding_sha256.to_owned(),
                embedding_precision: embedding_precision.to_owned(),
                source: source.to_owned(),
                training,
            },
            labels,
            weights,
            bias,
        })
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn trained_on(&self) -> &TrainedOn {
        &self.trained_on
    }

    /// Why embeddings computed in `precision` are not what this classifier
    /// was trained on, if they are not: it still works (the precisions'
    /// vectors are within a cosine of 0.99), but its measured accuracy was
    /// measured on the other.
    pub fn precision_differs(&self, precision: &str) -> Option<String> {
        let trained = &self.trained_on.embedding_precision;
        (trained != precision).then(|| {
            format!(
                "the classifier was trained on {trained} embeddings and is given {precision} ones: \
                 train it again in this precision (make intel-classifier) for the accuracy it was measured at"
            )
        })
    }

    /// The most probable class of an embedding, and its probability.
    pub fn predict(&self, embedding: &[f32]) -> Prediction {
        let mut p = vec![0.0; self.labels.len()];
        logistic::probabilities(&self.weights, &self.bias, embedding, &mut p);
        let best = (0..p.len())
            .max_by(|&i, &j| p[i].total_cmp(&p[j]).then(j.cmp(&i)))
            .expect("at least two classes");
        Prediction {
            class: self.labels[best].clone(),
            confidence: p[best],
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a classifier serializes")
    }

    pub fn load(path: &Path) -> Result<Self, ClassifierError> {
        let unreadable = |reason: String| ClassifierError::Unreadable {
            path: path.to_owned(),
            reason,
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ClassifierError::Missing {
                    path: path.to_owned(),
                })
            }
            Err(e) => return Err(unreadable(e.to_string())),
        };
        let c: Classifier = serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
        if c.format != FORMAT {
            return Err(unreadable(format!(
                "format {} (this bss-intel reads {FORMAT}): train it again",
                c.format
            )));
        }
        let dims = c.weights.first().map_or(0, Vec::len);
        if c.labels.len() < 2
            || c.weights.len() != c.labels.len()
            || c.bias.len() != c.labels.len()
            || c.weights.iter().any(|row| row.len() != dims)
        {
            return Err(unreadable(format!(
                "{} labels, {} weight rows, {} biases: they must match (and be at least 2)",
                c.labels.len(),
                c.weights.len(),
                c.bias.len()
            )));
        }
        Ok(c)
    }

    /// How many numbers an embedding must have.
    pub fn dimensions(&self) -> usize {
        self.weights[0].len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples() -> Vec<(Vec<f32>, String)> {
        (0..40)
            .map(|k| {
                let (v, l) = match k % 2 {
                    0 => (vec![1.0, 0.1 * (k as f32).sin()], "billing"),
                    _ => (vec![0.1 * (k as f32).cos(), 1.0], "network"),
                };
                (v, l.to_owned())
            })
            .collect()
    }

    #[test]
    fn trains_saves_loads_and_predicts_the_same() {
        let c = Classifier::train(&examples(), "abc", "int8", "test", Training::default()).unwrap();
        assert_eq!(c.labels(), ["billing", "network"]);
        assert_eq!(c.trained_on().per_class, [20, 20]);
        assert_eq!(c.precision_differs("int8"), None);
        let warning = c.precision_differs("f32").unwrap();
        assert!(
            warning.contains("trained on int8 embeddings and is given f32"),
            "{warning}"
        );
        let dir = std::env::temp_dir().join(format!("bss-intel-model-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("classifier.json");
        std::fs::write(&path, c.to_json()).unwrap();
        let loaded = Classifier::load(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let p = loaded.predict(&[0.9, 0.05]);
        assert_eq!(p.class, "billing");
        assert!(p.confidence > 0.5);
        assert_eq!(p, c.predict(&[0.9, 0.05]));
    }

    #[test]
    fn one_class_or_ragged_vectors_are_refused() {
        let one: Vec<_> = examples()
            .into_iter()
            .filter(|(_, l)| l == "billing")
            .collect();
        let err = Classifier::train(&one, "", "", "", Training::default()).unwrap_err();
        assert!(err.to_string().contains("at least two classes"), "{err}");
        let mut ragged = examples();
        ragged[3].0.push(0.0);
        let err = Classifier::train(&ragged, "", "", "", Training::default()).unwrap_err();
        assert!(err.to_string().contains("has 3 numbers"), "{err}");
    }

    #[test]
    fn a_missing_or_malformed_file_says_what_to_do() {
        let err = Classifier::load(Path::new("/nonexistent/classifier.json")).unwrap_err();
        assert!(err.to_string().contains("bss-intel train"), "{err}");
        let dir = std::env::temp_dir().join(format!("bss-intel-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.json");
        let mut c = Classifier::train(&examples(), "", "", "", Training::default()).unwrap();
        c.bias.pop();
        std::fs::write(&path, c.to_json()).unwrap();
        let err = Classifier::load(&path).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err.to_string().contains("must match"), "{err}");
    }
}
