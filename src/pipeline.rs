//! The estimator contract: parameters fit into models, models transform inputs.
//!
//! # Overview
//! Two traits carry the whole crate. [`Fit`] is implemented by plain, serialisable
//! parameter structs (`FooParams`) and returns a fitted model (`Foo`); [`Transform`] is
//! implemented by fitted models (and by stateless stages, whose params are their own fitted
//! form). "Is it fitted?" is therefore a compile-time fact, fitted models are immutable and
//! `Sync`, and a grid of candidates is just a `Vec` of params.
//!
//! Stages compose with [`Fit::then`] into a [`Chain`], itself a `Fit` whose fitted form is a
//! `Chain` of fitted stages: one value to save, load and apply. Runtime choice between
//! stages (BoVW or VLAD, SVM or kNN) is an `enum` of params implementing `Fit` by `match`,
//! with an `enum` of fitted models implementing `Transform`; enums serialise with serde,
//! trait objects would not.
//!
//! # Usage
//! ```
//! use classic_cv::pipeline::{Fit, Transform};
//! use classic_cv::learn::preprocess::StandardizeParams;
//! use classic_cv::learn::centroid::NearestCentroidParams;
//!
//! let x = vec![vec![0.0, 0.0], vec![0.2, 0.1], vec![5.0, 5.0], vec![5.2, 4.9]];
//! let y = vec![0, 0, 1, 1];
//! let model = StandardizeParams::default()
//!     .then(NearestCentroidParams::default())
//!     .fit(&x, &y)
//!     .unwrap();
//! assert_eq!(model.transform(&vec![4.8, 5.1]).unwrap(), 1);
//! ```
//!
//! # Parallelism and determinism
//! [`transform_all`] maps a stage over many inputs with rayon, preserving order; the first
//! error (in input order) is returned. [`Transform::transform_batch`] is the hook a stage
//! overrides when a batch is cheaper than many single calls (a matrix product over all
//! rows); its default is the parallel map. Fitting must not depend on the number of
//! threads: every estimator is checked for this by the conformance suite in `tests/it`.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Class labels: dense `0..n_classes`. Names live at the boundary (`datasets`, CLI).
pub type Label = u32;

/// A fitted (or parameter-free) stage: maps one input to one output.
pub trait Transform: Send + Sync {
    /// What the stage consumes.
    type Input: Sync;
    /// What the stage produces.
    type Output: Send;

    /// Applies the stage to one input.
    fn transform(&self, input: &Self::Input) -> Result<Self::Output>;

    /// Applies the stage to many inputs, preserving order; the first error (in input order)
    /// wins. Stages whose batch is cheaper than single calls override this.
    fn transform_batch(&self, inputs: &[Self::Input]) -> Result<Vec<Self::Output>> {
        // Collecting into `Result<Vec<_>>` in parallel would return whichever error a
        // thread met first; collecting per-item results and then scanning them in order
        // makes the reported error the first in input order, whatever the thread count.
        let results: Vec<Result<Self::Output>> =
            inputs.par_iter().map(|x| self.transform(x)).collect();
        results.into_iter().collect()
    }
}

/// Hyperparameters that can learn a [`Transform`] from inputs and labels.
///
/// Unsupervised stages ignore `labels` but still check that their count matches.
pub trait Fit: Sync {
    /// What the fitted stage consumes.
    type Input: Sync;
    /// The fitted stage.
    type Fitted: Transform<Input = Self::Input>;

    /// Learns a fitted stage. Validates the params first, then the data.
    fn fit(&self, inputs: &[Self::Input], labels: &[Label]) -> Result<Self::Fitted>;

    /// `a.then(b)`: feed the output of fitted `a` into `b`.
    fn then<B: Fit>(self, next: B) -> Chain<Self, B>
    where
        Self: Sized,
    {
        Chain {
            first: self,
            second: next,
        }
    }
}

