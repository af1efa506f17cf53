//! Bag of visual words: codeword histograms with an optional spatial pyramid.
//!
//! # Overview
//! [`BovwParams`] learns a k-means codebook from descriptors pooled across images; the
//! fitted [`Bovw`] encodes one image's [`LocalFeatures`] as a histogram of codeword
//! assignments, optionally one histogram per cell of a spatial pyramid (Lazebnik et al.
//! 2006), normalised so that it does not depend on the number of patches.
//!
//! # Usage
//! ```
//! use classic_cv::encode::bovw::{BovwNorm, BovwParams};
//! use classic_cv::encode::encoder::LocalFeatures;
//! use classic_cv::encode::kmeans::KMeansParams;
//! use classic_cv::pipeline::{Fit, Transform};
//! use ndarray::array;
//! let img = LocalFeatures {
//!     descriptors: array![[0.0f32, 0.0], [0.1, 0.0], [5.0, 5.0]],
//!     positions: vec![[1.0, 1.0], [7.0, 1.0], [7.0, 7.0]],
//!     width: 8,
//!     height: 8,
//! };
//! let params = BovwParams {
//!     kmeans: KMeansParams { k: 2, ..Default::default() },
//!     pyramid: vec![1, 2],
//!     norm: BovwNorm::L1,
//!     ..Default::default()
//! };
//! let bovw = params.fit(&[img.clone()], &[0]).unwrap();
//! let h = bovw.transform(&img).unwrap();
//! assert_eq!(h.len(), 2 * (1 + 4));
//! assert!((h.iter().sum::<f32>() - 1.0).abs() < 1e-6);
//! ```
//!
//! # Algorithm and conventions
//! - **Hard assignment**: each descriptor adds 1 to the bin of its nearest codeword.
//! - **Soft assignment** (kernel codebook, van Gemert et al. 2010): each descriptor spreads a
//!   unit mass over its `n_nearest` codewords with weights `∝ exp(−d²/(2σ²))` (`d²` the
//!   squared distance); ties in distance go to the lower index.
//! - **Spatial pyramid**: for each level `g` of `pyramid` the image is cut into `g x g`
//!   cells; a keypoint at `(x, y)` falls in cell `(⌊x·g/W⌋, ⌊y·g/H⌋)`, clamped to the grid.
//!   The output is level-major (in the order given), then cell row-major (`cy·g + cx`),
//!   then codeword: length `K · Σ g²`. Levels are not weighted.
//! - **Normalisation** over the whole vector: `L1` (sum 1) or `SqrtL2` (square root of each
//!   bin, then unit L2 norm, i.e. the Hellinger map of the L1-normalised histogram).
//! - An image without descriptors encodes to the zero vector.
//!
//! # Parallelism
//! Quantisation runs in parallel over blocks of descriptors (see [`crate::encode::kmeans`]); batches
//! of images are encoded in parallel over images.
//!
//! # References
//! - G. Csurka et al., "Visual categorization with bags of keypoints", ECCV workshop 2004.
//! - S. Lazebnik, C. Schmid, J. Ponce, "Beyond bags of features: spatial pyramid matching",
//!   CVPR 2006.
//! - J. van Gemert et al., "Visual word ambiguity", PAMI 2010.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::encode::encoder::LocalFeatures;
use crate::encode::kmeans::{KMeans, KMeansParams, quantize};
use crate::error::{Error, Result};
use crate::pipeline::{Fit, Label, Transform, check_fit};

/// Most levels of a spatial pyramid.
pub const MAX_PYRAMID_LEVELS: usize = 8;

/// How descriptors vote for codewords.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum BovwAssignment {
    /// One vote for the nearest codeword.
    Hard,
    /// Kernel codebook: Gaussian weights over the `n_nearest` codewords.
    Soft {
        /// Gaussian width in descriptor units (distance, not squared).
        sigma: f32,
        /// Number of nearest codewords sharing the vote.
        n_nearest: usize,
    },
}

/// Histogram normalisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BovwNorm {
    /// Raw counts.
    None,
    /// Divide by the sum.
    L1,
    /// Square root of each bin, then unit L2 norm.
    SqrtL2,
}

