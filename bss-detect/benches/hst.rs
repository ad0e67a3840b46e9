//! Throughput of Half-Space Trees with the default shape (25 trees of depth
//! 15, window 250) on two-feature observations, the model past its warm-up.

use std::hint::black_box;

use bss_detect::hst::{HalfSpaceTrees, HstParams};
use bss_detect::Detector;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const POINTS: usize = 100_000;

/// Two correlated features, roughly normal (a sum of uniforms).
fn points() -> Vec<[f64; 2]> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    (0..POINTS)
        .map(|_| {
            let a: f64 = (0..4).map(|_| rng.random::<f64>()).sum::<f64>() - 2.0;
            let b: f64 = (0..4).map(|_| rng.random::<f64>()).sum::<f64>() - 2.0;
            [50e6 + 25e6 * a, 600.0 + 300.0 * (0.9 * a + 0.4 * b)]
        })
        .collect()
}

fn observe(c: &mut Criterion) {
    let points = points();
    let params = HstParams {
        features: 2,
        ..HstParams::default()
    };
    let mut hst = HalfSpaceTrees::new(&params, 7);
    for x in &points {
        hst.observe(x);
    }
    let mut group = c.benchmark_group("half_space_trees");
    group.throughput(Throughput::Elements(POINTS as u64));
    group.bench_function("observe_2_features", |b| {
        b.iter(|| {
            for x in &points {
                black_box(hst.observe(black_box(x)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, observe);
criterion_main!(benches);
