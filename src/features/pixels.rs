//! Raw pixels as features: an image flattened into a vector.
//!
//! # Overview
//! [`Pixels`] is the simplest feature stage: it maps a gray [`Image`] to its pixel values
//! in row-major order (`y * width + x`), unchanged (Fashion-MNIST pixels are already scaled
//! to `[0, 1]` by the reader). It is stateless: its params are its own fitted form. This is
//! scikit-learn's `X.reshape(n, -1)` on the same images, so learners fed by it see exactly
//! the vectors of the scikit-learn anchors.
//!
//! # Usage
//! ```
//! use classic_cv::pipeline::{Fit, Transform};
//! use classic_cv::{Image, features::pixels::Pixels};
//! let img = Image::from_fn(3, 2, |x, y| (y * 3 + x) as f32);
//! let stage = Pixels::default().fit(&[img.clone()], &[0]).unwrap();
//! assert_eq!(stage.transform(&img).unwrap(), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
//! ```
//!
//! # Conventions
//! Non-finite pixels are rejected (`Error::NonFinite`). Images of different sizes give
//! vectors of different lengths, which the next stage rejects.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::image::Image;
use crate::pipeline::{Fit, Label, Transform, check_fit};

/// The flattening stage (no parameters; a struct so that configs stay stable).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pixels {}

impl Pixels {
    /// Checks the parameters (there are none).
    pub fn validate(&self) -> Result<()> {
        Ok(())
    }
}

impl Fit for Pixels {
    type Input = Image;
    type Fitted = Pixels;

    fn fit(&self, inputs: &[Image], labels: &[Label]) -> Result<Pixels> {
        check_fit(self.validate(), inputs, labels).map(|()| self.clone())
    }
}

impl Transform for Pixels {
    type Input = Image;
    type Output = Vec<f32>;

    fn transform(&self, input: &Image) -> Result<Vec<f32>> {
        input.check_finite()?;
        Ok(input.as_slice().to_vec())
    }
}

impl crate::persist::Model for Pixels {
    fn kind() -> String {
        "pixels".into()
    }

    /// The parameters (there are none; unknown fields are already refused on decoding).
    fn validate_loaded(&self) -> Result<()> {
        self.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn flattening_is_row_major_and_rejects_nan() {
        let img = Image::from_fn(2, 2, |x, y| (10 * y + x) as f32);
        assert_eq!(
            Pixels::default().transform(&img).unwrap(),
            vec![0.0, 1.0, 10.0, 11.0]
        );
        let bad = Image::from_fn(2, 1, |x, _| if x == 1 { f32::NAN } else { 0.0 });
        assert!(matches!(
            Pixels::default().transform(&bad),
            Err(Error::NonFinite { .. })
        ));
    }
}
