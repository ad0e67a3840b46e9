//! Owns the Isolation Forest (Liu, Ting & Zhou, "Isolation Forest", ICDM
//! 2008) over a sliding window of points: the detector of
//! points (multi-feature observations, or a univariate series shingled)
//! that finds the few and different by how quickly random cuts isolate
//! them. Must judge a point before it learns it, never learn an
//! observation it cannot judge (wrong number of features, or a feature that
//! is not finite), and stay deterministic from its seed across a restore.
//!
//! Streaming. The points of the last `window` observations are kept; every
//! `refit_every` observations (and first once `min_samples` are kept) the
//! forest is grown again: `trees` trees, each on a subsample of
//! `sample_size` points drawn without replacement from the window, cut at a
//! random value of a random feature until a point is alone, all points of a
//! node are equal, or the height limit `ceil(log2 ψ)` is reached (ψ the
//! sample size). A point's path length in a tree is its depth plus, at a
//! leaf of `n` points, `c(n)`, the average path length of an unsuccessful
//! search in a binary search tree of `n` keys, `c(n) = 2H(n − 1) −
//! 2(n − 1)/n`; the score is `2^(−E[h] / c(ψ))`: 0.5 for a point as deep as
//! an average one, towards 1 for a point isolated at once, towards 0 deep
//! inside the mass.
//!
//! Range penalty (`range_penalty`, on by default). A point beyond the range
//! of a tree's sample follows the branch of the sample's extreme and gets
//! its path length, whether it is 15 sds out or just past the leading edge
//! of a trend, so a spike and the next value of a rising season score
//! alike (on the synthetic series of the tests, 0.12 F1 without the
//! penalty, most of it false alarms at the season's edges). SCiForest's
//! remedy (Liu, Ting & Zhou, "On detecting clustered anomalies using
//! SCiForest", ECML PKDD 2010, as isotree's `penalize_range`): each node
//! whose cut the point lies further from than the node's own range along
//! that feature takes 1 off its path length (floored at 0). And at the
//! leaf: `c(n)` is the depth a point still needs *among* the leaf's `n`
//! points, but a point outside their bounding box (a spike landing on a
//! leaf of 20 identical counts) is cut off from them by the next cut, so it
//! gets `min(1, c(n))`; without that a spike on quantized data scores as
//! deep as the value it lands on (0.71 for a spike of 30 sds on integers).
//!
//! State. The trees are not saved: they are a function of the window
//! as it was at the last growth and of a generator derived from the seed
//! and the growth's number (a ChaCha stream per growth), so the saved state
//! is the points, the number and size of the last growth, and counters, a
//! few kilobytes, where the trees are `trees` × up to `2ψ − 1` nodes of 24
//! bytes and a box per leaf (1.6 MB with the defaults, in memory per key),
//! which saved with every checkpoint would be megabytes per key. The points kept are the window plus the `refit_every − 1`
//! oldest points of the window the forest was grown on, so that the same
//! forest is grown again on restore.
//!
//! Derived features (`differences`, none by default): each observation is
//! followed by its changes since `lag` observations ago before it is
//! shingled (`differences` module), so that a step or a value unusual for
//! its time of day stands out though the value alone is ordinary. Their
//! scale does not matter: the cuts of a node are drawn over its own range
//! along the feature, so the forest is unchanged by rescaling a feature.
//!
//! Cost, with `d` numbers a point: per observation, `trees · ceil(log2 ψ)`
//! node visits (800 with the defaults) plus `d` copies; per growth, `trees
//! · ψ · (ceil(log2 ψ) + d)` for the cuts and `trees · ψ` for the draws
//! (about 0.3 M steps with the defaults), once every `refit_every`
//! observations.

use std::borrow::Cow;
use std::collections::VecDeque;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::differences::{check_differences, Differences};
use crate::shingle::{check_shingle, Shingle};
use crate::{check_between_0_and_1, check_min_samples, check_within, finite, Detector, Verdict};

/// The most trees.
pub const MAX_TREES: usize = 1_000;
/// The largest subsample: trees of at most 8 191 nodes, 13 levels.
pub const MAX_SAMPLE_SIZE: usize = 4_096;
/// The longest window, in points.
pub const MAX_WINDOW: usize = 1 << 16;

