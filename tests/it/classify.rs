//! Classifiers on Fashion-MNIST subsets against frozen scikit-learn / LIBLINEAR outputs,
//! pipeline configs, model files and bad input.
//!
//! Frozen references in tests/data: `sklearn_knn_fashion_mnist.json` (written by the
//! `.py` beside it) and `liblinear_svm_reference.json` (a copy of
//! `../shared/anchors/vlfeat/svm_reference.json`, LIBLINEAR's dual CD at tol 1e-6).

use std::path::PathBuf;

use classic_cv::classify::config::{GridConfig, Pipeline, PipelineConfig};
use classic_cv::datasets::{self, Dataset, Split};
use classic_cv::learn::knn::{KnnParams, Metric, TieBreak};
use classic_cv::learn::svm::{self, LinearSvmParams, Loss};
use classic_cv::pipeline::{Fit, Label, Transform};
use classic_cv::{Error, Image, classify::select, persist};
use ndarray::ArrayView2;

use crate::locate::cache;

fn fashion(split: Split) -> Dataset {
    datasets::fashion_mnist(cache().join("fashion-mnist"), split).unwrap()
}

fn rows(d: &Dataset, n: usize) -> Vec<Vec<f32>> {
    d.images[..n]
        .iter()
        .map(|i| i.as_slice().to_vec())
        .collect()
}

fn golden() -> serde_json::Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/sklearn_knn_fashion_mnist.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn labels_of(v: &serde_json::Value) -> Vec<Label> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as Label)
        .collect()
}

#[test]
fn knn_predictions_equal_scikit_learn_brute() {
    let (train, test) = (fashion(Split::Train), fashion(Split::Test));
    let x = rows(&train, 5000);
    let q = rows(&test, 500);
    let g = golden();
    for (key, k, metric) in [
        ("knn5_l2_train5000_test500", 5, Metric::L2),
        ("knn3_l1_train5000_test500", 3, Metric::L1),
    ] {
        let knn = KnnParams {
            k,
            metric,
            tie_break: TieBreak::LowestLabel,
            ..Default::default()
        }
        .fit(&x, &train.labels[..5000])
        .unwrap();
        let got = knn.transform_batch(&q).unwrap();
        assert_eq!(got, labels_of(&g[key]), "{key}");
    }
}

#[test]
fn knn_grid_search_scores_equal_grid_search_cv() {
    let train = fashion(Split::Train);
    let x = rows(&train, 1500);
    let y = &train.labels[..1500];
    let folds = select::stratified_k_fold(y, 3).unwrap();
    // ParameterGrid order: n_neighbors outer, p inner.
    let grid: Vec<KnnParams> = [1, 3, 5]
        .iter()
        .flat_map(|&k| {
            [Metric::L1, Metric::L2].map(|metric| KnnParams {
                k,
                metric,
                tie_break: TieBreak::LowestLabel,
                ..Default::default()
            })
        })
        .collect();
    let result = select::grid_search(&grid, &x, y, &folds).unwrap();
    let g = &golden()["grid_1500"];
    // L1 distances between 8-bit images tie exactly (integer sums) far more often than L2
    // ones, and scikit-learn orders tied neighbours by the rounding of its f32 differences:
    // a fold score may differ by one or two test samples (of 500), never more.
    for (i, s) in result.scores.iter().enumerate() {
        let want = g["fold_scores"][i].as_array().unwrap();
        for (f, (&got, w)) in s.fold_scores.iter().zip(want).enumerate() {
            let w = w.as_f64().unwrap();
            let tol = if grid[i].metric == Metric::L2 {
                0.0
            } else {
                2.5 / 500.0
            };
            assert!(
                (got - w).abs() <= tol,
                "candidate {i} fold {f}: {got} vs {w}"
            );
        }
    }
    assert_eq!(result.best as u64, g["best_index"].as_u64().unwrap());
}

/// Class 0 against the rest on the first 20k training images, hinge loss, C = 1, bias 1:
/// the objective must be within 0.1% of LIBLINEAR's optimum.
#[test]
fn svm_objective_is_within_a_thousandth_of_liblinear() {
    let train = fashion(Split::Train);
    let n = 20_000;
    let flat: Vec<f32> = train.images[..n]
        .iter()
        .flat_map(|i| i.as_slice().iter().copied())
        .collect();
    let y: Vec<f32> = train.labels[..n]
        .iter()
        .map(|&l| if l == 0 { 1.0 } else { -1.0 })
        .collect();
    let x = ArrayView2::from_shape((n, 784), &flat).unwrap();
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/liblinear_svm_reference.json");
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let optimum = reference["tol_1e-06"]["objective_vlfeat_form"]
        .as_f64()
        .unwrap();
    let params = LinearSvmParams {
        c: 1.0,
        loss: Loss::Hinge,
        bias: 1.0,
        tol: 0.03,
        max_iter: 20_000,
        ..Default::default()
    };
    let model = svm::train_binary(x, &y, &params, 0).unwrap();
    let objective = svm::objective(x, &y, &model, &params);
    let gap = (objective - optimum) / optimum;
    assert!(
        gap.abs() < 1e-3,
        "objective {objective} vs LIBLINEAR {optimum}: relative gap {gap:.2e} ({} iterations)",
        model.n_iter
    );
}

