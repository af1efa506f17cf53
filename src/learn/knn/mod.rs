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

use ndarray::{ArrayView2, linalg::general_mat_mul};
use rayon::prelude::*;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result, check_finite};
use crate::pipeline::{Fit, Label, Transform, check_fit_inputs, count_classes};
// The sequential 8-lane order the kNN search was validated with (exact ties against scikit-learn).
use crate::vecops::{chi2_dist, dot, dot_f64, l1_dist, sq_dist};

/// The k-d tree is used by [`Algorithm::Auto`] up to this many dimensions.
pub const KD_TREE_MAX_DIM: usize = 8;

/// Queries per parallel task of the brute-force search.
const QUERY_BLOCK: usize = 256;
/// Training rows per GEMM (or per loop block) of the brute-force search.
const TRAIN_BLOCK: usize = 1024;
/// Points per k-d tree leaf.
const LEAF_SIZE: usize = 16;

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
        self.validate()?;
        check_fit_inputs(inputs, labels)?;
        let n_classes = count_classes(labels)?;
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
        let mut train = Vec::with_capacity(inputs.len() * dim);
        for row in inputs {
            if row.len() != dim {
                return Err(Error::DimensionMismatch {
                    what: "feature vector length",
                    expected: dim,
                    found: row.len(),
                });
            }
            train.extend_from_slice(row);
        }
        check_finite(&train, "training features")?;
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
        let mut flat = Vec::with_capacity(queries.len() * self.dim);
        for q in queries {
            if q.len() != self.dim {
                return Err(Error::DimensionMismatch {
                    what: "feature vector length",
                    expected: self.dim,
                    found: q.len(),
                });
            }
            flat.extend_from_slice(q);
        }
        check_finite(&flat, "query features")?;
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

    /// Brute-force search for a block of queries: approximate `f32` distances select
    /// candidates, which are re-ranked exactly (see the module docs).
    fn brute_block(&self, block: &[f32], k: usize) -> Vec<Vec<(f64, u32)>> {
        let d = self.dim;
        let n = self.n_train();
        let nq = block.len() / d;
        let keep = (2 * k + 8).min(n);
        let mut cands: Vec<TopK> = (0..nq).map(|_| TopK::new(keep)).collect();
        let metric = self.params.metric;
        if let Some(proj) = &self.projection {
            self.pruned_scan(proj, block, &mut cands);
            return block
                .chunks_exact(d)
                .zip(cands)
                .map(|(q, top)| self.rerank(q, top, k, true))
                .collect();
        }
        match metric {
            Metric::L2 | Metric::Cosine => {
                let queries: Vec<f32> = if metric == Metric::Cosine {
                    block.chunks_exact(d).flat_map(normalized).collect()
                } else {
                    block.to_vec()
                };
                let q = ArrayView2::from_shape((nq, d), &queries).expect("block shape");
                let mut g = ndarray::Array2::<f32>::zeros((nq, TRAIN_BLOCK.min(n)));
                let train = if metric == Metric::Cosine {
                    &self.unit
                } else {
                    &self.train
                };
                for start in (0..n).step_by(TRAIN_BLOCK) {
                    let end = (start + TRAIN_BLOCK).min(n);
                    let x = ArrayView2::from_shape((end - start, d), &train[start * d..end * d])
                        .expect("block shape");
                    let mut gb =
                        g.slice_axis_mut(ndarray::Axis(1), ndarray::Slice::from(0..end - start));
                    general_mat_mul(1.0, &q, &x.t(), 0.0, &mut gb);
                    for (qi, row) in gb.rows().into_iter().enumerate() {
                        let top = &mut cands[qi];
                        let row = row.as_slice().expect("standard layout");
                        for (j, &p) in row.iter().enumerate() {
                            let v = if metric == Metric::L2 {
                                self.norms[start + j] - 2.0 * p
                            } else {
                                1.0 - p
                            };
                            top.push(v, (start + j) as u32);
                        }
                    }
                }
            }
            Metric::L1 | Metric::Chi2 => {
                for start in (0..n).step_by(TRAIN_BLOCK) {
                    let end = (start + TRAIN_BLOCK).min(n);
                    for (qi, q) in block.chunks_exact(d).enumerate() {
                        let top = &mut cands[qi];
                        for j in start..end {
                            let x = &self.train[j * d..(j + 1) * d];
                            let v = if metric == Metric::L1 {
                                l1_dist(q, x)
                            } else {
                                chi2_dist(q, x)
                            };
                            top.push(v, j as u32);
                        }
                    }
                }
            }
        }
        block
            .chunks_exact(d)
            .zip(cands)
            .map(|(q, top)| self.rerank(q, top, k, false))
            .collect()
    }

    /// L2 with pruning: a lower bound of every distance from the principal subspace (one
    /// small GEMM), and the full distance only where the bound does not exclude the row.
    fn pruned_scan(&self, proj: &Projection, block: &[f32], cands: &mut [TopK]) {
        let d = self.dim;
        let n = self.n_train();
        let m = proj.m;
        let nq = block.len() / d;
        let pq: Vec<f32> = block
            .chunks_exact(d)
            .flat_map(|q| proj.project(q))
            .collect();
        let pq_norm: Vec<f32> = pq.chunks_exact(m).map(|v| dot(v, v)).collect();
        let q_norm: Vec<f64> = block
            .chunks_exact(d)
            .map(|q| dot_f64(q, q).sqrt())
            .collect();
        let u = f32::EPSILON as f64 / 2.0;
        // Bounds (see `Projection`): eps_* bound the error of a projected vector, gemm the
        // error of |Px|^2 - 2 Pq.Px + |Pq|^2 in f32.
        let eps_x = proj.err_factor * self.max_norm.sqrt() as f64;
        let slack: Vec<(f64, f64)> = (0..nq)
            .map(|qi| {
                let eps = eps_x + proj.err_factor * q_norm[qi];
                let r = proj.max_proj_norm as f64 + (pq_norm[qi] as f64).sqrt();
                (eps, (m as f64 + 8.0) * u * r * r * 1.01)
            })
            .collect();
        let threshold = |tau: f32, (eps, gemm): (f64, f64)| -> f32 {
            if tau.is_infinite() {
                f32::INFINITY
            } else {
                let t = ((tau as f64).max(0.0).sqrt() + eps).powi(2) + gemm;
                (t * (1.0 + 1e-6)) as f32
            }
        };
        let mut limits: Vec<f32> = (0..nq)
            .map(|qi| threshold(cands[qi].worst(), slack[qi]))
            .collect();
        let q = ArrayView2::from_shape((nq, m), &pq).expect("block shape");
        let mut g = ndarray::Array2::<f32>::zeros((nq, TRAIN_BLOCK.min(n)));
        for start in (0..n).step_by(TRAIN_BLOCK) {
            let end = (start + TRAIN_BLOCK).min(n);
            let x = ArrayView2::from_shape((end - start, m), &proj.rows[start * m..end * m])
                .expect("block shape");
            let mut gb = g.slice_axis_mut(ndarray::Axis(1), ndarray::Slice::from(0..end - start));
            general_mat_mul(1.0, &q, &x.t(), 0.0, &mut gb);
            for (qi, row) in gb.rows().into_iter().enumerate() {
                let row = row.as_slice().expect("standard layout");
                let query = &block[qi * d..(qi + 1) * d];
                let offset = pq_norm[qi];
                for (j, &p) in row.iter().enumerate() {
                    let lb = proj.norms[start + j] - 2.0 * p + offset;
                    if lb <= limits[qi] {
                        let jj = start + j;
                        let v = sq_dist(query, self.train_row(jj));
                        if v < cands[qi].worst() {
                            cands[qi].push(v, jj as u32);
                            limits[qi] = threshold(cands[qi].worst(), slack[qi]);
                        }
                    }
                }
            }
        }
    }

    /// Exact re-ranking of one query's candidates, with the proof that nothing outside
    /// them can enter the top `k` (else an exact scan).
    fn rerank(&self, q: &[f32], top: TopK, k: usize, relative: bool) -> Vec<(f64, u32)> {
        let metric = self.params.metric;
        let n = self.n_train();
        let worst_kept = top.worst() as f64;
        let kept = top.items.len();
        let mut exact: Vec<(f64, u32)> = top
            .items
            .iter()
            .map(|&(_, j)| (exact_distance(metric, q, self.train_row(j as usize)), j))
            .collect();
        sort_ranked(&mut exact);
        exact.truncate(k);
        if kept == n {
            return exact;
        }
        let kth = exact[k - 1].0;
        // Rounding-error bounds of the f32 pass (Higham, "Accuracy and Stability of
        // Numerical Algorithms", 3.1: a dot product of d terms errs by at most d u sum|terms|).
        let u = f32::EPSILON as f64 / 2.0;
        let d = self.dim as f64;
        let proven = match metric {
            _ if relative => worst_kept / (1.0 + (d + 6.0) * u * 1.01) > kth,
            Metric::L2 => {
                let qn = dot_f64(q, q);
                let m = self.max_norm as f64;
                let bound = (d + 4.0) * u * (m + 2.0 * qn.sqrt() * m.sqrt()) * 1.01 + 1e-30;
                // Ranked values are |x - q|^2; the f32 values omit the constant |q|^2.
                worst_kept + qn - bound > kth
            }
            Metric::Cosine => {
                let bound = 2.0 * (d + 6.0) * u * 1.01;
                worst_kept - bound > kth
            }
            Metric::L1 | Metric::Chi2 => worst_kept / (1.0 + (d + 6.0) * u * 1.01) > kth,
        };
        if proven { exact } else { self.exact_scan(q, k) }
    }

    /// The exact `k` nearest by a direct `f64` scan (the reference, and the fallback).
    fn exact_scan(&self, q: &[f32], k: usize) -> Vec<(f64, u32)> {
        let mut all: Vec<(f64, u32)> = (0..self.n_train())
            .map(|j| {
                (
                    exact_distance(self.params.metric, q, self.train_row(j)),
                    j as u32,
                )
            })
            .collect();
        sort_ranked(&mut all);
        all.truncate(k);
        all
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

fn sort_ranked(v: &mut [(f64, u32)]) {
    v.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
}

fn normalized(v: &[f32]) -> Vec<f32> {
    let n = dot(v, v).sqrt();
    if n > 0.0 {
        v.iter().map(|x| x / n).collect()
    } else {
        v.to_vec()
    }
}

/// The `cap` smallest (value, index) pairs seen, sorted ascending.
struct TopK {
    cap: usize,
    items: Vec<(f32, u32)>,
}

impl TopK {
    fn new(cap: usize) -> Self {
        TopK {
            cap,
            items: Vec::with_capacity(cap + 1),
        }
    }

    #[inline]
    fn push(&mut self, v: f32, i: u32) {
        if self.items.len() == self.cap {
            if v >= self.items[self.cap - 1].0 {
                return;
            }
            self.items.pop();
        }
        let pos = self.items.partition_point(|&(w, _)| w <= v);
        self.items.insert(pos, (v, i));
    }

    /// The largest kept value, or infinity while fewer than `cap` are kept.
    fn worst(&self) -> f32 {
        if self.items.len() < self.cap {
            f32::INFINITY
        } else {
            self.items[self.cap - 1].0
        }
    }
}

/// Dimension of the principal subspace used for pruning.
const PROJ_DIM: usize = 64;
/// Rows used to estimate the covariance.
const PROJ_SAMPLE: usize = 4096;

/// An orthonormal projection `P` (rows: approximate principal directions of the training
/// set) and the projected training rows. For any orthonormal `P`,
/// `|P(x - q)| <= |x - q|`, so the projected distance is a lower bound of the true one
/// whatever the quality of the directions; they only decide how much is pruned.
///
/// Rounding: a projected vector computed in `f32` errs by at most `err_factor * |x|`
/// (`sqrt(m) (d + 3) u`: `m` dot products of `d` terms plus the rounding of `P`).
#[derive(Clone, Debug, PartialEq)]
struct Projection {
    m: usize,
    dim: usize,
    /// `m x dim`, row-major, orthonormal rows (in f64, stored in f32).
    p: Vec<f32>,
    /// Projected training rows, `n x m`.
    rows: Vec<f32>,
    /// Their squared norms.
    norms: Vec<f32>,
    /// Largest projected norm (not squared).
    max_proj_norm: f32,
    err_factor: f64,
}

impl Projection {
    /// `None` when no orthonormal basis could be formed (then brute force is unpruned).
    fn build(train: &[f32], dim: usize) -> Option<Projection> {
        let n = train.len() / dim;
        let m = PROJ_DIM.min(dim);
        // Covariance of an evenly spaced sample of rows, by one f32 matrix product.
        let step = (n / PROJ_SAMPLE).max(1);
        let sample: Vec<usize> = (0..n).step_by(step).take(PROJ_SAMPLE).collect();
        let mut mean = vec![0f64; dim];
        for &i in &sample {
            for (a, &v) in mean.iter_mut().zip(&train[i * dim..(i + 1) * dim]) {
                *a += v as f64;
            }
        }
        mean.iter_mut().for_each(|a| *a /= sample.len() as f64);
        let centred: Vec<f32> = sample
            .iter()
            .flat_map(|&i| {
                train[i * dim..(i + 1) * dim]
                    .iter()
                    .zip(&mean)
                    .map(|(&v, &mu)| (v as f64 - mu) as f32)
            })
            .collect();
        let xs = ArrayView2::from_shape((sample.len(), dim), &centred).expect("shape");
        let mut cov = xs.t().dot(&xs);
        // Iterating with C + sI (s > 0) keeps every direction alive on rank-deficient data;
        // the eigenvectors are those of C.
        let shift = (cov.diag().sum() / dim as f32 * 1e-3).max(1e-6);
        cov.diag_mut().iter_mut().for_each(|v| *v += shift);
        // Subspace iteration from a fixed random start, Gram-Schmidt in f64.
        let mut rng = crate::rng::Rng::new(0x006b_6e6e_5f70_6361);
        let mut basis: Vec<Vec<f64>> = (0..m)
            .map(|_| (0..dim).map(|_| rng.normal() as f64).collect())
            .collect();
        orthonormalize(&mut basis);
        for _ in 0..12 {
            let q = ndarray::Array2::from_shape_fn((dim, m), |(i, c)| basis[c][i] as f32);
            let z = cov.dot(&q);
            basis = (0..m)
                .map(|c| z.column(c).iter().map(|&v| v as f64).collect())
                .collect();
            orthonormalize(&mut basis);
        }
        for i in 0..m {
            for j in 0..=i {
                let d: f64 = basis[i].iter().zip(&basis[j]).map(|(a, b)| a * b).sum();
                if (d - f64::from(i == j)).abs() > 1e-9 {
                    return None;
                }
            }
        }
        let p: Vec<f32> = basis.iter().flatten().map(|&v| v as f32).collect();
        let pv = ArrayView2::from_shape((m, dim), &p).expect("shape");
        let xv = ArrayView2::from_shape((n, dim), train).expect("shape");
        let projected = xv.dot(&pv.t());
        let rows: Vec<f32> = projected.iter().copied().collect();
        let norms: Vec<f32> = rows.chunks_exact(m).map(|r| dot(r, r)).collect();
        let max_proj_norm = norms.iter().copied().fold(0.0, f32::max).sqrt();
        let u = f32::EPSILON as f64 / 2.0;
        Some(Projection {
            m,
            dim,
            p,
            rows,
            norms,
            max_proj_norm,
            err_factor: (m as f64).sqrt() * (dim as f64 + 3.0) * u * 1.01,
        })
    }

    fn project(&self, q: &[f32]) -> Vec<f32> {
        self.p.chunks_exact(self.dim).map(|r| dot(r, q)).collect()
    }
}

/// Modified Gram-Schmidt, twice (orthonormal to f64 precision); a vector that vanishes is
/// replaced by a unit coordinate vector orthogonalised in turn.
fn orthonormalize(basis: &mut [Vec<f64>]) {
    for _ in 0..2 {
        for i in 0..basis.len() {
            for j in 0..i {
                let (head, tail) = basis.split_at_mut(i);
                let d: f64 = head[j].iter().zip(&tail[0]).map(|(a, b)| a * b).sum();
                for (b, a) in tail[0].iter_mut().zip(&head[j]) {
                    *b -= d * a;
                }
            }
            let norm = basis[i].iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm > 1e-12 {
                basis[i].iter_mut().for_each(|v| *v /= norm);
            } else {
                let dim = basis[i].len();
                basis[i] = (0..dim).map(|t| f64::from(t == i % dim)).collect();
            }
        }
    }
}

/// A k-d tree over the training rows (rebuilt, never stored).
#[derive(Clone, Debug, PartialEq)]
struct KdTree {
    nodes: Vec<KdNode>,
    /// Training indices; each leaf owns a contiguous range.
    perm: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq)]
