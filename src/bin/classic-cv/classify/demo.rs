//! `demo` (train a small dense-SIFT + VLAD pipeline, evaluate, write a report, predict PNGs)
//! and `report` (a chart of validation accuracy against codebook size per encoding).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use classic_cv::classify::config::{Pipeline, PipelineConfig};
use classic_cv::datasets::Dataset;
use classic_cv::draw::Canvas;
use classic_cv::pipeline::{Fit, Transform};
use classic_cv::plot::{self, CategoryPoint};
use classic_cv::{Image, classify::metrics, persist};
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
    classic_cv::persist::write_atomic(&dir.join("per_class.txt"), table.as_bytes())?;
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

/// Up to 8 columns of misclassified images (3x), each captioned with its true class (green)
/// and the predicted one (red), by name, under a title line.
fn misclassified_grid(test: &Dataset, predicted: &[u32], wrong: &[usize]) -> Result<Canvas> {
    const COLS: usize = 8;
    const CELL: usize = 112;
    const CAPTION: usize = 24;
    const TITLE: usize = 24;
    let rows = wrong.len().div_ceil(COLS).max(1);
    let mut c = Canvas::new(
        COLS * CELL,
        TITLE + rows * (CELL + CAPTION),
        [255, 255, 255],
    );
    c.draw_text(
        4,
        6,
        "MISCLASSIFIED TEST IMAGES: TRUE CLASS (GREEN), PREDICTED (RED)",
        [0, 0, 0],
        1,
    );
    // A caption is cut to the cell's width (6 pixels a character).
    let fit = |name: &str| -> String { name.chars().take((CELL - 8) / 6).collect() };
    let name = |label: u32| -> String {
        test.class_names
            .get(label as usize)
            .map_or_else(|| label.to_string(), |n| fit(n))
    };
    for (j, &i) in wrong.iter().enumerate() {
        let (x, y) = ((j % COLS) * CELL, TITLE + (j / COLS) * (CELL + CAPTION));
        let im = &test.images[i];
        let scale = ((CELL - 8) / im.width().max(im.height()).max(1)).max(1);
        let big = im.resize_bilinear(im.width() * scale, im.height() * scale)?;
        c.blit_gray(&big, x as i64 + 4, y as i64 + 4);
        let under = (y + CELL - 4) as i64;
        c.draw_text(x as i64 + 4, under, &name(test.labels[i]), [0, 140, 0], 1);
        c.draw_text(
            x as i64 + 4,
            under + 11,
            &name(predicted[i]),
            [200, 0, 0],
            1,
        );
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
    crate::output::check(&[(&args.output, crate::output::Kind::File)], &[&args.grid])?;
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

/// A line chart: x = codebook size (evenly spaced in sorted order), y = accuracy, one line
/// per encoding.
pub fn accuracy_chart(rows: &[GridRow]) -> Canvas {
    let points: Vec<CategoryPoint> = rows
        .iter()
        .map(|r| CategoryPoint {
            series: r.encoding.clone(),
            x: r.k,
            y: r.accuracy,
        })
        .collect();
    let text = plot::ChartText {
        title: "ACCURACY AGAINST CODEBOOK SIZE",
        x_label: "CODEBOOK SIZE K",
        y_label: "VALIDATION ACCURACY",
    };
    plot::category_chart(text, &points)
}
