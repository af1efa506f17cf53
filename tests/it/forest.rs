//! Random forest and the generic tree learner: Fashion-MNIST against the scikit-learn
//! anchor, determinism across thread counts, bad input, the config file.

use classic_cv::datasets::{Split, fashion_mnist};
use classic_cv::learn::forest::{MaxFeatures, RandomForest, RandomForestParams};
use classic_cv::learn::tree::Criterion;
use classic_cv::pipeline::{Fit, Label, Transform, transform_all};
use classic_cv::{Error, persist};

use crate::locate::cache;

fn fm(split: Split, n: usize) -> (Vec<Vec<f32>>, Vec<Label>) {
    let d = fashion_mnist(cache().join("fashion-mnist"), split)
        .unwrap()
        .truncate(n);
    (
        d.images.iter().map(|i| i.as_slice().to_vec()).collect(),
        d.labels,
    )
}

fn fit_with_threads(p: &RandomForestParams, x: &[Vec<f32>], y: &[Label], t: usize) -> RandomForest {
    rayon::ThreadPoolBuilder::new()
        .num_threads(t)
        .build()
        .unwrap()
        .install(|| p.fit(x, y).unwrap())
}

/// scikit-learn 1.9 `RandomForestClassifier(20, n_jobs=2, random_state=s)` on the first 5000
/// training and first 2000 test images scores 0.8285, 0.8200, 0.8270 for s = 0, 1, 2, and
/// 0.8325 with `criterion="entropy"` (s = 0). We ask for at least 0.815 with either
/// criterion, and for identical forests with 1 and 2 threads.
#[test]
fn fashion_mnist_subset_matches_sklearn_and_is_thread_independent() {
    let (x, y) = fm(Split::Train, 5000);
    let (xt, yt) = fm(Split::Test, 2000);
    for criterion in [Criterion::Gini, Criterion::Entropy] {
        let p = RandomForestParams {
            n_trees: 20,
            criterion,
            seed: 7,
            ..RandomForestParams::default()
        };
        let one = fit_with_threads(&p, &x, &y, 1);
        let two = fit_with_threads(&p, &x, &y, 2);
        assert!(one == two, "forest depends on the thread count");
        let pred = transform_all(&one, &xt).unwrap();
        let acc = pred.iter().zip(&yt).filter(|(a, b)| a == b).count() as f64 / yt.len() as f64;
        assert!(acc >= 0.815, "{criterion:?}: accuracy {acc}");
        // Fully grown trees: mostly pure leaves, the training set is (almost) memorised.
        let train_pred = transform_all(&one, &x[..500]).unwrap();
        let train_acc = train_pred.iter().zip(&y).filter(|(a, b)| a == b).count();
        assert!(train_acc >= 495, "{train_acc}");
    }
}

#[test]
fn probabilities_are_leaf_averages_and_sum_to_one() {
    let (x, y) = crate::conformance::blobs();
    let f = RandomForestParams {
        n_trees: 7,
        ..RandomForestParams::default()
    }
    .fit(&x, &y)
    .unwrap();
    for v in &x {
        let p = f.class_probabilities(v).unwrap();
        assert_eq!(p.len(), 3);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        // Naive reference: average of each tree's leaf distribution.
        let mut naive = [0f32; 3];
        for t in &f.trees {
            let d = t.predict(|&j| v[j as usize]).unwrap();
            for c in 0..3 {
                naive[c] += d[c] / 7.0;
            }
        }
        for c in 0..3 {
            assert!((naive[c] - p[c]).abs() < 1e-6);
        }
    }
}