enum KdNode {
    Leaf {
        start: u32,
        end: u32,
    },
    Split {
        dim: u32,
        value: f32,
        left: u32,
        right: u32,
    },
}

impl KdTree {
    fn build(train: &[f32], dim: usize) -> KdTree {
        let n = train.len() / dim;
        let mut tree = KdTree {
            nodes: Vec::new(),
            perm: (0..n as u32).collect(),
        };
        tree.build_node(train, dim, 0, n);
        tree
    }

    fn build_node(&mut self, train: &[f32], dim: usize, start: usize, end: usize) -> u32 {
        let id = self.nodes.len() as u32;
        let at = |i: u32, c: usize| train[i as usize * dim + c];
        let mut widest = (0, 0f32);
        if end - start > LEAF_SIZE {
            for c in 0..dim {
                let (lo, hi) = self.perm[start..end]
                    .iter()
                    .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &i| {
                        (lo.min(at(i, c)), hi.max(at(i, c)))
                    });
                if hi - lo > widest.1 {
                    widest = (c, hi - lo);
                }
            }
        }
        if end - start <= LEAF_SIZE || widest.1 == 0.0 {
            self.nodes.push(KdNode::Leaf {
                start: start as u32,
                end: end as u32,
            });
            return id;
        }
        let c = widest.0;
        let mid = start + (end - start) / 2;
        self.perm[start..end].select_nth_unstable_by(mid - start, |&a, &b| {
            at(a, c).total_cmp(&at(b, c)).then(a.cmp(&b))
        });
        let value = at(self.perm[mid], c);
        self.nodes.push(KdNode::Split {
            dim: c as u32,
            value,
            left: 0,
            right: 0,
        });
        let left = self.build_node(train, dim, start, mid);
        let right = self.build_node(train, dim, mid, end);
        if let KdNode::Split {
            left: l, right: r, ..
        } = &mut self.nodes[id as usize]
        {
            *l = left;
            *r = right;
        }
        id
    }

    fn search(
        &self,
        train: &[f32],
        dim: usize,
        metric: Metric,
        q: &[f32],
        k: usize,
    ) -> Vec<(f64, u32)> {
        let mut best: Vec<(f64, u32)> = Vec::with_capacity(k + 1);
        self.visit(0, train, dim, metric, q, k, &mut best);
        best
    }

    #[allow(clippy::too_many_arguments)]
    fn visit(
        &self,
        node: u32,
        train: &[f32],
        dim: usize,
        metric: Metric,
        q: &[f32],
        k: usize,
        best: &mut Vec<(f64, u32)>,
    ) {
        match self.nodes[node as usize] {
            KdNode::Leaf { start, end } => {
                for &i in &self.perm[start as usize..end as usize] {
                    let row = &train[i as usize * dim..(i as usize + 1) * dim];
                    let cand = (exact_distance(metric, q, row), i);
                    let worse = |a: &(f64, u32), b: &(f64, u32)| {
                        a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).is_lt()
                    };
                    if best.len() == k {
                        if !worse(&cand, &best[k - 1]) {
                            continue;
                        }
                        best.pop();
                    }
                    let pos = best.partition_point(|b| worse(b, &cand));
                    best.insert(pos, cand);
                }
            }
            KdNode::Split {
                dim: c,
                value,
                left,
                right,
            } => {
                let diff = q[c as usize] as f64 - value as f64;
                let (near, far) = if diff < 0.0 {
                    (left, right)
                } else {
                    (right, left)
                };
                self.visit(near, train, dim, metric, q, k, best);
                let plane = match metric {
                    Metric::L2 => diff * diff,
                    _ => diff.abs(),
                };
                if best.len() < k || plane <= best[k - 1].0 {
                    self.visit(far, train, dim, metric, q, k, best);
                }
            }
        }
    }
}

