//! Owns the One-Class SVM (Schölkopf et al., "Estimating the support of a
//! high-dimensional distribution", Neural Computation 2001), ν formulation
//! with an RBF kernel, refitted on a bounded window of points: the
//! detector that draws a smooth boundary around where a series' points
//! have been. Must judge a point before it learns it, never learn an
//! observation it cannot judge, and keep every refit within a stated bound.
//!
//! Fit. Every `refit_every` observations (first once `min_samples` points
//! are kept) the last `window` points are standardised by their own mean
//! and standard deviation per feature (the deviation floored as every
//! detector's spread is, `spread`), and the dual problem
//! `min ½ αᵀQα` subject to `0 ≤ αᵢ ≤ 1`, `Σ αᵢ = ν·l`, with
//! `Qᵢⱼ = exp(−γ‖zᵢ − zⱼ‖²)`, is solved by SMO as libsvm's one-class solver
//! does (Chang & Lin, `svm.cpp`: the first `⌊ν·l⌋` α at 1 and the next at the
//! remainder; Fan, Chen & Lin's second-order working-set selection; stop when
//! the maximal violation is under 10⁻³; ρ the mean gradient of the free α),
//! without shrinking or a kernel cache: the whole of Q fits in
//! `window²` numbers (0.5 MB at the default 256, 8 MB at the largest window),
//! allocated for the refit only. γ is scikit-learn's "scale",
//! `1 / (d · var)` of the standardised points (so 1/d unless a feature is
//! constant), unless configured.
//!
//! Score. The decision function is `f(x) = Σ αᵢ K(xᵢ, x) − ρ`, positive
//! inside the boundary. The score is `−f(x) / ρ`: 0 on the boundary, 1
//! where no support vector reaches, negative inside (down to `1 − max f/ρ`);
//! dividing by ρ makes it comparable across fits and series. The state is
//! the window and the fitted boundary (its support vectors, their weights,
//! ρ, γ and the standardisation), saved as they are: refitting on restore
//! would cost a solve, and the boundary is no larger than the window.
//!
//! Cost, `l` the points kept (at most `window`), `d` numbers a point, `s`
//! the support vectors (at most `l`, typically about `ν·l` plus the free
//! ones): per observation, `s` kernel evaluations (`s · (d + 1)` steps and
//! `s` exponentials); per refit, `l²/2` kernel evaluations and at most
//! [`MAX_ITERATIONS_PER_POINT`]` · l` SMO iterations of `2l` steps each,
//! so `O(l² · (d + 200))` in the worst case, once every `refit_every`
//! observations.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::shingle::{check_shingle, Shingle, MAX_DIMENSIONS};
use crate::spread::{check_min_spread_ratio, SpreadFloor, DEFAULT_MIN_SPREAD_RATIO};
use crate::{check_min_samples, check_positive, check_within, finite, Detector, Verdict};

/// The longest window: Q of 1 024² numbers is 8 MB during a refit.
pub const MAX_WINDOW: usize = 1_024;
/// SMO stops after this many iterations per point (libsvm's 100), whether
/// or not it has converged: the bound on a refit's cost.
pub const MAX_ITERATIONS_PER_POINT: usize = 100;
/// SMO stops when the maximal violation of the optimality conditions is
/// under this (libsvm's default `eps`).
const TOLERANCE: f64 = 1e-3;
/// The least curvature of a working pair (libsvm's TAU).
const TAU: f64 = 1e-12;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OneClassSvmParams {
    /// An upper bound on the share of the window outside the boundary and
    /// a lower bound on the share of support vectors, in (0, 1].
    pub nu: f64,
    /// The RBF kernel's γ on standardised points; unset: "scale".
    pub gamma: Option<f64>,
    /// Points the boundary is fitted on: the latest.
    pub window: usize,
    /// Observations between two refits.
    pub refit_every: usize,
    /// Anomalous when the score (−f/ρ) is over this: 0 is the boundary,
    /// 1 where no support vector reaches. At the default, a point whose
    /// kernel sum is under a twentieth of the boundary's (on a spike on a
    /// season, none of 1 000 clean points in 1-D; a spike scores 1).
    pub threshold: f64,
    /// Numbers per observation.
    pub features: usize,
    /// Observations per point (`shingle` module); 1: none.
    pub shingle: usize,
    /// Points kept before the first fit and the first verdict.
    pub min_samples: usize,
    /// The least standard deviation a feature is standardised by, as a
    /// share of its mean (`spread`).
    pub min_spread_ratio: f64,
}

