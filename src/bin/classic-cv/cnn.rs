//! `cnn train`, `cnn eval`, `cnn predict`: the small CNN on Fashion-MNIST.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use classic_cv::classify::metrics;
use classic_cv::cnn::optim::{OptimizerKind, ScheduleKind};
use classic_cv::cnn::{Cnn, CnnParams};
use classic_cv::datasets::{self, Dataset, Split};
use classic_cv::pipeline::Transform;
use classic_cv::{Image, datasets::fetch, persist};

use crate::Globals;

/// Arguments of `cnn`.
#[derive(Args, Debug)]
pub struct CnnArgs {
    #[command(subcommand)]
    command: CnnCommand,
}

#[derive(Subcommand, Debug)]
enum CnnCommand {
    /// Train the CNN on Fashion-MNIST (defaults: the recipe that reaches >= 0.92 test accuracy).
    Train(TrainArgs),
    /// Evaluate a trained CNN on the Fashion-MNIST test set; prints metrics (`accuracy`, ...).
    Eval(EvalArgs),
    /// Label image files with a trained CNN.
    Predict(PredictArgs),
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// Where to write the model (`.json` for JSON, anything else binary).
    #[arg(short, long, value_name = "MODEL")]
    output: PathBuf,
    /// Full params as JSON (a `CnnParams`: layers, optimizer, schedule, ...); flags override.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Fashion-MNIST directory (default: the fetch cache).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Passes over the training set.
    #[arg(long)]
    epochs: Option<usize>,
    /// Images per step.
    #[arg(long)]
    batch: Option<usize>,
    /// Update rule (sgd and nesterov use momentum 0.9).
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerKind>,
    /// Base (peak) learning rate.
    #[arg(long)]
    lr: Option<f32>,
    /// Learning-rate schedule (step: x0.1 every third of training; cosine and linear decay to 0).
    #[arg(long, value_enum)]
    schedule: Option<ScheduleKind>,
    /// Warm-up epochs (linear, fractional allowed).
    #[arg(long)]
    warmup: Option<f32>,
    /// Weight decay of conv and dense weights.
    #[arg(long)]
    weight_decay: Option<f32>,
    /// Label smoothing in [0, 1).
    #[arg(long)]
    label_smoothing: Option<f32>,
    /// Random horizontal flips (true/false).
    #[arg(long)]
    flip: Option<bool>,
    /// Random shifts of up to N pixels.
    #[arg(long, value_name = "N")]
    shift: Option<usize>,
    /// Train on the first N training images only.
    #[arg(long, value_name = "N")]
    train_limit: Option<usize>,
    /// Also score the test set after every epoch (learning curve; not counted as training).
    #[arg(long)]
    eval_each_epoch: bool,
}

#[derive(Args, Debug)]
struct EvalArgs {
    /// The trained model.
    model: PathBuf,
    /// Fashion-MNIST directory (default: the fetch cache).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Evaluate on the first N test images only.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
}

#[derive(Args, Debug)]
struct PredictArgs {
    /// The trained model.
    model: PathBuf,
    /// Image files (PNG, JPEG, PGM); converted to gray, resized to the model's input.
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

/// `classic-cv cnn ...`.
pub fn run(args: &CnnArgs, g: &Globals) -> Result<()> {
    match &args.command {
        CnnCommand::Train(a) => train(a, g),
        CnnCommand::Eval(a) => eval(a, g),
        CnnCommand::Predict(a) => predict(a, g),
    }
}

fn fashion(dir: &Option<PathBuf>, split: Split) -> Result<Dataset> {
    let dir = dir
        .clone()
        .unwrap_or_else(|| fetch::default_cache_dir().join("fashion-mnist"));
    datasets::fashion_mnist(&dir, split).with_context(|| {
        format!(
            "reading Fashion-MNIST from {} (run `classic-cv fetch-data` first)",
            dir.display()
        )
    })
}

fn params_from(a: &TrainArgs, g: &Globals) -> Result<CnnParams> {
    let mut p = match &a.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            CnnParams::from_json(&text, path)?
        }
        None => CnnParams::default(),
    };
    p.seed = g.seed;
    if let Some(v) = a.epochs {
        p.epochs = v;
    }
    if let Some(v) = a.batch {
        p.batch_size = v;
    }
    if let Some(o) = a.optimizer {
        p.optimizer = o.optimizer();
    }
    if let Some(v) = a.lr {
        p.learning_rate = v;
    }
    if let Some(s) = a.schedule {
        p.schedule = s.schedule(p.epochs);
    }
    if let Some(v) = a.warmup {
        p.warmup_epochs = v;
    }
    if let Some(v) = a.weight_decay {
        p.weight_decay = v;
    }
    if let Some(v) = a.label_smoothing {
        p.label_smoothing = v;
    }
    if let Some(v) = a.flip {
        p.augment.flip = v;
    }
    if let Some(v) = a.shift {
        p.augment.max_shift = v;
    }
    crate::output::flags(p.validate())?;
    Ok(p)
}

