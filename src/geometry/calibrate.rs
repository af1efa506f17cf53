//! Camera calibration from several views of a planar board: Zhang's method as OpenCV's
//! `calibrateCamera` runs it, and the report picture of each view.
//!
//! # Overview
//! [`CalibrationParams::calibrate`] takes, for each view, the board points (on the plane
//! `z = 0`, e.g. from [`board_points`]) and the pixels where they were observed, and returns a
//! [`Calibration`]: the [`Camera`] (intrinsics `K`, the distortion `k1, k2, p1, p2, k3`, the
//! image size), the pose of the board in each view, and the reprojection errors.
//!
//! # Usage
//! ```
//! use classic_cv::geometry::calibrate::{CalibrationParams, board_points};
//! use classic_cv::geometry::camera::{Camera, Distortion, Intrinsics, Pose};
//! let truth = Camera {
//!     intrinsics: Intrinsics { fx: 520.0, fy: 515.0, cx: 322.0, cy: 238.0, skew: 0.0 },
//!     distortion: Distortion { k1: -0.2, k2: 0.05, ..Default::default() },
//!     image_size: [640, 480],
//! };
//! let board = board_points(9, 6, 0.025);
//! let poses = [[0.3, 0.1, 0.0], [-0.2, 0.35, 0.1], [0.1, -0.3, -0.2], [0.4, 0.3, 0.05]]
//!     .map(|rvec| Pose { rvec, t: [-0.1, -0.06, 0.45] });
//! let image: Vec<Vec<[f64; 2]>> =
//!     poses.iter().map(|p| truth.project_points(p, &board).unwrap()).collect();
//! let object = vec![board; poses.len()];
//! let fit = CalibrationParams::default().calibrate(&object, &image, [640, 480]).unwrap();
//! assert!((fit.camera.intrinsics.fx - 520.0).abs() < 1e-6);
//! assert!(fit.rms < 1e-8);
//! ```
//!
//! # The method
//! 1. Each view's homography from the board to the pixels (normalised DLT refined by
//!    Levenberg-Marquardt on the transfer error, as `cvFindHomography` without RANSAC).
//! 2. Initial intrinsics: by default OpenCV's (`cvInitIntrinsicParams2D`: principal point at
//!    the image centre `((w - 1)/2, (h - 1)/2)`, focal lengths from the vanishing points,
//!    distortion 0); or, with [`CalibrationInit::Zhang`], Zhang's closed form from
//!    `B = K⁻ᵀ K⁻¹` followed by his linear estimate of `k1, k2` (see
//!    [`calibrate_init`](super::calibrate_init)).
//! 3. Each view's pose from its homography, refined alone (OpenCV's
//!    `cvFindExtrinsicCameraParams2`).
//! 4. Levenberg-Marquardt over the free intrinsics, the distortion and all poses together,
//!    with the analytic Jacobian (see [`lm`](super::lm)): OpenCV's damping schedule and its
//!    termination (`max_iterations` = 30 steps, or a relative change of the parameter vector
//!    below `epsilon` = `DBL_EPSILON`).
//!
//! The errors are OpenCV's: `rms = sqrt(Σ |observed - projected|² / number of points)` over
//! all views, and per view the same over its points.
//!
//! # Options (OpenCV's flags)
//! `fix_principal_point` (`CALIB_FIX_PRINCIPAL_POINT`: stays at the image centre),
//! `fix_aspect_ratio = Some(a)` (`CALIB_FIX_ASPECT_RATIO` with `fx/fy = a` given; OpenCV takes
//! `a` from the camera matrix passed in), `zero_tangent` (`CALIB_ZERO_TANGENT_DIST`: `p1 = p2 =
//! 0`), `fix_k3` (`CALIB_FIX_K3`: `k3 = 0`), `fix_skew` (on by default: OpenCV has no skew
//! parameter; off, the skew is estimated as well).
//!
//! # Conventions
//! Pixel centres at integer coordinates, `x` right, `y` down (OpenCV's); board points in
//! OpenCV's order for a chessboard of inner corners (row by row, left to right, `z = 0`).
//! Running out of iterations is not an error (OpenCV's default `epsilon` all but guarantees
//! it); a non-finite error, a point behind the camera or an invalid camera at the end is.