/// Applies `stage` to every input in parallel, preserving order; the first error wins.
pub fn transform_all<T: Transform>(stage: &T, inputs: &[T::Input]) -> Result<Vec<T::Output>> {
    stage.transform_batch(inputs)
}

/// Two stages run one after the other. As params it is a [`Fit`]; fitted, a [`Transform`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Chain<A, B> {
    /// The stage that runs first.
    pub first: A,
    /// The stage fed with the first one's output.
    pub second: B,
}

impl<A, B> Transform for Chain<A, B>
where
    A: Transform,
    B: Transform<Input = A::Output>,
    A::Output: Sync,
{
    type Input = A::Input;
    type Output = B::Output;

    fn transform(&self, input: &A::Input) -> Result<B::Output> {
        self.second.transform(&self.first.transform(input)?)
    }

    fn transform_batch(&self, inputs: &[A::Input]) -> Result<Vec<B::Output>> {
        let middle = self.first.transform_batch(inputs)?;
        self.second.transform_batch(&middle)
    }
}

impl<A, B> Fit for Chain<A, B>
where
    A: Fit,
    B: Fit<Input = <A::Fitted as Transform>::Output>,
    <A::Fitted as Transform>::Output: Sync,
{
    type Input = A::Input;
    type Fitted = Chain<A::Fitted, B::Fitted>;

    fn fit(&self, inputs: &[A::Input], labels: &[Label]) -> Result<Self::Fitted> {
        let first = self.first.fit(inputs, labels)?;
        let middle = first.transform_batch(inputs)?;
        let second = self.second.fit(&middle, labels)?;
        Ok(Chain { first, second })
    }
}

/// Checks the common preconditions of supervised fitting: inputs are not empty and there is
/// one label per input.
pub fn check_fit_inputs<T>(inputs: &[T], labels: &[Label]) -> Result<()> {
    check_counts(inputs.len(), labels.len())
}

/// [`check_fit_inputs`] on counts: `n_inputs > 0` and `n_inputs == n_labels`.
pub fn check_counts(n_inputs: usize, n_labels: usize) -> Result<()> {
    if n_inputs == 0 {
        return Err(Error::EmptyInput {
            what: "training set",
        });
    }
    if n_inputs != n_labels {
        return Err(Error::LengthMismatch {
            inputs: n_inputs,
            labels: n_labels,
        });
    }
    Ok(())
}

/// The common start of a fit: the params' own checks (`validated`, the result of their
/// `validate`), then [`check_fit_inputs`].
pub fn check_fit<T>(validated: Result<()>, inputs: &[T], labels: &[Label]) -> Result<()> {
    validated?;
    check_fit_inputs(inputs, labels)
}

/// The common start of a classifier's fit: [`check_fit`], then the number of classes
/// ([`count_classes`]).
pub fn check_supervised_fit<T>(
    validated: Result<()>,
    inputs: &[T],
    labels: &[Label],
) -> Result<usize> {
    check_fit(validated, inputs, labels)?;
    count_classes(labels)
}

/// Number of classes (`max label + 1`); fails with [`Error::TooFewClasses`] unless at least
/// two distinct labels occur, and with [`Error::InvalidParam`] for a label of
/// [`crate::limits::MAX_CLASSES`] or more.
pub fn count_classes(labels: &[Label]) -> Result<usize> {
    if let Some(&big) = labels.iter().max() {
        crate::limits::check_label(big, "training labels")?;
    }
    let n = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    let mut seen = vec![false; n];
    for &l in labels {
        seen[l as usize] = true;
    }
    let distinct = seen.iter().filter(|&&s| s).count();
    if distinct < 2 {
        return Err(Error::TooFewClasses { found: distinct });
    }
    Ok(n)
}

/// Checks that every row has `dim` values.
pub fn check_row_lengths(rows: &[Vec<f32>], dim: usize) -> Result<()> {
    match rows.iter().find(|r| r.len() != dim) {
        Some(r) => Err(Error::DimensionMismatch {
            what: "feature vector length",
            expected: dim,
            found: r.len(),
        }),
        None => Ok(()),
    }
}

