//! Stereo calibration, as OpenCV's `stereoCalibrate`: the rotation `R` and translation `T`
//! between two calibrated cameras that watched the same board, the essential and
//! fundamental matrices, and the rig that carries them (with its rectification, see
//! [`rectify`](super::rectify)).
//!
//! # Conventions (OpenCV's)
//! A point `X1` in the left (first) camera's frame is `X2 = R X1 + T` in the right
//! (second) camera's frame; `T` is in the unit of the board points (metres for a square
//! side given in metres), so the baseline is `|T|`. `E = [T]x R` (`[T]x` the cross-product
//! matrix) and `F = K2^-T E K1^-1`, scaled so that `F[2][2] = 1` (when it is not 0); a left
//! pixel `x1` and its right match `x2` (both undistorted, homogeneous) satisfy
//! `x2ᵀ F x1 = 0`.
//!
//! # The method
//! 1. Each view's board pose in each camera (as [`calibrate`](crate::geometry::calibrate)
//!    finds it: homography, then the view alone refined), and from the two the view's own
//!    `R_i = R_right R_leftᵀ`, `T_i = t_right - R_i t_left`; the start is the median of each
//!    of the six numbers (Rodrigues vector of `R_i`, `T_i`) over the views, the mean of the
//!    two middle values for an even count, as OpenCV.
//! 2. Levenberg-Marquardt over `(R, T)`, the left pose of every view and, unless
//!    [`StereoCalibrationParams::fix_intrinsics`] (OpenCV's `CALIB_FIX_INTRINSIC`, its
//!    default), both cameras' `fx, fy, cx, cy, k1, k2, p1, p2, k3` (OpenCV's
//!    `CALIB_USE_INTRINSIC_GUESS`: the given cameras are the start). The right pose of a view
//!    is the left pose followed by `(R, T)`. The residuals are both cameras' reprojection
//!    errors; the Jacobian is analytic (the projection's, see
//!    [`lm`](crate::geometry::lm), chained through the composition), the normal equations are
//!    solved by the Schur complement over the per-view blocks, and the damping and stopping
//!    rules are those of [`calibrate`](crate::geometry::calibrate) (`λ` from `1e-3`, times or
//!    over 10; at most `max_iterations` steps or a relative change below `epsilon`).
//!
//! The error is OpenCV's: `rms = sqrt(Σ over both cameras |observed - projected|² / (2 N))`
//! with `N` the number of board points over all views (per camera).

use nalgebra::{Matrix6, SMatrix, SVector, Vector6};
use serde::{Deserialize, Serialize};

use super::rectify::{Rectification, RectifyParams, stereo_rectify};
use crate::error::{Error, Result};
use crate::geometry::calibrate::check_views;
use crate::geometry::calibrate_init::init_pose;
use crate::geometry::camera::{
    Camera, Distortion, Intrinsics, Mat3, Pose, mat3_inverse, mat3_mul, mat3_transpose, mat3_vec,
    rodrigues, rodrigues_vector,
};
use crate::geometry::lm::{N_INTRINSIC, projection_jacobian, rodrigues_jacobian};

/// Size of the shared block of unknowns: `R` (3), `T` (3), both cameras' intrinsics.
const NG: usize = 6 + 2 * N_INTRINSIC;
type MatG = SMatrix<f64, NG, NG>;
type MatG6 = SMatrix<f64, NG, 6>;
type VecG = SVector<f64, NG>;