/// Without bootstrap and with all features, every tree sees the same data and candidates:
/// the root split is the best one, found by an exhaustive naive search here.
#[test]
fn root_split_equals_naive_exhaustive_search() {
    let (x, y) = crate::conformance::blobs();
    let f = RandomForestParams {
        n_trees: 1,
        bootstrap: false,
        max_features: MaxFeatures::All,
        ..RandomForestParams::default()
    }
    .fit(&x, &y)
    .unwrap();
    let gini = |idx: &[usize]| {
        let mut c = [0f64; 3];
        idx.iter().for_each(|&i| c[y[i] as usize] += 1.0);
        let n = idx.len() as f64;
        n * (1.0 - c.iter().map(|v| (v / n).powi(2)).sum::<f64>())
    };
    let mut best = (f64::INFINITY, 0, 0.0f32);
    for j in 0..3 {
        let mut vals: Vec<f32> = x.iter().map(|r| r[j]).collect();
        vals.sort_by(f32::total_cmp);
        vals.dedup();
        for w in vals.windows(2) {
            let t = (w[0] + w[1]) / 2.0;
            let (l, r): (Vec<usize>, Vec<usize>) = (0..x.len()).partition(|&i| x[i][j] <= t);
            let cost = gini(&l) + gini(&r);
            if cost < best.0 - 1e-9 {
                best = (cost, j, t);
            }
        }
    }
    let tree = &f.trees[0];
    assert_eq!(tree.features[0] as usize, best.1);
    assert!((tree.thresholds[0] - best.2).abs() < 1e-6);
}

#[test]
fn bad_input_is_an_error() {
    let p = RandomForestParams {
        n_trees: 3,
        ..RandomForestParams::default()
    };
    let x = vec![vec![0.0, 1.0], vec![1.0, 0.0], vec![0.5, 0.5]];
    assert!(matches!(
        p.fit(&x, &[2, 2, 2]),
        Err(Error::TooFewClasses { found: 1 })
    ));
    let mut nan = x.clone();
    nan[1][1] = f32::NAN;
    assert!(matches!(
        p.fit(&nan, &[0, 1, 0]),
        Err(Error::NonFinite { .. })
    ));
    let mut inf = x.clone();
    inf[2][0] = f32::INFINITY;
    assert!(matches!(
        p.fit(&inf, &[0, 1, 0]),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        p.fit(&x, &[0, 1]),
        Err(Error::LengthMismatch {
            inputs: 3,
            labels: 2
        })
    ));
    let ragged = vec![vec![0.0, 1.0], vec![1.0]];
    assert!(matches!(
        p.fit(&ragged, &[0, 1]),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        p.fit(&[vec![], vec![]], &[0, 1]),
        Err(Error::EmptyInput { .. })
    ));
    let f = p.fit(&x, &[0, 1, 0]).unwrap();
    assert!(matches!(
        f.transform(&vec![0.0]),
        Err(Error::DimensionMismatch {
            expected: 2,
            found: 1,
            ..
        })
    ));
    assert!(matches!(
        f.transform(&vec![0.0, f32::NAN]),
        Err(Error::NonFinite { .. })
    ));
}

#[test]
fn each_validation_rule_is_checked() {
    let d = RandomForestParams::default();
    assert!(d.validate().is_ok());
    let bad = [
        (
            RandomForestParams {
                n_trees: 0,
                ..d.clone()
            },
            "n_trees",
        ),
        (
            RandomForestParams {
                max_depth: Some(0),
                ..d.clone()
            },
            "max_depth",
        ),
        (
            RandomForestParams {
                min_samples_split: 1,
                ..d.clone()
            },
            "min_samples_split",
        ),
        (
            RandomForestParams {
                max_features: MaxFeatures::Count(0),
                ..d.clone()
            },
            "max_features",
        ),
        (
            RandomForestParams {
                max_features: MaxFeatures::Fraction(0.0),
                ..d.clone()
            },
            "max_features",
        ),
        (
            RandomForestParams {
                max_features: MaxFeatures::Fraction(f32::NAN),
                ..d.clone()
            },
            "max_features",
        ),
        (
            RandomForestParams {
                max_features: MaxFeatures::Fraction(1.5),
                ..d.clone()
            },
            "max_features",
        ),
    ];
    for (p, field) in bad {
        assert!(
            matches!(p.validate(), Err(Error::InvalidParam { name, .. }) if name == field),
            "{field}"
        );
        assert!(matches!(
            p.fit(&[vec![0.0], vec![1.0]], &[0, 1]),
            Err(Error::InvalidParam { .. })
        ));
    }
}

