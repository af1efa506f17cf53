//! The reprojection-error minimisation behind [`calibrate`](super::calibrate): the projection
//! of a board point with its analytic Jacobian, the Rodrigues derivative, and OpenCV's
//! Levenberg-Marquardt loop over the intrinsics, the distortion and every pose.
//!
//! # The projection and its derivatives
//! A board point `P` seen from pose `(r, t)` lands at `X = R(r) P + t`, `x = X/Z`, `y = Y/Z`,
//! is distorted by OpenCV's five-coefficient model
//! (`r2 = x^2 + y^2`, `radial = 1 + k1 r2 + k2 r2^2 + k3 r2^3`,
//! `x' = x radial + 2 p1 x y + p2 (r2 + 2 x^2)`, `y' = y radial + p1 (r2 + 2 y^2) + 2 p2 x y`)
//! and mapped to pixels by `u = fx x' + skew y' + cx`, `v = fy y' + cy`.
//! [`projection_jacobian`] returns the pixel with its derivatives with respect to the ten
//! intrinsic parameters, in the order of [`INTRINSIC_NAMES`]
//! (`fx, fy, cx, cy, skew, k1, k2, p1, p2, k3`), and the six pose parameters
//! (`r1, r2, r3, t1, t2, t3`); the rotation's part goes through [`rodrigues_jacobian`]
//! (the derivative of `R = cos θ I + (1 - cos θ) k kᵀ + sin θ [k]×`, `θ = |r|`, `k = r/θ`,
//! as `cvRodrigues2` computes it). Both are checked against central finite differences.
//!
//! # The minimisation (as OpenCV's `calibrateCamera`)
//! Parameters are the intrinsics followed by six per view; a mask fixes some of them
//! (principal point, aspect ratio, tangential terms, `k3`, skew). Each iteration solves
//! `(JᵀJ + λ diag(JᵀJ)) δ = Jᵀe` over the free parameters and tries `p - δ`: a step that does
//! not increase the sum of squared errors is taken and `λ` divided by 10, otherwise `λ` is
//! multiplied by 10 and the step retried, as OpenCV's `CvLevMarq::updateAlt` (`λ` starts at
//! `1e-3` and stays within `[1e-16, 1e16]`). It stops after `max_iterations` taken steps or when
//! `|p_new - p_old| / |p_old| < epsilon` (OpenCV's `CV_RELATIVE_L2` test; `calibrateCamera`
//! uses 30 and `DBL_EPSILON`); where no `λ` up to `1e16` lowers the error, the parameters are
//! at a minimum and it stops there (OpenCV takes the last, worse step in that case).
//!
//! The normal equations have the block-arrow shape of bundle adjustment: an intrinsic block
//! `U`, a 6x6 block `Vᵢ` per view and the couplings `Wᵢ`. They are solved by the Schur
//! complement (`S = U - Σ Wᵢ Vᵢ⁻¹ Wᵢᵀ`, then each view's step from the intrinsics' step),
//! which is the same solution as OpenCV's dense solve of the whole system, in time linear in
//! the number of views. Fixed parameters get a zero step.

use nalgebra::{Matrix6, SMatrix, SVector, Vector6};

use crate::error::{Error, Result};
use crate::geometry::camera::{Camera, Pose};

/// Number of intrinsic parameters in the optimisation.
pub const N_INTRINSIC: usize = 10;

/// Names of the intrinsic parameters, in the order of the Jacobian's columns.
pub const INTRINSIC_NAMES: [&str; N_INTRINSIC] =
    ["fx", "fy", "cx", "cy", "skew", "k1", "k2", "p1", "p2", "k3"];

/// Column of each intrinsic parameter.
pub(crate) const FX: usize = 0;
pub(crate) const FY: usize = 1;
pub(crate) const CX: usize = 2;
pub(crate) const CY: usize = 3;
pub(crate) const SKEW: usize = 4;
pub(crate) const K1: usize = 5;
pub(crate) const K2: usize = 6;
pub(crate) const P1: usize = 7;
pub(crate) const P2: usize = 8;
pub(crate) const K3: usize = 9;

