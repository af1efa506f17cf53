//! The crate's classifiers as [linfa](https://docs.rs/linfa) estimators (feature `linfa`).
//!
//! # Overview
//! [`LinearSvmParams`], [`KnnParams`], [`SoftmaxParams`] and [`RandomForestParams`]
//! implement linfa's `Fit` over a `DatasetBase` of `f32` records (any `ArrayBase<_, Ix2>`:
//! an owned `Array2<f32>` or a view) and `usize` targets (linfa's single-target classifier
//! labels, e.g. `Dataset<f32, usize>`). The fitted [`LinearSvm`], [`Knn`], [`Softmax`] and
//! [`RandomForest`] implement `PredictInplace` into `Array1<usize>`, so linfa's blanket
//! `Predict` gives `model.predict(&records)` and `model.predict(dataset)`, and its metrics
//! (`confusion_matrix`) apply to the result. The error type is the crate's
//! [`Error`]; linfa's own errors convert into it.
//!
//! The models are the ones our own [`Fit`] / [`Transform`] API produces: `fit` copies the
//! records into rows (the learners take `&[Vec<f32>]`), converts the targets to [`Label`]s
//! and calls the learner's own `fit`; prediction runs the model's `transform_batch` (kNN's
//! blocked search included). The predictions are therefore exactly those of our API on the
//! same rows.
//!
//! # Errors and panics
//! `fit` returns `Err` for everything our own `fit` rejects (no rows, a number of targets
//! that differs from the number of records, fewer than two classes, non-finite features,
//! invalid params) and for a target of [`crate::limits::MAX_CLASSES`] or more.
//! linfa's `PredictInplace` has no error channel, and linfa's own models panic on records
//! of the wrong width; ours panic there too (and on non-finite records), with the crate's
//! message. Call [`predict_records`] first-hand for untrusted input: it returns the same
//! predictions or the `Err`.
//!
//! # Usage
//! ```
//! use classic_cv::learn::svm::LinearSvmParams;
//! use linfa::prelude::*;
//! use ndarray::{array, Array1};
//!
//! let x = array![[0.0f32, 0.2], [0.1, 0.0], [2.0, 2.1], [2.2, 1.9]];
//! let dataset = Dataset::new(x, Array1::from(vec![0usize, 0, 1, 1]));
//! let svm = LinearSvmParams::default().fit(&dataset).unwrap();
//! let predicted: Array1<usize> = svm.predict(&array![[1.9f32, 2.0], [0.0, 0.1]]);
//! assert_eq!(predicted.to_vec(), vec![1, 0]);
//! ```

use linfa::dataset::{AsSingleTargets, DatasetBase};
use linfa::traits::PredictInplace;
use ndarray::{Array1, ArrayBase, Data, Ix2};

use crate::error::{Error, Result};
use crate::learn::forest::{RandomForest, RandomForestParams};
use crate::learn::knn::{Knn, KnnParams};
use crate::learn::softmax::{Softmax, SoftmaxParams};
use crate::learn::svm::{LinearSvm, LinearSvmParams};
use crate::pipeline::{Fit, Label, Transform, check_counts};

impl From<linfa::Error> for Error {
    /// linfa's errors in the crate's terms: bad parameters as [`Error::InvalidParam`],
    /// mismatched sample counts as [`Error::LengthMismatch`], too few samples as
    /// [`Error::EmptyInput`], and the rest (shape errors, priors, non-convergence) as
    /// [`Error::Degenerate`] with linfa's message.
    fn from(e: linfa::Error) -> Self {
        match e {
            linfa::Error::Parameters(reason) => Error::InvalidParam {
                name: "linfa parameters",
                reason,
            },
            linfa::Error::MismatchedShapes(inputs, labels) => {
                Error::LengthMismatch { inputs, labels }
            }
            linfa::Error::NotEnoughSamples => Error::EmptyInput {
                what: "linfa dataset",
            },
            other => Error::Degenerate {
                what: "linfa",
                reason: other.to_string(),
            },
        }
    }
}

