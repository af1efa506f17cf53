//! `train`, `eval`, `predict` and `select`: image classification pipelines.

pub mod compare;
pub mod demo;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use classic_cv::classify::config::{GridConfig, Pipeline, PipelineConfig};
use classic_cv::datasets::{self, Dataset, Split};
use classic_cv::pipeline::{Fit, Transform};
use classic_cv::{Image, classify::metrics, classify::select, datasets::fetch, npy, persist};

use crate::Globals;

/// Where a dataset comes from (`--dataset`).
const DATASET_HELP: &str = "fashion-mnist | folder:DIR | npy:X.npy,Y.npy";

/// Arguments of `train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Pipeline config (JSON; see examples/configs/).
    #[arg(long, value_name = "PIPELINE.json")]
    pub config: PathBuf,
    /// Training data: fashion-mnist (its training split) | folder:DIR | npy:X.npy,Y.npy.
    #[arg(long, value_name = "DATASET")]
    pub dataset: String,
    /// Use only the first N training samples (default: all).
    #[arg(long, value_name = "N")]
    pub train_limit: Option<usize>,
    /// Where to save the model (.bin: compact binary, .json: text).
    #[arg(short, long, value_name = "MODEL")]
    pub output: PathBuf,
    #[command(flatten)]
    pub seed: crate::grammar::SeedArg,
}

/// Arguments of `eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A model saved by `train`.
    pub model: PathBuf,
    /// Test data: fashion-mnist (its test split) | folder:DIR | npy:X.npy,Y.npy.
    #[arg(long, value_name = "DATASET")]
    pub dataset: String,
    /// Use only the first N test samples (default: all).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Directory for metrics.json and confusion.png (default: not written).
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Write the predicted labels as a u32 .npy file (default: not written).
    #[arg(long, value_name = "PRED.npy")]
    pub predictions: Option<PathBuf>,
}

/// Arguments of `predict`.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A model saved by `train`.
    pub model: PathBuf,
    /// Image files (PNG, JPEG, PGM).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

/// Arguments of `select`.
#[derive(Args, Debug)]
pub struct SelectArgs {
    /// Grid file: {"base": PIPELINE, "grid": {"classifier.knn.k": [1, 3], ...}}.
    #[arg(long, value_name = "GRID.json")]
    pub grid: PathBuf,
    /// Data to cross-validate on: fashion-mnist (training split) | folder:DIR | npy:X.npy,Y.npy.
    #[arg(long, value_name = "DATASET")]
    pub dataset: String,
    /// Number of stratified folds.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub folds: usize,
    /// Use only the first N samples (default: all).
    #[arg(long, value_name = "N")]
    pub train_limit: Option<usize>,
    #[command(flatten)]
    pub seed: crate::grammar::SeedArg,
    /// Where to write the best config.
    #[arg(
        short,
        long,
        value_name = "PIPELINE.json",
        default_value = "best-config.json"
    )]
    pub output: PathBuf,
}

/// Loads `spec` (`fashion-mnist`, `folder:DIR` or `npy:X.npy,Y.npy`); named datasets use
/// `split`.
pub fn load_dataset(spec: &str, split: Split) -> Result<Dataset> {
    if spec == "fashion-mnist" {
        let dir = fetch::default_cache_dir().join("fashion-mnist");
        return datasets::fashion_mnist(&dir, split).with_context(|| {
            format!(
                "reading Fashion-MNIST from {} (run `classic-cv fetch-data` first)",
                dir.display()
            )
        });
    }
    if let Some(dir) = spec.strip_prefix("folder:") {
        return Ok(datasets::image_folder(dir)?);
    }
    if let Some(pair) = spec.strip_prefix("npy:") {
        let (xp, yp) = pair
            .split_once(',')
            .with_context(|| format!("`{spec}`: expected npy:X.npy,Y.npy"))?;
        return load_npy(Path::new(xp), Path::new(yp));
    }
    bail!("unknown dataset `{spec}`: expected {DATASET_HELP}")
}