/// Euler–Mascheroni: `H(i) ≈ ln(i) + γ`.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// `feature` of a leaf.
const LEAF: u32 = u32::MAX;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IsolationForestParams {
    /// How many trees.
    pub trees: usize,
    /// Points each tree is grown on (Liu et al.'s ψ = 256).
    pub sample_size: usize,
    /// Points the subsamples are drawn from: the latest.
    pub window: usize,
    /// Observations between two growths of the forest.
    pub refit_every: usize,
    /// Anomalous when the score is over this. The default is measured on
    /// one feature (spikes on a season, `model`'s tests: F1 0.92 at 0.88,
    /// 0.74 at 0.86, 0.89 at 0.92); with more features a point far out on
    /// one of them scores lower, since cuts of the others do not penalise
    /// it (15 sds out on one of two features: 0.78), so lower it there.
    pub threshold: f64,
    /// Numbers per observation.
    pub features: usize,
    /// Observations per point (`shingle` module); 1: none.
    pub shingle: usize,
    /// Points kept before the forest is first grown and points judged.
    pub min_samples: usize,
    /// SCiForest's range penalty (module doc).
    pub range_penalty: bool,
    /// Lags whose differences follow each observation (module doc), in
    /// observations, increasing: `[1]` adds the last step, `[1, 288]` also
    /// the change since a day ago at 5-minute data; none by default.
    /// Not written when none, so that a configuration without them keeps
    /// the fingerprint and the saved form it had before they existed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<usize>,
}

impl Default for IsolationForestParams {
    fn default() -> Self {
        IsolationForestParams {
            trees: 100,
            sample_size: 256,
            window: 1_024,
            refit_every: 128,
            threshold: 0.88,
            features: 1,
            shingle: 1,
            min_samples: 256,
            range_penalty: true,
            differences: Vec::new(),
        }
    }
}

impl IsolationForestParams {
    pub fn validate(&self) -> Result<(), String> {
        check_within("trees", self.trees, 1..=MAX_TREES)?;
        check_within("sample_size", self.sample_size, 2..=MAX_SAMPLE_SIZE)?;
        check_within("window", self.window, self.sample_size..=MAX_WINDOW)
            .map_err(|e| format!("{e} (at least `sample_size`)"))?;
        check_within("refit_every", self.refit_every, 1..=self.window)?;
        check_between_0_and_1("threshold", self.threshold, "scores are in [0, 1]")?;
        check_shingle(self.shingle, self.features)?;
        check_differences(&self.differences, self.features, self.shingle)?;
        check_min_samples(self.min_samples, self.window)
    }

    /// Points kept: the window, and what the last growth's window still
    /// needs (module doc).
    fn points_kept(&self) -> usize {
        self.window + self.refit_every - 1
    }
}

/// `c(n)`: the average path length of an unsuccessful search in a binary
/// search tree of `n` keys, which a leaf of `n` points adds to its depth.
fn average_path(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
        }
    }
}

/// One node, trees in preorder: a node's left child follows it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Node {
    /// The feature it cuts, or [`LEAF`].
    feature: u32,
    /// The right child's index; at a leaf, its number in `Forest::boxes`.
    right: u32,
    /// The cut (left: below it), or at a leaf its depth plus `c(points)`.
    value: f64,
    /// The range of the node's points along the feature it cuts: a point
    /// further than this from the cut is out of the node's range; at a
    /// leaf, `c(points)`.
    reach: f64,
}

/// The trees of one growth.
#[derive(Debug, Clone, Default, PartialEq)]
struct Forest {
    nodes: Vec<Node>,
    /// Where each tree's root is in `nodes`.
    roots: Vec<u32>,
    /// Each leaf's bounding box, (low, high) per feature, leaf after leaf
    /// (a leaf's `right` is its number).
    boxes: Vec<(f64, f64)>,
    /// `c(ψ)` of the subsample size: what path lengths are measured against.
    average_path: f64,
}

