//! Owns Half-Space Trees (Tan, Ting & Liu, "Fast Anomaly Detection for
//! Streaming Data", IJCAI 2011), the streaming isolation-forest-family
//! detector of multi-feature observations. The trees are random halvings of a
//! work space, drawn from the seed before any data is seen; only their masses
//! learn. Each node counts the observations of the last full window (the
//! reference mass `r`) and of the window being filled (the latest mass `l`);
//! every `window` observations `l` becomes `r` and counting starts again.
//! It must not allocate per observation (its buffers are on the stack, its
//! lists only grow to a high-water mark), and never learn an observation it
//! cannot judge (wrong number of features, or a feature that is not finite).
//!
//! Implemented here because no maintained crate fits: `extended-isolation-forest`
//! and `isolation_forest` are batch-trained, irithyll's streaming trees come with
//! a whole machine-learning framework, and this state must live in [`crate::model::Model`].
//!
//! Features are scaled onto [0, 1] by `ranges`, or, when none are given, by
//! the min and max of the first `window` observations (the reference window,
//! held until it is full and then learned as the first mass profile; a
//! feature constant there gets a tiny span, so that any change is far). Each
//! tree's work space is, per feature, the paper's `[sq − 2·max(sq, 1 − sq),
//! sq + 2·max(sq, 1 − sq)]` for a random `sq` in [0, 1], and each node halves
//! its box along a random feature.
//!
//! Score. In each tree an observation ends at the first node whose reference
//! mass is at most `window / 10` (the paper's size limit), or at a leaf; there
//! the paper counts `r · 2^k` (`k` the node's depth; high means normal). We
//! average `log2(1 + r · 2^k)` over the trees rather than summing `r · 2^k`:
//! the sum is ruled by the few trees whose random features never separated a
//! far point from the cluster (on a two-feature stream like the test's, for
//! some seeds it caught under half of the sessions far out on one feature at
//! a 1% false-alarm rate, where the mean of the logs caught them all), while
//! the mean of the logs, like isolation forest's mean path length, is not.
//! It is normalised by the largest value a tree can give, a leaf holding the
//! whole window:
//!
//! `score = 1 − mean over trees of log2(1 + r·2^k) / log2(1 + window·2^depth)`
//!
//! 0 when every tree ends in a leaf holding every reference observation, 1
//! when every tree ends in a node the reference window left empty. With the
//! defaults a typical point of a two-feature cluster scores about 0.5, and
//! 0.8 means the geometric mean over trees of `1 + r · 2^k` is under
//! 2^4.6 ≈ 24: about one reference observation in a node of a sixteenth to a
//! thirty-second of the work space.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::spread::SpreadFloor;
use crate::{finite, Detector, Verdict};

/// The most features an observation may have (the stack buffers' size).
pub const MAX_FEATURES: usize = 16;
/// The deepest trees: 2^21 − 1 nodes each.
pub const MAX_DEPTH: usize = 20;
/// The most trees.
pub const MAX_TREES: usize = 256;
/// The most nodes over all trees (6 bytes each: about 100 MB).
pub const MAX_NODES: usize = 1 << 24;
/// The shortest mass window: below ten observations the size limit is zero.
pub const MIN_WINDOW: usize = 10;
/// The longest mass window (masses are 16-bit counts).
pub const MAX_WINDOW: usize = u16::MAX as usize;
/// Trees that descend side by side.
const TREES_IN_STEP: usize = 8;

/// The model's shape and its judgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HstParams {
    /// How many trees.
    pub trees: usize,
    /// Depth of every tree's leaves (the root is depth 0); each level
    /// doubles the model's memory.
    pub depth: usize,
    /// Observations per mass profile.
    pub window: usize,
    /// Anomalous when the normalised score (module doc) is over this.
    pub threshold: f64,
    /// How many features an observation has; any other length is not judged.
    pub features: usize,
    /// Known (min, max) of each feature; when empty, the reference window's.
    pub ranges: Vec<(f64, f64)>,
    /// Observations learned before verdicts are given; never less than
    /// `window`, since there is no reference mass before one window is full.
    pub min_samples: usize,
}

