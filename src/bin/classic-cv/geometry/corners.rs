//! `corners`: chessboard inner corners of photos, in OpenCV's order, refined to sub-pixel.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use classic_cv::draw::Canvas;
use classic_cv::geometry::chessboard::{BoardSize, ChessboardParams, find_chessboard_corners};
use classic_cv::image::Image;
use classic_cv::plot;
use rayon::prelude::*;

use crate::Globals;

/// Arguments of `corners`.
#[derive(Args, Debug)]
pub struct CornersArgs {
    /// Chessboard photos (PNG, JPEG, PNM).
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// Inner corners per row and rows of them, as COLSxROWS (OpenCV's patternSize, e.g.
    /// 9x6).
    #[arg(long, value_name = "COLSxROWS")]
    pub board: String,
    /// Half-size of the sub-pixel refinement window (OpenCV's cornerSubPix winSize; 11 is a
    /// 23x23 window).
    #[arg(long, default_value_t = 11)]
    pub half_window: usize,
    /// Most sub-pixel refinement iterations (1 to 100).
    #[arg(long, default_value_t = 30)]
    pub max_iterations: usize,
    /// Refinement stops when a step moves a corner less than this (pixels).
    #[arg(long, default_value_t = 1e-3)]
    pub epsilon: f64,
    /// Write each image with its corners drawn (rows coloured as OpenCV's
    /// drawChessboardCorners) into this directory, as STEM_corners.png (default: not drawn).
    #[arg(long, value_name = "DIR")]
    pub draw: Option<PathBuf>,
}

/// Row colours of OpenCV's `drawChessboardCorners` (RGB).
const ROW_COLOURS: [[u8; 3]; 7] = [
    [255, 0, 0],
    [255, 128, 0],
    [200, 200, 0],
    [0, 255, 0],
    [0, 200, 200],
    [0, 0, 255],
    [255, 0, 255],
];

/// `classic-cv corners`.
pub fn corners(args: &CornersArgs, g: &Globals) -> Result<()> {
    let board =
        BoardSize::parse(&args.board).map_err(|e| crate::output::usage(format!("--board: {e}")))?;
    let params = ChessboardParams {
        half_window: args.half_window,
        max_iterations: args.max_iterations,
        epsilon: args.epsilon,
        ..ChessboardParams::default()
    };
    crate::output::flags(params.validate())?;
    let targets = match &args.draw {
        Some(dir) => Some(draw_targets(&args.images, dir)?),
        None => None,
    };
    let images = args
        .images
        .iter()
        .map(|p| Image::load(p).with_context(|| format!("reading {}", p.display())))
        .collect::<Result<Vec<_>>>()?;
    let found = images
        .par_iter()
        .zip(&args.images)
        .map(|(img, p)| {
            find_chessboard_corners(img, board, &params)
                .with_context(|| format!("finding corners in {}", p.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    if let (Some(dir), Some(_)) = (&args.draw, &targets) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    for (k, (path, corners)) in args.images.iter().zip(&found).enumerate() {
        if g.json {
            let pts = corners.as_deref().unwrap_or(&[]);
            println!(
                "{}",
                serde_json::json!({"image": path, "found": corners.is_some(), "corners": pts})
            );
        } else {
            match corners {
                Some(c) => println!(
                    "{}: {} corners of a {board} board, first at ({:.3}, {:.3})",
                    path.display(),
                    c.len(),
                    c[0][0],
                    c[0][1]
                ),
                None => println!("{}: no {board} board found", path.display()),
            }
        }
        if let Some(t) = &targets {
            draw(&images[k], corners.as_deref(), board, &t[k])?;
        }
    }
    Ok(())
}

/// The drawing of each image (`DIR/STEM_corners.png`), checked before anything is written:
/// names must not collide and no output may be an input.
fn draw_targets(images: &[PathBuf], dir: &Path) -> Result<Vec<PathBuf>> {
    let inputs: HashSet<PathBuf> = images
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(images.len());
    for p in images {
        let stem = p
            .file_stem()
            .map_or("image".into(), |s| s.to_string_lossy().into_owned());
        let target = dir.join(format!("{stem}_corners.png"));
        if !seen.insert(target.clone()) {
            bail!(
                "two input images share the name `{stem}`: their drawings would collide in {}",
                dir.display()
            );
        }
        let resolved = std::fs::canonicalize(&target).unwrap_or_else(|_| target.clone());
        if inputs.contains(&resolved) {
            bail!("{}: the drawing would overwrite an input", target.display());
        }
        out.push(target);
    }
    let mut outputs = vec![(dir, crate::output::Kind::Dir)];
    outputs.extend(out.iter().map(|t| (t.as_path(), crate::output::Kind::File)));
    let inputs: Vec<&Path> = images.iter().map(PathBuf::as_path).collect();
    crate::output::check(&outputs, &inputs)?;
    Ok(out)
}

/// Draws the corners as OpenCV's `drawChessboardCorners` does for a found board: a
/// polyline through the corners in order, a circle with a cross at each, one colour per row.
fn draw(img: &Image, corners: Option<&[[f64; 2]]>, board: BoardSize, path: &Path) -> Result<()> {
    let mut canvas = Canvas::from_gray(img);
    if let Some(c) = corners {
        let at = |p: [f64; 2]| (p[0].round() as i64, p[1].round() as i64);
        for (k, &p) in c.iter().enumerate() {
            let colour = ROW_COLOURS[(k / board.cols) % ROW_COLOURS.len()];
            let (x, y) = at(p);
            if k > 0 {
                let (x0, y0) = at(c[k - 1]);
                plot::line(&mut canvas, x0, y0, x, y, colour);
            }
            plot::line(&mut canvas, x - 3, y - 3, x + 3, y + 3, colour);
            plot::line(&mut canvas, x - 3, y + 3, x + 3, y - 3, colour);
            let n = 16;
            for s in 0..n {
                let (a0, a1) = (
                    s as f64 * std::f64::consts::TAU / n as f64,
                    (s + 1) as f64 * std::f64::consts::TAU / n as f64,
                );
                let r = 4.0;
                let (px0, py0) = at([p[0] + r * a0.cos(), p[1] + r * a0.sin()]);
                let (px1, py1) = at([p[0] + r * a1.cos(), p[1] + r * a1.sin()]);
                plot::line(&mut canvas, px0, py0, px1, py1, colour);
            }
        }
    }
    canvas
        .save_png(path)
        .with_context(|| format!("writing {}", path.display()))
}
