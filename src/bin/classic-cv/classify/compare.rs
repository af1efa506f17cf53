//! `compare`: classical pipelines against the small CNN on the same split, as a table
//! (Markdown and JSON) and two plots.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use classic_cv::classify::compare::{Comparison, ComparisonRow, compare_row};
use classic_cv::classify::config::{Classifier, PipelineConfig};
use classic_cv::cnn::{CnnParams, EpochRecord};
use classic_cv::datasets::Split;
use classic_cv::plot::{Chart, Series};

use crate::Globals;
use crate::classify::load_dataset;

/// The classical pipelines compared by default (the configs of `examples/configs/`).
const BUILTIN: &[(&str, &str)] = &[
    (
        "linear-svm (pixels)",
        include_str!("../../../../examples/configs/linear-svm.json"),
    ),
    (
        "softmax (pixels)",
        include_str!("../../../../examples/configs/softmax.json"),
    ),
    (
        "knn k=5 L2 (pixels)",
        include_str!("../../../../examples/configs/knn-k5-l2.json"),
    ),
    (
        "random forest 100 (pixels)",
        include_str!("../../../../examples/configs/random-forest-100.json"),
    ),
    (
        "HOG + linear SVM",
        include_str!("../../../../examples/configs/hog-svm.json"),
    ),
    (
        "dense SIFT + VLAD + SVM",
        include_str!("../../../../examples/configs/fashion-best.json"),
    ),
];

/// Arguments of `compare`.
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Dataset: `fashion-mnist` (its own train/test split), or `folder:DIR` / `npy:X.npy,Y.npy`
    /// (split 80/20, stratified, by `--seed`).
    #[arg(long, value_name = "DATASET", default_value = "fashion-mnist")]
    pub dataset: String,
    /// A classical pipeline config to compare, repeatable (default: the built-in set).
    #[arg(long = "config", value_name = "PIPELINE.json")]
    pub configs: Vec<PathBuf>,
    /// Use only the first N training images (default: all).
    #[arg(long, value_name = "N")]
    pub train_limit: Option<usize>,
    /// CNN epochs (default: the `cnn train` recipe's).
    #[arg(long, value_name = "N")]
    pub cnn_epochs: Option<usize>,
    /// Leave the CNN out.
    #[arg(long)]
    pub no_cnn: bool,
    /// Output directory for the table and plots.
    #[arg(short, long, default_value = "compare", value_name = "DIR")]
    pub output: PathBuf,
    #[command(flatten)]
    pub seed: crate::grammar::SeedArg,
}

