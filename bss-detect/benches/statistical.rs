//! Throughput of the statistical detectors (z-score, EWMA, IQR, MAD) with
//! their default params, on one noisy series, each past its warm-up.

mod feed;

use bss_detect::ewma::{Ewma, EwmaParams};
use bss_detect::iqr::{Iqr, IqrParams};
use bss_detect::mad::{Mad, MadParams};
use bss_detect::zscore::{ZScore, ZScoreParams};
use criterion::{criterion_group, criterion_main, Criterion};

fn observe(c: &mut Criterion) {
    let points = feed::seasonal_series();
    let zscore = ZScore::new(&ZScoreParams::default());
    feed::measure(c, "zscore", "observe", zscore, &points);
    let ewma = Ewma::new(&EwmaParams::default());
    feed::measure(c, "ewma", "observe", ewma, &points);
    let iqr = Iqr::new(&IqrParams::default());
    feed::measure(c, "iqr", "observe", iqr, &points);
    let mad = Mad::new(&MadParams::default());
    feed::measure(c, "mad", "observe", mad, &points);
}

criterion_group!(benches, observe);
criterion_main!(benches);
