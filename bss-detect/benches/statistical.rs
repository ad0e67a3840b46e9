//! Throughput of the statistical detectors (z-score, EWMA, IQR, MAD) with
//! their default params, on one noisy series, each past its warm-up.

use std::hint::black_box;

use bss_detect::ewma::{Ewma, EwmaParams};
use bss_detect::iqr::{Iqr, IqrParams};
use bss_detect::mad::{Mad, MadParams};
use bss_detect::zscore::{ZScore, ZScoreParams};
use bss_detect::Detector;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const POINTS: usize = 100_000;

/// Roughly normal noise (a sum of uniforms) of sd 2 around 100, with a slow
/// season, so the sorted windows see values arrive everywhere in their range.
fn points() -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    (0..POINTS)
        .map(|t| {
            let noise: f64 = (0..4).map(|_| rng.random::<f64>()).sum::<f64>() - 2.0;
            let season = 10.0 * (std::f64::consts::TAU * t as f64 / 1_440.0).sin();
            100.0 + season + 2.0 * 3.0_f64.sqrt() * noise
        })
        .collect()
}

/// Measures `detector` observing every point, once warm.
fn bench(c: &mut Criterion, name: &str, mut detector: impl Detector, points: &[f64]) {
    for &x in points {
        detector.observe(&[x]);
    }
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(points.len() as u64));
    group.bench_function("observe", |b| {
        b.iter(|| {
            for &x in points {
                black_box(detector.observe(black_box(&[x])));
            }
        })
    });
    group.finish();
}

fn observe(c: &mut Criterion) {
    let points = points();
    bench(c, "zscore", ZScore::new(&ZScoreParams::default()), &points);
    bench(c, "ewma", Ewma::new(&EwmaParams::default()), &points);
    bench(c, "iqr", Iqr::new(&IqrParams::default()), &points);
    bench(c, "mad", Mad::new(&MadParams::default()), &points);
}

criterion_group!(benches, observe);
criterion_main!(benches);