impl Forest {
    /// Grows `trees` trees on subsamples of `sample_size` of `points` (`d`
    /// numbers each) drawn with `rng`.
    fn grow(
        points: &[f64],
        d: usize,
        trees: usize,
        sample_size: usize,
        rng: &mut ChaCha8Rng,
    ) -> Self {
        let n = points.len() / d;
        let psi = sample_size.min(n);
        let limit = psi.next_power_of_two().trailing_zeros() as usize;
        let mut forest = Forest {
            nodes: Vec::with_capacity(trees * (2 * psi - 1)),
            roots: Vec::with_capacity(trees),
            boxes: Vec::with_capacity(trees * psi * d),
            average_path: average_path(psi),
        };
        // A partial Fisher–Yates shuffle per tree; continuing from the last
        // tree's order still draws uniformly, so it is never reset.
        let mut order: Vec<u32> = (0..n as u32).collect();
        let mut sample = Vec::with_capacity(psi);
        for _ in 0..trees {
            for i in 0..psi {
                let j = rng.random_range(i..n);
                order.swap(i, j);
            }
            sample.clear();
            sample.extend_from_slice(&order[..psi]);
            forest.roots.push(forest.nodes.len() as u32);
            let mut grower = Grower {
                points,
                d,
                limit,
                rng,
                nodes: &mut forest.nodes,
                boxes: &mut forest.boxes,
            };
            grower.grow(&mut sample, 0);
        }
        forest
    }

    /// `2^(−E[h] / c(ψ))` of `x`, with the range penalty if `penalise`.
    fn score(&self, x: &[f64], penalise: bool) -> f64 {
        let d = x.len();
        let mut total = 0.0;
        for &root in &self.roots {
            let mut i = root as usize;
            let mut penalty = 0.0;
            loop {
                let node = self.nodes[i];
                if node.feature == LEAF {
                    let mut path = node.value;
                    if penalise {
                        let leaf = &self.boxes[node.right as usize * d..][..d];
                        let outside = x.iter().zip(leaf).any(|(v, &(lo, hi))| *v < lo || *v > hi);
                        if outside {
                            // The depth is `value − c(n)`; c(n) is `reach`.
                            path -= node.reach - node.reach.min(1.0);
                        }
                    }
                    total += (path - penalty).max(0.0);
                    break;
                }
                let v = x[node.feature as usize];
                if penalise && (v - node.value).abs() > node.reach {
                    penalty += 1.0;
                }
                i = if v < node.value {
                    i + 1
                } else {
                    node.right as usize
                };
            }
        }
        let mean = total / self.roots.len() as f64;
        finite(2f64.powf(-mean / self.average_path))
    }
}

/// What growing one tree needs.
struct Grower<'a> {
    points: &'a [f64],
    d: usize,
    limit: usize,
    rng: &'a mut ChaCha8Rng,
    nodes: &'a mut Vec<Node>,
    boxes: &'a mut Vec<(f64, f64)>,
}

impl Grower<'_> {
    /// The range of the points `at` along feature `q`; (∞, −∞) if none.
    fn range(&self, at: &[u32], q: usize) -> (f64, f64) {
        at.iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &i| {
                let v = self.points[i as usize * self.d + q];
                (lo.min(v), hi.max(v))
            })
    }

    /// A leaf of the points `at` at `depth`: its path length, `c(n)` and box.
    fn leaf(&mut self, at: &[u32], depth: usize) {
        let c = average_path(at.len());
        self.nodes.push(Node {
            feature: LEAF,
            right: (self.boxes.len() / self.d) as u32,
            value: depth as f64 + c,
            reach: c,
        });
        for q in 0..self.d {
            let range = self.range(at, q);
            self.boxes.push(range);
        }
    }

    /// Grows the subtree of the points whose indices are `at`, at `depth`.
    fn grow(&mut self, at: &mut [u32], depth: usize) {
        if depth >= self.limit || at.len() <= 1 {
            self.leaf(at, depth);
            return;
        }
        // A random feature; if the node's points are all equal in it, the
        // next one that is not (all equal in all: they cannot be cut).
        let first = self.rng.random_range(0..self.d);
        let Some((q, low, high)) = (0..self.d).find_map(|k| {
            let q = (first + k) % self.d;
            let (low, high) = self.range(at, q);
            (high > low).then_some((q, low, high))
        }) else {
            self.leaf(at, depth);
            return;
        };
        let cut = low + self.rng.random::<f64>() * (high - low);
        let mut left = 0;
        for k in 0..at.len() {
            if self.points[at[k] as usize * self.d + q] < cut {
                at.swap(left, k);
                left += 1;
            }
        }
        let me = self.nodes.len();
        self.nodes.push(Node {
            feature: q as u32,
            right: 0,
            value: cut,
            reach: high - low,
        });
        let (below, above) = at.split_at_mut(left);
        self.grow(below, depth + 1);
        self.nodes[me].right = self.nodes.len() as u32;
        self.grow(above, depth + 1);
    }
}

