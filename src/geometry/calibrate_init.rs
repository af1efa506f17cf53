//! Starting points for [`calibrate`](super::calibrate): intrinsics from the per-view
//! homographies (OpenCV's focal-length estimate and Zhang's closed form), Zhang's linear
//! radial-distortion estimate, and the pose of each view.
//!
//! # Homographies of a planar board
//! A board point `(X, Y, 0)` maps to the pixel `s [u, v, 1]ᵀ = K [r1 r2 t] [X, Y, 1]ᵀ`, so each
//! view's homography `H = [h1 h2 h3] ∝ K [r1 r2 t]`. Since `r1 ⊥ r2` and `|r1| = |r2|`, every
//! view gives two constraints on `B = K⁻ᵀ K⁻¹`:
//! `h1ᵀ B h2 = 0` and `h1ᵀ B h1 = h2ᵀ B h2`.
//!
//! - [`init_intrinsics_opencv`] is OpenCV's `cvInitIntrinsicParams2D`: the principal point is
//!   put at the image centre `((w - 1)/2, (h - 1)/2)`, skew at 0, and only `1/fx²`, `1/fy²`
//!   are solved, by least squares over the two constraints of every view (written on the
//!   vanishing points `h1`, `h2`, `(h1 + h2)/2`, `(h1 - h2)/2` of the centred homography,
//!   each scaled to unit length); `f = sqrt(|1/solution|)`. A fixed aspect ratio `a = fx/fy`
//!   is then imposed keeping `fx + fy`. This is what `calibrateCamera` starts from.
//! - [`zhang_intrinsics`] is the textbook closed form (Zhang 2000, section 3.1): the six
//!   entries `b = [B11, B12, B22, B13, B23, B33]` solve `V b = 0` (two rows
//!   `v12ᵀ`, `(v11 - v22)ᵀ` per view, `vij` built from columns `i` and `j` of `H`), `b` being
//!   the eigenvector of `VᵀV` of the smallest eigenvalue; with zero skew `B12 = 0` is imposed
//!   and five entries solved. Pixels are first mapped by `N` (centre at the origin, the longer
//!   image side to 1) for conditioning, and `K = N⁻¹ K'`. `K` then follows from `B` in closed
//!   form: `v0 = (B12 B13 - B11 B23)/(B11 B22 - B12²)`,
//!   `λ = B33 - (B13² + v0 (B12 B13 - B11 B23))/B11`, `fx = sqrt(λ/B11)`,
//!   `fy = sqrt(λ B11/(B11 B22 - B12²))`, `skew = -B12 fx² fy/λ`,
//!   `u0 = skew v0/fy - B13 fx²/λ`.
//!   It needs three views of distinct orientations (two with zero skew); otherwise `VᵀV` has
//!   a repeated null direction and this is an error.
//! - [`zhang_radial_distortion`] is Zhang's linear estimate of `k1, k2` (section 3.3): with
//!   `(u, v)` the ideal (undistorted) projection, `(x, y)` its normalised coordinates and
//!   `(ŭ, v̆)` the observed pixel, `(u - u0) (k1 r² + k2 r⁴) = ŭ - u` and likewise for `v`, by
//!   least squares over all points.
//!
//! # The pose of a view
//! `init_pose` is OpenCV's `cvFindExtrinsicCameraParams2` for a planar board: the observed
//! pixels are undistorted to normalised coordinates, the homography `M` from the board to them
//! gives `r1 = m1/|m1|`, `r2 = m2/|m2|`, `r3 = r1 × r2`, `t = m3/sqrt(|m1| |m2|)` (signs chosen
//! so that the board is in front of the camera), the rotation is made orthonormal (nearest
//! rotation by SVD), and the pose is refined by Levenberg-Marquardt on the reprojection error
//! with the camera fixed (20 iterations, `FLT_EPSILON`, as OpenCV).

use nalgebra::{DMatrix, Matrix3};

use crate::error::{Error, Result};
use crate::geometry::camera::{Camera, Intrinsics, Mat3, Pose, mat3_mul, rodrigues_vector};
use crate::geometry::homography::{homography_dlt, refine_homography};
use crate::geometry::lm::{N_INTRINSIC, Problem, intrinsic_vector, pose_of, pose_vector};

