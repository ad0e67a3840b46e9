//! The encoder's float steps between its matrix products, on rows of
//! numbers in place: layer norm, GELU with a vectorisable erf, softmax, and
//! the sums and dot products they and attention take. Plain loops the
//! compiler vectorises, no allocation; every function is inlined into its
//! caller, so it is compiled for the vector width the caller was compiled
//! for. Sums run in 16 fixed lanes added in a fixed order, never in an
//! order the compiler picks: the same numbers at any vector width.
//!
//! Owns their numerics; must never use an approximation less accurate
//! than float rounding of the reference (erf within 1e-6 of the exact
//! function).

const LANES: usize = 16;

/// The sum of `lanes` pairwise (8 + 8, 4 + 4, 2 + 2, 1 + 1).
#[inline(always)]
fn reduce(mut lanes: [f32; LANES]) -> f32 {
    let mut width = LANES / 2;
    while width > 0 {
        for i in 0..width {
            lanes[i] += lanes[i + width];
        }
        width /= 2;
    }
    lanes[0]
}

/// Σ f(x[i], y[i]) in 16 lanes (element i into lane i mod 16).
#[inline(always)]
fn lane_sum(x: &[f32], y: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let (xs, ys) = (x.chunks_exact(LANES), y.chunks_exact(LANES));
    let (xr, yr) = (xs.remainder(), ys.remainder());
    for (a, b) in xs.zip(ys) {
        for i in 0..LANES {
            lanes[i] += f(a[i], b[i]);
        }
    }
    for (i, (a, b)) in xr.iter().zip(yr).enumerate() {
        lanes[i] += f(*a, *b);
    }
    reduce(lanes)
}

/// The dot product of `x` and `y` (equal lengths).
#[inline(always)]
pub fn dot(x: &[f32], y: &[f32]) -> f32 {
    lane_sum(x, y, |a, b| a * b)
}

/// The largest |x| (0 for none).
#[inline(always)]
pub fn max_abs(x: &[f32]) -> f32 {
    let (min, max) = min_max(x);
    max.max(-min).max(0.0)
}

/// The smallest and the largest of `x` (+∞ and −∞ for none).
#[inline(always)]
pub fn min_max(x: &[f32]) -> (f32, f32) {
    let mut low = [f32::INFINITY; LANES];
    let mut high = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            low[i] = low[i].min(c[i]);
            high[i] = high[i].max(c[i]);
        }
    }
    for (i, &v) in rest.iter().enumerate() {
        low[i] = low[i].min(v);
        high[i] = high[i].max(v);
    }
    let min = low.iter().fold(f32::INFINITY, |m, &v| m.min(v));
    (min, high.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)))
}

