//! Boosted decision stumps: Discrete AdaBoost and Gentle AdaBoost over presorted features.
//!
//! # Overview
//! One boosting round fits the best decision stump on weighted samples by scanning each
//! feature's presorted values ([`fit_stump`], parallel over the features of a
//! [`FeatureBlock`]), then updates the sample weights ([`reweight`]). This is the weak
//! learner of the attentional cascade trainer ([`stage`](super::stage)); the stumps it produces
//! are OpenCV cascade stumps: feature `< threshold` gives the left leaf, otherwise the
//! right one.
//!
//! # Usage
//! ```
//! use classic_cv::detect::train::adaboost::{fit_stump, reweight, Boost};
//! use classic_cv::detect::train::pool::FeatureBlock;
//! // One feature, values 1..=4 on samples 0..4, labels - - + +.
//! let block = FeatureBlock { first: 0, values: vec![vec![1.0, 2.0, 3.0, 4.0]], order: vec![vec![0, 1, 2, 3]] };
//! let y = [-1.0, -1.0, 1.0, 1.0];
//! let mut w = vec![0.25; 4];
//! let fit = fit_stump(&block, &y, &w, Boost::Gentle).unwrap();
//! assert_eq!((fit.threshold, fit.left, fit.right), (2.5, -1.0, 1.0));
//! let goes_left = [true, true, false, false];
//! let leaves = reweight(Boost::Gentle, &fit, &goes_left, &y, &mut w).unwrap();
//! assert_eq!((leaves.left, leaves.right), (-1.0, 1.0));
//! ```
//!
//! # Algorithm and conventions
//! - Labels are `+1` (object) and `−1` (background); weights are `f64` and sum to 1.
//! - Split candidates lie between consecutive distinct sorted values `a < b`: the
//!   threshold is `f32((a + b) / 2)`, or `b` when that rounds down to `a`, so exactly the
//!   values `<= a` go left. Ties: the smallest loss, then the lowest feature index, then
//!   the lowest threshold.
//! - Discrete AdaBoost (Freund and Schapire; Viola and Jones): weights start at `1/N`;
//!   each round fits the stump `h(x) = ±1` (the polarity of smaller weighted error) with
//!   the smallest weighted error `eps`; `beta = (1 − eps)/eps`, the weights of the
//!   misclassified samples are multiplied by `beta` and renormalised, and the stump's
//!   leaves become `∓ alpha` with `alpha = ln beta`, so a stage sums `Σ alpha_j h_j(x)` and
//!   compares it with its threshold. `eps` is clamped to `[1e-10, 1 − 1e-10]`; a round
//!   with `eps >= 0.5` is refused.
//! - Gentle AdaBoost (Friedman, Hastie, Tibshirani; OpenCV's default): each leaf is the
//!   weighted mean label of its side, minimising the weighted squared error; weights are
//!   multiplied by `exp(−y f(x))` and renormalised.
//!
//! # Parallelism
//! [`fit_stump`] scans features in parallel (rayon) and reduces their best splits in
//! feature order, so the result never depends on the thread count.
//!
//! # References
//! Y. Freund, R. Schapire, "A decision-theoretic generalization of on-line learning",
//! 1997; P. Viola, M. Jones, CVPR 2001; J. Friedman, T. Hastie, R. Tibshirani, "Additive
//! logistic regression", Annals of Statistics 2000.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::detect::train::pool::FeatureBlock;
use crate::error::{Error, Result};

/// The boosting variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Boost {
    /// Discrete AdaBoost (±alpha leaves).
    Discrete,
    /// Gentle AdaBoost (weighted-mean leaves), OpenCV's default.
    Gentle,
}

/// The best stump of a round.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StumpFit {
    /// Pool index of the feature.
    pub feature: usize,
    /// Values `< threshold` go left.
    pub threshold: f32,
    /// Left output: ±1 (discrete polarity) or the weighted mean label (gentle).
    pub left: f32,
    /// Right output, same kind.
    pub right: f32,
    /// Weighted error (discrete) or weighted squared error (gentle).
    pub loss: f64,
}

/// The final leaves of a stump after [`reweight`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Leaves {
    /// Output of the values `< threshold`.
    pub left: f32,
    /// Output of the others.
    pub right: f32,
}

/// Weighted sums over samples: of the positives, of the negatives, of `w·y` and of `w`.
#[derive(Clone, Copy, Default)]
struct Sums {
    pos: f64,
    neg: f64,
    wy: f64,
    w: f64,
}

impl Sums {
    /// Adds sample `i` (the order of the additions fixes the rounding).
    #[inline]
    fn add(&mut self, y: &[f32], w: &[f64], i: usize) {
        let (yi, wi) = (y[i] as f64, w[i]);
        if yi > 0.0 {
            self.pos += wi;
        } else {
            self.neg += wi;
        }
        self.wy += wi * yi;
        self.w += wi;
    }
}