/// X of shape (N, H, W) gives H x W images; (N, D) gives D x 1 images (one row of
/// features each, which the `pixels` stage turns back into the row).
fn load_npy(xp: &Path, yp: &Path) -> Result<Dataset> {
    let x = npy::read(xp)?;
    let labels = npy::read(yp)?.into_u32(yp)?;
    let (n, w, h) = match x.shape.as_slice() {
        [n, h, w] => (*n, *w, *h),
        [n, d] => (*n, *d, 1),
        s => bail!(
            "{}: expected shape (N, H, W) or (N, D), found {s:?}",
            xp.display()
        ),
    };
    if labels.len() != n {
        return Err(classic_cv::Error::LengthMismatch {
            inputs: n,
            labels: labels.len(),
        })
        .with_context(|| format!("{} and {}", xp.display(), yp.display()));
    }
    if n == 0 || w == 0 {
        bail!("{}: no samples", xp.display());
    }
    let data = x.into_f32();
    let images = data
        .chunks_exact(w * h)
        .map(|c| Image::new(w, h, c.to_vec()))
        .collect::<classic_cv::Result<Vec<_>>>()?;
    if let Some(&big) = labels.iter().max() {
        classic_cv::limits::check_label(big, &yp.display().to_string())?;
    }
    let n_classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    Ok(Dataset {
        images,
        labels,
        class_names: (0..n_classes).map(|c| c.to_string()).collect(),
        sources: (0..n).map(|i| format!("{}:{i}", xp.display())).collect(),
    })
}

fn limited(d: Dataset, limit: Option<usize>) -> Dataset {
    match limit {
        Some(n) => d.truncate(n),
        None => d,
    }
}

/// The files a dataset spec reads (the two arrays of `npy:X.npy,Y.npy`; none otherwise), for
/// the output checks.
pub fn dataset_files(spec: &str) -> Vec<&Path> {
    match spec.strip_prefix("npy:") {
        Some(files) => files.split(',').map(Path::new).collect(),
        None => Vec::new(),
    }
}

/// `classic-cv train`.
pub fn train(args: &TrainArgs, g: &Globals) -> Result<()> {
    let mut inputs: Vec<&Path> = vec![&args.config];
    inputs.extend(dataset_files(&args.dataset));
    crate::output::check(&[(&args.output, crate::output::Kind::File)], &inputs)?;
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let mut config = PipelineConfig::from_json(&text, &args.config)?;
    if g.seed_given {
        config = config.with_seed(g.seed);
    }
    let data = limited(load_dataset(&args.dataset, Split::Train)?, args.train_limit);
    let start = Instant::now();
    let mut model = config
        .fit(&data.images, &data.labels)
        .context("training the pipeline")?;
    let fit_seconds = start.elapsed().as_secs_f64();
    model.class_names = data.class_names.clone();
    persist::save(&args.output, &model)
        .with_context(|| format!("saving {}", args.output.display()))?;
    if g.json {
        println!(
            "{}",
            serde_json::json!({
                "model": args.output, "n_train": data.len(), "fit_seconds": fit_seconds,
            })
        );
    } else {
        println!(
            "trained on {} samples in {fit_seconds:.2} s -> {}",
            data.len(),
            args.output.display()
        );
    }
    Ok(())
}

/// A model file of either kind that maps images to labels: a classical pipeline (`train`)
/// or a CNN (`cnn train`). `eval` and `predict` accept both.
enum ImageClassifier {
    Pipeline(Box<Pipeline>),
    Cnn(Box<classic_cv::cnn::Cnn>),
}

