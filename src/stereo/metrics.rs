//! Disparity maps against ground truth, as the Middlebury benchmark and OpenCV's stereo
//! samples count them. Ground-truth pixels that are 0, NaN or infinite are unknown and
//! ignored. Over the known pixels:
//! - `badN`: fraction with `|d - gt| > N`, where an invalid (NaN) disparity counts as
//!   wrong;
//! - `badN_valid`: the same fraction among the known pixels where our disparity is valid;
//! - `density`: fraction of known pixels where our disparity is valid;
//! - `mae`: mean `|d - gt|` over the known pixels where ours is valid.

use serde::{Deserialize, Serialize};

use super::disparity::DisparityMap;
use crate::error::{Error, Result};

/// Error rates of a disparity map against ground truth.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StereoMetrics {
    /// Bad-1 over all known pixels (invalid = wrong).
    pub bad1: f64,
    /// Bad-2 over all known pixels.
    pub bad2: f64,
    /// Bad-4 over all known pixels.
    pub bad4: f64,
    /// Bad-1 where ours is valid.
    pub bad1_valid: f64,
    /// Bad-2 where ours is valid.
    pub bad2_valid: f64,
    /// Bad-4 where ours is valid.
    pub bad4_valid: f64,
    /// Fraction of known pixels where ours is valid.
    pub density: f64,
    /// Mean absolute error where ours is valid.
    pub mae: f64,
    /// Number of known ground-truth pixels.
    pub known: usize,
}

/// Compares `disparity` with `truth` (same size; 0, NaN and infinity = unknown).
pub fn evaluate(disparity: &DisparityMap, truth: &[f32]) -> Result<StereoMetrics> {
    if truth.len() != disparity.data.len() {
        return Err(Error::DimensionMismatch {
            what: "ground-truth pixels",
            expected: disparity.data.len(),
            found: truth.len(),
        });
    }
    let (mut known, mut valid) = (0usize, 0usize);
    let mut bad = [0usize; 3];
    let mut abs = 0.0f64;
    for (&d, &g) in disparity.data.iter().zip(truth) {
        if !(g.is_finite() && g != 0.0) {
            continue;
        }
        known += 1;
        if d.is_nan() {
            continue;
        }
        valid += 1;
        let e = f64::from((d - g).abs());
        abs += e;
        for (b, t) in bad.iter_mut().zip([1.0, 2.0, 4.0]) {
            *b += usize::from(e > t);
        }
    }
    if known == 0 {
        return Err(Error::EmptyInput {
            what: "known ground-truth pixels",
        });
    }
    let all = |b: usize| (b + known - valid) as f64 / known as f64;
    let among = |b: usize| {
        if valid == 0 {
            0.0
        } else {
            b as f64 / valid as f64
        }
    };
    Ok(StereoMetrics {
        bad1: all(bad[0]),
        bad2: all(bad[1]),
        bad4: all(bad[2]),
        bad1_valid: among(bad[0]),
        bad2_valid: among(bad[1]),
        bad4_valid: among(bad[2]),
        density: valid as f64 / known as f64,
        mae: if valid == 0 { 0.0 } else { abs / valid as f64 },
        known,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_hand() {
        let nan = f32::NAN;
        // gt: 10 10 10 0(unknown) 20; ours: 10.5 13 nan 7 25.
        let m = DisparityMap::new(5, 1, vec![10.5, 13.0, nan, 7.0, 25.0]).unwrap();
        let r = evaluate(&m, &[10.0, 10.0, 10.0, 0.0, 20.0]).unwrap();
        assert_eq!(r.known, 4);
        assert_eq!(r.density, 0.75);
        assert_eq!(r.bad2, 3.0 / 4.0);
        assert_eq!(r.bad4, 2.0 / 4.0);
        assert_eq!(r.bad2_valid, 2.0 / 3.0);
        assert!((r.mae - 8.5 / 3.0).abs() < 1e-12);
        assert!(evaluate(&m, &[0.0; 5]).is_err());
    }
}