impl Default for OneClassSvmParams {
    fn default() -> Self {
        OneClassSvmParams {
            nu: 0.1,
            gamma: None,
            window: 256,
            refit_every: 64,
            threshold: 0.95,
            features: 1,
            shingle: 1,
            min_samples: 128,
            min_spread_ratio: DEFAULT_MIN_SPREAD_RATIO,
        }
    }
}

impl OneClassSvmParams {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.nu > 0.0 && self.nu <= 1.0) {
            return Err(format!("`nu` = {} is not in (0, 1]", self.nu));
        }
        if let Some(gamma) = self.gamma {
            check_positive("gamma", gamma)?;
        }
        check_within("window", self.window, 2..=MAX_WINDOW)?;
        check_within("refit_every", self.refit_every, 1..=self.window)?;
        if !(self.threshold.is_finite() && self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(format!(
                "`threshold` = {} is not in (0, 1] (0 is the boundary, 1 beyond every support vector)",
                self.threshold
            ));
        }
        check_shingle(self.shingle, self.features)?;
        check_min_samples(self.min_samples, self.window)?;
        check_min_spread_ratio(self.min_spread_ratio)
    }
}

/// A solution of the one-class dual.
#[derive(Debug, Clone, PartialEq)]
struct Solution {
    alpha: Vec<f64>,
    rho: f64,
    iterations: usize,
}

/// Solves `min ½ αᵀQα`, `0 ≤ α ≤ 1`, `Σα = ν·l` by SMO (module doc), `q`
/// the `l × l` kernel matrix, row after row.
fn solve_one_class(q: &[f64], l: usize, nu: f64) -> Solution {
    debug_assert_eq!(q.len(), l * l);
    let mut alpha = vec![0.0; l];
    let total = nu * l as f64;
    let at_bound = (total as usize).min(l);
    alpha[..at_bound].iter_mut().for_each(|a| *a = 1.0);
    if at_bound < l {
        alpha[at_bound] = total - at_bound as f64;
    }
    // The gradient Qα (the linear term is 0).
    let mut gradient: Vec<f64> = (0..l)
        .map(|i| {
            let row = &q[i * l..(i + 1) * l];
            row.iter().zip(&alpha).map(|(k, a)| k * a).sum()
        })
        .collect();
    let upper = |a: f64| a >= 1.0;
    let lower = |a: f64| a <= 0.0;
    let mut iterations = 0;
    while iterations < MAX_ITERATIONS_PER_POINT * l {
        // i: the most violating α that can grow.
        let mut g_max = f64::NEG_INFINITY;
        let mut i = None;
        for t in 0..l {
            if !upper(alpha[t]) && -gradient[t] >= g_max {
                g_max = -gradient[t];
                i = Some(t);
            }
        }
        let Some(i) = i else { break };
        // j: among those that can shrink, the largest decrease of the objective.
        let q_i = &q[i * l..(i + 1) * l];
        let mut g_max2 = f64::NEG_INFINITY;
        let mut best = f64::INFINITY;
        let mut j = None;
        for t in 0..l {
            if lower(alpha[t]) {
                continue;
            }
            g_max2 = g_max2.max(gradient[t]);
            let grad_diff = g_max + gradient[t];
            if grad_diff > 0.0 {
                let curvature = q_i[i] + q[t * l + t] - 2.0 * q_i[t];
                let decrease =
                    -(grad_diff * grad_diff) / if curvature > 0.0 { curvature } else { TAU };
                if decrease <= best {
                    best = decrease;
                    j = Some(t);
                }
            }
        }
        let Some(j) = j else { break };
        if g_max + g_max2 < TOLERANCE {
            break;
        }
        iterations += 1;
        // The pair moves along αᵢ + αⱼ = constant, clipped to the box.
        let (old_i, old_j) = (alpha[i], alpha[j]);
        let curvature = (q_i[i] + q[j * l + j] - 2.0 * q_i[j]).max(TAU);
        let delta = (gradient[i] - gradient[j]) / curvature;
        let sum = old_i + old_j;
        let (mut a_i, mut a_j) = (old_i - delta, old_j + delta);
        if sum > 1.0 {
            if a_i > 1.0 {
                a_i = 1.0;
                a_j = sum - 1.0;
            }
            if a_j > 1.0 {
                a_j = 1.0;
                a_i = sum - 1.0;
            }
        } else {
            if a_j < 0.0 {
                a_j = 0.0;
                a_i = sum;
            }
            if a_i < 0.0 {
                a_i = 0.0;
                a_j = sum;
            }
        }
        alpha[i] = a_i;
        alpha[j] = a_j;
        let (d_i, d_j) = (a_i - old_i, a_j - old_j);
        let q_j = &q[j * l..(j + 1) * l];
        for ((g, ki), kj) in gradient.iter_mut().zip(q_i).zip(q_j) {
            *g += ki * d_i + kj * d_j;
        }
    }
    // ρ: the mean gradient of the free α, else the middle of the bounds.
    let (mut free_sum, mut free) = (0.0, 0usize);
    let (mut ub, mut lb) = (f64::INFINITY, f64::NEG_INFINITY);
    for (&a, &g) in alpha.iter().zip(&gradient) {
        if upper(a) {
            lb = lb.max(g);
        } else if lower(a) {
            ub = ub.min(g);
        } else {
            free_sum += g;
            free += 1;
        }
    }
    let rho = if free > 0 {
        free_sum / free as f64
    } else {
        (ub + lb) / 2.0
    };
    Solution {
        alpha,
        rho,
        iterations,
    }
}