/// What is written to a model file: the params, the labels and the training rows (one
/// byte per value when lossless).
#[derive(Serialize, Deserialize)]
struct Stored<R> {
    params: KnnParams,
    n_classes: usize,
    labels: Vec<Label>,
    dim: usize,
    rows: R,
}

#[derive(Serialize, Deserialize)]
enum StoredRows {
    /// `i / 255` values stored as `i`.
    Bytes255(Vec<u8>),
    /// Anything else.
    F32(Vec<f32>),
}

#[derive(Serialize)]
enum StoredRowsRef<'a> {
    Bytes255(Vec<u8>),
    F32(&'a [f32]),
}

/// The 8-bit code of `v` if `v` is exactly `i as f32 / 255.0` for an integer `i`.
fn as_byte255(v: f32) -> Option<u8> {
    let i = (v * 255.0).round();
    ((0.0..=255.0).contains(&i) && (i as u8) as f32 / 255.0 == v).then_some(i as u8)
}

impl Serialize for Knn {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let bytes: Option<Vec<u8>> = self.train.iter().map(|&v| as_byte255(v)).collect();
        let rows = match bytes {
            Some(b) => StoredRowsRef::Bytes255(b),
            None => StoredRowsRef::F32(&self.train),
        };
        Stored {
            params: self.params.clone(),
            n_classes: self.n_classes,
            labels: self.labels.clone(),
            dim: self.dim,
            rows,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Knn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let s = Stored::<StoredRows>::deserialize(d)?;
        let train = match s.rows {
            StoredRows::Bytes255(b) => b.into_iter().map(|v| v as f32 / 255.0).collect(),
            StoredRows::F32(v) => v,
        };
        let n = s.labels.len();
        if s.dim == 0 || train.len() != n * s.dim {
            return Err(D::Error::custom(format!(
                "knn training set of {} values does not hold {n} rows of {}",
                train.len(),
                s.dim
            )));
        }
        if s.labels.iter().any(|&l| l as usize >= s.n_classes) {
            return Err(D::Error::custom("knn label outside 0..n_classes"));
        }
        if n < s.params.k || s.params.validate().is_err() || !train.iter().all(|v| v.is_finite()) {
            return Err(D::Error::custom("knn model fails its own checks"));
        }
        Ok(Knn::build(s.params, s.n_classes, s.labels, s.dim, train))
    }
}

