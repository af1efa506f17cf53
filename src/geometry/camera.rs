//! The pinhole camera with lens distortion: intrinsics, extrinsics (poses), OpenCV's
//! 5-coefficient distortion model, Rodrigues rotations and the small 3x3 algebra the rest
//! of `geometry` shares.
//!
//! # Overview
//! A world point `X` is seen by a camera at pose `(R, t)` in camera coordinates
//! `Xc = R X + t`; perspective projection divides by depth, `(x, y) = (Xc / Zc, Yc / Zc)`
//! (normalised image coordinates); the lens bends them (`distort`), and the intrinsics map
//! them to pixels:
//!
//! ```text
//! u = fx x' + skew y' + cx        v = fy y' + cy          K = [[fx, skew, cx],
//!                                                              [ 0,   fy, cy],
//!                                                              [ 0,    0,  1]]
//! ```
//!
//! # Distortion (OpenCV's model, coefficients in OpenCV's order `k1, k2, p1, p2, k3`)
//! With `r2 = x^2 + y^2` and `radial = 1 + k1 r2 + k2 r2^2 + k3 r2^3`:
//!
//! ```text
//! x' = x radial + 2 p1 x y + p2 (r2 + 2 x^2)
//! y' = y radial + p1 (r2 + 2 y^2) + 2 p2 x y
//! ```
//!
//! (Brown-Conrady; the signs of `p1`, `p2` are OpenCV's.) The inverse has no closed form:
//! [`Distortion::undistort`] iterates `x = (x'_observed - tangential(x)) / radial(x)` as
//! `cv::undistortPoints` does, but to convergence (at most [`UNDISTORT_ITERATIONS`], stopping
//! when a step moves less than 1e-14) rather than OpenCV's default 5 iterations, so it is the
//! exact inverse wherever the model is invertible.
//!
//! # Rotations
//! A Rodrigues vector `r = theta * axis` encodes the rotation by `theta` about `axis`:
//! `R = cos(theta) I + (1 - cos(theta)) a a^T + sin(theta) [a]x` ([`rodrigues`]); the inverse
//! ([`rodrigues_vector`]) returns the angle in `[0, pi]`, as `cv::Rodrigues`.
//!
//! # Conventions (identical to OpenCV's)
//! Pixel centres at integer coordinates, `x` right, `y` down; matrices row-major
//! (`m[row][col]`); poses map world to camera coordinates; image sizes are `[width, height]`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A 3x3 matrix, row-major: `m[row][col]`.
pub type Mat3 = [[f64; 3]; 3];

/// The 3x3 identity.
pub const IDENTITY3: Mat3 = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

/// Most iterations [`Distortion::undistort`] takes.
pub const UNDISTORT_ITERATIONS: usize = 20;

/// Largest image side a camera may claim (the same bound as the crate's image decoding).
pub const MAX_CAMERA_SIDE: usize = 1 << 16;

/// Intrinsics: `K = [[fx, skew, cx], [0, fy, cy], [0, 0, 1]]` (OpenCV's camera matrix).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Intrinsics {
    /// Focal length in pixels along x.
    pub fx: f64,
    /// Focal length in pixels along y.
    pub fy: f64,
    /// Principal point, x (pixels).
    pub cx: f64,
    /// Principal point, y (pixels).
    pub cy: f64,
    /// Skew (0 for square pixel grids; OpenCV always fixes it to 0).
    pub skew: f64,
}

impl Intrinsics {
    /// The camera matrix `K`.
    pub fn matrix(&self) -> Mat3 {
        [
            [self.fx, self.skew, self.cx],
            [0.0, self.fy, self.cy],
            [0.0, 0.0, 1.0],
        ]
    }

