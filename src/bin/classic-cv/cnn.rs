//! `cnn train`, `cnn eval`, `cnn predict`: the small CNN (Fashion-MNIST by default; any
//! dataset spec of `train`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use classic_cv::cnn::optim::{OptimizerKind, ScheduleKind};
use classic_cv::cnn::{Cnn, CnnParams};
use classic_cv::datasets::{self, Dataset, Split};
use classic_cv::pipeline::Transform;
use classic_cv::{Image, persist};

use crate::Globals;

/// Arguments of `cnn`.
#[derive(Args, Debug)]
pub struct CnnArgs {
    #[command(subcommand)]
    command: CnnCommand,
}

#[derive(Subcommand, Debug)]
enum CnnCommand {
    /// Train the CNN, on Fashion-MNIST by default (defaults: the recipe that reaches >= 0.92
    /// test accuracy there).
    Train(TrainArgs),
    /// Evaluate a trained CNN, on the Fashion-MNIST test set by default: `eval`'s report.
    Eval(EvalArgs),
    /// Label image files with a trained CNN.
    Predict(PredictArgs),
}

/// `(default: ...)` of a training flag: the config file's value, else the recipe's.
fn recipe(value: impl std::fmt::Display) -> String {
    format!("(default: the --config file's, else {value})")
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// Where to write the model (`.json` for JSON, anything else binary).
    #[arg(short, long, value_name = "MODEL")]
    output: PathBuf,
    /// Full params as JSON (a `CnnParams`: layers, optimizer, schedule, ...); flags override
    /// (default: the built-in recipe).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Training data: fashion-mnist (its training split) | folder:DIR | npy:X.npy,Y.npy.
    #[arg(long, value_name = "DATASET", default_value = "fashion-mnist")]
    dataset: String,
    /// The deprecated `--data DIR`: a Fashion-MNIST folder.
    #[arg(long, value_name = "DIR", hide = true, conflicts_with = "dataset")]
    data: Option<PathBuf>,
    #[arg(long, value_name = "N", help = format!("Passes over the training set {}",
          recipe(CnnParams::default().epochs)))]
    epochs: Option<usize>,
    #[arg(long, value_name = "N", help = format!("Images per step {}",
          recipe(CnnParams::default().batch_size)))]
    batch_size: Option<usize>,
    /// Update rule (sgd and nesterov use momentum 0.9) (default: the --config file's, else
    /// adamw).
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerKind>,
    #[arg(long, value_name = "RATE", help = format!("Base (peak) learning rate {}",
          recipe(CnnParams::default().learning_rate)))]
    learning_rate: Option<f32>,
    /// Learning-rate schedule (step: x0.1 every third of training; cosine and linear decay
    /// to 0) (default: the --config file's, else one-cycle).
    #[arg(long, value_enum)]
    schedule: Option<ScheduleKind>,
    #[arg(long, value_name = "EPOCHS", help = format!(
          "Warm-up epochs (linear, fractional allowed) {}",
          recipe(CnnParams::default().warmup_epochs)))]
    warmup_epochs: Option<f32>,
    #[arg(long, value_name = "DECAY", help = format!(
          "Weight decay of conv and dense weights {}",
          recipe(CnnParams::default().weight_decay)))]
    weight_decay: Option<f32>,
    #[arg(long, value_name = "EPS", help = format!("Label smoothing in [0, 1) {}",
          recipe(CnnParams::default().label_smoothing)))]
    label_smoothing: Option<f32>,
    #[arg(long, value_name = "BOOL", help = format!("Random horizontal flips (true/false) {}",
          recipe(CnnParams::default().augment.flip)))]
    flip: Option<bool>,
    #[arg(long, value_name = "N", help = format!("Random shifts of up to N pixels {}",
          recipe(CnnParams::default().augment.max_shift)))]
    max_shift: Option<usize>,
    /// Train on the first N training images only (default: all).
    #[arg(long, value_name = "N")]
    train_limit: Option<usize>,
    /// Also score the test set after every epoch (learning curve; not counted as training);
    /// for fashion-mnist, whose test split is apart from its training split.
    #[arg(long)]
    eval_each_epoch: bool,
    #[command(flatten)]
    seed: crate::grammar::SeedArg,
}

