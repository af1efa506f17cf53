//! k-nearest-neighbour classification: brute force with matrix-product distances, or a k-d
//! tree in low dimensions.
//!
//! # Overview
//! [`KnnParams`] stores the training set; the fitted [`Knn`] labels a vector by a vote of
//! its `k` nearest training vectors under one of four [`Metric`]s (L1, L2, chi-squared,
//! cosine), with uniform or inverse-distance [`Weights`]. The neighbours are *exact*: the
//! same as a direct double loop in `f64`, ties in distance going to the lower training
//! index. The predictions equal scikit-learn's `KNeighborsClassifier(algorithm="brute")`
//! except on exact distance ties and, with the default [`TieBreak::Nearest`], on vote ties
//! (scikit-learn gives those to the lowest label: [`TieBreak::LowestLabel`]).
//!
//! # Usage
//! ```
//! use classic_cv::pipeline::{Fit, Transform};
//! use classic_cv::learn::knn::{KnnParams, Metric};
//! let x = vec![vec![0.0, 0.0], vec![0.1, 0.0], vec![5.0, 5.0], vec![5.0, 5.1]];
//! let knn = KnnParams { k: 3, metric: Metric::L1, ..Default::default() }
//!     .fit(&x, &[0, 0, 1, 1])
//!     .unwrap();
//! assert_eq!(knn.transform(&vec![4.0, 4.5]).unwrap(), 1);
//! let nb = knn.kneighbors(&[vec![0.0, 0.1]], 2).unwrap();
//! assert_eq!(nb[0].indices, vec![0, 1]);
//! ```
//!
//! # Algorithm
//! - **Brute force, L2 and cosine.** Distances come from a matrix product, as in
//!   scikit-learn: `|x|^2 - 2 q.x` (plus the constant `|q|^2`) for a block of queries
//!   against a block of training rows, one `f32` GEMM per block pair, so no
//!   `queries x training` matrix is ever held. Cosine uses `1 - q.x` on unit-normalised
//!   rows (a zero vector has distance 1 to everything, as in scikit-learn).
//! - **Brute force, L1 and chi-squared.** Blocked double loops over `f32` with 8 independent
//!   accumulators (vectorised by the compiler). `chi2(a, b) = sum (a_i - b_i)^2 / (a_i + b_i)`
//!   over the terms with `a_i + b_i > 0`; it needs non-negative features (histograms).
//! - **Exact re-ranking.** The `f32` distances only select candidates: each query keeps its
//!   `2k + 8` best, recomputes them in `f64` directly from the vectors, and keeps the best
//!   `k` by (distance, index). A rounding-error bound of the `f32` pass then proves that no
//!   other training vector can be as close as the `k`-th; if the proof fails (a crowd of
//!   near-ties), that query is redone by an exact `f64` scan. The result is therefore
//!   independent of the blocking and of the GEMM kernel.
//! - **k-d tree** ([`Algorithm::KdTree`], chosen by [`Algorithm::Auto`] for at most
//!   [`KD_TREE_MAX_DIM`] dimensions with L1 or L2): median splits on the dimension of
//!   widest spread, leaves of up to 16 points, depth-first search nearer child first, a
//!   far child skipped when its splitting plane is farther than the current `k`-th
//!   neighbour. Distances in `f64`, so it returns the same neighbours as brute force.
//! - **Vote.** Uniform: one vote per neighbour. Distance: weight `1 / d` (Euclidean `d` for
//!   L2); when some neighbours are at distance 0 only they vote, with weight 1 (scikit-learn's
//!   rule). A tie between classes goes to the class of the nearest tied neighbour
//!   ([`TieBreak::Nearest`]) or to the lowest label ([`TieBreak::LowestLabel`]).
//!
//! # Layout
//! This module holds the classifier ([`KnnParams`] -> [`Knn`]), the vote and the exact `f64`
//! distances; `brute` the blocked GEMM / loop search and the exact re-ranking, `prune` the
//! principal-subspace pruning of high-dimensional L2 searches (its docs give the bound),
//! `kdtree` the k-d tree, `codec` the model-file layout.
//!
//! # Persistence
//! The fitted model holds the training set. When every training value is `i / 255` for an
//! integer `i` in `0..=255` (8-bit pixels scaled to `[0, 1]`), it is saved as one byte per
//! value, losslessly (4x smaller than `f32`); otherwise as `f32`. Norms and the k-d tree are
//! rebuilt on load. Use the binary format (`.bin`) for real training sets.
//!
//! # Parallelism
//! Batched queries ([`Transform::transform_batch`], [`Knn::kneighbors`]) run in parallel
//! over blocks of queries; each query's answer does not depend on the thread count.
//!
//! # References
//! Cover & Hart, "Nearest neighbor pattern classification", IEEE Trans. IT 13(1), 1967.
//! Friedman, Bentley & Finkel, "An algorithm for finding best matches in logarithmic
//! expected time", ACM TOMS 3(3), 1977 (k-d tree).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