/// A fitted boundary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Boundary {
    /// (mean, deviation) per number of a point: z = (x − mean) / deviation.
    standardise: Vec<(f64, f64)>,
    gamma: f64,
    /// The support vectors, standardised, one after another.
    support: Vec<f64>,
    /// Their α divided by ν·l (summing to 1).
    weights: Vec<f64>,
    /// ρ divided by ν·l.
    rho: f64,
}

impl Boundary {
    /// Fits `points` (`d` numbers each).
    fn fit(points: &[f64], d: usize, params: &OneClassSvmParams) -> (Boundary, usize) {
        let l = points.len() / d;
        let floor = SpreadFloor {
            min_spread: 0.0,
            min_spread_ratio: params.min_spread_ratio,
        };
        let standardise: Vec<(f64, f64)> = (0..d)
            .map(|k| {
                let column = || points.iter().skip(k).step_by(d);
                let mean = column().sum::<f64>() / l as f64;
                let variance = column().map(|v| (v - mean).powi(2)).sum::<f64>() / l as f64;
                (mean, floor.apply(variance.sqrt(), mean, mean, 0.0))
            })
            .collect();
        let z: Vec<f64> = points
            .chunks_exact(d)
            .flat_map(|x| x.iter().zip(&standardise).map(|(v, (m, s))| (v - m) / s))
            .collect();
        let gamma = params.gamma.unwrap_or_else(|| {
            let mean = z.iter().sum::<f64>() / z.len() as f64;
            let variance = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / z.len() as f64;
            if variance > 0.0 {
                1.0 / (d as f64 * variance)
            } else {
                1.0
            }
        });
        let mut q = vec![0.0; l * l];
        for i in 0..l {
            q[i * l + i] = 1.0;
            for j in 0..i {
                let k = rbf(&z[i * d..(i + 1) * d], &z[j * d..(j + 1) * d], gamma);
                q[i * l + j] = k;
                q[j * l + i] = k;
            }
        }
        let solution = solve_one_class(&q, l, params.nu);
        let total = params.nu * l as f64;
        let mut support = Vec::new();
        let mut weights = Vec::new();
        for (i, &a) in solution.alpha.iter().enumerate() {
            if a > 0.0 {
                support.extend_from_slice(&z[i * d..(i + 1) * d]);
                weights.push(a / total);
            }
        }
        let boundary = Boundary {
            standardise,
            gamma,
            support,
            weights,
            rho: (solution.rho / total).max(f64::MIN_POSITIVE),
        };
        (boundary, solution.iterations)
    }

