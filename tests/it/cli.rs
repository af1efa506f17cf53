//! The command-line shell: exit codes and one-line errors.

use std::process::Command;

pub(crate) fn classic_cv(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_classic-cv"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, err) = classic_cv(&["no-such-command"]);
    assert_eq!(code, 2);
    assert!(err.contains("unrecognized subcommand"), "{err}");
    let (code, _, _) = classic_cv(&["--threads", "x", "demo"]);
    assert_eq!(code, 2);
}

#[test]
fn runtime_errors_exit_1_with_one_line() {
    let (code, _, err) = classic_cv(&["dsift", "-o", "unused.npy", "no-such-image.png"]);
    assert_eq!(code, 1);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
}

#[test]
fn verify_on_an_empty_cache_fails_and_reports_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (code, out, err) = classic_cv(&["--json", "fetch-data", "--dir", d, "--verify"]);
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(
        v["files"].as_array().unwrap().len(),
        classic_cv::datasets::fetch::MANIFEST.len()
    );
    assert!(err.contains("missing or corrupted"), "{err}");
}

/// Two classes of 28x28 images: a bright bar at the top or at the bottom, with noise (not
/// left/right: the CNN's default horizontal-flip augmentation would swap those classes).
fn bars_npy(dir: &std::path::Path, n: usize) -> String {
    use classic_cv::npy::{self, NpyArray, NpyData};
    let mut rng = classic_cv::rng::Rng::new(3);
    let mut x = Vec::with_capacity(n * 784);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let class = (i % 2) as u32;
        for row in 0..28 {
            for _col in 0..28 {
                let on = if class == 0 { row < 10 } else { row >= 18 };
                x.push(if on { 0.7 } else { 0.2 } + 0.2 * rng.next_f32());
            }
        }
        y.push(class);
    }
    let xp = dir.join("x.npy");
    let yp = dir.join("y.npy");
    npy::write(
        &xp,
        &NpyArray {
            shape: vec![n, 28, 28],
            data: NpyData::F32(x),
        },
    )
    .unwrap();
    npy::write_u32(&yp, &y).unwrap();
    format!("npy:{},{}", xp.display(), yp.display())
}

#[test]
fn compare_writes_a_table_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let spec = bars_npy(dir.path(), 400);
    let out = dir.path().join("cmp");
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/configs/linear-svm.json"
    );
    let (code, stdout, err) = classic_cv(&[
        "--json",
        "--threads",
        "2",
        "compare",
        "--dataset",
        &spec,
        "--config",
        config,
        "--cnn-epochs",
        "10",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let rows: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["method"], "linear-svm");
    assert_eq!(rows[1]["method"], "cnn");
    for r in rows {
        assert!(r["test_accuracy"].as_f64().unwrap() >= 0.9, "{r}");
        assert!(r["n_params"].as_u64().unwrap() > 0);
    }
    // The SVM stores at least 784 weights and a bias.
    assert!(rows[0]["n_params"].as_u64().unwrap() >= 785);
    let table: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("table.json")).unwrap()).unwrap();
    assert_eq!(table["n_test"], 80, "80/20 stratified split of 400 images");
    for f in ["table.md", "accuracy_vs_time.png", "learning_curves.png"] {
        assert!(out.join(f).is_file(), "{f}");
    }
}