/// How to calibrate a stereo pair (OpenCV's `stereoCalibrate` flags and criteria).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StereoCalibrationParams {
    /// Keep both cameras as given and estimate only `R`, `T` (OpenCV's
    /// `CALIB_FIX_INTRINSIC`, its default); off, the cameras are refined jointly, starting
    /// from the given ones (`CALIB_USE_INTRINSIC_GUESS`).
    pub fix_intrinsics: bool,
    /// When refining: keep the principal points (`CALIB_FIX_PRINCIPAL_POINT`).
    pub fix_principal_point: bool,
    /// When refining: keep the tangential coefficients as given (`CALIB_FIX_TANGENT_DIST`).
    pub fix_tangent: bool,
    /// When refining: keep `k3` as given (`CALIB_FIX_K3`).
    pub fix_k3: bool,
    /// Most Levenberg-Marquardt steps.
    pub max_iterations: usize,
    /// Stop when the parameter vector changes by less than this, relatively.
    pub epsilon: f64,
}

impl Default for StereoCalibrationParams {
    fn default() -> Self {
        StereoCalibrationParams {
            fix_intrinsics: true,
            fix_principal_point: false,
            fix_tangent: false,
            fix_k3: false,
            max_iterations: 30,
            epsilon: f64::EPSILON,
        }
    }
}

/// A calibrated stereo rig: both cameras, the pose of the right camera in the left one's
/// frame, the epipolar matrices, and, once computed, the rectification. Saved with
/// [`persist`](crate::persist) as kind `"stereo-rig"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StereoRig {
    /// The left (first, reference) camera.
    pub camera1: Camera,
    /// The right (second) camera.
    pub camera2: Camera,
    /// Rotation from the left camera's frame to the right one's: `X2 = R X1 + T`.
    pub r: Mat3,
    /// Translation of the same map, in the board's unit.
    pub t: [f64; 3],
    /// Essential matrix `[T]x R`.
    pub e: Mat3,
    /// Fundamental matrix `K2^-T E K1^-1`, scaled to `F[2][2] = 1`.
    pub f: Mat3,
    /// RMS reprojection error of the calibration over both cameras, in pixels (0 when the
    /// rig was not calibrated from views).
    pub rms: f64,
    /// `[width, height]` of both cameras' images.
    pub image_size: [usize; 2],
    /// The rectification (`stereoRectify`), when computed.
    pub rectification: Option<Rectification>,
}

impl crate::persist::Model for StereoRig {
    fn kind() -> String {
        "stereo-rig".into()
    }

    fn validate_loaded(&self) -> Result<()> {
        self.validate()
    }
}

/// A fitted stereo calibration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StereoCalibration {
    /// The rig (without rectification).
    pub rig: StereoRig,
    /// The board's pose in the left camera, per view.
    pub poses: Vec<Pose>,
    /// RMS reprojection error per view, `[left, right]`, in pixels.
    pub per_view_rms: Vec<[f64; 2]>,
    /// Levenberg-Marquardt steps taken.
    pub iterations: usize,
    /// The params it was fitted with.
    pub params: StereoCalibrationParams,
}

/// `[v]x`, the matrix of the cross product with `v`.
fn cross_matrix(v: [f64; 3]) -> Mat3 {
    [[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]]
}

impl StereoRig {
    /// The rig of two cameras and the pose `(r, t)` of the second in the first's frame:
    /// `E` and `F` computed, `rms` 0, no rectification. Fails on cameras of different image
    /// sizes, an invalid camera, a non-finite or non-rotation `r`, or a zero `t`.
    pub fn new(camera1: Camera, camera2: Camera, r: Mat3, t: [f64; 3]) -> Result<Self> {
        let e = mat3_mul(&cross_matrix(t), &r);
        let f = fundamental(&camera1, &camera2, &e)?;
        let rig = StereoRig {
            image_size: camera1.image_size,
            camera1,
            camera2,
            r,
            t,
            e,
            f,
            rms: 0.0,
            rectification: None,
        };
        rig.validate()?;
        Ok(rig)
    }

    /// The baseline `|T|`, in the board's unit.
    pub fn baseline(&self) -> f64 {
        let t = self.t;
        (t[0] * t[0] + t[1] * t[1] + t[2] * t[2]).sqrt()
    }

