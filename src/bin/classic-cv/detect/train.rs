//! `classic-cv train-cascade`: train a Haar cascade and write it as OpenCV XML.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use classic_cv::detect::train::adaboost::Boost;
use classic_cv::detect::train::augment::{PositiveAugment, augment_positives};
use classic_cv::detect::train::mining::{Mining, background_regions};
use classic_cv::detect::train::pool::PoolMode;
use classic_cv::detect::train::{CascadeTrainingParams, train};
use classic_cv::image::{Image, Rect, parse_size};

use crate::Globals;

/// `classic-cv train-cascade`.
#[derive(Args, Debug)]
pub struct TrainCascadeArgs {
    /// Positives: a folder of object crops, a dlib imglab boxes.xml, or `lfw` (the 100 face
    /// crops of scikit-image's lfw_subset.npy in the data cache).
    #[arg(long, required = true, num_args = 1..)]
    positives: Vec<String>,
    /// Backgrounds: images or folders of them (must not contain the object), `lfw` (the
    /// 100 non-face crops of lfw_subset.npy), or a dlib imglab boxes.xml whose photos are
    /// used away from their boxes (see `--negative-margin`).
    #[arg(long, required = true, num_args = 1..)]
    negatives: Vec<PathBuf>,
    /// For a boxes.xml given to `--negatives`: the regions kept clear around each box, as
    /// a fraction of its side.
    #[arg(long, default_value_t = 0.5)]
    negative_margin: f32,
    /// Detection window WxH (sides 3 to 256).
    #[arg(long, default_value = "24x24")]
    window: String,
    /// Number of stages.
    #[arg(long, default_value_t = 20)]
    stages: usize,
    /// Minimum hit rate per stage.
    #[arg(long, default_value_t = 0.995)]
    min_hit_rate: f32,
    /// Maximum false-alarm rate per stage.
    #[arg(long, default_value_t = 0.5)]
    max_false_alarm: f32,
    /// Boosting variant.
    #[arg(long, value_enum, default_value_t = Boost::Gentle)]
    boost: Boost,
    /// Feature types.
    #[arg(long, value_enum, default_value_t = PoolMode::Basic)]
    mode: PoolMode,
    /// Positive windows generated (with augmentation) and used per stage.
    #[arg(long, default_value_t = 2000)]
    num_pos: usize,
    /// Negative windows per stage.
    #[arg(long, default_value_t = 2000)]
    num_neg: usize,
    /// Maximum stumps per stage.
    #[arg(long, default_value_t = 100)]
    max_weak: usize,
    /// Random subset of the feature pool (0: all features).
    #[arg(long, default_value_t = 0)]
    max_features: usize,
    /// Most background windows drawn (or scanned) per stage when mining hard negatives
    /// (training stops when fewer than a tenth of `--num-neg` are found in them).
    #[arg(long, default_value_t = 2_000_000_000)]
    max_neg_draws: usize,
    /// How hard negatives are found: random windows, or random windows while cheap and
    /// then scans of the backgrounds' pyramids with the cascade so far.
    #[arg(long, value_enum, default_value_t = Mining::Scan)]
    mining: Mining,
    /// Memory for feature values, in MiB.
    #[arg(long, default_value_t = 512)]
    memory_mb: usize,
    /// Checkpoint file (default: OUTPUT with `.state` appended); an existing one resumes.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Also save our own model file (persist format) here (default: not written).
    #[arg(long, value_name = "FILE")]
    model_out: Option<PathBuf>,
    /// Output cascade (OpenCV XML).
    #[arg(short, long, value_name = "XML")]
    output: PathBuf,
    #[command(flatten)]
    pub seed: crate::grammar::SeedArg,
}

/// Image files of a folder (sorted) or the file itself.
fn image_files(p: &Path) -> Result<Vec<PathBuf>> {
    if p.is_dir() {
        crate::ui::images_in(p)
    } else {
        Ok(vec![p.to_path_buf()])
    }
}

/// The 100 faces of scikit-image's LFW subset (shape 200x25x25, faces first).
pub fn lfw_faces() -> Result<Vec<(Image, Rect)>> {
    lfw_crops(0..100)
}

/// Crops `range` of scikit-image's LFW subset (shape 200x25x25: 100 faces, then 100
/// non-faces), each with its whole frame as the box.
fn lfw_crops(range: std::ops::Range<usize>) -> Result<Vec<(Image, Rect)>> {
    let path = classic_cv::datasets::fetch::default_cache_dir().join("skimage/lfw_subset.npy");
    let arr = classic_cv::npy::read(&path).with_context(|| "run `classic-cv fetch-data` first")?;
    if arr.shape != [200, 25, 25] {
        bail!(
            "{}: expected shape 200x25x25, found {:?}",
            path.display(),
            arr.shape
        );
    }
    let data = arr.into_f32();
    range
        .map(|i| {
            let img = Image::new(25, 25, data[i * 625..(i + 1) * 625].to_vec())?;
            Ok((
                img,
                Rect {
                    x: 0,
                    y: 0,
                    width: 25,
                    height: 25,
                },
            ))
        })
        .collect()
}