    /// Reads `K`; the bottom row must be `[0, 0, 1]` and `K[1][0]` zero.
    pub fn from_matrix(m: &Mat3) -> Result<Self> {
        if m.iter().flatten().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: "camera matrix",
            });
        }
        if m[1][0] != 0.0 || m[2] != [0.0, 0.0, 1.0] {
            return Err(Error::param(
                "camera_matrix",
                format!(
                    "not a camera matrix: expected [[fx, s, cx], [0, fy, cy], [0, 0, 1]], found {m:?}"
                ),
            ));
        }
        let k = Intrinsics {
            fx: m[0][0],
            fy: m[1][1],
            cx: m[0][2],
            cy: m[1][2],
            skew: m[0][1],
        };
        k.validate()?;
        Ok(k)
    }

    /// Checks that every value is finite and both focal lengths are positive.
    pub fn validate(&self) -> Result<()> {
        let v = [self.fx, self.fy, self.cx, self.cy, self.skew];
        if v.iter().any(|x| !x.is_finite()) {
            return Err(Error::NonFinite { what: "intrinsics" });
        }
        if !(self.fx > 0.0 && self.fy > 0.0) {
            return Err(Error::param(
                "intrinsics",
                format!(
                    "focal lengths must be positive, found fx {} and fy {}",
                    self.fx, self.fy
                ),
            ));
        }
        Ok(())
    }

    /// Normalised (already distorted) coordinates to pixels.
    #[inline]
    pub fn to_pixel(&self, xn: [f64; 2]) -> [f64; 2] {
        [
            self.fx * xn[0] + self.skew * xn[1] + self.cx,
            self.fy * xn[1] + self.cy,
        ]
    }

    /// Pixels to normalised coordinates (the inverse of [`Intrinsics::to_pixel`]).
    #[inline]
    pub fn to_normalized(&self, px: [f64; 2]) -> [f64; 2] {
        let y = (px[1] - self.cy) / self.fy;
        [(px[0] - self.cx - self.skew * y) / self.fx, y]
    }
}

/// OpenCV's 5-coefficient lens distortion (see the module docs for the formula).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Distortion {
    /// Radial, `r^2` term.
    pub k1: f64,
    /// Radial, `r^4` term.
    pub k2: f64,
    /// Tangential (decentring), first coefficient.
    pub p1: f64,
    /// Tangential (decentring), second coefficient.
    pub p2: f64,
    /// Radial, `r^6` term.
    pub k3: f64,
}

impl Distortion {
    /// From OpenCV's coefficient vector: `[k1, k2, p1, p2]` or `[k1, k2, p1, p2, k3]`. Longer
    /// vectors (OpenCV's rational and thin-prism models) are refused unless their extra
    /// terms are all zero.
    pub fn from_coefficients(c: &[f64]) -> Result<Self> {
        if c.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: "distortion coefficients",
            });
        }
        match c.len() {
            4 | 5 => {}
            8 | 12 | 14 if c[5..].iter().all(|&v| v == 0.0) => {}
            n => {
                return Err(Error::param(
                    "distortion",
                    format!(
                        "expected 4 or 5 coefficients (k1, k2, p1, p2[, k3]), found {n} \
                         (OpenCV's rational / thin-prism / tilted terms are not supported)"
                    ),
                ));
            }
        }
        Ok(Distortion {
            k1: c[0],
            k2: c[1],
            p1: c[2],
            p2: c[3],
            k3: c.get(4).copied().unwrap_or(0.0),
        })
    }

    /// `[k1, k2, p1, p2, k3]`, OpenCV's order.
    pub fn coefficients(&self) -> [f64; 5] {
        [self.k1, self.k2, self.p1, self.p2, self.k3]
    }

    /// Whether every coefficient is zero (an ideal lens).
    pub fn is_zero(&self) -> bool {
        self.coefficients().iter().all(|&v| v == 0.0)
    }

    /// Checks that every coefficient is finite.
    pub fn validate(&self) -> Result<()> {
        if self.coefficients().iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: "distortion coefficients",
            });
        }
        Ok(())
    }

    /// The forward model: ideal normalised coordinates to distorted ones.
    #[inline]
    pub fn distort(&self, xn: [f64; 2]) -> [f64; 2] {
        let [x, y] = xn;
        let r2 = x * x + y * y;
        let radial = 1.0 + r2 * (self.k1 + r2 * (self.k2 + r2 * self.k3));
        let a1 = 2.0 * x * y;
        [
            x * radial + self.p1 * a1 + self.p2 * (r2 + 2.0 * x * x),
            y * radial + self.p1 * (r2 + 2.0 * y * y) + self.p2 * a1,
        ]
    }

    /// The inverse model: distorted normalised coordinates to ideal ones, by fixed-point
    /// iteration (see the module docs). Returns the input unchanged for an ideal lens.
    pub fn undistort(&self, xd: [f64; 2]) -> [f64; 2] {
        if self.is_zero() {
            return xd;
        }
        let [x0, y0] = xd;
        let (mut x, mut y) = (x0, y0);
        for _ in 0..UNDISTORT_ITERATIONS {
            let r2 = x * x + y * y;
            let radial = 1.0 + r2 * (self.k1 + r2 * (self.k2 + r2 * self.k3));
            let dx = 2.0 * self.p1 * x * y + self.p2 * (r2 + 2.0 * x * x);
            let dy = self.p1 * (r2 + 2.0 * y * y) + 2.0 * self.p2 * x * y;
            let nx = (x0 - dx) / radial;
            let ny = (y0 - dy) / radial;
            let step = (nx - x).abs().max((ny - y).abs());
            x = nx;
            y = ny;
            if !(step >= 1e-14) {
                break;
            }
        }
        [x, y]
    }
}