#[derive(Args, Debug)]
struct EvalArgs {
    /// The trained model.
    model: PathBuf,
    /// Test data: fashion-mnist (its test split) | folder:DIR | npy:X.npy,Y.npy.
    #[arg(long, value_name = "DATASET", default_value = "fashion-mnist")]
    dataset: String,
    /// The deprecated `--data DIR`: a Fashion-MNIST folder.
    #[arg(long, value_name = "DIR", hide = true, conflicts_with = "dataset")]
    data: Option<PathBuf>,
    /// Use only the first N test samples (default: all).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Directory for metrics.json and confusion.png, as `eval --report` (default: not
    /// written).
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Write the predicted labels as a u32 .npy file, as `eval --predictions` (default: not
    /// written).
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

impl CnnArgs {
    /// The `--seed` of `cnn train`.
    pub fn seed(&self) -> Option<u64> {
        match &self.command {
            CnnCommand::Train(a) => a.seed.seed,
            _ => None,
        }
    }
}

/// `classic-cv cnn ...`.
pub fn run(args: &CnnArgs, g: &Globals) -> Result<()> {
    match &args.command {
        CnnCommand::Train(a) => train(a, g),
        CnnCommand::Eval(a) => eval(a, g),
        CnnCommand::Predict(a) => predict(a, g),
    }
}

/// The data of `--dataset SPEC`, or of the deprecated `--data DIR` (a Fashion-MNIST folder).
fn dataset(spec: &str, data: &Option<PathBuf>, split: Split) -> Result<Dataset> {
    let Some(dir) = data else {
        return crate::classify::load_dataset(spec, split);
    };
    datasets::fashion_mnist(dir, split)
        .with_context(|| format!("reading Fashion-MNIST from {}", dir.display()))
}

/// The class name of `label` for a CNN: the names it was trained with; for a model saved
/// before names were stored, a 10-class model on 28x28 images is taken for a Fashion-MNIST
/// one (its classes' names); otherwise the label number.
pub fn class_name(model: &Cnn, label: usize) -> String {
    if !model.class_names.is_empty() {
        return model
            .class_names
            .get(label)
            .cloned()
            .unwrap_or_else(|| label.to_string());
    }
    let fashion = model.n_classes == datasets::FASHION_MNIST_CLASSES.len()
        && (model.input.height, model.input.width) == (28, 28);
    match datasets::FASHION_MNIST_CLASSES.get(label) {
        Some(name) if fashion => name.to_string(),
        _ => label.to_string(),
    }
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
    if let Some(v) = a.batch_size {
        p.batch_size = v;
    }
    if let Some(o) = a.optimizer {
        p.optimizer = o.optimizer();
    }
    if let Some(v) = a.learning_rate {
        p.learning_rate = v;
    }
    if let Some(s) = a.schedule {
        p.schedule = s.schedule(p.epochs);
    }
    if let Some(v) = a.warmup_epochs {
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
    if let Some(v) = a.max_shift {
        p.augment.max_shift = v;
    }
    crate::output::flags(p.validate())?;
    Ok(p)
}

fn train(a: &TrainArgs, g: &Globals) -> Result<()> {
    if a.eval_each_epoch && a.data.is_none() && a.dataset != "fashion-mnist" {
        return Err(crate::output::usage(format!(
            "--eval-each-epoch needs a dataset with a separate test split (fashion-mnist), \
             not `{}`",
            a.dataset
        )));
    }
    let mut inputs: Vec<&std::path::Path> = a.config.iter().map(|p| p.as_path()).collect();
    inputs.extend(crate::classify::dataset_files(&a.dataset));
    crate::output::check(&[(&a.output, crate::output::Kind::File)], &inputs)?;
    let params = params_from(a, g)?;
    let mut data = dataset(&a.dataset, &a.data, Split::Train)?;
    if let Some(n) = a.train_limit {
        data = data.truncate(n);
    }
    let test = if a.eval_each_epoch {
        Some(dataset(&a.dataset, &a.data, Split::Test)?)
    } else {
        None
    };
    let eval = test.as_ref().map(|t| (&t.images[..], &t.labels[..]));
    let start = Instant::now();
    let mut model = params.fit_with_eval(&data.images, &data.labels, eval)?;
    if data.class_names.len() == model.n_classes {
        model.class_names = data.class_names.clone();
    }
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
    let mut inputs = vec![a.model.as_path()];
    inputs.extend(crate::classify::dataset_files(&a.dataset));
    crate::output::check(&outputs, &inputs)?;
    let model = load(&a.model)?;
    let mut test = dataset(&a.dataset, &a.data, Split::Test)?;
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
        let name = class_name(&model, label);
        crate::classify::print_prediction(path, label as u32, &name, Some(prob), g);
    }
    Ok(())
}