/// The last growth of the forest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Growth {
    /// Its number, 1 for the first: the ChaCha stream it drew from.
    number: u64,
    /// Points of the window it was grown on.
    points: usize,
}

/// An isolation forest over a sliding window of one series' points.
#[derive(Debug, Clone, PartialEq)]
pub struct IsolationForest {
    params: IsolationForestParams,
    seed: u64,
    differences: Differences,
    shingle: Shingle,
    /// The points kept (`points_kept`), oldest first, one after another.
    points: VecDeque<f64>,
    /// The last growth; None before the first.
    growth: Option<Growth>,
    /// Points learned since the last growth.
    since_growth: usize,
    seen: u64,
    /// The trees of the last growth (not saved: module doc).
    forest: Forest,
}

impl IsolationForest {
    /// A forest that has learned nothing; `params` must have passed `validate`.
    pub fn new(params: &IsolationForestParams, seed: u64) -> Self {
        assert!(
            params.validate().is_ok(),
            "IsolationForest::new with unvalidated parameters: {:?}",
            params.validate()
        );
        let differences = Differences::new(&params.differences, params.features);
        let shingle = Shingle::new(params.shingle, differences.dimensions());
        IsolationForest {
            points: VecDeque::with_capacity(params.points_kept() * shingle.dimensions()),
            params: params.clone(),
            seed,
            differences,
            shingle,
            growth: None,
            since_growth: 0,
            seen: 0,
            forest: Forest::default(),
        }
    }

    /// Points kept.
    fn kept(&self) -> usize {
        self.points.len() / self.shingle.dimensions()
    }

    /// Grows the forest of `growth` on the window it was grown on, which
    /// ends `since_growth` points before the newest.
    fn regrow(&mut self, growth: Growth) {
        let d = self.shingle.dimensions();
        let end = self.kept() - self.since_growth;
        let points = &self.points.make_contiguous()[(end - growth.points) * d..end * d];
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(growth.number);
        self.forest = Forest::grow(
            points,
            d,
            self.params.trees,
            self.params.sample_size,
            &mut rng,
        );
        self.growth = Some(growth);
    }

    /// Grows a new forest on the window as it is.
    fn grow(&mut self) {
        let number = self.growth.map_or(1, |g| g.number + 1);
        self.since_growth = 0;
        let points = self.kept().min(self.params.window);
        self.regrow(Growth { number, points });
    }
}

impl Detector for IsolationForest {
    fn observe(&mut self, x: &[f64]) -> Verdict {
        if !self.differences.accepts(x) {
            return Verdict::WARMING_UP;
        }
        self.seen = self.seen.saturating_add(1);
        let Some(derived) = self.differences.push(x) else {
            return Verdict::WARMING_UP;
        };
        // A difference of finite numbers can overflow (1e308 − −1e308).
        if !self.shingle.accepts(&derived) {
            return Verdict::WARMING_UP;
        }
        self.shingle.push(&derived);
        let Some(point) = self.shingle.point() else {
            return Verdict::WARMING_UP;
        };
        let verdict = match self.growth {
            Some(_) => {
                let score = self.forest.score(point, self.params.range_penalty);
                Verdict::of(score, score > self.params.threshold)
            }
            None => Verdict::WARMING_UP,
        };
        let d = point.len();
        if self.kept() == self.params.points_kept() {
            self.points.drain(..d);
        }
        self.points.extend(point.iter().copied());
        match self.growth {
            None if self.kept() >= self.params.min_samples => self.grow(),
            None => {}
            Some(_) => {
                self.since_growth += 1;
                if self.since_growth == self.params.refit_every {
                    self.grow();
                }
            }
        }
        verdict
    }