mod brute;
mod codec;
mod kdtree;
mod prune;

use brute::{TRAIN_BLOCK, normalized};
use kdtree::KdTree;
use prune::{PROJ_DIM, Projection};

use crate::error::{Error, Result};
use crate::pipeline::{Fit, Label, Transform, check_supervised_fit, flatten_rows};
// The sequential 8-lane order the kNN search was validated with (exact ties against scikit-learn).
use crate::vecops::{dot, dot_f64};

/// The k-d tree is used by [`Algorithm::Auto`] up to this many dimensions.
pub const KD_TREE_MAX_DIM: usize = 8;

/// Queries per parallel task of the search.
const QUERY_BLOCK: usize = 256;

/// Distance between feature vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Manhattan distance `sum |a_i - b_i|` (scikit-learn `p=1`).
    L1,
    /// Euclidean distance (scikit-learn `p=2`).
    L2,
    /// Chi-squared distance `sum (a_i - b_i)^2 / (a_i + b_i)`; non-negative features only.
    Chi2,
    /// Cosine distance `1 - a.b / (|a| |b|)`.
    Cosine,
}

/// How the neighbours' votes are weighted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weights {
    /// One vote per neighbour.
    Uniform,
    /// Votes weighted by the inverse distance.
    Distance,
}

/// Who wins when classes tie in the vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TieBreak {
    /// The class of the nearest neighbour among the tied classes.
    Nearest,
    /// The lowest label among the tied classes (scikit-learn's rule).
    LowestLabel,
}

/// How neighbours are searched (the answer is the same; only the speed differs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// k-d tree for L1/L2 up to [`KD_TREE_MAX_DIM`] dimensions, brute force otherwise.
    Auto,
    /// Brute force (matrix products for L2 and cosine).
    Brute,
    /// k-d tree (L1 and L2 only).
    KdTree,
}

/// Parameters of [`Knn`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KnnParams {
    /// Number of neighbours that vote; at least 1 and at most the training size. Default 5.
    pub k: usize,
    /// Distance. Default [`Metric::L2`].
    pub metric: Metric,
    /// Vote weighting. Default [`Weights::Uniform`].
    pub weights: Weights,
    /// Vote tie rule. Default [`TieBreak::Nearest`].
    pub tie_break: TieBreak,
    /// Search structure. Default [`Algorithm::Auto`].
    pub algorithm: Algorithm,
}

impl Default for KnnParams {
    fn default() -> Self {
        KnnParams {
            k: 5,
            metric: Metric::L2,
            weights: Weights::Uniform,
            tie_break: TieBreak::Nearest,
            algorithm: Algorithm::Auto,
        }
    }
}

impl KnnParams {
    /// Checks the parameters (data-independent rules).
    pub fn validate(&self) -> Result<()> {
        if self.k == 0 {
            return Err(Error::param("k", "must be at least 1"));
        }
        if self.algorithm == Algorithm::KdTree && !matches!(self.metric, Metric::L1 | Metric::L2) {
            return Err(Error::param(
                "algorithm",
                "the k-d tree supports the l1 and l2 metrics only",
            ));
        }
        Ok(())
    }
}

/// The neighbours of one query, nearest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Neighbours {
    /// Row indices into the training set.
    pub indices: Vec<usize>,
    /// Their distances (Euclidean, not squared, for L2).
    pub distances: Vec<f32>,
}

/// A fitted kNN classifier: the training set, its labels and the params.
#[derive(Clone, Debug, PartialEq)]
pub struct Knn {
    /// The params it was fitted with.
    pub params: KnnParams,
    /// Number of classes (`max label + 1`).
    pub n_classes: usize,
    /// Training labels, one per row.
    pub labels: Vec<Label>,
    dim: usize,
    /// Training rows, row-major `n x dim`.
    train: Vec<f32>,
    /// Per-row squared norms (L2) or norms (cosine); empty otherwise.
    norms: Vec<f32>,
    /// Largest value of `norms` (L2 error bound).
    max_norm: f32,
    /// Unit-normalised training rows (cosine only; empty otherwise).
    unit: Vec<f32>,
    /// Principal-subspace projection for pruning (brute-force L2 in high dimensions).
    projection: Option<Projection>,
    tree: Option<KdTree>,
}

