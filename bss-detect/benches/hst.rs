//! Throughput of Half-Space Trees with the default shape (25 trees of depth
//! 15, window 250) on two-feature observations, the model past its warm-up.

mod feed;

use bss_detect::hst::{HalfSpaceTrees, HstParams};
use criterion::{criterion_group, criterion_main, Criterion};

fn observe(c: &mut Criterion) {
    let params = HstParams {
        features: 2,
        ..HstParams::default()
    };
    let hst = HalfSpaceTrees::new(&params, 7);
    feed::measure(
        c,
        "half_space_trees",
        "observe_2_features",
        hst,
        &feed::correlated_pairs(),
    );
}

criterion_group!(benches, observe);
criterion_main!(benches);