    fn seen(&self) -> u64 {
        self.seen
    }
}

/// The saved form: everything but the trees, which are grown again.
#[derive(Serialize, Deserialize)]
struct Saved<'a> {
    params: Cow<'a, IsolationForestParams>,
    seed: u64,
    shingle: Cow<'a, Shingle>,
    points: Cow<'a, VecDeque<f64>>,
    growth: Option<Growth>,
    since_growth: usize,
    seen: u64,
    /// None without differences, as in states saved before they existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    differences: Option<Cow<'a, Differences>>,
}

impl Serialize for IsolationForest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Saved {
            params: Cow::Borrowed(&self.params),
            seed: self.seed,
            shingle: Cow::Borrowed(&self.shingle),
            points: Cow::Borrowed(&self.points),
            growth: self.growth,
            since_growth: self.since_growth,
            seen: self.seen,
            differences: (!self.params.differences.is_empty())
                .then_some(Cow::Borrowed(&self.differences)),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for IsolationForest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let saved = Saved::deserialize(deserializer)?;
        let fail = |why: &str| serde::de::Error::custom(format!("a saved isolation forest {why}"));
        let params = saved.params.into_owned();
        params.validate().map_err(|e| fail(&e))?;
        let mut forest = IsolationForest::new(&params, saved.seed);
        let shingle = saved.shingle.into_owned();
        if !shingle.is_consistent() || shingle.dimensions() != forest.shingle.dimensions() {
            return Err(fail("has a shingle that does not fit its parameters"));
        }
        match saved.differences {
            Some(differences) if differences.fits(&params.differences, params.features) => {
                forest.differences = differences.into_owned();
            }
            None if params.differences.is_empty() => {}
            _ => return Err(fail("has differences that do not fit its parameters")),
        }
        let d = shingle.dimensions();
        let points = saved.points.into_owned();
        if !points.len().is_multiple_of(d)
            || points.len() / d > params.points_kept()
            || !points.iter().all(|v| v.is_finite())
        {
            return Err(fail("holds points that do not fit its window"));
        }
        forest.shingle = shingle;
        forest.points = points;
        forest.since_growth = saved.since_growth;
        forest.seen = saved.seen;
        if let Some(growth) = saved.growth {
            let kept = forest.kept();
            if saved.since_growth >= params.refit_every
                || growth.points < 1
                || growth.points > params.window
                || growth.points + saved.since_growth > kept
            {
                return Err(fail("was grown on points it no longer holds"));
            }
            forest.regrow(growth);
        }
        Ok(forest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{assert_params_parse, assert_rejects_each_spoiled};

    /// A standard normal draw (Box–Muller).
    fn gauss(rng: &mut ChaCha8Rng) -> f64 {
        let u1 = 1.0 - rng.random::<f64>();
        let u2: f64 = rng.random();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    fn cluster(seed: u64, n: usize) -> Vec<[f64; 2]> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| [10.0 + gauss(&mut rng), -5.0 + 2.0 * gauss(&mut rng)])
            .collect()
    }

    fn two_features() -> IsolationForestParams {
        IsolationForestParams {
            features: 2,
            ..IsolationForestParams::default()
        }
    }

    #[test]
    fn c_of_n_is_the_average_unsuccessful_search_path() {
        assert_eq!(average_path(1), 0.0);
        assert_eq!(average_path(2), 1.0);
        // 2·H(255) − 2·255/256, H(255) = 6.1243...
        assert!(
            (average_path(256) - 10.2448).abs() < 1e-3,
            "{}",
            average_path(256)
        );
    }

    #[test]
    fn an_obvious_outlier_scores_higher_than_every_inlier() {
        let points = cluster(1, 2_000);
        let mut f = IsolationForest::new(&two_features(), 3);
        for p in &points {
            f.observe(p);
        }
        let inliers: Vec<f64> = cluster(2, 200)
            .iter()
            .map(|p| f.clone().observe(p).score)
            .collect();
        let highest = inliers.iter().copied().fold(0.0, f64::max);
        let mean = inliers.iter().sum::<f64>() / inliers.len() as f64;
        assert!((0.35..0.5).contains(&mean), "inliers average {mean}");
        assert!(inliers.iter().all(|&s| s <= 0.88), "{highest}");
        // 15 sds out on the first feature, ordinary on the second.
        let far = f.clone().observe(&[25.0, -5.0]);
        assert!(far.score > highest, "{} vs {highest}", far.score);
        // 15 sds out on the first and 7.5 on the second.
        let farther = f.clone().observe(&[25.0, -20.0]);
        assert!(farther.anomalous && farther.score > 0.95, "{farther:?}");
    }

