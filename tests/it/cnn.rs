//! The CNN: determinism across thread counts, model files, learning, parameter validation.

use classic_cv::cnn::network::LayerSpec;
use classic_cv::cnn::optim::{Optimizer, Schedule};
use classic_cv::cnn::train::Augment;
use classic_cv::cnn::{Cnn, CnnParams};
use classic_cv::pipeline::{Fit, Label, Transform};
use classic_cv::rng::Rng;
use classic_cv::{Error, Image, persist};

/// `n` noisy 10x10 images of 4 shapes at random positions: a horizontal bar, a vertical
/// bar, a diagonal, a hollow square. Label = shape.
pub fn shapes(n: usize, seed: u64) -> (Vec<Image>, Vec<Label>) {
    let mut rng = Rng::new(seed);
    let mut images = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = (i % 4) as u32;
        let (ox, oy) = (rng.below(4) as i32, rng.below(4) as i32);
        let mut noise: Vec<f32> = (0..100).map(|_| 0.15 * rng.next_f32()).collect();
        let on = |x: i32, y: i32| -> bool {
            let (u, v) = (x - ox, y - oy);
            if !(0..6).contains(&u) || !(0..6).contains(&v) {
                return false;
            }
            match class {
                0 => v == 3,
                1 => u == 3,
                2 => u == v,
                _ => u == 0 || v == 0 || u == 5 || v == 5,
            }
        };
        for y in 0..10 {
            for x in 0..10 {
                if on(x, y) {
                    noise[(y * 10 + x) as usize] += 0.8;
                }
            }
        }
        images.push(Image::new(10, 10, noise).unwrap());
        labels.push(class);
    }
    (images, labels)
}

/// A small network using every kind of layer.
pub fn small_params() -> CnnParams {
    CnnParams {
        layers: vec![
            LayerSpec::Conv2d {
                out_channels: 6,
                kernel: 3,
                stride: 1,
                padding: 1,
            },
            LayerSpec::BatchNorm {
                momentum: 0.1,
                eps: 1e-5,
            },
            LayerSpec::LeakyRelu { slope: 0.01 },
            LayerSpec::MaxPool { size: 2, stride: 2 },
            LayerSpec::Conv2d {
                out_channels: 8,
                kernel: 3,
                stride: 2,
                padding: 1,
            },
            LayerSpec::Relu,
            LayerSpec::Dropout { rate: 0.2 },
            LayerSpec::Dense { out_features: 16 },
            LayerSpec::Relu,
            LayerSpec::Dense { out_features: 4 },
        ],
        epochs: 12,
        batch_size: 16,
        learning_rate: 5e-3,
        augment: Augment {
            flip: false,
            max_shift: 1,
        },
        ..CnnParams::default()
    }
}

fn fit_in_pool(p: &CnnParams, x: &[Image], y: &[Label], threads: usize) -> Cnn {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| p.fit(x, y).unwrap())
}

#[test]
fn same_seed_same_weights_with_one_and_two_threads() {
    let (x, y) = shapes(60, 1);
    let p = CnnParams {
        epochs: 2,
        ..small_params()
    };
    let one = fit_in_pool(&p, &x, &y, 1);
    let two = fit_in_pool(&p, &x, &y, 2);
    assert_eq!(one.weights, two.weights);
    assert_eq!(one.buffers, two.buffers);
    assert_eq!(one.history, two.history);
    let other = fit_in_pool(&CnnParams { seed: 7, ..p }, &x, &y, 2);
    assert_ne!(one.weights, other.weights);
}

#[test]
fn learns_a_synthetic_task() {
    let (x, y) = shapes(480, 2);
    let (tx, ty) = shapes(200, 3);
    let model = small_params().fit(&x, &y).unwrap();
    let predicted = model.transform_batch(&tx).unwrap();
    let acc = predicted.iter().zip(&ty).filter(|(p, t)| p == t).count() as f32 / ty.len() as f32;
    assert!(acc >= 0.95, "test accuracy {acc}");
    let h = &model.history;
    assert_eq!(h.len(), 12);
    assert!(h[11].loss < h[0].loss, "{h:?}");
    // Chance is 0.25; the last epoch's training accuracy is far above it.
    assert!(h[11].accuracy > 0.9, "{h:?}");
}

