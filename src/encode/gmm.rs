//! Gaussian mixture with diagonal covariances, fitted by EM (VLFeat's `vl_gmm`): the
//! vocabulary of the Fisher vectors ([`crate::encode::fisher`]).
//!
//! # Algorithm and conventions
//! - **Initialisation**: initial means are k-means centres (20 Lloyd iterations, k-means++ with
//!   `seed`), initial variances the per-cluster variances, initial priors the cluster fractions.
//! - **E-step**: `log π_k + log N(x; μ_k, diag σ²_k)` for all pairs with two matrix products
//!   (`x²·(1/σ²)` and `x·(μ/σ²)`), then posteriors by log-sum-exp.
//! - **M-step**: means, variances and priors from the posterior-weighted sufficient statistics.
//!   Variances are floored at `variance_floor`; a component whose posterior mass vanishes keeps
//!   its previous parameters.
//! - **Stopping**: after `max_iter` iterations or when the log-likelihood rises by less than
//!   `tol` relative to its magnitude.
//!
//! # Parallelism
//! The E-step and the sufficient statistics run in parallel over fixed blocks of rows; block
//! statistics are added in block order, so results do not depend on the number of threads.
//!
//! # References
//! - A. P. Dempster, N. M. Laird, D. B. Rubin, "Maximum likelihood from incomplete data via the
//!   EM algorithm", JRSS B 39(1), 1977.
//! - VLFeat `vl_gmm`.

use ndarray::{Array2, ArrayView2, Axis, Slice};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::encode::kmeans::{CHUNK, KMeansParams};
use crate::error::{Error, Result};

/// Parameters of [`Gmm`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GmmParams {
    /// Number of components (default 64).
    pub k: usize,
    /// Maximum EM iterations (default 50).
    pub max_iter: usize,
    /// Relative log-likelihood gain below which EM stops (default 1e-6).
    pub tol: f32,
    /// Lower bound of every variance (default 1e-4).
    pub variance_floor: f32,
    /// Seed of the k-means initialisation (default 42).
    pub seed: u64,
    /// Fit on at most this many descriptors, drawn at random with `seed` (default 100,000).
    pub subsample: Option<usize>,
}

impl Default for GmmParams {
    fn default() -> Self {
        GmmParams {
            k: 64,
            max_iter: 50,
            tol: 1e-6,
            variance_floor: 1e-4,
            seed: 42,
            subsample: Some(100_000),
        }
    }
}

/// A fitted diagonal Gaussian mixture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gmm {
    /// The params it was fitted with.
    pub params: GmmParams,
    /// `k x d` means.
    pub means: Array2<f32>,
    /// `k x d` variances (diagonal covariances).
    pub variances: Array2<f32>,
    /// `k` mixing weights, summing to 1.
    pub priors: Vec<f32>,
    /// Total log-likelihood before each M-step.
    pub log_likelihoods: Vec<f64>,
    /// EM iterations performed.
    pub n_iter: usize,
    /// Whether the `tol` rule stopped EM.
    pub converged: bool,
}

impl GmmParams {
    /// Checks every parameter; called first by every fit.
    pub fn validate(&self) -> Result<()> {
        if self.k == 0 {
            return Err(Error::param("k", "must be at least 1"));
        }
        if !(self.tol >= 0.0) || !self.tol.is_finite() {
            return Err(Error::param("tol", "must be finite and >= 0"));
        }
        if !(self.variance_floor > 0.0) || !self.variance_floor.is_finite() {
            return Err(Error::param("variance_floor", "must be finite and > 0"));
        }
        if self.subsample == Some(0) {
            return Err(Error::param("subsample", "must be at least 1 when given"));
        }
        Ok(())
    }