    /// Computes the rectification (see [`stereo_rectify`]) and stores it in the rig.
    pub fn rectify(&mut self, params: &RectifyParams) -> Result<&Rectification> {
        let rect = stereo_rectify(&self.camera1, &self.camera2, &self.r, self.t, params)?;
        Ok(self.rectification.insert(rect))
    }

    /// The rectification, or an error saying that the rig has none.
    pub fn rectification(&self) -> Result<&Rectification> {
        self.rectification.as_ref().ok_or_else(|| {
            Error::param(
                "rectification",
                "the stereo rig has no rectification: rectify it (stereoRectify) before \
                 using it on an unrectified pair",
            )
        })
    }

    /// Checks what a rig claims: valid cameras of the rig's image size, a rotation `R`
    /// (orthonormal to 1e-6, determinant 1), a finite non-zero `T`, finite `E`, `F`, `rms`
    /// and a valid rectification of the same size.
    pub fn validate(&self) -> Result<()> {
        self.camera1.validate()?;
        self.camera2.validate()?;
        if self.camera1.image_size != self.image_size || self.camera2.image_size != self.image_size
        {
            return Err(Error::param(
                "image_size",
                format!(
                    "both cameras must have the rig's image size {:?}, found {:?} and {:?}",
                    self.image_size, self.camera1.image_size, self.camera2.image_size
                ),
            ));
        }
        let finite = self
            .r
            .iter()
            .chain(&self.e)
            .chain(&self.f)
            .flatten()
            .chain(&self.t)
            .chain([&self.rms])
            .all(|v| v.is_finite());
        if !finite {
            return Err(Error::NonFinite { what: "stereo rig" });
        }
        let rrt = mat3_mul(&self.r, &mat3_transpose(&self.r));
        let off = (0..9)
            .map(|k| (rrt[k / 3][k % 3] - if k % 4 == 0 { 1.0 } else { 0.0 }).abs())
            .fold(0.0, f64::max);
        if off > 1e-6 || det3(&self.r) < 0.0 {
            return Err(Error::param(
                "r",
                format!("R is not a rotation (|R Rᵀ - I| = {off:e})"),
            ));
        }
        if !(self.baseline() > 0.0) {
            return Err(Error::param("t", "the baseline |T| must be positive"));
        }
        if !(self.rms >= 0.0) {
            return Err(Error::param("rms", "must be >= 0"));
        }
        if let Some(rect) = &self.rectification {
            rect.validate()?;
        }
        Ok(())
    }
}

fn det3(m: &Mat3) -> f64 {
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

/// `F = K2^-T E K1^-1`, scaled to `F[2][2] = 1` when that entry is not 0 (OpenCV's).
fn fundamental(camera1: &Camera, camera2: &Camera, e: &Mat3) -> Result<Mat3> {
    let k1i = mat3_inverse(&camera1.intrinsics.matrix())?;
    let k2i = mat3_inverse(&camera2.intrinsics.matrix())?;
    let mut f = mat3_mul(&mat3_mul(&mat3_transpose(&k2i), e), &k1i);
    let s = f[2][2];
    if s.abs() > 0.0 {
        f.iter_mut().flatten().for_each(|v| *v /= s);
    }
    Ok(f)
}

/// Median as OpenCV's `stereoCalibrate` takes it: the middle value, or the mean of the
/// two middle values for an even count.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n.is_multiple_of(2) {
        (v[n / 2] + v[n / 2 - 1]) * 0.5
    } else {
        v[n / 2]
    }
}

/// The intrinsic vector of a camera in the order of [`crate::geometry::lm::INTRINSIC_NAMES`].
fn intrinsics_of(c: &Camera) -> [f64; N_INTRINSIC] {
    let (k, d) = (&c.intrinsics, &c.distortion);
    [k.fx, k.fy, k.cx, k.cy, k.skew, d.k1, d.k2, d.p1, d.p2, d.k3]
}

