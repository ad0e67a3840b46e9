//! The int8 matrix product on AVX-512 VNNI (`vpdpbusd`: 16 lanes, each
//! summing 4 products of an unsigned and a signed byte into an i32): up to
//! [`ROWS`] input rows × one block of 64 outputs at a time, 24 accumulators
//! in registers, the weight's 256 bytes for a step loaded once for all the
//! rows. Owns nothing but the kernel; must never compute anything the
//! portable loop in `linear.rs` does not (same integers, same float steps
//! after them, in the same order, no fused multiply-add).

use std::arch::x86_64::*;
use std::sync::OnceLock;

use super::linear::{Int8Linear, QuantizedRows, BLOCK, STEP};

/// Input rows a kernel call takes together.
const ROWS: usize = 6;

/// Input rows taken through every block of the weight before the next.
const CHUNK_ROWS: usize = 8 * ROWS;

/// Whether this CPU runs the kernel (checked once).
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vnni")
    })
}

/// `y = layer(x)`, `y` already sized rows × outputs.
///
/// # Safety
/// The CPU must have AVX-512 F, BW and VNNI ([`available`]).
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub unsafe fn forward(layer: &Int8Linear, x: &QuantizedRows, y: &mut [f32]) {
    let rows = x.rows();
    let outputs = layer.outputs();
    let steps = x.depth / STEP;
    assert!(y.len() >= rows * outputs && x.bytes.len() >= rows * x.depth);
    assert_eq!(layer.packed.len(), outputs * x.depth);
    // Rows in chunks whose inputs stay in L2 (48 rows of 1536 bytes: 72
    // KiB) while every block of the weight streams past them.
    for chunk in (0..rows).step_by(CHUNK_ROWS) {
        let end = (chunk + CHUNK_ROWS).min(rows);
        for block in 0..outputs / BLOCK {
            let w = layer.packed.as_ptr().add(block * steps * 4 * 64);
            let mut row = chunk;
            while row < end {
                let n = (end - row).min(ROWS);
                let a = x.bytes.as_ptr().add(row * x.depth);
                // SAFETY (of each call): `a` has n rows of `depth` bytes,
                // `w` the block's steps × 256 bytes, `y` rows × outputs.
                match n {
                    6 => rows_of::<6>(layer, x, y, a, w, steps, row, block),
                    5 => rows_of::<5>(layer, x, y, a, w, steps, row, block),
                    4 => rows_of::<4>(layer, x, y, a, w, steps, row, block),
                    3 => rows_of::<3>(layer, x, y, a, w, steps, row, block),
                    2 => rows_of::<2>(layer, x, y, a, w, steps, row, block),
                    _ => rows_of::<1>(layer, x, y, a, w, steps, row, block),
                }
                row += n;
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn rows_of<const R: usize>(
    layer: &Int8Linear,
    x: &QuantizedRows,
    y: &mut [f32],
    a: *const u8,
    w: *const i8,
    steps: usize,
    first_row: usize,
    block: usize,
) {
    let depth = x.depth;
    let mut acc = [[_mm512_setzero_si512(); 4]; R];
    for s in 0..steps {
        let ws = w.add(s * 256);
        let w0 = _mm512_loadu_si512(ws as *const _);
        let w1 = _mm512_loadu_si512(ws.add(64) as *const _);
        let w2 = _mm512_loadu_si512(ws.add(128) as *const _);
        let w3 = _mm512_loadu_si512(ws.add(192) as *const _);
        for (r, acc) in acc.iter_mut().enumerate() {
            let four = (a.add(r * depth + s * STEP) as *const i32).read_unaligned();
            let av = _mm512_set1_epi32(four);
            acc[0] = _mm512_dpbusd_epi32(acc[0], av, w0);
            acc[1] = _mm512_dpbusd_epi32(acc[1], av, w1);
            acc[2] = _mm512_dpbusd_epi32(acc[2], av, w2);
            acc[3] = _mm512_dpbusd_epi32(acc[3], av, w3);
        }
    }
    let outputs = layer.outputs();
    for (r, acc) in acc.iter().enumerate() {
        let m = first_row + r;
        let row_scale = _mm512_set1_ps(x.scales[m]);
        let zero = _mm512_set1_epi32(x.zeros[m]);
        for (g, &sum) in acc.iter().enumerate() {
            let n = block * BLOCK + g * 16;
            let sums = _mm512_loadu_si512(layer.sums.as_ptr().add(n) as *const _);
            let offset = _mm512_mullo_epi32(zero, sums);
            let scale = _mm512_mul_ps(row_scale, _mm512_loadu_ps(layer.scales.as_ptr().add(n)));
            let bias = _mm512_loadu_ps(layer.bias.as_ptr().add(n));
            let v = _mm512_cvtepi32_ps(_mm512_sub_epi32(sum, offset));
            let out = _mm512_add_ps(_mm512_mul_ps(v, scale), bias);
            _mm512_storeu_ps(y.as_mut_ptr().add(m * outputs + n), out);
        }
    }
}