#[test]
fn every_optimizer_and_schedule_reduces_the_loss() {
    let (x, y) = shapes(160, 4);
    let opts = [
        (
            Optimizer::Sgd {
                momentum: 0.9,
                nesterov: false,
            },
            0.05,
        ),
        (
            Optimizer::Sgd {
                momentum: 0.9,
                nesterov: true,
            },
            0.05,
        ),
        (Optimizer::adam(), 5e-3),
        (Optimizer::adamw(), 5e-3),
    ];
    let schedules = [
        Schedule::Constant,
        Schedule::Step {
            every_epochs: 2,
            gamma: 0.5,
        },
        Schedule::Cosine {
            final_fraction: 0.0,
        },
        Schedule::Linear {
            final_fraction: 0.1,
        },
        Schedule::OneCycle {
            peak_fraction: 0.3,
            start_div: 25.0,
            final_div: 1e4,
        },
    ];
    for (i, (optimizer, lr)) in opts.into_iter().enumerate() {
        let p = CnnParams {
            optimizer,
            learning_rate: lr,
            schedule: schedules[i % schedules.len()].clone(),
            warmup_epochs: 0.5,
            epochs: 4,
            ..small_params()
        };
        let h = p.fit(&x, &y).unwrap().history;
        assert!(h[3].loss < h[0].loss, "{:?}: {h:?}", p.optimizer);
    }
    let p = CnnParams {
        schedule: schedules[4].clone(),
        epochs: 4,
        ..small_params()
    };
    let h = p.fit(&x, &y).unwrap().history;
    assert!(h[3].loss < h[0].loss && h[3].learning_rate < 1e-4, "{h:?}");
}

#[test]
fn eval_set_is_scored_every_epoch_without_changing_training() {
    let (x, y) = shapes(80, 5);
    let p = CnnParams {
        epochs: 2,
        ..small_params()
    };
    let plain = p.fit(&x, &y).unwrap();
    let with = p.fit_with_eval(&x, &y, Some((&x[..20], &y[..20]))).unwrap();
    assert_eq!(plain.weights, with.weights);
    let last = with.history[1].eval_accuracy.unwrap();
    let predicted = with.transform_batch(&x[..20]).unwrap();
    let acc = predicted
        .iter()
        .zip(&y[..20])
        .filter(|(p, t)| p == t)
        .count() as f32
        / 20.0;
    assert_eq!(last, acc);
}

#[test]
fn model_file_round_trips_and_truncation_is_a_clear_error() {
    let (x, y) = shapes(40, 6);
    let model = CnnParams {
        epochs: 1,
        ..small_params()
    }
    .fit(&x, &y)
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cnn.bin");
    persist::save(&path, &model).unwrap();
    let back: Cnn = persist::load(&path).unwrap();
    assert_eq!(back, model);
    assert_eq!(
        back.transform_batch(&x).unwrap(),
        model.transform_batch(&x).unwrap()
    );
    let bytes = std::fs::read(&path).unwrap();
    for keep in [bytes.len() / 2, bytes.len() - 1, 20] {
        std::fs::write(&path, &bytes[..keep]).unwrap();
        match persist::load::<Cnn>(&path) {
            Err(Error::Format { reason, .. }) => {
                assert!(reason.contains("truncated"), "{reason}")
            }
            other => panic!("expected a truncation error, got {other:?}"),
        }
    }
}

#[test]
fn scores_and_labels_agree_and_other_sizes_are_resized() {
    let (x, y) = shapes(40, 8);
    let model = CnnParams {
        epochs: 1,
        ..small_params()
    }
    .fit(&x, &y)
    .unwrap();
    let scores = model.scores(&x[..5]).unwrap();
    assert_eq!(scores.shape(), &[5, 4]);
    let labels = model.transform_batch(&x[..5]).unwrap();
    for (row, l) in scores.rows().into_iter().zip(labels) {
        let best = (0..4).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        assert_eq!(best as u32, l);
    }
    let big = x[0].resize_bilinear(20, 20).unwrap();
    assert!(model.transform(&big).unwrap() < 4);
}

#[test]
fn bad_inputs_are_errors() {
    let (x, y) = shapes(8, 9);
    let p = CnnParams {
        epochs: 1,
        ..small_params()
    };
    assert!(matches!(
        p.fit(&x, &[1; 8]),
        Err(Error::TooFewClasses { .. })
    ));
    let mut odd = x.clone();
    odd[3] = Image::new(9, 10, vec![0.0; 90]).unwrap();
    assert!(matches!(
        p.fit(&odd, &y),
        Err(Error::DimensionMismatch { .. })
    ));
    let mut nan = x.clone();
    nan[2] = Image::new(10, 10, vec![f32::NAN; 100]).unwrap();
    assert!(matches!(p.fit(&nan, &y), Err(Error::NonFinite { .. })));
    let six: Vec<Label> = (0..8).map(|i| i % 6).collect();
    let narrow = CnnParams {
        layers: vec![LayerSpec::Dense { out_features: 4 }],
        ..p.clone()
    };
    assert!(matches!(
        narrow.fit(&x, &six),
        Err(Error::InvalidParam { name: "layers", .. })
    ));
    // A 1x1 image cannot be max-pooled by 2x2.
    let tiny: Vec<Image> = (0..8)
        .map(|_| Image::new(1, 1, vec![0.5]).unwrap())
        .collect();
    assert!(matches!(
        p.fit(&tiny, &y),
        Err(Error::InvalidParam { name: "layers", .. })
    ));
}

fn rejects(p: CnnParams, name: &str) {
    match p.validate() {
        Err(Error::InvalidParam { name: n, .. }) => assert_eq!(n, name),
        other => panic!("expected InvalidParam {name}, got {other:?}"),
    }
    let (x, y) = shapes(8, 1);
    assert!(matches!(p.fit(&x, &y), Err(Error::InvalidParam { .. })));
}