    /// `−f(x) / ρ`.
    fn score(&self, x: &[f64]) -> f64 {
        let d = self.standardise.len();
        let mut z = [0.0; MAX_DIMENSIONS];
        for ((zk, v), (m, s)) in z.iter_mut().zip(x).zip(&self.standardise) {
            *zk = (v - m) / s;
        }
        let inside: f64 = self
            .support
            .chunks_exact(d)
            .zip(&self.weights)
            .map(|(sv, w)| w * rbf(sv, &z[..d], self.gamma))
            .sum();
        finite(1.0 - inside / self.rho)
    }
}

/// `exp(−γ‖a − b‖²)`.
fn rbf(a: &[f64], b: &[f64], gamma: f64) -> f64 {
    let distance: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    (-gamma * distance).exp()
}

/// A one-class SVM refitted on a window of one series' points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneClassSvm {
    params: OneClassSvmParams,
    shingle: Shingle,
    /// The last `window` points, oldest first, one after another.
    points: VecDeque<f64>,
    /// The last fit; None before the first.
    boundary: Option<Boundary>,
    /// Points learned since the last fit.
    since_fit: usize,
    seen: u64,
}

impl OneClassSvm {
    /// A detector that has learned nothing; `params` must have passed `validate`.
    pub fn new(params: &OneClassSvmParams) -> Self {
        assert!(
            params.validate().is_ok(),
            "OneClassSvm::new with unvalidated parameters: {:?}",
            params.validate()
        );
        let shingle = Shingle::new(params.shingle, params.features);
        OneClassSvm {
            points: VecDeque::with_capacity(params.window * shingle.dimensions()),
            params: params.clone(),
            shingle,
            boundary: None,
            since_fit: 0,
            seen: 0,
        }
    }

    fn kept(&self) -> usize {
        self.points.len() / self.shingle.dimensions()
    }

    /// Fits the boundary on the window as it is; returns the SMO iterations.
    fn fit(&mut self) -> usize {
        let d = self.shingle.dimensions();
        let (boundary, iterations) = Boundary::fit(self.points.make_contiguous(), d, &self.params);
        self.boundary = Some(boundary);
        self.since_fit = 0;
        iterations
    }
}

impl Detector for OneClassSvm {
    fn observe(&mut self, x: &[f64]) -> Verdict {
        if !self.shingle.accepts(x) {
            return Verdict::WARMING_UP;
        }
        self.seen = self.seen.saturating_add(1);
        self.shingle.push(x);
        let Some(point) = self.shingle.point() else {
            return Verdict::WARMING_UP;
        };
        let verdict = match &self.boundary {
            Some(b) => {
                let score = b.score(point);
                Verdict::of(score, score > self.params.threshold)
            }
            None => Verdict::WARMING_UP,
        };
        let d = point.len();
        if self.points.len() == self.params.window * d {
            self.points.drain(..d);
        }
        self.points.extend(point.iter().copied());
        match self.boundary {
            None if self.kept() >= self.params.min_samples => {
                self.fit();
            }
            None => {}
            Some(_) => {
                self.since_fit += 1;
                if self.since_fit == self.params.refit_every {
                    self.fit();
                }
            }
        }
        verdict
    }

