//! `stereo-calibrate`: a stereo rig (R, T, E, F, RMS and the rectification) from photos of
//! a chessboard taken by both cameras at once, written as a rig file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use classic_cv::Image;
use classic_cv::geometry::calibrate::{CalibrationParams, board_points};
use classic_cv::geometry::camera::Camera;
use classic_cv::geometry::chessboard::{BoardSize, ChessboardParams, find_chessboard_corners};
use classic_cv::geometry::storage::load_camera;
use classic_cv::stereo::rectify::RectifyParams;
use classic_cv::stereo::rig::{StereoCalibrationParams, StereoRig, rig_to_opencv_yaml};
use rayon::prelude::*;

use crate::Globals;

/// Arguments of `stereo-calibrate`.
#[derive(Args, Debug)]
pub struct StereoCalibrateArgs {
    /// Inner corners of the chessboard, as COLSxROWS (e.g. 9x6).
    #[arg(long, value_name = "COLSxROWS")]
    pub board: String,
    /// Side of a board square, in the unit wanted for T and the baseline (e.g. 0.025 for
    /// 25 mm squares in metres).
    #[arg(long, default_value_t = 1.0)]
    pub square: f64,
    /// Photos of the left (reference) camera, in the order of --right.
    #[arg(long, value_name = "IMAGE", num_args = 1.., required = true)]
    pub left: Vec<PathBuf>,
    /// Photos of the right camera, taken at the same moments as --left.
    #[arg(long, value_name = "IMAGE", num_args = 1.., required = true)]
    pub right: Vec<PathBuf>,
    /// The left camera (a camera file of `calibrate`); default: calibrated from the left
    /// photos with the board found.
    #[arg(long, value_name = "CAMERA")]
    pub camera1: Option<PathBuf>,
    /// The right camera; default: calibrated from the right photos with the board found.
    #[arg(long, value_name = "CAMERA")]
    pub camera2: Option<PathBuf>,
    /// Refine both cameras jointly with R and T (default: keep them, CALIB_FIX_INTRINSIC).
    #[arg(long)]
    pub refine_intrinsics: bool,
    /// Most Levenberg-Marquardt steps.
    #[arg(long, default_value_t = 30)]
    pub max_iterations: usize,
    /// Rectification scaling in [0, 1]: 0 only valid pixels, 1 every source pixel
    /// (default: no scaling, OpenCV's alpha -1).
    #[arg(long, value_name = "A")]
    pub alpha: Option<f64>,
    /// Keep each rectified camera's own principal point (no CALIB_ZERO_DISPARITY).
    #[arg(long)]
    pub no_zero_disparity: bool,
    /// Store the rig without its rectification.
    #[arg(long)]
    pub no_rectify: bool,
    /// Write the rig: `.yml`/`.yaml` OpenCV FileStorage YAML (M1, D1, M2, D2, R, T, E, F,
    /// R1, R2, P1, P2, Q), `.json` the classic-cv rig model (any other extension: its binary
    /// form; `stereo --rig` reads the model) (default: not written).
    #[arg(short, long, value_name = "RIG")]
    pub output: Option<PathBuf>,
}

/// The corners found in one photo (None when absent) and its `[width, height]`.
type Found = (Option<Vec<[f64; 2]>>, [usize; 2]);