type Mat10 = SMatrix<f64, N_INTRINSIC, N_INTRINSIC>;
type Mat10x6 = SMatrix<f64, N_INTRINSIC, 6>;
type Vec10 = SVector<f64, N_INTRINSIC>;

/// A rotation matrix with its derivatives: `d[i]` is `∂R/∂rᵢ`.
type RotationJacobian = ([[f64; 3]; 3], [[[f64; 3]; 3]; 3]);

/// Rotation matrix of a Rodrigues vector and its derivative with respect to each component
/// (`.1[i][row][col] = ∂R[row][col]/∂rᵢ`). Below `θ = DBL_EPSILON` the rotation is the
/// identity and the derivative that of `I + [r]×`, as in `cvRodrigues2`.
pub fn rodrigues_jacobian(rvec: [f64; 3]) -> RotationJacobian {
    let theta = (rvec[0] * rvec[0] + rvec[1] * rvec[1] + rvec[2] * rvec[2]).sqrt();
    let cross = |k: [f64; 3]| [[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]];
    let unit = |i: usize| {
        let mut e = [0.0; 3];
        e[i] = 1.0;
        e
    };
    if theta < f64::EPSILON {
        let eye = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        return (eye, [0, 1, 2].map(|i| cross(unit(i))));
    }
    let k = rvec.map(|v| v / theta);
    let (s, c) = theta.sin_cos();
    let c1 = 1.0 - c;
    let kx = cross(k);
    let mut r = [[0.0; 3]; 3];
    for a in 0..3 {
        for b in 0..3 {
            r[a][b] = c1 * k[a] * k[b] + s * kx[a][b] + if a == b { c } else { 0.0 };
        }
    }
    let d = [0, 1, 2].map(|i| {
        // dk/dr_i = (e_i - k k_i) / theta; dtheta/dr_i = k_i.
        let dk: [f64; 3] = [0, 1, 2].map(|j| (unit(i)[j] - k[j] * k[i]) / theta);
        let dkx = cross(dk);
        let mut m = [[0.0; 3]; 3];
        for a in 0..3 {
            for b in 0..3 {
                m[a][b] = s * k[i] * k[a] * k[b]
                    + c1 * (dk[a] * k[b] + k[a] * dk[b])
                    + c * k[i] * kx[a][b]
                    + s * dkx[a][b]
                    - if a == b { s * k[i] } else { 0.0 };
            }
        }
        m
    });
    (r, d)
}

/// A projected pixel with its derivatives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProjectionJacobian {
    /// The pixel `[u, v]`.
    pub pixel: [f64; 2],
    /// `∂[u, v]/∂` intrinsics, columns in the order of [`INTRINSIC_NAMES`].
    pub d_intrinsics: [[f64; N_INTRINSIC]; 2],
    /// `∂[u, v]/∂` pose, columns `r1, r2, r3, t1, t2, t3`.
    pub d_pose: [[f64; 6]; 2],
}

/// The intrinsic parameter vector of a camera, in the order of [`INTRINSIC_NAMES`].
pub(crate) fn intrinsic_vector(camera: &Camera) -> [f64; N_INTRINSIC] {
    let (k, d) = (&camera.intrinsics, &camera.distortion);
    [k.fx, k.fy, k.cx, k.cy, k.skew, d.k1, d.k2, d.p1, d.p2, d.k3]
}

/// Pixel of `p` seen from `pose` by `camera`, with its analytic derivatives with respect to
/// the intrinsics, the distortion and the pose. Error if the point is not in front of the
/// camera (`Z <= 0`).
pub fn projection_jacobian(
    camera: &Camera,
    pose: &Pose,
    p: [f64; 3],
) -> Result<ProjectionJacobian> {
    let rot = rodrigues_jacobian(pose.rvec);
    project(&intrinsic_vector(camera), None, &rot, pose.t, p).ok_or_else(|| Error::Degenerate {
        what: "projection",
        reason: format!(
            "the point {p:?} is on or behind the camera plane, or its image is not finite"
        ),
    })
}

