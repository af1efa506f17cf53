//! The classical-versus-deep comparison: one row per method (test accuracy, training time,
//! inference speed, parameters, model size), built the same way for a classical pipeline
//! and for the CNN.
//!
//! # Usage
//! ```no_run
//! use classic_cv::classify::compare::{Comparison, compare_row};
//! use classic_cv::cnn::CnnParams;
//! # let (train_x, train_y, test_x, test_y) = (vec![], vec![], vec![], vec![]);
//! let Comparison { model, row } =
//!     compare_row("cnn", &CnnParams::default(), &train_x, &train_y, &test_x, &test_y).unwrap();
//! println!("{} {:.4} ({} parameters)", row.method, row.test_accuracy, model.n_params());
//! ```
//!
//! # Conventions
//! - Times are wall clock: `train_seconds` of `fit`, the inference speed of one batched
//!   `transform_batch` over the test images.
//! - `test_accuracy` is [`metrics::accuracy`] (truth first, then prediction) as f32.
//! - `n_params` is what the model calls its parameters ([`ParamCount`]): every weight of
//!   the CNN; every number a classical pipeline stores (the numbers of its JSON form, which
//!   counts a kNN's training set).
//! - `model_bytes` is the payload of the binary model format (the file adds a header of
//!   under 100 bytes).

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::config::Pipeline;
use super::metrics;
use crate::cnn::Cnn;
use crate::error::{Error, Result};
use crate::image::Image;
use crate::pipeline::{Fit, Label, Transform};

/// One method's row of the comparison table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComparisonRow {
    /// Name of the method.
    pub method: String,
    /// Accuracy on the test images.
    pub test_accuracy: f32,
    /// Wall-clock seconds of `fit`.
    pub train_seconds: f64,
    /// Test images classified per second (batched inference, wall clock).
    pub inference_images_per_second: f64,
    /// Number of trained parameters.
    pub n_params: usize,
    /// Size of the model in the binary model format, in bytes (payload; the file adds a
    /// header of under 100 bytes).
    pub model_bytes: usize,
}

/// A trained model and its row.
#[derive(Clone, Debug)]
pub struct Comparison<M> {
    /// The model `fit` returned.
    pub model: M,
    /// What it measured.
    pub row: ComparisonRow,
}

/// How many parameters a model reports in the comparison table.
pub trait ParamCount {
    /// Number of parameters.
    fn param_count(&self) -> Result<usize>;
}

impl ParamCount for Cnn {
    /// Every trained weight and bias.
    fn param_count(&self) -> Result<usize> {
        Ok(self.n_params())
    }
}

impl ParamCount for Pipeline {
    /// Every number the fitted pipeline stores.
    fn param_count(&self) -> Result<usize> {
        count_numbers(self)
    }
}

/// Trains `params` on the training images and measures the row named `method` on the test
/// images (training time, test accuracy, inference speed, parameters, model size). The
/// test set is not used for training.
pub fn compare_row<P>(
    method: &str,
    params: &P,
    train_images: &[Image],
    train_labels: &[Label],
    test_images: &[Image],
    test_labels: &[Label],
) -> Result<Comparison<P::Fitted>>
where
    P: Fit<Input = Image>,
    P::Fitted: Transform<Input = Image, Output = Label> + Serialize + ParamCount,
{
    if test_images.is_empty() {
        return Err(Error::EmptyInput { what: "test set" });
    }
    if test_images.len() != test_labels.len() {
        return Err(Error::LengthMismatch {
            inputs: test_images.len(),
            labels: test_labels.len(),
        });
    }
    let start = Instant::now();
    let model = params.fit(train_images, train_labels)?;
    let train_seconds = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let predicted = model.transform_batch(test_images)?;
    let infer = start.elapsed().as_secs_f64();
    let model_bytes = postcard::to_stdvec(&model)
        .map_err(|e| Error::format("", format!("cannot serialise the model: {e}")))?
        .len();
    let row = ComparisonRow {
        method: method.to_string(),
        test_accuracy: metrics::accuracy(test_labels, &predicted)? as f32,
        train_seconds,
        inference_images_per_second: test_images.len() as f64 / infer.max(1e-9),
        n_params: model.param_count()?,
        model_bytes,
    };
    Ok(Comparison { model, row })
}

/// Number of numeric values a model stores: the numbers in its JSON form, counted while
/// streaming (no document is built, so a 47-million-value kNN costs no memory).
fn count_numbers<T: Serialize>(model: &T) -> Result<usize> {
    let mut counter = NumberCounter::default();
    serde_json::to_writer(&mut counter, model)
        .map_err(|e| Error::format("", format!("cannot count the model's numbers: {e}")))?;
    Ok(counter.count)
}

/// Counts JSON number tokens in the bytes written to it.
#[derive(Default)]
struct NumberCounter {
    count: usize,
    in_string: bool,
    escaped: bool,
    in_number: bool,
}

impl std::io::Write for NumberCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for &b in buf {
            if self.in_string {
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            let numeric = b.is_ascii_digit() || b == b'-';
            let continues = numeric || matches!(b, b'.' | b'e' | b'E' | b'+');
            if self.in_number {
                self.in_number = continues;
            } else if numeric {
                self.in_number = true;
                self.count += 1;
            }
            if b == b'"' {
                self.in_string = true;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn numbers_are_counted_outside_strings() {
        let v = serde_json::json!({"a": [1, -2.5e-3, 3], "b": "x1 2 \"3\"", "c": {"d": 1e10, "e": true}});
        assert_eq!(count_numbers(&v).unwrap(), 4);
        let mut c = NumberCounter::default();
        c.write_all(b"[12,").unwrap();
        c.write_all(b"34]").unwrap();
        assert_eq!(c.count, 2);
    }

    /// An empty or mismatched test set is an error naming it, before anything is fitted.
    #[test]
    fn bad_test_sets_are_errors() {
        let config = crate::classify::config::PipelineConfig::from_json(
            r#"{"features": {"pixels": {}}, "classifier": {"knn": {"k": 1}}}"#,
            "inline",
        )
        .unwrap();
        let images = vec![
            Image::from_fn(2, 2, |_, _| 0.0),
            Image::from_fn(2, 2, |_, _| 1.0),
        ];
        let empty = compare_row("knn", &config, &images, &[0, 1], &[], &[]);
        assert!(matches!(empty, Err(Error::EmptyInput { what: "test set" })));
        let mismatched = compare_row("knn", &config, &images, &[0, 1], &images, &[0]);
        assert!(matches!(mismatched, Err(Error::LengthMismatch { .. })));
        let ok = compare_row("knn", &config, &images, &[0, 1], &images, &[0, 1]).unwrap();
        assert_eq!(ok.row.test_accuracy, 1.0);
    }
}