    #[test]
    fn the_range_penalty_scores_a_point_higher_the_further_out_it_is() {
        let points = cluster(11, 2_000);
        let score = |range_penalty: bool, x: f64| {
            let params = IsolationForestParams {
                range_penalty,
                ..two_features()
            };
            let mut f = IsolationForest::new(&params, 3);
            for p in &points {
                f.observe(p);
            }
            f.observe(&[x, -5.0]).score
        };
        // Without it every point past the sample's largest value follows
        // the same branches: 5 and 15 sds out score alike.
        let (near, far) = (score(false, 15.0), score(false, 25.0));
        assert_eq!(near, far);
        let (near, far) = (score(true, 15.0), score(true, 25.0));
        assert!(far > near + 0.03, "{near} then {far}");
    }

    #[test]
    fn same_seed_same_scores_other_seed_other_trees() {
        let points = cluster(4, 1_500);
        let mut a = IsolationForest::new(&two_features(), 42);
        let mut b = IsolationForest::new(&two_features(), 42);
        let mut c = IsolationForest::new(&two_features(), 43);
        let mut differ = 0;
        for p in &points {
            let (va, vb, vc) = (a.observe(p), b.observe(p), c.observe(p));
            assert_eq!(va.score.to_bits(), vb.score.to_bits());
            differ += usize::from(va.score != vc.score);
        }
        assert_eq!(a, b);
        assert!(differ > 1_000, "another seed grows other trees: {differ}");
    }

    #[test]
    fn the_forest_is_grown_first_at_min_samples_then_every_refit_every() {
        let params = IsolationForestParams {
            min_samples: 300,
            refit_every: 100,
            ..two_features()
        };
        let mut f = IsolationForest::new(&params, 5);
        let points = cluster(6, 1_000);
        for (n, p) in points.iter().enumerate() {
            let before = f.growth;
            let v = f.observe(p);
            assert_eq!(v.judged, n >= 300, "point {n}");
            let grown = f.growth != before;
            assert_eq!(grown, n + 1 >= 300 && (n + 1 - 300) % 100 == 0, "point {n}");
            assert!(f.kept() <= params.points_kept());
        }
        let g = f.growth.unwrap();
        assert_eq!((g.number, g.points), (8, 1_000));
        assert_eq!(f.forest.roots.len(), 100);
        let most = 100 * (2 * 256 - 1);
        assert!(f.forest.nodes.len() <= most, "{}", f.forest.nodes.len());
    }

    #[test]
    fn restored_state_regrows_the_same_forest_and_gives_identical_verdicts() {
        let points = cluster(7, 3_000);
        let params = IsolationForestParams {
            shingle: 2,
            ..two_features()
        };
        // Before the first growth, right after one, and between two.
        for cut in [100, 385, 1_000, 1_130] {
            let mut f = IsolationForest::new(&params, 9);
            for p in &points[..cut] {
                f.observe(p);
            }
            let bytes = rmp_serde::to_vec(&f).unwrap();
            // The points kept, 4 numbers each, and little else.
            let most = params.points_kept() * 4 * 9 + 1_000;
            assert!(bytes.len() < most, "{} bytes saved", bytes.len());
            let mut restored: IsolationForest = rmp_serde::from_slice(&bytes).unwrap();
            assert_eq!(restored, f, "cut at {cut}");
            for p in &points[cut..] {
                let (a, b) = (f.observe(p), restored.observe(p));
                assert_eq!(
                    (a.score.to_bits(), a.anomalous),
                    (b.score.to_bits(), b.anomalous)
                );
            }
            assert_eq!(restored, f);
        }
    }

    /// A series at 0 or 10, each level held for 50.
    fn square_wave(t: usize) -> f64 {
        if (t / 50).is_multiple_of(2) {
            0.0
        } else {
            10.0
        }
    }