fn train(a: &TrainArgs, g: &Globals) -> Result<()> {
    let inputs: Vec<&std::path::Path> = a.config.iter().map(|p| p.as_path()).collect();
    crate::output::check(&[(&a.output, crate::output::Kind::File)], &inputs)?;
    let params = params_from(a, g)?;
    let mut data = fashion(&a.data, Split::Train)?;
    if let Some(n) = a.train_limit {
        data = data.truncate(n);
    }
    let test = if a.eval_each_epoch {
        Some(fashion(&a.data, Split::Test)?)
    } else {
        None
    };
    let eval = test.as_ref().map(|t| (&t.images[..], &t.labels[..]));
    let start = Instant::now();
    let model = params.fit_with_eval(&data.images, &data.labels, eval)?;
    let seconds = start.elapsed().as_secs_f64();
    persist::save(&a.output, &model)
        .with_context(|| format!("saving the model to {}", a.output.display()))?;
    if g.json {
        println!(
            "{}",
            serde_json::json!({
                "model": a.output, "train_images": data.len(), "train_seconds": seconds,
                "n_params": model.n_params(), "history": model.history,
            })
        );
    } else {
        for r in &model.history {
            let eval = r
                .eval_accuracy
                .map(|v| format!("  test accuracy {v:.4}"))
                .unwrap_or_default();
            println!(
                "epoch {:>3}  loss {:.4}  train accuracy {:.4}  lr {:.2e}{eval}",
                r.epoch, r.loss, r.accuracy, r.learning_rate
            );
        }
        println!(
            "trained on {} images in {seconds:.1} s ({} parameters); saved to {}",
            data.len(),
            model.n_params(),
            a.output.display()
        );
    }
    Ok(())
}

fn load(path: &PathBuf) -> Result<Cnn> {
    persist::load(path).with_context(|| format!("loading the CNN model {}", path.display()))
}

fn eval(a: &EvalArgs, g: &Globals) -> Result<()> {
    let model = load(&a.model)?;
    let mut test = fashion(&a.data, Split::Test)?;
    if let Some(n) = a.limit {
        test = test.truncate(n);
    }
    anyhow::ensure!(!test.is_empty(), "no test image to evaluate");
    let start = Instant::now();
    let predicted = model.transform_batch(&test.images)?;
    let seconds = start.elapsed().as_secs_f64();
    let k = model.n_classes.max(test.class_names.len());
    let confusion = metrics::confusion_matrix(&test.labels, &predicted, k)?;
    let correct: u64 = (0..k).map(|i| confusion[i][i]).sum();
    let accuracy = correct as f64 / test.len() as f64;
    let per_class: Vec<f64> = confusion
        .iter()
        .enumerate()
        .map(|(i, row)| row[i] as f64 / row.iter().sum::<u64>().max(1) as f64)
        .collect();
    if g.json {
        println!(
            "{}",
            serde_json::json!({
                "model": a.model, "dataset": "fashion-mnist", "split": "test", "n": test.len(),
                "accuracy": accuracy, "correct": correct, "per_class_accuracy": per_class,
                "confusion": confusion, "class_names": test.class_names,
                "inference_seconds": seconds, "images_per_second": test.len() as f64 / seconds,
            })
        );
    } else {
        println!(
            "accuracy {accuracy:.4} ({correct} of {} test images), {:.0} images/s",
            test.len(),
            test.len() as f64 / seconds
        );
        for (name, acc) in test.class_names.iter().zip(&per_class) {
            println!("  {name:<12} {acc:.4}");
        }
    }
    Ok(())
}

fn predict(a: &PredictArgs, g: &Globals) -> Result<()> {
    let model = load(&a.model)?;
    let images = a
        .images
        .iter()
        .map(|p| Image::load(p).with_context(|| format!("reading {}", p.display())))
        .collect::<Result<Vec<_>>>()?;
    let scores = model.scores(&images)?;
    for (path, row) in a.images.iter().zip(scores.rows()) {
        let mx = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let sum: f32 = row.iter().map(|v| (v - mx).exp()).sum();
        let (label, _) =
            row.iter().enumerate().fold(
                (0, f32::NEG_INFINITY),
                |b, (i, &v)| if v > b.1 { (i, v) } else { b },
            );
        let prob = (row[label] - mx).exp() / sum;
        let name = (model.n_classes == datasets::FASHION_MNIST_CLASSES.len())
            .then(|| datasets::FASHION_MNIST_CLASSES[label]);
        if g.json {
            println!(
                "{}",
                serde_json::json!({ "image": path, "label": label, "probability": prob,
                    "fashion_mnist_class": name })
            );
        } else {
            let name = name
                .map(|n| format!(" ({n} if Fashion-MNIST)"))
                .unwrap_or_default();
            println!("{}\t{label}{name}\t{prob:.3}", path.display());
        }
    }
    Ok(())
}
