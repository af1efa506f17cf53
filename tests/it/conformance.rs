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
        &classic_cv::learn::centroid::NearestCentroidParams::default(),
        &x,
        &y,
    );
}

#[test]
fn standardize_then_nearest_centroid_conforms() {
    use classic_cv::learn::centroid::NearestCentroidParams;
    use classic_cv::learn::preprocess::StandardizeParams;
    let (x, y) = blobs();
    check_estimator(
        &StandardizeParams::default().then(NearestCentroidParams::default()),
        &x,
        &y,
    );
}

#[test]
fn cnn_conforms() {
    let (x, y) = super::cnn::shapes(40, 12);
    let params = classic_cv::cnn::CnnParams {
        epochs: 2,
        ..super::cnn::small_params()
    };
    check_estimator(&params, &x, &y);
}

#[test]
fn default_params_validate() {
    assert!(
        classic_cv::learn::preprocess::StandardizeParams::default()
            .validate()
            .is_ok()
    );
    assert!(classic_cv::cnn::CnnParams::default().validate().is_ok());
    assert!(
        classic_cv::learn::knn::KnnParams::default()
            .validate()
            .is_ok()
    );
    assert!(
        classic_cv::learn::svm::LinearSvmParams::default()
            .validate()
            .is_ok()
    );
    assert!(
        classic_cv::learn::softmax::SoftmaxParams::default()
            .validate()
            .is_ok()
    );
    assert!(
        classic_cv::features::pixels::Pixels::default()
            .validate()
            .is_ok()
    );
}

/// Runtime choice of a stage is an enum of params implementing `Fit` by `match`, with an
/// enum of fitted models implementing `Transform`: both serialise with serde.
mod runtime_choice {
    use classic_cv::learn::centroid::{NearestCentroid, NearestCentroidParams};
    use classic_cv::learn::preprocess::{Standardize, StandardizeParams};
    use classic_cv::pipeline::{Fit, Label, Transform};
    use classic_cv::{Result, persist};
    use serde::{Deserialize, Serialize};

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Scaling {
        None,
        Standardize(StandardizeParams),
    }

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub enum FittedScaling {
        None,
        Standardize(Standardize),
    }

    impl Fit for Scaling {
        type Input = Vec<f32>;
        type Fitted = FittedScaling;
        fn fit(&self, x: &[Vec<f32>], y: &[Label]) -> Result<FittedScaling> {
            classic_cv::pipeline::check_fit_inputs(x, y)?;
            Ok(match self {
                Scaling::None => FittedScaling::None,
                Scaling::Standardize(p) => FittedScaling::Standardize(p.fit(x, y)?),
            })
        }
    }

    impl Transform for FittedScaling {
        type Input = Vec<f32>;
        type Output = Vec<f32>;
        fn transform(&self, x: &Vec<f32>) -> Result<Vec<f32>> {
            match self {
                FittedScaling::None => Ok(x.clone()),
                FittedScaling::Standardize(s) => s.transform(x),
            }
        }
    }

    impl persist::Model for FittedScaling {
        fn kind() -> String {
            "scaling".into()
        }
    }