/// The threshold between consecutive sorted values `a < b` (see the module docs).
fn split_threshold(a: f32, b: f32) -> f32 {
    let t = ((a as f64 + b as f64) * 0.5) as f32;
    if t <= a { b } else { t }
}

/// Best split of one feature's sorted row.
fn fit_row(values: &[f32], order: &[u32], y: &[f32], w: &[f64], boost: Boost) -> Option<StumpFit> {
    let n = values.len();
    let mut all = Sums::default();
    for &i in order {
        all.add(y, w, i as usize);
    }
    let Sums {
        pos: wp,
        neg: wn,
        wy: sy,
        w: sw,
    } = all;
    let sy2 = wp + wn;
    let mut left = Sums::default();
    let mut best: Option<StumpFit> = None;
    for k in 0..n.saturating_sub(1) {
        left.add(y, w, order[k] as usize);
        let Sums {
            pos: lp,
            neg: ln,
            wy: ly,
            w: lw,
        } = left;
        if !(values[k] < values[k + 1]) {
            continue;
        }
        let cand = match boost {
            Boost::Discrete => {
                // Left predicts -1: errors are left positives and right negatives.
                let e1 = lp + (wn - ln);
                let e2 = ln + (wp - lp);
                if e1 <= e2 {
                    (e1, -1.0, 1.0)
                } else {
                    (e2, 1.0, -1.0)
                }
            }
            Boost::Gentle => {
                let rw = sw - lw;
                if !(lw > 0.0 && rw > 0.0) {
                    continue;
                }
                let ry = sy - ly;
                let loss = sy2 - (ly * ly / lw + ry * ry / rw);
                (loss, (ly / lw) as f32, (ry / rw) as f32)
            }
        };
        if best.is_none_or(|b| cand.0 < b.loss) {
            best = Some(StumpFit {
                feature: 0,
                threshold: split_threshold(values[k], values[k + 1]),
                left: cand.1,
                right: cand.2,
                loss: cand.0,
            });
        }
    }
    best
}

/// The best stump over the features of `block` for labels `y` (±1) and weights `w`;
/// `None` when no feature separates any two samples.
pub fn fit_stump(block: &FeatureBlock, y: &[f32], w: &[f64], boost: Boost) -> Option<StumpFit> {
    let fits: Vec<Option<StumpFit>> = block
        .values
        .par_iter()
        .zip(block.order.par_iter())
        .enumerate()
        .map(|(j, (v, o))| {
            fit_row(v, o, y, w, boost).map(|mut f| {
                f.feature = block.first + j;
                f
            })
        })
        .collect();
    let mut best: Option<StumpFit> = None;
    for f in fits.into_iter().flatten() {
        best = better(best, f);
    }
    best
}

/// The better of two fits: smaller loss, ties to the lower feature index.
pub fn better(a: Option<StumpFit>, b: StumpFit) -> Option<StumpFit> {
    match a {
        Some(a) if a.loss < b.loss || (a.loss == b.loss && a.feature <= b.feature) => Some(a),
        _ => Some(b),
    }
}