    /// Fits on the rows of `x` (`n x d`).
    pub fn fit_array(&self, x: ArrayView2<f32>) -> Result<Gmm> {
        self.validate()?;
        let km = KMeansParams {
            k: self.k,
            max_iter: 20,
            seed: self.seed,
            subsample: self.subsample,
            ..Default::default()
        }
        .fit_array(x)?;
        let x = x.as_standard_layout();
        let (n, d) = x.dim();
        let k = self.k;
        // Initial variances and priors from the k-means partition.
        let labels = km.quantize(x.view())?.labels;
        let mut counts = vec![0f64; k];
        let mut s1 = vec![0f64; k * d];
        let mut s2 = vec![0f64; k * d];
        for (row, &l) in x.rows().into_iter().zip(&labels) {
            let l = l as usize;
            counts[l] += 1.0;
            for (t, &v) in row.iter().enumerate() {
                s1[l * d + t] += v as f64;
                s2[l * d + t] += v as f64 * v as f64;
            }
        }
        let mut gmm = Gmm {
            params: self.clone(),
            means: km.centres.clone(),
            variances: Array2::from_elem((k, d), self.variance_floor),
            priors: counts.iter().map(|&c| (c / n as f64) as f32).collect(),
            log_likelihoods: Vec::new(),
            n_iter: 0,
            converged: false,
        };
        self.m_step(&mut gmm, &counts, &s1, &s2, false);
        while gmm.n_iter < self.max_iter {
            let (ll, s0, s1, s2) = gmm.statistics(x.view());
            gmm.log_likelihoods.push(ll);
            self.m_step(&mut gmm, &s0, &s1, &s2, true);
            gmm.n_iter += 1;
            let t = gmm.log_likelihoods.len();
            if t >= 2 {
                let (prev, cur) = (gmm.log_likelihoods[t - 2], gmm.log_likelihoods[t - 1]);
                if (cur - prev) <= self.tol as f64 * cur.abs() {
                    gmm.converged = true;
                    break;
                }
            }
        }
        Ok(gmm)
    }

    /// Means, floored variances and (optionally) priors from the statistics.
    fn m_step(&self, gmm: &mut Gmm, s0: &[f64], s1: &[f64], s2: &[f64], priors: bool) {
        let d = gmm.means.ncols();
        let total: f64 = s0.iter().sum();
        for j in 0..s0.len() {
            if s0[j] <= 1e-10 * total.max(1.0) {
                continue;
            }
            for t in 0..d {
                let m = s1[j * d + t] / s0[j];
                let v = (s2[j * d + t] / s0[j] - m * m).max(self.variance_floor as f64);
                gmm.means[[j, t]] = m as f32;
                gmm.variances[[j, t]] = v as f32;
            }
            if priors {
                gmm.priors[j] = (s0[j] / total) as f32;
            }
        }
    }
}

impl Gmm {
    /// Number of components.
    pub fn k(&self) -> usize {
        self.means.nrows()
    }

    /// Posteriors (`n x k`) of the rows of `x` and the total log-likelihood; `x` is in
    /// standard layout with the mixture's dimension.
    pub fn posteriors(&self, x: ArrayView2<f32>) -> (Array2<f32>, f64) {
        let k = self.k();
        let prec = self.variances.mapv(|v| 1.0 / v);
        let mp = &self.means * &prec;
        // Per component: log π − ½ (Σ log 2πσ² + Σ μ²/σ²).
        let konst: Vec<f64> = (0..k)
            .map(|j| {
                let mut c = 0f64;
                for (&v, &m) in self.variances.row(j).iter().zip(self.means.row(j).iter()) {
                    c += (2.0 * std::f64::consts::PI * v as f64).ln()
                        + (m as f64).powi(2) / v as f64;
                }
                (self.priors[j].max(f32::MIN_POSITIVE) as f64).ln() - 0.5 * c
            })
            .collect();
        let n = x.nrows();
        let mut q = Array2::<f32>::zeros((n, k));
        let lls: Vec<f64> = q
            .axis_chunks_iter_mut(Axis(0), CHUNK)
            .into_par_iter()
            .enumerate()
            .map(|(b, mut qb)| {
                let rows = qb.nrows();
                let xb = x.slice_axis(Axis(0), Slice::from(b * CHUNK..b * CHUNK + rows));
                let x2 = xb.mapv(|v| v * v);
                let a = x2.dot(&prec.t());
                let c = xb.dot(&mp.t());
                let mut ll = 0f64;
                for r in 0..rows {
                    let mut row: Vec<f64> = (0..k)
                        .map(|j| konst[j] - 0.5 * (a[[r, j]] as f64 - 2.0 * c[[r, j]] as f64))
                        .collect();
                    let mx = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let s: f64 = row.iter().map(|v| (v - mx).exp()).sum();
                    let lse = mx + s.ln();
                    ll += lse;
                    for (j, v) in row.iter_mut().enumerate() {
                        qb[[r, j]] = (*v - lse).exp() as f32;
                    }
                }
                ll
            })
            .collect();
        (q, lls.iter().sum())
    }

