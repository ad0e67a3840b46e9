//! The BERT encoder of all-MiniLM-L6-v2 for inference, one text at a time:
//! embeddings, then self-attention and feed-forward layers, each followed by
//! a residual sum and layer norm (the layout of Hugging Face's
//! `modeling_bert.py` and of candle-transformers' `bert.rs`, which this
//! follows, without dropout or masks, texts packed without padding). Owns the config it accepts
//! and the weights' names; must never accept a config it does not compute
//! (an activation other than exact GELU, a position scheme other than
//! absolute).

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{embedding, layer_norm, linear, Embedding, LayerNorm, Linear, VarBuilder};
use serde::Deserialize;

/// The fields of config.json the encoder uses; others are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    #[serde(default = "absolute")]
    pub position_embedding_type: String,
}

fn absolute() -> String {
    "absolute".to_owned()
}

impl Config {
    /// Why this encoder cannot run the config, if it cannot.
    pub fn unsupported(&self) -> Option<String> {
        if self.hidden_act != "gelu" {
            return Some(format!("hidden_act {:?} (only \"gelu\")", self.hidden_act));
        }
        if self.position_embedding_type != "absolute" {
            return Some(format!(
                "position_embedding_type {:?} (only \"absolute\")",
                self.position_embedding_type
            ));
        }
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Some(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        None
    }
}

/// Where one layer's weights are in the safetensors file; with
/// [`EmbeddingWeights`], the one place their names are written (both
/// encoders read them from here).
pub(super) struct LayerWeights<'a> {
    pub query: VarBuilder<'a>,
    pub key: VarBuilder<'a>,
    pub value: VarBuilder<'a>,
    pub attention_out: VarBuilder<'a>,
    pub attention_norm: VarBuilder<'a>,
    pub intermediate: VarBuilder<'a>,
    pub output: VarBuilder<'a>,
    pub output_norm: VarBuilder<'a>,
}

/// Layer `i`'s weights (`encoder.layer.i.*`).
pub(super) fn layer_weights<'a>(vb: &VarBuilder<'a>, i: usize) -> LayerWeights<'a> {
    let l = vb.pp(format!("encoder.layer.{i}"));
    let a = l.pp("attention");
    LayerWeights {
        query: a.pp("self.query"),
        key: a.pp("self.key"),
        value: a.pp("self.value"),
        attention_out: a.pp("output.dense"),
        attention_norm: a.pp("output.LayerNorm"),
        intermediate: l.pp("intermediate.dense"),
        output: l.pp("output.dense"),
        output_norm: l.pp("output.LayerNorm"),
    }
}

/// Where the embedding tables and their norm are (`embeddings.*`).
pub(super) struct EmbeddingWeights<'a> {
    pub words: VarBuilder<'a>,
    pub positions: VarBuilder<'a>,
    pub token_types: VarBuilder<'a>,
    pub norm: VarBuilder<'a>,
}

pub(super) fn embedding_weights<'a>(vb: &VarBuilder<'a>) -> EmbeddingWeights<'a> {
    let e = vb.pp("embeddings");
    EmbeddingWeights {
        words: e.pp("word_embeddings"),
        positions: e.pp("position_embeddings"),
        token_types: e.pp("token_type_embeddings"),
        norm: e.pp("LayerNorm"),
    }
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

pub struct Bert {
    words: Embedding,
    positions: Embedding,
    token_types: Embedding,
    embeddings_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_size: usize,
    device: Device,
}

impl Bert {
    /// The encoder from weights named as in the model's safetensors file
    /// (`embeddings.*`, `encoder.layer.N.*`, no `bert.` prefix).
    pub fn load(vb: VarBuilder, cfg: &Config) -> candle_core::Result<Self> {
        let h = cfg.hidden_size;
        let eps = cfg.layer_norm_eps;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let w = layer_weights(&vb, i);
            layers.push(Layer {
                query: linear(h, h, w.query)?,
                key: linear(h, h, w.key)?,
                value: linear(h, h, w.value)?,
                attention_out: linear(h, h, w.attention_out)?,
                attention_norm: layer_norm(h, eps, w.attention_norm)?,
                intermediate: linear(h, cfg.intermediate_size, w.intermediate)?,
                output: linear(cfg.intermediate_size, h, w.output)?,
                output_norm: layer_norm(h, eps, w.output_norm)?,
            });
        }
        let e = embedding_weights(&vb);
        Ok(Self {
            words: embedding(cfg.vocab_size, h, e.words)?,
            positions: embedding(cfg.max_position_embeddings, h, e.positions)?,
            token_types: embedding(cfg.type_vocab_size, h, e.token_types)?,
            embeddings_norm: layer_norm(h, eps, e.norm)?,
            layers,
            heads: cfg.num_attention_heads,
            head_size: h / cfg.num_attention_heads,
            device: vb.device().clone(),
        })
    }

    /// The token vectors of several texts at once, packed: the rows of
    /// `texts[0]`'s tokens, then `texts[1]`'s, and so on (sum of tokens ×
    /// hidden). Every layer but attention works token by token, so the
    /// texts' tokens go through them as one matrix, without padding (larger
    /// matrix products run nearer the CPU's peak than a text's few rows);
    /// attention runs per text, on its own rows. Every token is attended,
    /// token type 0 throughout.
    pub fn forward(&self, texts: &[Vec<u32>]) -> candle_core::Result<Tensor> {
        let lengths: Vec<usize> = texts.iter().map(Vec::len).collect();
        let total: usize = lengths.iter().sum();
        let ids: Vec<u32> = texts.concat();
        let positions: Vec<u32> = lengths.iter().flat_map(|&n| 0..n as u32).collect();
        let ids = Tensor::new(ids.as_slice(), &self.device)?;
        let positions = Tensor::new(positions.as_slice(), &self.device)?;
        let types = Tensor::zeros(total, DType::U32, &self.device)?;
        let x = ((self.words.forward(&ids)? + self.positions.forward(&positions)?)?
            + self.token_types.forward(&types)?)?;
        let mut x = self.embeddings_norm.forward(&x)?;
        let scale = 1.0 / (self.head_size as f64).sqrt();
        for layer in &self.layers {
            let (q, k, v) = (
                layer.query.forward(&x)?,
                layer.key.forward(&x)?,
                layer.value.forward(&x)?,
            );
            let mut contexts = Vec::with_capacity(lengths.len());
            let mut start = 0;
            for &n in &lengths {
                // (tokens, hidden) -> (heads, tokens, head_size)
                let split = |t: &Tensor| -> candle_core::Result<Tensor> {
                    t.narrow(0, start, n)?
                        .reshape((n, self.heads, self.head_size))?
                        .transpose(0, 1)?
                        .contiguous()
                };
                let (q, k, v) = (split(&q)?, split(&k)?, split(&v)?);
                let scores = (q.matmul(&k.t()?)? * scale)?;
                let probs = candle_nn::ops::softmax_last_dim(&scores)?;
                contexts.push(
                    probs
                        .matmul(&v)?
                        .transpose(0, 1)?
                        .contiguous()?
                        .reshape((n, self.heads * self.head_size))?,
                );
                start += n;
            }
            let context = Tensor::cat(&contexts, 0)?;
            let attended = layer
                .attention_norm
                .forward(&(layer.attention_out.forward(&context)? + &x)?)?;
            let inner = layer.intermediate.forward(&attended)?.gelu_erf()?;
            x = layer
                .output_norm
                .forward(&(layer.output.forward(&inner)? + &attended)?)?;
        }
        Ok(x)
    }
}