impl Fit for KnnParams {
    type Input = Vec<f32>;
    type Fitted = Knn;

    fn fit(&self, inputs: &[Vec<f32>], labels: &[Label]) -> Result<Knn> {
        let n_classes = check_supervised_fit(self.validate(), inputs, labels)?;
        if self.k > inputs.len() {
            return Err(Error::param(
                "k",
                format!(
                    "k = {} exceeds the {} training samples",
                    self.k,
                    inputs.len()
                ),
            ));
        }
        let dim = inputs[0].len();
        if dim == 0 {
            return Err(Error::EmptyInput {
                what: "feature vectors (dimension 0)",
            });
        }
        let train = flatten_rows(inputs, dim, "training features")?;
        if self.metric == Metric::Chi2 && train.iter().any(|&v| v < 0.0) {
            return Err(Error::param(
                "metric",
                "chi2 needs non-negative features (histograms)",
            ));
        }
        Ok(Knn::build(
            self.clone(),
            n_classes,
            labels.to_vec(),
            dim,
            train,
        ))
    }
}

impl Transform for Knn {
    type Input = Vec<f32>;
    type Output = Label;

    fn transform(&self, input: &Vec<f32>) -> Result<Label> {
        Ok(self.transform_batch(std::slice::from_ref(input))?[0])
    }

    fn transform_batch(&self, inputs: &[Vec<f32>]) -> Result<Vec<Label>> {
        let neighbours = self.kneighbors(inputs, self.params.k)?;
        Ok(neighbours.iter().map(|nb| self.vote(nb)).collect())
    }
}

impl Knn {
    fn build(
        params: KnnParams,
        n_classes: usize,
        labels: Vec<Label>,
        dim: usize,
        train: Vec<f32>,
    ) -> Knn {
        let norms: Vec<f32> = match params.metric {
            Metric::L2 => train.chunks_exact(dim).map(|r| dot(r, r)).collect(),
            Metric::Cosine => train.chunks_exact(dim).map(|r| dot(r, r).sqrt()).collect(),
            Metric::L1 | Metric::Chi2 => Vec::new(),
        };
        let max_norm = norms.iter().copied().fold(0.0, f32::max);
        let unit = if params.metric == Metric::Cosine {
            train.chunks_exact(dim).flat_map(normalized).collect()
        } else {
            Vec::new()
        };
        let use_tree = match params.algorithm {
            Algorithm::KdTree => true,
            Algorithm::Brute => false,
            Algorithm::Auto => {
                dim <= KD_TREE_MAX_DIM && matches!(params.metric, Metric::L1 | Metric::L2)
            }
        };
        let tree = use_tree.then(|| KdTree::build(&train, dim));
        let n = labels.len();
        let projection = (tree.is_none()
            && params.metric == Metric::L2
            && dim >= 4 * PROJ_DIM
            && n >= 2 * TRAIN_BLOCK)
            .then(|| Projection::build(&train, dim))
            .flatten();
        Knn {
            params,
            n_classes,
            labels,
            dim,
            train,
            norms,
            max_norm,
            unit,
            projection,
            tree,
        }
    }

    /// Number of training vectors.
    pub fn n_train(&self) -> usize {
        self.labels.len()
    }

    /// Dimension of the feature vectors.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Training row `i`.
    pub fn train_row(&self, i: usize) -> &[f32] {
        &self.train[i * self.dim..(i + 1) * self.dim]
    }