fn degenerate(reason: impl Into<String>) -> Error {
    Error::Degenerate {
        what: "calibration",
        reason: reason.into(),
    }
}

/// Levenberg-Marquardt steps of the homography refinement (OpenCV's `cvFindHomography`
/// without RANSAC: the DLT, then 10 iterations on the transfer error).
const HOMOGRAPHY_REFINE_ITERATIONS: usize = 10;

/// The homography from board coordinates `(X, Y)` to `dst`, as `cvFindHomography` without
/// RANSAC computes it.
fn board_homography(object: &[[f64; 3]], dst: &[[f64; 2]]) -> Result<Mat3> {
    let src: Vec<[f64; 2]> = object.iter().map(|p| [p[0], p[1]]).collect();
    let h = homography_dlt(&src, dst)?;
    refine_homography(&h, &src, dst, HOMOGRAPHY_REFINE_ITERATIONS)
}

/// The board-to-pixel homography of each view (board points on `z = 0`).
pub(crate) fn view_homographies(
    object: &[Vec<[f64; 3]>],
    image: &[Vec<[f64; 2]>],
) -> Result<Vec<Mat3>> {
    object
        .iter()
        .zip(image)
        .map(|(o, i)| board_homography(o, i))
        .collect()
}

/// OpenCV's initial intrinsics (`cvInitIntrinsicParams2D`): principal point at the image
/// centre, zero skew, focal lengths from the vanishing points of the views (see the module
/// docs); `aspect` (`fx / fy`) imposes a fixed ratio.
pub fn init_intrinsics_opencv(
    homographies: &[Mat3],
    image_size: [usize; 2],
    aspect: Option<f64>,
) -> Result<Intrinsics> {
    let cx = (image_size[0] as f64 - 1.0) * 0.5;
    let cy = (image_size[1] as f64 - 1.0) * 0.5;
    let mut a = DMatrix::<f64>::zeros(2 * homographies.len(), 2);
    let mut b = DMatrix::<f64>::zeros(2 * homographies.len(), 1);
    for (i, h) in homographies.iter().enumerate() {
        // Rows of A_p⁻¹ H with A_p the translation to the principal point.
        let hc = [
            [h[0][0] - h[2][0] * cx, h[0][1] - h[2][1] * cx],
            [h[1][0] - h[2][0] * cy, h[1][1] - h[2][1] * cy],
            [h[2][0], h[2][1]],
        ];
        let unit = |v: [f64; 3]| {
            let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
            v.map(|x| x / n)
        };
        let hv = unit([hc[0][0], hc[1][0], hc[2][0]]);
        let vv = unit([hc[0][1], hc[1][1], hc[2][1]]);
        let d1 = unit([0, 1, 2].map(|j| (hc[j][0] + hc[j][1]) * 0.5));
        let d2 = unit([0, 1, 2].map(|j| (hc[j][0] - hc[j][1]) * 0.5));
        a[(2 * i, 0)] = hv[0] * vv[0];
        a[(2 * i, 1)] = hv[1] * vv[1];
        b[(2 * i, 0)] = -hv[2] * vv[2];
        a[(2 * i + 1, 0)] = d1[0] * d2[0];
        a[(2 * i + 1, 1)] = d1[1] * d2[1];
        b[(2 * i + 1, 0)] = -d1[2] * d2[2];
    }
    let svd = a.clone().svd(true, true);
    let (smax, smin) = (svd.singular_values.max(), svd.singular_values.min());
    let f = svd.solve(&b, 0.0).ok();
    let f = match f {
        Some(f) if smin > 1e-12 * smax && f.iter().all(|v| v.is_finite() && *v != 0.0) => f,
        _ => {
            return Err(degenerate(
                "cannot estimate the focal length: the views are parallel to the image plane \
                 (tilt the board differently between views)",
            ));
        }
    };
    let (mut fx, mut fy) = ((1.0 / f[0]).abs().sqrt(), (1.0 / f[1]).abs().sqrt());
    if let Some(ratio) = aspect {
        let tf = (fx + fy) / (ratio + 1.0);
        fx = ratio * tf;
        fy = tf;
    }
    let k = Intrinsics {
        fx,
        fy,
        cx,
        cy,
        skew: 0.0,
    };
    k.validate()
        .map_err(|_| degenerate("the focal-length estimate is not finite"))?;
    Ok(k)
}

