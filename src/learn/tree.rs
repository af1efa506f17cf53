//! A generic decision-tree learner whose split candidates come from a [`FeatureSource`].
//!
//! # Overview
//! [`grow`] builds one classification tree (CART, Breiman et al. 1984) on weighted samples.
//! It never sees a feature matrix: at each node it asks a [`FeatureSource`] for candidate
//! features and for the *codes* of the node's samples under a candidate. Codes are integers
//! whose order is the order of the feature values, so one best-split search serves every
//! kind of feature:
//! - tabular data ([`crate::learn::forest`]): a feature is a column and its codes are the dense
//!   ranks of the column's distinct training values (exact: every split of the sorted values
//!   is a candidate, as in scikit-learn);
//! - depth images (body-part forests): a feature is an offset pair evaluated on the fly and
//!   its codes are the quantised responses (candidate thresholds on a fixed grid).
//!
//! The fitted [`Tree`] stores flat node arrays (feature, threshold, child) and one class
//! distribution per leaf; a sample goes left when `value <= threshold`.
//!
//! # Usage
//! ```
//! use classic_cv::rng::Rng;
//! use classic_cv::learn::tree::{grow, Criterion, Draw, FeatureSource, GrowParams};
//!
//! /// One column of values in 0..4: its codes are the values themselves.
//! struct Column(Vec<u32>);
//! impl FeatureSource for Column {
//!     type Feature = u32;
//!     fn draw(&self, rng: &mut Rng, draw: &mut Draw) -> Option<u32> {
//!         draw.without_replacement(rng, 1).map(|f| f as u32)
//!     }
//!     fn codes(&self, _f: &u32, samples: &[u32], out: &mut [u32]) {
//!         for (o, &s) in out.iter_mut().zip(samples) {
//!             *o = self.0[s as usize];
//!         }
//!     }
//!     fn threshold(&self, _f: &u32, left: u32, right: u32) -> f32 {
//!         (left + right) as f32 / 2.0
//!     }
//! }
//!
//! let source = Column(vec![0, 1, 2, 3]);
//! let labels = [0, 0, 1, 1];
//! let params = GrowParams { n_classes: 2, ..GrowParams::default() };
//! let tree = grow(&source, &[0, 1, 2, 3], &[1; 4], &labels, &params, &mut Rng::new(0));
//! assert_eq!(tree.thresholds[0], 1.5);
//! assert_eq!(tree.predict(|_| 2.0), Some(&[0.0, 1.0][..]));
//! ```
//!
//! # Algorithm
//! Depth-first growth on an index array partitioned stably in place (each child keeps
//! its samples in their previous order). At a node, features are drawn
//! one at a time until `max_features` of them are non-constant on the node (constant ones do
//! not count, as in scikit-learn) or the source has no more. For each candidate the codes of
//! the node's samples are gathered and the best threshold is found by one scan over the
//! codes in increasing order:
//! - *histogram* scan when the node has many samples for the code range (per-code class
//!   histograms; O(n + range));
//! - *sort* scan otherwise (sort `(code, position)` pairs; O(n log n)).
//!
//! Both visit exactly the same partitions and score each from its integer class counts, so
//! the choice changes speed, never the tree.
//! A split is scored by the weighted child impurity (Gini `1 - sum p^2` or Shannon entropy
//! in bits); the best is the lowest, ties keep the first candidate and the lowest
//! threshold. The threshold between adjacent codes is chosen by the source (the midpoint of
//! the two adjacent values for tabular data). A node becomes a leaf when it is pure, holds
//! fewer than `min_samples_split` distinct samples, reaches `max_depth`, or has only
//! constant candidates. Weights are integer multiplicities (bootstrap counts), so all class
//! statistics are exact integers. Optionally ([`GrowParams::max_split_samples`]) a node with
//! more samples than a cap scores its candidates on an even, deterministic subset of that
//! many (a common speed-up for very large training sets: the best split of a big node is
//! well estimated from a subset, and the cost of the top levels drops from `n` to the cap
//! per node); the split found then partitions every sample of the node.
//!
//! # Parallelism and determinism
//! One tree is grown by one task with one [`Rng`]; callers run trees in parallel with
//! `Rng::stream(seed, tree)`. Inside a node whose work exceeds [`GrowParams::parallel_work`],
//! the candidates of one round are evaluated in parallel and reduced in draw order, which
//! gives the same tree as the sequential scan.
//!
//! # References
//! L. Breiman, J. Friedman, R. Olshen, C. Stone, *Classification and Regression Trees*, 1984.
//! L. Breiman, "Random forests", Machine Learning 45, 2001.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::pipeline::Label;
use crate::rng::Rng;

