//! `calibrate`: Zhang calibration of a camera from the chessboard corners of several views,
//! written as a camera file (classic-cv JSON or OpenCV FileStorage YAML/XML), with a summary
//! and optional report pictures.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use clap::{Args, ValueEnum};
use classic_cv::Image;
use classic_cv::geometry::calibrate::{
    Calibration, CalibrationInit, CalibrationParams, board_points, draw_reprojection,
};
use classic_cv::geometry::chessboard::{BoardSize, ChessboardParams, find_chessboard_corners};
use classic_cv::geometry::storage::{CameraFileFormat, save_camera};
use rayon::prelude::*;

use crate::Globals;

/// Largest corners file read.
const MAX_CORNERS_FILE_BYTES: u64 = 256 << 20;

/// Starting point of the minimisation.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum InitArg {
    /// OpenCV's: principal point at the centre, focal lengths from vanishing points.
    Opencv,
    /// Zhang's closed form for K and his linear estimate of k1, k2.
    Zhang,
}

/// Arguments of `calibrate`.
#[derive(Args, Debug)]
pub struct CalibrateArgs {
    /// Inner corners of the chessboard, as COLSxROWS (e.g. 9x6).
    #[arg(long, value_name = "COLSxROWS")]
    pub board: String,
    /// Side of a board square, in the unit the poses are wanted in (e.g. 0.025 for 25 mm
    /// squares in metres).
    #[arg(long, default_value_t = 1.0)]
    pub square: f64,
    /// Photos of the chessboard (PNG, JPEG, PNM); the corners are found and refined as the
    /// `corners` command does; photos without the board are skipped.
    #[arg(
        value_name = "IMAGE",
        required_unless_present = "corners",
        conflicts_with = "corners"
    )]
    pub images: Vec<PathBuf>,
    /// Instead of photos, corners already found: JSON lines as `classic-cv corners --json`
    /// prints them, one {"image": PATH, "found": bool, "corners": [[x, y], ...]} per image;
    /// images whose board was not found are skipped (default: found in the IMAGE photos).
    #[arg(long, value_name = "FILE")]
    pub corners: Option<PathBuf>,
    /// Size of the images, as WIDTHxHEIGHT (default: read from the first image).
    #[arg(long, value_name = "WxH")]
    pub image_size: Option<String>,
    /// Write the camera: `.yml`/`.yaml` OpenCV FileStorage YAML, `.xml` OpenCV FileStorage
    /// XML, `.json` the classic-cv camera model (any other extension: its binary form) (default: not written).
    #[arg(short, long, value_name = "CAMERA")]
    pub output: Option<PathBuf>,
    /// Write one picture per view into this directory (NNN-<image>.png): observed corners
    /// (green circles),
    /// reprojections (red crosses), errors magnified 20 times (yellow) (default: not drawn).
    #[arg(long, value_name = "DIR")]
    pub draw: Option<PathBuf>,
    /// Keep the principal point at the image centre (CALIB_FIX_PRINCIPAL_POINT).
    #[arg(long)]
    pub fix_principal_point: bool,
    /// Keep fx/fy at this ratio, 1 when given without a value (CALIB_FIX_ASPECT_RATIO)
    /// (default: free).
    #[arg(long, value_name = "FX/FY", num_args = 0..=1, default_missing_value = "1")]
    pub fix_aspect_ratio: Option<f64>,
    /// Keep the tangential coefficients p1, p2 at zero (CALIB_ZERO_TANGENT_DIST).
    #[arg(long)]
    pub zero_tangent: bool,
    /// Keep k3 at zero (CALIB_FIX_K3).
    #[arg(long)]
    pub fix_k3: bool,
    /// Estimate the skew too (OpenCV keeps it at zero).
    #[arg(long)]
    pub estimate_skew: bool,
    /// Starting point of the minimisation.
    #[arg(long, value_enum, default_value = "opencv")]
    pub init: InitArg,
    /// Most Levenberg-Marquardt steps.
    #[arg(long, default_value_t = 30)]
    pub max_iterations: usize,
}

/// The corners of one view and the image they were found in.
pub struct View {
    /// The photo.
    pub image: PathBuf,
    /// Its board corners, in OpenCV's order.
    pub corners: Vec<[f64; 2]>,
}

/// One line of the corners file.
#[derive(serde::Deserialize)]
struct CornersLine {
    image: PathBuf,
    found: bool,
    #[serde(default)]
    corners: Vec<[f64; 2]>,
}

