//! `demo` (train a small dense-SIFT + VLAD pipeline, evaluate, write a report, predict PNGs)
//! and `report` (a chart of validation accuracy against codebook size per encoding).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use classic_cv::classify::config::{Pipeline, PipelineConfig};
use classic_cv::datasets::Dataset;
use classic_cv::draw::{Canvas, text_width};
use classic_cv::pipeline::{Fit, Transform};
use classic_cv::{Image, Rect, classify::metrics, persist};
use serde::Deserialize;

use crate::Globals;

/// The demo's configuration: dense SIFT on 2x upscaled, padded images, a 32-word codebook,
/// VLAD on the whole image and on its 2x2 quadrants, linear SVM.
pub const DEMO_CONFIG: &str = r#"{
  "features": {"encoder": {"upscale": 2, "pad": 9, "sift": {"step": 4, "bin_size": 6},
               "encoding": "vlad", "k": 32, "pyramid": [1, 2], "codebook_images": 2000}},
  "classifier": {"linear_svm": {"c": 1.0}}
}"#;

/// Trains [`DEMO_CONFIG`] on the first `train_limit` training images, evaluates on the whole
/// test set, writes the report into `dir`, saves a few test images as PNG and predicts them.
pub fn run(
    train: &Dataset,
    test: &Dataset,
    dir: &Path,
    train_limit: usize,
    g: &Globals,
) -> Result<serde_json::Value> {
    let config = PipelineConfig::from_json(DEMO_CONFIG, "demo")?;
    let train = train.clone().truncate(train_limit);
    let say = |s: String| {
        if !g.json {
            println!("{s}");
        }
    };
    say(format!(
        "training dense SIFT + VLAD(32, 1+2x2 pyramid) + linear SVM on {} images",
        train.len()
    ));
    let start = Instant::now();
    let mut model = config.fit(&train.images, &train.labels)?;
    model.class_names = train.class_names.clone();
    let fit_seconds = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let predicted = model.transform_batch(&test.images)?;
    let predict_seconds = start.elapsed().as_secs_f64();
    let names = model.class_names.clone();
    let m = metrics::evaluate(&test.labels, &predicted, names.len())?;
    say(format!(
        "test accuracy {:.4} on {} images (fit {fit_seconds:.1} s, predict {predict_seconds:.1} s)",
        m.accuracy, m.n_samples
    ));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut json = serde_json::to_value(&m)?;
    json["fit_seconds"] = serde_json::json!(fit_seconds);
    json["predict_seconds"] = serde_json::json!(predict_seconds);
    json["n_train"] = serde_json::json!(train.len());
    json["class_names"] = serde_json::json!(names);
    json["config"] = serde_json::to_value(&config)?;
    persist::write_atomic(
        &dir.join("metrics.json"),
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    metrics::confusion_canvas(&m.confusion, &names).save_png(dir.join("confusion.png"))?;
    let mut table = format!(
        "{:>3}  {:<14} {:>9} {:>9} {:>9} {:>8}\n",
        "id", "class", "precision", "recall", "f1", "support"
    );
    for (i, c) in m.per_class.iter().enumerate() {
        table += &format!(
            "{i:>3}  {:<14} {:>9.4} {:>9.4} {:>9.4} {:>8}\n",
            names[i], c.precision, c.recall, c.f1, c.support
        );
    }
    std::fs::write(dir.join("per_class.txt"), &table)?;
    say(table);
    let wrong: Vec<usize> = (0..test.len())
        .filter(|&i| predicted[i] != test.labels[i])
        .take(40)
        .collect();
    misclassified_grid(test, &predicted, &wrong)?.save_png(dir.join("misclassified.png"))?;
    let model_path = dir.join("model.bin");
    persist::save(&model_path, &model)?;
    // `predict` on PNG files: the first test image of every class, saved and read back.
    let mut files = Vec::new();
    for c in 0..names.len() as u32 {
        if let Some(i) = test.labels.iter().position(|&l| l == c) {
            let p: PathBuf = dir.join(format!("sample_{c}.png"));
            test.images[i].save_png(&p)?;
            files.push((p, c));
        }
    }
    let reloaded: Pipeline = persist::load(&model_path)?;
    let mut predictions = Vec::new();
    for (p, truth) in &files {
        let label = reloaded.transform(&Image::load(p)?)?;
        say(format!(
            "predict {}: {} (true: {})",
            p.display(),
            names[label as usize],
            names[*truth as usize]
        ));
        predictions.push(serde_json::json!({"input": p, "label": label, "truth": truth}));
    }
    say(format!(
        "report written to {} (metrics.json, confusion.png, per_class.txt, misclassified.png, model.bin)",
        dir.display()
    ));
    Ok(serde_json::json!({
        "accuracy": m.accuracy, "n_train": train.len(), "n_test": m.n_samples,
        "fit_seconds": fit_seconds, "predict_seconds": predict_seconds,
        "report": dir, "predictions": predictions,
    }))
}

/// Up to 8 columns of misclassified images (3x), each captioned `T<true> P<predicted>`.
fn misclassified_grid(test: &Dataset, predicted: &[u32], wrong: &[usize]) -> Result<Canvas> {
    const COLS: usize = 8;
    const CELL: usize = 96;
    let rows = wrong.len().div_ceil(COLS).max(1);
    let mut c = Canvas::new(COLS * CELL, rows * (CELL + 14), [255, 255, 255]);
    for (j, &i) in wrong.iter().enumerate() {
        let (x, y) = ((j % COLS) * CELL, (j / COLS) * (CELL + 14));
        let im = &test.images[i];
        let big = im.resize_bilinear(im.width() * 3, im.height() * 3)?;
        c.blit_gray(&big, x as i64 + 4, y as i64 + 4);
        let text = format!("T{} P{}", test.labels[i], predicted[i]);
        c.draw_text(x as i64 + 4, (y + CELL) as i64, &text, [200, 0, 0], 1);
    }
    Ok(c)
}

/// Arguments of `report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Grid results: a JSON list of {"encoding": NAME, "k": K, "accuracy": A}.
    #[arg(long, value_name = "GRID.json")]
    pub grid: PathBuf,
    /// Output chart (PNG).
    #[arg(
        short,
        long,
        value_name = "CHART.png",
        default_value = "report/accuracy.png"
    )]
    pub output: PathBuf,
}

