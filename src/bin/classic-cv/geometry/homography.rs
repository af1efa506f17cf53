//! `homography`: the homography between two photos of a plane (SIFT keypoints, ratio-test
//! matching, RANSAC + Levenberg-Marquardt), as JSON, with an optional picture of the matches.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use classic_cv::Image;
use classic_cv::draw::Canvas;
use classic_cv::features::keypoints::{SiftDetectorParams, SiftFeatures};
use classic_cv::geometry::camera::apply_homography;
use classic_cv::geometry::homography::{HomographyFit, RansacParams, find_homography};
use classic_cv::geometry::matching::{DescriptorMatch, MatchParams, match_descriptors};
use classic_cv::plot::line;

use crate::Globals;

/// Arguments of `homography`.
#[derive(Args, Debug)]
pub struct HomographyArgs {
    /// The first image (PNG, JPEG, PNM): H maps its pixels to the second's.
    #[arg(value_name = "A")]
    pub image_a: PathBuf,
    /// The second image.
    #[arg(value_name = "B")]
    pub image_b: PathBuf,
    /// Lowe's ratio test: keep a match when d1 < ratio * d2.
    #[arg(long, default_value_t = 0.8)]
    pub ratio: f32,
    /// Keep only mutual nearest neighbours (cross-check).
    #[arg(long)]
    pub mutual: bool,
    /// RANSAC inlier threshold on the reprojection error in B, in pixels.
    #[arg(long, default_value_t = 3.0)]
    pub threshold: f64,
    /// RANSAC confidence (adaptive number of iterations).
    #[arg(long, default_value_t = 0.995)]
    pub confidence: f64,
    /// Most RANSAC iterations.
    #[arg(long, default_value_t = 2000)]
    pub max_iterations: usize,
    /// Fewest inliers accepted.
    #[arg(long, default_value_t = 4)]
    pub min_inliers: usize,
    /// First SIFT octave: -1 doubles the images first, 0 keeps them.
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub first_octave: i32,
    /// SIFT peak (contrast) threshold on the difference of Gaussians, images in [0, 1].
    #[arg(long, default_value_t = 0.04 / 3.0)]
    pub peak_threshold: f32,
    /// Also write the JSON result here, atomically (default: stdout only).
    #[arg(short, long, value_name = "H.json")]
    pub output: Option<PathBuf>,
    /// Write a side-by-side picture: inlier matches green, outliers red, A's outline mapped
    /// into B by H yellow (default: not drawn).
    #[arg(long, value_name = "PNG")]
    pub draw: Option<PathBuf>,
    #[command(flatten)]
    pub seed: crate::grammar::SeedArg,
}