#[test]
fn epochs_must_be_positive() {
    rejects(
        CnnParams {
            epochs: 0,
            ..Default::default()
        },
        "epochs",
    );
}

#[test]
fn batch_size_must_be_positive() {
    rejects(
        CnnParams {
            batch_size: 0,
            ..Default::default()
        },
        "batch_size",
    );
}

#[test]
fn learning_rate_must_be_positive_and_finite() {
    rejects(
        CnnParams {
            learning_rate: 0.0,
            ..Default::default()
        },
        "learning_rate",
    );
    rejects(
        CnnParams {
            learning_rate: f32::NAN,
            ..Default::default()
        },
        "learning_rate",
    );
}

#[test]
fn weight_decay_must_be_non_negative() {
    rejects(
        CnnParams {
            weight_decay: -1e-4,
            ..Default::default()
        },
        "weight_decay",
    );
}

#[test]
fn warmup_must_be_non_negative() {
    rejects(
        CnnParams {
            warmup_epochs: -1.0,
            ..Default::default()
        },
        "warmup_epochs",
    );
}

#[test]
fn label_smoothing_must_be_below_one() {
    rejects(
        CnnParams {
            label_smoothing: 1.0,
            ..Default::default()
        },
        "label_smoothing",
    );
}

#[test]
fn optimizer_constants_must_be_in_range() {
    let optimizer = Optimizer::Adam {
        beta1: 1.0,
        beta2: 0.999,
        eps: 1e-8,
    };
    rejects(
        CnnParams {
            optimizer,
            ..Default::default()
        },
        "optimizer",
    );
}

#[test]
fn schedule_constants_must_be_in_range() {
    let schedule = Schedule::Linear {
        final_fraction: -0.5,
    };
    rejects(
        CnnParams {
            schedule,
            ..Default::default()
        },
        "schedule",
    );
}

#[test]
fn layers_must_be_valid() {
    rejects(
        CnnParams {
            layers: vec![],
            ..Default::default()
        },
        "layers",
    );
    let layers = vec![LayerSpec::Dropout { rate: 1.5 }];
    rejects(
        CnnParams {
            layers,
            ..Default::default()
        },
        "layers",
    );
}

#[test]
fn params_read_from_a_config_file() {
    let json = r#"{
        "layers": [
            {"conv2d": {"out_channels": 8, "kernel": 3, "padding": 1}},
            {"batch_norm": {"momentum": 0.1, "eps": 1e-5}},
            "relu",
            {"max_pool": {"size": 2, "stride": 2}},
            {"dropout": {"rate": 0.25}},
            {"dense": {"out_features": 10}}
        ],
        "optimizer": {"sgd": {"momentum": 0.9, "nesterov": true}},
        "schedule": {"cosine": {"final_fraction": 0.0}},
        "epochs": 3
    }"#;
    let p: CnnParams = serde_json::from_str(json).unwrap();
    assert_eq!(p.epochs, 3);
    assert_eq!(p.batch_size, CnnParams::default().batch_size);
    assert_eq!(
        p.layers[0],
        LayerSpec::Conv2d {
            out_channels: 8,
            kernel: 3,
            stride: 1,
            padding: 1
        }
    );
    assert!(p.validate().is_ok());
    let back: CnnParams = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);
    assert!(serde_json::from_str::<CnnParams>(r#"{"epochz": 3}"#).is_err());
}

#[test]
fn default_network_is_the_reference_one() {
    let p = CnnParams::default();
    assert!(p.validate().is_ok());
    let net = classic_cv::cnn::network::Network::plan(
        &p.layers,
        classic_cv::cnn::network::Shape {
            height: 28,
            width: 28,
            channels: 1,
        },
    )
    .unwrap();
    // conv 1->32: 9*32+32, conv 32->64: 288*64+64, dense 3136->128, dense 128->10.
    assert_eq!(net.n_params, 320 + 18_496 + 401_536 + 1_290);
    assert_eq!(net.layers[6].input.len(), 3136);
}

#[test]
fn compare_row_reports_the_cnn() {
    let (x, y) = shapes(80, 10);
    let (tx, ty) = shapes(40, 11);
    let p = CnnParams {
        epochs: 2,
        ..small_params()
    };
    let classic_cv::classify::compare::Comparison { model, row } =
        classic_cv::classify::compare::compare_row("cnn", &p, &x, &y, &tx, &ty).unwrap();
    assert_eq!(row.n_params, model.n_params());
    let predicted = model.transform_batch(&tx).unwrap();
    let acc = predicted.iter().zip(&ty).filter(|(p, t)| p == t).count() as f32 / 40.0;
    assert_eq!(row.test_accuracy, acc);
    // The binary payload holds every weight as 4 bytes, plus the params and history.
    assert!(
        row.model_bytes >= 4 * model.n_params() && row.model_bytes < 4 * model.n_params() + 4096
    );
    assert!(row.train_seconds > 0.0 && row.inference_images_per_second > 0.0);
}