impl Default for HstParams {
    fn default() -> Self {
        HstParams {
            trees: 25,
            depth: 15,
            window: 250,
            threshold: 0.8,
            features: 1,
            ranges: Vec::new(),
            min_samples: 250,
        }
    }
}

/// Nodes in a full binary tree whose leaves are at `depth`.
fn nodes_per_tree(depth: usize) -> usize {
    (2usize << depth) - 1
}

impl HstParams {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_TREES).contains(&self.trees) {
            return Err(format!(
                "`trees` = {} is not in 1..={MAX_TREES}",
                self.trees
            ));
        }
        if !(1..=MAX_DEPTH).contains(&self.depth) {
            return Err(format!(
                "`depth` = {} is not in 1..={MAX_DEPTH}",
                self.depth
            ));
        }
        if self.trees * nodes_per_tree(self.depth) > MAX_NODES {
            return Err(format!(
                "`trees` = {} of `depth` = {} make {} nodes, over the {MAX_NODES} limit; lower either",
                self.trees,
                self.depth,
                self.trees * nodes_per_tree(self.depth)
            ));
        }
        if !(MIN_WINDOW..=MAX_WINDOW).contains(&self.window) {
            return Err(format!(
                "`window` = {} is not in {MIN_WINDOW}..={MAX_WINDOW}",
                self.window
            ));
        }
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            return Err(format!(
                "`threshold` = {} is not between 0 and 1 (scores are in [0, 1])",
                self.threshold
            ));
        }
        if !(1..=MAX_FEATURES).contains(&self.features) {
            return Err(format!(
                "`features` = {} is not in 1..={MAX_FEATURES}",
                self.features
            ));
        }
        if !self.ranges.is_empty() && self.ranges.len() != self.features {
            return Err(format!(
                "`ranges` has {} entries for `features` = {}: give one (min, max) per feature, or none",
                self.ranges.len(),
                self.features
            ));
        }
        for (q, &(min, max)) in self.ranges.iter().enumerate() {
            if !(min.is_finite() && max.is_finite() && min < max) {
                return Err(format!(
                    "`ranges`[{q}] = ({min}, {max}) is not a finite range with min < max"
                ));
            }
        }
        Ok(())
    }

    /// Observations learned before the first verdict.
    fn warm_up(&self) -> u64 {
        self.min_samples.max(self.window) as u64
    }

    /// The paper's size limit: a node holding at most this much reference
    /// mass is too sparse to descend further.
    fn size_limit(&self) -> u16 {
        (self.window / 10) as u16
    }
}

/// One node of a tree in implicit full-binary-tree order (children of `i`
/// at `2i + 1` and `2i + 2`). Its split value is not stored: it is the middle
/// of the node's box along `dim`, recomputed while descending.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Node {
    /// The feature this node halves (unused at leaves).
    dim: u8,
    /// Reference mass: observations of the last full window through here.
    r: u16,
    /// Latest mass: observations of the window being filled through here.
    l: u16,
}

// The footprint stated on `HalfSpaceTrees`.
const _: () = assert!(std::mem::size_of::<Node>() == 6);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Tree {
    /// The root's box: (low, high) per scaled feature.
    space: Vec<(f64, f64)>,
    nodes: Vec<Node>,
    /// Nodes whose `l` is non-zero, so that rolling the window touches only them.
    latest_touched: Vec<u32>,
    /// Nodes whose `r` is non-zero.
    reference_touched: Vec<u32>,
}

/// Where an observation's descent of one tree has got to.
#[derive(Clone, Copy)]
struct Walk {
    /// The current node.
    at: usize,
    /// The current node's box: [low, high] per feature.
    bounds: [[f64; 2]; MAX_FEATURES],
    /// `r · 2^k` where the observation ended, once it has.
    mass_score: Option<u64>,
}

impl Walk {
    const UNSTARTED: Walk = Walk {
        at: 0,
        bounds: [[0.0; 2]; MAX_FEATURES],
        mass_score: None,
    };

    /// Back at the root of a tree whose work space is `space`.
    fn restart(&mut self, space: &[(f64, f64)]) {
        self.at = 0;
        self.mass_score = None;
        for (b, &(low, high)) in self.bounds.iter_mut().zip(space) {
            *b = [low, high];
        }
    }
}