fn positive_sources(specs: &[String]) -> Result<Vec<(Image, Rect)>> {
    let mut out = Vec::new();
    for s in specs {
        let p = Path::new(s);
        if s == "lfw" {
            out.extend(lfw_faces()?);
        } else if p.extension().is_some_and(|e| e == "xml") {
            let data = classic_cv::datasets::read_imglab(p)?;
            let dir = p.parent().unwrap_or(Path::new("."));
            for im in &data.images {
                let img = Image::load(dir.join(&im.file))?;
                for b in im.boxes.iter().filter(|b| !b.ignore) {
                    if let Some(r) = b.clipped(img.width(), img.height()) {
                        out.push((img.clone(), r));
                    }
                }
            }
        } else {
            for f in image_files(p)? {
                let img = Image::load(&f)?;
                let r = Rect {
                    x: 0,
                    y: 0,
                    width: img.width() as u32,
                    height: img.height() as u32,
                };
                out.push((img, r));
            }
        }
    }
    if out.is_empty() {
        bail!("no positive examples found in {specs:?}");
    }
    Ok(out)
}

/// Crop of `img` (gray in `[0, 1]`) to `r` (inside the image).
fn crop(img: &Image, r: &Rect) -> Image {
    let (x0, y0) = (r.x as usize, r.y as usize);
    Image::from_fn(r.width as usize, r.height as usize, |x, y| {
        img.get(x0 + x, y0 + y)
    })
}

/// Background images of at least `w x h` from the `--negatives` specs.
fn background_images(specs: &[PathBuf], margin: f32, w: usize, h: usize) -> Result<Vec<Image>> {
    if !(margin >= 0.0 && margin.is_finite()) {
        return Err(crate::output::usage(format!(
            "--negative-margin must be a finite number >= 0, not {margin:?}"
        )));
    }
    let mut out = Vec::new();
    for n in specs {
        if !n.exists() && n.as_os_str() == "lfw" {
            out.extend(lfw_crops(100..200)?.into_iter().map(|(img, _)| img));
        } else if n.extension().is_some_and(|e| e == "xml") {
            let data = classic_cv::datasets::read_imglab(n)?;
            let dir = n.parent().unwrap_or(Path::new("."));
            for im in &data.images {
                let img = Image::load(dir.join(&im.file))?;
                let boxes: Vec<Rect> = im
                    .boxes
                    .iter()
                    .filter_map(|b| b.clipped(img.width(), img.height()))
                    .collect();
                // Regions at least twice the window, so negatives come at several scales.
                for r in background_regions(img.width(), img.height(), &boxes, margin, 2 * w.max(h))
                {
                    out.push(crop(&img, &r));
                }
            }
        } else {
            for f in image_files(n)? {
                out.push(Image::load(&f)?);
            }
        }
    }
    out.retain(|img| img.width() >= w && img.height() >= h);
    if out.is_empty() {
        bail!("no background image of at least {w}x{h} in {specs:?}");
    }
    Ok(out)
}

/// `classic-cv train-cascade`.
pub fn run(a: &TrainCascadeArgs, g: &Globals) -> Result<()> {
    let (w, h) = crate::output::flags(parse_size(&a.window))
        .with_context(|| format!("--window {}", a.window))?;
    let params = CascadeTrainingParams {
        window_width: w,
        window_height: h,
        stages: a.stages,
        min_hit_rate: a.min_hit_rate,
        max_false_alarm: a.max_false_alarm,
        max_weak_count: a.max_weak,
        boost: a.boost,
        mode: a.mode,
        num_pos: a.num_pos,
        num_neg: a.num_neg,
        max_features: a.max_features,
        memory_budget: a.memory_mb.saturating_mul(1 << 20),
        max_neg_draws: a.max_neg_draws,
        mining: a.mining,
        seed: g.seed,
    };
    crate::output::flags(params.validate())?;
    let mut outputs = vec![(a.output.as_path(), crate::output::Kind::File)];
    if let Some(m) = &a.model_out {
        outputs.push((m.as_path(), crate::output::Kind::File));
    }
    let inputs: Vec<&Path> = a
        .positives
        .iter()
        .map(Path::new)
        .chain(a.negatives.iter().map(|p| p.as_path()))
        .collect();
    crate::output::check(&outputs, &inputs)?;
    let sources = positive_sources(&a.positives)?;
    let pos = augment_positives(
        &sources,
        a.num_pos.max(sources.len()),
        w,
        h,
        &PositiveAugment::default(),
        g.seed,
    )?;
    let backgrounds = background_images(&a.negatives, a.negative_margin, w, h)?;
    let ckpt = a.checkpoint.clone().unwrap_or_else(|| {
        let mut s = a.output.clone().into_os_string();
        s.push(".state");
        PathBuf::from(s)
    });
    let trained = train(&params, &pos, &backgrounds, Some(&ckpt))?;
    trained.cascade.save(&a.output)?;
    if let Some(m) = &a.model_out {
        classic_cv::persist::save(m, &trained.cascade)?;
    }
    if g.json {
        let stages: Vec<serde_json::Value> = trained
            .state
            .stages
            .iter()
            .map(|s| {
                serde_json::json!({"stumps": s.stumps.len(), "threshold": s.threshold,
                    "hit_rate": s.hit_rate, "false_alarm": s.false_alarm, "acceptance": s.acceptance})
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"output": a.output, "positives": pos.len(), "backgrounds": backgrounds.len(),
                "stages": stages, "stop_reason": trained.state.stop_reason})
        );
    } else {
        println!("stage  stumps  hit-rate  false-alarm  acceptance");
        for (i, s) in trained.state.stages.iter().enumerate() {
            println!(
                "{i:>5}  {:>6}  {:>8.4}  {:>11.4}  {:>10.2e}",
                s.stumps.len(),
                s.hit_rate,
                s.false_alarm,
                s.acceptance
            );
        }
        if !trained.state.stop_reason.is_empty() {
            println!("stopped early: {}", trained.state.stop_reason);
        }
        println!(
            "wrote {} ({} stages)",
            a.output.display(),
            trained.state.stages.len()
        );
    }
    Ok(())
}
