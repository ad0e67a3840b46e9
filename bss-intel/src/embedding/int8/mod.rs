//! The same BERT encoder as `bert.rs`, its six matrix products per layer
//! in 8-bit integers (`linear.rs`; the AVX-512 VNNI kernel in `vnni.rs`
//! where the CPU has it, the portable loop elsewhere, the same numbers on
//! both) and everything else in f32 in plain loops (`ops.rs`), without a
//! tensor library between the steps: at BERT's short inputs the
//! allocations and passes of a general one cost as much as the products.
//!
//! Owns the forward pass of the quantized encoder and the buffers it
//! reuses; reads the weights through candle's `VarBuilder` under the names
//! `bert.rs` uses. Must never compute attention, GELU or layer norm
//! differently from `bert.rs` (only the products' rounding differs: the
//! tests hold the two encoders' vectors together).

mod linear;
mod ops;
#[cfg(target_arch = "x86_64")]
mod vnni;

use candle_nn::VarBuilder;

use self::linear::{Int8Linear, QuantizedRows};
use super::bert::{embedding_weights, layer_weights, Config};

/// Whether this CPU runs the int8 kernel (else the portable loop, several
/// times slower than candle's f32).
pub fn fast_on_this_cpu() -> bool {
    #[cfg(target_arch = "x86_64")]
    return vnni::available();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

struct Layer {
    /// Query, key and value in one product: outputs 0..h, h..2h, 2h..3h.
    qkv: Int8Linear,
    attention_out: Int8Linear,
    attention_norm: Norm,
    intermediate: Int8Linear,
    output: Int8Linear,
    output_norm: Norm,
}

pub struct Int8Bert {
    hidden: usize,
    heads: usize,
    eps: f32,
    words: Vec<f32>,
    positions: Vec<f32>,
    token_type: Vec<f32>,
    embeddings_norm: Norm,
    layers: Vec<Layer>,
}

fn tensor(vb: &VarBuilder, shape: &[usize], name: &str) -> candle_core::Result<Vec<f32>> {
    vb.get(shape, name)?.flatten_all()?.to_vec1::<f32>()
}

fn norm(vb: VarBuilder, h: usize) -> candle_core::Result<Norm> {
    Ok(Norm {
        gamma: tensor(&vb, &[h], "weight")?,
        beta: tensor(&vb, &[h], "bias")?,
    })
}

/// The weights of one or more dense layers of the same input width,
/// stacked by output, quantized.
fn dense(parts: &[VarBuilder], inputs: usize, outputs: usize) -> candle_core::Result<Int8Linear> {
    let (mut w, mut b) = (Vec::new(), Vec::new());
    for vb in parts {
        w.extend(tensor(vb, &[outputs, inputs], "weight")?);
        b.extend(tensor(vb, &[outputs], "bias")?);
    }
    Int8Linear::new(&w, &b, inputs, outputs * parts.len()).map_err(candle_core::Error::msg)
}

/// The buffers of a forward pass, kept by each thread between passes (a
/// batch's are megabytes: allocated afresh, their pages would be faulted
/// in on every pass).
#[derive(Default)]
struct Scratch {
    quantized: QuantizedRows,
    qkv: Vec<f32>,
    context: Vec<f32>,
    attended: Vec<f32>,
    inner: Vec<f32>,
    output: Vec<f32>,
    scores: Vec<f32>,
}

impl Int8Bert {
    /// The quantized encoder from the weights `bert.rs` loads.
    pub fn load(vb: VarBuilder, cfg: &Config) -> candle_core::Result<Self> {
        let h = cfg.hidden_size;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let w = layer_weights(&vb, i);
            layers.push(Layer {
                qkv: dense(&[w.query, w.key, w.value], h, h)?,
                attention_out: dense(&[w.attention_out], h, h)?,
                attention_norm: norm(w.attention_norm, h)?,
                intermediate: dense(&[w.intermediate], h, cfg.intermediate_size)?,
                output: dense(&[w.output], cfg.intermediate_size, h)?,
                output_norm: norm(w.output_norm, h)?,
            });
        }
        let e = embedding_weights(&vb);
        let token_types = tensor(&e.token_types, &[cfg.type_vocab_size, h], "weight")?;
        Ok(Self {
            hidden: h,
            heads: cfg.num_attention_heads,
            eps: cfg.layer_norm_eps as f32,
            words: tensor(&e.words, &[cfg.vocab_size, h], "weight")?,
            positions: tensor(&e.positions, &[cfg.max_position_embeddings, h], "weight")?,
            token_type: token_types[..h].to_vec(),
            embeddings_norm: norm(e.norm, h)?,
            layers,
        })
    }

    /// The token vectors of several texts, packed as `bert.rs` returns
    /// them (sum of tokens × hidden, row-major). The float steps are
    /// compiled twice, for AVX2 and for any x86-64 (or other CPU), and give
    /// the same numbers (`ops.rs`).
    pub fn forward(&self, texts: &[Vec<u32>]) -> Vec<f32> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked above).
            return unsafe { self.forward_avx2(texts) };
        }
        self.forward_here(texts)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn forward_avx2(&self, texts: &[Vec<u32>]) -> Vec<f32> {
        self.forward_here(texts)
    }

    #[inline(always)]
    fn forward_here(&self, texts: &[Vec<u32>]) -> Vec<f32> {
        let h = self.hidden;
        let total: usize = texts.iter().map(Vec::len).sum();
        let mut x = vec![0.0f32; total * h];
        let mut rows = x.chunks_exact_mut(h);
        for ids in texts {
            for (p, &id) in ids.iter().enumerate() {
                let row = rows.next().expect("a row per token");
                row.copy_from_slice(&self.words[id as usize * h..][..h]);
                ops::add(row, &self.positions[p * h..][..h]);
                ops::add(row, &self.token_type);
            }
        }
        let norm = &self.embeddings_norm;
        ops::layer_norm(&mut x, &norm.gamma, &norm.beta, self.eps);
        thread_local! {
            static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
        }
        // Taken out and put back rather than used inside `with`: a closure
        // would be compiled without the caller's vector width.
        let mut s = SCRATCH.take();
        for layer in &self.layers {
            self.layer(layer, texts, &mut x, &mut s);
        }
        SCRATCH.set(s);
        x
    }

    #[inline(always)]
    fn layer(&self, layer: &Layer, texts: &[Vec<u32>], x: &mut Vec<f32>, s: &mut Scratch) {
        s.quantized.quantize(x, self.hidden);
        layer.qkv.forward(&s.quantized, &mut s.qkv);
        self.attention(texts, s);
        s.quantized.quantize(&s.context, self.hidden);
        layer.attention_out.forward(&s.quantized, &mut s.attended);
        ops::add(&mut s.attended, x);
        let norm = &layer.attention_norm;
        ops::layer_norm(&mut s.attended, &norm.gamma, &norm.beta, self.eps);
        s.quantized.quantize(&s.attended, self.hidden);
        layer.intermediate.forward(&s.quantized, &mut s.inner);
        ops::gelu(&mut s.inner);
        s.quantized.quantize(&s.inner, layer.intermediate.outputs());
        layer.output.forward(&s.quantized, &mut s.output);
        ops::add(&mut s.output, &s.attended);
        let norm = &layer.output_norm;
        ops::layer_norm(&mut s.output, &norm.gamma, &norm.beta, self.eps);
        std::mem::swap(x, &mut s.output);
    }

    /// Self-attention of each text on its own tokens, every head: from
    /// `s.qkv` (tokens × 3·hidden) into `s.context` (tokens × hidden).
    #[inline(always)]
    fn attention(&self, texts: &[Vec<u32>], s: &mut Scratch) {
        let h = self.hidden;
        let size = h / self.heads;
        let scale = 1.0 / (size as f32).sqrt();
        let total = s.qkv.len() / (3 * h);
        s.context.clear();
        s.context.resize(total * h, 0.0);
        let mut start = 0;
        for text in texts {
            let n = text.len();
            let rows = &s.qkv[start * 3 * h..(start + n) * 3 * h];
            for head in 0..self.heads {
                let at = head * size;
                for i in 0..n {
                    let q = &rows[i * 3 * h + at..][..size];
                    // A plain loop: an iterator's `fold` would be a call
                    // compiled without the caller's vector width.
                    s.scores.resize(n, 0.0);
                    for (j, score) in s.scores.iter_mut().enumerate() {
                        let k = &rows[j * 3 * h + h + at..][..size];
                        *score = ops::dot(q, k) * scale;
                    }
                    ops::softmax(&mut s.scores);
                    let out = &mut s.context[(start + i) * h + at..][..size];
                    for (j, &p) in s.scores.iter().enumerate() {
                        let v = &rows[j * 3 * h + 2 * h + at..][..size];
                        for (o, v) in out.iter_mut().zip(v) {
                            *o += p * v;
                        }
                    }
                }
            }
            start += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use candle_core::{DType, Device, Tensor};

    use super::*;
    use crate::embedding::bert::Bert;

    fn config() -> Config {
        serde_json::from_value(serde_json::json!({
            "vocab_size": 50, "hidden_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "intermediate_size": 128, "hidden_act": "gelu",
            "max_position_embeddings": 32, "type_vocab_size": 2, "layer_norm_eps": 1e-12
        }))
        .unwrap()
    }

    /// Tensors of pseudo-random numbers, by name.
    struct Random {
        state: u64,
        map: HashMap<String, Tensor>,
    }

    impl Random {
        fn put(&mut self, name: String, shape: &[usize], scale: f32, mean: f32) {
            let n = shape.iter().product();
            let v: Vec<f32> = (0..n)
                .map(|_| {
                    self.state = self
                        .state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    mean + scale * (((self.state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0)
                })
                .collect();
            let t = Tensor::from_vec(v, shape, &Device::Cpu).unwrap();
            self.map.insert(name, t);
        }

        fn norm(&mut self, at: &str, h: usize) {
            self.put(format!("{at}.weight"), &[h], 0.2, 1.0);
            self.put(format!("{at}.bias"), &[h], 0.1, 0.0);
        }
    }

    /// A small BERT of random weights, named as the real one's.
    fn weights(cfg: &Config) -> VarBuilder<'static> {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        let mut r = Random {
            state: 7,
            map: HashMap::new(),
        };
        let e = "embeddings";
        r.put(
            format!("{e}.word_embeddings.weight"),
            &[cfg.vocab_size, h],
            1.0,
            0.0,
        );
        let positions = [cfg.max_position_embeddings, h];
        r.put(
            format!("{e}.position_embeddings.weight"),
            &positions,
            0.5,
            0.0,
        );
        let types = [cfg.type_vocab_size, h];
        r.put(
            format!("{e}.token_type_embeddings.weight"),
            &types,
            0.1,
            0.0,
        );
        r.norm(&format!("{e}.LayerNorm"), h);
        for layer in 0..cfg.num_hidden_layers {
            let l = format!("encoder.layer.{layer}");
            for (at, inputs, outputs) in [
                (format!("{l}.attention.self.query"), h, h),
                (format!("{l}.attention.self.key"), h, h),
                (format!("{l}.attention.self.value"), h, h),
                (format!("{l}.attention.output.dense"), h, h),
                (format!("{l}.intermediate.dense"), h, i),
                (format!("{l}.output.dense"), i, h),
            ] {
                let scale = 2.0 / (inputs as f32).sqrt();
                r.put(format!("{at}.weight"), &[outputs, inputs], scale, 0.0);
                r.put(format!("{at}.bias"), &[outputs], 0.1, 0.0);
            }
            r.norm(&format!("{l}.attention.output.LayerNorm"), h);
            r.norm(&format!("{l}.output.LayerNorm"), h);
        }
        VarBuilder::from_tensors(r.map, DType::F32, &Device::Cpu)
    }

    fn texts() -> Vec<Vec<u32>> {
        vec![
            vec![1, 7, 12, 49, 3, 2],
            vec![1, 2],
            (0..30).map(|k| (k * 7 % 50) as u32).collect(),
        ]
    }

    #[test]
    fn computes_what_the_f32_encoder_computes_up_to_its_rounding() {
        let cfg = config();
        let int8 = Int8Bert::load(weights(&cfg), &cfg)
            .unwrap()
            .forward(&texts());
        let f32s: Vec<f32> = Bert::load(weights(&cfg), &cfg)
            .unwrap()
            .forward(&texts())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(int8.len(), f32s.len());
        for (t, (a, b)) in int8.chunks(64).zip(f32s.chunks(64)).enumerate() {
            let cos = crate::embedding::cosine(a, b);
            assert!(
                cos > 0.99,
                "token {t}: cosine {cos} to the f32 encoder's vector"
            );
        }
    }

    #[test]
    fn the_same_numbers_at_any_vector_width() {
        let cfg = config();
        let bert = Int8Bert::load(weights(&cfg), &cfg).unwrap();
        let everywhere = bert.forward_here(&texts());
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            let wide = unsafe { bert.forward_avx2(&texts()) };
            assert!(everywhere == wide, "AVX2 and baseline x86-64 builds differ");
        }
        // And a text alone is what it is in a batch.
        let alone = bert.forward(&texts()[1..2]);
        assert_eq!(alone, everywhere[6 * 64..8 * 64]);
    }
}