impl Tree {
    fn random(rng: &mut ChaCha8Rng, features: usize, depth: usize) -> Tree {
        let space = (0..features)
            .map(|_| {
                let sq: f64 = rng.random();
                let reach = 2.0 * sq.max(1.0 - sq);
                (sq - reach, sq + reach)
            })
            .collect();
        let internal = (1usize << depth) - 1;
        let nodes = (0..nodes_per_tree(depth))
            .map(|i| Node {
                dim: if i < internal {
                    rng.random_range(0..features as u8)
                } else {
                    0
                },
                r: 0,
                l: 0,
            })
            .collect();
        Tree {
            space,
            nodes,
            latest_touched: Vec::new(),
            reference_touched: Vec::new(),
        }
    }

    /// Takes `walk` one node down towards scaled observation `z` (at depth
    /// `k`): counts it in the node's latest mass, and notes the paper's
    /// `r · 2^k` if this is where it ends against the reference mass (the
    /// first node with `r <= size_limit`, or the leaf).
    fn step(&mut self, walk: &mut Walk, z: &[f64], k: usize, depth: usize, size_limit: u16) {
        let node = &mut self.nodes[walk.at];
        if walk.mass_score.is_none() && (k == depth || node.r <= size_limit) {
            walk.mass_score = Some(u64::from(node.r) << k);
        }
        if node.l == 0 {
            self.latest_touched.push(walk.at as u32);
        }
        node.l += 1;
        if k == depth {
            return;
        }
        // Which side is a coin toss for the branch predictor: keep the step
        // branch-free so that the walks of several trees overlap.
        let q = usize::from(node.dim);
        let [low, high] = walk.bounds[q];
        let middle = 0.5 * (low + high);
        let right = z[q] >= middle;
        walk.bounds[q][usize::from(!right)] = middle;
        walk.at = 2 * walk.at + 1 + usize::from(right);
    }

    /// The paper's model update at a window's end: `r ← l`, `l ← 0`.
    fn roll_window(&mut self) {
        for &i in &self.reference_touched {
            self.nodes[i as usize].r = 0;
        }
        for &i in &self.latest_touched {
            let node = &mut self.nodes[i as usize];
            node.r = node.l;
            node.l = 0;
        }
        std::mem::swap(&mut self.reference_touched, &mut self.latest_touched);
        self.latest_touched.clear();
    }
}

/// Half-Space Trees over one series of multi-feature observations. It
/// weighs 6 bytes per node, `trees · (2^(depth + 1) − 1)` nodes: 9.8 MB
/// with the default 25 trees of depth 15.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HalfSpaceTrees {
    params: HstParams,
    trees: Vec<Tree>,
    /// (offset, factor) per feature: scaled = (x − offset) · factor; empty
    /// until the reference window is full when no `ranges` were given.
    scaling: Vec<(f64, f64)>,
    /// The reference window's raw observations, one after another, held
    /// until the scaling can be fixed; empty afterwards.
    reference: Vec<f64>,
    /// Observations in the latest mass profile.
    in_window: usize,
    seen: u64,
}

impl HalfSpaceTrees {
    /// Fresh trees drawn from `seed`; `params` must have passed `validate`.
    pub fn new(params: &HstParams, seed: u64) -> Self {
        assert!(
            params.validate().is_ok(),
            "HalfSpaceTrees::new with unvalidated parameters: {:?}",
            params.validate()
        );
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let trees = (0..params.trees)
            .map(|_| Tree::random(&mut rng, params.features, params.depth))
            .collect();
        let scaling = params
            .ranges
            .iter()
            .map(|&(min, max)| (min, 1.0 / (max - min)))
            .collect();
        HalfSpaceTrees {
            params: params.clone(),
            trees,
            scaling,
            reference: Vec::new(),
            in_window: 0,
            seen: 0,
        }
    }