/// The camera of an intrinsic vector.
fn camera_of(v: &[f64], image_size: [usize; 2]) -> Camera {
    Camera {
        intrinsics: Intrinsics {
            fx: v[0],
            fy: v[1],
            cx: v[2],
            cy: v[3],
            skew: v[4],
        },
        distortion: Distortion {
            k1: v[5],
            k2: v[6],
            p1: v[7],
            p2: v[8],
            k3: v[9],
        },
        image_size,
    }
}

/// The stereo problem's data.
struct Views<'a> {
    object: &'a [Vec<[f64; 3]>],
    image: [&'a [Vec<[f64; 2]>]; 2],
    image_size: [usize; 2],
    free: [bool; NG],
}

/// The normal equations' blocks at one parameter vector.
struct Normal {
    sq_error: f64,
    u: MatG,
    ea: VecG,
    w: Vec<MatG6>,
    v: Vec<Matrix6<f64>>,
    eb: Vec<Vector6<f64>>,
}

/// One residual's derivatives: the shared block and the view's pose block.
type Row = (VecG, Vector6<f64>);

/// Receives each residual: `(view, residual, derivatives)`.
type RowSink<'a> = dyn FnMut(usize, f64, &Row) + 'a;

impl Views<'_> {
    /// Squared error of each view and camera; with `rows`, also each residual's
    /// derivatives (`f(view, residual, derivatives)`). `None` if a point falls behind a
    /// camera or a value is not finite.
    fn evaluate(
        &self,
        g: &[f64; NG],
        poses: &[[f64; 6]],
        mut rows: Option<&mut RowSink<'_>>,
    ) -> Option<Vec<[f64; 2]>> {
        let cam = [
            camera_of(&g[6..6 + N_INTRINSIC], self.image_size),
            camera_of(&g[6 + N_INTRINSIC..], self.image_size),
        ];
        let lr = Pose {
            rvec: [g[0], g[1], g[2]],
            t: [g[3], g[4], g[5]],
        };
        let r_lr = rodrigues(lr.rvec);
        let mut out = Vec::with_capacity(poses.len());
        for (v, pose) in poses.iter().enumerate() {
            let left = Pose {
                rvec: [pose[0], pose[1], pose[2]],
                t: [pose[3], pose[4], pose[5]],
            };
            let (r_l, d_r_l) = rodrigues_jacobian(left.rvec);
            let mut sums = [0.0; 2];
            for (i, p) in self.object[v].iter().enumerate() {
                // Left camera: the board seen from the view's pose.
                let pj = projection_jacobian(&cam[0], &left, *p).ok()?;
                let q = self.image[0][v][i];
                for c in 0..2 {
                    let e = pj.pixel[c] - q[c];
                    sums[0] += e * e;
                    if let Some(f) = rows.as_deref_mut() {
                        let mut a = VecG::zeros();
                        for j in 0..N_INTRINSIC {
                            a[6 + j] = pj.d_intrinsics[c][j];
                        }
                        f(v, e, &(a, Vector6::from_row_slice(&pj.d_pose[c])));
                    }
                }
                // Right camera: the left-camera point X1 seen from (R, T).
                let rp = mat3_vec(&r_l, *p);
                let x1: [f64; 3] = std::array::from_fn(|k| rp[k] + left.t[k]);
                let pj = projection_jacobian(&cam[1], &lr, x1).ok()?;
                let q = self.image[1][v][i];
                for c in 0..2 {
                    let e = pj.pixel[c] - q[c];
                    sums[1] += e * e;
                    if let Some(f) = rows.as_deref_mut() {
                        let mut a = VecG::zeros();
                        for j in 0..6 {
                            a[j] = pj.d_pose[c][j];
                        }
                        for j in 0..N_INTRINSIC {
                            a[6 + N_INTRINSIC + j] = pj.d_intrinsics[c][j];
                        }
                        // d pixel / d X1 = d pixel / d T · R.
                        let dx: [f64; 3] = std::array::from_fn(|k| {
                            (0..3).map(|m| pj.d_pose[c][3 + m] * r_lr[m][k]).sum()
                        });
                        let mut b = Vector6::zeros();
                        for (j, dr) in d_r_l.iter().enumerate() {
                            let dxj = mat3_vec(dr, *p);
                            b[j] = dx[0] * dxj[0] + dx[1] * dxj[1] + dx[2] * dxj[2];
                        }
                        for k in 0..3 {
                            b[3 + k] = dx[k];
                        }
                        f(v, e, &(a, b));
                    }
                }
            }
            out.push(sums);
        }
        out.iter().flatten().all(|e| e.is_finite()).then_some(out)
    }

    fn total(&self, g: &[f64; NG], poses: &[[f64; 6]]) -> Option<f64> {
        self.evaluate(g, poses, None)
            .map(|e| e.iter().flatten().sum())
    }

    fn normal(&self, g: &[f64; NG], poses: &[[f64; 6]]) -> Option<Normal> {
        let n = poses.len();
        let mut nm = Normal {
            sq_error: 0.0,
            u: MatG::zeros(),
            ea: VecG::zeros(),
            w: vec![MatG6::zeros(); n],
            v: vec![Matrix6::zeros(); n],
            eb: vec![Vector6::zeros(); n],
        };
        let mut add = |v: usize, e: f64, (a, b): &Row| {
            nm.u += a * a.transpose();
            nm.ea += a * e;
            nm.w[v] += a * b.transpose();
            nm.v[v] += b * b.transpose();
            nm.eb[v] += b * e;
        };
        let errors = self.evaluate(g, poses, Some(&mut add))?;
        nm.sq_error = errors.iter().flatten().sum();
        nm.sq_error.is_finite().then_some(nm)
    }

    /// The damped step `(δ shared, δ poses)` by the Schur complement.
    fn step(&self, nm: &Normal, lambda: f64) -> Result<(VecG, Vec<Vector6<f64>>)> {
        let mut s = nm.u;
        let mut rhs = nm.ea;
        for j in 0..NG {
            s[(j, j)] *= 1.0 + lambda;
        }
        let mut vinv = Vec::with_capacity(nm.v.len());
        for (i, v) in nm.v.iter().enumerate() {
            let mut v = *v;
            for j in 0..6 {
                v[(j, j)] *= 1.0 + lambda;
            }
            let inv = v
                .cholesky()
                .map(|c| c.inverse())
                .ok_or_else(|| Error::Degenerate {
                    what: "stereo calibration",
                    reason: format!("view {i}: its pose is not determined by its points"),
                })?;
            let wv = nm.w[i] * inv;
            s -= wv * nm.w[i].transpose();
            rhs -= wv * nm.eb[i];
            vinv.push(inv);
        }
        for j in 0..NG {
            if !self.free[j] {
                s.row_mut(j).fill(0.0);
                s.column_mut(j).fill(0.0);
                s[(j, j)] = 1.0;
                rhs[j] = 0.0;
            }
        }
        let da = s
            .cholesky()
            .map(|c| c.solve(&rhs))
            .ok_or_else(|| Error::Degenerate {
                what: "stereo calibration",
                reason: "R, T (or the cameras) are not determined by these views".into(),
            })?;
        let db = (0..nm.v.len())
            .map(|i| vinv[i] * (nm.eb[i] - nm.w[i].transpose() * da))
            .collect();
        Ok((da, db))
    }

    /// Levenberg-Marquardt from `(g, poses)`, as [`crate::geometry::lm`]'s loop.
    fn solve(
        &self,
        mut g: [f64; NG],
        mut poses: Vec<[f64; 6]>,
        max_iterations: usize,
        epsilon: f64,
    ) -> Result<([f64; NG], Vec<[f64; 6]>, usize)> {
        let mut nm = self.normal(&g, &poses).ok_or(Error::NonFinite {
            what: "reprojection error at the initial estimate (points behind a camera)",
        })?;
        let mut lambda_lg10: i32 = -3;
        let mut iterations = 0;
        while iterations < max_iterations {
            let mut taken = None;
            while lambda_lg10 <= 16 {
                let (da, db) = self.step(&nm, 10f64.powi(lambda_lg10))?;
                let g_new: [f64; NG] = std::array::from_fn(|j| g[j] - da[j]);
                let p_new: Vec<[f64; 6]> = poses
                    .iter()
                    .zip(&db)
                    .map(|(p, d)| std::array::from_fn(|j| p[j] - d[j]))
                    .collect();
                match self.total(&g_new, &p_new) {
                    Some(e) if e <= nm.sq_error => {
                        taken = Some((g_new, p_new));
                        break;
                    }
                    _ => lambda_lg10 += 1,
                }
            }
            let Some((g_new, p_new)) = taken else {
                break; // no damping lowers the error: a minimum
            };
            lambda_lg10 = (lambda_lg10 - 1).max(-16);
            iterations += 1;
            let (mut change, mut norm) = (0.0, 0.0);
            let old = g.iter().chain(poses.iter().flatten());
            let new = g_new.iter().chain(p_new.iter().flatten());
            for (a, b) in old.zip(new) {
                change += (b - a) * (b - a);
                norm += a * a;
            }
            g = g_new;
            poses = p_new;
            nm = self.normal(&g, &poses).ok_or(Error::NonFinite {
                what: "reprojection error during the stereo minimisation",
            })?;
            if change.sqrt() < epsilon * norm.sqrt() {
                break;
            }
        }
        Ok((g, poses, iterations))
    }
}