/// A pose (extrinsics): world to camera coordinates, `Xc = R X + t`, with `R` given by its
/// Rodrigues vector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    /// Rodrigues rotation vector (axis times angle in radians).
    pub rvec: [f64; 3],
    /// Translation, in the world's units.
    pub t: [f64; 3],
}

impl Pose {
    /// The rotation matrix `R`.
    pub fn rotation(&self) -> Mat3 {
        rodrigues(self.rvec)
    }

    /// A pose from a rotation matrix (orthonormalised first) and a translation.
    pub fn from_rotation(r: &Mat3, t: [f64; 3]) -> Result<Self> {
        if r.iter().flatten().chain(&t).any(|v| !v.is_finite()) {
            return Err(Error::NonFinite { what: "pose" });
        }
        Ok(Pose {
            rvec: rodrigues_vector(r),
            t,
        })
    }

    /// World to camera coordinates.
    #[inline]
    pub fn transform(&self, p: [f64; 3]) -> [f64; 3] {
        let c = mat3_vec(&self.rotation(), p);
        [c[0] + self.t[0], c[1] + self.t[1], c[2] + self.t[2]]
    }
}

/// `cv::Rodrigues`, vector to matrix: `R = cos(theta) I + (1 - cos(theta)) a a^T +
/// sin(theta) [a]x` with `theta = |r|`, `a = r / theta` (the identity when `theta` is below
/// machine epsilon).
pub fn rodrigues(r: [f64; 3]) -> Mat3 {
    let theta = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt();
    if theta < f64::EPSILON {
        return IDENTITY3;
    }
    let a = [r[0] / theta, r[1] / theta, r[2] / theta];
    let (s, c) = theta.sin_cos();
    let c1 = 1.0 - c;
    let mut m = [[0.0; 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = c1 * a[i] * a[j] + if i == j { c } else { 0.0 };
        }
    }
    m[0][1] -= s * a[2];
    m[0][2] += s * a[1];
    m[1][0] += s * a[2];
    m[1][2] -= s * a[0];
    m[2][0] -= s * a[1];
    m[2][1] += s * a[0];
    m
}

/// `cv::Rodrigues`, matrix to vector, with the angle in `[0, pi]`. The matrix is first
/// replaced by the nearest rotation (polar decomposition through the SVD, as OpenCV does),
/// so slightly non-orthogonal estimates are accepted.
pub fn rodrigues_vector(r: &Mat3) -> [f64; 3] {
    let r = nearest_rotation(r);
    let v = [r[2][1] - r[1][2], r[0][2] - r[2][0], r[1][0] - r[0][1]];
    let s = ((v[0] * v[0] + v[1] * v[1] + v[2] * v[2]) * 0.25).sqrt();
    let c = ((r[0][0] + r[1][1] + r[2][2] - 1.0) * 0.5).clamp(-1.0, 1.0);
    if s < 1e-5 {
        if c > 0.0 {
            return [0.0; 3];
        }
        // theta = pi: R = 2 a a^T - I, so a_i = sqrt((R_ii + 1) / 2) up to signs, fixed by
        // the off-diagonal terms (the sign of the whole axis is free: choose a_x >= 0...).
        let mut a = [
            ((r[0][0] + 1.0) * 0.5).max(0.0).sqrt(),
            ((r[1][1] + 1.0) * 0.5).max(0.0).sqrt(),
            ((r[2][2] + 1.0) * 0.5).max(0.0).sqrt(),
        ];
        if r[0][1] < 0.0 {
            a[1] = -a[1];
        }
        if r[0][2] < 0.0 {
            a[2] = -a[2];
        }
        if a[0] == 0.0 && r[1][2] < 0.0 {
            // The x component vanishes: the sign between y and z comes from R[1][2].
            a[2] = -a[2];
        }
        let pi = std::f64::consts::PI;
        return [a[0] * pi, a[1] * pi, a[2] * pi];
    }
    let theta = c.acos();
    let k = theta / (2.0 * s);
    [v[0] * k, v[1] * k, v[2] * k]
}