/// The projection with derivatives; `aspect` (`fx / fy`) ties `fx` to `fy`, whose column
/// then carries both. `None` when `Z <= 0` or the result is not finite.
fn project(
    k: &[f64; N_INTRINSIC],
    aspect: Option<f64>,
    rot: &RotationJacobian,
    t: [f64; 3],
    p: [f64; 3],
) -> Option<ProjectionJacobian> {
    let (r, dr) = rot;
    let xc: [f64; 3] = [0, 1, 2].map(|i| r[i][0] * p[0] + r[i][1] * p[1] + r[i][2] * p[2] + t[i]);
    if !(xc[2] > 0.0) {
        return None;
    }
    let iz = 1.0 / xc[2];
    let (x, y) = (xc[0] * iz, xc[1] * iz);
    let (k1, k2, p1, p2, k3) = (k[K1], k[K2], k[P1], k[P2], k[K3]);
    let r2 = x * x + y * y;
    let r4 = r2 * r2;
    let r6 = r4 * r2;
    let radial = 1.0 + k1 * r2 + k2 * r4 + k3 * r6;
    let xd = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x);
    let yd = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y;
    let fy = k[FY];
    let fx = aspect.map_or(k[FX], |a| a * fy);
    let s = k[SKEW];
    let pixel = [fx * xd + s * yd + k[CX], fy * yd + k[CY]];

    let mut di = [[0.0; N_INTRINSIC]; 2];
    match aspect {
        Some(a) => di[0][FY] = a * xd,
        None => di[0][FX] = xd,
    }
    di[1][FY] = yd;
    di[0][CX] = 1.0;
    di[1][CY] = 1.0;
    di[0][SKEW] = yd;
    let dxd_dk = [x * r2, x * r4, 2.0 * x * y, r2 + 2.0 * x * x, x * r6];
    let dyd_dk = [y * r2, y * r4, r2 + 2.0 * y * y, 2.0 * x * y, y * r6];
    for (j, col) in [K1, K2, P1, P2, K3].into_iter().enumerate() {
        di[0][col] = fx * dxd_dk[j] + s * dyd_dk[j];
        di[1][col] = fy * dyd_dk[j];
    }

    // d(radial)/dx and /dy, then the distorted point's derivative by the ideal one.
    let drad = k1 + 2.0 * k2 * r2 + 3.0 * k3 * r4;
    let dxd_dx = radial + 2.0 * x * x * drad + 2.0 * p1 * y + 6.0 * p2 * x;
    let dxd_dy = 2.0 * x * y * drad + 2.0 * p1 * x + 2.0 * p2 * y;
    let dyd_dx = 2.0 * x * y * drad + 2.0 * p1 * x + 2.0 * p2 * y;
    let dyd_dy = radial + 2.0 * y * y * drad + 6.0 * p1 * y + 2.0 * p2 * x;
    // d[x, y]/dX for X = (X, Y, Z): x = X/Z, y = Y/Z.
    let dx_dxc = [iz, 0.0, -x * iz];
    let dy_dxc = [0.0, iz, -y * iz];
    let mut du_dxc = [0.0; 3];
    let mut dv_dxc = [0.0; 3];
    for c in 0..3 {
        let dxd = dxd_dx * dx_dxc[c] + dxd_dy * dy_dxc[c];
        let dyd = dyd_dx * dx_dxc[c] + dyd_dy * dy_dxc[c];
        du_dxc[c] = fx * dxd + s * dyd;
        dv_dxc[c] = fy * dyd;
    }
    let mut dp = [[0.0; 6]; 2];
    for i in 0..3 {
        let dxc: [f64; 3] =
            [0, 1, 2].map(|a| dr[i][a][0] * p[0] + dr[i][a][1] * p[1] + dr[i][a][2] * p[2]);
        dp[0][i] = du_dxc[0] * dxc[0] + du_dxc[1] * dxc[1] + du_dxc[2] * dxc[2];
        dp[1][i] = dv_dxc[0] * dxc[0] + dv_dxc[1] * dxc[1] + dv_dxc[2] * dxc[2];
        dp[0][3 + i] = du_dxc[i];
        dp[1][3 + i] = dv_dxc[i];
    }
    let out = ProjectionJacobian {
        pixel,
        d_intrinsics: di,
        d_pose: dp,
    };
    let finite = pixel.iter().all(|v| v.is_finite())
        && di.iter().flatten().all(|v| v.is_finite())
        && dp.iter().flatten().all(|v| v.is_finite());
    finite.then_some(out)
}