/// Parameters of [`Bovw`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BovwParams {
    /// Codebook learning (default: k = 256, at most 100,000 pooled descriptors, 20 Lloyd
    /// iterations).
    pub kmeans: KMeansParams,
    /// Voting scheme (default hard).
    pub assignment: BovwAssignment,
    /// Pyramid levels as grid sizes (default `[1]`: no pyramid; Lazebnik's is `[1, 2, 4]`).
    pub pyramid: Vec<u32>,
    /// Normalisation (default square root + L2).
    pub norm: BovwNorm,
}

impl Default for BovwParams {
    fn default() -> Self {
        BovwParams {
            kmeans: KMeansParams {
                k: 256,
                max_iter: 20,
                subsample: Some(100_000),
                ..Default::default()
            },
            assignment: BovwAssignment::Hard,
            pyramid: vec![1],
            norm: BovwNorm::SqrtL2,
        }
    }
}

/// A fitted bag-of-words encoder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bovw {
    /// The params it was fitted with.
    pub params: BovwParams,
    /// The codebook.
    pub codebook: KMeans,
}

impl BovwParams {
    /// Checks every parameter; called first by `fit`.
    pub fn validate(&self) -> Result<()> {
        self.kmeans.validate()?;
        if self.pyramid.is_empty() {
            return Err(Error::param("pyramid", "needs at least one level"));
        }
        if self.pyramid.iter().any(|&g| g == 0 || g > 64) {
            return Err(Error::param("pyramid", "grid sizes must be in 1..=64"));
        }
        if self.pyramid.len() > MAX_PYRAMID_LEVELS {
            return Err(Error::param(
                "pyramid",
                format!("at most {MAX_PYRAMID_LEVELS} levels"),
            ));
        }
        if let BovwAssignment::Soft { sigma, n_nearest } = self.assignment {
            if !(sigma > 0.0) || !sigma.is_finite() {
                return Err(Error::param(
                    "assignment",
                    "soft sigma must be finite and > 0",
                ));
            }
            if n_nearest == 0 {
                return Err(Error::param("assignment", "soft n_nearest must be >= 1"));
            }
        }
        Ok(())
    }
}

impl Fit for BovwParams {
    type Input = LocalFeatures;
    type Fitted = Bovw;

    /// Learns the codebook from descriptors pooled across `inputs` (labels are ignored but
    /// must match in number).
    fn fit(&self, inputs: &[LocalFeatures], labels: &[Label]) -> Result<Bovw> {
        check_fit(self.validate(), inputs, labels)?;
        Ok(Bovw {
            params: self.clone(),
            codebook: self.kmeans.fit_pooled(inputs)?,
        })
    }
}

impl Bovw {
    /// Wraps an existing codebook with the encoding options of `params` (its `kmeans` field
    /// is replaced by the codebook's own params).
    pub fn from_codebook(codebook: KMeans, params: BovwParams) -> Result<Self> {
        params.validate()?;
        Ok(Bovw {
            params: BovwParams {
                kmeans: codebook.params.clone(),
                ..params
            },
            codebook,
        })
    }

    /// Encoding dimension `K · Σ g²`.
    pub fn dim(&self) -> usize {
        let cells: usize = self.params.pyramid.iter().map(|&g| (g * g) as usize).sum();
        self.codebook.k() * cells
    }

    /// Encodes descriptors whose codewords are already known (hard assignment only).
    pub fn encode_labels(&self, labels: &[u32], input: &LocalFeatures) -> Result<Vec<f32>> {
        let k = self.codebook.k();
        if let Some(&bad) = labels.iter().find(|&&l| l as usize >= k) {
            return Err(Error::param(
                "labels",
                format!("assignment {bad} is not below the number of centres {k}"),
            ));
        }
        let votes: Vec<[(u32, f32); 1]> = labels.iter().map(|&l| [(l, 1.0)]).collect();
        self.accumulate(votes.iter().map(|v| &v[..]), input)
    }