use serde::{Deserialize, Serialize};

use crate::draw::Canvas;
use crate::error::{Error, Result};
use crate::geometry::calibrate_init::{
    init_intrinsics_opencv, init_pose, view_homographies, zhang_intrinsics, zhang_radial_distortion,
};
use crate::geometry::camera::{Camera, Distortion, Intrinsics, Pose};
use crate::geometry::lm::{
    CX, CY, FX, FY, K1, K2, K3, N_INTRINSIC, P1, P2, Problem, SKEW, intrinsic_vector, pose_of,
    pose_vector,
};
use crate::image::Image;

/// Most views one calibration takes.
pub const MAX_VIEWS: usize = 10_000;
/// Most points one view may have.
pub const MAX_POINTS_PER_VIEW: usize = 100_000;

/// Where the minimisation starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CalibrationInit {
    /// OpenCV's: principal point at the image centre, focal lengths from the vanishing
    /// points, no distortion.
    #[default]
    OpenCv,
    /// Zhang's closed form for `K` (all five entries, or four with `fix_skew`) and his
    /// linear estimate of `k1, k2`.
    Zhang,
}

/// How to calibrate (OpenCV's `calibrateCamera` flags and criteria).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibrationParams {
    /// Keep the principal point at the image centre `((w - 1)/2, (h - 1)/2)`.
    pub fix_principal_point: bool,
    /// Keep `fx / fy` at this ratio.
    pub fix_aspect_ratio: Option<f64>,
    /// Keep the tangential coefficients `p1, p2` at zero.
    pub zero_tangent: bool,
    /// Keep `k3` at zero.
    pub fix_k3: bool,
    /// Keep the skew at zero (OpenCV's model has no skew).
    pub fix_skew: bool,
    /// Starting point of the minimisation.
    pub init: CalibrationInit,
    /// Most Levenberg-Marquardt steps (OpenCV: 30).
    pub max_iterations: usize,
    /// Stop when the parameter vector changes by less than this, relatively (OpenCV:
    /// `DBL_EPSILON`).
    pub epsilon: f64,
}

impl Default for CalibrationParams {
    fn default() -> Self {
        CalibrationParams {
            fix_principal_point: false,
            fix_aspect_ratio: None,
            zero_tangent: false,
            fix_k3: false,
            fix_skew: true,
            init: CalibrationInit::OpenCv,
            max_iterations: 30,
            epsilon: f64::EPSILON,
        }
    }
}

/// A fitted calibration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The camera: intrinsics, distortion, image size.
    pub camera: Camera,
    /// The board's pose in each view (board to camera).
    pub poses: Vec<Pose>,
    /// Root-mean-square reprojection error over all points, in pixels.
    pub rms: f64,
    /// The same for each view.
    pub per_view_rms: Vec<f64>,
    /// Levenberg-Marquardt steps taken.
    pub iterations: usize,
    /// The params it was fitted with.
    pub params: CalibrationParams,
}

/// The inner corners of a `cols x rows` chessboard with squares of side `square`, in
/// OpenCV's order: row by row (`y = row * square`), left to right (`x = col * square`),
/// `z = 0`.
pub fn board_points(cols: usize, rows: usize, square: f64) -> Vec<[f64; 3]> {
    (0..rows)
        .flat_map(|r| (0..cols).map(move |c| [c as f64 * square, r as f64 * square, 0.0]))
        .collect()
}

