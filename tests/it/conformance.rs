//! The conformance suite every estimator of the crate passes (scikit-learn's
//! `check_estimator`): thread safety, determinism across thread counts, serde round trip,
//! empty input and label-count mismatch errors, defaults that validate, and
//! `transform_all` equal to a sequential map.
//!
//! To add an estimator: call [`check_estimator`] from a new `#[test]` with its params, a
//! small training set and the labels.

use std::fmt::Debug;

use classic_cv::pipeline::{Fit, Label, Transform, transform_all};
use classic_cv::{Error, persist};

/// Fits `params` in a pool of `threads` workers.
fn fit_in_pool<P: Fit>(params: &P, x: &[P::Input], y: &[Label], threads: usize) -> P::Fitted
where
    P::Fitted: Send,
{
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| {
            params
                .fit(x, y)
                .expect("fit on the conformance data succeeds")
        })
}

/// Runs every conformance check on `params` with training data `x`, `y`.
pub fn check_estimator<P>(params: &P, x: &[P::Input], y: &[Label])
where
    P: Fit,
    P::Input: Clone,
    P::Fitted: persist::Model + PartialEq + Debug + Send + Sync,
    <P::Fitted as Transform>::Output: PartialEq + Debug,
{
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<P::Fitted>();

    // Determinism, and independence of the thread count.
    let one = fit_in_pool(params, x, y, 1);
    let again = fit_in_pool(params, x, y, 1);
    let many = fit_in_pool(params, x, y, 3);
    assert_eq!(one, again, "fit is not deterministic");
    assert_eq!(one, many, "fit depends on the number of threads");

    // Serde round trip through both file formats.
    let dir = tempfile::tempdir().unwrap();
    for name in ["m.json", "m.bin"] {
        let path = dir.path().join(name);
        persist::save(&path, &one).unwrap();
        let back: P::Fitted = persist::load(&path).unwrap();
        assert_eq!(back, one, "round trip through {name}");
    }

    // Empty input and mismatched labels are errors, not panics.
    assert!(matches!(
        params.fit(&[], &[]),
        Err(Error::EmptyInput { .. })
    ));
    let mut extra = y.to_vec();
    extra.push(0);
    assert!(matches!(
        params.fit(x, &extra),
        Err(Error::LengthMismatch { .. })
    ));

    // transform_all equals a sequential map.
    let parallel = transform_all(&one, x).unwrap();
    let sequential: Vec<_> = x.iter().map(|v| one.transform(v).unwrap()).collect();
    assert_eq!(parallel, sequential);
}

/// Two well-separated blobs in 3-D plus a third class, 60 samples.
pub fn blobs() -> (Vec<Vec<f32>>, Vec<Label>) {
    let mut rng = classic_cv::rng::Rng::new(11);
    let centres = [[0.0, 0.0, 0.0], [4.0, 4.0, 0.0], [0.0, 4.0, 4.0]];
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..60 {
        let c = i % 3;
        x.push(centres[c].iter().map(|m| m + 0.5 * rng.normal()).collect());
        y.push(c as Label);
    }
    (x, y)
}

#[test]
fn nearest_centroid_conforms() {
    let (x, y) = blobs();
    check_estimator(
        &classic_cv::centroid::NearestCentroidParams::default(),
        &x,
        &y,
    );
}

#[test]
fn standardize_then_nearest_centroid_conforms() {
    use classic_cv::centroid::NearestCentroidParams;
    use classic_cv::preprocess::StandardizeParams;
    let (x, y) = blobs();
    check_estimator(
        &StandardizeParams::default().then(NearestCentroidParams::default()),
        &x,
        &y,
    );
}

#[test]
fn default_params_validate() {
    assert!(
        classic_cv::preprocess::StandardizeParams::default()
            .validate()
            .is_ok()
    );
}

#[test]
fn random_forest_conforms() {
    let (x, y) = blobs();
    for criterion in [
        classic_cv::tree::Criterion::Gini,
        classic_cv::tree::Criterion::Entropy,
    ] {
        check_estimator(
            &classic_cv::forest::RandomForestParams {
                n_trees: 8,
                criterion,
                ..Default::default()
            },
            &x,
            &y,
        );
    }
    assert!(
        classic_cv::forest::RandomForestParams::default()
            .validate()
            .is_ok()
    );
}