#[test]
fn generic_eval_and_predict_accept_a_cnn_model() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("cnn.bin");
    let m = model.to_str().unwrap();
    let (code, _, err) = classic_cv(&[
        "cnn",
        "train",
        "--epochs",
        "1",
        "--train-limit",
        "600",
        "-o",
        m,
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = classic_cv(&[
        "--json",
        "eval",
        m,
        "--dataset",
        "fashion-mnist",
        "--limit",
        "300",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(v["accuracy"].as_f64().unwrap() > 0.3, "{v}");
    let png = dir.path().join("x.png");
    classic_cv::Image::from_fn(28, 28, |x, _| x as f32 / 28.0)
        .save_png(&png)
        .unwrap();
    let (code, out, err) = classic_cv(&["--json", "predict", m, png.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let generic: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let label = generic["label"].as_u64().unwrap() as usize;
    // A 10-class 28x28 CNN is a Fashion-MNIST one: its classes' names.
    assert_eq!(
        generic["class"],
        classic_cv::datasets::FASHION_MNIST_CLASSES[label],
        "{generic}"
    );

    // `cnn eval` gives `eval`'s report: the same metrics, keys and files.
    let report = dir.path().join("report");
    let pred = dir.path().join("pred.npy");
    let (code, out, err) = classic_cv(&[
        "--json",
        "cnn",
        "eval",
        m,
        "--limit",
        "300",
        "--report",
        report.to_str().unwrap(),
        "--predictions",
        pred.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let c: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    for key in [
        "accuracy",
        "confusion",
        "per_class",
        "macro_f1",
        "n_samples",
        "class_names",
        "predict_seconds",
        "images_per_second",
    ] {
        assert!(
            c.get(key).is_some() && v.get(key).is_some(),
            "{key}: {c} / {v}"
        );
    }
    assert_eq!(c["accuracy"], v["accuracy"]);
    assert_eq!(c["confusion"], v["confusion"]);
    assert_eq!(c["per_class"], v["per_class"]);
    assert!(report.join("metrics.json").is_file() && report.join("confusion.png").is_file());
    let labels = classic_cv::npy::read(&pred)
        .unwrap()
        .into_u32(&pred)
        .unwrap();
    assert_eq!(labels.len(), 300);
    // `cnn predict` prints `predict`'s keys (plus the probability) and the same label.
    let (code, out, err) = classic_cv(&["--json", "cnn", "predict", m, png.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let c: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(c["label"], generic["label"]);
    assert_eq!(c["input"], generic["input"]);
    assert_eq!(c["class"], generic["class"]);
    assert!(
        c["probability"]
            .as_f64()
            .is_some_and(|p| p > 0.0 && p <= 1.0),
        "{c}"
    );
    // The table form: path, label, class, probability.
    let (_, out, _) = classic_cv(&["cnn", "predict", m, png.to_str().unwrap()]);
    assert_eq!(out.trim_end().split('\t').count(), 4, "{out}");
}

/// `--seed`, when given, overrides the seeds of a pipeline config; without it the config's
/// seeds stand (the README promises `--seed` seeds every randomised stage).
#[test]
fn a_given_seed_overrides_the_configs_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let x = ndarray::Array2::from_shape_fn((60, 4), |(i, j)| ((i * 7 + j * 13) % 11) as f32);
    let y: Vec<u32> = (0..60).map(|i| (i % 3) as u32).collect();
    classic_cv::npy::write_array2(p("x.npy"), &x).unwrap();
    classic_cv::npy::write_u32(p("y.npy"), &y).unwrap();
    std::fs::write(
        p("c.json"),
        r#"{"features": {"pixels": {}}, "classifier": {"random_forest": {"n_trees": 3, "seed": 5}}}"#,
    )
    .unwrap();
    let dataset = format!("npy:{},{}", p("x.npy"), p("y.npy"));
    let train = |seed: Option<&str>, out: &str| {
        let (c, d, o) = (p("c.json"), dataset.clone(), p(out));
        let mut args = vec!["train", "--config", &c, "--dataset", &d, "-o", &o];
        if let Some(s) = seed {
            args.extend(["--seed", s]);
        }
        let (code, _, err) = classic_cv(&args);
        assert_eq!(code, 0, "{err}");
        std::fs::read(p(out)).unwrap()
    };
    let config_seed = train(None, "a.json");
    assert_eq!(
        config_seed,
        train(Some("5"), "b.json"),
        "--seed 5 = the config's seed 5"
    );
    let other = train(Some("6"), "c6.json");
    assert_ne!(config_seed, other, "--seed 6 must change the forest");
    let v: serde_json::Value = serde_json::from_slice(&other).unwrap();
    assert_eq!(
        v["model"]["config"]["classifier"]["random_forest"]["seed"],
        6
    );
}

/// A CNN trained on a dataset spec (not Fashion-MNIST) stores no class names: `predict` and
/// `cnn predict` print the label number as its class; `cnn eval` reads the same specs.
#[test]
fn a_cnn_on_another_dataset_names_classes_by_number() {
    let dir = tempfile::tempdir().unwrap();
    let spec = bars_npy(dir.path(), 40);
    let model = dir.path().join("bars.bin");
    let m = model.to_str().unwrap();
    train_cnn_one_epoch(&spec, m, 8);
    // Its only split is the training data: no "test accuracy" per epoch on it.
    let (code, _, err) = classic_cv(&[
        "cnn",
        "train",
        "--dataset",
        &spec,
        "--eval-each-epoch",
        "-o",
        m,
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--eval-each-epoch needs a dataset"), "{err}");
    let png = dir.path().join("top.png");
    classic_cv::Image::from_fn(28, 28, |_, y| if y < 10 { 0.8 } else { 0.2 })
        .save_png(&png)
        .unwrap();
    let png = png.to_str().unwrap();
    for (label, class) in cnn_predictions(m, png) {
        assert!(label < 2, "{label}");
        assert_eq!(class, label.to_string());
    }
    let (code, out, err) = classic_cv(&["--json", "cnn", "eval", m, "--dataset", &spec]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["n_samples"], 40, "{v}");
    // The deprecated `--data DIR` still reads a Fashion-MNIST folder, with a warning.
    let fashion = crate::locate::cache().join("fashion-mnist");
    let (code, out, err) = classic_cv(&[
        "--json",
        "cnn",
        "eval",
        m,
        "--data",
        fashion.to_str().unwrap(),
        "--limit",
        "20",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: --data is deprecated; use --dataset"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["n_samples"], 20, "{v}");
}

/// The files of a directory, by name, with their bytes.
fn files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut f: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    f.sort();
    f
}

/// Old spellings keep working for one release, each with a warning on stderr; the current
/// spellings give the same results and no warning.
#[test]
fn deprecated_spellings_still_work_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    // `--seed` before the subcommand, `--n`, `--out`.
    let (code, _, err) = classic_cv(&[
        "--seed",
        "5",
        "bodyparts",
        "synth",
        "--n",
        "1",
        "--out",
        &p("old"),
    ]);
    assert_eq!(code, 0, "{err}");
    for w in [
        "warning: --seed before the subcommand is deprecated",
        "warning: --n is deprecated; use --count",
        "warning: --out is deprecated; use -o/--output",
    ] {
        assert!(err.contains(w), "{w}: {err}");
    }
    let new = |seed: &str, out: &str| {
        let (code, _, err) = classic_cv(&[
            "bodyparts",
            "synth",
            "--count",
            "1",
            "-o",
            &p(out),
            "--seed",
            seed,
        ]);
        assert_eq!(code, 0, "{err}");
        assert!(!err.contains("warning"), "{err}");
        files(&dir.path().join(out))
    };
    let old = files(&dir.path().join("old"));
    assert_eq!(old, new("5", "new"), "the old spelling's seed was honoured");
    assert_ne!(old, new("6", "other"), "the seed changes the frame");

    // `kmeans --k` = `kmeans --clusters`.
    let x = ndarray::Array2::from_shape_fn((30, 2), |(i, j)| ((i * 5 + j * 3) % 7) as f32);
    classic_cv::npy::write_array2(p("x.npy"), &x).unwrap();
    let (code, _, err) = classic_cv(&["kmeans", &p("x.npy"), "--k", "3", "-o", &p("k.npy")]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: --k is deprecated; use --clusters"),
        "{err}"
    );
    let (code, _, err) = classic_cv(&["kmeans", &p("x.npy"), "--clusters", "3", "-o", &p("c.npy")]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read(p("k.npy")).unwrap(),
        std::fs::read(p("c.npy")).unwrap()
    );

    // `detect --frames DIR` = `detect --image-dir DIR`.
    std::fs::create_dir_all(p("imgs")).unwrap();
    classic_cv::Image::from_fn(64, 48, |x, y| ((x * y) % 17) as f32 / 17.0)
        .save_png(dir.path().join("imgs/a.png"))
        .unwrap();
    let (code, old, err) = classic_cv(&["detect", "--frames", &p("imgs")]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: --frames is deprecated; use --image-dir"),
        "{err}"
    );
    let (code, new, err) = classic_cv(&["detect", "--image-dir", &p("imgs")]);
    assert_eq!((code, new.as_str()), (0, old.as_str()), "{err}");

    // `--seed` on a command without random stages: ignored, with a warning.
    let (code, _, err) = classic_cv(&[
        "--seed",
        "3",
        "hog",
        &p("imgs/a.png"),
        "--cell",
        "4",
        "-o",
        &p("h.npy"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("`hog` has no random stage: --seed is ignored"),
        "{err}"
    );
    let (code, _, err) = classic_cv(&["hog", &p("imgs/a.png"), "--seed", "3", "-o", &p("h.npy")]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("--seed is ignored"), "{err}");
}

/// `cnn train` for one epoch on a dataset spec, saved to `model`.
fn train_cnn_one_epoch(spec: &str, model: &str, batch: usize) {
    let batch = batch.to_string();
    let (code, _, err) = classic_cv(&[
        "cnn",
        "train",
        "--dataset",
        spec,
        "--epochs",
        "1",
        "--batch-size",
        &batch,
        "-o",
        model,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("warning"), "{err}");
}

/// The label and class that `predict` and then `cnn predict` (`--json`) give `png`.
fn cnn_predictions(model: &str, png: &str) -> Vec<(usize, String)> {
    [
        vec!["--json", "predict", model, png],
        vec!["--json", "cnn", "predict", model, png],
    ]
    .iter()
    .map(|args| {
        let (code, out, err) = classic_cv(args);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let label = v["label"].as_u64().unwrap() as usize;
        (label, v["class"].as_str().unwrap().to_string())
    })
    .collect()
}

/// A CNN trained on a folder of class folders keeps the folders' names: `predict` and `cnn
/// predict` print them.
#[test]
fn a_cnn_on_class_folders_prints_their_names() {
    let dir = tempfile::tempdir().unwrap();
    for (class, top) in [("bottom", false), ("top", true)] {
        let sub = dir.path().join("data").join(class);
        std::fs::create_dir_all(&sub).unwrap();
        for i in 0..6 {
            let shade = 0.05 * i as f32;
            classic_cv::Image::from_fn(28, 28, |_, y| {
                if (y < 10) == top {
                    0.8 - shade
                } else {
                    0.1 + shade
                }
            })
            .save_png(sub.join(format!("{i}.png")))
            .unwrap();
        }
    }
    let spec = format!("folder:{}", dir.path().join("data").display());
    let model = dir.path().join("bars.bin");
    let m = model.to_str().unwrap();
    train_cnn_one_epoch(&spec, m, 4);
    let png = dir.path().join("data/top/0.png");
    let png = png.to_str().unwrap();
    for (label, class) in cnn_predictions(m, png) {
        assert_eq!(class, ["bottom", "top"][label]);
    }
}