/// The rotation nearest to `m` in the Frobenius norm (`U V^T` of its SVD, with the sign of
/// the last singular vector flipped when the determinant would be negative).
fn nearest_rotation(m: &Mat3) -> Mat3 {
    let a = nalgebra::Matrix3::from_fn(|i, j| m[i][j]);
    let svd = a.svd(true, true);
    let (Some(u), Some(vt)) = (svd.u, svd.v_t) else {
        return *m;
    };
    let mut q = u * vt;
    if q.determinant() < 0.0 {
        let mut u2 = u;
        u2.column_mut(2).neg_mut();
        q = u2 * vt;
    }
    let mut out = [[0.0; 3]; 3];
    for (i, row) in out.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = q[(i, j)];
        }
    }
    out
}

/// A calibrated camera: intrinsics, distortion, and the image size it was calibrated at.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Camera {
    /// The camera matrix.
    pub intrinsics: Intrinsics,
    /// The lens distortion.
    pub distortion: Distortion,
    /// `[width, height]` of the calibration images, in pixels.
    pub image_size: [usize; 2],
}

impl crate::persist::Model for Camera {
    fn kind() -> String {
        "camera".into()
    }
}

impl Camera {
    /// Checks the intrinsics, the distortion and the image size (1 to
    /// [`MAX_CAMERA_SIDE`] pixels a side).
    pub fn validate(&self) -> Result<()> {
        self.intrinsics.validate()?;
        self.distortion.validate()?;
        let [w, h] = self.image_size;
        if !(1..=MAX_CAMERA_SIDE).contains(&w) || !(1..=MAX_CAMERA_SIDE).contains(&h) {
            return Err(Error::param(
                "image_size",
                format!("must be 1 to {MAX_CAMERA_SIDE} pixels a side, found {w}x{h}"),
            ));
        }
        Ok(())
    }

    /// Projects a world point seen from `pose` to pixels (distortion applied). A point on
    /// or behind the camera plane (`Zc <= 0`) has no image: that is an error.
    pub fn project(&self, pose: &Pose, p: [f64; 3]) -> Result<[f64; 2]> {
        project_with(&pose.rotation(), &pose.t, self, p)
    }

    /// [`Camera::project`] for many points (the rotation is computed once).
    pub fn project_points(&self, pose: &Pose, pts: &[[f64; 3]]) -> Result<Vec<[f64; 2]>> {
        let r = pose.rotation();
        pts.iter()
            .map(|&p| project_with(&r, &pose.t, self, p))
            .collect()
    }

    /// An ideal (undistorted) pixel to the pixel the lens actually images it at.
    pub fn distort_pixel(&self, undistorted_px: [f64; 2]) -> [f64; 2] {
        let k = &self.intrinsics;
        k.to_pixel(self.distortion.distort(k.to_normalized(undistorted_px)))
    }

    /// An observed pixel to the ideal pixel (same camera matrix) it would be without the
    /// lens distortion.
    pub fn undistort_pixel(&self, observed_px: [f64; 2]) -> [f64; 2] {
        let k = &self.intrinsics;
        k.to_pixel(self.distortion.undistort(k.to_normalized(observed_px)))
    }
}

fn project_with(r: &Mat3, t: &[f64; 3], cam: &Camera, p: [f64; 3]) -> Result<[f64; 2]> {
    let c = mat3_vec(r, p);
    let (x, y, z) = (c[0] + t[0], c[1] + t[1], c[2] + t[2]);
    if !(z > 0.0) {
        return Err(Error::Degenerate {
            what: "projection",
            reason: format!(
                "the point {p:?} is on or behind the camera plane (depth {z}) and has no image"
            ),
        });
    }
    let px = cam
        .intrinsics
        .to_pixel(cam.distortion.distort([x / z, y / z]));
    if !(px[0].is_finite() && px[1].is_finite()) {
        return Err(Error::NonFinite { what: "projection" });
    }
    Ok(px)
}