    /// Scores scaled `z` in every tree and learns it; returns the sum over
    /// trees of `log2(1 + r · 2^k)`.
    fn score_and_learn(&mut self, z: &[f64]) -> f64 {
        let depth = self.params.depth;
        let size_limit = self.params.size_limit();
        let mut bits = 0.0;
        // Trees descend a level at a time, side by side, so that their node
        // loads (mostly cache misses at depth) are in flight together.
        let mut walks = [Walk::UNSTARTED; TREES_IN_STEP];
        for group in self.trees.chunks_mut(TREES_IN_STEP) {
            for (walk, tree) in walks.iter_mut().zip(group.iter()) {
                walk.restart(&tree.space);
            }
            for k in 0..=depth {
                for (walk, tree) in walks.iter_mut().zip(group.iter_mut()) {
                    tree.step(walk, z, k, depth, size_limit);
                }
            }
            for walk in &walks[..group.len()] {
                bits += (1.0 + walk.mass_score.unwrap_or(0) as f64).log2();
            }
        }
        self.in_window += 1;
        if self.in_window == self.params.window {
            for tree in &mut self.trees {
                tree.roll_window();
            }
            self.in_window = 0;
        }
        bits
    }

    /// Scales `x` into a stack buffer (only the first `features` entries count).
    fn scale(&self, x: &[f64]) -> [f64; MAX_FEATURES] {
        let mut z = [0.0; MAX_FEATURES];
        for ((zq, &xq), &(offset, factor)) in z.iter_mut().zip(x).zip(&self.scaling) {
            *zq = (xq - offset) * factor;
        }
        z
    }

    /// Fixes the scaling from the full reference window, then learns it as
    /// the first mass profile.
    fn learn_reference_window(&mut self) {
        let features = self.params.features;
        self.scaling = (0..features)
            .map(|q| {
                let column = || self.reference.iter().skip(q).step_by(features).copied();
                let min = column().fold(f64::INFINITY, f64::min);
                let max = column().fold(f64::NEG_INFINITY, f64::max);
                let level = min.abs().max(max.abs());
                (
                    min,
                    1.0 / SpreadFloor::NONE.apply(max - min, level, level, 0.0),
                )
            })
            .collect();
        let reference = std::mem::take(&mut self.reference);
        for x in reference.chunks_exact(features) {
            let z = self.scale(x);
            self.score_and_learn(&z[..features]);
        }
    }

    /// The normalised score of a sum over trees of `log2(1 + r · 2^k)`.
    fn normalised(&self, bits: f64) -> f64 {
        let full_tree =
            (1.0 + self.params.window as f64 * 2f64.powi(self.params.depth as i32)).log2();
        finite(1.0 - bits / (self.params.trees as f64 * full_tree)).clamp(0.0, 1.0)
    }
}

impl Detector for HalfSpaceTrees {
    fn observe(&mut self, x: &[f64]) -> Verdict {
        let features = self.params.features;
        if !crate::is_observation(x, features) {
            return Verdict::WARMING_UP;
        }
        let warming_up = self.seen < self.params.warm_up();
        self.seen = self.seen.saturating_add(1);
        if self.scaling.is_empty() {
            self.reference.extend_from_slice(x);
            if self.reference.len() == self.params.window * features {
                self.learn_reference_window();
            }
            return Verdict::WARMING_UP;
        }
        let z = self.scale(x);
        let bits = self.score_and_learn(&z[..features]);
        if warming_up {
            return Verdict::WARMING_UP;
        }
        let score = self.normalised(bits);
        Verdict::of(score, score > self.params.threshold)
    }

    fn seen(&self) -> u64 {
        self.seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A standard normal draw (Box–Muller), so the tests need no rand_distr.
    fn gauss(rng: &mut ChaCha8Rng) -> f64 {
        let u1 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = rng.random();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    const BYTES_MEAN: f64 = 50e6;
    const BYTES_SD: f64 = 15e6;
    const SECONDS_MEAN: f64 = 600.0;
    const SECONDS_SD: f64 = 180.0;

    /// A data session's (bytes, duration in seconds): correlated 0.9.
    fn session(rng: &mut ChaCha8Rng) -> [f64; 2] {
        let a = gauss(rng);
        let b = gauss(rng);
        [
            BYTES_MEAN + BYTES_SD * a,
            SECONDS_MEAN + SECONDS_SD * (0.9 * a + 0.19f64.sqrt() * b),
        ]
    }

    fn two_features() -> HstParams {
        HstParams {
            features: 2,
            ..HstParams::default()
        }
    }

    fn stream(seed: u64, n: usize) -> Vec<[f64; 2]> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| session(&mut rng)).collect()
    }

