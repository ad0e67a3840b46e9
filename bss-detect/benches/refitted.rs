//! Throughput of the detectors that refit on a window, isolation forest
//! and one-class SVM, with their default params, on one noisy series and on
//! two-feature observations, each past its warm-up: the cost per
//! observation includes its share of the refits (one every 128 and 64).

mod feed;

use bss_detect::iforest::{IsolationForest, IsolationForestParams};
use bss_detect::ocsvm::{OneClassSvm, OneClassSvmParams};
use criterion::{criterion_group, criterion_main, Criterion};

fn observe(c: &mut Criterion) {
    let series = feed::seasonal_series();
    let pairs = feed::correlated_pairs();
    let one = IsolationForestParams::default();
    let two = IsolationForestParams {
        features: 2,
        ..one.clone()
    };
    feed::measure(
        c,
        "isolation_forest",
        "observe",
        IsolationForest::new(&one, 7),
        &series,
    );
    feed::measure(
        c,
        "isolation_forest",
        "observe_2_features",
        IsolationForest::new(&two, 7),
        &pairs,
    );
    let one = OneClassSvmParams::default();
    let two = OneClassSvmParams {
        features: 2,
        ..one.clone()
    };
    feed::measure(
        c,
        "one_class_svm",
        "observe",
        OneClassSvm::new(&one),
        &series,
    );
    feed::measure(
        c,
        "one_class_svm",
        "observe_2_features",
        OneClassSvm::new(&two),
        &pairs,
    );
}

criterion_group!(benches, observe);
criterion_main!(benches);