/// `classic-cv homography`.
pub fn run(args: &HomographyArgs, g: &Globals) -> Result<()> {
    let detector = SiftDetectorParams {
        first_octave: args.first_octave,
        peak_threshold: args.peak_threshold,
        ..SiftDetectorParams::default()
    };
    crate::output::flags(detector.validate())?;
    let matching = MatchParams {
        ratio: args.ratio,
        mutual: args.mutual,
    };
    crate::output::flags(matching.validate())?;
    let ransac = RansacParams {
        threshold: args.threshold,
        confidence: args.confidence,
        max_iterations: args.max_iterations,
        seed: g.seed,
        refine: true,
        min_inliers: args.min_inliers,
    };
    crate::output::flags(ransac.validate())?;
    let outputs: Vec<_> = args
        .output
        .iter()
        .chain(&args.draw)
        .map(|p| (p.as_path(), crate::output::Kind::File))
        .collect();
    crate::output::check(&outputs, &[&args.image_a, &args.image_b])?;
    let load = |p: &Path| Image::load(p).with_context(|| format!("reading {}", p.display()));
    let (a, b) = (load(&args.image_a)?, load(&args.image_b)?);
    let (fa, fb) = rayon::join(|| detector.detect(&a), || detector.detect(&b));
    let fa = fa.with_context(|| format!("{}: keypoints", args.image_a.display()))?;
    let fb = fb.with_context(|| format!("{}: keypoints", args.image_b.display()))?;
    let matches = match_descriptors(fa.descriptors.view(), fb.descriptors.view(), &matching)?;
    let point = |f: &SiftFeatures, i: usize| [f.keypoints[i].x as f64, f.keypoints[i].y as f64];
    let src: Vec<[f64; 2]> = matches.iter().map(|m| point(&fa, m.query)).collect();
    let dst: Vec<[f64; 2]> = matches.iter().map(|m| point(&fb, m.train)).collect();
    let fit = find_homography(&src, &dst, &ransac).with_context(|| {
        format!(
            "{} -> {}: {} and {} keypoints, {} matches",
            args.image_a.display(),
            args.image_b.display(),
            fa.keypoints.len(),
            fb.keypoints.len(),
            matches.len()
        )
    })?;
    let json = serde_json::json!({
        "H": fit.h,
        "matches": matches.len(),
        "inliers": fit.inlier_count(),
        "rms": fit.rms,
        "iterations": fit.iterations,
        "keypoints": [fa.keypoints.len(), fb.keypoints.len()],
    });
    if let Some(path) = &args.draw {
        draw(&a, &b, &src, &dst, &fit)
            .save_png(path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.output {
        let text = serde_json::to_string_pretty(&json)? + "\n";
        classic_cv::persist::write_atomic(path, text.as_bytes())?;
    }
    if g.json {
        println!("{json}");
    } else {
        print_summary(&fa, &fb, &matches, &fit);
    }
    Ok(())
}

fn print_summary(
    fa: &SiftFeatures,
    fb: &SiftFeatures,
    matches: &[DescriptorMatch],
    fit: &HomographyFit,
) {
    println!(
        "keypoints: {} and {}",
        fa.keypoints.len(),
        fb.keypoints.len()
    );
    println!(
        "matches: {}, inliers: {} (rms {:.3} px, {} RANSAC iterations)",
        matches.len(),
        fit.inlier_count(),
        fit.rms,
        fit.iterations
    );
    println!("H =");
    for r in &fit.h {
        println!("  [{:>14.8e} {:>14.8e} {:>14.8e}]", r[0], r[1], r[2]);
    }
}

/// A and B side by side, matches as lines, A's outline mapped into B.
fn draw(a: &Image, b: &Image, src: &[[f64; 2]], dst: &[[f64; 2]], fit: &HomographyFit) -> Canvas {
    let wa = a.width() as i64;
    let mut c = Canvas::new(a.width() + b.width(), a.height().max(b.height()), [0, 0, 0]);
    c.blit_gray(a, 0, 0);
    c.blit_gray(b, wa, 0);
    let round = |v: f64| v.round().clamp(-1e6, 1e6) as i64;
    for pass in [false, true] {
        for ((s, d), &inlier) in src.iter().zip(dst).zip(&fit.inliers) {
            if inlier == pass {
                let colour = if inlier { [0, 220, 0] } else { [230, 0, 0] };
                line(
                    &mut c,
                    round(s[0]),
                    round(s[1]),
                    wa + round(d[0]),
                    round(d[1]),
                    colour,
                );
            }
        }
    }
    let (w, h) = ((a.width() - 1) as f64, (a.height() - 1) as f64);
    let corners = [[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]];
    let mapped: Vec<Option<[f64; 2]>> = corners
        .iter()
        .map(|&p| apply_homography(&fit.h, p))
        .collect();
    for i in 0..4 {
        if let (Some(p), Some(q)) = (mapped[i], mapped[(i + 1) % 4]) {
            for t in [-1, 0, 1] {
                line(
                    &mut c,
                    wa + round(p[0]) + t,
                    round(p[1]),
                    wa + round(q[0]) + t,
                    round(q[1]),
                    [255, 220, 0],
                );
            }
        }
    }
    c
}