    fn accumulate<'a>(
        &self,
        votes: impl ExactSizeIterator<Item = &'a [(u32, f32)]>,
        input: &LocalFeatures,
    ) -> Result<Vec<f32>> {
        let k = self.codebook.k();
        let n = votes.len();
        let needs_positions = self.params.pyramid.iter().any(|&g| g > 1);
        if needs_positions && n > 0 {
            if input.positions.len() != n {
                return Err(Error::DimensionMismatch {
                    what: "keypoint positions vs descriptors",
                    expected: n,
                    found: input.positions.len(),
                });
            }
            if input.width == 0 || input.height == 0 {
                return Err(Error::ImageTooSmall {
                    width: input.width as usize,
                    height: input.height as usize,
                    min_width: 1,
                    min_height: 1,
                });
            }
            if input.positions.iter().flatten().any(|v| !v.is_finite()) {
                return Err(Error::NonFinite {
                    what: "keypoint positions",
                });
            }
        }
        let mut hist = vec![0f32; self.dim()];
        let (w, h) = (input.width as f32, input.height as f32);
        for (i, vote) in votes.enumerate() {
            let mut base = 0;
            for &g in &self.params.pyramid {
                let cell = if g == 1 {
                    0
                } else {
                    let [x, y] = input.positions[i];
                    let cx = ((x * g as f32 / w).floor().max(0.0) as u32).min(g - 1);
                    let cy = ((y * g as f32 / h).floor().max(0.0) as u32).min(g - 1);
                    (cy * g + cx) as usize
                };
                let off = base + cell * k;
                for &(j, wgt) in vote {
                    hist[off + j as usize] += wgt;
                }
                base += (g * g) as usize * k;
            }
        }
        normalize(&mut hist, self.params.norm);
        crate::error::check_finite(&hist, "BoVW encoding")?;
        Ok(hist)
    }
}

impl Transform for Bovw {
    type Input = LocalFeatures;
    type Output = Vec<f32>;

    /// Quantises the descriptors and builds the (pyramid) histogram; no descriptors give the
    /// zero vector.
    fn transform(&self, input: &LocalFeatures) -> Result<Vec<f32>> {
        let x = input.descriptors.view();
        if x.nrows() == 0 {
            return Ok(vec![0.0; self.dim()]);
        }
        let centres = self.codebook.centres.view();
        match self.params.assignment {
            BovwAssignment::Hard => {
                let q = quantize(x, centres)?;
                self.encode_labels(&q.labels, input)
            }
            BovwAssignment::Soft { sigma, n_nearest } => {
                let votes = soft_votes(x, centres, sigma, n_nearest)?;
                self.accumulate(votes.iter().map(|v| &v[..]), input)
            }
        }
    }
}

impl crate::persist::Model for Bovw {
    fn kind() -> String {
        "bovw".into()
    }

    /// Valid params, a valid codebook, and an encoding of at most
    /// [`crate::limits::MAX_ENCODING_DIM`] values.
    fn validate_loaded(&self) -> Result<()> {
        self.params.validate()?;
        self.codebook.validate_loaded()?;
        let dim = self.dim();
        if dim > crate::limits::MAX_ENCODING_DIM {
            return Err(Error::param(
                "pyramid",
                format!(
                    "a codebook of {} words over this pyramid encodes {dim} values, more than {}",
                    self.codebook.k(),
                    crate::limits::MAX_ENCODING_DIM
                ),
            ));
        }
        Ok(())
    }
}

