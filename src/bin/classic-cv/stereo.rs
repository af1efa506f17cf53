//! `stereo` (disparity of a rectified pair, depth, point cloud) and `eval-stereo`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use classic_cv::geometry::remap::WarpMap;
use classic_cv::stereo::cost::MatchCost;
use classic_cv::stereo::depth::{self, ReprojectionMatrix};
use classic_cv::stereo::disparity::DisparityMap;
use classic_cv::stereo::{StereoMethod, StereoParams, metrics, render};
use classic_cv::{Image, npy, persist};

use crate::Globals;

/// Matching method.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum MethodArg {
    /// Semi-global matching.
    Sgm,
    /// Block matching (winner-takes-all on window costs).
    Bm,
}

/// Matching cost.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CostArg {
    /// Normalised cross-correlation (the course notes' definition).
    Ncc,
    /// Zero-mean NCC.
    Zncc,
    /// Sum of absolute differences.
    Sad,
    /// Sum of squared differences.
    Ssd,
    /// Census transform, Hamming distance.
    Census,
}

/// Arguments of `stereo`.
#[derive(Args, Debug)]
pub struct StereoArgs {
    /// Left image of a rectified pair (the reference), or of a raw pair with --rig.
    pub left: PathBuf,
    /// Right image (same size).
    pub right: PathBuf,
    /// Number of disparities searched (0..N), as OpenCV's numDisparities.
    #[arg(long, default_value_t = 64)]
    pub max_disparity: usize,
    /// Matching method.
    #[arg(long, value_enum, default_value = "sgm")]
    pub method: MethodArg,
    /// Matching cost (default: census for sgm, ncc for bm).
    #[arg(long, value_enum)]
    pub cost: Option<CostArg>,
    /// Window side (odd; default: 5 for sgm, 9 for bm).
    #[arg(long)]
    pub window: Option<usize>,
    /// Census window as WxH (odd sides, at most 64 neighbours).
    #[arg(long, default_value = "9x7", value_name = "WxH")]
    pub census_window: String,
    /// SGM penalty of a one-pixel disparity step.
    #[arg(long, default_value_t = StereoParams::default().p1)]
    pub p1: u32,
    /// SGM penalty of larger steps.
    #[arg(long, default_value_t = StereoParams::default().p2)]
    pub p2: u32,
    /// SGM paths: 4, 5 (one sweep, as OpenCV's SGBM mode) or 8.
    #[arg(long, default_value_t = StereoParams::default().paths)]
    pub paths: usize,
    /// Uniqueness ratio in percent (0 = off).
    #[arg(long, default_value_t = StereoParams::default().uniqueness)]
    pub uniqueness: f32,
    /// Minimum standard deviation of the left window, gray levels (0 = off).
    #[arg(long, default_value_t = StereoParams::default().texture_threshold)]
    pub texture_threshold: f32,
    /// Speckle filter: largest region removed, in pixels (0 = off).
    #[arg(long, default_value_t = StereoParams::default().speckle_window)]
    pub speckle_window: usize,
    /// Speckle filter: largest disparity step inside a region.
    #[arg(long, default_value_t = StereoParams::default().speckle_range)]
    pub speckle_range: f32,
    /// Left-right consistency check (on by default).
    #[arg(long, overrides_with = "no_lr_check")]
    pub lr_check: bool,
    /// Turn the left-right check off.
    #[arg(long)]
    pub no_lr_check: bool,
    /// Largest left-right disagreement, pixels.
    #[arg(long, default_value_t = StereoParams::default().lr_max_diff)]
    pub lr_max_diff: u32,
    /// Turn the 3x3 median off (on by default for sgm, off for bm).
    #[arg(long)]
    pub no_median: bool,
    /// Fill invalid pixels from their row's background side.
    #[arg(long)]
    pub fill_holes: bool,
    /// Parabola sub-pixel refinement (on by default).
    #[arg(long, overrides_with = "no_subpixel")]
    pub subpixel: bool,
    /// Integer disparities only.
    #[arg(long)]
    pub no_subpixel: bool,
    /// Output disparity, float32 .npy (NaN = invalid).
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// Also write a colour-mapped PNG with a legend (default: not written).
    #[arg(long, value_name = "PNG")]
    pub png: Option<PathBuf>,
    /// Also write a coloured point cloud (PLY); needs --baseline and --focal, or --q
    /// (default: not written).
    #[arg(long, value_name = "PLY")]
    pub ply: Option<PathBuf>,
    /// Write the PLY as ASCII instead of binary.
    #[arg(long)]
    pub ply_ascii: bool,
    /// Baseline (units of the point cloud) (default: none).
    #[arg(long, value_name = "B")]
    pub baseline: Option<f64>,
    /// Focal length in pixels (default: none).
    #[arg(long, value_name = "PIXELS")]
    pub focal: Option<f64>,
    /// OpenCV's 4x4 reprojection matrix Q as JSON, `[[..4], ..4]` (default: none).
    #[arg(long, value_name = "JSON")]
    pub q: Option<PathBuf>,
    /// A rectified stereo rig (from stereo-calibrate): the pair is rectified with it
    /// before matching, and --ply uses its Q (default: none).
    #[arg(long, value_name = "RIG", conflicts_with_all = ["q", "baseline", "focal"])]
    pub rig: Option<PathBuf>,
}