/// Where split candidates come from: a column of a table, a depth-comparison feature, ...
pub trait FeatureSource: Sync {
    /// What identifies one feature (a column index; an offset pair).
    type Feature: Clone + Default + Send + Sync;

    /// Draws the next candidate feature for the current node, or `None` when the source has
    /// no more (every column was drawn). `draw` is reset by the learner at every node.
    fn draw(&self, rng: &mut Rng, draw: &mut Draw) -> Option<Self::Feature>;

    /// Writes the code of each sample under `feature`: integers whose order is the order of
    /// the feature values (equal values, equal codes).
    fn codes(&self, feature: &Self::Feature, samples: &[u32], out: &mut [u32]);

    /// The threshold on the feature *value* that separates code `left` (and below) from code
    /// `right` (and above), `left < right`: a value `<=` the threshold goes left.
    fn threshold(&self, feature: &Self::Feature, left: u32, right: u32) -> f32;
}

/// Per-node drawing state handed to [`FeatureSource::draw`].
#[derive(Clone, Debug, Default)]
pub struct Draw {
    perm: Vec<u32>,
    /// Number of features drawn at this node so far.
    pub drawn: usize,
}

impl Draw {
    /// Draws the next of `n` indices without replacement (lazy Fisher-Yates over a scratch
    /// permutation kept across nodes); `None` once all `n` were drawn at this node.
    pub fn without_replacement(&mut self, rng: &mut Rng, n: usize) -> Option<usize> {
        if self.perm.len() != n {
            self.perm = (0..n as u32).collect();
        }
        if self.drawn >= n {
            return None;
        }
        let j = self.drawn + rng.below(n - self.drawn);
        self.perm.swap(self.drawn, j);
        self.drawn += 1;
        Some(self.perm[self.drawn - 1] as usize)
    }
}

/// Impurity measure of a node's class distribution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    /// Gini impurity `1 - sum_c p_c^2`.
    #[default]
    Gini,
    /// Shannon entropy `-sum_c p_c log2 p_c` (information gain).
    Entropy,
}

/// Impurity of a class histogram (weights or counts); 0 for an empty one.
pub fn impurity(criterion: Criterion, counts: &[f64]) -> f64 {
    let total: f64 = counts.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    match criterion {
        Criterion::Gini => 1.0 - counts.iter().map(|c| (c / total).powi(2)).sum::<f64>(),
        Criterion::Entropy => -counts
            .iter()
            .filter(|&&c| c > 0.0)
            .map(|c| (c / total) * (c / total).log2())
            .sum::<f64>(),
    }
}

/// Settings of one tree (resolved by the caller: no `Option`s, counts not fractions).
#[derive(Clone, Debug, PartialEq)]
pub struct GrowParams {
    /// Number of classes; labels must be below it.
    pub n_classes: usize,
    /// Maximum depth (the root has depth 0).
    pub max_depth: usize,
    /// A node with fewer distinct samples is a leaf.
    pub min_samples_split: usize,
    /// Non-constant candidates evaluated per node.
    pub max_features: usize,
    /// Impurity measure.
    pub criterion: Criterion,
    /// A node whose `samples x candidates` exceeds this evaluates its candidates in parallel.
    pub parallel_work: usize,
    /// A node with more samples scores its candidates on an even subset of this many of
    /// them (every `k`-th sample in the node's order); the chosen split then partitions all
    /// of its samples. `usize::MAX`: always all samples (exact CART).
    pub max_split_samples: usize,
}

