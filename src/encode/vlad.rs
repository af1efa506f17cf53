//! VLAD: vectors of locally aggregated descriptors, with VLFeat's normalisations.
//!
//! # Overview
//! [`VladParams`] learns a k-means codebook from descriptors pooled across images; the
//! fitted [`Vlad`] encodes one image's [`LocalFeatures`] as the `K·D` vector of residuals
//! `v_k = Σ_{x: NN(x) = k} (x − c_k)`, cluster-major (K blocks of D values), followed by the
//! normalisations of VLFeat's `vl_vlad_encode`. [`vlad_encode`] encodes given hard
//! assignments and reproduces VLFeat's output for the same assignments and flags.
//!
//! # Usage
//! ```
//! use classic_cv::encode::encoder::LocalFeatures;
//! use classic_cv::encode::kmeans::KMeansParams;
//! use classic_cv::pipeline::{Fit, Transform};
//! use classic_cv::encode::vlad::VladParams;
//! use ndarray::array;
//! let img = LocalFeatures {
//!     descriptors: array![[0.0f32, 0.0], [0.2, 0.0], [5.0, 5.0], [5.0, 5.4]],
//!     positions: Vec::new(),
//!     width: 8,
//!     height: 8,
//! };
//! let params = VladParams { kmeans: KMeansParams { k: 2, ..Default::default() }, ..Default::default() };
//! let vlad = params.fit(&[img.clone()], &[0]).unwrap();
//! // (On its own training image a converged codebook gives residual sums of zero.)
//! let other = LocalFeatures { descriptors: array![[1.0f32, 0.0], [4.0, 5.0]], ..img };
//! let v = vlad.transform(&other).unwrap();
//! assert_eq!(v.len(), 2 * 2);
//! let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
//! assert!((norm - 1.0).abs() < 1e-6);
//! ```
//!
//! # Algorithm and conventions (VLFeat's order)
//! 1. Residual sums per cluster, accumulated in `f32` in descriptor order; then
//!    `v_k = Σx − n_k·c_k` with the product in `f64`, or, with `normalize_mass`, the mean
//!    residual `Σx / n_k − c_k`. Empty clusters stay zero.
//! 2. `square_root`: signed square root `sign(v)·sqrt(|v|)` of every component.
//! 3. `normalize_components`: each cluster block is divided by its L2 norm (clamped at 1e-12).
//! 4. Unless `unnormalized`: the whole vector is divided by its L2 norm (clamped at 1e-12).
//!
//! The default (all flags false) is VLFeat's flags = 0: residual sums then global L2. An
//! image without descriptors encodes to the zero vector.
//!
//! # Parallelism
//! Quantisation runs in parallel over blocks of descriptors (see [`crate::encode::kmeans`]); batches
//! of images are encoded in parallel over images. The encoding itself is sequential.
//!
//! # References
//! - H. Jégou, M. Douze, C. Schmid, P. Pérez, "Aggregating local descriptors into a compact
//!   image representation", CVPR 2010.
//! - R. Arandjelović, A. Zisserman, "All about VLAD", CVPR 2013 (intra-normalisation).
//! - VLFeat `vl_vlad_encode`.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::encode::encoder::LocalFeatures;
use crate::encode::kmeans::{KMeans, KMeansParams, quantize};
use crate::error::{Error, Result};
use crate::pipeline::{Fit, Label, Transform, check_fit};

/// VLFeat's VLAD normalisation flags (`VL_VLAD_FLAG_*`); all false = VLFeat's default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VladNormalization {
    /// `NORMALIZE_COMPONENTS`: L2-normalise each cluster block (intra-normalisation).
    pub normalize_components: bool,
    /// `SQUARE_ROOT`: signed square root of every component.
    pub square_root: bool,
    /// `NORMALIZE_MASS`: mean residual instead of the residual sum.
    pub normalize_mass: bool,
    /// `UNNORMALIZED`: skip the final global L2 normalisation.
    pub unnormalized: bool,
}

/// Parameters of [`Vlad`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VladParams {
    /// Codebook learning (default: k = 64, at most 100,000 pooled descriptors, 20 Lloyd
    /// iterations).
    pub kmeans: KMeansParams,
    /// Normalisations (default: VLFeat's flags = 0, global L2 only).
    pub normalization: VladNormalization,
}

impl Default for VladParams {
    fn default() -> Self {
        VladParams {
            kmeans: KMeansParams {
                k: 64,
                max_iter: 20,
                subsample: Some(100_000),
                ..Default::default()
            },
            normalization: VladNormalization::default(),
        }
    }
}

/// A fitted VLAD encoder: the codebook and the normalisations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vlad {
    /// The params it was fitted with.
    pub params: VladParams,
    /// The codebook.
    pub codebook: KMeans,
}

impl VladParams {
    /// Checks every parameter; called first by `fit`.
    pub fn validate(&self) -> Result<()> {
        self.kmeans.validate()
    }
}

