//! Warp maps from geometry: perspective warps by a homography, undistortion and
//! rectification maps of a calibrated camera, and bird's-eye views of a plane.
//!
//! # Overview
//! Each builder returns a [`WarpMap`] (for every output pixel, where to read in the source),
//! computed once in `f64` and applied to any number of frames with
//! [`WarpMap::apply`] / [`WarpMap::apply_u8`]; the one-shot functions build and apply.
//!
//! # Perspective warps
//! [`perspective_map`] is OpenCV's `warpPerspective`: the homography `H` maps source pixels
//! to output pixels, `[u, v, w]^T = H [x, y, 1]^T`, and the output is filled by backward
//! mapping with `M = H^-1` (OpenCV's closed-form 3x3 inverse: cofactors times `1/det`, the
//! determinant expanded along the first row). With OpenCV's `WARP_INVERSE_MAP` flag the
//! given matrix is already `M` (output pixels to source pixels):
//! [`perspective_map_inverse`]. Per output pixel `(x, y)` the source position is
//! `(X / W, Y / W)` with `(X, Y, W) = M [x, y, 1]`; the quantised position is computed as
//! OpenCV does, `round((X0 + M00 x1) · (32 / W))` with `X0` evaluated at the start of each
//! block of `bw` columns (`bw = min(1024 / min(16, height), width)`), so the 1/32-pixel
//! rounding (and therefore every 8-bit output value) equals OpenCV's. A point at infinity
//! (`W = 0`) reads outside the source (OpenCV reads pixel `(0, 0)` there).
//!
//! # Undistortion and rectification
//! [`rectify_map`] is OpenCV's `initUndistortRectifyMap(K, dist, R, P, size)`: for output
//! pixel `(u, v)`, `[x, y, w] = (P R)^-1 [u, v, 1]`, the normalised point `(x/w, y/w)` is
//! distorted by the camera's model and projected by its `K`
//! (`u' = fx x_d + skew y_d + cx`, `v' = fy y_d + cy`; OpenCV ignores the skew of `K`,
//! which calibration leaves at 0). [`undistort_map`] is the case `R = I`, `P = K` (or a
//! chosen new camera matrix), and [`undistort`] applies it once, as `cv2.undistort`.
//!
//! # Bird's-eye view (inverse perspective mapping)
//! A plane seen by a calibrated camera with pose `(R, t)` (plane points `(X, Y, 0)` in
//! metres, `X_cam = R X + t`) is imaged by the homography `H = K [r1 r2 t]` (plane metres
//! to undistorted pixels, [`plane_homography`]). A virtual camera looking straight down at
//! the plane sees it at a fixed scale; [`birdseye_map`] computes, for each pixel of that
//! view ([`PlaneView`]: an extent in metres and pixels per metre), the plane point, projects
//! it through the real camera including lens distortion, and reads the photo there. Points
//! off the plane are "flattened" onto it (a car looks stretched), as the notes describe.
//! [`ground_pose`] gives the pose of the ground for a camera at a height above it, pitched
//! down by an angle.

use crate::error::{Error, Result};
use crate::geometry::remap::{Sampling, WarpMap, round_fixed};
use crate::image::Image;

/// Quantised positions per pixel (OpenCV's `INTER_TAB_SIZE`).
const TAB: f64 = 32.0;
/// OpenCV's block side for `warpPerspective` (`BLOCK_SZ`).
const BLOCK: usize = 32;

/// Fails unless all nine entries are finite.
fn check_matrix(m: &[[f64; 3]; 3], what: &'static str) -> Result<()> {
    if m.iter().flatten().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(Error::NonFinite { what })
    }
}

