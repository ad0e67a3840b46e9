//! A dense layer, y = x·Wᵀ + b, computed in 8-bit integers: the weight
//! quantized once per output (symmetric, signed, scale max|w|/127), the
//! inputs per row on the fly (asymmetric, unsigned: the row's range, zero
//! included, over 255 steps, and the integer zero point; as ONNX Runtime's
//! DynamicQuantizeLinear), so that AVX-512 VNNI's `vpdpbusd` multiplies
//! unsigned by signed bytes; the zero point is taken back out with the
//! weight's precomputed sums. This is the dynamic quantisation ONNX Runtime
//! and fbgemm apply to BERT on CPUs.
//!
//! Owns the weight's packed layout and the arithmetic's definition. Must
//! never give different numbers on different CPUs: the VNNI kernel
//! (`vnni.rs`) and the portable loop here compute the same integers, and
//! every float step before and after them is the same code on both.

/// Outputs computed together by the kernel: 4 vectors of 16 lanes.
pub(super) const BLOCK: usize = 64;

/// Inputs one lane of `vpdpbusd` multiplies and sums per step.
pub(super) const STEP: usize = 4;

/// Rows of inputs quantized to unsigned bytes, `depth` per row (the
/// layer's inputs rounded up to [`STEP`]; the extra bytes meet zero
/// weights), and each row's scale and zero point: x ≈ scale · (byte − zero).
#[derive(Default)]
pub struct QuantizedRows {
    pub(super) depth: usize,
    pub(super) bytes: Vec<u8>,
    pub(super) scales: Vec<f32>,
    pub(super) zeros: Vec<i32>,
}

impl QuantizedRows {
    /// `x`'s rows of `inputs` numbers, quantized (the buffers are reused).
    #[inline(always)]
    pub fn quantize(&mut self, x: &[f32], inputs: usize) {
        let depth = inputs.next_multiple_of(STEP);
        let rows = x.len() / inputs;
        self.depth = depth;
        self.bytes.clear();
        self.bytes.resize(rows * depth, 0);
        self.scales.clear();
        self.zeros.clear();
        for (row, out) in x
            .chunks_exact(inputs)
            .zip(self.bytes.chunks_exact_mut(depth))
        {
            let (scale, zero) = quantize_row(row, out);
            self.scales.push(scale);
            self.zeros.push(zero);
        }
    }

    pub fn rows(&self) -> usize {
        self.scales.len()
    }
}

/// Writes `row` as bytes into `out` and returns its scale and zero point
/// (scale 0 for a row of zeros). Plain code the compiler vectorises; IEEE
/// arithmetic only, so every CPU gets the same bytes.
#[inline(always)]
fn quantize_row(row: &[f32], out: &mut [u8]) -> (f32, i32) {
    let (min, max) = super::ops::min_max(row);
    let (min, max) = (min.min(0.0), max.max(0.0));
    let range = max - min;
    if range == 0.0 || !range.is_finite() {
        return (0.0, 0);
    }
    let scale = range / 255.0;
    let inv = 255.0 / range;
    let zero = round_half_away(-min * inv).clamp(0, 255);
    for (o, &v) in out.iter_mut().zip(row) {
        *o = (round_half_away(v * inv) + zero).clamp(0, 255) as u8;
    }
    (scale, zero)
}

#[inline(always)]
fn round_half_away(v: f32) -> i32 {
    (v + 0.5f32.copysign(v)) as i32
}

/// The weight, quantized and packed for the kernel.
pub struct Int8Linear {
    outputs: usize,
    depth: usize,
    /// Blocks of [`BLOCK`] outputs; within one, for each step of [`STEP`]
    /// inputs, 4 groups of 16 outputs × 4 inputs (one vector each):
    /// `packed[((b·depth/STEP + s)·4 + g)·64 + lane·4 + j]` is the weight
    /// of output `b·64 + g·16 + lane` for input `s·4 + j`.
    pub(super) packed: Vec<i8>,
    /// Per output: its scale, and the sum of its quantized weights.
    pub(super) scales: Vec<f32>,
    pub(super) sums: Vec<i32>,
    pub(super) bias: Vec<f32>,
}

