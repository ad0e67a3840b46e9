//! What every bench does: feed a detector one of the same inputs past its
//! warm-up, then measure feeding it again, in observations per second
//! (criterion's time per iteration over [`POINTS`] is the time per
//! observation times 100 000). Each bench uses some of it.
#![allow(dead_code)]

use std::hint::black_box;

use bss_detect::Detector;
use criterion::{Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Observations per measured iteration.
pub const POINTS: usize = 100_000;

/// Roughly normal noise (a sum of uniforms) of sd 2 around 100, with a slow
/// season, so the sorted windows see values arrive everywhere in their range.
pub fn seasonal_series() -> Vec<[f64; 1]> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    (0..POINTS)
        .map(|t| {
            let noise: f64 = (0..4).map(|_| rng.random::<f64>()).sum::<f64>() - 2.0;
            let season = 10.0 * (std::f64::consts::TAU * t as f64 / 1_440.0).sin();
            [100.0 + season + 2.0 * 3.0_f64.sqrt() * noise]
        })
        .collect()
}

/// Two correlated features, roughly normal (a sum of uniforms): a data
/// session's bytes and seconds.
pub fn correlated_pairs() -> Vec<[f64; 2]> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    (0..POINTS)
        .map(|_| {
            let a: f64 = (0..4).map(|_| rng.random::<f64>()).sum::<f64>() - 2.0;
            let b: f64 = (0..4).map(|_| rng.random::<f64>()).sum::<f64>() - 2.0;
            [50e6 + 25e6 * a, 600.0 + 300.0 * (0.9 * a + 0.4 * b)]
        })
        .collect()
}

/// Feeds `detector` every point, then measures feeding them all again as
/// `group`/`function`.
pub fn measure<const N: usize>(
    c: &mut Criterion,
    group: &str,
    function: &str,
    mut detector: impl Detector,
    points: &[[f64; N]],
) {
    for x in points {
        detector.observe(x);
    }
    let mut group = c.benchmark_group(group);
    group.throughput(Throughput::Elements(points.len() as u64));
    group.bench_function(function, |b| {
        b.iter(|| {
            for x in points {
                black_box(detector.observe(black_box(x)));
            }
        })
    });
    group.finish();
}
