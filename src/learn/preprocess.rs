//! Feature standardisation: `z = (x - mean) / std`, per feature.
//!
//! # Overview
//! [`StandardizeParams`] learns the per-feature mean and standard deviation of a training
//! set; the fitted [`Standardize`] maps a feature vector to zero mean and unit variance.
//! Equivalent to scikit-learn's `StandardScaler` (population standard deviation, `ddof = 0`).
//!
//! # Usage
//! ```
//! use classic_cv::pipeline::{Fit, Transform};
//! use classic_cv::learn::preprocess::StandardizeParams;
//! let x = vec![vec![1.0, 10.0], vec![3.0, 10.0]];
//! let s = StandardizeParams::default().fit(&x, &[0, 1]).unwrap();
//! assert_eq!(s.transform(&vec![2.0, 10.0]).unwrap(), vec![0.0, 0.0]);
//! ```
//!
//! # Conventions
//! A feature whose standard deviation is below `min_std` (a constant column) is only
//! centred, as scikit-learn does for zero-variance features. Sums are accumulated in `f64`
//! in row order, so the result does not depend on threads.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::pipeline::{Fit, Label, Transform, check_fit, stack_rows};

/// Parameters of [`Standardize`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StandardizeParams {
    /// Standard deviations below this are treated as zero (feature only centred). Default 1e-8.
    pub min_std: f32,
}

impl Default for StandardizeParams {
    fn default() -> Self {
        StandardizeParams { min_std: 1e-8 }
    }
}

impl StandardizeParams {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        if !(self.min_std >= 0.0) {
            return Err(Error::param("min_std", "must be >= 0"));
        }
        Ok(())
    }
}

/// Fitted standardisation: per-feature mean and scale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standardize {
    /// The params it was fitted with.
    pub params: StandardizeParams,
    /// Per-feature mean.
    pub mean: Vec<f32>,
    /// Per-feature divisor (the standard deviation, or 1 for constant features).
    pub scale: Vec<f32>,
}

impl Fit for StandardizeParams {
    type Input = Vec<f32>;
    type Fitted = Standardize;

    fn fit(&self, inputs: &[Vec<f32>], labels: &[Label]) -> Result<Standardize> {
        check_fit(self.validate(), inputs, labels)?;
        let x = stack_rows(inputs)?;
        let n = x.nrows() as f64;
        let mut sum = vec![0f64; x.ncols()];
        let mut sum_sq = vec![0f64; x.ncols()];
        for row in x.rows() {
            for (j, &v) in row.iter().enumerate() {
                sum[j] += v as f64;
                sum_sq[j] += v as f64 * v as f64;
            }
        }
        let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
        let scale = sum
            .iter()
            .zip(&sum_sq)
            .map(|(s, q)| {
                let m = s / n;
                let std = (q / n - m * m).max(0.0).sqrt() as f32;
                if std > self.min_std { std } else { 1.0 }
            })
            .collect();
        Ok(Standardize {
            params: self.clone(),
            mean,
            scale,
        })
    }
}

impl Transform for Standardize {
    type Input = Vec<f32>;
    type Output = Vec<f32>;

    fn transform(&self, input: &Vec<f32>) -> Result<Vec<f32>> {
        if input.len() != self.mean.len() {
            return Err(Error::DimensionMismatch {
                what: "feature vector length",
                expected: self.mean.len(),
                found: input.len(),
            });
        }
        Ok(input
            .iter()
            .zip(self.mean.iter().zip(&self.scale))
            .map(|(v, (m, s))| (v - m) / s)
            .collect())
    }
}

impl crate::persist::Model for Standardize {
    fn kind() -> String {
        "standardize".into()
    }

    /// As many scales as means, finite, no zero scale.
    fn validate_loaded(&self) -> Result<()> {
        if self.mean.len() != self.scale.len() {
            return Err(Error::DimensionMismatch {
                what: "standardisation scales (one per mean)",
                expected: self.mean.len(),
                found: self.scale.len(),
            });
        }
        crate::error::check_finite(&self.mean, "standardisation means")?;
        crate::error::check_finite(&self.scale, "standardisation scales")?;
        if self.scale.contains(&0.0) {
            return Err(Error::param("scale", "a standardisation scale is 0"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardised_training_set_has_zero_mean_unit_variance() {
        let x: Vec<Vec<f32>> = (0..50)
            .map(|i| vec![i as f32, (i * i) as f32 * 0.1, 7.0])
            .collect();
        let s = StandardizeParams::default().fit(&x, &[0; 50]).unwrap();
        let z: Vec<Vec<f32>> = x.iter().map(|r| s.transform(r).unwrap()).collect();
        for j in 0..2 {
            let mean: f32 = z.iter().map(|r| r[j]).sum::<f32>() / 50.0;
            let var: f32 = z.iter().map(|r| (r[j] - mean).powi(2)).sum::<f32>() / 50.0;
            assert!(mean.abs() < 1e-4 && (var - 1.0).abs() < 1e-3, "feature {j}");
        }
        assert!(
            z.iter().all(|r| r[2] == 0.0),
            "constant feature is only centred"
        );
    }

    #[test]
    fn min_std_must_be_non_negative() {
        let p = StandardizeParams { min_std: f32::NAN };
        assert!(matches!(
            p.fit(&[vec![1.0]], &[0]),
            Err(Error::InvalidParam {
                name: "min_std",
                ..
            })
        ));
    }
}