#[test]
fn example_configs_parse_and_fit_a_small_subset() {
    let train = fashion(Split::Train);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/configs");
    let images = &train.images[..600];
    let labels = &train.labels[..600];
    for name in ["knn-k5-l2.json", "linear-svm.json", "softmax.json"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let config = PipelineConfig::from_json(&text, name).unwrap();
        let model = config.fit(images, labels).unwrap();
        let test = &train.images[600..800];
        let predicted = model.transform_batch(test).unwrap();
        let acc =
            classic_cv::classify::metrics::accuracy(&train.labels[600..800], &predicted).unwrap();
        assert!(acc > 0.6, "{name}: accuracy {acc}");
    }
    let grid = std::fs::read_to_string(dir.join("knn-grid.json")).unwrap();
    assert_eq!(
        GridConfig::from_json(&grid, "g")
            .unwrap()
            .candidates("g")
            .unwrap()
            .len(),
        10
    );
}

#[test]
fn knn_model_file_is_one_byte_per_pixel_and_round_trips() {
    let train = fashion(Split::Train);
    let config = PipelineConfig::from_json(
        r#"{"features": {"pixels": {}}, "classifier": {"knn": {"k": 3}}}"#,
        "inline",
    )
    .unwrap();
    let mut model = config
        .fit(&train.images[..1000], &train.labels[..1000])
        .unwrap();
    model.class_names = train.class_names.clone();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("knn.bin");
    persist::save(&path, &model).unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size < 1000 * 784 + 10_000, "{size} bytes");
    let back: Pipeline = persist::load(&path).unwrap();
    assert_eq!(back, model);
}

fn tiny_images(n: usize) -> Vec<Image> {
    (0..n)
        .map(|i| Image::from_fn(4, 4, |x, y| ((x + y + i) % 5) as f32 / 4.0))
        .collect()
}

fn config(classifier: &str) -> PipelineConfig {
    PipelineConfig::from_json(
        &format!(r#"{{"features": {{"pixels": {{}}}}, "classifier": {classifier}}}"#),
        "inline",
    )
    .unwrap()
}

const ALL: [&str; 3] = [
    r#"{"knn": {"k": 1}}"#,
    r#"{"linear_svm": {}}"#,
    r#"{"softmax": {"epochs": 2}}"#,
];

#[test]
fn a_single_class_is_an_error() {
    for c in ALL {
        let r = config(c).fit(&tiny_images(6), &[2; 6]);
        assert!(matches!(r, Err(Error::TooFewClasses { found: 1 })), "{c}");
    }
}

#[test]
fn label_count_mismatch_is_an_error() {
    for c in ALL {
        let r = config(c).fit(&tiny_images(6), &[0, 1, 0, 1, 0]);
        assert!(
            matches!(
                r,
                Err(Error::LengthMismatch {
                    inputs: 6,
                    labels: 5
                })
            ),
            "{c}"
        );
    }
}

#[test]
fn nan_features_are_an_error() {
    let mut images = tiny_images(6);
    images[3] = Image::from_fn(4, 4, |x, _| if x == 2 { f32::NAN } else { 0.0 });
    for c in ALL {
        let r = config(c).fit(&images, &[0, 1, 0, 1, 0, 1]);
        assert!(matches!(r, Err(Error::NonFinite { .. })), "{c}");
        let x: Vec<Vec<f32>> = (0..6).map(|i| vec![i as f32, f32::NAN]).collect();
        let r = match c {
            _ if c.contains("knn") => KnnParams::default()
                .fit(&x, &[0, 1, 0, 1, 0, 1])
                .map(|_| ()),
            _ if c.contains("svm") => LinearSvmParams::default()
                .fit(&x, &[0, 1, 0, 1, 0, 1])
                .map(|_| ()),
            _ => classic_cv::learn::softmax::SoftmaxParams::default()
                .fit(&x, &[0, 1, 0, 1, 0, 1])
                .map(|_| ()),
        };
        assert!(matches!(r, Err(Error::NonFinite { .. })), "{c} on vectors");
    }
}

#[test]
fn k_above_the_training_size_is_an_error() {
    let r = config(r#"{"knn": {"k": 7}}"#).fit(&tiny_images(6), &[0, 1, 0, 1, 0, 1]);
    let err = r.unwrap_err();
    assert!(matches!(err, Error::InvalidParam { name: "k", .. }));
    assert!(
        err.to_string().contains("exceeds the 6 training samples"),
        "{err}"
    );
}

#[test]
fn an_unknown_stage_is_a_clear_error() {
    let err = PipelineConfig::from_json(
        r#"{"features": {"pixels": {}}, "classifier": {"random_forrest": {}}}"#,
        "cfg.json",
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Format { .. }));
    assert!(
        msg.contains("unknown stage")
            && msg.contains("random_forrest")
            && msg.contains("linear_svm"),
        "{msg}"
    );
}