/// One row of a saved grid.
#[derive(Debug, Deserialize)]
pub struct GridRow {
    /// Series name (encoding, pyramid, kernel map).
    pub encoding: String,
    /// Codebook size.
    pub k: usize,
    /// Validation accuracy.
    pub accuracy: f64,
}

/// `classic-cv report`: one line per encoding of accuracy against codebook size.
pub fn report(args: &ReportArgs, g: &Globals) -> Result<()> {
    let text = std::fs::read_to_string(&args.grid)
        .with_context(|| format!("reading {}", args.grid.display()))?;
    let rows: Vec<GridRow> = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: expected a list of {{encoding, k, accuracy}}",
            args.grid.display()
        )
    })?;
    anyhow::ensure!(!rows.is_empty(), "{}: no rows", args.grid.display());
    let chart = accuracy_chart(&rows);
    if let Some(p) = args.output.parent() {
        std::fs::create_dir_all(p)?;
    }
    chart.save_png(&args.output)?;
    if g.json {
        println!(
            "{}",
            serde_json::json!({"chart": args.output, "rows": rows.len()})
        );
    } else {
        println!("{} rows -> {}", rows.len(), args.output.display());
    }
    Ok(())
}

/// A line chart: x = codebook size (log2 spaced), y = accuracy, one colour per encoding.
pub fn accuracy_chart(rows: &[GridRow]) -> Canvas {
    const W: usize = 640;
    const H: usize = 400;
    const L: usize = 60;
    const B: usize = 40;
    const T: usize = 20;
    const R: usize = 180;
    const COLOURS: [[u8; 3]; 8] = [
        [220, 40, 40],
        [40, 90, 220],
        [30, 160, 60],
        [200, 120, 0],
        [140, 50, 170],
        [0, 150, 160],
        [120, 120, 120],
        [230, 0, 140],
    ];
    let mut c = Canvas::new(W, H, [255, 255, 255]);
    let mut ks: Vec<usize> = rows.iter().map(|r| r.k.max(1)).collect();
    ks.sort_unstable();
    ks.dedup();
    let lo = rows
        .iter()
        .map(|r| r.accuracy)
        .fold(f64::INFINITY, f64::min);
    let hi = rows
        .iter()
        .map(|r| r.accuracy)
        .fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = (
        (lo * 100.0).floor() / 100.0,
        (hi * 100.0).ceil() / 100.0 + 1e-9,
    );
    let (pw, ph) = ((W - L - R) as f64, (H - T - B) as f64);
    let px = |k: usize| -> i64 {
        let i = ks.iter().position(|&v| v == k.max(1)).unwrap_or(0);
        let f = if ks.len() > 1 {
            i as f64 / (ks.len() - 1) as f64
        } else {
            0.5
        };
        (L as f64 + f * pw) as i64
    };
    let py = |a: f64| -> i64 { (T as f64 + (hi - a) / (hi - lo).max(1e-9) * ph) as i64 };
    let axis = [0, 0, 0];
    c.fill_rect(
        Rect {
            x: L as u32,
            y: T as u32,
            width: 1,
            height: ph as u32,
        },
        axis,
    );
    c.fill_rect(
        Rect {
            x: L as u32,
            y: (H - B) as u32,
            width: pw as u32,
            height: 1,
        },
        axis,
    );
    for &k in &ks {
        let s = k.to_string();
        c.draw_text(
            px(k) - text_width(&s, 1) as i64 / 2,
            (H - B + 6) as i64,
            &s,
            axis,
            1,
        );
    }
    c.draw_text(
        (L + pw as usize / 2) as i64 - 40,
        (H - 14) as i64,
        "CODEBOOK SIZE K",
        axis,
        1,
    );
    let steps = 5;
    for s in 0..=steps {
        let a = lo + (hi - lo) * s as f64 / steps as f64;
        let label = format!("{a:.3}");
        c.draw_text(4, py(a) - 3, &label, axis, 1);
        c.fill_rect(
            Rect {
                x: (L - 4) as u32,
                y: py(a) as u32,
                width: 4,
                height: 1,
            },
            axis,
        );
    }
    let mut series: Vec<&str> = Vec::new();
    for r in rows {
        if !series.contains(&r.encoding.as_str()) {
            series.push(&r.encoding);
        }
    }
    for (si, name) in series.iter().enumerate() {
        let colour = COLOURS[si % COLOURS.len()];
        let mut pts: Vec<(i64, i64)> = rows
            .iter()
            .filter(|r| r.encoding == *name)
            .map(|r| (px(r.k), py(r.accuracy)))
            .collect();
        pts.sort_unstable();
        for w in pts.windows(2) {
            line(&mut c, w[0], w[1], colour);
        }
        for &(x, y) in &pts {
            c.fill_rect(
                Rect {
                    x: (x - 2).max(0) as u32,
                    y: (y - 2).max(0) as u32,
                    width: 5,
                    height: 5,
                },
                colour,
            );
        }
        let ly = (T + 10 + 14 * si) as i64;
        c.fill_rect(
            Rect {
                x: (W - R + 10) as u32,
                y: ly as u32,
                width: 10,
                height: 7,
            },
            colour,
        );
        c.draw_text((W - R + 26) as i64, ly, &name.to_uppercase(), colour, 1);
    }
    c
}

/// A straight line by linear interpolation, one pixel per step of the longer axis.
fn line(c: &mut Canvas, (x0, y0): (i64, i64), (x1, y1): (i64, i64), colour: [u8; 3]) {
    let n = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
    for i in 0..=n {
        let x = x0 + (x1 - x0) * i / n;
        let y = y0 + (y1 - y0) * i / n;
        for d in 0..2 {
            c.put(x, y + d, colour);
        }
    }
}
