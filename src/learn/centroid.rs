//! Nearest-centroid classifier: predict the class whose mean feature vector is closest.
//!
//! # Overview
//! [`NearestCentroidParams`] computes one centroid (mean) per class; the fitted
//! [`NearestCentroid`] assigns a vector to the class of the nearest centroid in Euclidean
//! distance. It is the simplest learner of the crate (scikit-learn's `NearestCentroid`
//! without shrinkage) and serves as the reference estimator of the conformance suite.
//!
//! # Usage
//! ```
//! use classic_cv::pipeline::{Fit, Transform};
//! use classic_cv::learn::centroid::NearestCentroidParams;
//! let x = vec![vec![0.0], vec![1.0], vec![9.0], vec![10.0]];
//! let m = NearestCentroidParams::default().fit(&x, &[0, 0, 1, 1]).unwrap();
//! assert_eq!(m.transform(&vec![7.0]).unwrap(), 1);
//! ```
//!
//! # Conventions
//! Ties go to the lower label. A label that never occurs gets no centroid and is never
//! predicted. Class sums are accumulated in `f64` in row order (thread-independent).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::pipeline::{Fit, Label, Transform, check_fit_inputs, count_classes, stack_rows};

/// Parameters of [`NearestCentroid`] (none yet; kept as a struct so configs stay stable).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NearestCentroidParams {}

/// A fitted nearest-centroid classifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NearestCentroid {
    /// The params it was fitted with.
    pub params: NearestCentroidParams,
    /// One centroid per label; `None` for labels absent from the training set.
    pub centroids: Vec<Option<Vec<f32>>>,
}

impl Fit for NearestCentroidParams {
    type Input = Vec<f32>;
    type Fitted = NearestCentroid;

    fn fit(&self, inputs: &[Vec<f32>], labels: &[Label]) -> Result<NearestCentroid> {
        check_fit_inputs(inputs, labels)?;
        let n_classes = count_classes(labels)?;
        let x = stack_rows(inputs)?;
        let mut sums = vec![vec![0f64; x.ncols()]; n_classes];
        let mut counts = vec![0usize; n_classes];
        for (row, &l) in x.rows().into_iter().zip(labels) {
            counts[l as usize] += 1;
            for (s, &v) in sums[l as usize].iter_mut().zip(row) {
                *s += v as f64;
            }
        }
        let centroids = sums
            .into_iter()
            .zip(counts)
            .map(|(s, c)| (c > 0).then(|| s.iter().map(|v| (v / c as f64) as f32).collect()))
            .collect();
        Ok(NearestCentroid {
            params: self.clone(),
            centroids,
        })
    }
}

impl Transform for NearestCentroid {
    type Input = Vec<f32>;
    type Output = Label;

    fn transform(&self, input: &Vec<f32>) -> Result<Label> {
        crate::error::check_finite(input, "features")?;
        let mut best = (f32::INFINITY, 0);
        for (label, c) in self.centroids.iter().enumerate() {
            let Some(c) = c else { continue };
            if c.len() != input.len() {
                return Err(Error::DimensionMismatch {
                    what: "feature vector length",
                    expected: c.len(),
                    found: input.len(),
                });
            }
            let d: f32 = c.iter().zip(input).map(|(a, b)| (a - b) * (a - b)).sum();
            if d < best.0 {
                best = (d, label as Label);
            }
        }
        Ok(best.1)
    }
}

impl crate::persist::Model for NearestCentroid {
    fn kind() -> String {
        "nearest-centroid".into()
    }

    /// At least one centroid, all of one non-zero dimension, finite.
    fn validate_loaded(&self) -> Result<()> {
        crate::limits::check_class_count(self.centroids.len(), "nearest centroid")?;
        let mut dim = None;
        for c in self.centroids.iter().flatten() {
            let d = *dim.get_or_insert(c.len());
            if c.len() != d || d == 0 {
                return Err(Error::DimensionMismatch {
                    what: "centroids of the nearest-centroid model",
                    expected: d.max(1),
                    found: c.len(),
                });
            }
            crate::error::check_finite(c, "centroids")?;
        }
        if dim.is_none() {
            return Err(Error::EmptyInput {
                what: "centroids of the nearest-centroid model",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centroids_are_class_means() {
        let x = vec![vec![0.0, 2.0], vec![2.0, 4.0], vec![10.0, 10.0]];
        let m = NearestCentroidParams::default()
            .fit(&x, &[0, 0, 2])
            .unwrap();
        assert_eq!(m.centroids[0], Some(vec![1.0, 3.0]));
        assert_eq!(m.centroids[1], None);
        assert_eq!(m.centroids[2], Some(vec![10.0, 10.0]));
        assert_eq!(m.transform(&vec![6.0, 6.0]).unwrap(), 2);
    }

    #[test]
    fn one_class_is_an_error() {
        let r = NearestCentroidParams::default().fit(&[vec![1.0], vec![2.0]], &[1, 1]);
        assert!(matches!(r, Err(Error::TooFewClasses { found: 1 })));
    }
}
