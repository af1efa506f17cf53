//! `bodyparts`: synthetic depth bodies, body-part forest training, evaluation, segmentation.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use classic_cv::bodyparts::depth::DepthImage;
use classic_cv::bodyparts::synth::{self, SynthParams};
use classic_cv::bodyparts::{self, BodyPartForest, BodyPartsParams, LabelledFrame};
use classic_cv::persist;
use rayon::prelude::*;

use crate::Globals;

/// Arguments of `bodyparts`.
#[derive(Args, Debug)]
pub struct BodyPartsArgs {
    #[command(subcommand)]
    command: BodyPartsCommand,
}

#[derive(Subcommand, Debug)]
enum BodyPartsCommand {
    /// Render N synthetic depth frames (16-bit depth PNG in mm, label PNG, joints JSON).
    Synth(SynthArgs),
    /// Train a body-part forest on the frames of a directory.
    Train(TrainArgs),
    /// Evaluate a forest on the frames of a directory (pixel accuracy, mIoU, joints).
    Eval(EvalArgs),
    /// Segment one depth PNG into a colour-coded part image with a legend.
    Segment(SegmentArgs),
}

#[derive(Args, Debug)]
struct SynthArgs {
    /// Number of frames.
    #[arg(long, value_name = "N")]
    count: usize,
    /// Output directory.
    #[arg(short, long, value_name = "DIR")]
    output: PathBuf,
    /// Gaussian depth noise, metres.
    #[arg(long, value_name = "METRES", default_value_t = 0.0)]
    noise: f32,
    /// Fraction of body pixels with no reading.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0)]
    missing: f32,
    #[command(flatten)]
    seed: crate::grammar::SeedArg,
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// Directory of frames written by `bodyparts synth`.
    dir: PathBuf,
    /// Number of trees.
    #[arg(long, default_value_t = BodyPartsParams::default().n_trees)]
    trees: usize,
    /// Maximum tree depth.
    #[arg(long, default_value_t = BodyPartsParams::default().max_depth)]
    depth: usize,
    /// Class-balanced training pixels per frame.
    #[arg(long, default_value_t = BodyPartsParams::default().pixels_per_image)]
    pixels: usize,
    /// Candidate offset pairs per node.
    #[arg(long, default_value_t = BodyPartsParams::default().candidates)]
    candidates: usize,
    /// Radius of the offset disc, pixel-metres.
    #[arg(long, default_value_t = BodyPartsParams::default().radius)]
    radius: f32,
    /// Nodes with more samples score candidates on an even subset of this many.
    #[arg(long, default_value_t = BodyPartsParams::default().split_samples)]
    split_samples: usize,
    /// Use only the first N frames of the directory (default: all).
    #[arg(long, value_name = "N")]
    train_limit: Option<usize>,
    /// Output model file (`.json` or binary).
    #[arg(short, long, value_name = "MODEL")]
    output: PathBuf,
    #[command(flatten)]
    seed: crate::grammar::SeedArg,
}

#[derive(Args, Debug)]
struct EvalArgs {
    /// Model file.
    forest: PathBuf,
    /// Directory of labelled frames.
    dir: PathBuf,
    /// Write metrics.json and segmentations of the first frames here (default: not written).
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct SegmentArgs {
    /// Model file.
    forest: PathBuf,
    /// 16-bit depth PNG in millimetres (0 = no reading).
    depth: PathBuf,
    /// Output PNG.
    #[arg(short, long, value_name = "PNG")]
    output: PathBuf,
}

/// Most frames one `bodyparts synth` run renders (each is three files).
const MAX_SYNTH_FRAMES: usize = 1_000_000;

/// The files of `dir` (none when it cannot be listed: reading it reports that), the inputs
/// that an output must not replace.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn load_frames(dir: &Path, limit: Option<usize>) -> Result<Vec<LabelledFrame>> {
    let mut stems = synth::list_frames(dir)?;
    if let Some(n) = limit {
        stems.truncate(n);
    }
    stems
        .par_iter()
        .map(|s| {
            let f = synth::read_frame(dir, s)?;
            Ok(LabelledFrame::from_synth(&f)?)
        })
        .collect::<Result<Vec<_>>>()
        .with_context(|| format!("reading frames from {}", dir.display()))
}

impl BodyPartsArgs {
    /// The `--seed` of `bodyparts synth` and `bodyparts train`.
    pub fn seed(&self) -> Option<u64> {
        match &self.command {
            BodyPartsCommand::Synth(a) => a.seed.seed,
            BodyPartsCommand::Train(a) => a.seed.seed,
            _ => None,
        }
    }
}

