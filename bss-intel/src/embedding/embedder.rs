//! Text in, a unit vector out: the tokenizer and the encoder of
//! all-MiniLM-L6-v2 loaded from the folder `scripts/intel_data.sh` fills,
//! and sentence-transformers' pooling (the mean of the token vectors) and
//! normalisation. Owns the model's files and the tokenizer's settings.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use tokenizers::{Tokenizer, TruncationParams};

use super::bert::{Bert, Config};
use super::error::ModelError;
use super::int8::Int8Bert;

/// Where `scripts/intel_data.sh` puts the model, from the repository's root.
pub const MODEL_DIR_IN_REPOSITORY: &str = "target/intel/minilm";

/// sentence-transformers' `max_seq_length` for this model: longer texts are
/// cut to their first 256 tokens (special tokens included).
pub const MAX_TOKENS: usize = 256;

const WEIGHTS: &str = "model.safetensors";
const CONFIG: &str = "config.json";
const TOKENIZER: &str = "tokenizer.json";

/// How the encoder's matrix products are computed (`"auto"`, `"int8"`,
/// `"f32"` in configuration files and on command lines: [`Precision::name`]
/// is the one place they are spelt).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum Precision {
    /// int8 where the CPU has AVX-512 VNNI (its kernel), else f32.
    #[default]
    Auto,
    /// In 8-bit integers (weights per output, inputs per row): about three
    /// times faster than f32 on one core with AVX-512 VNNI, vectors within
    /// a cosine of 0.99 of f32's; the same numbers on every CPU (without
    /// VNNI through a portable loop, several times slower than f32).
    Int8,
    /// In f32 with candle, as the model was trained: the reference.
    F32,
}

impl Precision {
    const ALL: [Precision; 3] = [Precision::Auto, Precision::Int8, Precision::F32];

    pub fn name(self) -> &'static str {
        match self {
            Precision::Auto => "auto",
            Precision::Int8 => "int8",
            Precision::F32 => "f32",
        }
    }

    /// `Int8` or `F32`: what `Auto` is on this CPU.
    pub fn resolve(self) -> Precision {
        match self {
            Precision::Auto if super::int8::fast_on_this_cpu() => Precision::Int8,
            Precision::Auto => Precision::F32,
            given => given,
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Precision::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<String> = Precision::ALL
                    .iter()
                    .map(|p| format!("{:?}", p.name()))
                    .collect();
                format!("precision {s:?}: expected one of {}", names.join(", "))
            })
    }
}

impl TryFrom<String> for Precision {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

enum Encoder {
    F32(Bert),
    Int8(Int8Bert),
}

/// The loaded model; `embed` takes `&self`, so one serves many callers.
pub struct Embedder {
    tokenizer: Tokenizer,
    encoder: Encoder,
    dimensions: usize,
    /// The threads the matrix products run on ([`Embedder::with_pool`]);
    /// None: rayon's global pool, one thread per core.
    pool: Option<rayon::ThreadPool>,
}

fn existing(dir: &Path, name: &str) -> Result<PathBuf, ModelError> {
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(ModelError::Missing { path })
    }
}

fn load_error(path: &Path, reason: impl ToString) -> ModelError {
    ModelError::Load {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

impl Embedder {
    /// Loads `model.safetensors`, `config.json` and `tokenizer.json` from
    /// `dir` (in this repository, [`MODEL_DIR_IN_REPOSITORY`]), to compute
    /// in the default [`Precision`].
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, ModelError> {
        Self::from_dir_in(dir, Precision::default())
    }

    /// As [`Embedder::from_dir`], in `precision`.
    pub fn from_dir_in(dir: impl AsRef<Path>, precision: Precision) -> Result<Self, ModelError> {
        let dir = dir.as_ref();
        let (weights, config, tokenizer) = (
            existing(dir, WEIGHTS)?,
            existing(dir, CONFIG)?,
            existing(dir, TOKENIZER)?,
        );
        let text = std::fs::read_to_string(&config).map_err(|e| load_error(&config, e))?;
        let cfg: Config = serde_json::from_str(&text).map_err(|e| load_error(&config, e))?;
        if let Some(why) = cfg.unsupported() {
            return Err(load_error(&config, format!("unsupported model: {why}")));
        }
        let mut tok = Tokenizer::from_file(&tokenizer).map_err(|e| load_error(&tokenizer, e))?;
        // The file pads every input to 128 tokens and cuts at 128; the
        // model as sentence-transformers runs it does neither.
        tok.with_padding(None);
        tok.with_truncation(Some(TruncationParams {
            max_length: MAX_TOKENS,
            ..Default::default()
        }))
        .map_err(|e| load_error(&tokenizer, e))?;
        let bytes = std::fs::read(&weights).map_err(|e| load_error(&weights, e))?;
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &Device::Cpu)
            .map_err(|e| load_error(&weights, e))?;
        let encoder = match precision.resolve() {
            Precision::Int8 => Int8Bert::load(vb, &cfg).map(Encoder::Int8),
            _ => Bert::load(vb, &cfg).map(Encoder::F32),
        }
        .map_err(|e| load_error(&weights, e))?;
        Ok(Self {
            tokenizer: tok,
            encoder,
            dimensions: cfg.hidden_size,
            pool: None,
        })
    }

    /// Runs the model's matrix products on `pool` (candle's otherwise use
    /// rayon's global pool, a thread per core), so a service beside a
    /// database can bound and deprioritise them. (The int8 encoder runs on
    /// one thread: the caller's, or one of `pool`'s.)
    pub fn with_pool(mut self, pool: rayon::ThreadPool) -> Self {
        self.pool = Some(pool);
        self
    }

    /// The precision it computes in (`Int8` or `F32`, never `Auto`).
    pub fn precision(&self) -> Precision {
        match self.encoder {
            Encoder::Int8(_) => Precision::Int8,
            Encoder::F32(_) => Precision::F32,
        }
    }

    /// How many numbers a vector has (384).
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// The token ids of `text` as the model sees them ([CLS] ... [SEP]).
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| ModelError::Inference(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text's embedding: the mean of its token vectors, scaled to
    /// length 1.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, ModelError> {
        Ok(self.embed_many(&[text])?.remove(0))
    }

    /// The embeddings of several texts, computed together (cheaper per
    /// text than one at a time; the same vectors up to float rounding).
    pub fn embed_many<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>, ModelError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let ids = texts
            .iter()
            .map(|t| self.token_ids(t.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let encode = || -> Result<Vec<f32>, ModelError> {
            Ok(match &self.encoder {
                Encoder::Int8(bert) => bert.forward(&ids),
                Encoder::F32(bert) => bert.forward(&ids)?.flatten_all()?.to_vec1()?,
            })
        };
        let tokens = match &self.pool {
            Some(pool) => pool.install(encode)?,
            None => encode()?,
        };
        let d = self.dimensions;
        let mut out = Vec::with_capacity(ids.len());
        let mut start = 0;
        for text in &ids {
            let rows = &tokens[start * d..(start + text.len()) * d];
            let mut mean = vec![0.0f32; d];
            for row in rows.chunks_exact(d) {
                for (m, v) in mean.iter_mut().zip(row) {
                    *m += v;
                }
            }
            let n = text.len() as f32;
            mean.iter_mut().for_each(|m| *m /= n);
            let norm = mean.iter().map(|m| m * m).sum::<f32>().sqrt();
            mean.iter_mut().for_each(|m| *m /= norm);
            out.push(mean);
            start += text.len();
        }
        Ok(out)
    }
}

/// The cosine of two vectors (their dot product when both have length 1).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}