/// `classic-cv compare`.
pub fn compare(args: &CompareArgs, g: &Globals) -> Result<()> {
    let mut inputs: Vec<&Path> = args.configs.iter().map(PathBuf::as_path).collect();
    inputs.extend(super::dataset_files(&args.dataset));
    let files: Vec<PathBuf> = OUTPUT_FILES.iter().map(|f| args.output.join(f)).collect();
    let mut outputs = vec![(args.output.as_path(), crate::output::Kind::Dir)];
    outputs.extend(
        files
            .iter()
            .map(|f| (f.as_path(), crate::output::Kind::File)),
    );
    crate::output::check(&outputs, &inputs)?;
    // Named datasets have their own test split; others are split 80/20 (stratified, seeded).
    let (train, test) = if args.dataset != "fashion-mnist" {
        let all = load_dataset(&args.dataset, Split::Train)?;
        let (tr, te) = classic_cv::classify::select::stratified_split(&all.labels, 0.2, g.seed)?;
        (all.subset(&tr), all.subset(&te))
    } else {
        (
            load_dataset(&args.dataset, Split::Train)?,
            load_dataset(&args.dataset, Split::Test)?,
        )
    };
    let train = match args.train_limit {
        Some(n) => train.truncate(n),
        None => train,
    };
    let mut methods: Vec<(String, PipelineConfig)> = Vec::new();
    if args.configs.is_empty() {
        for (name, text) in BUILTIN {
            methods.push((name.to_string(), PipelineConfig::from_json(text, name)?));
        }
    } else {
        for path in &args.configs {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let name = path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            methods.push((name, PipelineConfig::from_json(&text, path)?));
        }
    }

    let mut rows = Vec::new();
    let mut curves: Vec<Series> = Vec::new();
    for (name, config) in &methods {
        if !g.json {
            eprintln!("training {name} on {} images", train.len());
        }
        let Comparison { model, row } = compare_row(
            name,
            config,
            &train.images,
            &train.labels,
            &test.images,
            &test.labels,
        )?;
        if let Classifier::Softmax(s) = &model.classifier {
            let pts = s
                .loss_history
                .iter()
                .enumerate()
                .map(|(i, &l)| ((i + 1) as f64, l as f64))
                .collect();
            curves.push(Series::line(&format!("{name}: training loss"), pts));
        }
        rows.push(row);
    }
    if !args.no_cnn {
        let params = CnnParams {
            epochs: args.cnn_epochs.unwrap_or(CnnParams::default().epochs),
            seed: g.seed,
            ..CnnParams::default()
        };
        if !g.json {
            eprintln!(
                "training the CNN ({} epochs) on {} images",
                params.epochs,
                train.len()
            );
        }
        let Comparison { model: cnn, row } = compare_row(
            "cnn",
            &params,
            &train.images,
            &train.labels,
            &test.images,
            &test.labels,
        )?;
        let epochs = |f: &dyn Fn(&EpochRecord) -> f32| -> Vec<(f64, f64)> {
            cnn.history
                .iter()
                .map(|e| (e.epoch as f64, f(e) as f64))
                .collect()
        };
        curves.push(Series::line("cnn: training loss", epochs(&|e| e.loss)));
        curves.push(Series::line(
            "cnn: training accuracy",
            epochs(&|e| e.accuracy),
        ));
        rows.push(row);
    }
    write_outputs(
        &args.output,
        &rows,
        curves,
        &args.dataset,
        train.len(),
        test.len(),
    )?;
    if g.json {
        println!("{}", serde_json::to_string(&rows)?);
    } else {
        print!(
            "{}",
            markdown(&rows, &args.dataset, train.len(), test.len())
        );
        println!("written to {}/", args.output.display());
    }
    Ok(())
}

/// The comparison table as Markdown.
fn markdown(rows: &[ComparisonRow], dataset: &str, n_train: usize, n_test: usize) -> String {
    let mut s = format!(
        "{dataset}: {n_train} training images, {n_test} test images\n\n| method | test accuracy | training s | inference images/s | parameters | model size |\n|---|---:|---:|---:|---:|---:|\n"
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {:.4} | {:.1} | {:.0} | {} | {} |\n",
            r.method,
            r.test_accuracy,
            r.train_seconds,
            r.inference_images_per_second,
            r.n_params,
            human_bytes(r.model_bytes)
        ));
    }
    s
}

fn human_bytes(n: usize) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// The files `compare` writes into its output directory.
const OUTPUT_FILES: [&str; 4] = [
    "table.md",
    "table.json",
    "accuracy_vs_time.png",
    "learning_curves.png",
];

fn write_outputs(
    out: &Path,
    rows: &[ComparisonRow],
    curves: Vec<Series>,
    dataset: &str,
    n_train: usize,
    n_test: usize,
) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    classic_cv::persist::write_atomic(
        &out.join(OUTPUT_FILES[0]),
        markdown(rows, dataset, n_train, n_test).as_bytes(),
    )?;
    let json = serde_json::json!({
        "dataset": dataset, "n_train": n_train, "n_test": n_test, "rows": rows,
    });
    classic_cv::persist::write_atomic(
        &out.join(OUTPUT_FILES[1]),
        &serde_json::to_vec_pretty(&json)?,
    )?;
    let scatter = Chart {
        title: "accuracy vs training time".into(),
        x_label: "training seconds".into(),
        y_label: "test accuracy".into(),
        log_x: true,
        series: rows
            .iter()
            .map(|r| Series::point(&r.method, r.train_seconds.max(1e-3), r.test_accuracy as f64))
            .collect(),
    };
    scatter
        .render(720, 480)
        .save_png(out.join(OUTPUT_FILES[2]))?;
    let learning = Chart {
        title: "learning curves".into(),
        x_label: "epoch".into(),
        y_label: "loss / accuracy".into(),
        log_x: false,
        series: curves,
    };
    learning
        .render(720, 480)
        .save_png(out.join(OUTPUT_FILES[3]))?;
    Ok(())
}