/// Zhang's closed-form intrinsics from three or more homographies (two with `zero_skew`);
/// see the module docs. Error when the views do not determine `B` (too few distinct
/// orientations) or `B` is not positive definite (degenerate or very noisy views).
pub fn zhang_intrinsics(
    homographies: &[Mat3],
    image_size: [usize; 2],
    zero_skew: bool,
) -> Result<Intrinsics> {
    let (cx0, cy0) = (
        (image_size[0] as f64 - 1.0) * 0.5,
        (image_size[1] as f64 - 1.0) * 0.5,
    );
    let s = 1.0 / image_size[0].max(image_size[1]).max(1) as f64;
    let norm: Mat3 = [[s, 0.0, -s * cx0], [0.0, s, -s * cy0], [0.0, 0.0, 1.0]];
    let cols: Vec<usize> = if zero_skew {
        vec![0, 2, 3, 4, 5]
    } else {
        (0..6).collect()
    };
    let mut vtv = DMatrix::<f64>::zeros(cols.len(), cols.len());
    for h in homographies {
        let mut hn = mat3_mul(&norm, h);
        let fro = hn.iter().flatten().map(|v| v * v).sum::<f64>().sqrt();
        hn = hn.map(|r| r.map(|v| v / fro));
        let col = |i: usize| [hn[0][i], hn[1][i], hn[2][i]];
        let v = |i: usize, j: usize| {
            let (a, b) = (col(i), col(j));
            [
                a[0] * b[0],
                a[0] * b[1] + a[1] * b[0],
                a[1] * b[1],
                a[2] * b[0] + a[0] * b[2],
                a[2] * b[1] + a[1] * b[2],
                a[2] * b[2],
            ]
        };
        let (v12, v11, v22) = (v(0, 1), v(0, 0), v(1, 1));
        let rows = [v12, [0, 1, 2, 3, 4, 5].map(|k| v11[k] - v22[k])];
        for r in rows {
            for (a, &ca) in cols.iter().enumerate() {
                for (b, &cb) in cols.iter().enumerate() {
                    vtv[(a, b)] += r[ca] * r[cb];
                }
            }
        }
    }
    let eig = vtv.symmetric_eigen();
    let mut order: Vec<usize> = (0..cols.len()).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[a].total_cmp(&eig.eigenvalues[b]));
    let largest = eig.eigenvalues[order[cols.len() - 1]];
    if !(eig.eigenvalues[order[1]] > 1e-12 * largest) {
        return Err(degenerate(format!(
            "B = K^-T K^-1 is not determined: the {} views have too few distinct orientations \
             (rank-deficient system; all boards parallel?)",
            homographies.len()
        )));
    }
    let e = eig.eigenvectors.column(order[0]);
    let mut bv = [0.0; 6];
    for (a, &c) in cols.iter().enumerate() {
        bv[c] = e[a];
    }
    if bv[0] < 0.0 {
        bv = bv.map(|v| -v);
    }
    let [b11, b12, b22, b13, b23, b33] = bv;
    let den = b11 * b22 - b12 * b12;
    let v0 = (b12 * b13 - b11 * b23) / den;
    let lambda = b33 - (b13 * b13 + v0 * (b12 * b13 - b11 * b23)) / b11;
    if !(den > 0.0 && b11 > 0.0 && lambda / b11 > 0.0) {
        return Err(degenerate(
            "B = K^-T K^-1 is not positive definite: degenerate or very noisy views",
        ));
    }
    let alpha = (lambda / b11).sqrt();
    let beta = (lambda * b11 / den).sqrt();
    let gamma = -b12 * alpha * alpha * beta / lambda;
    let u0 = gamma * v0 / beta - b13 * alpha * alpha / lambda;
    let k = Intrinsics {
        fx: alpha / s,
        fy: beta / s,
        cx: u0 / s + cx0,
        cy: v0 / s + cy0,
        skew: gamma / s,
    };
    k.validate()
        .map_err(|_| degenerate("the closed-form intrinsics are not finite"))?;
    Ok(k)
}