/// `a b`.
pub fn mat3_mul(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut m = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            m[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j];
        }
    }
    m
}

/// `a v`.
#[inline]
pub fn mat3_vec(a: &Mat3, v: [f64; 3]) -> [f64; 3] {
    [
        a[0][0] * v[0] + a[0][1] * v[1] + a[0][2] * v[2],
        a[1][0] * v[0] + a[1][1] * v[1] + a[1][2] * v[2],
        a[2][0] * v[0] + a[2][1] * v[1] + a[2][2] * v[2],
    ]
}

/// `a^T`.
pub fn mat3_transpose(a: &Mat3) -> Mat3 {
    let mut m = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            m[i][j] = a[j][i];
        }
    }
    m
}

/// `a^-1` by the adjugate; an error when `a` is not finite or singular (its determinant is
/// zero or below 1e-300 relative to the size of its entries cubed).
pub fn mat3_inverse(a: &Mat3) -> Result<Mat3> {
    if a.iter().flatten().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite { what: "3x3 matrix" });
    }
    let c = |i: usize, j: usize| {
        let (i1, i2) = ((i + 1) % 3, (i + 2) % 3);
        let (j1, j2) = ((j + 1) % 3, (j + 2) % 3);
        a[i1][j1] * a[i2][j2] - a[i1][j2] * a[i2][j1]
    };
    let det = a[0][0] * c(0, 0) + a[0][1] * c(0, 1) + a[0][2] * c(0, 2);
    let scale = a.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    if det == 0.0 || !det.is_finite() || det.abs() <= 1e-300 * scale.powi(3).max(1e-300) {
        return Err(Error::Degenerate {
            what: "3x3 matrix",
            reason: "the matrix is singular and has no inverse".into(),
        });
    }
    let mut m = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            // Inverse = adjugate / det; the adjugate is the transposed cofactor matrix.
            m[i][j] = c(j, i) / det;
        }
    }
    if m.iter().flatten().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            what: "3x3 inverse",
        });
    }
    Ok(m)
}