/// The inverse of a 3x3 matrix as OpenCV's `invert(DECOMP_LU)` computes it for 3x3: the
/// determinant expanded along the first row, then each cofactor times `1/det`. Fails on a
/// singular or non-finite matrix.
pub fn invert_3x3(m: &[[f64; 3]; 3]) -> Result<[[f64; 3]; 3]> {
    check_matrix(m, "3x3 matrix")?;
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    if det == 0.0 || !det.is_finite() {
        return Err(Error::param("matrix", "the 3x3 matrix is singular"));
    }
    let d = 1.0 / det;
    let inv = [
        [
            (m[1][1] * m[2][2] - m[1][2] * m[2][1]) * d,
            (m[0][2] * m[2][1] - m[0][1] * m[2][2]) * d,
            (m[0][1] * m[1][2] - m[0][2] * m[1][1]) * d,
        ],
        [
            (m[1][2] * m[2][0] - m[1][0] * m[2][2]) * d,
            (m[0][0] * m[2][2] - m[0][2] * m[2][0]) * d,
            (m[0][2] * m[1][0] - m[0][0] * m[1][2]) * d,
        ],
        [
            (m[1][0] * m[2][1] - m[1][1] * m[2][0]) * d,
            (m[0][1] * m[2][0] - m[0][0] * m[2][1]) * d,
            (m[0][0] * m[1][1] - m[0][1] * m[1][0]) * d,
        ],
    ];
    if inv.iter().flatten().all(|v| v.is_finite()) {
        Ok(inv)
    } else {
        Err(Error::param(
            "matrix",
            "the 3x3 matrix is too close to singular to invert",
        ))
    }
}

/// The map of `warpPerspective(src, H, out_size)`: `h` maps source pixels to output pixels.
/// Fails on a non-finite or singular `h`, an empty or oversized output, or a homography
/// that sends the whole output outside the source.
pub fn perspective_map(
    h: &[[f64; 3]; 3],
    src_size: (usize, usize),
    out_size: (usize, usize),
) -> Result<WarpMap> {
    check_matrix(h, "homography")?;
    let m = invert_3x3(h).map_err(|_| Error::param("homography", "the homography is singular"))?;
    perspective_map_inverse(&m, src_size, out_size)
}

/// The map of `warpPerspective(src, M, out_size, WARP_INVERSE_MAP)`: `m` maps output pixels
/// to source pixels.
pub fn perspective_map_inverse(
    m: &[[f64; 3]; 3],
    src_size: (usize, usize),
    out_size: (usize, usize),
) -> Result<WarpMap> {
    check_matrix(m, "homography")?;
    let (w, h) = out_size;
    crate::geometry::remap::check_warp_size(w, h)?;
    let bh0 = (BLOCK / 2).min(h);
    let bw0 = (BLOCK * BLOCK / bh0).min(w);
    let mut coords = Vec::with_capacity(w * h);
    let mut fixed = Vec::with_capacity(w * h);
    for y in 0..h {
        let yf = y as f64;
        for xb in (0..w).step_by(bw0) {
            let xbf = xb as f64;
            let x0 = m[0][0] * xbf + m[0][1] * yf + m[0][2];
            let y0 = m[1][0] * xbf + m[1][1] * yf + m[1][2];
            let w0 = m[2][0] * xbf + m[2][1] * yf + m[2][2];
            for x1 in 0..bw0.min(w - xb) {
                let x1f = x1 as f64;
                let ww = w0 + m[2][0] * x1f;
                let (xs, ys) = (x0 + m[0][0] * x1f, y0 + m[1][0] * x1f);
                if ww == 0.0 {
                    coords.push([f32::NAN; 2]);
                    fixed.push([round_fixed(f64::NAN); 2]);
                } else {
                    let s = TAB / ww;
                    coords.push([(xs / ww) as f32, (ys / ww) as f32]);
                    fixed.push([round_fixed(xs * s), round_fixed(ys * s)]);
                }
            }
        }
    }
    WarpMap::from_parts(w, h, src_size.0, src_size.1, coords, fixed)
}

/// `warpPerspective` of a gray `f32` image: `h` maps source pixels to output pixels.
pub fn warp_perspective(
    img: &Image,
    h: &[[f64; 3]; 3],
    out_size: (usize, usize),
    sampling: Sampling,
) -> Result<Image> {
    perspective_map(h, (img.width(), img.height()), out_size)?.apply(img, sampling)
}