/// The rows concatenated (row-major) after [`check_row_lengths`] and a check that every value
/// is finite (`what` names them in the error).
pub fn flatten_rows(rows: &[Vec<f32>], dim: usize, what: &'static str) -> Result<Vec<f32>> {
    check_row_lengths(rows, dim)?;
    let flat = rows.concat();
    crate::error::check_finite(&flat, what)?;
    Ok(flat)
}

/// Stacks equal-length feature vectors into rows; fails on ragged or non-finite input.
pub fn stack_rows(inputs: &[Vec<f32>]) -> Result<ndarray::Array2<f32>> {
    let dim = inputs.first().map_or(0, Vec::len);
    let flat = flatten_rows(inputs, dim, "features")?;
    Ok(ndarray::Array2::from_shape_vec((inputs.len(), dim), flat)
        .expect("shape matches the stacked length"))
}

/// Test support: a case of [`assert_rejected`], the error expected and the change of the params.
#[cfg(test)]
pub(crate) type Case<P> = (&'static str, fn(&mut P));

/// Test support: each case (a name and a change of `base`) must make `run` fail with the error
/// named: the parameter for [`Error::InvalidParam`], else the error's variant (`"NonFinite"`).
#[cfg(test)]
pub(crate) fn assert_rejected<P: Clone, T: std::fmt::Debug>(
    base: &P,
    cases: &[Case<P>],
    run: impl Fn(&P) -> Result<T>,
) {
    for (i, (want, change)) in cases.iter().enumerate() {
        let mut p = base.clone();
        change(&mut p);
        let got = match run(&p) {
            Ok(v) => format!("Ok({v:?})"),
            Err(Error::InvalidParam { name, .. }) => name.to_string(),
            Err(e) => format!("{e:?}")
                .split([' ', '{', '('])
                .next()
                .unwrap_or("")
                .to_string(),
        };
        assert_eq!(&got, want, "case {i}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails on negative inputs, naming the value.
    struct Sqrt;

    impl Transform for Sqrt {
        type Input = f32;
        type Output = f32;
        fn transform(&self, x: &f32) -> Result<f32> {
            if *x < 0.0 {
                return Err(Error::param("x", format!("{x} is negative")));
            }
            Ok(x.sqrt())
        }
    }

    #[test]
    fn transform_all_preserves_order_and_reports_the_first_error() {
        let ok: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let out = transform_all(&Sqrt, &ok).unwrap();
        assert!(out.iter().enumerate().all(|(i, &v)| v == (i as f32).sqrt()));
        let mut bad = ok.clone();
        bad[700] = -7.0;
        bad[300] = -3.0;
        for threads in [1, 2, 4] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let e = pool.install(|| transform_all(&Sqrt, &bad)).unwrap_err();
            assert!(e.to_string().contains("-3 is negative"), "{e}");
        }
    }

    #[test]
    fn count_classes_needs_two() {
        assert!(matches!(
            count_classes(&[3, 3, 3]),
            Err(Error::TooFewClasses { found: 1 })
        ));
        assert!(matches!(
            count_classes(&[]),
            Err(Error::TooFewClasses { found: 0 })
        ));
        assert_eq!(count_classes(&[0, 2, 2]).unwrap(), 3);
    }

    #[test]
    fn stack_rows_rejects_ragged_and_nan() {
        assert!(matches!(
            stack_rows(&[vec![1.0, 2.0], vec![1.0]]),
            Err(Error::DimensionMismatch { .. })
        ));
        assert!(matches!(
            stack_rows(&[vec![f32::NAN]]),
            Err(Error::NonFinite { .. })
        ));
        assert_eq!(
            stack_rows(&[vec![1.0], vec![2.0]]).unwrap().shape(),
            &[2, 1]
        );
    }
}
