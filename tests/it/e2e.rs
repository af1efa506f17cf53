//! The end-to-end classifier: dense SIFT + codebook + VLAD / BoVW pyramid + linear SVM on a
//! synthetic image-folder tree (images of different sizes), held-out split, model reload,
//! `predict` on PNG files, and the CLI `train` / `eval --json` / `predict` / `report`.

use std::path::Path;
use std::process::Command;

use classic_cv::classify::config::{Pipeline, PipelineConfig};
use classic_cv::datasets::image_folder;
use classic_cv::pipeline::{Fit, Transform};
use classic_cv::rng::Rng;
use classic_cv::{Image, persist};

/// Class 0: horizontal stripes, 1: vertical stripes, 2: a filled disc, 3: a checkerboard;
/// random size (24..40), phase, period and noise per image.
fn synthetic(class: usize, rng: &mut Rng) -> Image {
    let w = 24 + (rng.next_u64() % 17) as usize;
    let h = 24 + (rng.next_u64() % 17) as usize;
    let period = 4 + (rng.next_u64() % 4) as usize;
    let phase = (rng.next_u64() % 8) as usize;
    let r = 6.0 + (rng.next_u64() % 5) as f32;
    let noise: Vec<f32> = (0..w * h)
        .map(|_| (rng.next_u64() % 100) as f32 / 500.0)
        .collect();
    Image::from_fn(w, h, |x, y| {
        let v = match class {
            0 => (((y + phase) / (period / 2).max(1)) % 2) as f32,
            1 => (((x + phase) / (period / 2).max(1)) % 2) as f32,
            2 => {
                let (dx, dy) = (x as f32 - w as f32 / 2.0, y as f32 - h as f32 / 2.0);
                if dx * dx + dy * dy < r * r { 1.0 } else { 0.0 }
            }
            _ => ((((x + phase) / period) + ((y + phase) / period)) % 2) as f32,
        };
        0.1 + 0.7 * v + noise[y * w + x]
    })
}

fn write_tree(root: &Path, per_class: usize) {
    let mut rng = Rng::new(7);
    for (c, name) in ["hstripes", "vstripes", "disc", "checker"]
        .iter()
        .enumerate()
    {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            synthetic(c, &mut rng)
                .save_png(dir.join(format!("{i:03}.png")))
                .unwrap();
        }
    }
}

const CONFIG: &str = r#"{"features": {"encoder": {"pad": 4, "sift": {"step": 4, "bin_size": 4},
    "encoding": "vlad", "k": 8, "pyramid": [1, 2], "codebook_images": 60, "kmeans_iter": 10}},
    "classifier": {"linear_svm": {"c": 1.0}}}"#;

#[test]
fn folder_of_mixed_sizes_trains_reloads_and_predicts_pngs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("tree");
    write_tree(&root, 30);
    let data = image_folder(&root).unwrap();
    assert_eq!(data.len(), 120);
    let sizes: std::collections::HashSet<_> = data
        .images
        .iter()
        .map(|im| (im.width(), im.height()))
        .collect();
    assert!(sizes.len() > 10, "images must have different sizes");
    // Held-out split: every third image of each class.
    let (train_idx, test_idx): (Vec<usize>, Vec<usize>) = (0..data.len()).partition(|i| i % 3 != 0);
    let train = data.subset(&train_idx);
    let test = data.subset(&test_idx);
    let config = PipelineConfig::from_json(CONFIG, "inline").unwrap();
    let model = config.fit(&train.images, &train.labels).unwrap();
    let pred = model.transform_batch(&test.images).unwrap();
    let acc = classic_cv::classify::metrics::accuracy(&test.labels, &pred).unwrap();
    // Chance is 0.25; the four textures are easy for SIFT.
    assert!(acc >= 0.9, "held-out accuracy {acc}");
    // Save, reload: identical predictions; `predict` on PNG files matches the in-memory ones.
    let path = tmp.path().join("m.bin");
    persist::save(&path, &model).unwrap();
    let back: Pipeline = persist::load(&path).unwrap();
    assert_eq!(back, model);
    assert_eq!(back.transform_batch(&test.images).unwrap(), pred);
    let file = root.join("disc/000.png");
    let from_png = back.transform(&Image::load(&file).unwrap()).unwrap();
    let at = data
        .sources
        .iter()
        .position(|s| s.ends_with("000.png") && s.contains("disc"))
        .unwrap();
    assert_eq!(from_png, model.transform(&data.images[at]).unwrap());
    assert_eq!(data.class_names[from_png as usize], "disc");
    // A corrupted model file is a clear error.
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    std::fs::write(&path, &bytes).unwrap();
    assert!(persist::load::<Pipeline>(&path).is_err());
}

#[test]
fn cli_train_eval_predict_and_report() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("tree");
    write_tree(&root, 12);
    let cfg = tmp.path().join("c.json");
    std::fs::write(&cfg, CONFIG).unwrap();
    let bin = env!("CARGO_BIN_EXE_classic-cv");
    let model = tmp.path().join("m.bin");
    let dataset = format!("folder:{}", root.display());
    let run = |args: &[&str]| {
        let out = Command::new(bin).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    run(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--dataset",
        &dataset,
        "-o",
        model.to_str().unwrap(),
    ]);
    let eval = run(&[
        "--json",
        "eval",
        model.to_str().unwrap(),
        "--dataset",
        &dataset,
    ]);
    let v: serde_json::Value = serde_json::from_str(eval.trim()).unwrap();
    assert!(v["accuracy"].as_f64().unwrap() >= 0.9, "{eval}");
    let png = root.join("vstripes/003.png");
    let pred = run(&[
        "--json",
        "predict",
        model.to_str().unwrap(),
        png.to_str().unwrap(),
    ]);
    let p: serde_json::Value = serde_json::from_str(pred.trim()).unwrap();
    assert_eq!(p["class"], "vstripes");
    // `report`: a chart from a saved grid; one colour per series.
    let grid = tmp.path().join("grid.json");
    std::fs::write(
        &grid,
        r#"[{"encoding": "vlad", "k": 16, "accuracy": 0.90}, {"encoding": "vlad", "k": 32, "accuracy": 0.91},
            {"encoding": "bovw", "k": 16, "accuracy": 0.85}, {"encoding": "bovw", "k": 32, "accuracy": 0.87}]"#,
    )
    .unwrap();
    let chart = tmp.path().join("chart.png");
    run(&[
        "report",
        "--grid",
        grid.to_str().unwrap(),
        "-o",
        chart.to_str().unwrap(),
    ]);
    let img = image::open(&chart).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (640, 420));
    let has = |c: [u8; 3]| img.pixels().any(|p| p.0 == c);
    assert!(has([220, 40, 40]) && has([40, 90, 220]));
    // The title, in black, in the band above the plot.
    assert!((0..30).any(|y| (0..640).any(|x| img.get_pixel(x, y).0 == [0, 0, 0])));
}