/// The rows of `records` as the learners' inputs (a copy, one `Vec` per row).
fn record_rows<D: Data<Elem = f32>>(records: &ArrayBase<D, Ix2>) -> Vec<Vec<f32>> {
    records.rows().into_iter().map(|row| row.to_vec()).collect()
}

/// linfa's `usize` targets as [`Label`]s; a target of [`crate::limits::MAX_CLASSES`] or
/// more is an [`Error::InvalidParam`].
fn target_labels<T: AsSingleTargets<Elem = usize>>(targets: &T) -> Result<Vec<Label>> {
    targets
        .as_single_targets()
        .iter()
        .map(|&t| {
            let label = Label::try_from(t).map_err(|_| {
                Error::param("targets", format!("class {t} does not fit a u32 label"))
            })?;
            crate::limits::check_label(label, "linfa targets")?;
            Ok(label)
        })
        .collect()
}

/// Fits `params` (any learner of the crate) on a linfa dataset: the common body of the
/// `linfa::traits::Fit` implementations.
fn fit_dataset<P, D, T>(
    params: &P,
    dataset: &DatasetBase<ArrayBase<D, Ix2>, T>,
) -> Result<P::Fitted>
where
    P: Fit<Input = Vec<f32>>,
    D: Data<Elem = f32>,
    T: AsSingleTargets<Elem = usize>,
{
    let labels = target_labels(&dataset.targets)?;
    check_counts(dataset.records.nrows(), labels.len())?;
    params.fit(&record_rows(&dataset.records), &labels)
}

/// Predicts the class of every row of `records` with a fitted classifier of the crate,
/// through its own `transform_batch`: the same predictions as linfa's `predict`, with
/// records of the wrong width or non-finite values returned as `Err` instead of a panic.
pub fn predict_records<M, D>(model: &M, records: &ArrayBase<D, Ix2>) -> Result<Array1<usize>>
where
    M: Transform<Input = Vec<f32>, Output = Label>,
    D: Data<Elem = f32>,
{
    let labels = model.transform_batch(&record_rows(records))?;
    Ok(labels.into_iter().map(|l| l as usize).collect())
}

/// Implements linfa's `Fit` for a params type and `PredictInplace` for its fitted model.
macro_rules! linfa_classifier {
    ($params:ty => $model:ty) => {
        impl<D, T> linfa::traits::Fit<ArrayBase<D, Ix2>, T, Error> for $params
        where
            D: Data<Elem = f32>,
            T: AsSingleTargets<Elem = usize>,
        {
            type Object = $model;

            fn fit(&self, dataset: &DatasetBase<ArrayBase<D, Ix2>, T>) -> Result<$model> {
                fit_dataset(self, dataset)
            }
        }

        impl<D: Data<Elem = f32>> PredictInplace<ArrayBase<D, Ix2>, Array1<usize>> for $model {
            /// # Panics
            /// On records of the wrong width or with non-finite values (linfa's trait has
            /// no error channel); [`predict_records`] returns these as `Err`.
            fn predict_inplace(&self, records: &ArrayBase<D, Ix2>, targets: &mut Array1<usize>) {
                assert_eq!(
                    records.nrows(),
                    targets.len(),
                    "the number of records must match the number of targets"
                );
                match predict_records(self, records) {
                    Ok(predicted) => *targets = predicted,
                    Err(e) => {
                        panic!("{e} (use classic_cv::learn::linfa::predict_records for a Result)")
                    }
                }
            }

            fn default_target(&self, records: &ArrayBase<D, Ix2>) -> Array1<usize> {
                Array1::zeros(records.nrows())
            }
        }
    };
}