impl Int8Linear {
    /// From a weight of `outputs` rows of `inputs` (PyTorch's layout) and
    /// its bias. `outputs` must be a multiple of [`BLOCK`].
    pub fn new(
        weight: &[f32],
        bias: &[f32],
        inputs: usize,
        outputs: usize,
    ) -> Result<Self, String> {
        if !outputs.is_multiple_of(BLOCK) || inputs == 0 {
            return Err(format!(
                "a {inputs}×{outputs} layer: int8 needs outputs in multiples of {BLOCK}"
            ));
        }
        if weight.len() != inputs * outputs || bias.len() != outputs {
            return Err(format!(
                "a {inputs}×{outputs} layer with {} weights and {} biases",
                weight.len(),
                bias.len()
            ));
        }
        let depth = inputs.next_multiple_of(STEP);
        let mut q = vec![0i8; outputs * depth];
        let mut scales = Vec::with_capacity(outputs);
        let mut sums = Vec::with_capacity(outputs);
        for (w, qrow) in weight.chunks_exact(inputs).zip(q.chunks_exact_mut(depth)) {
            let max = super::ops::max_abs(w);
            let inv = if max > 0.0 { 127.0 / max } else { 0.0 };
            for (o, &v) in qrow.iter_mut().zip(w) {
                *o = round_half_away(v * inv).clamp(-127, 127) as i8;
            }
            scales.push(max / 127.0);
            sums.push(qrow.iter().map(|&v| v as i32).sum::<i32>());
        }
        let steps = depth / STEP;
        let mut packed = vec![0i8; outputs * depth];
        for n in 0..outputs {
            let (b, g, lane) = (n / BLOCK, (n % BLOCK) / 16, n % 16);
            for k in 0..depth {
                let (s, j) = (k / STEP, k % STEP);
                packed[((b * steps + s) * 4 + g) * 64 + lane * 4 + j] = q[n * depth + k];
            }
        }
        Ok(Self {
            outputs,
            depth,
            packed,
            scales,
            sums,
            bias: bias.to_vec(),
        })
    }

    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// `y` (rows × outputs) from quantized inputs of this layer's width.
    #[inline(always)]
    pub fn forward(&self, x: &QuantizedRows, y: &mut Vec<f32>) {
        assert_eq!(x.depth, self.depth, "inputs quantized for another layer");
        y.clear();
        y.resize(x.rows() * self.outputs, 0.0);
        #[cfg(target_arch = "x86_64")]
        if super::vnni::available() {
            // SAFETY: the CPU has the kernel's features (checked above).
            unsafe { super::vnni::forward(self, x, y) };
            return;
        }
        self.forward_portable(x, y);
    }

    /// The same integers and the same float steps as the VNNI kernel: for
    /// each row, each group of 16 outputs, 16 lanes of sums the compiler
    /// vectorises (AVX2 where the caller was compiled for it).
    #[inline(always)]
    pub(super) fn forward_portable(&self, x: &QuantizedRows, y: &mut [f32]) {
        let steps = self.depth / STEP;
        for (m, a) in x.bytes.chunks_exact(self.depth).enumerate() {
            for group in 0..self.outputs / 16 {
                let (b, g) = (group / 4, group % 4);
                let mut acc = [0i32; 16];
                for (s, four) in a.chunks_exact(STEP).enumerate() {
                    let w = &self.packed[((b * steps + s) * 4 + g) * 64..][..64];
                    for (lane, w) in acc.iter_mut().zip(w.chunks_exact(STEP)) {
                        for j in 0..STEP {
                            *lane += four[j] as i32 * w[j] as i32;
                        }
                    }
                }
                for (lane, &sum) in acc.iter().enumerate() {
                    let n = group * 16 + lane;
                    y[m * self.outputs + n] = self.dequantize(sum, n, x.scales[m], x.zeros[m]);
                }
            }
        }
    }