    #[test]
    fn a_step_out_of_season_stands_out_in_the_differences() {
        // A step of the square wave 20 observations early: both levels are
        // ordinary and so is a step of 10, but not against the wave a
        // period (100) ago.
        let step = |differences: Vec<usize>| {
            let params = IsolationForestParams {
                differences,
                ..IsolationForestParams::default()
            };
            let mut f = IsolationForest::new(&params, 2);
            for t in 0..3_020 {
                f.observe(&[square_wave(t)]);
            }
            f.observe(&[10.0]).score
        };
        let (alone, seasonal) = (step(vec![]), step(vec![1, 100]));
        assert!(alone < 0.6, "as a value: {alone}");
        assert!(seasonal > 0.7, "against a period ago: {seasonal}");
    }

    #[test]
    fn restored_differences_give_identical_verdicts_and_none_save_as_before() {
        let params = IsolationForestParams {
            differences: vec![1, 100],
            shingle: 2,
            ..IsolationForestParams::default()
        };
        let series: Vec<f64> = (0..2_000)
            .map(|t| square_wave(t) + (t % 7) as f64)
            .collect();
        for cut in [50, 150, 700] {
            let mut f = IsolationForest::new(&params, 4);
            for &x in &series[..cut] {
                f.observe(&[x]);
            }
            let bytes = rmp_serde::to_vec(&f).unwrap();
            let mut restored: IsolationForest = rmp_serde::from_slice(&bytes).unwrap();
            assert_eq!(restored, f, "cut at {cut}");
            for &x in &series[cut..] {
                let (a, b) = (f.observe(&[x]), restored.observe(&[x]));
                assert_eq!(a.score.to_bits(), b.score.to_bits());
            }
        }
        // Without differences neither the parameters nor the state mention
        // them: the fingerprint and the saved form are as before them.
        let plain = IsolationForestParams::default();
        assert!(!serde_json::to_string(&plain)
            .unwrap()
            .contains("differences"));
        let mut f = IsolationForest::new(&plain, 4);
        for &x in &series[..400] {
            f.observe(&[x]);
        }
        let mut saved = rmp_serde::to_vec(&f).unwrap();
        let restored: IsolationForest = rmp_serde::from_slice(&saved).unwrap();
        assert_eq!(restored, f);
        // A state with lags configured but no differences kept is refused.
        let lagged = IsolationForest::new(&params, 4);
        saved = rmp_serde::to_vec(&Saved {
            params: Cow::Borrowed(&lagged.params),
            seed: 4,
            shingle: Cow::Borrowed(&lagged.shingle),
            points: Cow::Owned(VecDeque::new()),
            growth: None,
            since_growth: 0,
            seen: 0,
            differences: None,
        })
        .unwrap();
        let err = rmp_serde::from_slice::<IsolationForest>(&saved).unwrap_err();
        assert!(err.to_string().contains("differences"), "{err}");
    }

    #[test]
    fn a_saved_state_that_cannot_be_grown_again_is_refused() {
        let mut f = IsolationForest::new(&two_features(), 1);
        for p in cluster(8, 500) {
            f.observe(&p);
        }
        let mut saved = Saved {
            params: Cow::Borrowed(&f.params),
            seed: 1,
            shingle: Cow::Borrowed(&f.shingle),
            points: Cow::Owned(f.points.iter().take(20).copied().collect()),
            growth: f.growth,
            since_growth: f.since_growth,
            seen: f.seen,
            differences: None,
        };
        let bytes = rmp_serde::to_vec(&saved).unwrap();
        let err = rmp_serde::from_slice::<IsolationForest>(&bytes).unwrap_err();
        assert!(err.to_string().contains("no longer holds"), "{err}");
        saved.points = Cow::Owned(f.points.iter().take(3).copied().collect());
        let bytes = rmp_serde::to_vec(&saved).unwrap();
        assert!(rmp_serde::from_slice::<IsolationForest>(&bytes).is_err());
    }