impl Default for GrowParams {
    fn default() -> Self {
        GrowParams {
            n_classes: 2,
            max_depth: usize::MAX,
            min_samples_split: 2,
            max_features: 1,
            criterion: Criterion::Gini,
            parallel_work: usize::MAX,
            max_split_samples: usize::MAX,
        }
    }
}

/// Marks a leaf in [`Tree::children`]; the low bits are the leaf index.
pub const LEAF: u32 = 1 << 31;

/// A fitted tree in flat arrays, node 0 the root.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tree<F> {
    /// Split feature of each node (the default value on leaves).
    pub features: Vec<F>,
    /// Split threshold of each node: `value <= threshold` goes left (0 on leaves).
    pub thresholds: Vec<f32>,
    /// Left child of an internal node (the right child is the next node), or
    /// `LEAF | leaf index` for a leaf.
    pub children: Vec<u32>,
    /// Class distributions of the leaves, `n_classes` values each, summing to 1.
    pub distributions: Vec<f32>,
    /// Number of classes.
    pub n_classes: u32,
}

impl<F> Tree<F> {
    /// Number of nodes.
    pub fn n_nodes(&self) -> usize {
        self.children.len()
    }

    /// Number of leaves.
    pub fn n_leaves(&self) -> usize {
        self.distributions.len() / (self.n_classes.max(1) as usize)
    }

    /// Depth of the deepest leaf (0 for a single leaf).
    pub fn depth(&self) -> usize {
        let mut best = 0;
        let mut stack = vec![(0usize, 0usize)];
        while let Some((i, d)) = stack.pop() {
            let c = self.children[i];
            if c & LEAF != 0 {
                best = best.max(d);
            } else {
                stack.push((c as usize, d + 1));
                stack.push((c as usize + 1, d + 1));
            }
        }
        best
    }

    /// The leaf reached by a sample whose feature values `value` computes: its class
    /// distribution. `None` only for a malformed tree (a corrupted or hand-edited file):
    /// child indices out of range or not increasing.
    pub fn predict(&self, mut value: impl FnMut(&F) -> f32) -> Option<&[f32]> {
        let nc = self.n_classes as usize;
        let mut i = 0usize;
        loop {
            let c = *self.children.get(i)?;
            if c & LEAF != 0 {
                let l = (c & !LEAF) as usize;
                return self.distributions.get(l * nc..(l + 1) * nc);
            }
            let c = c as usize;
            if c <= i {
                return None;
            }
            i = if value(self.features.get(i)?) <= *self.thresholds.get(i)? {
                c
            } else {
                c + 1
            };
        }
    }

    /// Checks the structure (child indices in range, leaves and distributions consistent):
    /// a loaded model is validated before use.
    pub fn is_well_formed(&self) -> bool {
        let n = self.children.len();
        let nc = self.n_classes as usize;
        if n == 0
            || nc == 0
            || self.features.len() != n
            || self.thresholds.len() != n
            || !self.distributions.len().is_multiple_of(nc)
        {
            return false;
        }
        let leaves = self.distributions.len() / nc;
        self.children.iter().enumerate().all(|(i, &c)| {
            if c & LEAF != 0 {
                ((c & !LEAF) as usize) < leaves
            } else {
                (c as usize) > i && (c as usize) + 1 < n
            }
        })
    }
}

/// Class statistics of a set of samples for the split scan.
struct Side {
    counts: Vec<u64>,
    weight: u64,
}

#[inline]
fn phi(criterion: Criterion, x: u64) -> f64 {
    let x = x as f64;
    match criterion {
        Criterion::Gini => x * x,
        Criterion::Entropy => {
            if x > 0.0 {
                x * x.log2()
            } else {
                0.0
            }
        }
    }
}

