//! `cnn train`, `cnn eval`, `cnn predict`: the small CNN on Fashion-MNIST.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
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
    /// Directory for metrics.json and confusion.png (as `eval --report`).
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Write the predicted labels as a u32 .npy file (as `eval --predictions`).
    #[arg(long, value_name = "PRED.npy")]
    predictions: Option<PathBuf>,
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
    // A config file's seed stands unless --seed is given (the defaults agree: 42).
    if g.seed_given || a.config.is_none() {
        p.seed = g.seed;
    }
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
    let mut outputs = Vec::new();
    if let Some(p) = &a.predictions {
        outputs.push((p.as_path(), crate::output::Kind::File));
    }
    if let Some(d) = &a.report {
        outputs.push((d.as_path(), crate::output::Kind::Dir));
    }
    crate::output::check(&outputs, &[a.model.as_path()])?;
    let model = load(&a.model)?;
    let mut test = fashion(&a.data, Split::Test)?;
    if let Some(n) = a.limit {
        test = test.truncate(n);
    }
    anyhow::ensure!(!test.is_empty(), "no test image to evaluate");
    let start = Instant::now();
    let predicted = model.transform_batch(&test.images)?;
    let seconds = start.elapsed().as_secs_f64();
    let outputs = crate::classify::EvalOutputs {
        report: a.report.as_deref(),
        predictions: a.predictions.as_deref(),
    };
    crate::classify::report_evaluation(
        &test.labels,
        &predicted,
        &test.class_names,
        seconds,
        outputs,
        g,
    )
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
        // The CNN is trained on Fashion-MNIST (the only data `cnn train` reads), so a
        // 10-class model's labels are its classes.
        let name = if model.n_classes == datasets::FASHION_MNIST_CLASSES.len() {
            datasets::FASHION_MNIST_CLASSES[label]
        } else {
            ""
        };
        crate::classify::print_prediction(path, label as u32, name, Some(prob), g);
    }
    Ok(())
}