    /// The `k` nearest training vectors of each query, nearest first (ties: lower index).
    /// `k` may differ from the params' `k` (model selection reads several `k` from one
    /// search) but not exceed the training size.
    pub fn kneighbors(&self, queries: &[Vec<f32>], k: usize) -> Result<Vec<Neighbours>> {
        if k == 0 || k > self.n_train() {
            return Err(Error::param(
                "k",
                format!(
                    "k = {k} must be in 1..={} (the training size)",
                    self.n_train()
                ),
            ));
        }
        let flat = flatten_rows(queries, self.dim, "query features")?;
        let ranked: Vec<Vec<(f64, u32)>> = flat
            .par_chunks(QUERY_BLOCK * self.dim)
            .flat_map_iter(|block| match &self.tree {
                Some(tree) => block
                    .chunks_exact(self.dim)
                    .map(|q| tree.search(&self.train, self.dim, self.params.metric, q, k))
                    .collect::<Vec<_>>(),
                None => self.brute_block(block, k),
            })
            .collect();
        Ok(ranked
            .into_iter()
            .map(|r| Neighbours {
                indices: r.iter().map(|&(_, i)| i as usize).collect(),
                distances: r
                    .iter()
                    .map(|&(d, _)| match self.params.metric {
                        Metric::L2 => d.max(0.0).sqrt() as f32,
                        _ => d as f32,
                    })
                    .collect(),
            })
            .collect())
    }

    /// The label voted by `nb` under the params' weights and tie rule.
    pub fn vote(&self, nb: &Neighbours) -> Label {
        let mut score = vec![0f64; self.n_classes];
        let any_zero = self.params.weights == Weights::Distance && nb.distances.contains(&0.0);
        for (&i, &d) in nb.indices.iter().zip(&nb.distances) {
            let w = match self.params.weights {
                Weights::Uniform => 1.0,
                Weights::Distance if any_zero => f64::from(d == 0.0),
                Weights::Distance => 1.0 / d as f64,
            };
            score[self.labels[i] as usize] += w;
        }
        let best = score.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        match self.params.tie_break {
            TieBreak::LowestLabel => score.iter().position(|&s| s == best).unwrap_or(0) as Label,
            TieBreak::Nearest => nb
                .indices
                .iter()
                .map(|&i| self.labels[i])
                .find(|&l| score[l as usize] == best)
                .unwrap_or(0),
        }
    }
}

/// A reference search: the exact neighbours of `q` by a full `f64` scan, as (ranked
/// distance, index) with L2 distances squared. Used by tests and benches.
pub fn reference_kneighbors(knn: &Knn, q: &[f32], k: usize) -> Vec<(f64, u32)> {
    knn.exact_scan(q, k)
}

/// The distance used for ranking, in `f64` (squared for L2).
pub fn exact_distance(metric: Metric, a: &[f32], b: &[f32]) -> f64 {
    match metric {
        Metric::L2 => a
            .iter()
            .zip(b)
            .map(|(&x, &y)| {
                let t = x as f64 - y as f64;
                t * t
            })
            .sum(),
        Metric::L1 => a
            .iter()
            .zip(b)
            .map(|(&x, &y)| (x as f64 - y as f64).abs())
            .sum(),
        Metric::Chi2 => a
            .iter()
            .zip(b)
            .map(|(&x, &y)| {
                let s = x as f64 + y as f64;
                if s > 0.0 {
                    let t = x as f64 - y as f64;
                    t * t / s
                } else {
                    0.0
                }
            })
            .sum(),
        Metric::Cosine => {
            let na = dot_f64(a, a).sqrt();
            let nb = dot_f64(b, b).sqrt();
            if na == 0.0 || nb == 0.0 {
                1.0
            } else {
                1.0 - dot_f64(a, b) / (na * nb)
            }
        }
    }
}

impl crate::persist::Model for Knn {
    fn kind() -> String {
        "knn".into()
    }

