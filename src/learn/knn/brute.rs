//! Brute-force kNN search: `f32` distances of a block of queries against blocks of training
//! rows select candidates, which are re-ranked exactly in `f64`.
//!
//! - L2 and cosine: one `f32` GEMM per (query block, training block) pair gives `|x|^2 - 2 q.x`
//!   (the constant `|q|^2` omitted) or `1 - q.x` on unit-normalised rows.
//! - L1 and chi-squared: blocked double loops with the 8-lane kernels of [`crate::vecops`]
//!   (sequential order).
//! - Each query keeps its `2k + 8` best `f32` values ([`TopK`]); [`Knn::rerank`] recomputes them
//!   in `f64`, keeps the best `k` by (distance, index), and proves with a rounding-error bound of
//!   the `f32` pass (Higham, "Accuracy and Stability of Numerical Algorithms", 3.1: a dot
//!   product of `d` terms errs by at most `d u sum |terms|`, `u = 2^-24`) that no other row can
//!   be as close as the `k`-th; if the proof fails the query is redone by an exact `f64` scan.

use ndarray::{ArrayView2, linalg::general_mat_mul};

use super::{Knn, Metric, exact_distance};
// The sequential 8-lane order the kNN search was validated with (exact ties against scikit-learn).
use crate::vecops::{chi2_dist, dot, dot_f64, l1_dist};

/// Training rows per GEMM (or per loop block) of the brute-force search.
pub(super) const TRAIN_BLOCK: usize = 1024;

impl Knn {
    /// Brute-force search for a block of queries: approximate `f32` distances select
    /// candidates, which are re-ranked exactly (see the module docs).
    pub(super) fn brute_block(&self, block: &[f32], k: usize) -> Vec<Vec<(f64, u32)>> {
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

    /// Exact re-ranking of one query's candidates, with the proof that nothing outside
    /// them can enter the top `k` (else an exact scan).
    pub(super) fn rerank(&self, q: &[f32], top: TopK, k: usize, relative: bool) -> Vec<(f64, u32)> {
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
    pub(super) fn exact_scan(&self, q: &[f32], k: usize) -> Vec<(f64, u32)> {
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

pub(super) fn sort_ranked(v: &mut [(f64, u32)]) {
    v.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
}

pub(super) fn normalized(v: &[f32]) -> Vec<f32> {
    let n = dot(v, v).sqrt();
    if n > 0.0 {
        v.iter().map(|x| x / n).collect()
    } else {
        v.to_vec()
    }
}

/// The `cap` smallest (value, index) pairs seen, sorted ascending.
pub(super) struct TopK {
    cap: usize,
    pub(super) items: Vec<(f32, u32)>,
}

impl TopK {
    pub(super) fn new(cap: usize) -> Self {
        TopK {
            cap,
            items: Vec::with_capacity(cap + 1),
        }
    }

    #[inline]
    pub(super) fn push(&mut self, v: f32, i: u32) {
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
    pub(super) fn worst(&self) -> f32 {
        if self.items.len() < self.cap {
            f32::INFINITY
        } else {
            self.items[self.cap - 1].0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_exact, random_set};
    use super::super::*;

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
                    assert_exact(&knn, &q, 7, &format!("{metric:?} {algorithm:?} d={d}"));
                }
            }
        }
    }
}