/// The views of a corners file (JSON lines), skipping the images without a board; error if
/// a found board does not have `count` corners.
fn views_from_corners_file(path: &Path, count: usize) -> Result<(Vec<View>, Vec<PathBuf>)> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    ensure!(
        size <= MAX_CORNERS_FILE_BYTES,
        "{}: {size} bytes is over the {MAX_CORNERS_FILE_BYTES}-byte limit of a corners file",
        path.display()
    );
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let (mut views, mut skipped) = (Vec::new(), Vec::new());
    for (no, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let l: CornersLine = serde_json::from_str(line).with_context(|| {
            format!(
                "{} line {}: not a corners line {{\"image\", \"found\", \"corners\"}}",
                path.display(),
                no + 1
            )
        })?;
        if !l.found {
            skipped.push(l.image);
            continue;
        }
        ensure!(
            l.corners.len() == count,
            "{} line {}: {} has {} corners, but the board has {count} (wrong --board?)",
            path.display(),
            no + 1,
            l.image.display(),
            l.corners.len()
        );
        views.push(View {
            image: l.image,
            corners: l.corners,
        });
    }
    Ok((views, skipped))
}

/// The board found in one photo (None when absent) and the photo's `[width, height]`.
type FoundBoard = (Option<Vec<[f64; 2]>>, [usize; 2]);

/// The views of photos: the board's corners found and refined in each (in parallel, in
/// input order), skipping the photos without the board; also the size of the photos, which
/// must all agree.
fn views_from_images(
    paths: &[PathBuf],
    board: BoardSize,
) -> Result<(Vec<View>, Vec<PathBuf>, [usize; 2])> {
    let params = ChessboardParams::default();
    let found: Vec<Result<FoundBoard>> = paths
        .par_iter()
        .map(|p| {
            let img = Image::load(p).with_context(|| format!("reading {}", p.display()))?;
            let corners = find_chessboard_corners(&img, board, &params)
                .with_context(|| format!("finding the board in {}", p.display()))?;
            Ok((corners, [img.width(), img.height()]))
        })
        .collect();
    let (mut views, mut skipped, mut size) = (Vec::new(), Vec::new(), None);
    for (p, r) in paths.iter().zip(found) {
        let (corners, s) = r?;
        match size {
            None => size = Some((s, p)),
            Some((first, q)) => ensure!(
                first == s,
                "{}: {}x{} pixels, but {} is {}x{}: one camera's photos have one size",
                p.display(),
                s[0],
                s[1],
                q.display(),
                first[0],
                first[1]
            ),
        }
        match corners {
            Some(c) => views.push(View {
                image: p.clone(),
                corners: c,
            }),
            None => skipped.push(p.clone()),
        }
    }
    let size = size.map(|(s, _)| s).context("no image given")?;
    Ok((views, skipped, size))
}