impl Side {
    fn new(n_classes: usize) -> Self {
        Side {
            counts: vec![0; n_classes],
            weight: 0,
        }
    }

    fn from_counts(counts: &[u64]) -> Self {
        Side {
            counts: counts.to_vec(),
            weight: counts.iter().sum(),
        }
    }

    #[inline]
    fn add(&mut self, class: usize, w: u64) {
        self.counts[class] += w;
        self.weight += w;
    }

    #[inline]
    fn remove(&mut self, class: usize, w: u64) {
        self.counts[class] -= w;
        self.weight -= w;
    }

    /// Weighted impurity `weight * impurity`, up to terms common to every split of a node
    /// (lower is better): `-sum c^2 / w` (Gini) or `w log2 w - sum c log2 c` (entropy).
    /// Computed afresh from the integer counts, so it depends only on the partition, not on
    /// the order in which samples were moved.
    #[inline]
    fn cost(&self, criterion: Criterion) -> f64 {
        if self.weight == 0 {
            return 0.0;
        }
        let w = self.weight as f64;
        let acc: f64 = self.counts.iter().map(|&c| phi(criterion, c)).sum();
        match criterion {
            Criterion::Gini => -acc / w,
            Criterion::Entropy => w * w.log2() - acc,
        }
    }
}

/// The best split of one candidate: cost, last code going left, first code going right.
#[derive(Clone, Copy, Debug)]
struct Found {
    cost: f64,
    left: u32,
    right: u32,
}

/// Scratch buffers of one split search.
#[derive(Default)]
struct Scratch {
    codes: Vec<u32>,
    keys: Vec<u64>,
    hist: Vec<u32>,
}

/// The node being split: its samples (positions `lo..hi` of the shared arrays).
struct NodeView<'a> {
    samples: &'a [u32],
    weights: &'a [u32],
    classes: &'a [u32],
    totals: &'a [u64],
}

/// Best split of the node on `feature`, or `None` if the feature is constant there.
fn best_split<S: FeatureSource>(
    source: &S,
    feature: &S::Feature,
    node: &NodeView,
    params: &GrowParams,
    scratch: &mut Scratch,
) -> Option<Found> {
    let n = node.samples.len();
    let nc = params.n_classes;
    let crit = params.criterion;
    scratch.codes.resize(n, 0);
    source.codes(feature, node.samples, &mut scratch.codes);
    let codes = &scratch.codes;
    let (mut lo, mut hi) = (u32::MAX, 0u32);
    for &c in codes {
        lo = lo.min(c);
        hi = hi.max(c);
    }
    if lo >= hi {
        return None;
    }
    let range = (hi - lo) as usize + 1;
    let mut left = Side::new(nc);
    let mut right = Side::from_counts(node.totals);
    let mut best: Option<Found> = None;
    let mut consider = |left: &Side, right: &Side, l: u32, r: u32| {
        let cost = left.cost(crit) + right.cost(crit);
        if best.is_none_or(|b| cost < b.cost) {
            best = Some(Found {
                cost,
                left: l,
                right: r,
            });
        }
    };
    // The histogram costs about range x classes (clearing and scanning), the sort about
    // n log n: take the histogram only when it is clearly cheaper.
    if n >= 64 && range * nc <= 8 * n {
        // Histogram scan: per-code class weights.
        scratch.hist.clear();
        scratch.hist.resize(range * nc, 0);
        let hist = &mut scratch.hist;
        for i in 0..n {
            let b = (codes[i] - lo) as usize;
            hist[b * nc + node.classes[i] as usize] += node.weights[i];
        }
        let mut prev: Option<u32> = None;
        for b in 0..range {
            let row = &hist[b * nc..(b + 1) * nc];
            if row.iter().all(|&w| w == 0) {
                continue;
            }
            if let Some(p) = prev {
                consider(&left, &right, p, lo + b as u32);
            }
            for (class, &w) in row.iter().enumerate() {
                if w > 0 {
                    left.add(class, w as u64);
                    right.remove(class, w as u64);
                }
            }
            prev = Some(lo + b as u32);
        }
    } else {
        // Sort scan over (code, position) keys.
        scratch.keys.clear();
        scratch.keys.extend(
            codes
                .iter()
                .enumerate()
                .map(|(i, &c)| ((c as u64) << 32) | i as u64),
        );
        scratch.keys.sort_unstable();
        let keys = &scratch.keys;
        let mut i = 0;
        while i < n {
            let code = (keys[i] >> 32) as u32;
            if i > 0 {
                consider(&left, &right, (keys[i - 1] >> 32) as u32, code);
            }
            while i < n && (keys[i] >> 32) as u32 == code {
                let p = (keys[i] & 0xFFFF_FFFF) as usize;
                let w = node.weights[p] as u64;
                left.add(node.classes[p] as usize, w);
                right.remove(node.classes[p] as usize, w);
                i += 1;
            }
        }
    }
    best
}

