//! Fisher vectors on a diagonal Gaussian mixture (VLFeat's `vl_fisher_encode` layout).
//!
//! # Overview
//! [`GmmParams`] fits a Gaussian mixture with diagonal covariances by EM, started from
//! k-means ([`crate::encode::gmm`]). [`FisherParams`] learns such a mixture from descriptors pooled across images;
//! the fitted [`Fisher`] encodes one image's [`LocalFeatures`] as the `2·K·D` Fisher vector
//! (gradients with respect to the means, then to the standard deviations), optionally with
//! the "improved" normalisation of Perronnin et al. 2010 (signed square root, then L2).
//!
//! # Usage
//! ```
//! use classic_cv::encode::fisher::FisherParams;
//! use classic_cv::encode::gmm::GmmParams;
//! use classic_cv::encode::encoder::LocalFeatures;
//! use classic_cv::pipeline::{Fit, Transform};
//! use ndarray::array;
//! let img = LocalFeatures {
//!     descriptors: array![[0.0f32, 0.1], [0.2, 0.0], [5.0, 5.0], [5.1, 5.4], [4.8, 5.2]],
//!     positions: Vec::new(),
//!     width: 8,
//!     height: 8,
//! };
//! let params = FisherParams { gmm: GmmParams { k: 2, ..Default::default() }, ..Default::default() };
//! let fv = params.fit(&[img.clone()], &[0]).unwrap();
//! let v = fv.transform(&img).unwrap();
//! assert_eq!(v.len(), 2 * 2 * 2);
//! ```
//!
//! # Algorithm and conventions
//! - **Mixture**: a diagonal GMM fitted by EM from k-means ([`crate::encode::gmm`]).
//! - **Encoding** (VLFeat's convention, checked against libvl): with posteriors `q_ik`
//!   (those below 1e-6 dropped), `u_k = Σ_i q_ik (x_i − μ_k)/σ_k / (N √π_k)` and
//!   `v_k = Σ_i q_ik [((x_i − μ_k)/σ_k)² − 1] / (N √(2π_k))`; the output is all `u_k`
//!   (K blocks of D) followed by all `v_k`. `improved`: signed square root, then unit L2
//!   norm. An image without descriptors encodes to the zero vector.
//!
//! # References
//! - F. Perronnin, J. Sánchez, T. Mensink, "Improving the Fisher kernel for large-scale image
//!   classification", ECCV 2010.
//! - VLFeat `vl_gmm`, `vl_fisher_encode`.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::encode::encoder::LocalFeatures;
use crate::encode::gmm::{Gmm, GmmParams};
use crate::encode::kmeans::pool_descriptors;
use crate::error::{Error, Result, check_finite};
use crate::pipeline::{Fit, Label, Transform, check_fit};

/// Parameters of [`Fisher`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FisherParams {
    /// Mixture learning.
    pub gmm: GmmParams,
    /// Signed square root then L2 normalisation (default true).
    pub improved: bool,
}

impl Default for FisherParams {
    fn default() -> Self {
        FisherParams {
            gmm: GmmParams::default(),
            improved: true,
        }
    }
}

/// A fitted Fisher-vector encoder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fisher {
    /// The params it was fitted with.
    pub params: FisherParams,
    /// The mixture.
    pub gmm: Gmm,
}

impl FisherParams {
    /// Checks every parameter; called first by `fit`.
    pub fn validate(&self) -> Result<()> {
        self.gmm.validate()
    }
}

impl Fit for FisherParams {
    type Input = LocalFeatures;
    type Fitted = Fisher;

    /// Learns the mixture from descriptors pooled across `inputs` (labels are ignored but
    /// must match in number).
    fn fit(&self, inputs: &[LocalFeatures], labels: &[Label]) -> Result<Fisher> {
        check_fit(self.validate(), inputs, labels)?;
        let x = pool_descriptors(inputs, self.gmm.subsample, self.gmm.seed)?;
        let gmm = GmmParams {
            subsample: None,
            ..self.gmm.clone()
        }
        .fit_array(x.view())?;
        Ok(Fisher {
            params: self.clone(),
            gmm: Gmm {
                params: self.gmm.clone(),
                ..gmm
            },
        })
    }
}

impl Transform for Fisher {
    type Input = LocalFeatures;
    type Output = Vec<f32>;

    /// The Fisher vector of the descriptors; no descriptors give the zero vector.
    fn transform(&self, input: &LocalFeatures) -> Result<Vec<f32>> {
        fisher_encode(input.descriptors.view(), &self.gmm, self.params.improved)
    }
}

impl crate::persist::Model for Fisher {
    fn kind() -> String {
        "fisher".into()
    }

    /// Valid params and a valid mixture (one shape for means and variances, one prior per
    /// component, finite values, positive variances).
    fn validate_loaded(&self) -> Result<()> {
        self.params.validate()?;
        self.gmm.validate_loaded()
    }
}