impl Fit for VladParams {
    type Input = LocalFeatures;
    type Fitted = Vlad;

    /// Learns the codebook from descriptors pooled across `inputs` (labels are ignored but
    /// must match in number).
    fn fit(&self, inputs: &[LocalFeatures], labels: &[Label]) -> Result<Vlad> {
        check_fit(self.validate(), inputs, labels)?;
        Ok(Vlad {
            params: self.clone(),
            codebook: self.kmeans.fit_pooled(inputs)?,
        })
    }
}

impl Vlad {
    /// Wraps an existing codebook (e.g. loaded from a file).
    pub fn from_codebook(codebook: KMeans, normalization: VladNormalization) -> Self {
        Vlad {
            params: VladParams {
                kmeans: codebook.params.clone(),
                normalization,
            },
            codebook,
        }
    }

    /// Encoding dimension `K·D`.
    pub fn dim(&self) -> usize {
        self.codebook.k() * self.codebook.dim()
    }
}

impl Transform for Vlad {
    type Input = LocalFeatures;
    type Output = Vec<f32>;

    /// Quantises the descriptors and encodes them; no descriptors give the zero vector.
    fn transform(&self, input: &LocalFeatures) -> Result<Vec<f32>> {
        let x = input.descriptors.view();
        if x.nrows() == 0 {
            return Ok(vec![0.0; self.dim()]);
        }
        let q = quantize(x, self.codebook.centres.view())?;
        let v = vlad_encode(
            x,
            self.codebook.centres.view(),
            &q.labels,
            self.params.normalization,
        )?;
        Ok(v)
    }
}

impl crate::persist::Model for Vlad {
    fn kind() -> String {
        "vlad".into()
    }

    /// Valid params and a valid codebook (at least one finite centre).
    fn validate_loaded(&self) -> Result<()> {
        self.params.validate()?;
        self.codebook.validate_loaded()
    }
}

/// VLAD of descriptors `x` (`n x d`) with hard assignments `labels` to `centres` (`k x d`):
/// `k·d` values, cluster-major, normalised as VLFeat's `vl_vlad_encode` with the same flags.
pub fn vlad_encode(
    x: ArrayView2<f32>,
    centres: ArrayView2<f32>,
    labels: &[u32],
    normalization: VladNormalization,
) -> Result<Vec<f32>> {
    let (k, d) = centres.dim();
    if k == 0 {
        return Err(Error::EmptyInput { what: "codebook" });
    }
    if x.nrows() > 0 && x.ncols() != d {
        return Err(Error::DimensionMismatch {
            what: "descriptors vs codebook",
            expected: d,
            found: x.ncols(),
        });
    }
    if labels.len() != x.nrows() {
        return Err(Error::DimensionMismatch {
            what: "assignments vs descriptors",
            expected: x.nrows(),
            found: labels.len(),
        });
    }
    if let Some(&bad) = labels.iter().find(|&&l| l as usize >= k) {
        return Err(Error::param(
            "labels",
            format!("assignment {bad} is not below the number of centres {k}"),
        ));
    }
    crate::error::check_finite(&x.iter().copied().collect::<Vec<_>>(), "descriptors")?;
    let mut enc = vec![0f32; k * d];
    let mut mass = vec![0f64; k];
    for (row, &l) in x.rows().into_iter().zip(labels) {
        let l = l as usize;
        mass[l] += 1.0;
        for (e, &v) in enc[l * d..(l + 1) * d].iter_mut().zip(row.iter()) {
            *e += v;
        }
    }
    for j in 0..k {
        let block = &mut enc[j * d..(j + 1) * d];
        if mass[j] > 0.0 {
            for (e, &c) in block.iter_mut().zip(centres.row(j).iter()) {
                *e = if normalization.normalize_mass {
                    (*e as f64 / mass[j] - c as f64) as f32
                } else {
                    (*e as f64 - mass[j] * c as f64) as f32
                };
            }
        }
        if normalization.square_root {
            for e in block.iter_mut() {
                *e = if *e >= 0.0 { e.sqrt() } else { -(-*e).sqrt() };
            }
        }
        if normalization.normalize_components {
            scale_to_unit(block);
        }
    }
    if !normalization.unnormalized {
        scale_to_unit(&mut enc);
    }
    crate::error::check_finite(&enc, "VLAD encoding (descriptors too large: rescale them)")?;
    Ok(enc)
}

