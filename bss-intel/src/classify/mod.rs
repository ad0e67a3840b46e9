//! Ticket classification: a linear classifier (multinomial logistic
//! regression) over the sentence embeddings of `crate::embedding`, trained
//! by `bss-intel train` on labelled examples and saved as one JSON file.
//! Owns the training (deterministic: same examples, same file, bit for bit),
//! the file's format and prediction; must never embed text itself (callers
//! pass vectors) or decide what happens to a ticket (routing.rs does).

mod logistic;
mod metrics;
mod model;

pub use logistic::{train, Training};
pub use metrics::{ClassScore, Scores};
pub use model::{Classifier, ClassifierError, Prediction, TrainedOn};