/// `classic-cv bodyparts ...`.
pub fn run(args: &BodyPartsArgs, g: &Globals) -> Result<()> {
    match &args.command {
        BodyPartsCommand::Synth(a) => {
            let p = SynthParams {
                noise: a.noise,
                missing: a.missing,
                ..SynthParams::default()
            };
            crate::output::flags(p.validate())?;
            if a.count > MAX_SYNTH_FRAMES {
                return Err(crate::output::usage(format!(
                    "--count {}: at most {MAX_SYNTH_FRAMES} frames",
                    a.count
                )));
            }
            crate::output::check(&[(&a.output, crate::output::Kind::Dir)], &[])?;
            (0..a.count)
                .into_par_iter()
                .try_for_each(|i| -> Result<()> {
                    let f = synth::render_indexed(&p, g.seed, i as u64)?;
                    synth::write_frame(&a.output, &synth::frame_stem(i), &f)?;
                    Ok(())
                })?;
            if g.json {
                println!(
                    "{}",
                    serde_json::json!({"frames": a.count, "dir": a.output, "seed": g.seed})
                );
            } else {
                println!(
                    "wrote {} frames (seed {}) to {}",
                    a.count,
                    g.seed,
                    a.output.display()
                );
            }
        }
        BodyPartsCommand::Train(a) => {
            let params = BodyPartsParams {
                n_trees: a.trees,
                max_depth: a.depth,
                pixels_per_image: a.pixels,
                candidates: a.candidates,
                radius: a.radius,
                split_samples: a.split_samples,
                seed: g.seed,
                ..BodyPartsParams::default()
            };
            crate::output::flags(params.validate())?;
            let inputs = files_in(&a.dir);
            let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
            crate::output::check(&[(&a.output, crate::output::Kind::File)], &inputs)?;
            let frames = load_frames(&a.dir, a.train_limit)?;
            let t0 = std::time::Instant::now();
            let forest = bodyparts::train(&params, &frames)?;
            let secs = t0.elapsed().as_secs_f64();
            persist::save(&a.output, &forest)?;
            let nodes: usize = forest.trees.iter().map(|t| t.n_nodes()).sum();
            if g.json {
                println!(
                    "{}",
                    serde_json::json!({"frames": frames.len(), "train_s": secs, "nodes": nodes, "out": a.output})
                );
            } else {
                println!(
                    "trained {} trees ({nodes} nodes) on {} frames in {secs:.1} s -> {}",
                    forest.trees.len(),
                    frames.len(),
                    a.output.display()
                );
            }
        }
        BodyPartsCommand::Eval(a) => {
            if let Some(dir) = &a.report {
                let mut files = files_in(&a.dir);
                files.push(a.forest.clone());
                let inputs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
                let written: Vec<PathBuf> =
                    std::iter::once("metrics.json".to_string())
                        .chain((0..8).flat_map(|i| {
                            [format!("{i:05}_pred.png"), format!("{i:05}_truth.png")]
                        }))
                        .map(|f| dir.join(f))
                        .collect();
                let mut outputs = vec![(dir.as_path(), crate::output::Kind::Dir)];
                outputs.extend(
                    written
                        .iter()
                        .map(|f| (f.as_path(), crate::output::Kind::File)),
                );
                crate::output::check(&outputs, &inputs)?;
            }
            let forest: BodyPartForest = persist::load(&a.forest)?;
            let frames = load_frames(&a.dir, None)?;
            let m = bodyparts::metrics::evaluate(&forest, &frames)?;
            if let Some(dir) = &a.report {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                classic_cv::persist::write_atomic(
                    &dir.join("metrics.json"),
                    &serde_json::to_vec_pretty(&m)?,
                )?;
                for (i, f) in frames.iter().take(8).enumerate() {
                    let labels = forest.segment(&f.depth)?;
                    let (w, h) = (f.depth.width(), f.depth.height());
                    bodyparts::render_segmentation(&labels, w, h)?
                        .save_png(dir.join(format!("{i:05}_pred.png")))?;
                    bodyparts::render_segmentation(&f.labels, w, h)?
                        .save_png(dir.join(format!("{i:05}_truth.png")))?;
                }
            }
            if g.json {
                println!("{}", serde_json::to_string(&m)?);
            } else {
                println!(
                    "{} frames: pixel accuracy {:.4}, mean class accuracy {:.4}, mIoU {:.4}, fw-IoU {:.4}, joint error {:.3} m, joints detected {:.3}",
                    m.n_frames,
                    m.scores.pixel_accuracy,
                    m.scores.mean_class_accuracy,
                    m.scores.miou,
                    m.scores.fw_iou,
                    m.joint_mean_error,
                    m.joint_detection_rate
                );
                for (i, name) in m.part_names.iter().enumerate() {
                    println!(
                        "  {name:<16} accuracy {:.3}  IoU {:.3}",
                        m.scores.per_class_accuracy[i], m.scores.per_class_iou[i]
                    );
                }
            }
        }
        BodyPartsCommand::Segment(a) => {
            crate::output::check(
                &[(&a.output, crate::output::Kind::File)],
                &[&a.forest, &a.depth],
            )?;
            let (w, h, depth) = synth::read_depth_png(&a.depth)?;
            let forest: BodyPartForest = persist::load(&a.forest)?;
            let img = DepthImage::from_metres(w, h, depth)?;
            let labels = forest.segment(&img)?;
            bodyparts::render_segmentation(&labels, w, h)?.save_png(&a.output)?;
            if g.json {
                println!(
                    "{}",
                    serde_json::json!({"out": a.output, "width": w, "height": h})
                );
            } else {
                println!("wrote {}", a.output.display());
            }
        }
    }
    Ok(())
}