    #[test]
    fn flags_sessions_far_outside_the_cluster_with_few_false_alarms() {
        const KINDS: [&str; 4] = [
            "bytes far",
            "duration far",
            "both far",
            "off the correlation",
        ];
        // Several models and streams, so that the figures are not one seed's luck.
        let (mut clean, mut false_alarms) = (0u32, 0u32);
        let mut injected = [0u32; 4];
        let mut caught = [0u32; 4];
        for seed in 0..4 {
            let mut rng = ChaCha8Rng::seed_from_u64(1_000 + seed);
            let mut hst = HalfSpaceTrees::new(&two_features(), seed);
            for n in 0..20_000 {
                let mut x = session(&mut rng);
                let sigmas = 7.0 + 4.0 * rng.random::<f64>();
                // Rare, as anomalies are: about one a window.
                let kind = (n > 1_000 && n % 293 == 0).then_some((n / 293) % 4);
                match kind {
                    Some(0) => x[0] = BYTES_MEAN + BYTES_SD * sigmas,
                    Some(1) => x[1] = SECONDS_MEAN + SECONDS_SD * sigmas,
                    Some(2) => {
                        x = [
                            BYTES_MEAN + BYTES_SD * sigmas,
                            SECONDS_MEAN + SECONDS_SD * sigmas,
                        ]
                    }
                    // Each feature 2.5 sd out, which alone is ordinary, but on
                    // opposite sides of a 0.9 correlation.
                    Some(_) => x = [BYTES_MEAN + BYTES_SD * 2.5, SECONDS_MEAN - SECONDS_SD * 2.5],
                    None => {}
                }
                let v = hst.observe(&x);
                assert!((0.0..=1.0).contains(&v.score), "{v:?}");
                if n < 1_000 {
                    continue;
                }
                match kind {
                    Some(k) => {
                        injected[k] += 1;
                        caught[k] += u32::from(v.anomalous);
                    }
                    None => {
                        clean += 1;
                        false_alarms += u32::from(v.anomalous);
                    }
                }
            }
        }
        let fpr = f64::from(false_alarms) / f64::from(clean);
        println!("false alarms {false_alarms} of {clean} clean sessions: {fpr:.4}");
        for k in 0..4 {
            println!("{}: caught {} of {}", KINDS[k], caught[k], injected[k]);
        }
        // The combination is not asserted: axis-aligned halvings catch it for
        // some seeds and miss it for others.
        let far_injected: u32 = injected[..3].iter().sum();
        let recall = f64::from(caught[..3].iter().sum::<u32>()) / f64::from(far_injected);
        println!("recall on far sessions {recall:.3}");
        assert!(
            far_injected >= 100,
            "too few far sessions to judge: {far_injected}"
        );
        assert!(recall >= 0.9, "recall {recall:.3} on far sessions");
        assert!(fpr <= 0.01, "false-alarm rate {fpr:.4}");
    }

    #[test]
    fn warms_up_for_a_window_or_min_samples_whichever_is_longer() {
        for (min_samples, warm_up) in [(0, 250), (250, 250), (600, 600)] {
            let mut hst = HalfSpaceTrees::new(
                &HstParams {
                    min_samples,
                    ..two_features()
                },
                1,
            );
            for (n, x) in stream(3, warm_up + 1).iter().enumerate() {
                let v = hst.observe(x);
                if n < warm_up {
                    assert_eq!(v, Verdict::WARMING_UP, "observation {n}");
                } else {
                    assert!(v.score > 0.0, "first verdict after {warm_up}: {v:?}");
                }
            }
            assert_eq!(hst.seen(), warm_up as u64 + 1);
        }
    }