/// A pose as the six optimised numbers `r1, r2, r3, t1, t2, t3`.
pub(crate) fn pose_vector(pose: &Pose) -> [f64; 6] {
    let (r, t) = (pose.rvec, pose.t);
    [r[0], r[1], r[2], t[0], t[1], t[2]]
}

/// The pose of six optimised numbers.
pub(crate) fn pose_of(v: &[f64; 6]) -> Pose {
    Pose {
        rvec: [v[0], v[1], v[2]],
        t: [v[3], v[4], v[5]],
    }
}

/// One reprojection problem: the views, which intrinsics move, and the tie `fx = a fy`.
pub(crate) struct Problem<'a> {
    /// Board points per view.
    pub object: &'a [Vec<[f64; 3]>],
    /// Observed pixels per view.
    pub image: &'a [Vec<[f64; 2]>],
    /// Which intrinsic parameters the minimisation moves.
    pub free: [bool; N_INTRINSIC],
    /// `fx / fy` when the aspect ratio is fixed (then `fx` follows `fy`).
    pub aspect: Option<f64>,
}

/// Where a minimisation ended.
pub(crate) struct Solution {
    /// The intrinsic parameters.
    pub intrinsics: [f64; N_INTRINSIC],
    /// The six pose numbers of each view.
    pub poses: Vec<[f64; 6]>,
    /// Steps taken.
    pub iterations: usize,
}

/// The damped normal equations' blocks at one parameter vector.
struct Normal {
    sq_error: f64,
    u: Mat10,
    ea: Vec10,
    w: Vec<Mat10x6>,
    v: Vec<Matrix6<f64>>,
    eb: Vec<Vector6<f64>>,
}