/// Grows one tree on the samples `samples` (indices understood by `source`) with integer
/// weights `weights` (same length; 0 is allowed and means absent) and `labels` indexed by
/// sample. Labels must be below `params.n_classes` and `samples` must not be empty.
pub fn grow<S: FeatureSource>(
    source: &S,
    samples: &[u32],
    weights: &[u32],
    labels: &[Label],
    params: &GrowParams,
    rng: &mut Rng,
) -> Tree<S::Feature> {
    assert_eq!(samples.len(), weights.len(), "one weight per sample");
    let nc = params.n_classes;
    // Drop zero-weight samples: they take no part in any statistic.
    let mut idx: Vec<u32> = Vec::with_capacity(samples.len());
    let mut w: Vec<u32> = Vec::with_capacity(samples.len());
    for (&s, &wt) in samples.iter().zip(weights) {
        if wt > 0 {
            idx.push(s);
            w.push(wt);
        }
    }
    let mut cls: Vec<u32> = idx.iter().map(|&s| labels[s as usize]).collect();

    let mut tree = Tree {
        features: vec![S::Feature::default()],
        thresholds: vec![0.0],
        children: vec![0],
        distributions: Vec::new(),
        n_classes: nc as u32,
    };
    let mut scratch = Scratch::default();
    let mut draw = Draw::default();
    let mut codes_buf: Vec<u32> = Vec::new();
    let mut right_buf: Vec<(u32, u32, u32)> = Vec::new();
    // (node, lo, hi, depth)
    let mut stack = vec![(0usize, 0usize, idx.len(), 0usize)];
    let mut totals = vec![0u64; nc];
    let mut sub: (Vec<u32>, Vec<u32>, Vec<u32>) = Default::default();
    let mut sub_totals = vec![0u64; nc];
    while let Some((node, lo, hi, depth)) = stack.pop() {
        totals.iter_mut().for_each(|t| *t = 0);
        for i in lo..hi {
            totals[cls[i] as usize] += w[i] as u64;
        }
        let pure = totals.iter().filter(|&&t| t > 0).count() <= 1;
        let split = if pure || hi - lo < params.min_samples_split || depth >= params.max_depth {
            None
        } else {
            let n = hi - lo;
            if n > params.max_split_samples.max(1) {
                // An even subset: positions lo + floor(j * n / m), j < m.
                let m = params.max_split_samples.max(1);
                sub.0.clear();
                sub.1.clear();
                sub.2.clear();
                for j in 0..m {
                    let i = lo + j * n / m;
                    sub.0.push(idx[i]);
                    sub.1.push(w[i]);
                    sub.2.push(cls[i]);
                }
                sub_totals.iter_mut().for_each(|t| *t = 0);
                for (&c, &wt) in sub.2.iter().zip(&sub.1) {
                    sub_totals[c as usize] += wt as u64;
                }
                let view = NodeView {
                    samples: &sub.0,
                    weights: &sub.1,
                    classes: &sub.2,
                    totals: &sub_totals,
                };
                find_split(source, &view, params, rng, &mut draw, &mut scratch)
            } else {
                let view = NodeView {
                    samples: &idx[lo..hi],
                    weights: &w[lo..hi],
                    classes: &cls[lo..hi],
                    totals: &totals,
                };
                find_split(source, &view, params, rng, &mut draw, &mut scratch)
            }
        };
        let Some((feature, found)) = split else {
            let total: u64 = totals.iter().sum();
            let leaf = (tree.distributions.len() / nc) as u32;
            tree.distributions.extend(
                totals
                    .iter()
                    .map(|&t| (t as f64 / total.max(1) as f64) as f32),
            );
            tree.children[node] = LEAF | leaf;
            continue;
        };
        // Stable partition of positions lo..hi: codes <= found.left first, each side in
        // its previous order. The tree does not depend on the order of a node's samples,
        // but a source whose sample indices follow its memory layout (the depth frames of
        // body-part training) reads memory far more locally when they stay sorted.
        codes_buf.resize(hi - lo, 0);
        source.codes(&feature, &idx[lo..hi], &mut codes_buf);
        let mut mid = lo;
        right_buf.clear();
        for k in 0..hi - lo {
            let i = lo + k;
            if codes_buf[k] <= found.left {
                idx[mid] = idx[i];
                w[mid] = w[i];
                cls[mid] = cls[i];
                mid += 1;
            } else {
                right_buf.push((idx[i], w[i], cls[i]));
            }
        }
        for (j, &(s, wt, c)) in right_buf.iter().enumerate() {
            idx[mid + j] = s;
            w[mid + j] = wt;
            cls[mid + j] = c;
        }
        debug_assert!(mid > lo && mid < hi);
        let child = tree.children.len();
        tree.thresholds[node] = source.threshold(&feature, found.left, found.right);
        tree.features[node] = feature;
        tree.children[node] = child as u32;
        for _ in 0..2 {
            tree.features.push(S::Feature::default());
            tree.thresholds.push(0.0);
            tree.children.push(0);
        }
        // Right pushed first so the left subtree is grown first (depth-first, left first).
        stack.push((child + 1, mid, hi, depth + 1));
        stack.push((child, lo, mid, depth + 1));
    }
    tree
}