impl crate::persist::Model for Knn {
    fn kind() -> String {
        "knn".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn random_set(n: usize, d: usize, seed: u64, quantized: bool) -> (Vec<Vec<f32>>, Vec<Label>) {
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
    fn brute_and_tree_match_the_exact_reference() {
        for metric in [Metric::L1, Metric::L2, Metric::Chi2, Metric::Cosine] {
            for (d, quantized) in [(3, false), (3, true), (37, false), (20, true)] {
                let (x, y) = random_set(1500, d, 7 + d as u64, quantized);
                let (q, _) = random_set(300, d, 99, quantized);
                let algorithms: &[Algorithm] = if matches!(metric, Metric::L1 | Metric::L2) {
                    &[Algorithm::Brute, Algorithm::KdTree]
                } else {
                    &[Algorithm::Brute]
                };
                for &algorithm in algorithms {
                    let knn = KnnParams {
                        k: 7,
                        metric,
                        algorithm,
                        ..Default::default()
                    }
                    .fit(&x, &y)
                    .unwrap();
                    let got = knn.kneighbors(&q, 7).unwrap();
                    for (qi, g) in q.iter().zip(&got) {
                        let want: Vec<usize> = reference_kneighbors(&knn, qi, 7)
                            .iter()
                            .map(|&(_, i)| i as usize)
                            .collect();
                        assert_eq!(g.indices, want, "{metric:?} {algorithm:?} d={d}");
                    }
                }
            }
        }
    }

    #[test]
    fn pruned_l2_search_matches_the_exact_reference() {
        // High dimension and enough rows to switch on the principal-subspace pruning; the
        // data lie near a 10-D subspace (as images do) plus noise, with exact duplicates.
        let (n, d) = (2500, 300);
        let mut r = Rng::new(4);
        let basis: Vec<Vec<f32>> = (0..10)
            .map(|_| (0..d).map(|_| r.normal()).collect())
            .collect();
        let point = |r: &mut Rng| -> Vec<f32> {
            let c: Vec<f32> = (0..10).map(|_| r.normal()).collect();
            (0..d)
                .map(|j| (0..10).map(|t| c[t] * basis[t][j]).sum::<f32>() + 0.3 * r.normal())
                .collect()
        };
        let mut x: Vec<Vec<f32>> = (0..n).map(|_| point(&mut r)).collect();
        for i in 0..50 {
            x[n - 1 - i] = x[i].clone();
        }
        let y: Vec<Label> = (0..n).map(|i| (i % 4) as Label).collect();
        let knn = KnnParams {
            k: 5,
            ..Default::default()
        }
        .fit(&x, &y)
        .unwrap();
        assert!(knn.projection.is_some());
        let mut q: Vec<Vec<f32>> = (0..200).map(|_| point(&mut r)).collect();
        q.push(x[3].clone());
        let got = knn.kneighbors(&q, 5).unwrap();
        for (qi, g) in q.iter().zip(&got) {
            let want: Vec<usize> = reference_kneighbors(&knn, qi, 5)
                .iter()
                .map(|&(_, i)| i as usize)
                .collect();
            assert_eq!(g.indices, want);
        }
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

    #[test]
    fn bytes_are_stored_when_lossless() {
        let (x, y) = random_set(50, 4, 1, true);
        let knn = KnnParams::default().fit(&x, &y).unwrap();
        let bytes = postcard::to_stdvec(&knn).unwrap();
        assert!(bytes.len() < 50 * 4 + 200, "{} bytes", bytes.len());
        assert_eq!(postcard::from_bytes::<Knn>(&bytes).unwrap(), knn);
        let (x, y) = random_set(50, 4, 1, false);
        let knn = KnnParams::default().fit(&x, &y).unwrap();
        let bytes = postcard::to_stdvec(&knn).unwrap();
        assert_eq!(postcard::from_bytes::<Knn>(&bytes).unwrap(), knn);
    }

    #[test]
    fn k_must_be_positive() {
        let p = KnnParams {
            k: 0,
            ..Default::default()
        };
        assert!(matches!(
            p.fit(&[vec![0.0], vec![1.0]], &[0, 1]),
            Err(Error::InvalidParam { name: "k", .. })
        ));
    }

    #[test]
    fn k_above_training_size_is_an_error() {
        let p = KnnParams {
            k: 3,
            ..Default::default()
        };
        assert!(matches!(
            p.fit(&[vec![0.0], vec![1.0]], &[0, 1]),
            Err(Error::InvalidParam { name: "k", .. })
        ));
    }

    #[test]
    fn kd_tree_needs_l1_or_l2() {
        let p = KnnParams {
            k: 1,
            metric: Metric::Cosine,
            algorithm: Algorithm::KdTree,
            ..Default::default()
        };
        assert!(matches!(
            p.fit(&[vec![0.0], vec![1.0]], &[0, 1]),
            Err(Error::InvalidParam {
                name: "algorithm",
                ..
            })
        ));
    }

    #[test]
    fn chi2_needs_non_negative_features() {
        let p = KnnParams {
            k: 1,
            metric: Metric::Chi2,
            ..Default::default()
        };
        assert!(matches!(
            p.fit(&[vec![-1.0], vec![1.0]], &[0, 1]),
            Err(Error::InvalidParam { name: "metric", .. })
        ));
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