    #[test]
    fn a_spike_on_quantized_values_is_cut_off_from_the_leaf_it_lands_on() {
        // Integers from 94 to 106: every leaf at the sample's edge holds a
        // score of copies of one value, and a spike follows into one.
        let score = |range_penalty: bool| {
            let params = IsolationForestParams {
                range_penalty,
                ..IsolationForestParams::default()
            };
            let mut f = IsolationForest::new(&params, 1);
            for t in 0..700_i64 {
                f.observe(&[100.0 + ((t * 7_919) % 13) as f64 - 6.0]);
            }
            f.observe(&[300.0])
        };
        let (plain, penalised) = (score(false), score(true));
        assert!(plain.score < 0.75, "{plain:?}");
        assert!(
            penalised.anomalous && penalised.score > 0.9,
            "{penalised:?}"
        );
    }

    #[test]
    fn identical_points_cannot_be_cut_and_score_one_half() {
        let mut f = IsolationForest::new(&IsolationForestParams::default(), 1);
        for _ in 0..600 {
            let v = f.observe(&[10.0]);
            assert!(!v.anomalous, "{v:?}");
        }
        assert_eq!(f.forest.nodes.len(), 100, "one leaf a tree");
        assert!((f.observe(&[10.0]).score - 0.5).abs() < 1e-12);
    }

    #[test]
    fn a_shingle_finds_a_blip_of_an_ordinary_value() {
        // A square wave between 0 and 10, each level held for 50: a single
        // 10 among 0s is an ordinary value, but 0, 10, 0 is a shape the
        // series never had.
        let blip = |shingle: usize| {
            let params = IsolationForestParams {
                shingle,
                ..IsolationForestParams::default()
            };
            let mut f = IsolationForest::new(&params, 2);
            // Up to the middle of a stretch of 0s.
            for t in 0..3_020 {
                f.observe(&[square_wave(t)]);
            }
            let (up, down) = (f.observe(&[10.0]), f.observe(&[0.0]));
            up.score.max(down.score)
        };
        let (alone, shingled) = (blip(1), blip(3));
        assert!(alone < 0.6, "as a value: {alone}");
        assert!(shingled > 0.7, "as a shape: {shingled}");
    }

    #[test]
    fn observations_it_cannot_judge_are_not_learned() {
        let mut f = IsolationForest::new(&two_features(), 3);
        for p in cluster(10, 400) {
            f.observe(&p);
        }
        let before = f.clone();
        for x in [&[1.0][..], &[1.0, 2.0, 3.0][..], &[f64::NAN, 1.0][..]] {
            assert_eq!(f.observe(x), Verdict::WARMING_UP, "{x:?}");
        }
        assert_eq!(f, before);
    }

    #[test]
    fn params_from_config_take_defaults_and_reject_unknown_fields() {
        assert_params_parse(
            r#"{"trees": 50, "shingle": 4}"#,
            IsolationForestParams {
                trees: 50,
                shingle: 4,
                ..IsolationForestParams::default()
            },
            r#"{"n_estimators": 50}"#,
        );
    }

    #[test]
    fn rejects_params_that_make_no_sense() {
        assert_rejects_each_spoiled(
            IsolationForestParams::validate,
            &[
                (|p| p.trees = 0, "`trees`"),
                (|p| p.trees = 1_001, "`trees`"),
                (|p| p.sample_size = 1, "`sample_size`"),
                (|p| p.sample_size = 5_000, "`sample_size`"),
                (|p| p.window = 100, "at least `sample_size`"),
                (|p| p.refit_every = 0, "`refit_every`"),
                (|p| p.refit_every = 2_000, "`refit_every`"),
                (|p| p.threshold = 1.0, "`threshold`"),
                (|p| p.threshold = f64::NAN, "`threshold`"),
                (|p| p.features = 0, "`features`"),
                (|p| p.shingle = 0, "`shingle`"),
                (|p| (p.features, p.shingle) = (8, 9), "72 numbers"),
                (|p| p.min_samples = 1, "`min_samples`"),
                (|p| p.min_samples = 1_025, "`min_samples`"),
                (|p| p.differences = vec![0], "`differences`"),
                (|p| p.differences = vec![288, 1], "increasing"),
                (
                    |p| (p.differences, p.shingle) = (vec![1, 2, 3], 20),
                    "80 numbers",
                ),
            ],
        );
    }
}