impl StereoArgs {
    /// The library parameters these arguments ask for.
    pub fn params(&self) -> Result<StereoParams> {
        let bm = matches!(self.method, MethodArg::Bm);
        let cost = match self.cost {
            Some(CostArg::Ncc) => MatchCost::Ncc,
            Some(CostArg::Zncc) => MatchCost::Zncc,
            Some(CostArg::Sad) => MatchCost::Sad,
            Some(CostArg::Ssd) => MatchCost::Ssd,
            Some(CostArg::Census) => MatchCost::Census,
            None if bm => MatchCost::Ncc,
            None => MatchCost::Census,
        };
        let census_window = classic_cv::image::parse_size(&self.census_window)
            .with_context(|| format!("--census-window {}", self.census_window))?;
        let params = StereoParams {
            method: if bm {
                StereoMethod::Bm
            } else {
                StereoMethod::Sgm
            },
            cost,
            max_disparity: self.max_disparity,
            window: self.window.unwrap_or(if bm { 9 } else { 5 }),
            census_window,
            p1: self.p1,
            p2: self.p2,
            paths: self.paths,
            uniqueness: self.uniqueness,
            texture_threshold: self.texture_threshold,
            lr_check: !self.no_lr_check,
            lr_max_diff: self.lr_max_diff,
            speckle_window: self.speckle_window,
            speckle_range: self.speckle_range,
            median: !bm && !self.no_median,
            subpixel: !self.no_subpixel,
            fill_holes: self.fill_holes,
        };
        crate::output::flags(params.validate())?;
        Ok(params)
    }
}

fn read_q(path: &Path) -> Result<ReprojectionMatrix> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let q: ReprojectionMatrix = serde_json::from_str(&text)
        .with_context(|| format!("{}: expected a 4x4 matrix as JSON", path.display()))?;
    anyhow::ensure!(
        q.iter().flatten().all(|v| v.is_finite()),
        "{}: the matrix has a non-finite entry",
        path.display()
    );
    Ok(q)
}

/// Refuses an output path that is one of the inputs.
fn not_an_input(out: &Path, inputs: &[&Path]) -> Result<()> {
    crate::output::check(&[(out, crate::output::Kind::File)], inputs)
}