impl ImageClassifier {
    fn load(path: &Path) -> Result<Self> {
        match persist::load::<Pipeline>(path) {
            Ok(m) => Ok(ImageClassifier::Pipeline(Box::new(m))),
            Err(classic_cv::Error::WrongModelKind { found, .. })
                if found == <classic_cv::cnn::Cnn as persist::Model>::kind() =>
            {
                Ok(ImageClassifier::Cnn(Box::new(persist::load(path)?)))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn transform_batch(&self, images: &[Image]) -> classic_cv::Result<Vec<u32>> {
        match self {
            ImageClassifier::Pipeline(m) => m.transform_batch(images),
            ImageClassifier::Cnn(m) => m.transform_batch(images),
        }
    }

    /// The size `predict` must give `img` for this model: `None` when it takes `img` as it
    /// is (a CNN resizes by itself; dense SIFT encoders take any size), the square size
    /// whose features have the model's length otherwise. An image that no square size fits
    /// is refused, naming `path` and what the model expects.
    fn input_size(&self, img: &Image, path: &Path) -> Result<Option<(usize, usize)>> {
        use classic_cv::classify::config::{Classifier, Features};
        let ImageClassifier::Pipeline(m) = self else {
            return Ok(None);
        };
        let dim = match &m.classifier {
            Classifier::Knn(k) => k.dim(),
            Classifier::LinearSvm(s) => s.classifiers.first().map_or(0, |b| b.w.len()),
            Classifier::Softmax(s) => s.weights.ncols(),
            Classifier::RandomForest(f) => f.n_features,
        };
        let (w, h) = (img.width(), img.height());
        // What the model expects, and the feature length of a w x h image.
        let what = match &m.features {
            Features::Encoder(_) => return Ok(None),
            Features::Pixels(_) => format!("images of {dim} pixels"),
            Features::Hog(_) => format!("images whose HOG has {dim} values"),
        };
        let len = |w: usize, h: usize| match &m.features {
            Features::Pixels(_) => w.checked_mul(h),
            Features::Hog(hog) => hog.output_len(w, h).ok(),
            Features::Encoder(_) => None,
        };
        if len(w, h) == Some(dim) {
            return Ok(None);
        }
        match (1..=4096).find(|&s| len(s, s) == Some(dim)) {
            Some(s) => Ok(Some((s, s))),
            None => bail!(
                "{}: a {w}x{h} image, but the model expects {what} (no square size gives \
                 that); resize the image to the training images' size",
                path.display()
            ),
        }
    }

    /// Class names stored with the model (a CNN stores none; the dataset's are used).
    fn class_names(&self) -> &[String] {
        match self {
            ImageClassifier::Pipeline(m) => &m.class_names,
            ImageClassifier::Cnn(_) => &[],
        }
    }

    /// The name `predict` prints for `label`: the model's class name; for a CNN, which
    /// stores none, [`crate::cnn::class_name`]; the label number when there is no name.
    fn class_name(&self, label: u32) -> String {
        match self {
            ImageClassifier::Pipeline(m) => m
                .class_names
                .get(label as usize)
                .cloned()
                .unwrap_or_else(|| label.to_string()),
            ImageClassifier::Cnn(m) => crate::cnn::class_name(m, label as usize),
        }
    }
}

/// `classic-cv eval`.
pub fn eval(args: &EvalArgs, g: &Globals) -> Result<()> {
    let mut outputs = Vec::new();
    if let Some(p) = &args.predictions {
        outputs.push((p.as_path(), crate::output::Kind::File));
    }
    if let Some(d) = &args.report {
        outputs.push((d.as_path(), crate::output::Kind::Dir));
    }
    crate::output::check(&outputs, &[&args.model])?;
    let model = ImageClassifier::load(&args.model)?;
    let data = limited(load_dataset(&args.dataset, Split::Test)?, args.limit);
    let start = Instant::now();
    let predicted = model
        .transform_batch(&data.images)
        .context("predicting the test set")?;
    let predict_seconds = start.elapsed().as_secs_f64();
    let names = if model.class_names().is_empty() {
        data.class_names.clone()
    } else {
        model.class_names().to_vec()
    };
    let outputs = EvalOutputs {
        report: args.report.as_deref(),
        predictions: args.predictions.as_deref(),
    };
    report_evaluation(
        &data.labels,
        &predicted,
        &names,
        predict_seconds,
        outputs,
        g,
    )
}

/// Where an evaluation writes its files, besides stdout.
pub struct EvalOutputs<'a> {
    /// `--report DIR`: metrics.json and confusion.png.
    pub report: Option<&'a Path>,
    /// `--predictions FILE`: the predicted labels as a u32 .npy.
    pub predictions: Option<&'a Path>,
}

/// The one evaluation report of `eval` and `cnn eval`: accuracy, per-class precision, recall,
/// F1 and support, the confusion matrix (JSON with `--json`, a table otherwise), and the
/// files of `outputs` (already checked by the caller).
pub fn report_evaluation(
    truth: &[u32],
    predicted: &[u32],
    names: &[String],
    predict_seconds: f64,
    outputs: EvalOutputs<'_>,
    g: &Globals,
) -> Result<()> {
    let n_classes = names
        .len()
        .max(predicted.iter().map(|&l| l as usize + 1).max().unwrap_or(0))
        .max(truth.iter().map(|&l| l as usize + 1).max().unwrap_or(0));
    let m = metrics::evaluate(truth, predicted, n_classes)?;
    let mut json = serde_json::to_value(&m)?;
    json["predict_seconds"] = serde_json::json!(predict_seconds);
    json["images_per_second"] = serde_json::json!(m.n_samples as f64 / predict_seconds.max(1e-9));
    json["class_names"] = serde_json::json!(names);
    if let Some(p) = outputs.predictions {
        npy::write_u32(p, predicted)?;
    }
    if let Some(dir) = outputs.report {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        persist::write_atomic(
            &dir.join("metrics.json"),
            serde_json::to_string_pretty(&json)?.as_bytes(),
        )?;
        metrics::confusion_canvas(&m.confusion, names).save_png(dir.join("confusion.png"))?;
    }
    if g.json {
        println!("{json}");
        return Ok(());
    }
    println!(
        "accuracy {:.4} on {} samples (predicted in {predict_seconds:.2} s)",
        m.accuracy, m.n_samples
    );
    println!(
        "{:>3}  {:<14} {:>9} {:>9} {:>9} {:>8}",
        "id", "class", "precision", "recall", "f1", "support"
    );
    for (i, c) in m.per_class.iter().enumerate() {
        let name = names.get(i).map_or("", String::as_str);
        println!(
            "{i:>3}  {name:<14} {:>9.4} {:>9.4} {:>9.4} {:>8}",
            c.precision, c.recall, c.f1, c.support
        );
    }
    println!(
        "     {:<14} {:>9.4} {:>9.4} {:>9.4}",
        "macro", m.macro_precision, m.macro_recall, m.macro_f1
    );
    Ok(())
}

/// One line of `predict` and `cnn predict`: `PATH<TAB>LABEL<TAB>CLASS` (and the probability
/// when the model gives one), or JSON `{"input", "label", "class"[, "probability"]}`.
pub fn print_prediction(
    path: &Path,
    label: u32,
    class: &str,
    probability: Option<f32>,
    g: &Globals,
) {
    if g.json {
        let mut v = serde_json::json!({ "input": path, "label": label, "class": class });
        if let Some(p) = probability {
            v["probability"] = serde_json::json!(p);
        }
        println!("{v}");
    } else {
        match probability {
            Some(p) => println!("{}\t{label}\t{class}\t{p:.3}", path.display()),
            None => println!("{}\t{label}\t{class}", path.display()),
        }
    }
}

/// `classic-cv predict`.
pub fn predict(args: &PredictArgs, g: &Globals) -> Result<()> {
    let model = ImageClassifier::load(&args.model)?;
    let mut images = Vec::with_capacity(args.inputs.len());
    for path in &args.inputs {
        let img = Image::load(path)?;
        let img = match model.input_size(&img, path)? {
            Some((w, h)) => {
                eprintln!(
                    "{}: resized from {}x{} to {w}x{h}, the model's input size",
                    path.display(),
                    img.width(),
                    img.height()
                );
                img.resize_bilinear(w, h)
                    .with_context(|| path.display().to_string())?
            }
            None => img,
        };
        images.push(img);
    }
    let labels = match model.transform_batch(&images) {
        Ok(l) => l,
        Err(e) => {
            // Name the image that failed: rerun image by image.
            for (p, img) in args.inputs.iter().zip(&images) {
                model
                    .transform_batch(std::slice::from_ref(img))
                    .with_context(|| p.display().to_string())?;
            }
            return Err(e.into());
        }
    };
    for (path, &l) in args.inputs.iter().zip(&labels) {
        print_prediction(path, l, &model.class_name(l), None, g);
    }
    Ok(())
}

/// `classic-cv select`.
pub fn select(args: &SelectArgs, g: &Globals) -> Result<()> {
    let mut inputs: Vec<&Path> = vec![&args.grid];
    inputs.extend(dataset_files(&args.dataset));
    crate::output::check(&[(&args.output, crate::output::Kind::File)], &inputs)?;
    let text = std::fs::read_to_string(&args.grid)
        .with_context(|| format!("reading {}", args.grid.display()))?;
    let grid = GridConfig::from_json(&text, &args.grid)?;
    let candidates = grid.candidates(&args.grid)?;
    let data = limited(load_dataset(&args.dataset, Split::Train)?, args.train_limit);
    let folds = select::stratified_k_fold(&data.labels, args.folds)?;
    // Encoder stages (dense SIFT + codebook + encoding) are fitted and applied once per fold
    // and reused by every candidate that differs only in the classifier.
    let cache = classic_cv::encode::encoder::EncodingCache::new(4 << 30);
    let configs: Vec<PipelineConfig> = candidates
        .iter()
        .map(|(_, c)| match g.seed_given {
            true => c.clone().with_seed(g.seed),
            false => c.clone(),
        })
        .collect();
    let names: Vec<String> = candidates.iter().map(|(n, _)| n.clone()).collect();
    let start = Instant::now();
    let result =
        select::grid_search_pipelines(&configs, &data.images, &data.labels, &folds, &cache)?;
    let seconds = start.elapsed().as_secs_f64();
    let best = &configs[result.best];
    persist::write_atomic(
        &args.output,
        format!("{}\n", serde_json::to_string_pretty(best)?).as_bytes(),
    )?;
    if g.json {
        println!(
            "{}",
            serde_json::json!({
                "candidates": names, "scores": result.scores, "best": result.best,
                "best_name": names[result.best], "seconds": seconds, "output": args.output,
            })
        );
    } else {
        print!("{}", result.table(&names));
        println!(
            "best: {} (mean accuracy {:.4}); {} candidates x {} folds in {seconds:.1} s -> {}",
            names[result.best],
            result.scores[result.best].mean,
            configs.len(),
            folds.len(),
            args.output.display()
        );
    }
    Ok(())
}