linfa_classifier!(LinearSvmParams => LinearSvm);
linfa_classifier!(KnnParams => Knn);
linfa_classifier!(SoftmaxParams => Softmax);
linfa_classifier!(RandomForestParams => RandomForest);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learn::knn::Metric;
    use linfa::prelude::{Dataset, Predict, ToConfusionMatrix};
    use ndarray::{Array2, s};

    /// Three noisy blobs in 4 dimensions, labels `i % 3`, as our API takes them.
    fn blob_rows(n: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<Label>) {
        let mut rng = crate::rng::Rng::new(seed);
        let labels: Vec<Label> = (0..n as Label).map(|i| i % 3).collect();
        let rows = labels
            .iter()
            .map(|&class| {
                (0..4)
                    .map(|j| {
                        let centre = if j % 3 == class { 2.0 } else { 0.0 };
                        centre + (rng.next_f32() - 0.5) * 2.5
                    })
                    .collect()
            })
            .collect();
        (rows, labels)
    }

    /// The same blobs as linfa takes them.
    fn blobs(n: usize, seed: u64) -> (Array2<f32>, Array1<usize>) {
        let (rows, labels) = blob_rows(n, seed);
        let x = Array2::from_shape_vec((n, 4), rows.concat()).unwrap();
        (x, labels.iter().map(|&l| l as usize).collect())
    }

    /// Fits through linfa and through our API on the same data and checks: the models are
    /// equal, linfa's `predict` gives our `transform_batch`'s labels, the model learned the
    /// blobs, and linfa's metrics run on the predictions.
    fn check_learner<P, M>(params: P)
    where
        P: Fit<Input = Vec<f32>, Fitted = M>
            + linfa::traits::Fit<Array2<f32>, Array1<usize>, Error, Object = M>,
        M: Transform<Input = Vec<f32>, Output = Label>
            + PredictInplace<Array2<f32>, Array1<usize>>
            + PartialEq
            + std::fmt::Debug,
    {
        let (rows, labels) = blob_rows(60, 7);
        let (test_rows, _) = blob_rows(30, 8);
        let ours = Fit::fit(&params, &rows, &labels).unwrap();
        let (x, y) = blobs(60, 7);
        let (test, truth) = blobs(30, 8);
        let theirs = linfa::traits::Fit::fit(&params, &Dataset::new(x, y)).unwrap();
        assert_eq!(ours, theirs, "the same model either way");
        let via_linfa: Array1<usize> = theirs.predict(&test);
        let via_ours: Vec<usize> = ours
            .transform_batch(&test_rows)
            .unwrap()
            .into_iter()
            .map(|l| l as usize)
            .collect();
        assert_eq!(via_linfa.to_vec(), via_ours);
        let correct = via_linfa.iter().zip(&truth).filter(|(a, b)| a == b).count();
        assert!(correct >= 24, "{correct}/30 correct");
        let cm = via_linfa.confusion_matrix(&truth).unwrap();
        assert_eq!(cm.accuracy(), correct as f32 / 30.0);
    }

    #[test]
    fn linear_svm_predicts_as_our_api() {
        check_learner(LinearSvmParams::default());
    }

    #[test]
    fn knn_predicts_as_our_api() {
        check_learner(KnnParams {
            k: 5,
            metric: Metric::L2,
            ..KnnParams::default()
        });
    }

    #[test]
    fn softmax_predicts_as_our_api() {
        check_learner(SoftmaxParams::default());
    }

    #[test]
    fn random_forest_predicts_as_our_api() {
        check_learner(RandomForestParams {
            n_trees: 10,
            ..RandomForestParams::default()
        });
    }

    #[test]
    fn views_and_datasets_predict_the_same() {
        let (x, y) = blobs(60, 7);
        let svm = linfa::traits::Fit::fit(
            &LinearSvmParams::default(),
            &Dataset::new(x.clone(), y.clone()),
        )
        .unwrap();
        // A transposed copy's transpose: a view in Fortran order.
        let fortran = x.t().to_owned();
        let view = fortran.t();
        let from_view: Array1<usize> = svm.predict(&view);
        let from_owned: Array1<usize> = svm.predict(&x);
        assert_eq!(from_view, from_owned);
        let dataset = svm.predict(Dataset::new(x.clone(), y.clone()));
        assert_eq!(dataset.targets, from_owned);
        // Every other row through a strided view.
        let strided: Array1<usize> = svm.predict(&x.slice(s![..;2, ..]));
        assert_eq!(
            strided.to_vec(),
            from_owned.iter().step_by(2).copied().collect::<Vec<_>>()
        );
    }

    #[test]
    fn mismatched_sizes_are_errors() {
        let (x, y) = blobs(60, 7);
        let short = y.slice(s![..59]).to_owned();
        let err =
            linfa::traits::Fit::fit(&LinearSvmParams::default(), &Dataset::new(x.clone(), short))
                .unwrap_err();
        assert!(
            matches!(
                err,
                Error::LengthMismatch {
                    inputs: 60,
                    labels: 59
                }
            ),
            "{err}"
        );
        let err = linfa::traits::Fit::fit(
            &KnnParams::default(),
            &Dataset::new(x.slice(s![..0, ..]).to_owned(), y.slice(s![..0]).to_owned()),
        )
        .unwrap_err();
        assert!(matches!(err, Error::EmptyInput { .. }), "{err}");
        let svm = linfa::traits::Fit::fit(
            &LinearSvmParams::default(),
            &Dataset::new(x.clone(), y.clone()),
        )
        .unwrap();
        let err = predict_records(&svm, &x.slice(s![.., ..3])).unwrap_err();
        assert!(
            matches!(
                err,
                Error::DimensionMismatch {
                    expected: 4,
                    found: 3,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn bad_targets_and_features_are_errors() {
        let (mut x, mut y) = blobs(60, 7);
        y[3] = crate::limits::MAX_CLASSES;
        let err = linfa::traits::Fit::fit(
            &SoftmaxParams::default(),
            &Dataset::new(x.clone(), y.clone()),
        )
        .unwrap_err();
        assert!(matches!(err, Error::InvalidParam { .. }), "{err}");
        y.fill(1);
        let err = linfa::traits::Fit::fit(
            &RandomForestParams::default(),
            &Dataset::new(x.clone(), y.clone()),
        )
        .unwrap_err();
        assert!(matches!(err, Error::TooFewClasses { found: 1 }), "{err}");
        let (_, y) = blobs(60, 7);
        x[[5, 2]] = f32::NAN;
        let err = linfa::traits::Fit::fit(
            &LinearSvmParams::default(),
            &Dataset::new(x.clone(), y.clone()),
        )
        .unwrap_err();
        assert!(matches!(err, Error::NonFinite { .. }), "{err}");
        let (clean, _) = blobs(60, 7);
        let knn = linfa::traits::Fit::fit(&KnnParams::default(), &Dataset::new(clean, y)).unwrap();
        let err = predict_records(&knn, &x).unwrap_err();
        assert!(matches!(err, Error::NonFinite { .. }), "{err}");
    }

    #[test]
    #[should_panic(expected = "dimension mismatch")]
    fn linfa_predict_panics_on_the_wrong_width() {
        let (x, y) = blobs(60, 7);
        let svm = linfa::traits::Fit::fit(&LinearSvmParams::default(), &Dataset::new(x.clone(), y))
            .unwrap();
        let _: Array1<usize> = svm.predict(&x.slice(s![.., ..3]));
    }

    #[test]
    fn linfa_errors_convert() {
        let e: Error = linfa::Error::MismatchedShapes(4, 3).into();
        assert!(matches!(
            e,
            Error::LengthMismatch {
                inputs: 4,
                labels: 3
            }
        ));
        let e: Error = linfa::Error::Parameters("k must be positive".into()).into();
        assert_eq!(
            e.to_string(),
            "invalid parameter `linfa parameters`: k must be positive"
        );
        let e: Error = linfa::Error::NotEnoughSamples.into();
        assert!(matches!(e, Error::EmptyInput { .. }));
        let e: Error = linfa::Error::NotConverged("after 10 steps".into()).into();
        assert_eq!(
            e.to_string(),
            "linfa: algorithm not converged after 10 steps"
        );
    }
}