/// `classic-cv stereo`.
pub fn stereo(args: &StereoArgs, g: &Globals) -> Result<()> {
    let params = args.params()?;
    let rig = args
        .rig
        .as_deref()
        .map(crate::stereo_rig::load_rectified_rig)
        .transpose()?;
    let ply_q = match (&args.ply, &args.q, args.baseline, args.focal) {
        (None, ..) => None,
        (Some(_), ..) if rig.is_some() => rig
            .as_ref()
            .and_then(|r| r.rectification.as_ref())
            .map(|r| QSource::File(r.q)),
        (Some(_), Some(q), ..) => Some(QSource::File(read_q(q)?)),
        (Some(_), None, Some(b), Some(f)) => Some(QSource::Rig(b, f)),
        (Some(_), None, ..) => {
            return Err(crate::output::usage(
                "--ply needs --q, or --baseline and --focal",
            ));
        }
    };
    let mut inputs = vec![args.left.as_path(), args.right.as_path()];
    inputs.extend(args.rig.as_deref());
    inputs.extend(args.q.as_deref());
    for out in [Some(&args.output), args.png.as_ref(), args.ply.as_ref()]
        .into_iter()
        .flatten()
    {
        not_an_input(out, &inputs)?;
    }
    let left =
        Image::load(&args.left).with_context(|| format!("reading {}", args.left.display()))?;
    let right =
        Image::load(&args.right).with_context(|| format!("reading {}", args.right.display()))?;
    anyhow::ensure!(
        left.width() == right.width() && left.height() == right.height(),
        "{}: {}x{} but {} is {}x{}: a rectified pair has one size",
        args.right.display(),
        right.width(),
        right.height(),
        args.left.display(),
        left.width(),
        left.height()
    );
    let photo = left;
    let (left, right, maps) = match &rig {
        Some(rig) => rectify_pair(rig, args, &photo, &right)?,
        None => (photo.clone(), right, None),
    };
    anyhow::ensure!(
        params.max_disparity <= left.width(),
        "--max-disparity {} is larger than the image width {}",
        params.max_disparity,
        left.width()
    );
    let q = match ply_q {
        Some(QSource::File(q)) => Some(q),
        Some(QSource::Rig(b, f)) => Some(
            depth::q_matrix(
                b,
                f,
                (left.width() as f64 - 1.0) / 2.0,
                (left.height() as f64 - 1.0) / 2.0,
            )
            .context("--baseline/--focal")?,
        ),
        None => None,
    };
    let start = std::time::Instant::now();
    let map = params.compute(&left, &right)?;
    let seconds = start.elapsed().as_secs_f64();
    let arr = npy::NpyArray {
        shape: vec![map.height, map.width],
        data: npy::NpyData::F32(map.data.clone()),
    };
    npy::write(&args.output, &arr)?;
    if let Some(png) = &args.png {
        render::disparity_picture(&map, Some(params.max_disparity as f32)).save_png(png)?;
    }
    let mut points = None;
    if let (Some(ply), Some(q)) = (&args.ply, q) {
        let mut colours = colours_of(&args.left, &photo)?;
        if let Some([map, _]) = &maps {
            let flat: Vec<u8> = colours.iter().flatten().copied().collect();
            let warped = map.apply_u8(&flat, 3, Default::default())?;
            colours = warped.chunks(3).map(|c| [c[0], c[1], c[2]]).collect();
        }
        let cloud = depth::point_cloud(&map, &q, Some(&colours))?;
        persist::write_atomic(ply, &depth::ply_bytes(&cloud, args.ply_ascii))?;
        points = Some(cloud.len());
    }
    if g.json {
        println!(
            "{}",
            serde_json::json!({
                "output": args.output, "width": map.width, "height": map.height,
                "density": map.density(), "seconds": seconds, "points": points,
                "threads": rayon::current_num_threads(), "params": params,
            })
        );
    } else {
        println!(
            "{}x{} disparity ({:.1} % valid) written to {} in {:.3} s ({} thread(s))",
            map.width,
            map.height,
            map.density() * 100.0,
            args.output.display(),
            seconds,
            rayon::current_num_threads()
        );
    }
    Ok(())
}