/// Applies a homography to a pixel: `H [x, y, 1]^T` dehomogenised. `None` when the point
/// maps to infinity (`w == 0`) or the result is not finite.
#[inline]
pub fn apply_homography(h: &Mat3, p: [f64; 2]) -> Option<[f64; 2]> {
    let v = mat3_vec(h, [p[0], p[1], 1.0]);
    if v[2] == 0.0 {
        return None;
    }
    let q = [v[0] / v[2], v[1] / v[2]];
    (q[0].is_finite() && q[1].is_finite()).then_some(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
    }

    #[test]
    fn rodrigues_round_trips_including_small_and_half_turn_angles() {
        let pi = std::f64::consts::PI;
        let cases = [
            [0.1, -0.2, 0.3],
            [1.0, 2.0, -0.5],
            [0.0, 0.0, 1e-9],
            [pi, 0.0, 0.0],
            [0.0, pi, 0.0],
            [0.0, 0.0, pi],
            [pi / 3f64.sqrt(), -pi / 3f64.sqrt(), pi / 3f64.sqrt()],
            [0.0, pi / 2f64.sqrt(), -pi / 2f64.sqrt()],
        ];
        for r in cases {
            let m = rodrigues(r);
            // A rotation: R R^T = I and det 1.
            let rrt = mat3_mul(&m, &mat3_transpose(&m));
            assert!(close(&rrt.concat(), &IDENTITY3.concat(), 1e-12), "{r:?}");
            let back = rodrigues_vector(&m);
            let m2 = rodrigues(back);
            assert!(close(&m.concat(), &m2.concat(), 1e-9), "{r:?} -> {back:?}");
        }
        // A hand-computed case: 90 degrees about z maps x to y.
        let m = rodrigues([0.0, 0.0, pi / 2.0]);
        assert!(close(
            &mat3_vec(&m, [1.0, 0.0, 0.0]),
            &[0.0, 1.0, 0.0],
            1e-15
        ));
    }

    #[test]
    fn undistort_inverts_distort() {
        let d = Distortion {
            k1: -0.2651,
            k2: -0.0467,
            p1: 0.00183,
            p2: -0.00031,
            k3: 0.2523,
        };
        for &(x, y) in &[(0.0, 0.0), (0.3, -0.2), (-0.5, 0.4), (0.6, 0.45)] {
            let xd = d.distort([x, y]);
            let back = d.undistort(xd);
            assert!(close(&back, &[x, y], 1e-10), "{x} {y} -> {back:?}");
        }
        // Hand-computed forward value: k1 only, r2 = 0.25 -> radial 1 + 0.1 * 0.25.
        let k1 = Distortion {
            k1: 0.1,
            ..Default::default()
        };
        assert!(close(&k1.distort([0.3, 0.4]), &[0.3075, 0.41], 1e-15));
        // p1 alone: x' = x + 2 p1 x y, y' = y + p1 (r2 + 2 y^2).
        let p1 = Distortion {
            p1: 0.01,
            ..Default::default()
        };
        let [x, y] = p1.distort([0.3, 0.4]);
        assert!(close(
            &[x, y],
            &[0.3 + 0.0024, 0.4 + 0.01 * (0.25 + 0.32)],
            1e-15
        ));
    }

    #[test]
    fn projection_matches_the_formula_and_rejects_points_behind() {
        let cam = Camera {
            intrinsics: Intrinsics {
                fx: 500.0,
                fy: 400.0,
                cx: 320.0,
                cy: 240.0,
                skew: 2.0,
            },
            distortion: Distortion::default(),
            image_size: [640, 480],
        };
        let pose = Pose {
            rvec: [0.0; 3],
            t: [0.0, 0.0, 2.0],
        };
        let p = cam.project(&pose, [0.2, -0.4, 0.0]).unwrap();
        // x = 0.1, y = -0.2: u = 500 * 0.1 + 2 * -0.2 + 320, v = 400 * -0.2 + 240.
        assert!(close(&p, &[369.6, 160.0], 1e-12));
        assert!(matches!(
            cam.project(&pose, [0.0, 0.0, -2.0]),
            Err(Error::Degenerate { .. })
        ));
        let k = cam.intrinsics;
        assert!(close(
            &k.to_normalized(k.to_pixel([0.1, -0.2])),
            &[0.1, -0.2],
            1e-15
        ));
    }

    #[test]
    fn distort_and_undistort_pixels_are_inverse() {
        let cam = Camera {
            intrinsics: Intrinsics {
                fx: 536.07,
                fy: 536.02,
                cx: 342.37,
                cy: 235.54,
                skew: 0.0,
            },
            distortion: Distortion::from_coefficients(&[
                -0.2651, -0.0467, 0.00183, -0.00031, 0.2523,
            ])
            .unwrap(),
            image_size: [640, 480],
        };
        for px in [[0.0, 0.0], [639.0, 479.0], [100.0, 400.0], [342.0, 235.0]] {
            let d = cam.distort_pixel(px);
            assert!(close(&cam.undistort_pixel(d), &px, 1e-7), "{px:?}");
        }
    }

    #[test]
    fn matrix_inverse_and_bad_inputs() {
        let a = [[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 4.0]];
        let inv = mat3_inverse(&a).unwrap();
        assert!(close(
            &mat3_mul(&a, &inv).concat(),
            &IDENTITY3.concat(),
            1e-14
        ));
        let singular = [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 1.0]];
        assert!(matches!(
            mat3_inverse(&singular),
            Err(Error::Degenerate { .. })
        ));
        let nan = [[f64::NAN, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        assert!(matches!(mat3_inverse(&nan), Err(Error::NonFinite { .. })));
        assert!(
            Intrinsics::from_matrix(&[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 1.0]]).is_err()
        );
        assert!(Distortion::from_coefficients(&[0.0; 3]).is_err());
        assert!(Distortion::from_coefficients(&[0.1, 0.0, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0]).is_err());
        assert!(Distortion::from_coefficients(&[0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]).is_ok());
        assert_eq!(
            apply_homography(
                &[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]],
                [0.0, 5.0]
            ),
            None
        );
    }
}