/// Whether two paths name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// `classic-cv calibrate`.
pub fn run(args: &CalibrateArgs, g: &Globals) -> Result<()> {
    let (cols, rows) = classic_cv::image::parse_size(&args.board)
        .with_context(|| format!("--board {}", args.board))?;
    ensure!(
        cols >= 2 && rows >= 2,
        "--board {}: a chessboard needs at least 2x2 inner corners",
        args.board
    );
    ensure!(
        args.square.is_finite() && args.square > 0.0,
        "--square must be a positive length, got {}",
        args.square
    );
    let params = CalibrationParams {
        fix_principal_point: args.fix_principal_point,
        fix_aspect_ratio: args.fix_aspect_ratio,
        zero_tangent: args.zero_tangent,
        fix_k3: args.fix_k3,
        fix_skew: !args.estimate_skew,
        init: match args.init {
            InitArg::Opencv => CalibrationInit::OpenCv,
            InitArg::Zhang => CalibrationInit::Zhang,
        },
        max_iterations: args.max_iterations,
        ..CalibrationParams::default()
    };
    crate::output::flags(params.validate())?;
    let size = args
        .image_size
        .as_deref()
        .map(classic_cv::image::parse_size)
        .transpose()
        .context("--image-size")?;

    let mut inputs: Vec<&Path> = args.images.iter().map(|p| p.as_path()).collect();
    inputs.extend(args.corners.as_deref());
    let mut outputs = vec![];
    if let Some(o) = &args.output {
        outputs.push((o.as_path(), crate::output::Kind::File));
    }
    if let Some(d) = &args.draw {
        outputs.push((d.as_path(), crate::output::Kind::Dir));
    }
    crate::output::check(&outputs, &inputs)?;
    let (views, skipped, found_size) = match &args.corners {
        Some(file) => {
            let (v, s) = views_from_corners_file(file, cols * rows)?;
            (v, s, None)
        }
        None => {
            let board = BoardSize { cols, rows };
            let (v, s, size) = views_from_images(&args.images, board)?;
            (v, s, Some(size))
        }
    };
    for out in args.output.iter() {
        for input in views.iter().map(|v| &v.image) {
            if same_file(out, input) {
                bail!("{}: refusing to write over an input", out.display());
            }
        }
    }
    let source = match &args.corners {
        Some(file) => file.display().to_string(),
        None => format!("{} photo(s)", args.images.len()),
    };
    ensure!(
        views.len() >= 3,
        "{source}: calibration needs at least 3 views with the board found, got {} ({} without)",
        views.len(),
        skipped.len()
    );
    if !g.json {
        for s in &skipped {
            eprintln!("skipped {}: no board found", s.display());
        }
    }
    let image_size = match (size, found_size) {
        (Some((w, h)), _) => [w, h],
        (None, Some(s)) => s,
        (None, None) => {
            let first = &views[0].image;
            let img = Image::load(first).with_context(|| {
                format!(
                    "reading {} for the image size (or give --image-size)",
                    first.display()
                )
            })?;
            [img.width(), img.height()]
        }
    };

    let board = board_points(cols, rows, args.square);
    let object = vec![board.clone(); views.len()];
    let image: Vec<Vec<[f64; 2]>> = views.iter().map(|v| v.corners.clone()).collect();
    let fit = params
        .calibrate(&object, &image, image_size)
        .with_context(|| format!("calibrating from {source}"))?;

    if let Some(dir) = &args.draw {
        write_report(dir, &views, &board, &fit)?;
    }
    if let Some(path) = &args.output {
        let format = save_camera(path, &fit.camera)
            .with_context(|| format!("writing {}", path.display()))?;
        if !g.json {
            eprintln!("wrote {} ({})", path.display(), format.describe());
        }
    }
    let k = fit.camera.intrinsics.matrix();
    let json = serde_json::json!({
        "rms": fit.rms,
        "camera_matrix": k,
        "dist": fit.camera.distortion.coefficients(),
        "per_view_rms": fit.per_view_rms,
        "views": views.len(),
        "image_size": image_size,
        "iterations": fit.iterations,
        "images": views.iter().map(|v| v.image.display().to_string()).collect::<Vec<_>>(),
        "output_format": args.output.as_deref().map(|p| CameraFileFormat::from_path(p).describe()),
    });
    if g.json {
        println!("{json}");
    } else {
        print_summary(&fit, &views);
    }
    Ok(())
}

fn print_summary(fit: &Calibration, views: &[View]) {
    let k = &fit.camera.intrinsics;
    let d = fit.camera.distortion;
    println!(
        "views: {}, RMS reprojection error: {:.5} px ({} iterations)",
        views.len(),
        fit.rms,
        fit.iterations
    );
    println!(
        "fx {:.4}  fy {:.4}  cx {:.4}  cy {:.4}  skew {:.4}",
        k.fx, k.fy, k.cx, k.cy, k.skew
    );
    println!(
        "k1 {:.6}  k2 {:.6}  p1 {:.6}  p2 {:.6}  k3 {:.6}",
        d.k1, d.k2, d.p1, d.p2, d.k3
    );
    for (v, e) in views.iter().zip(&fit.per_view_rms) {
        println!("  {:.5} px  {}", e, v.image.display());
    }
}

/// One reprojection picture per view, `DIR/NNN-<image stem>.png` (`NNN` the view's number).
fn write_report(dir: &Path, views: &[View], board: &[[f64; 3]], fit: &Calibration) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (i, (v, pose)) in views.iter().zip(&fit.poses).enumerate() {
        let img =
            Image::load(&v.image).with_context(|| format!("reading {}", v.image.display()))?;
        ensure!(
            [img.width(), img.height()] == fit.camera.image_size,
            "{}: {}x{} pixels, but the calibration is for {}x{}",
            v.image.display(),
            img.width(),
            img.height(),
            fit.camera.image_size[0],
            fit.camera.image_size[1]
        );
        let reprojected = fit.camera.project_points(pose, board)?;
        let stem = v
            .image
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "view".into());
        let out = dir.join(format!("{:03}-{stem}.png", i + 1));
        ensure!(
            !same_file(&out, &v.image),
            "{}: refusing to write over an input image",
            out.display()
        );
        draw_reprojection(&img, &v.corners, &reprojected)
            .save_png(&out)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}