    fn seen(&self) -> u64 {
        self.seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{assert_params_parse, assert_rejects_each_spoiled};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn gauss(rng: &mut ChaCha8Rng) -> f64 {
        let u1 = 1.0 - rng.random::<f64>();
        let u2: f64 = rng.random();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Correlated points around (100, 50).
    fn cluster(seed: u64, n: usize) -> Vec<[f64; 2]> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let (a, b) = (gauss(&mut rng), gauss(&mut rng));
                [100.0 + 10.0 * a, 50.0 + 3.0 * (0.8 * a + 0.6 * b)]
            })
            .collect()
    }

    fn two_features() -> OneClassSvmParams {
        OneClassSvmParams {
            features: 2,
            ..OneClassSvmParams::default()
        }
    }

    /// The kernel matrix of `points`, standardised as a fit does.
    fn kernel(points: &[[f64; 2]], gamma: f64) -> Vec<f64> {
        let flat: Vec<f64> = points.iter().flatten().copied().collect();
        let (b, _) = Boundary::fit(&flat, 2, &two_features());
        let l = points.len();
        let z: Vec<Vec<f64>> = points
            .iter()
            .map(|p| {
                p.iter()
                    .zip(&b.standardise)
                    .map(|(v, (m, s))| (v - m) / s)
                    .collect()
            })
            .collect();
        let mut q = vec![0.0; l * l];
        for i in 0..l {
            for j in 0..l {
                q[i * l + j] = rbf(&z[i], &z[j], gamma);
            }
        }
        q
    }

    #[test]
    fn the_solution_meets_the_optimality_conditions_and_the_nu_property() {
        for (seed, nu) in [(1, 0.1), (2, 0.05), (3, 0.5)] {
            let points = cluster(seed, 256);
            let l = points.len();
            let q = kernel(&points, 0.5);
            let s = solve_one_class(&q, l, nu);
            let sum: f64 = s.alpha.iter().sum();
            assert!((sum - nu * l as f64).abs() < 1e-9, "Σα = {sum}");
            assert!(s.alpha.iter().all(|a| (0.0..=1.0).contains(a)));
            assert!(s.iterations < MAX_ITERATIONS_PER_POINT * l, "converged");
            // KKT: G = Qα is ≥ ρ where α = 0, ≤ ρ where α = 1, = ρ between,
            // within the stopping tolerance.
            for i in 0..l {
                let g: f64 = (0..l).map(|j| q[i * l + j] * s.alpha[j]).sum();
                let a = s.alpha[i];
                if a <= 0.0 {
                    assert!(g >= s.rho - TOLERANCE, "α{i} = 0 but G {g} < ρ {}", s.rho);
                } else if a >= 1.0 {
                    assert!(g <= s.rho + TOLERANCE, "α{i} = 1 but G {g} > ρ {}", s.rho);
                } else {
                    assert!(
                        (g - s.rho).abs() <= TOLERANCE,
                        "free α{i}: G {g}, ρ {}",
                        s.rho
                    );
                }
            }
            // Schölkopf's ν-property: outliers ≤ ν·l ≤ support vectors.
            let outliers = (0..l)
                .filter(|&i| {
                    (0..l).map(|j| q[i * l + j] * s.alpha[j]).sum::<f64>() < s.rho - TOLERANCE
                })
                .count();
            let support = s.alpha.iter().filter(|&&a| a > 0.0).count();
            assert!(
                outliers as f64 <= nu * l as f64 + 1.0,
                "{outliers} outliers, ν = {nu}"
            );
            assert!(
                support as f64 >= nu * l as f64,
                "{support} support vectors, ν = {nu}"
            );
        }
    }

    #[test]
    fn an_obvious_outlier_scores_higher_than_every_inlier() {
        let mut svm = OneClassSvm::new(&two_features());
        for p in cluster(4, 1_000) {
            svm.observe(&p);
        }
        let inliers: Vec<f64> = cluster(5, 200)
            .iter()
            .map(|p| svm.clone().observe(p).score)
            .collect();
        let highest = inliers.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert!(highest < 0.95, "an inlier over the threshold: {highest}");
        let inside = inliers.iter().filter(|&&s| s <= 0.0).count();
        assert!(inside >= 150, "{inside} of 200 inliers inside the boundary");
        // 2.5 sds out on one feature and 3.3 on the other, against their
        // correlation of 0.8; and 10 sds out on one.
        let off = svm.clone().observe(&[125.0, 40.0]);
        let far = svm.clone().observe(&[200.0, 50.0]);
        assert!(off.anomalous && off.score > highest, "{off:?} vs {highest}");
        assert!(far.anomalous && far.score > 0.99, "{far:?}");
    }

    #[test]
    fn it_refits_on_schedule_within_its_bounds() {
        let params = OneClassSvmParams {
            min_samples: 100,
            refit_every: 50,
            ..two_features()
        };
        let mut svm = OneClassSvm::new(&params);
        let mut fits = 0;
        for (n, p) in cluster(6, 1_000).iter().enumerate() {
            let before = svm.boundary.clone();
            let v = svm.observe(p);
            assert_eq!(v.judged, n >= 100, "point {n}");
            if svm.boundary != before {
                fits += 1;
                assert!(
                    n + 1 >= 100 && (n + 1 - 100) % 50 == 0,
                    "refit after point {n}"
                );
                let b = svm.boundary.as_ref().unwrap();
                assert!(b.weights.len() <= params.window);
                assert!((b.weights.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            }
            assert!(svm.kept() <= params.window);
        }
        assert_eq!(fits, 1 + (1_000 - 100) / 50);
        // The worst case stated: a refit's iterations are bounded.
        let iterations = svm.fit();
        assert!(iterations <= MAX_ITERATIONS_PER_POINT * params.window);
    }

    #[test]
    fn the_same_points_give_the_same_verdicts_and_a_restore_changes_nothing() {
        let points = cluster(7, 2_000);
        let mut a = OneClassSvm::new(&two_features());
        let mut b = OneClassSvm::new(&two_features());
        for p in &points[..700] {
            assert_eq!(a.observe(p), b.observe(p));
        }
        let bytes = rmp_serde::to_vec(&a).unwrap();
        let mut restored: OneClassSvm = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(restored, a);
        for p in &points[700..] {
            let (x, y) = (a.observe(p), restored.observe(p));
            assert_eq!(
                (x.score.to_bits(), x.anomalous),
                (y.score.to_bits(), y.anomalous)
            );
        }
        assert_eq!(restored, a);
    }

    #[test]
    fn flat_and_quantized_series_give_finite_scores_and_no_alarm_flood() {
        for (name, value) in [
            ("flat at 0", (|_| 0.0) as fn(usize) -> f64),
            ("flat at 10", |_| 10.0),
            ("10, 10, 10, 11", |t| if t % 4 == 3 { 11.0 } else { 10.0 }),
        ] {
            let mut svm = OneClassSvm::new(&OneClassSvmParams::default());
            let mut alarms = 0;
            for t in 0..2_000 {
                let v = svm.observe(&[value(t)]);
                assert!(v.score.is_finite(), "{name}: {v:?}");
                alarms += usize::from(v.anomalous);
            }
            assert_eq!(alarms, 0, "{name}");
        }
    }

    #[test]
    fn observations_it_cannot_judge_are_not_learned() {
        let mut svm = OneClassSvm::new(&two_features());
        for p in cluster(8, 300) {
            svm.observe(&p);
        }
        let before = svm.clone();
        for x in [&[1.0][..], &[1.0, f64::INFINITY][..]] {
            assert_eq!(svm.observe(x), Verdict::WARMING_UP, "{x:?}");
        }
        assert_eq!(svm, before);
    }

    #[test]
    fn params_from_config_take_defaults_and_reject_unknown_fields() {
        assert_params_parse(
            r#"{"nu": 0.05, "gamma": 0.5}"#,
            OneClassSvmParams {
                nu: 0.05,
                gamma: Some(0.5),
                ..OneClassSvmParams::default()
            },
            r#"{"kernel": "rbf"}"#,
        );
    }

    #[test]
    fn rejects_params_that_make_no_sense() {
        assert_rejects_each_spoiled(
            OneClassSvmParams::validate,
            &[
                (|p| p.nu = 0.0, "`nu`"),
                (|p| p.nu = 1.5, "`nu`"),
                (|p| p.gamma = Some(0.0), "`gamma`"),
                (|p| p.window = 1, "`window`"),
                (|p| p.window = 2_000, "`window`"),
                (|p| p.refit_every = 0, "`refit_every`"),
                (|p| p.refit_every = 300, "`refit_every`"),
                (|p| p.threshold = 0.0, "`threshold`"),
                (|p| p.threshold = 2.0, "`threshold`"),
                (|p| p.shingle = 65, "`shingle`"),
                (|p| p.min_samples = 300, "`min_samples`"),
                (|p| p.min_spread_ratio = 1.0, "`min_spread_ratio`"),
            ],
        );
    }
}