/// Zhang's linear estimate of `[k1, k2]` from the ideal projections of the board points by
/// `intrinsics` and `poses` and the observed pixels (see the module docs).
pub fn zhang_radial_distortion(
    intrinsics: &Intrinsics,
    poses: &[Pose],
    object: &[Vec<[f64; 3]>],
    image: &[Vec<[f64; 2]>],
) -> Result<[f64; 2]> {
    let (mut ata, mut atb) = (Matrix3::<f64>::zeros(), [0.0; 2]);
    for ((pose, obj), img) in poses.iter().zip(object).zip(image) {
        for (p, q) in obj.iter().zip(img) {
            let x = pose.transform(*p);
            if !(x[2] > 0.0) {
                return Err(degenerate("a board point is behind the camera"));
            }
            let xn = [x[0] / x[2], x[1] / x[2]];
            let r2 = xn[0] * xn[0] + xn[1] * xn[1];
            let ideal = intrinsics.to_pixel(xn);
            for c in 0..2 {
                let centre = if c == 0 { intrinsics.cx } else { intrinsics.cy };
                let d = ideal[c] - centre;
                let row = [d * r2, d * r2 * r2];
                let rhs = q[c] - ideal[c];
                for a in 0..2 {
                    for b in 0..2 {
                        ata[(a, b)] += row[a] * row[b];
                    }
                    atb[a] += row[a] * rhs;
                }
            }
        }
    }
    let det = ata[(0, 0)] * ata[(1, 1)] - ata[(0, 1)] * ata[(1, 0)];
    if !(det.abs() > 0.0) || !det.is_finite() {
        return Err(degenerate(
            "the radial distortion is not determined (all points at the image centre?)",
        ));
    }
    let k1 = (atb[0] * ata[(1, 1)] - atb[1] * ata[(0, 1)]) / det;
    let k2 = (ata[(0, 0)] * atb[1] - ata[(1, 0)] * atb[0]) / det;
    Ok([k1, k2])
}

/// The pose of one view from its board points and pixels, seen by `camera`: OpenCV's
/// planar `cvFindExtrinsicCameraParams2` (see the module docs).
pub(crate) fn init_pose(camera: &Camera, object: &[[f64; 3]], image: &[[f64; 2]]) -> Result<Pose> {
    let dst: Vec<[f64; 2]> = image
        .iter()
        .map(|&q| {
            camera
                .distortion
                .undistort(camera.intrinsics.to_normalized(q))
        })
        .collect();
    let h = board_homography(object, &dst)?;
    let mut m = Matrix3::from_fn(|i, j| h[i][j]);
    if m[(2, 2)] < 0.0 {
        m = -m;
    }
    let (n1, n2) = (m.column(0).norm(), m.column(1).norm());
    let r1 = m.column(0) / n1;
    let r2 = m.column(1) / n2;
    let t = m.column(2) / (n1 * n2).sqrt();
    let r3 = r1.cross(&r2);
    let r = Matrix3::from_columns(&[r1, r2, r3]);
    let svd = r.svd(true, true);
    let (u, vt) = (
        svd.u.ok_or_else(|| degenerate("pose: SVD failed"))?,
        svd.v_t.ok_or_else(|| degenerate("pose: SVD failed"))?,
    );
    let mut rot = u * vt;
    if rot.determinant() < 0.0 {
        rot = -rot;
    }
    let rot: Mat3 = std::array::from_fn(|i| std::array::from_fn(|j| rot[(i, j)]));
    let pose = Pose {
        rvec: rodrigues_vector(&rot),
        t: [t[0], t[1], t[2]],
    };
    if !pose.rvec.iter().chain(&pose.t).all(|v| v.is_finite()) || !(pose.t[2] > 0.0) {
        return Err(degenerate("the initial pose of a view is not finite"));
    }
    let object = [object.to_vec()];
    let image = [image.to_vec()];
    let problem = Problem {
        object: &object,
        image: &image,
        free: [false; N_INTRINSIC],
        aspect: None,
    };
    let sol = problem.solve(
        intrinsic_vector(camera),
        vec![pose_vector(&pose)],
        20,
        f32::EPSILON as f64,
    )?;
    Ok(pose_of(&sol.poses[0]))
}