/// The `2·K·D` Fisher vector of the rows of `x` under `gmm` (VLFeat's layout: all mean
/// gradients, then all standard-deviation gradients).
pub fn fisher_encode(x: ArrayView2<f32>, gmm: &Gmm, improved: bool) -> Result<Vec<f32>> {
    let (k, d) = gmm.means.dim();
    let n = x.nrows();
    if n == 0 {
        return Ok(vec![0.0; 2 * k * d]);
    }
    if x.ncols() != d {
        return Err(Error::DimensionMismatch {
            what: "descriptors vs mixture",
            expected: d,
            found: x.ncols(),
        });
    }
    let x = x.as_standard_layout();
    check_finite(x.as_slice().expect("standard layout"), "descriptors")?;
    let (q, _) = gmm.posteriors(x.view());
    let mut enc = vec![0f64; 2 * k * d];
    for j in 0..k {
        let sd: Vec<f64> = gmm
            .variances
            .row(j)
            .iter()
            .map(|&v| (v as f64).sqrt())
            .collect();
        let mu = gmm.means.row(j);
        let (u, v) = enc.split_at_mut(k * d);
        let (u, v) = (&mut u[j * d..(j + 1) * d], &mut v[j * d..(j + 1) * d]);
        for (row, &p) in x.rows().into_iter().zip(q.column(j).iter()) {
            if p < 1e-6 {
                continue;
            }
            for t in 0..d {
                let z = (row[t] as f64 - mu[t] as f64) / sd[t];
                u[t] += p as f64 * z;
                v[t] += p as f64 * (z * z - 1.0);
            }
        }
        let pr = gmm.priors[j] as f64;
        if pr <= 0.0 {
            // A component of prior 0 takes no posterior mass: its gradients stay 0.
            u.fill(0.0);
            v.fill(0.0);
            continue;
        }
        let (su, sv) = (
            1.0 / (n as f64 * pr.sqrt()),
            1.0 / (n as f64 * (2.0 * pr).sqrt()),
        );
        u.iter_mut().for_each(|e| *e *= su);
        v.iter_mut().for_each(|e| *e *= sv);
    }
    // Overflow (descriptors far from every component) is an error, never a result.
    if enc.iter().any(|e| !(e.abs() <= f32::MAX as f64)) {
        return Err(Error::NonFinite {
            what: "Fisher encoding (descriptors too far from the mixture: rescale them)",
        });
    }
    let mut out: Vec<f32> = enc.into_iter().map(|e| e as f32).collect();
    if improved {
        for e in out.iter_mut() {
            *e = e.signum() * e.abs().sqrt();
        }
        crate::encode::vlad::scale_to_unit(&mut out);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::gmm::tests::{fit_gmm, mixture_data};
    use ndarray::Array2;

    #[test]
    fn encoding_matches_a_textbook_loop() {
        let x = mixture_data(300);
        let g = fit_gmm(&x, 3, 5);
        let fv = fisher_encode(x.view(), &g, false).unwrap();
        // Textbook: posteriors from the densities directly.
        let (k, d) = (3, 3);
        let mut u = vec![0f64; k * d];
        for row in x.rows() {
            let dens: Vec<f64> = (0..k)
                .map(|j| {
                    let mut lp = (g.priors[j] as f64).ln();
                    for t in 0..d {
                        let v = g.variances[[j, t]] as f64;
                        lp -= 0.5
                            * ((2.0 * std::f64::consts::PI * v).ln()
                                + (row[t] as f64 - g.means[[j, t]] as f64).powi(2) / v);
                    }
                    lp.exp()
                })
                .collect();
            let s: f64 = dens.iter().sum();
            for j in 0..k {
                let p = dens[j] / s;
                if p < 1e-6 {
                    continue;
                }
                for t in 0..d {
                    u[j * d + t] += p * (row[t] as f64 - g.means[[j, t]] as f64)
                        / (g.variances[[j, t]] as f64).sqrt();
                }
            }
        }
        for j in 0..k {
            for t in 0..d {
                let e = u[j * d + t] / (300.0 * (g.priors[j] as f64).sqrt());
                assert!((fv[j * d + t] as f64 - e).abs() < 1e-4, "{j} {t}");
            }
        }
    }

    #[test]
    fn encoding_rejects_bad_input() {
        let x = mixture_data(30);
        let g = fit_gmm(&x, 2, 3);
        assert_eq!(
            fisher_encode(Array2::zeros((0, 3)).view(), &g, true).unwrap(),
            vec![0.0; 12]
        );
        assert!(matches!(
            fisher_encode(Array2::zeros((2, 4)).view(), &g, true),
            Err(Error::DimensionMismatch { .. })
        ));
        let mut nan = x.clone();
        nan[[0, 0]] = f32::NAN;
        assert!(matches!(
            fisher_encode(nan.view(), &g, true),
            Err(Error::NonFinite { .. })
        ));
    }

    /// Descriptors far from every component overflow the gradients: an error, not the zero
    /// vector the overflow used to be replaced with.
    #[test]
    fn overflow_is_an_error() {
        let g = fit_gmm(&mixture_data(300), 3, 5);
        let far = ndarray::array![[3e38f32, -3e38, 3e38], [0.0, 0.0, 0.0]];
        for improved in [false, true] {
            assert!(matches!(
                fisher_encode(far.view(), &g, improved),
                Err(Error::NonFinite { .. })
            ));
        }
    }
}