impl StereoCalibrationParams {
    /// Checks the params.
    pub fn validate(&self) -> Result<()> {
        if self.max_iterations == 0 {
            return Err(Error::param("max_iterations", "must be at least 1"));
        }
        if !(self.epsilon >= 0.0 && self.epsilon.is_finite()) {
            return Err(Error::param("epsilon", "must be finite and >= 0"));
        }
        Ok(())
    }

    /// Which shared unknowns move: `R`, `T` always; the intrinsics per the flags (the skew
    /// never: OpenCV's model has none).
    fn free(&self) -> [bool; NG] {
        let mut free = [false; NG];
        free[..6].fill(true);
        if !self.fix_intrinsics {
            for cam in 0..2 {
                let o = 6 + cam * N_INTRINSIC;
                for (j, f) in free[o..o + N_INTRINSIC].iter_mut().enumerate() {
                    *f = match j {
                        2 | 3 => !self.fix_principal_point,
                        4 => false,
                        7 | 8 => !self.fix_tangent,
                        9 => !self.fix_k3,
                        _ => true,
                    };
                }
            }
        }
        free
    }

    /// Calibrates the pair: `object_points[v]` (board points, `z = 0`) seen at
    /// `left[v]` by `camera1` and at `right[v]` by `camera2` in each view `v`. The cameras
    /// (from [`calibrate`](crate::geometry::calibrate) of each side) are kept or refined
    /// per the params.
    ///
    /// Errors: cameras of different image sizes; fewer than 3 views; different numbers of
    /// views or of points in a view; the checks of a single calibration on each side
    /// (finite points, `z = 0`, not collinear); a non-finite error during the minimisation.
    pub fn calibrate(
        &self,
        object_points: &[Vec<[f64; 3]>],
        left: &[Vec<[f64; 2]>],
        right: &[Vec<[f64; 2]>],
        camera1: &Camera,
        camera2: &Camera,
    ) -> Result<StereoCalibration> {
        self.validate()?;
        camera1.validate()?;
        camera2.validate()?;
        let image_size = camera1.image_size;
        if camera2.image_size != image_size {
            return Err(Error::param(
                "camera2",
                format!(
                    "the cameras' image sizes differ: {}x{} and {}x{}",
                    image_size[0], image_size[1], camera2.image_size[0], camera2.image_size[1]
                ),
            ));
        }
        if left.len() != right.len() {
            return Err(Error::LengthMismatch {
                inputs: left.len(),
                labels: right.len(),
            });
        }
        check_views(object_points, left, image_size)?;
        check_views(object_points, right, image_size)?;

        let mut rt: [Vec<f64>; 6] = Default::default();
        let mut poses = Vec::with_capacity(left.len());
        for ((o, l), r) in object_points.iter().zip(left).zip(right) {
            let pl = init_pose(camera1, o, l)?;
            let pr = init_pose(camera2, o, r)?;
            let ri = mat3_mul(&pr.rotation(), &mat3_transpose(&pl.rotation()));
            let rt_l = mat3_vec(&ri, pl.t);
            let ti: [f64; 3] = std::array::from_fn(|k| pr.t[k] - rt_l[k]);
            let om = rodrigues_vector(&ri);
            for (k, x) in om.iter().chain(&ti).enumerate() {
                rt[k].push(*x);
            }
            poses.push([
                pl.rvec[0], pl.rvec[1], pl.rvec[2], pl.t[0], pl.t[1], pl.t[2],
            ]);
        }
        let mut g = [0.0; NG];
        for (k, v) in rt.into_iter().enumerate() {
            g[k] = median(v);
        }
        g[6..6 + N_INTRINSIC].copy_from_slice(&intrinsics_of(camera1));
        g[6 + N_INTRINSIC..].copy_from_slice(&intrinsics_of(camera2));

        let views = Views {
            object: object_points,
            image: [left, right],
            image_size,
            free: self.free(),
        };
        let (g, poses, iterations) = views.solve(g, poses, self.max_iterations, self.epsilon)?;
        let errors = views.evaluate(&g, &poses, None).ok_or(Error::NonFinite {
            what: "reprojection error of the stereo calibration",
        })?;
        let total: usize = left.iter().map(Vec::len).sum();
        let rms = (errors.iter().flatten().sum::<f64>() / (2 * total) as f64).sqrt();
        let per_view_rms = errors
            .iter()
            .zip(left)
            .map(|(e, v)| e.map(|x| (x / v.len() as f64).sqrt()))
            .collect();
        let camera1 = camera_of(&g[6..6 + N_INTRINSIC], image_size);
        let camera2 = camera_of(&g[6 + N_INTRINSIC..], image_size);
        let diverged = |e: Error| match e {
            Error::NonFinite { .. } | Error::InvalidParam { .. } => Error::NonFinite {
                what: "stereo calibration (the minimisation diverged)",
            },
            other => other,
        };
        let mut rig = StereoRig::new(
            camera1,
            camera2,
            rodrigues([g[0], g[1], g[2]]),
            [g[3], g[4], g[5]],
        )
        .map_err(diverged)?;
        rig.rms = rms;
        Ok(StereoCalibration {
            rig,
            poses: poses
                .iter()
                .map(|p| Pose {
                    rvec: [p[0], p[1], p[2]],
                    t: [p[3], p[4], p[5]],
                })
                .collect(),
            per_view_rms,
            iterations,
            params: self.clone(),
        })
    }
}