    /// Valid params, a training set whose rows, labels, norms and unit rows agree, labels
    /// below the class count, finite values.
    fn validate_loaded(&self) -> Result<()> {
        self.params.validate()?;
        crate::limits::check_class_count(self.n_classes, "kNN")?;
        let n = self.labels.len();
        if n == 0 || self.dim == 0 {
            return Err(Error::EmptyInput {
                what: "training set of the kNN model",
            });
        }
        let rows = n.checked_mul(self.dim);
        let agree = |len: usize, full: Option<usize>| len == 0 || Some(len) == full;
        if rows != Some(self.train.len())
            || !agree(self.norms.len(), Some(n))
            || !agree(self.unit.len(), rows)
        {
            return Err(Error::DimensionMismatch {
                what: "training rows of the kNN model (labels x dimension)",
                expected: rows.unwrap_or(usize::MAX),
                found: self.train.len(),
            });
        }
        if let Some(&bad) = self.labels.iter().find(|&&l| l as usize >= self.n_classes) {
            return Err(Error::param(
                "labels",
                format!("label {bad} is not below the {} classes", self.n_classes),
            ));
        }
        crate::error::check_finite(&self.train, "kNN training rows")?;
        crate::error::check_finite(&self.norms, "kNN norms")?;
        crate::error::check_finite(&[self.max_norm], "kNN norms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// The neighbours of every query equal those of the exact `f64` reference scan.
    pub(super) fn assert_exact(knn: &Knn, queries: &[Vec<f32>], k: usize, context: &str) {
        let got = knn.kneighbors(queries, k).unwrap();
        for (q, g) in queries.iter().zip(&got) {
            let want: Vec<usize> = reference_kneighbors(knn, q, k)
                .iter()
                .map(|&(_, i)| i as usize)
                .collect();
            assert_eq!(g.indices, want, "{context}");
        }
    }

    pub(super) fn random_set(
        n: usize,
        d: usize,
        seed: u64,
        quantized: bool,
    ) -> (Vec<Vec<f32>>, Vec<Label>) {
        let mut r = Rng::new(seed);
        let x = (0..n)
            .map(|_| {
                (0..d)
                    .map(|_| {
                        if quantized {
                            // Few levels: many exact distance ties.
                            r.below(4) as f32 / 255.0
                        } else {
                            r.next_f32()
                        }
                    })
                    .collect()
            })
            .collect();
        let y = (0..n).map(|i| (i % 3) as Label).collect();
        (x, y)
    }

    #[test]
    fn vote_ties_follow_the_rule() {
        // Query at 0: neighbours at 1 (label 1), 2 (label 0), 3 (label 1), 4 (label 0).
        let x = vec![vec![1.0], vec![2.0], vec![3.0], vec![4.0]];
        let y = [1, 0, 1, 0];
        let fit = |tie_break| {
            KnnParams {
                k: 4,
                tie_break,
                ..Default::default()
            }
            .fit(&x, &y)
            .unwrap()
        };
        assert_eq!(fit(TieBreak::Nearest).transform(&vec![0.0]).unwrap(), 1);
        assert_eq!(fit(TieBreak::LowestLabel).transform(&vec![0.0]).unwrap(), 0);
    }

    #[test]
    fn distance_weights_favour_close_neighbours_and_exact_hits() {
        let x = vec![vec![0.0], vec![10.0], vec![11.0]];
        let y = [0, 1, 1];
        let knn = KnnParams {
            k: 3,
            weights: Weights::Distance,
            ..Default::default()
        }
        .fit(&x, &y)
        .unwrap();
        // Weights 1/1 for class 0 against 1/9 + 1/10 for class 1.
        assert_eq!(knn.transform(&vec![1.0]).unwrap(), 0);
        // An exact hit votes alone.
        assert_eq!(knn.transform(&vec![10.0]).unwrap(), 1);
    }

    /// Invalid params and inputs: (k, metric, algorithm, training set, the param named).
    #[test]
    fn invalid_params_are_named() {
        let cases: [(usize, Metric, Algorithm, [f32; 2], &str); 4] = [
            (0, Metric::L2, Algorithm::Auto, [0.0, 1.0], "k"),
            (3, Metric::L2, Algorithm::Auto, [0.0, 1.0], "k"),
            (
                1,
                Metric::Cosine,
                Algorithm::KdTree,
                [0.0, 1.0],
                "algorithm",
            ),
            (1, Metric::Chi2, Algorithm::Auto, [-1.0, 1.0], "metric"),
        ];
        for (k, metric, algorithm, x, want) in cases {
            let p = KnnParams {
                k,
                metric,
                algorithm,
                ..Default::default()
            };
            let r = p.fit(&[vec![x[0]], vec![x[1]]], &[0, 1]);
            assert!(
                matches!(r, Err(Error::InvalidParam { name, .. }) if name == want),
                "{want}: {r:?}"
            );
        }
    }

    #[test]
    fn nan_features_are_rejected() {
        let p = KnnParams {
            k: 1,
            ..Default::default()
        };
        assert!(matches!(
            p.fit(&[vec![f32::NAN], vec![1.0]], &[0, 1]),
            Err(Error::NonFinite { .. })
        ));
        let knn = p.fit(&[vec![0.0], vec![1.0]], &[0, 1]).unwrap();
        assert!(matches!(
            knn.transform(&vec![f32::NAN]),
            Err(Error::NonFinite { .. })
        ));
        assert!(matches!(
            knn.transform(&vec![1.0, 2.0]),
            Err(Error::DimensionMismatch { .. })
        ));
    }
}