impl CalibrationParams {
    /// Checks the params.
    pub fn validate(&self) -> Result<()> {
        if let Some(a) = self.fix_aspect_ratio
            && !(a > 1e-2 && a < 1e2)
        {
            return Err(Error::param(
                "fix_aspect_ratio",
                format!("fx / fy must be in (0.01, 100), got {a}"),
            ));
        }
        if self.max_iterations == 0 {
            return Err(Error::param("max_iterations", "must be at least 1"));
        }
        if !(self.epsilon >= 0.0 && self.epsilon.is_finite()) {
            return Err(Error::param("epsilon", "must be finite and >= 0"));
        }
        Ok(())
    }

    /// Which intrinsic parameters move.
    fn free_intrinsics(&self) -> [bool; N_INTRINSIC] {
        let mut free = [true; N_INTRINSIC];
        if self.fix_principal_point {
            free[CX] = false;
            free[CY] = false;
        }
        if self.fix_aspect_ratio.is_some() {
            free[FX] = false;
        }
        if self.zero_tangent {
            free[P1] = false;
            free[P2] = false;
        }
        if self.fix_k3 {
            free[K3] = false;
        }
        if self.fix_skew {
            free[SKEW] = false;
        }
        free
    }

    /// Calibrates a camera from `object_points[v]` (board points, `z = 0`) observed at
    /// `image_points[v]` (pixels) in each view `v` of an image of `image_size = [w, h]`.
    ///
    /// Errors: fewer than 3 views; different numbers of views or of points in a view;
    /// fewer than 4 points in a view; non-finite points; board points off `z = 0`; a view
    /// whose points are collinear; views that do not determine the camera (all boards
    /// parallel); a non-finite error during the minimisation.
    pub fn calibrate(
        &self,
        object_points: &[Vec<[f64; 3]>],
        image_points: &[Vec<[f64; 2]>],
        image_size: [usize; 2],
    ) -> Result<Calibration> {
        self.validate()?;
        check_views(object_points, image_points, image_size)?;
        let homographies = view_homographies(object_points, image_points)?;
        let mut intrinsics = match self.init {
            CalibrationInit::OpenCv => {
                init_intrinsics_opencv(&homographies, image_size, self.fix_aspect_ratio)?
            }
            CalibrationInit::Zhang => {
                let mut k = zhang_intrinsics(&homographies, image_size, self.fix_skew)?;
                if self.fix_principal_point {
                    k.cx = (image_size[0] as f64 - 1.0) * 0.5;
                    k.cy = (image_size[1] as f64 - 1.0) * 0.5;
                }
                if let Some(a) = self.fix_aspect_ratio {
                    let tf = (k.fx + k.fy) / (a + 1.0);
                    k.fx = a * tf;
                    k.fy = tf;
                }
                k
            }
        };
        if self.fix_skew {
            intrinsics.skew = 0.0;
        }
        let mut camera = Camera {
            intrinsics,
            distortion: Distortion::default(),
            image_size,
        };
        let mut poses = object_points
            .iter()
            .zip(image_points)
            .map(|(o, i)| init_pose(&camera, o, i))
            .collect::<Result<Vec<Pose>>>()?;
        if self.init == CalibrationInit::Zhang {
            let [k1, k2] =
                zhang_radial_distortion(&intrinsics, &poses, object_points, image_points)?;
            camera.distortion.k1 = k1;
            camera.distortion.k2 = k2;
            poses = object_points
                .iter()
                .zip(image_points)
                .map(|(o, i)| init_pose(&camera, o, i))
                .collect::<Result<Vec<Pose>>>()?;
        }

        let problem = Problem {
            object: object_points,
            image: image_points,
            free: self.free_intrinsics(),
            aspect: self.fix_aspect_ratio,
        };
        let sol = problem.solve(
            intrinsic_vector(&camera),
            poses.iter().map(pose_vector).collect(),
            self.max_iterations,
            self.epsilon,
        )?;
        let k = sol.intrinsics;
        let fx = self.fix_aspect_ratio.map_or(k[FX], |a| a * k[FY]);
        let camera = Camera {
            intrinsics: Intrinsics {
                fx,
                fy: k[FY],
                cx: k[CX],
                cy: k[CY],
                skew: k[SKEW],
            },
            distortion: Distortion {
                k1: k[K1],
                k2: k[K2],
                p1: k[P1],
                p2: k[P2],
                k3: k[K3],
            },
            image_size,
        };
        camera.validate().map_err(|e| Error::NonFinite {
            what: if matches!(e, Error::NonFinite { .. }) {
                "calibrated camera (the minimisation diverged)"
            } else {
                "calibrated camera: a focal length is not positive (the minimisation diverged)"
            },
        })?;
        let view_sq = problem
            .view_errors(&k, &sol.poses)
            .ok_or(Error::NonFinite {
                what: "reprojection error of the calibrated camera",
            })?;
        let total: usize = image_points.iter().map(Vec::len).sum();
        let rms = (view_sq.iter().sum::<f64>() / total as f64).sqrt();
        let per_view_rms = view_sq
            .iter()
            .zip(image_points)
            .map(|(e, v)| (e / v.len() as f64).sqrt())
            .collect();
        Ok(Calibration {
            camera,
            poses: sol.poses.iter().map(pose_of).collect(),
            rms,
            per_view_rms,
            iterations: sol.iterations,
            params: self.clone(),
        })
    }
}

