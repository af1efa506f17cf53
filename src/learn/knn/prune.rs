//! Principal-subspace pruning of the brute-force L2 search (high dimensions, many rows).
//!
//! # What is projected
//! At fit time, `P` (`m x d`, `m = min(64, d)`) holds orthonormal rows spanning the approximate
//! top-`m` principal directions of the training set: the covariance of an evenly spaced sample
//! of at most 4096 rows (one `f32` matrix product, shifted by `s I` with
//! `s = max(1e-3 trace / d, 1e-6)` so that rank-deficient data keep every direction), then 12
//! rounds of subspace iteration from a fixed random start, each followed by modified
//! Gram-Schmidt in `f64`, applied twice. Every training row `x` is projected once (`Px`, and
//! `|Px|^2`); each query `q` is projected at search time.
//!
//! # The bound
//! For any orthonormal `P`, `|P(x - q)| <= |x - q|`: the projected squared distance
//! `|Px|^2 - 2 Pq.Px + |Pq|^2` (one small GEMM per block) is a lower bound of the true one,
//! whatever the quality of the directions (they only decide how much is pruned). Rounding is
//! accounted for: a projected vector computed in `f32` errs by at most
//! `err_factor |x|`, `err_factor = sqrt(m) (d + 3) u * 1.01` (`m` dot products of `d` terms plus
//! the rounding of `P`, `u = 2^-24`), and the `f32` GEMM value by at most
//! `(m + 8) u (max|Px| + |Pq|)^2 * 1.01`. A row is skipped only when its projected value exceeds
//! `((sqrt(tau) + eps)^2 + gemm) (1 + 1e-6)`, `tau` the current `f32` distance of the query's
//! worst kept candidate: so no skipped row could have entered the candidates, and a row that is
//! not skipped gets its full `f32` squared distance.
//!
//! # Re-ranking
//! The candidates are then re-ranked exactly in `f64` by [`Knn::rerank`] with a relative bound
//! (`worst_kept / (1 + (d + 6) u * 1.01) > k-th exact distance`), or redone by an exact `f64`
//! scan when that proof fails, so the neighbours are those of a direct `f64` double loop.

use ndarray::{ArrayView2, linalg::general_mat_mul};

use super::Knn;
use super::brute::{TRAIN_BLOCK, TopK};
// The sequential 8-lane order the kNN search was validated with (exact ties against scikit-learn).
use crate::vecops::{dot, dot_f64, sq_dist};

impl Knn {
    /// L2 with pruning: a lower bound of every distance from the principal subspace (one
    /// small GEMM), and the full distance only where the bound does not exclude the row.
    pub(super) fn pruned_scan(&self, proj: &Projection, block: &[f32], cands: &mut [TopK]) {
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
}

/// Dimension of the principal subspace used for pruning.
pub(super) const PROJ_DIM: usize = 64;
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
pub(super) struct Projection {
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
    pub(super) fn build(train: &[f32], dim: usize) -> Option<Projection> {
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

#[cfg(test)]
mod tests {
    use super::super::tests::assert_exact;
    use super::super::*;
    use crate::rng::Rng;

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
        assert_exact(&knn, &q, 5, "pruned");
    }
}