#[test]
fn max_depth_limits_every_tree() {
    let (x, y) = fm(Split::Train, 1000);
    let f = RandomForestParams {
        n_trees: 4,
        max_depth: Some(3),
        ..RandomForestParams::default()
    }
    .fit(&x, &y)
    .unwrap();
    assert!(f.trees.iter().all(|t| t.depth() <= 3 && t.n_leaves() <= 8));
}

/// The example config parses into the params (the pipeline enum wraps them as
/// `classifier.random_forest`); unknown fields are rejected, missing ones default.
#[test]
fn config_file_parses_and_rejects_unknown_fields() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/configs/random-forest-100.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let p: RandomForestParams =
        serde_json::from_value(v["classifier"]["random_forest"].clone()).unwrap();
    assert_eq!(p, RandomForestParams::default());
    let partial: RandomForestParams = serde_json::from_str(
        r#"{"n_trees": 5, "max_features": {"count": 3}, "criterion": "entropy"}"#,
    )
    .unwrap();
    assert_eq!(partial.n_trees, 5);
    assert_eq!(partial.max_features, MaxFeatures::Count(3));
    assert_eq!(partial.criterion, Criterion::Entropy);
    assert!(serde_json::from_str::<RandomForestParams>(r#"{"n_tree": 5}"#).is_err());
}

#[test]
fn binary_model_file_round_trips_and_corruption_is_detected() {
    let (x, y) = fm(Split::Train, 2000);
    let f = RandomForestParams {
        n_trees: 5,
        ..RandomForestParams::default()
    }
    .fit(&x, &y)
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rf.bin");
    persist::save(&path, &f).unwrap();
    let back: RandomForest = persist::load(&path).unwrap();
    assert_eq!(back, f);
    // Flat arrays: about 13 bytes per node (postcard varints), not a JSON blow-up.
    let nodes: usize = f.trees.iter().map(|t| t.n_nodes()).sum();
    let size = std::fs::metadata(&path).unwrap().len() as usize;
    assert!(size < nodes * 40, "{size} bytes for {nodes} nodes");
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xFF;
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        persist::load::<RandomForest>(&path),
        Err(Error::Format { .. })
    ));
}

/// The example config runs through the pipeline config enum of the train/eval CLI.
#[test]
fn random_forest_config_trains_through_the_pipeline_enum() {
    use classic_cv::classify::config::{ClassifierConfig, PipelineConfig};
    use classic_cv::datasets::{Split, fashion_mnist};
    use classic_cv::pipeline::{Fit, Transform};
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/configs/random-forest-100.json"
    );
    let mut config =
        PipelineConfig::from_json(&std::fs::read_to_string(path).unwrap(), path).unwrap();
    let ClassifierConfig::RandomForest(p) = &mut config.classifier else {
        panic!("random-forest-100.json is not a random forest config");
    };
    p.n_trees = 10;
    let dir = crate::locate::cache().join("fashion-mnist");
    let train = fashion_mnist(&dir, Split::Train).unwrap().truncate(2000);
    let test = fashion_mnist(&dir, Split::Test).unwrap().truncate(500);
    let model = config.fit(&train.images, &train.labels).unwrap();
    let predicted = model.transform_batch(&test.images).unwrap();
    let hits = predicted
        .iter()
        .zip(&test.labels)
        .filter(|(p, t)| p == t)
        .count();
    assert!(
        hits as f32 / 500.0 > 0.7,
        "accuracy {}",
        hits as f32 / 500.0
    );
}