    /// The float result of output `n` from its integer sum, for a row of
    /// scale `row_scale` and zero point `zero`: the order of operations the
    /// kernel uses too.
    #[inline(always)]
    fn dequantize(&self, acc: i32, n: usize, row_scale: f32, zero: i32) -> f32 {
        ((acc - zero * self.sums[n]) as f32) * (row_scale * self.scales[n]) + self.bias[n]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random sequence in [-1, 1).
    fn numbers(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn float_product(x: &[f32], w: &[f32], b: &[f32], inputs: usize) -> Vec<f32> {
        let outputs = b.len();
        let mut y = Vec::new();
        for row in x.chunks_exact(inputs) {
            for n in 0..outputs {
                let dot: f32 = row
                    .iter()
                    .zip(&w[n * inputs..][..inputs])
                    .map(|(a, b)| a * b)
                    .sum();
                y.push(dot + b[n]);
            }
        }
        y
    }

    #[test]
    fn close_to_the_float_product_and_exactly_the_portable_one() {
        // Widths that are not multiples of 4 and rows that are not
        // multiples of the kernel's row block.
        for (rows, inputs, outputs) in [(1, 384, 64), (7, 383, 128), (26, 1536, 384), (13, 5, 64)] {
            let x = numbers(rows * inputs, 1);
            let w = numbers(outputs * inputs, 2);
            let b = numbers(outputs, 3);
            let layer = Int8Linear::new(&w, &b, inputs, outputs).unwrap();
            let mut q = QuantizedRows::default();
            q.quantize(&x, inputs);
            let mut fast = Vec::new();
            layer.forward(&q, &mut fast);
            let mut portable = vec![0.0; rows * outputs];
            layer.forward_portable(&q, &mut portable);
            assert_eq!(fast, portable, "{rows}×{inputs}×{outputs}: kernels differ");
            let exact = float_product(&x, &w, &b, inputs);
            // Each product's error is at most about half a step of each
            // operand: |x|,|w| ≤ 1, steps 2/255 and 1/127; the errors add
            // up as a random walk, so a few tenths of sqrt(inputs)/127.
            let bound = 3.0 * (inputs as f32).sqrt() / 127.0;
            for (i, (a, e)) in fast.iter().zip(&exact).enumerate() {
                assert!(
                    (a - e).abs() < bound,
                    "{rows}×{inputs}×{outputs} [{i}]: {a} vs {e}"
                );
            }
        }
    }

    #[test]
    fn a_row_of_zeros_gives_the_bias() {
        let layer = Int8Linear::new(&numbers(64 * 8, 4), &numbers(64, 5), 8, 64).unwrap();
        let mut q = QuantizedRows::default();
        q.quantize(&[0.0; 8], 8);
        let mut y = Vec::new();
        layer.forward(&q, &mut y);
        assert_eq!(y, numbers(64, 5));
    }

    #[test]
    fn a_row_of_one_sign_uses_every_step() {
        let mut q = QuantizedRows::default();
        q.quantize(&[0.0, 0.5, 1.0, 2.0], 4);
        assert_eq!(
            (q.bytes.as_slice(), q.zeros[0]),
            (&[0, 64, 128, 255][..], 0)
        );
        q.quantize(&[-2.0, -1.0, 0.0, 0.0], 4);
        assert_eq!(
            (q.bytes.as_slice(), q.zeros[0]),
            (&[0, 127, 255, 255][..], 255)
        );
        assert_eq!(q.scales[0], 2.0 / 255.0);
    }

    #[test]
    fn refuses_widths_the_kernel_cannot_take() {
        let err = Int8Linear::new(&[0.0; 8 * 60], &[0.0; 60], 8, 60)
            .err()
            .unwrap();
        assert!(err.contains("multiples of 64"), "{err}");
        assert!(Int8Linear::new(&[0.0; 10], &[0.0; 64], 8, 64).is_err());
    }
}
