//! Sentence embeddings: all-MiniLM-L6-v2 run in Rust, as
//! sentence-transformers runs it (its `modules.json`: the BERT, then the
//! mean of its token vectors, then L2 normalisation), 384 numbers per text.
//! Owns loading the model's files (fetched by `scripts/intel_data.sh`, never
//! committed), the tokenizer's settings and the encoder's forward pass;
//! knows nothing of what the vectors are used for (classify.rs, ask).
//!
//! Must never pad or truncate differently from sentence-transformers
//! (padding off, at most 256 tokens): the vectors would drift from the
//! reference values the tests pin.
//!
//! ```no_run
//! use bss_intel::embedding::{Embedder, MODEL_DIR_IN_REPOSITORY};
//!
//! let embedder = Embedder::from_dir(MODEL_DIR_IN_REPOSITORY)?;
//! let v = embedder.embed("No signal at home since Monday")?;
//! assert_eq!(v.len(), 384);
//! # Ok::<(), bss_intel::embedding::ModelError>(())
//! ```

mod bert;
mod embedder;
mod error;
mod int8;

pub use embedder::{cosine, Embedder, Precision, MAX_TOKENS, MODEL_DIR_IN_REPOSITORY};
pub use error::ModelError;