/// Eigenvalues of the 2x2 scatter matrix of points, `(smallest, largest)`.
fn spread(points: impl Iterator<Item = [f64; 2]> + Clone) -> (f64, f64) {
    let n = points.clone().count() as f64;
    let (mx, my) = points
        .clone()
        .fold((0.0, 0.0), |(a, b), p| (a + p[0] / n, b + p[1] / n));
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for p in points {
        let (dx, dy) = (p[0] - mx, p[1] - my);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    let mean = 0.5 * (sxx + syy);
    let dev = (0.25 * (sxx - syy) * (sxx - syy) + sxy * sxy).sqrt();
    (mean - dev, mean + dev)
}

/// The input checks of [`CalibrationParams::calibrate`].
pub(crate) fn check_views(
    object: &[Vec<[f64; 3]>],
    image: &[Vec<[f64; 2]>],
    image_size: [usize; 2],
) -> Result<()> {
    if image_size[0] == 0 || image_size[1] == 0 {
        return Err(Error::param("image_size", "width and height must be > 0"));
    }
    if object.len() != image.len() {
        return Err(Error::LengthMismatch {
            inputs: object.len(),
            labels: image.len(),
        });
    }
    if object.len() < 3 {
        return Err(Error::param(
            "image_points",
            format!(
                "calibration needs at least 3 views of the board, got {}",
                object.len()
            ),
        ));
    }
    if object.len() > MAX_VIEWS {
        return Err(Error::param(
            "image_points",
            format!("at most {MAX_VIEWS} views, got {}", object.len()),
        ));
    }
    for (v, (o, i)) in object.iter().zip(image).enumerate() {
        if o.len() != i.len() {
            return Err(Error::param(
                "image_points",
                format!(
                    "view {v}: {} board points but {} image points",
                    o.len(),
                    i.len()
                ),
            ));
        }
        if o.len() < 4 || o.len() > MAX_POINTS_PER_VIEW {
            return Err(Error::param(
                "image_points",
                format!(
                    "view {v}: {} points; a view needs 4 to {MAX_POINTS_PER_VIEW}",
                    o.len()
                ),
            ));
        }
        if !o
            .iter()
            .flatten()
            .chain(i.iter().flatten())
            .all(|x| x.is_finite())
        {
            return Err(Error::NonFinite {
                what: "calibration points",
            });
        }
        if o.iter().any(|p| p[2] != 0.0) {
            return Err(Error::param(
                "object_points",
                format!("view {v}: board points must lie on the plane z = 0"),
            ));
        }
        for (what, (lo, hi)) in [
            ("board", spread(o.iter().map(|p| [p[0], p[1]]))),
            ("image", spread(i.iter().copied())),
        ] {
            if !(lo > 1e-9 * hi) {
                return Err(Error::Degenerate {
                    what: "calibration",
                    reason: format!("view {v}: the {what} points are collinear (or repeated)"),
                });
            }
        }
    }
    Ok(())
}

/// Magnification of the error vectors in [`draw_reprojection`].
pub const REPROJECTION_ARROW_SCALE: f64 = 20.0;

/// The report picture of one view: the image in gray, each observed corner as a green
/// circle (radius 4), its reprojection as a red cross, the error vector from the observed to
/// the reprojected point magnified [`REPROJECTION_ARROW_SCALE`] times in yellow, and a title
/// line with the view's RMS error. Points off the image are clipped.
pub fn draw_reprojection(image: &Image, observed: &[[f64; 2]], reprojected: &[[f64; 2]]) -> Canvas {
    let mut c = Canvas::from_gray(image);
    let round = |v: f64| v.round().clamp(-1e6, 1e6) as i64;
    let mut sq = 0.0;
    for (o, r) in observed.iter().zip(reprojected) {
        let (dx, dy) = (r[0] - o[0], r[1] - o[1]);
        sq += dx * dx + dy * dy;
        let (ox, oy) = (round(o[0]), round(o[1]));
        let tip = (
            round(o[0] + REPROJECTION_ARROW_SCALE * dx),
            round(o[1] + REPROJECTION_ARROW_SCALE * dy),
        );
        crate::plot::line(&mut c, ox, oy, tip.0, tip.1, [255, 220, 0]);
        for k in 0..32 {
            let a = k as f64 * std::f64::consts::TAU / 32.0;
            c.put(
                round(o[0] + 4.0 * a.cos()),
                round(o[1] + 4.0 * a.sin()),
                [0, 220, 0],
            );
        }
        let (rx, ry) = (round(r[0]), round(r[1]));
        crate::plot::line(&mut c, rx - 3, ry, rx + 3, ry, [255, 40, 40]);
        crate::plot::line(&mut c, rx, ry - 3, rx, ry + 3, [255, 40, 40]);
    }
    let n = observed.len().min(reprojected.len()).max(1);
    let title = format!(
        "RMS {:.3} PX, ERRORS X{}",
        (sq / n as f64).sqrt(),
        REPROJECTION_ARROW_SCALE
    );
    c.fill_rect(
        crate::image::Rect {
            x: 0,
            y: 0,
            width: crate::draw::text_width(&title, 2) as u32 + 8,
            height: 20,
        },
        [0, 0, 0],
    );
    c.draw_text(4, 3, &title, [255, 255, 255], 2);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn board_points_follow_opencv_order() {
        let b = board_points(3, 2, 0.5);
        assert_eq!(
            b,
            vec![
                [0.0, 0.0, 0.0],
                [0.5, 0.0, 0.0],
                [1.0, 0.0, 0.0],
                [0.0, 0.5, 0.0],
                [0.5, 0.5, 0.0],
                [1.0, 0.5, 0.0]
            ]
        );
    }

    #[test]
    fn spread_of_collinear_points_is_zero() {
        let (lo, hi) = spread([[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]].into_iter());
        assert!(lo.abs() < 1e-12 && hi > 1.0);
    }

    #[test]
    fn the_report_draws_circles_crosses_and_title() {
        let img = Image::from_fn(100, 80, |_, _| 0.5);
        let c = draw_reprojection(&img, &[[50.0, 50.0]], &[[51.0, 50.0]]);
        assert_eq!(c.pixel(50, 54), [0, 220, 0]); // circle
        assert_eq!(c.pixel(51, 47), [255, 40, 40]); // cross
        assert_eq!(c.pixel(60, 50), [255, 220, 0]); // arrow, 20x magnified
        assert_eq!(c.pixel(1, 1), [0, 0, 0]); // title bar
    }
}