/// The pair rectified with the rig's maps (which are returned too). The photos must have
/// the rig's image size.
fn rectify_pair(
    rig: &classic_cv::stereo::rig::StereoRig,
    args: &StereoArgs,
    left: &Image,
    right: &Image,
) -> Result<(Image, Image, Option<[WarpMap; 2]>)> {
    let [w, h] = rig.image_size;
    anyhow::ensure!(
        [left.width(), left.height()] == rig.image_size,
        "{}: {}x{} pixels, but the rig {} is calibrated for {w}x{h}",
        args.left.display(),
        left.width(),
        left.height(),
        args.rig.as_deref().unwrap_or(Path::new("")).display()
    );
    let maps = rig.rectification()?.maps(&rig.camera1, &rig.camera2)?;
    let l = maps[0].apply(left, Default::default())?;
    let r = maps[1].apply(right, Default::default())?;
    Ok((l, r, Some(maps)))
}

enum QSource {
    File(ReprojectionMatrix),
    Rig(f64, f64),
}

/// The left image's colours (its gray values when it is not a colour image).
fn colours_of(path: &Path, gray: &Image) -> Result<Vec<[u8; 3]>> {
    let rgb = image::open(path)
        .with_context(|| format!("reading {}", path.display()))?
        .to_rgb8();
    anyhow::ensure!(
        rgb.width() as usize == gray.width() && rgb.height() as usize == gray.height(),
        "{}: size changed while reading",
        path.display()
    );
    Ok(rgb.pixels().map(|p| p.0).collect())
}

/// Arguments of `eval-stereo`.
#[derive(Args, Debug)]
pub struct EvalStereoArgs {
    /// Disparity map, float32 .npy (NaN = invalid).
    pub disparity: PathBuf,
    /// Ground truth: an 8-bit PNG whose values are disparities, or a float .npy
    /// (0, NaN and infinity = unknown).
    #[arg(long)]
    pub truth: PathBuf,
}

fn read_map(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    let arr = npy::read(path).with_context(|| format!("reading {}", path.display()))?;
    anyhow::ensure!(
        arr.shape.len() == 2,
        "{}: expected a 2-D array, found shape {:?}",
        path.display(),
        arr.shape
    );
    let shape = arr.shape.clone();
    Ok((shape, arr.into_f32()))
}

/// `classic-cv eval-stereo`.
pub fn eval(args: &EvalStereoArgs, g: &Globals) -> Result<()> {
    let (shape, data) = read_map(&args.disparity)?;
    let map = DisparityMap::new(shape[1], shape[0], data)
        .with_context(|| format!("{}", args.disparity.display()))?;
    let is_npy = args
        .truth
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    let truth = if is_npy {
        let (tshape, t) = read_map(&args.truth)?;
        anyhow::ensure!(
            tshape == shape,
            "{}: ground truth is {:?} but the disparity is {:?}",
            args.truth.display(),
            tshape,
            shape
        );
        t
    } else {
        let img = Image::load(&args.truth)
            .with_context(|| format!("reading {}", args.truth.display()))?;
        anyhow::ensure!(
            img.width() == shape[1] && img.height() == shape[0],
            "{}: ground truth is {}x{} but the disparity is {}x{}",
            args.truth.display(),
            img.width(),
            img.height(),
            shape[1],
            shape[0]
        );
        img.to_u8().into_iter().map(f32::from).collect()
    };
    let m = metrics::evaluate(&map, &truth).with_context(|| format!("{}", args.truth.display()))?;
    if g.json {
        println!("{}", serde_json::to_string(&m)?);
    } else {
        println!(
            "bad-1 {:.4}  bad-2 {:.4}  bad-4 {:.4}  (where valid: {:.4} {:.4} {:.4})  density {:.4}  MAE {:.3} px  ({} known pixels)",
            m.bad1,
            m.bad2,
            m.bad4,
            m.bad1_valid,
            m.bad2_valid,
            m.bad4_valid,
            m.density,
            m.mae,
            m.known
        );
    }
    Ok(())
}