/// Kernel-codebook votes: for each row of `x`, its `n_nearest` codewords with Gaussian
/// weights summing to 1.
pub fn soft_votes(
    x: ArrayView2<f32>,
    centres: ArrayView2<f32>,
    sigma: f32,
    n_nearest: usize,
) -> Result<Vec<Vec<(u32, f32)>>> {
    if x.ncols() != centres.ncols() {
        return Err(Error::DimensionMismatch {
            what: "descriptors vs codebook",
            expected: centres.ncols(),
            found: x.ncols(),
        });
    }
    let xs: Vec<f32> = x.iter().copied().collect();
    crate::error::check_finite(&xs, "descriptors")?;
    // Squared distances that overflow would make the weights NaN.
    crate::encode::kmeans::check_magnitude(&xs, x.ncols())?;
    crate::encode::kmeans::check_magnitude(
        &centres.iter().copied().collect::<Vec<_>>(),
        x.ncols(),
    )?;
    let k = centres.nrows();
    let m = n_nearest.min(k);
    let g = x.dot(&centres.t());
    let cn: Vec<f32> = centres.rows().into_iter().map(|r| r.dot(&r)).collect();
    let inv = 1.0 / (2.0 * sigma as f64 * sigma as f64);
    Ok(x.rows()
        .into_iter()
        .zip(g.rows())
        .map(|(r, gr)| {
            let xn = r.dot(&r);
            let mut d: Vec<(f32, u32)> = gr
                .iter()
                .zip(&cn)
                .enumerate()
                .map(|(j, (&gj, &nj))| ((xn + nj - 2.0 * gj).max(0.0), j as u32))
                .collect();
            let cmp = |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
            if m < k {
                d.select_nth_unstable_by(m - 1, cmp);
                d.truncate(m);
            }
            d.sort_by(cmp);
            let d0 = d[0].0 as f64;
            let w: Vec<f64> = d
                .iter()
                .map(|&(v, _)| (-(v as f64 - d0) * inv).exp())
                .collect();
            let total: f64 = w.iter().sum();
            d.iter()
                .zip(&w)
                .map(|(&(_, j), &wi)| (j, (wi / total) as f32))
                .collect()
        })
        .collect())
}