/// Divides by the L2 norm (accumulated in `f32`, clamped at 1e-12), as VLFeat does; where
/// the `f32` sum of squares overflows, the norm is accumulated in `f64` instead (VLFeat
/// would divide by infinity and return zeros).
pub(crate) fn scale_to_unit(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    if n.is_infinite() {
        let n64 = v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
        for x in v.iter_mut() {
            *x = (*x as f64 / n64) as f32;
        }
        return;
    }
    for x in v.iter_mut() {
        *x /= n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// The textbook VLAD: residuals to the assigned centre, in `f64`.
    fn reference(x: &[[f64; 2]], c: &[[f64; 2]], labels: &[usize]) -> Vec<f64> {
        let mut v = vec![0.0; c.len() * 2];
        for (p, &l) in x.iter().zip(labels) {
            for t in 0..2 {
                v[l * 2 + t] += p[t] - c[l][t];
            }
        }
        v
    }

    #[test]
    fn unnormalized_equals_residual_sums() {
        let x = array![[1.0f32, 2.0], [3.0, 1.0], [-1.0, 0.5], [0.0, 0.0]];
        let c = array![[1.0f32, 1.0], [0.0, 0.0], [9.0, 9.0]];
        let labels = [0u32, 0, 1, 1];
        let norm = VladNormalization {
            unnormalized: true,
            ..Default::default()
        };
        let v = vlad_encode(x.view(), c.view(), &labels, norm).unwrap();
        let r = reference(
            &[[1.0, 2.0], [3.0, 1.0], [-1.0, 0.5], [0.0, 0.0]],
            &[[1.0, 1.0], [0.0, 0.0], [9.0, 9.0]],
            &[0, 0, 1, 1],
        );
        for (a, b) in v.iter().zip(&r) {
            assert!((*a as f64 - b).abs() < 1e-6);
        }
        // Mass normalisation: the mean residual per cluster.
        let mean = VladNormalization {
            unnormalized: true,
            normalize_mass: true,
            ..Default::default()
        };
        let m = vlad_encode(x.view(), c.view(), &labels, mean).unwrap();
        assert_eq!(m, vec![1.0, 0.5, -0.5, 0.25, 0.0, 0.0]);
    }

    #[test]
    fn order_is_sqrt_then_components_then_global() {
        let x = array![[4.0f32, 0.0], [0.0, 9.0]];
        let c = array![[0.0f32, 0.0], [0.0, 0.0]];
        let all = VladNormalization {
            square_root: true,
            normalize_components: true,
            ..Default::default()
        };
        let v = vlad_encode(x.view(), c.view(), &[0, 1], all).unwrap();
        // sqrt: [2, 0 | 0, 3]; per block: [1, 0 | 0, 1]; global: / sqrt(2).
        let s = std::f32::consts::FRAC_1_SQRT_2;
        assert_eq!(v, vec![s, 0.0, 0.0, s]);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let x = array![[1.0f32, 2.0]];
        let c = array![[1.0f32, 1.0, 1.0]];
        let n = VladNormalization::default();
        assert!(matches!(
            vlad_encode(x.view(), c.view(), &[0], n),
            Err(Error::DimensionMismatch { .. })
        ));
        let c = array![[1.0f32, 1.0]];
        assert!(matches!(
            vlad_encode(x.view(), c.view(), &[1], n),
            Err(Error::InvalidParam { name: "labels", .. })
        ));
        assert!(matches!(
            vlad_encode(x.view(), c.view(), &[], n),
            Err(Error::DimensionMismatch { .. })
        ));
        let nan = array![[f32::NAN, 2.0]];
        assert!(matches!(
            vlad_encode(nan.view(), c.view(), &[0], n),
            Err(Error::NonFinite { .. })
        ));
    }

    /// Residual sums past f32::MAX are an error; a norm whose f32 sum of squares overflows
    /// is taken in f64 (VLFeat's f32 sum would give all zeros).
    #[test]
    fn overflow_is_an_error_and_large_norms_are_exact() {
        let c = array![[0.0f32, 0.0], [1.0, 1.0]];
        let x = array![[2e38f32, 0.0], [2e38, 0.0]];
        for n in [
            VladNormalization::default(),
            VladNormalization {
                unnormalized: true,
                ..Default::default()
            },
        ] {
            assert!(matches!(
                vlad_encode(x.view(), c.view(), &[0, 0], n),
                Err(Error::NonFinite { .. })
            ));
        }
        let x = array![[1e20f32, 1e20]];
        let v = vlad_encode(x.view(), c.view(), &[0], VladNormalization::default()).unwrap();
        let s = std::f32::consts::FRAC_1_SQRT_2;
        assert_eq!(v, vec![s, s, 0.0, 0.0]);
        // Through the fitted encoder the assignment itself would overflow: refused.
        let vlad = Vlad::from_codebook(
            crate::encode::kmeans::KMeansParams {
                k: 2,
                init: crate::encode::kmeans::KMeansInit::Given(c.clone()),
                max_iter: 0,
                ..Default::default()
            }
            .fit_array(c.view())
            .unwrap(),
            VladNormalization::default(),
        );
        let f = LocalFeatures {
            descriptors: array![[3e38f32, 3e38]],
            positions: vec![[0.0, 0.0]],
            width: 1,
            height: 1,
        };
        let e = vlad.transform(&f).unwrap_err().to_string();
        assert!(e.contains("too large"), "{e}");
    }
}