/// Layer norm of every row of `x` (`gamma.len()` numbers each), as
/// PyTorch computes it: mean, then the mean square of the deviations.
#[inline(always)]
pub fn layer_norm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let width = gamma.len();
    for row in x.chunks_exact_mut(width) {
        let mean = lane_sum(row, row, |a, _| a) / width as f32;
        let var = lane_sum(row, row, |a, _| (a - mean) * (a - mean)) / width as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

/// `x += y`, element by element.
#[inline(always)]
pub fn add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// GELU as BERT defines it, 0.5·x·(1 + erf(x/√2)), in place.
#[inline(always)]
pub fn gelu(x: &mut [f32]) {
    for v in x.iter_mut() {
        *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// erf as a rational function of x on [-4, 4] (±1 in f32 outside), the
/// approximation Eigen and XLA use for f32 (no branch, no exp: it
/// vectorises).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10f32;
    for c in [
        2.770_681_4e-8,
        -2.101_024e-6,
        -5.692_506_4e-5,
        -7.349_906_3e-4,
        -2.954_6e-3,
        -1.609_603_3e-2,
    ] {
        p = p * x2 + c;
    }
    let mut q = -1.456_607_2e-5f32;
    for c in [-2.133_740_6e-4, -1.682_827e-3, -7.373_329e-3, -1.426_474e-2] {
        q = q * x2 + c;
    }
    x * p / q
}

/// e^x for x in [-87, 88] (clamped), within 2 ulp: x = n·ln 2 + r
/// (Cody and Waite's two-part ln 2), e^r by its Taylor series to r⁷, 2^n
/// put in the exponent's bits. Written here rather than taken from libm,
/// whose variants for CPUs with and without FMA may differ in the last
/// bit: this gives the same number everywhere, and vectorises.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and taking away 1.5·2^23 rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.0 / 5040.0;
    for c in [
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// Softmax of `x` in place (max subtracted first).
#[inline(always)]
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = exp(*v - max);
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::cpu::erf::erf_f64;

    #[test]
    fn erf_within_a_millionth_of_the_exact_function() {
        let mut worst = (0.0f64, 0.0f32);
        for i in -8000..=8000 {
            let x = i as f32 / 1000.0;
            let err = (erf(x) as f64 - erf_f64(x as f64)).abs();
            if err > worst.0 {
                worst = (err, x);
            }
        }
        assert!(worst.0 < 1e-6, "erf off by {} at {}", worst.0, worst.1);
    }

    #[test]
    fn exp_within_2_ulp_of_the_exact_function() {
        let mut worst = (0.0f64, 0.0f32);
        for i in -87_000..=88_000 {
            let x = i as f32 / 1000.0;
            let exact = (x as f64).exp();
            let err = (exp(x) as f64 - exact).abs() / exact;
            if err > worst.0 {
                worst = (err, x);
            }
        }
        // An ulp of f32 is 2^-23 ≈ 1.2e-7 of the value at most.
        assert!(
            worst.0 < 2.4e-7,
            "exp off by {:e} of the value at {}",
            worst.0,
            worst.1
        );
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-1000.0), exp(-87.0));
    }

    #[test]
    fn layer_norm_gives_mean_zero_and_unit_variance_before_its_gain() {
        let mut x = vec![1.0, 2.0, 3.0, 4.0, 10.0, 10.0, 10.0, 10.0];
        layer_norm(&mut x, &[1.0; 4], &[0.5; 4], 1e-12);
        let first = &x[..4];
        let mean: f32 = first.iter().sum::<f32>() / 4.0;
        let var: f32 = first.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / 4.0;
        assert!(
            (mean - 0.5).abs() < 1e-6 && (var - 1.0).abs() < 1e-5,
            "{first:?}"
        );
        // A constant row is all beta.
        assert_eq!(&x[4..], &[0.5; 4]);
    }

    #[test]
    fn lane_sums_are_sums() {
        let x: Vec<f32> = (1..=37).map(|i| i as f32).collect();
        assert_eq!(dot(&x, &[1.0; 37]), 703.0);
        assert_eq!(dot(&x[..3], &x[..3]), 14.0);
        assert_eq!(max_abs(&[1.0, -40.0, 3.0]), 40.0);
        let mut long = vec![0.5f32; 50];
        long[33] = -7.0;
        assert_eq!(max_abs(&long), 7.0);
        assert_eq!(max_abs(&[]), 0.0);
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let mut x = vec![1000.0, 1001.0, 999.0];
        softmax(&mut x);
        assert!((x.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(x[1] > x[0] && x[0] > x[2], "{x:?}");
    }

    #[test]
    fn gelu_of_known_points() {
        let mut x = vec![0.0, 1.0, -1.0, 3.0];
        gelu(&mut x);
        // 0.5·x·(1 + erf(x/√2)) from the exact erf.
        let exact = [0.0, 0.841_344_7, -0.158_655_26, 2.995_950_3];
        for (a, e) in x.iter().zip(exact) {
            assert!((a - e).abs() < 1e-6, "{x:?}");
        }
    }
}