impl Problem<'_> {
    /// Sum of squared errors of each view; `None` if a point falls behind the camera or a
    /// value is not finite.
    pub fn view_errors(&self, k: &[f64; N_INTRINSIC], poses: &[[f64; 6]]) -> Option<Vec<f64>> {
        let mut out = Vec::with_capacity(poses.len());
        for (v, pose) in poses.iter().enumerate() {
            let rot = rodrigues_jacobian([pose[0], pose[1], pose[2]]);
            let t = [pose[3], pose[4], pose[5]];
            let mut sum = 0.0;
            for (p, q) in self.object[v].iter().zip(&self.image[v]) {
                let pj = project(k, self.aspect, &rot, t, *p)?;
                let (du, dv) = (pj.pixel[0] - q[0], pj.pixel[1] - q[1]);
                sum += du * du + dv * dv;
            }
            out.push(sum);
        }
        out.iter().all(|e| e.is_finite()).then_some(out)
    }

    fn normal(&self, k: &[f64; N_INTRINSIC], poses: &[[f64; 6]]) -> Option<Normal> {
        let n = poses.len();
        let mut nm = Normal {
            sq_error: 0.0,
            u: Mat10::zeros(),
            ea: Vec10::zeros(),
            w: vec![Mat10x6::zeros(); n],
            v: vec![Matrix6::zeros(); n],
            eb: vec![Vector6::zeros(); n],
        };
        for (i, pose) in poses.iter().enumerate() {
            let rot = rodrigues_jacobian([pose[0], pose[1], pose[2]]);
            let t = [pose[3], pose[4], pose[5]];
            for (p, q) in self.object[i].iter().zip(&self.image[i]) {
                let pj = project(k, self.aspect, &rot, t, *p)?;
                for c in 0..2 {
                    let e = pj.pixel[c] - q[c];
                    nm.sq_error += e * e;
                    let a = Vec10::from_row_slice(&pj.d_intrinsics[c]);
                    let b = Vector6::from_row_slice(&pj.d_pose[c]);
                    nm.u += a * a.transpose();
                    nm.ea += a * e;
                    nm.w[i] += a * b.transpose();
                    nm.v[i] += b * b.transpose();
                    nm.eb[i] += b * e;
                }
            }
        }
        nm.sq_error.is_finite().then_some(nm)
    }

    /// The LM step at damping `lambda`: `(δ intrinsics, δ poses)`. Error when a view's
    /// block or the reduced intrinsic system is singular.
    fn step(&self, nm: &Normal, lambda: f64) -> Result<(Vec10, Vec<Vector6<f64>>)> {
        let mut s = nm.u;
        let mut rhs = nm.ea;
        for j in 0..N_INTRINSIC {
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
                    what: "calibration",
                    reason: format!("view {i}: its pose is not determined by its points"),
                })?;
            let wv = nm.w[i] * inv;
            s -= wv * nm.w[i].transpose();
            rhs -= wv * nm.eb[i];
            vinv.push(inv);
        }
        for j in 0..N_INTRINSIC {
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
                what: "calibration",
                reason: "the intrinsics are not determined by these views (all boards \
                         parallel, or too few distinct orientations)"
                    .into(),
            })?;
        let db = (0..nm.v.len())
            .map(|i| vinv[i] * (nm.eb[i] - nm.w[i].transpose() * da))
            .collect();
        Ok((da, db))
    }

    /// Minimises the reprojection error from `(k, poses)` (see the module docs).
    pub fn solve(
        &self,
        k: [f64; N_INTRINSIC],
        poses: Vec<[f64; 6]>,
        max_iterations: usize,
        epsilon: f64,
    ) -> Result<Solution> {
        let diverged = || Error::NonFinite {
            what: "reprojection error at the initial estimate (points behind the camera)",
        };
        let mut k = k;
        let mut poses = poses;
        let mut nm = self.normal(&k, &poses).ok_or_else(diverged)?;
        let mut lambda_lg10: i32 = -3;
        let mut iterations = 0;
        while iterations < max_iterations {
            let mut taken = None;
            while lambda_lg10 <= 16 {
                let (da, db) = self.step(&nm, 10f64.powi(lambda_lg10))?;
                let k_new: [f64; N_INTRINSIC] = std::array::from_fn(|j| k[j] - da[j]);
                let poses_new: Vec<[f64; 6]> = poses
                    .iter()
                    .zip(&db)
                    .map(|(p, d)| std::array::from_fn(|j| p[j] - d[j]))
                    .collect();
                let err = self
                    .view_errors(&k_new, &poses_new)
                    .map(|e| e.iter().sum::<f64>());
                match err {
                    Some(e) if e <= nm.sq_error => {
                        taken = Some((k_new, poses_new));
                        break;
                    }
                    _ => lambda_lg10 += 1,
                }
            }
            let Some((k_new, poses_new)) = taken else {
                break; // no damping lowers the error: a minimum
            };
            lambda_lg10 = (lambda_lg10 - 1).max(-16);
            iterations += 1;
            let (mut change, mut norm) = (0.0, 0.0);
            let old = k.iter().chain(poses.iter().flatten());
            let new = k_new.iter().chain(poses_new.iter().flatten());
            for (a, b) in old.zip(new) {
                change += (b - a) * (b - a);
                norm += a * a;
            }
            k = k_new;
            poses = poses_new;
            nm = self.normal(&k, &poses).ok_or(Error::NonFinite {
                what: "reprojection error during the minimisation",
            })?;
            if change.sqrt() < epsilon * norm.sqrt() {
                break;
            }
        }
        Ok(Solution {
            intrinsics: k,
            poses,
            iterations,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::camera::{Distortion, Intrinsics};

    fn camera() -> Camera {
        Camera {
            intrinsics: Intrinsics {
                fx: 800.0,
                fy: 780.0,
                cx: 320.5,
                cy: 241.0,
                skew: 1.5,
            },
            distortion: Distortion {
                k1: -0.21,
                k2: 0.09,
                p1: 0.0013,
                p2: -0.0021,
                k3: 0.05,
            },
            image_size: [640, 480],
        }
    }

    fn with_intrinsics(base: &Camera, k: &[f64; N_INTRINSIC]) -> Camera {
        Camera {
            intrinsics: Intrinsics {
                fx: k[FX],
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
            image_size: base.image_size,
        }
    }

    #[test]
    fn rodrigues_jacobian_matches_finite_differences_and_the_rotation() {
        for rvec in [
            [0.3, -0.2, 0.1],
            [1e-9, 2e-9, -1e-9],
            [2.5, 0.4, -1.0],
            [0.0, 0.0, 3.0],
        ] {
            let (r, d) = rodrigues_jacobian(rvec);
            let reference = crate::geometry::camera::rodrigues(rvec);
            for a in 0..3 {
                for b in 0..3 {
                    assert!((r[a][b] - reference[a][b]).abs() < 1e-15);
                }
            }
            let h = 1e-6;
            for i in 0..3 {
                let (mut lo, mut hi) = (rvec, rvec);
                lo[i] -= h;
                hi[i] += h;
                let (rl, rh) = (rodrigues_jacobian(lo).0, rodrigues_jacobian(hi).0);
                for a in 0..3 {
                    for b in 0..3 {
                        let fd = (rh[a][b] - rl[a][b]) / (2.0 * h);
                        assert!(
                            (fd - d[i][a][b]).abs() < 1e-8,
                            "r {rvec:?} d/dr{i} [{a}][{b}]: analytic {} fd {fd}",
                            d[i][a][b]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn projection_jacobian_matches_finite_differences() {
        let cam = camera();
        let pose = Pose {
            rvec: [0.25, -0.4, 0.1],
            t: [-0.05, 0.03, 0.6],
        };
        for p in [[0.0, 0.0, 0.0], [0.1, 0.05, 0.0], [-0.07, 0.12, 0.02]] {
            let pj = projection_jacobian(&cam, &pose, p).unwrap();
            assert_eq!(pj.pixel, cam.project(&pose, p).unwrap().map(|v| v + 0.0));
            let k0 = intrinsic_vector(&cam);
            for j in 0..N_INTRINSIC {
                let h = 1e-6 * k0[j].abs().max(1.0);
                let (mut lo, mut hi) = (k0, k0);
                lo[j] -= h;
                hi[j] += h;
                let pl = with_intrinsics(&cam, &lo).project(&pose, p).unwrap();
                let ph = with_intrinsics(&cam, &hi).project(&pose, p).unwrap();
                for c in 0..2 {
                    let fd = (ph[c] - pl[c]) / (2.0 * h);
                    let an = pj.d_intrinsics[c][j];
                    assert!(
                        (fd - an).abs() < 1e-6 * an.abs().max(1.0),
                        "d{c}/d{}: analytic {an} fd {fd}",
                        INTRINSIC_NAMES[j]
                    );
                }
            }
            let v0 = pose_vector(&pose);
            for j in 0..6 {
                let h = 1e-7;
                let (mut lo, mut hi) = (v0, v0);
                lo[j] -= h;
                hi[j] += h;
                let pl = cam.project(&pose_of(&lo), p).unwrap();
                let ph = cam.project(&pose_of(&hi), p).unwrap();
                for c in 0..2 {
                    let fd = (ph[c] - pl[c]) / (2.0 * h);
                    let an = pj.d_pose[c][j];
                    assert!(
                        (fd - an).abs() < 1e-5 * an.abs().max(1.0),
                        "d{c}/dpose{j}: analytic {an} fd {fd}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_aspect_tie_moves_fx_with_fy() {
        let cam = camera();
        let pose = Pose {
            rvec: [0.1, 0.2, 0.0],
            t: [0.0, 0.0, 1.0],
        };
        let rot = rodrigues_jacobian(pose.rvec);
        let mut k = intrinsic_vector(&cam);
        let a = 1.05;
        let p = [0.1, -0.2, 0.0];
        let base = project(&k, Some(a), &rot, pose.t, p).unwrap();
        let h = 1e-4;
        k[FY] += h;
        let moved = project(&k, Some(a), &rot, pose.t, p).unwrap();
        let fd = (moved.pixel[0] - base.pixel[0]) / h;
        assert!((fd - base.d_intrinsics[0][FY]).abs() < 1e-6);
        assert_eq!(base.d_intrinsics[0][FX], 0.0);
    }

    #[test]
    fn points_behind_the_camera_are_errors() {
        let pose = Pose {
            rvec: [0.0; 3],
            t: [0.0, 0.0, -1.0],
        };
        assert!(projection_jacobian(&camera(), &pose, [0.0; 3]).is_err());
    }
}