/// Updates the weights after choosing `fit` (`goes_left[i]`: sample `i` falls left) and
/// returns the stump's final leaves (see the module docs).
pub fn reweight(
    boost: Boost,
    fit: &StumpFit,
    goes_left: &[bool],
    y: &[f32],
    w: &mut [f64],
) -> Result<Leaves> {
    if goes_left.len() != y.len() || y.len() != w.len() {
        return Err(Error::DimensionMismatch {
            what: "boosting samples",
            expected: y.len(),
            found: goes_left.len().min(w.len()),
        });
    }
    let out = |i: usize| if goes_left[i] { fit.left } else { fit.right };
    let leaves = match boost {
        Boost::Discrete => {
            let eps: f64 = (0..y.len())
                .filter(|&i| out(i) != y[i])
                .map(|i| w[i])
                .sum::<f64>()
                .clamp(1e-10, 1.0 - 1e-10);
            if eps >= 0.5 {
                return Err(Error::param(
                    "boost",
                    format!("the best stump has weighted error {eps} >= 0.5"),
                ));
            }
            let beta = (1.0 - eps) / eps;
            for i in 0..y.len() {
                if out(i) != y[i] {
                    w[i] *= beta;
                }
            }
            let alpha = beta.ln() as f32;
            Leaves {
                left: fit.left * alpha,
                right: fit.right * alpha,
            }
        }
        Boost::Gentle => {
            for i in 0..y.len() {
                w[i] *= (-(y[i] as f64) * out(i) as f64).exp();
            }
            Leaves {
                left: fit.left,
                right: fit.right,
            }
        }
    };
    let total: f64 = w.iter().sum();
    if !(total > 0.0 && total.is_finite()) {
        return Err(Error::NonFinite {
            what: "boosting weights",
        });
    }
    for x in w.iter_mut() {
        *x /= total;
    }
    Ok(leaves)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_feature(values: &[f32]) -> FeatureBlock {
        let mut idx: Vec<u32> = (0..values.len() as u32).collect();
        idx.sort_by(|&a, &b| {
            values[a as usize]
                .total_cmp(&values[b as usize])
                .then(a.cmp(&b))
        });
        FeatureBlock {
            first: 0,
            values: vec![idx.iter().map(|&i| values[i as usize]).collect()],
            order: vec![idx],
        }
    }

    /// One Discrete AdaBoost round on one feature with `values`: the fit and its leaves.
    fn discrete_round(values: &[f32], y: &[f32], w: &mut [f64]) -> (StumpFit, Leaves) {
        let fit = fit_stump(&one_feature(values), y, w, Boost::Discrete).unwrap();
        let goes_left: Vec<bool> = values.iter().map(|&v| v < fit.threshold).collect();
        let leaves = reweight(Boost::Discrete, &fit, &goes_left, y, w).unwrap();
        (fit, leaves)
    }

    /// Hand-computed: values 1..5, labels - - + + -.
    /// Round 1: best split 2.5 (left -1), eps = 0.2, beta = 4, sample 5's weight becomes
    /// 0.8 / 1.6 = 0.5, the others 0.125. Round 2: split 4.5 with left +1, errors on samples
    /// 1 and 2: eps = 0.25, beta = 3.
    #[test]
    fn discrete_adaboost_matches_hand_computed_rounds() {
        let values = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [-1.0, -1.0, 1.0, 1.0, -1.0];
        let mut w = vec![0.2; 5];
        let (f1, l1) = discrete_round(&values, &y, &mut w);
        assert_eq!((f1.threshold, f1.left, f1.right), (2.5, -1.0, 1.0));
        assert!((f1.loss - 0.2).abs() < 1e-12);
        assert!((l1.right - 4f32.ln()).abs() < 1e-6 && (l1.left + 4f32.ln()).abs() < 1e-6);
        for (a, b) in w.iter().zip([0.125, 0.125, 0.125, 0.125, 0.5]) {
            assert!((a - b).abs() < 1e-12);
        }
        let (f2, l2) = discrete_round(&values, &y, &mut w);
        assert_eq!((f2.threshold, f2.left, f2.right), (4.5, 1.0, -1.0));
        assert!((f2.loss - 0.25).abs() < 1e-12);
        assert!((l2.left - 3f32.ln()).abs() < 1e-6);
    }

    #[test]
    fn gentle_leaves_are_weighted_means() {
        // Values 1..4, labels + - + +, uniform weights: split 1.5 gives left +1 and right
        // (-1 + 1 + 1) / 3 = 1/3, loss 1 - (0.25 + (0.25)^2 / 0.75) = 2/3; split 2.5 gives
        // 0 and 1, loss 1 - 0.5 = 0.5 (best).
        let block = one_feature(&[1.0, 2.0, 3.0, 4.0]);
        let y = [1.0, -1.0, 1.0, 1.0];
        let w = vec![0.25; 4];
        let f = fit_stump(&block, &y, &w, Boost::Gentle).unwrap();
        assert_eq!((f.threshold, f.left, f.right), (2.5, 0.0, 1.0));
        assert!((f.loss - 0.5).abs() < 1e-12);
    }

    #[test]
    fn ties_go_to_the_lowest_feature_and_adjacent_floats_split_correctly() {
        let a = 1.0f32;
        let b = f32::from_bits(a.to_bits() + 1);
        let t = split_threshold(a, b);
        assert!(a < t && t <= b);
        let mut block = one_feature(&[1.0, 2.0]);
        block.values.push(block.values[0].clone());
        block.order.push(block.order[0].clone());
        block.first = 7;
        let f = fit_stump(&block, &[-1.0, 1.0], &[0.5, 0.5], Boost::Discrete).unwrap();
        assert_eq!(f.feature, 7);
    }

    #[test]
    fn useless_stumps_are_refused() {
        let fit = StumpFit {
            feature: 0,
            threshold: 0.0,
            left: 1.0,
            right: -1.0,
            loss: 1.0,
        };
        let mut w = vec![0.5, 0.5];
        assert!(matches!(
            reweight(Boost::Discrete, &fit, &[true, false], &[-1.0, 1.0], &mut w),
            Err(Error::InvalidParam { name: "boost", .. })
        ));
        assert!(matches!(
            reweight(Boost::Discrete, &fit, &[true], &[-1.0, 1.0], &mut w),
            Err(Error::DimensionMismatch { .. })
        ));
    }
}