    #[test]
    fn every_root_holds_the_last_full_window_as_reference_mass() {
        for ranges in [vec![], vec![(0.0, 1e8), (0.0, 1500.0)]] {
            let mut hst = HalfSpaceTrees::new(
                &HstParams {
                    ranges,
                    ..two_features()
                },
                5,
            );
            for x in stream(4, 250 * 3 + 17) {
                hst.observe(&x);
            }
            assert!(hst.reference.is_empty());
            for tree in &hst.trees {
                assert_eq!(tree.nodes[0].r, 250);
                assert_eq!(tree.nodes[0].l, 17);
                let total_r: u32 = tree.nodes.iter().map(|n| u32::from(n.r)).sum();
                assert_eq!(total_r, 250 * 16, "one count per level of the path");
            }
        }
    }

    #[test]
    fn restored_state_gives_identical_verdicts() {
        let points = stream(8, 2_000);
        // Once while the reference window is being held, once mid-window after.
        for cut in [100, 1_100] {
            let mut hst = HalfSpaceTrees::new(&two_features(), 2);
            for x in &points[..cut] {
                hst.observe(x);
            }
            let bytes = rmp_serde::to_vec(&hst).unwrap();
            let mut restored: HalfSpaceTrees = rmp_serde::from_slice(&bytes).unwrap();
            assert_eq!(restored, hst);
            for x in &points[cut..] {
                assert_eq!(restored.observe(x), hst.observe(x));
            }
            assert_eq!(restored, hst);
        }
    }

    #[test]
    fn same_seed_same_model_other_seed_other_trees() {
        let a = HalfSpaceTrees::new(&two_features(), 42);
        let b = HalfSpaceTrees::new(&two_features(), 42);
        let c = HalfSpaceTrees::new(&two_features(), 43);
        assert_eq!(a, b);
        assert_ne!(a.trees, c.trees);
        let (mut a, mut b) = (a, b);
        for x in stream(9, 1_500) {
            assert_eq!(a.observe(&x), b.observe(&x));
        }
        assert_eq!(a, b);
    }

    #[test]
    fn observations_it_cannot_judge_are_not_learned() {
        let mut hst = HalfSpaceTrees::new(&two_features(), 3);
        for x in stream(10, 400) {
            hst.observe(&x);
        }
        let before = hst.clone();
        for x in [
            &[1e6][..],
            &[1e6, 300.0, 7.0][..],
            &[f64::NAN, 300.0][..],
            &[1e6, f64::INFINITY][..],
        ] {
            assert_eq!(hst.observe(x), Verdict::WARMING_UP, "{x:?}");
        }
        assert_eq!(hst, before);
        assert_eq!(hst.seen(), 400);
    }

    #[test]
    fn rejects_parameters_that_make_no_model() {
        assert!(HstParams::default().validate().is_ok());
        let rejects = |change: fn(&mut HstParams), naming: &str| {
            let mut p = HstParams::default();
            change(&mut p);
            let e = p.validate().unwrap_err();
            assert!(e.contains(naming), "{p:?}: {e}");
        };
        rejects(|p| p.trees = 0, "`trees`");
        rejects(|p| p.depth = 0, "`depth`");
        rejects(|p| p.depth = 21, "`depth`");
        rejects(|p| (p.trees, p.depth) = (256, 18), "limit");
        rejects(|p| p.window = 9, "`window`");
        rejects(|p| p.window = 65_536, "`window`");
        rejects(|p| p.threshold = 1.0, "`threshold`");
        rejects(|p| p.threshold = f64::NAN, "`threshold`");
        rejects(|p| p.features = 0, "`features`");
        rejects(|p| p.features = 17, "`features`");
        rejects(
            |p| (p.features, p.ranges) = (2, vec![(0.0, 1.0)]),
            "`ranges` has 1",
        );
        rejects(|p| p.ranges = vec![(1.0, 1.0)], "`ranges`[0]");
        rejects(|p| p.ranges = vec![(0.0, f64::INFINITY)], "`ranges`[0]");
    }

    #[test]
    fn configuration_fills_defaults_and_refuses_unknown_fields() {
        let p: HstParams =
            serde_json::from_str(r#"{"features": 2, "ranges": [[0, 1e9], [0, 86400]]}"#).unwrap();
        assert_eq!(p.trees, 25);
        assert_eq!(p.ranges, vec![(0.0, 1e9), (0.0, 86400.0)]);
        assert!(p.validate().is_ok());
        assert!(serde_json::from_str::<HstParams>(r#"{"tree": 10}"#).is_err());
    }
}