/// `classic-cv stereo-calibrate`.
pub fn run(args: &StereoCalibrateArgs, g: &Globals) -> Result<()> {
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
    if args.left.len() != args.right.len() {
        return Err(crate::output::usage(format!(
            "--left has {} image(s) but --right has {}: give the pairs in the same order",
            args.left.len(),
            args.right.len()
        )));
    }
    let params = StereoCalibrationParams {
        fix_intrinsics: !args.refine_intrinsics,
        max_iterations: args.max_iterations,
        ..Default::default()
    };
    crate::output::flags(params.validate())?;
    let rectify = RectifyParams {
        alpha: args.alpha,
        zero_disparity: !args.no_zero_disparity,
        new_size: None,
    };
    crate::output::flags(rectify.validate())?;
    let mut inputs: Vec<&Path> = args
        .left
        .iter()
        .chain(&args.right)
        .map(|p| p.as_path())
        .collect();
    inputs.extend(
        args.camera1
            .iter()
            .chain(&args.camera2)
            .map(|p| p.as_path()),
    );
    if let Some(o) = &args.output {
        crate::output::check(&[(o.as_path(), crate::output::Kind::File)], &inputs)?;
    }

    let board = BoardSize { cols, rows };
    let chess = ChessboardParams::default();
    let photos: Vec<&PathBuf> = args.left.iter().chain(&args.right).collect();
    let found: Vec<Result<Found>> = photos
        .par_iter()
        .map(|p| {
            let img = Image::load(p).with_context(|| format!("reading {}", p.display()))?;
            let corners = find_chessboard_corners(&img, board, &chess)
                .with_context(|| format!("finding the board in {}", p.display()))?;
            Ok((corners, [img.width(), img.height()]))
        })
        .collect();
    let found = found.into_iter().collect::<Result<Vec<Found>>>()?;
    let size = found[0].1;
    for (p, (_, s)) in photos.iter().zip(&found) {
        ensure!(
            *s == size,
            "{}: {}x{} pixels, but {} is {}x{}: all photos of a rig must have one size",
            p.display(),
            s[0],
            s[1],
            photos[0].display(),
            size[0],
            size[1]
        );
    }
    let n = args.left.len();
    let (left_found, right_found) = found.split_at(n);
    let object = board_points(cols, rows, args.square);

    let camera = |file: &Option<PathBuf>, side: &[Found], name: &str| -> Result<(Camera, f64)> {
        if let Some(f) = file {
            let cam = load_camera(f).with_context(|| format!("reading {}", f.display()))?;
            ensure!(
                cam.image_size == size,
                "{}: the camera is for {}x{} images, but the photos are {}x{}",
                f.display(),
                cam.image_size[0],
                cam.image_size[1],
                size[0],
                size[1]
            );
            return Ok((cam, f64::NAN));
        }
        let views: Vec<Vec<[f64; 2]>> = side.iter().filter_map(|(c, _)| c.clone()).collect();
        ensure!(
            views.len() >= 3,
            "the {name} photos: calibrating the {name} camera needs at least 3 views with the \
             board found, got {} (or give its camera file)",
            views.len()
        );
        let fit = CalibrationParams::default()
            .calibrate(&vec![object.clone(); views.len()], &views, size)
            .with_context(|| format!("calibrating the {name} camera"))?;
        Ok((fit.camera, fit.rms))
    };
    let (camera1, rms1) = camera(&args.camera1, left_found, "left")?;
    let (camera2, rms2) = camera(&args.camera2, right_found, "right")?;

    let (mut left, mut right, mut used, mut skipped) = (vec![], vec![], vec![], vec![]);
    for i in 0..n {
        match (&left_found[i].0, &right_found[i].0) {
            (Some(l), Some(r)) => {
                left.push(l.clone());
                right.push(r.clone());
                used.push(i);
            }
            (l, r) => {
                let missing: Vec<String> = [(l, &args.left[i]), (r, &args.right[i])]
                    .iter()
                    .filter(|(c, _)| c.is_none())
                    .map(|(_, p)| p.display().to_string())
                    .collect();
                skipped.push((i, missing.join(" and ")));
            }
        }
    }
    if !g.json {
        for (i, missing) in &skipped {
            eprintln!(
                "warning: skipped pair {} ({}, {}): no board found in {missing}",
                i + 1,
                args.left[*i].display(),
                args.right[*i].display()
            );
        }
    }
    ensure!(
        left.len() >= 3,
        "stereo calibration needs at least 3 pairs with the board found in both images, got {} \
         ({} skipped)",
        left.len(),
        skipped.len()
    );
    let fit = params
        .calibrate(&vec![object; left.len()], &left, &right, &camera1, &camera2)
        .context("stereo calibration")?;
    let mut rig = fit.rig;
    if !args.no_rectify {
        rig.rectify(&rectify).context("rectifying the rig")?;
    }
    if let Some(path) = &args.output {
        save_rig(path, &rig).with_context(|| format!("writing {}", path.display()))?;
    }
    let json = rig_json(&rig, [rms1, rms2]);
    if g.json {
        let mut json = json;
        json["pairs"] = serde_json::json!(used.len());
        json["iterations"] = serde_json::json!(fit.iterations);
        json["skipped"] = serde_json::json!(
            skipped
                .iter()
                .map(|(i, m)| serde_json::json!({"pair": i + 1, "missing": m}))
                .collect::<Vec<_>>()
        );
        println!("{json}");
    } else {
        println!(
            "pairs: {} ({} skipped), RMS reprojection error: {:.5} px ({} iterations)",
            used.len(),
            skipped.len(),
            rig.rms,
            fit.iterations
        );
        println!(
            "T [{:.6}, {:.6}, {:.6}], baseline {:.6}",
            rig.t[0],
            rig.t[1],
            rig.t[2],
            rig.baseline()
        );
        if let Some(r) = &rig.rectification {
            println!(
                "rectified: f {:.4}, cx1 {:.4}, cx2 {:.4}, cy {:.4}",
                r.p1[0][0], r.p1[0][2], r.p2[0][2], r.p1[1][2]
            );
        }
        if let Some(path) = &args.output {
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// Writes the rig: OpenCV YAML for `.yml`/`.yaml`, the model file otherwise.
fn save_rig(path: &Path, rig: &StereoRig) -> Result<()> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if ext == "yml" || ext == "yaml" {
        classic_cv::persist::write_atomic(path, rig_to_opencv_yaml(rig).as_bytes())?;
    } else {
        classic_cv::persist::save(path, rig)?;
    }
    Ok(())
}

/// The summary printed by `--json`: the rig's matrices (rectification included).
fn rig_json(rig: &StereoRig, camera_rms: [f64; 2]) -> serde_json::Value {
    let cam = |c: &Camera, rms: f64| {
        serde_json::json!({
            "camera_matrix": c.intrinsics.matrix(),
            "dist": c.distortion.coefficients(),
            "rms": rms.is_finite().then_some(rms),
        })
    };
    let mut v = serde_json::json!({
        "rms": rig.rms,
        "R": rig.r,
        "T": rig.t,
        "E": rig.e,
        "F": rig.f,
        "baseline": rig.baseline(),
        "image_size": rig.image_size,
        "camera1": cam(&rig.camera1, camera_rms[0]),
        "camera2": cam(&rig.camera2, camera_rms[1]),
    });
    if let Some(r) = &rig.rectification {
        let roi = |r: &classic_cv::Rect| [r.x, r.y, r.width, r.height];
        for (k, val) in [
            ("R1", serde_json::json!(r.r1)),
            ("R2", serde_json::json!(r.r2)),
            ("P1", serde_json::json!(r.p1)),
            ("P2", serde_json::json!(r.p2)),
            ("Q", serde_json::json!(r.q)),
            ("roi1", serde_json::json!(roi(&r.roi1))),
            ("roi2", serde_json::json!(roi(&r.roi2))),
        ] {
            v[k] = val;
        }
    }
    v
}

/// Reads a rig file for `stereo --rig`: a `stereo-rig` model with its rectification.
pub fn load_rectified_rig(path: &Path) -> Result<StereoRig> {
    let rig: StereoRig = classic_cv::persist::load(path)
        .with_context(|| format!("reading the rig {}", path.display()))?;
    if rig.rectification.is_none() {
        bail!(
            "{}: the rig has no rectification, so the pair cannot be rectified (run \
             stereo-calibrate without --no-rectify)",
            path.display()
        );
    }
    Ok(rig)
}