/// Normalises a histogram in place; a zero histogram stays zero.
pub fn normalize(hist: &mut [f32], norm: BovwNorm) {
    match norm {
        BovwNorm::None => {}
        BovwNorm::L1 => {
            let s: f64 = hist.iter().map(|&v| v as f64).sum();
            if s > 0.0 {
                for v in hist.iter_mut() {
                    *v = (*v as f64 / s) as f32;
                }
            }
        }
        BovwNorm::SqrtL2 => {
            for v in hist.iter_mut() {
                *v = v.sqrt();
            }
            let s: f64 = hist
                .iter()
                .map(|&v| v as f64 * v as f64)
                .sum::<f64>()
                .sqrt();
            if s > 0.0 {
                for v in hist.iter_mut() {
                    *v = (*v as f64 / s) as f32;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::kmeans::KMeansInit;
    use ndarray::{Array2, array};

    fn codebook(c: Array2<f32>) -> KMeans {
        let k = c.nrows();
        KMeansParams {
            k,
            init: KMeansInit::Given(c.clone()),
            max_iter: 0,
            ..Default::default()
        }
        .fit_array(c.view())
        .unwrap()
    }

    fn bovw(pyramid: Vec<u32>, norm: BovwNorm, assignment: BovwAssignment) -> Bovw {
        let c = array![[0.0f32, 0.0], [10.0, 0.0], [0.0, 10.0]];
        Bovw::from_codebook(
            codebook(c),
            BovwParams {
                pyramid,
                norm,
                assignment,
                ..Default::default()
            },
        )
        .unwrap()
    }

    fn image() -> LocalFeatures {
        LocalFeatures {
            descriptors: array![[0.5f32, 0.0], [9.0, 1.0], [1.0, 9.0], [0.0, 1.0]],
            positions: vec![[1.0, 1.0], [90.0, 10.0], [10.0, 99.9], [99.0, 99.0]],
            width: 100,
            height: 100,
        }
    }

    #[test]
    fn hard_pyramid_by_hand() {
        let b = bovw(vec![1, 2], BovwNorm::None, BovwAssignment::Hard);
        let h = b.transform(&image()).unwrap();
        let mut expected = vec![0f32; 3 * 5];
        // Level 1: words 0, 1, 2, 0.
        expected[0] = 2.0;
        expected[1] = 1.0;
        expected[2] = 1.0;
        // Level 2 (base 3): cell 0 word 0; cell 1 word 1; cell 2 word 2; cell 3 word 0.
        expected[3] = 1.0;
        expected[3 + 3 + 1] = 1.0;
        expected[3 + 6 + 2] = 1.0;
        expected[3 + 9] = 1.0;
        assert_eq!(h, expected);
    }

    #[test]
    fn normalisations() {
        let l1 = bovw(vec![1], BovwNorm::L1, BovwAssignment::Hard)
            .transform(&image())
            .unwrap();
        assert_eq!(l1, vec![0.5, 0.25, 0.25]);
        let s = bovw(vec![1], BovwNorm::SqrtL2, BovwAssignment::Hard)
            .transform(&image())
            .unwrap();
        let expect = [0.5f32.sqrt(), 0.5, 0.5];
        for (a, b) in s.iter().zip(expect) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn soft_weights_follow_the_gaussian() {
        let b = bovw(
            vec![1],
            BovwNorm::None,
            BovwAssignment::Soft {
                sigma: 5.0,
                n_nearest: 2,
            },
        );
        let one = LocalFeatures {
            descriptors: array![[5.0f32, 0.0]],
            positions: vec![],
            width: 1,
            height: 1,
        };
        let h = b.transform(&one).unwrap();
        // Equidistant from words 0 and 1 (d² = 25); word 2 is not among the 2 nearest.
        assert!((h[0] - 0.5).abs() < 1e-6 && (h[1] - 0.5).abs() < 1e-6 && h[2] == 0.0);
        let near = LocalFeatures {
            descriptors: array![[2.0f32, 0.0]],
            ..one
        };
        let h = b.transform(&near).unwrap();
        // d² = 4 and 64: weights ∝ exp(-4/50), exp(-64/50).
        let (a, c) = ((-4.0f64 / 50.0).exp(), (-64.0f64 / 50.0).exp());
        assert!((h[0] as f64 - a / (a + c)).abs() < 1e-6);
    }

    #[test]
    fn empty_image_is_a_zero_vector() {
        for norm in [BovwNorm::None, BovwNorm::L1, BovwNorm::SqrtL2] {
            let b = bovw(vec![1, 2, 4], norm, BovwAssignment::Hard);
            let empty = LocalFeatures {
                descriptors: Array2::zeros((0, 2)),
                positions: vec![],
                width: 0,
                height: 0,
            };
            let h = b.transform(&empty).unwrap();
            assert_eq!(h, vec![0.0; 3 * 21]);
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        let b = bovw(vec![1, 2], BovwNorm::L1, BovwAssignment::Hard);
        let mut img = image();
        img.positions.pop();
        assert!(matches!(
            b.transform(&img),
            Err(Error::DimensionMismatch { .. })
        ));
        let mut img = image();
        img.descriptors = Array2::zeros((4, 3));
        assert!(matches!(
            b.transform(&img),
            Err(Error::DimensionMismatch { .. })
        ));
        let mut img = image();
        img.descriptors[[1, 1]] = f32::NAN;
        assert!(matches!(b.transform(&img), Err(Error::NonFinite { .. })));
        let mut img = image();
        img.positions[0][0] = f32::INFINITY;
        assert!(matches!(b.transform(&img), Err(Error::NonFinite { .. })));
    }

    #[test]
    fn validation_rules() {
        fn soft(sigma: f32, n_nearest: usize) -> BovwAssignment {
            BovwAssignment::Soft { sigma, n_nearest }
        }
        let cases: [crate::pipeline::Case<BovwParams>; 4] = [
            ("pyramid", |p| p.pyramid = vec![]),
            ("pyramid", |p| p.pyramid = vec![1, 0]),
            ("assignment", |p| p.assignment = soft(0.0, 3)),
            ("assignment", |p| p.assignment = soft(1.0, 0)),
        ];
        crate::pipeline::assert_rejected(&BovwParams::default(), &cases, |p| p.validate());
        assert!(BovwParams::default().validate().is_ok());
    }

    /// Descriptors whose squared distances to the codewords overflow f32 are refused, for
    /// hard and soft assignment alike (the nearest codeword would be arbitrary).
    #[test]
    fn overflowing_distances_are_errors() {
        let f = LocalFeatures {
            descriptors: array![[3e38f32, -3e38], [1.0, 1.0]],
            positions: vec![[0.0, 0.0], [1.0, 1.0]],
            width: 4,
            height: 4,
        };
        let soft = BovwAssignment::Soft {
            sigma: 1.0,
            n_nearest: 2,
        };
        for a in [BovwAssignment::Hard, soft] {
            let e = bovw(vec![1], BovwNorm::SqrtL2, a)
                .transform(&f)
                .unwrap_err()
                .to_string();
            assert!(e.contains("too large"), "{e}");
        }
    }
}