    /// Log-likelihood and the sufficient statistics Σq, Σq·x, Σq·x² (per component).
    fn statistics(&self, x: ArrayView2<f32>) -> (f64, Vec<f64>, Vec<f64>, Vec<f64>) {
        let (k, d) = self.means.dim();
        let (q, ll) = self.posteriors(x);
        let n = x.nrows();
        let blocks: Vec<(Vec<f64>, Array2<f32>, Array2<f32>)> = (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|b| {
                let r = Slice::from(b * CHUNK..((b + 1) * CHUNK).min(n));
                let qb = q.slice_axis(Axis(0), r);
                let xb = x.slice_axis(Axis(0), r);
                let s0 = (0..k)
                    .map(|j| qb.column(j).iter().map(|&v| v as f64).sum())
                    .collect();
                (s0, qb.t().dot(&xb), qb.t().dot(&xb.mapv(|v| v * v)))
            })
            .collect();
        let (mut s0, mut s1, mut s2) = (vec![0f64; k], vec![0f64; k * d], vec![0f64; k * d]);
        for (b0, b1, b2) in blocks {
            for j in 0..k {
                s0[j] += b0[j];
            }
            for (s, &v) in s1.iter_mut().zip(b1.iter()) {
                *s += v as f64;
            }
            for (s, &v) in s2.iter_mut().zip(b2.iter()) {
                *s += v as f64;
            }
        }
        (ll, s0, s1, s2)
    }
}

impl crate::persist::Model for Gmm {
    fn kind() -> String {
        "gmm".into()
    }

    /// Means and variances of one shape, one prior per component, finite values, positive
    /// variances, non-negative priors not all zero.
    fn validate_loaded(&self) -> Result<()> {
        let (k, d) = self.means.dim();
        if k == 0 || d == 0 || self.variances.dim() != (k, d) || self.priors.len() != k {
            return Err(Error::DimensionMismatch {
                what: "GMM variances and priors (one row and one prior per mean)",
                expected: k,
                found: self.priors.len(),
            });
        }
        let (Some(m), Some(v)) = (self.means.as_slice(), self.variances.as_slice()) else {
            return Err(Error::param("means", "not a standard-layout matrix"));
        };
        crate::error::check_finite(m, "GMM means")?;
        crate::error::check_finite(v, "GMM variances")?;
        crate::error::check_finite(&self.priors, "GMM priors")?;
        if v.iter().any(|&x| x <= 0.0) {
            return Err(Error::param("variances", "a GMM variance is not positive"));
        }
        if self.priors.iter().any(|&p| p < 0.0) || self.priors.iter().all(|&p| p == 0.0) {
            return Err(Error::param(
                "priors",
                "GMM priors must be non-negative, not all zero",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rng::Rng;

    /// A mixture of `k` components fitted on `x` in at most `max_iter` EM iterations.
    pub(crate) fn fit_gmm(x: &Array2<f32>, k: usize, max_iter: usize) -> Gmm {
        GmmParams {
            k,
            max_iter,
            ..Default::default()
        }
        .fit_array(x.view())
        .unwrap()
    }

    pub(crate) fn mixture_data(n: usize) -> Array2<f32> {
        let mut rng = Rng::new(4);
        let centres = [[0.0f32, 0.0, 0.0], [5.0, 5.0, 0.0], [0.0, 5.0, 5.0]];
        let sds = [0.5f32, 1.0, 0.3];
        Array2::from_shape_fn((n, 3), |(i, t)| {
            centres[i % 3][t] + sds[i % 3] * rng.normal()
        })
    }

    #[test]
    fn em_recovers_the_mixture_and_likelihood_rises() {
        let x = mixture_data(3000);
        let g = fit_gmm(&x, 3, GmmParams::default().max_iter);
        assert!(
            g.log_likelihoods
                .windows(2)
                .all(|w| w[1] >= w[0] - 1e-6 * w[0].abs())
        );
        for j in 0..3 {
            assert!((g.priors[j] - 1.0 / 3.0).abs() < 0.02, "{:?}", g.priors);
            let v = g.variances.row(j).mean().unwrap().sqrt();
            assert!(
                [0.5f32, 1.0, 0.3].iter().any(|s| (v - s).abs() < 0.08),
                "sd {v}"
            );
        }
    }

    #[test]
    fn validation_and_bad_input() {
        let x = mixture_data(30);
        let cases: [crate::pipeline::Case<GmmParams>; 5] = [
            ("k", |p| p.k = 0),
            ("tol", |p| p.tol = -1.0),
            ("variance_floor", |p| p.variance_floor = 0.0),
            ("subsample", |p| p.subsample = Some(0)),
            ("k", |p| p.k = 31),
        ];
        let base = GmmParams {
            k: 2,
            ..Default::default()
        };
        crate::pipeline::assert_rejected(&base, &cases, |p| p.fit_array(x.view()));
    }
}