/// The rig as OpenCV `FileStorage` YAML, with the names of OpenCV's stereo calibration
/// sample (`M1`, `D1`, `M2`, `D2`, `R`, `T`, `E`, `F`; with a rectification also `R1`,
/// `R2`, `P1`, `P2`, `Q` and the valid regions `roi1`, `roi2` as `[x, y, width, height]`),
/// plus `image_width`, `image_height` and `rms`. `cv::FileStorage` reads it back (numbers in
/// their shortest exact form).
pub fn rig_to_opencv_yaml(rig: &StereoRig) -> String {
    use std::fmt::Write as _;
    let mut s = String::from("%YAML:1.0\n---\n");
    let _ = writeln!(s, "image_width: {}", rig.image_size[0]);
    let _ = writeln!(s, "image_height: {}", rig.image_size[1]);
    let _ = writeln!(s, "rms: {:?}", rig.rms);
    let mut matrix = |name: &str, rows: usize, data: Vec<f64>| {
        let data: Vec<String> = data.iter().map(|v| format!("{v:?}")).collect();
        let _ = write!(
            s,
            "{name}: !!opencv-matrix\n   rows: {rows}\n   cols: {}\n   dt: d\n   data: [ {} ]\n",
            data.len() / rows,
            data.join(", ")
        );
    };
    let flat = |m: &[[f64; 3]]| m.iter().flatten().copied().collect::<Vec<f64>>();
    matrix("M1", 3, flat(&rig.camera1.intrinsics.matrix()));
    matrix("D1", 1, rig.camera1.distortion.coefficients().to_vec());
    matrix("M2", 3, flat(&rig.camera2.intrinsics.matrix()));
    matrix("D2", 1, rig.camera2.distortion.coefficients().to_vec());
    matrix("R", 3, flat(&rig.r));
    matrix("T", 3, rig.t.to_vec());
    matrix("E", 3, flat(&rig.e));
    matrix("F", 3, flat(&rig.f));
    if let Some(r) = &rig.rectification {
        matrix("R1", 3, flat(&r.r1));
        matrix("R2", 3, flat(&r.r2));
        matrix("P1", 3, r.p1.iter().flatten().copied().collect());
        matrix("P2", 3, r.p2.iter().flatten().copied().collect());
        matrix("Q", 4, r.q.iter().flatten().copied().collect());
        for (name, roi) in [("roi1", &r.roi1), ("roi2", &r.roi2)] {
            let _ = writeln!(
                s,
                "{name}: [ {}, {}, {}, {} ]",
                roi.x, roi.y, roi.width, roi.height
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_is_opencvs() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn the_essential_matrix_is_t_cross_r() {
        let cam = Camera {
            intrinsics: Intrinsics {
                fx: 500.0,
                fy: 500.0,
                cx: 320.0,
                cy: 240.0,
                skew: 0.0,
            },
            distortion: Distortion::default(),
            image_size: [640, 480],
        };
        let r = rodrigues([0.01, -0.02, 0.005]);
        let t = [-0.1, 0.002, 0.001];
        let rig = StereoRig::new(cam.clone(), cam.clone(), r, t).unwrap();
        // A point seen by both cameras satisfies x2ᵀ E x1 = 0 and p2ᵀ F p1 = 0.
        let x1 = [0.3, -0.2, 2.0];
        let x2: [f64; 3] = std::array::from_fn(|k| mat3_vec(&r, x1)[k] + t[k]);
        let ex1 = mat3_vec(&rig.e, x1);
        assert!((x2[0] * ex1[0] + x2[1] * ex1[1] + x2[2] * ex1[2]).abs() < 1e-15);
        let p = |x: [f64; 3]| {
            [
                500.0 * x[0] / x[2] + 320.0,
                500.0 * x[1] / x[2] + 240.0,
                1.0,
            ]
        };
        let (p1, p2) = (p(x1), p(x2));
        let fp1 = mat3_vec(&rig.f, p1);
        assert!((p2[0] * fp1[0] + p2[1] * fp1[1] + p2[2] * fp1[2]).abs() < 1e-9);
        assert_eq!(rig.f[2][2], 1.0);
        assert!((rig.baseline() - (0.01f64 + 4e-6 + 1e-6).sqrt()).abs() < 1e-15);
        assert!(StereoRig::new(cam.clone(), cam.clone(), r, [0.0; 3]).is_err());
        let mut other = cam.clone();
        other.image_size = [320, 240];
        assert!(StereoRig::new(cam, other, r, t).is_err());
    }
}