    #[test]
    fn enum_chosen_at_runtime_conforms_and_parses_from_json() {
        let (x, y) = super::blobs();
        for config in [r#""none""#, r#"{"standardize": {"min_std": 0.001}}"#] {
            let scaling: Scaling = serde_json::from_str(config).unwrap();
            let params = scaling.then(NearestCentroidParams::default());
            super::check_estimator(&params, &x, &y);
            let _: classic_cv::Chain<FittedScaling, NearestCentroid> = params.fit(&x, &y).unwrap();
        }
        let unknown = serde_json::from_str::<Scaling>(r#"{"whiten": {}}"#).unwrap_err();
        assert!(unknown.to_string().contains("unknown variant"), "{unknown}");
    }
}

#[test]
fn dense_sift_conforms() {
    let images: Vec<classic_cv::Image> = (0..4)
        .map(|k| {
            classic_cv::Image::from_fn(40 + k, 36, |x, y| {
                ((x * (k + 3) + y * y) % 11) as f32 / 10.0
            })
        })
        .collect();
    check_estimator(
        &classic_cv::features::sift::DenseSift {
            step: 3,
            bin_size: 4,
            ..classic_cv::features::sift::DenseSift::default()
        },
        &images,
        &[0, 1, 0, 1],
    );
}

/// Ten small "images" of 2-D descriptors around three centres, with positions.
fn local_feature_sets() -> (Vec<classic_cv::encode::encoder::LocalFeatures>, Vec<Label>) {
    let mut rng = classic_cv::rng::Rng::new(5);
    let centres = [[0.0f32, 0.0], [4.0, 0.0], [0.0, 4.0]];
    let images = (0..10)
        .map(|i| {
            let n = 5 + i;
            let mut d = ndarray::Array2::<f32>::zeros((n, 2));
            for r in 0..n {
                let c = centres[(r + i) % 3];
                d[[r, 0]] = c[0] + 0.3 * rng.normal();
                d[[r, 1]] = c[1] + 0.3 * rng.normal();
            }
            classic_cv::encode::encoder::LocalFeatures {
                descriptors: d,
                positions: (0..n)
                    .map(|r| [r as f32 * 3.0, (r * 7 % 16) as f32])
                    .collect(),
                width: 48,
                height: 16,
            }
        })
        .collect();
    (images, (0..10).map(|i| i % 2).collect())
}

#[test]
fn kmeans_conforms() {
    use classic_cv::encode::kmeans::{KMeansAlgorithm, KMeansParams};
    let (x, y) = blobs();
    for algorithm in [
        KMeansAlgorithm::Lloyd,
        KMeansAlgorithm::Hamerly,
        KMeansAlgorithm::MiniBatch { batch_size: 16 },
    ] {
        let p = KMeansParams {
            k: 3,
            algorithm,
            max_iter: 10,
            ..Default::default()
        };
        check_estimator(&p, &x, &y);
    }
}

#[test]
fn bovw_conforms() {
    use classic_cv::encode::bovw::{BovwAssignment, BovwParams};
    use classic_cv::encode::kmeans::KMeansParams;
    let (x, y) = local_feature_sets();
    let kmeans = KMeansParams {
        k: 3,
        subsample: Some(50),
        ..Default::default()
    };
    check_estimator(
        &BovwParams {
            kmeans: kmeans.clone(),
            pyramid: vec![1, 2],
            ..Default::default()
        },
        &x,
        &y,
    );
    check_estimator(
        &BovwParams {
            kmeans,
            assignment: BovwAssignment::Soft {
                sigma: 1.0,
                n_nearest: 2,
            },
            ..Default::default()
        },
        &x,
        &y,
    );
}

#[test]
fn vlad_conforms() {
    use classic_cv::encode::kmeans::KMeansParams;
    use classic_cv::encode::vlad::VladParams;
    let (x, y) = local_feature_sets();
    check_estimator(
        &VladParams {
            kmeans: KMeansParams {
                k: 3,
                ..Default::default()
            },
            ..Default::default()
        },
        &x,
        &y,
    );
}

#[test]
fn homkermap_conforms() {
    let (x, y) = blobs();
    let x: Vec<Vec<f32>> = x
        .iter()
        .map(|v| v.iter().map(|a| a.abs()).collect())
        .collect();
    check_estimator(&classic_cv::encode::homkermap::HomKerMap::default(), &x, &y);
}

#[test]
fn encoding_default_params_validate() {
    assert!(
        classic_cv::encode::kmeans::KMeansParams::default()
            .validate()
            .is_ok()
    );
    assert!(
        classic_cv::encode::bovw::BovwParams::default()
            .validate()
            .is_ok()
    );
    assert!(
        classic_cv::encode::vlad::VladParams::default()
            .validate()
            .is_ok()
    );
    assert!(
        classic_cv::encode::homkermap::HomKerMap::default()
            .validate()
            .is_ok()
    );
}

#[test]
fn fisher_conforms() {
    use classic_cv::encode::fisher::FisherParams;
    use classic_cv::encode::gmm::GmmParams;
    let (x, y) = local_feature_sets();
    check_estimator(
        &FisherParams {
            gmm: GmmParams {
                k: 3,
                max_iter: 5,
                ..Default::default()
            },
            ..Default::default()
        },
        &x,
        &y,
    );
}

#[test]
fn knn_conforms() {
    use classic_cv::learn::knn::{Algorithm, KnnParams, Metric};
    let (x, y) = blobs();
    for metric in [Metric::L1, Metric::L2, Metric::Chi2, Metric::Cosine] {
        let x: Vec<Vec<f32>> = if metric == Metric::Chi2 {
            x.iter()
                .map(|r| r.iter().map(|v| v.abs()).collect())
                .collect()
        } else {
            x.clone()
        };
        check_estimator(
            &KnnParams {
                k: 3,
                metric,
                algorithm: Algorithm::Brute,
                ..Default::default()
            },
            &x,
            &y,
        );
    }
    check_estimator(&KnnParams::default(), &x, &y);
}

#[test]
fn linear_svm_conforms() {
    use classic_cv::learn::svm::{LinearSvmParams, Loss, Solver};
    let (x, y) = blobs();
    for solver in [Solver::DualCd, Solver::Sgd] {
        for loss in [Loss::Hinge, Loss::SquaredHinge] {
            check_estimator(
                &LinearSvmParams {
                    solver,
                    loss,
                    max_iter: 50,
                    ..Default::default()
                },
                &x,
                &y,
            );
        }
    }
}

#[test]
fn softmax_conforms() {
    use classic_cv::learn::softmax::{SoftmaxParams, UpdateRule};
    let (x, y) = blobs();
    for optimizer in [
        UpdateRule::Sgd,
        UpdateRule::Momentum,
        UpdateRule::Nesterov,
        UpdateRule::Adam,
    ] {
        check_estimator(
            &SoftmaxParams {
                optimizer,
                epochs: 5,
                batch_size: 8,
                ..Default::default()
            },
            &x,
            &y,
        );
    }
}

#[test]
fn pipeline_config_conforms() {
    use classic_cv::Image;
    use classic_cv::classify::config::PipelineConfig;
    let (x, y) = blobs();
    let images: Vec<Image> = x
        .iter()
        .map(|r| Image::new(3, 1, r.clone()).unwrap())
        .collect();
    for classifier in [
        r#"{"knn": {"k": 3}}"#,
        r#"{"linear_svm": {"c": 0.1}}"#,
        r#"{"softmax": {"epochs": 3}}"#,
    ] {
        let config = PipelineConfig::from_json(
            &format!(
                r#"{{"features": {{"pixels": {{}}}}, "standardize": {{}}, "classifier": {classifier}}}"#
            ),
            "inline",
        )
        .unwrap();
        check_estimator(&config, &images, &y);
    }
}

#[test]
fn random_forest_conforms() {
    let (x, y) = blobs();
    for criterion in [
        classic_cv::learn::tree::Criterion::Gini,
        classic_cv::learn::tree::Criterion::Entropy,
    ] {
        check_estimator(
            &classic_cv::learn::forest::RandomForestParams {
                n_trees: 8,
                criterion,
                ..Default::default()
            },
            &x,
            &y,
        );
    }
    assert!(
        classic_cv::learn::forest::RandomForestParams::default()
            .validate()
            .is_ok()
    );
}

#[test]
fn dense_sift_encoder_conforms() {
    use classic_cv::encode::encoder::{EncoderParams, Encoding};
    let (x, y) = super::cnn::shapes(12, 20);
    let params = EncoderParams {
        sift: classic_cv::features::sift::DenseSift {
            step: 4,
            bin_size: 4,
            ..Default::default()
        },
        encoding: Encoding::Vlad,
        pad: 4,
        k: 4,
        pyramid: vec![1, 2],
        kmeans_iter: 5,
        ..Default::default()
    };
    check_estimator(&params, &x, &y);
}