/// Draws candidates until `max_features` non-constant ones were evaluated (or the source is
/// exhausted) and returns the best split, `None` if every candidate was constant.
fn find_split<S: FeatureSource>(
    source: &S,
    node: &NodeView,
    params: &GrowParams,
    rng: &mut Rng,
    draw: &mut Draw,
    scratch: &mut Scratch,
) -> Option<(S::Feature, Found)> {
    draw.drawn = 0;
    let n = node.samples.len();
    let mut best: Option<(S::Feature, Found)> = None;
    let mut evaluated = 0;
    let mut exhausted = false;
    let mut round: Vec<S::Feature> = Vec::new();
    while evaluated < params.max_features && !exhausted {
        let need = params.max_features - evaluated;
        round.clear();
        while round.len() < need {
            match source.draw(rng, draw) {
                Some(f) => round.push(f),
                None => {
                    exhausted = true;
                    break;
                }
            }
        }
        let results: Vec<Option<Found>> = if n.saturating_mul(round.len()) > params.parallel_work {
            round
                .par_iter()
                .map_init(Scratch::default, |s, f| {
                    best_split(source, f, node, params, s)
                })
                .collect()
        } else {
            round
                .iter()
                .map(|f| best_split(source, f, node, params, scratch))
                .collect()
        };
        for (f, r) in round.iter().zip(results) {
            let Some(found) = r else { continue };
            evaluated += 1;
            if best.as_ref().is_none_or(|(_, b)| found.cost < b.cost) {
                best = Some((f.clone(), found));
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dense table of small integer codes, column-major; threshold = midpoint.
    struct Table {
        cols: Vec<Vec<u32>>,
    }

    impl FeatureSource for Table {
        type Feature = u32;
        fn draw(&self, rng: &mut Rng, draw: &mut Draw) -> Option<u32> {
            draw.without_replacement(rng, self.cols.len())
                .map(|f| f as u32)
        }
        fn codes(&self, f: &u32, samples: &[u32], out: &mut [u32]) {
            for (o, &s) in out.iter_mut().zip(samples) {
                *o = self.cols[*f as usize][s as usize];
            }
        }
        fn threshold(&self, _f: &u32, l: u32, r: u32) -> f32 {
            (l + r) as f32 / 2.0
        }
    }

    /// Grows on every sample of `t` (`0..labels.len()`), each of weight 1.
    fn grow_all(t: &Table, labels: &[Label], p: &GrowParams, seed: u64) -> Tree<u32> {
        let n = labels.len();
        let samples: Vec<u32> = (0..n as u32).collect();
        grow(t, &samples, &vec![1; n], labels, p, &mut Rng::new(seed))
    }

    fn params(nc: usize, mf: usize, crit: Criterion) -> GrowParams {
        GrowParams {
            n_classes: nc,
            max_features: mf,
            criterion: crit,
            ..GrowParams::default()
        }
    }

    #[test]
    fn impurity_values_by_hand() {
        assert!((impurity(Criterion::Gini, &[2.0, 2.0]) - 0.5).abs() < 1e-12);
        assert!((impurity(Criterion::Gini, &[1.0, 1.0, 2.0]) - 0.625).abs() < 1e-12);
        assert!((impurity(Criterion::Entropy, &[2.0, 2.0]) - 1.0).abs() < 1e-12);
        assert!((impurity(Criterion::Entropy, &[1.0, 1.0, 2.0]) - 1.5).abs() < 1e-12);
        assert_eq!(impurity(Criterion::Gini, &[5.0, 0.0]), 0.0);
        assert_eq!(impurity(Criterion::Entropy, &[0.0, 0.0]), 0.0);
    }

    /// Hand-computed: labels 0 0 1 1 1 0 on values 0..6 (one column). Weighted Gini of the
    /// cut after value k (k = 0..4): 0.400, 0.250, 0.444, 0.500, 0.400; entropy (bits):
    /// 0.809, 0.541, 0.918, 1.000, 0.809. Both pick the cut between 1 and 2: threshold 1.5.
    #[test]
    fn split_matches_hand_computation() {
        let t = Table {
            cols: vec![vec![0, 1, 2, 3, 4, 5]],
        };
        let y = [0, 0, 1, 1, 1, 0];
        for crit in [Criterion::Gini, Criterion::Entropy] {
            let tree = grow_all(&t, &y, &params(2, 1, crit), 0);
            assert_eq!(tree.thresholds[0], 1.5, "{crit:?}");
            // The tree separates the training set perfectly.
            for (s, &l) in y.iter().enumerate() {
                let d = tree.predict(|_| s as f32).unwrap();
                assert_eq!(d[l as usize], 1.0);
            }
        }
    }

    /// Weights act as multiplicities: weight 3 on a sample equals three copies.
    #[test]
    fn weights_are_multiplicities() {
        let t1 = Table {
            cols: vec![vec![0, 1, 2, 3], vec![3, 1, 0, 2]],
        };
        let t3 = Table {
            cols: vec![vec![0, 0, 0, 1, 2, 3], vec![3, 3, 3, 1, 0, 2]],
        };
        let y1 = [0, 1, 1, 0];
        let y3 = [0, 0, 0, 1, 1, 0];
        let a = grow(
            &t1,
            &[0, 1, 2, 3],
            &[3, 1, 1, 1],
            &y1,
            &params(2, 2, Criterion::Gini),
            &mut Rng::new(1),
        );
        let b = grow_all(&t3, &y3, &params(2, 2, Criterion::Gini), 1);
        assert_eq!(a, b);
    }

    /// The histogram scan and the sort scan build the same tree (random data, both paths).
    #[test]
    fn histogram_and_sort_scans_agree() {
        let mut rng = Rng::new(3);
        let n = 3000;
        let cols: Vec<Vec<u32>> = (0..6)
            .map(|j| {
                (0..n)
                    .map(|_| rng.below(if j < 3 { 16 } else { 50_000 }) as u32)
                    .collect()
            })
            .collect();
        let y: Vec<u32> = (0..n)
            .map(|i| (cols[0][i] + cols[3][i] / 5000) % 3)
            .collect();
        let t = Table { cols };
        let p = params(3, 3, Criterion::Entropy);
        let seq = grow_all(&t, &y, &p, 5);
        let par = grow_all(
            &t,
            &y,
            &GrowParams {
                parallel_work: 1,
                ..p.clone()
            },
            5,
        );
        assert_eq!(seq, par);
        assert!(seq.is_well_formed());
        // Fully grown on a label that is a function of the features: training is perfect.
        for i in 0..n {
            let d = seq.predict(|&f| t.cols[f as usize][i] as f32).unwrap();
            assert_eq!(d[y[i] as usize], 1.0, "training sample {i} misclassified");
        }
    }

    /// With split subsets, a fully grown tree on a label that is a function of the features
    /// still fits the training set; a cap at or above the sample count changes nothing.
    #[test]
    fn split_subsets_grow_a_consistent_tree() {
        let mut rng = Rng::new(4);
        let n = 4000;
        let cols: Vec<Vec<u32>> = (0..4)
            .map(|_| (0..n).map(|_| rng.below(1000) as u32).collect())
            .collect();
        let y: Vec<u32> = (0..n)
            .map(|i| (cols[1][i] / 250 + cols[2][i] / 500) % 3)
            .collect();
        let t = Table { cols };
        let p = params(3, 2, Criterion::Entropy);
        let exact = grow_all(&t, &y, &p, 6);
        let capped_high = grow_all(
            &t,
            &y,
            &GrowParams {
                max_split_samples: n,
                ..p.clone()
            },
            6,
        );
        assert_eq!(exact, capped_high);
        let sub = grow_all(
            &t,
            &y,
            &GrowParams {
                max_split_samples: 300,
                ..p.clone()
            },
            6,
        );
        assert!(sub.is_well_formed());
        assert_ne!(sub, exact, "the subset must change some split");
        for i in 0..n {
            let d = sub.predict(|&f| t.cols[f as usize][i] as f32).unwrap();
            assert_eq!(d[y[i] as usize], 1.0, "training sample {i} misclassified");
        }
    }

    #[test]
    fn max_depth_and_constant_features_stop_growth() {
        let t = Table {
            cols: vec![vec![7; 8], vec![0, 1, 2, 3, 4, 5, 6, 7]],
        };
        let y = [0, 1, 0, 1, 0, 1, 0, 1];
        let tree = grow_all(
            &t,
            &y,
            &GrowParams {
                max_depth: 2,
                ..params(2, 1, Criterion::Gini)
            },
            0,
        );
        assert_eq!(tree.depth(), 2);
        // Column 0 is constant, so every split uses column 1.
        for i in 0..tree.n_nodes() {
            if tree.children[i] & LEAF == 0 {
                assert_eq!(tree.features[i], 1);
            }
        }
        let all_const = Table {
            cols: vec![vec![7; 8]],
        };
        let leaf = grow_all(&all_const, &y, &params(2, 1, Criterion::Gini), 0);
        assert_eq!(leaf.n_nodes(), 1);
        assert_eq!(leaf.distributions, vec![0.5, 0.5]);
    }
}
