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
//! down by an angle; [`board_pose`] the pose of a chessboard found in the photo itself.
//!
//! # Free scaling of undistorted images
//! [`optimal_new_camera`] is OpenCV's `getOptimalNewCameraMatrix` (without
//! `centerPrincipalPoint`): the new camera matrix that keeps only valid pixels (`alpha` 0),
//! every pixel of the photo (`alpha` 1) or a blend, and the rectangle of valid pixels.

use crate::error::{Error, Result};
use crate::geometry::camera::{Camera, IDENTITY3, Intrinsics, Mat3, Pose, mat3_mul, mat3_vec};
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

/// The inverse of a 3x3 matrix with OpenCV's operation order (`invert(DECOMP_LU)` on a
/// 3x3: the determinant expanded along the first row, then each cofactor times `1/det`), so
/// that warp maps round to 1/32 pixel exactly where OpenCV's do; `camera::mat3_inverse`
/// divides by the determinant instead, which can differ in the last bit. Fails on a
/// singular or non-finite matrix.
pub fn invert_3x3(m: &Mat3) -> Result<Mat3> {
    check_matrix(m, "3x3 matrix")?;
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    if det == 0.0 || !det.is_finite() {
        return Err(Error::Degenerate {
            what: "3x3 matrix",
            reason: format!("the matrix is singular (determinant {det:e})"),
        });
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
    let m = invert_3x3(h).map_err(|_| Error::Degenerate {
        what: "homography",
        reason: "the homography is singular and cannot be inverted".into(),
    })?;
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

/// The map of `initUndistortRectifyMap(K, dist, R, P, out_size)`: output pixel `(u, v)`
/// reads the source at the distorted projection of `(P R)^-1 [u, v, 1]`. `r` rotates the
/// camera (a stereo rectification; the identity for plain undistortion) and `new_k` is the
/// left 3x3 of the new projection matrix `P` (its fourth column does not change the map).
/// The source is the camera's image size.
pub fn rectify_map(
    camera: &Camera,
    r: &Mat3,
    new_k: &Mat3,
    out_size: (usize, usize),
) -> Result<WarpMap> {
    camera.validate()?;
    check_matrix(r, "rectification rotation")?;
    check_matrix(new_k, "new camera matrix")?;
    let (w, h) = out_size;
    crate::geometry::remap::check_warp_size(w, h)?;
    let ir = invert_3x3(&mat3_mul(new_k, r))?;
    let mut coords = Vec::with_capacity(w * h);
    let mut fixed = Vec::with_capacity(w * h);
    rectify_rows(camera, &ir, w, 0..h, &mut coords, &mut fixed);
    let [sw, sh] = camera.image_size;
    WarpMap::from_parts(w, h, sw, sh, coords, fixed)
}

/// Appends the map rows `rows` (indices relative to the matrix `ir`) as OpenCV's
/// `initUndistortRectifyMap` computes them: `(x, y, w)` stepped by `ir`'s first column
/// along the row, `(x/w, y/w)` distorted and projected, rounded to 1/32 pixel in `f64`.
fn rectify_rows(
    camera: &Camera,
    ir: &Mat3,
    width: usize,
    rows: std::ops::Range<usize>,
    coords: &mut Vec<[f32; 2]>,
    fixed: &mut Vec<[i32; 2]>,
) {
    let k = &camera.intrinsics;
    for i in rows {
        let fi = i as f64;
        let mut x = fi * ir[0][1] + ir[0][2];
        let mut y = fi * ir[1][1] + ir[1][2];
        let mut w = fi * ir[2][1] + ir[2][2];
        for _ in 0..width {
            let iw = 1.0 / w;
            let [u, v] = k.to_pixel(camera.distortion.distort([x * iw, y * iw]));
            coords.push([u as f32, v as f32]);
            fixed.push([round_fixed(u * TAB), round_fixed(v * TAB)]);
            x += ir[0][0];
            y += ir[1][0];
            w += ir[2][0];
        }
    }
}

/// The undistortion map of `camera` (`R = I`; the new camera matrix is `new_k`, or the
/// camera's own `K` when `None`), for images of the camera's size: compute once, apply to
/// every frame.
pub fn undistort_map(camera: &Camera, new_k: Option<&Intrinsics>) -> Result<WarpMap> {
    let k = new_k.unwrap_or(&camera.intrinsics);
    k.validate()?;
    let [w, h] = camera.image_size;
    rectify_map(camera, &IDENTITY3, &k.matrix(), (w, h))
}

/// `cv2.undistort` (with `newCameraMatrix` = `new_k`, or the camera's own `K` when `None`):
/// the map built in bands of `max(1, 4096 / width)` rows with the new camera matrix's `cy`
/// shifted per band, as OpenCV builds it (the band origin changes the last bits of the
/// positions, and so, rarely, their rounding to 1/32 pixel).
pub fn undistort_map_banded(camera: &Camera, new_k: Option<&Intrinsics>) -> Result<WarpMap> {
    camera.validate()?;
    let new_k = new_k.unwrap_or(&camera.intrinsics);
    new_k.validate()?;
    let [w, h] = camera.image_size;
    crate::geometry::remap::check_warp_size(w, h)?;
    let band = (4096 / w).clamp(1, h);
    let mut coords = Vec::with_capacity(w * h);
    let mut fixed = Vec::with_capacity(w * h);
    let mut k = new_k.matrix();
    let cy = k[1][2];
    for y0 in (0..h).step_by(band) {
        k[1][2] = cy - y0 as f64;
        let ir = invert_3x3(&k)?;
        rectify_rows(camera, &ir, w, 0..band.min(h - y0), &mut coords, &mut fixed);
    }
    WarpMap::from_parts(w, h, w, h, coords, fixed)
}

/// Undistorts a gray `f32` image as `cv2.undistort(img, K, dist)` (new camera matrix `K`).
/// The image must have the camera's size.
pub fn undistort(img: &Image, camera: &Camera, sampling: Sampling) -> Result<Image> {
    undistort_map_banded(camera, None)?.apply(img, sampling)
}

/// A new camera matrix for undistorted images and the rectangle of them where every pixel
/// is valid: [`optimal_new_camera`]'s result.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OptimalCamera {
    /// The new intrinsics (the skew is the camera's).
    pub intrinsics: Intrinsics,
    /// The rectangle of the undistorted image (of the new size) whose pixels all come from
    /// inside the photo (OpenCV's `validPixROI`; empty when there is none).
    pub valid_roi: crate::image::Rect,
}

/// OpenCV's `getOptimalNewCameraMatrix(K, dist, size, alpha, new_size,
/// centerPrincipalPoint=false)` with its `validPixROI`.
///
/// A 9x9 grid over the photo (`x = i (W-1)/8`, `y = j (H-1)/8`) is undistorted as
/// `undistortPoints` does with its default criteria (5 fixed-point iterations); the
/// inner rectangle (bounded by the grid's outermost rows and columns: inside it every
/// pixel is valid) and the outer one (the grid's bounding box: nothing of the photo is
/// lost) are mapped onto the new image `[0, W'-1] x [0, H'-1]`, giving focal lengths and
/// principal points `f0, c0` and `f1, c1`; the result is `(1 - alpha) f0 + alpha f1` (and the
/// same for `c`). `alpha = 0` keeps only valid pixels, `alpha = 1` keeps all of the photo.
/// The valid rectangle is the inner one under the new matrix, its origin and size rounded
/// (half to even) and clipped to the new image.
///
/// Fails on an `alpha` outside `[0, 1]`, an empty or oversized new size, or a distortion
/// so strong that the undistorted grid folds over (an empty inner or outer rectangle).
pub fn optimal_new_camera(
    camera: &Camera,
    alpha: f64,
    new_size: (usize, usize),
) -> Result<OptimalCamera> {
    camera.validate()?;
    if !(0.0..=1.0).contains(&alpha) {
        return Err(Error::param(
            "alpha",
            format!("must be between 0 and 1, found {alpha}"),
        ));
    }
    let (nw, nh) = new_size;
    crate::geometry::remap::check_warp_size(nw, nh)?;
    let (inner, outer) = undistort_rectangles(camera, None)?;
    let (nw1, nh1) = ((nw - 1) as f64, (nh - 1) as f64);
    let fit = |r: [f64; 4]| {
        let (fx, fy) = (nw1 / r[2], nh1 / r[3]);
        [fx, fy, -fx * r[0], -fy * r[1]]
    };
    let (a, b) = (fit(inner), fit(outer));
    let mix = |i: usize| a[i] * (1.0 - alpha) + b[i] * alpha;
    let intrinsics = Intrinsics {
        fx: mix(0),
        fy: mix(1),
        cx: mix(2),
        cy: mix(3),
        skew: camera.intrinsics.skew,
    };
    intrinsics.validate()?;
    let (roi, _) = undistort_rectangles(camera, Some(&intrinsics))?;
    // OpenCV's Rect_<double> -> Rect: each of x, y, width, height rounded; then `&=`.
    let r = roi.map(|v| v.round_ties_even().clamp(-1e9, 1e9));
    let (x0, y0) = (r[0].max(0.0), r[1].max(0.0));
    let (x1, y1) = ((r[0] + r[2]).min(nw as f64), (r[1] + r[3]).min(nh as f64));
    let valid_roi = if x1 > x0 && y1 > y0 {
        crate::image::Rect {
            x: x0 as u32,
            y: y0 as u32,
            width: (x1 - x0) as u32,
            height: (y1 - y0) as u32,
        }
    } else {
        crate::image::Rect {
            x: 0,
            y: 0,
            width: 0,
            height: 0,
        }
    };
    Ok(OptimalCamera {
        intrinsics,
        valid_roi,
    })
}

/// OpenCV's `getUndistortRectangles`: the inner and outer rectangles `[x, y, w, h]` of the
/// undistorted 9x9 grid, in normalised coordinates (`new_k` `None`) or in the pixels of
/// `new_k`.
fn undistort_rectangles(
    camera: &Camera,
    new_k: Option<&Intrinsics>,
) -> Result<([f64; 4], [f64; 4])> {
    const N: usize = 9;
    let [w, h] = camera.image_size;
    let (big, small) = (f32::MAX as f64, -(f32::MAX as f64));
    let (mut inner, mut outer) = ([small, small, big, big], [big, big, small, small]);
    for j in 0..N {
        for i in 0..N {
            let px = [
                i as f64 * (w - 1) as f64 / (N - 1) as f64,
                j as f64 * (h - 1) as f64 / (N - 1) as f64,
            ];
            let mut p = undistort_points_default(camera, px);
            if let Some(k) = new_k {
                p = [k.fx * p[0] + k.skew * p[1] + k.cx, k.fy * p[1] + k.cy];
            }
            outer = [
                outer[0].min(p[0]),
                outer[1].min(p[1]),
                outer[2].max(p[0]),
                outer[3].max(p[1]),
            ];
            if i == 0 {
                inner[0] = inner[0].max(p[0]);
            }
            if i == N - 1 {
                inner[2] = inner[2].min(p[0]);
            }
            if j == 0 {
                inner[1] = inner[1].max(p[1]);
            }
            if j == N - 1 {
                inner[3] = inner[3].min(p[1]);
            }
        }
    }
    let rect = |r: [f64; 4]| [r[0], r[1], r[2] - r[0], r[3] - r[1]];
    let (inner, outer) = (rect(inner), rect(outer));
    let ok = |r: &[f64; 4]| r.iter().all(|v| v.is_finite()) && r[2] > 0.0 && r[3] > 0.0;
    if !(ok(&inner) && ok(&outer)) {
        return Err(Error::Degenerate {
            what: "optimal new camera matrix",
            reason: format!(
                "the undistorted image has no valid area (inner rectangle {inner:?}, outer \
                 {outer:?}): the distortion folds the image over"
            ),
        });
    }
    Ok((inner, outer))
}

/// `cv::undistortPoints` with its default criteria for one photo pixel: the normalised
/// ideal point after exactly 5 fixed-point iterations `x = (x0 - delta(x)) / radial(x)`
/// (OpenCV ignores the skew here, and returns the distorted point when `radial` turns
/// negative).
fn undistort_points_default(camera: &Camera, px: [f64; 2]) -> [f64; 2] {
    let k = &camera.intrinsics;
    let d = &camera.distortion;
    let (x0, y0) = ((px[0] - k.cx) * (1.0 / k.fx), (px[1] - k.cy) * (1.0 / k.fy));
    let (mut x, mut y) = (x0, y0);
    for _ in 0..5 {
        let r2 = x * x + y * y;
        let icdist = 1.0 / (1.0 + ((d.k3 * r2 + d.k2) * r2 + d.k1) * r2);
        if icdist < 0.0 {
            return [x0, y0];
        }
        let dx = 2.0 * d.p1 * x * y + d.p2 * (r2 + 2.0 * x * x);
        let dy = d.p1 * (r2 + 2.0 * y * y) + 2.0 * d.p2 * x * y;
        x = (x0 - dx) * icdist;
        y = (y0 - dy) * icdist;
    }
    [x, y]
}

/// The part of the world a bird's-eye picture shows: a rectangle of the plane in metres and
/// the picture's scale. The picture shows the plane as seen from the camera's side, `X` to
/// the right: when the camera is on the plane's `+Z` side (a ground plane with `Z` up), `Y`
/// points up in the picture; otherwise (a chessboard, whose `Z` points away from the camera)
/// `Y` points down.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlaneView {
    /// `[min, max]` of the plane's `X`, metres.
    pub x_range: [f64; 2],
    /// `[min, max]` of the plane's `Y`, metres.
    pub y_range: [f64; 2],
    /// Picture pixels per metre.
    pub pixels_per_metre: f64,
}

impl PlaneView {
    /// The picture's `(width, height)`: `ceil(extent * pixels_per_metre)` each. Fails on
    /// non-finite or empty ranges, a scale that is not positive, or a picture over the size
    /// limit.
    pub fn size(&self) -> Result<(usize, usize)> {
        let [x0, x1] = self.x_range;
        let [y0, y1] = self.y_range;
        let s = self.pixels_per_metre;
        if ![x0, x1, y0, y1, s].iter().all(|v| v.is_finite()) {
            return Err(Error::NonFinite { what: "plane view" });
        }
        if !(x1 > x0 && y1 > y0) {
            return Err(Error::param(
                "area",
                format!("empty area X {x0}..{x1}, Y {y0}..{y1}"),
            ));
        }
        if !(s > 0.0) {
            return Err(Error::param(
                "pixels_per_metre",
                format!("must be positive, found {s}"),
            ));
        }
        let (w, h) = (((x1 - x0) * s).ceil(), ((y1 - y0) * s).ceil());
        let limit = crate::geometry::remap::MAX_WARP_PIXELS as f64;
        if w * h > limit {
            return Err(Error::param(
                "area",
                format!("a {w}x{h} picture is over the limit of {limit} pixels: lower the scale"),
            ));
        }
        crate::geometry::remap::check_warp_size(w as usize, h as usize)?;
        Ok((w as usize, h as usize))
    }
}

/// `H = K [r1 r2 t]`: plane points `(X, Y)` in metres (`Z = 0`) to undistorted pixels of a
/// camera with intrinsics `k` at `pose`.
pub fn plane_homography(k: &Intrinsics, pose: &Pose) -> Mat3 {
    let r = pose.rotation();
    let t = pose.t;
    let rt = [
        [r[0][0], r[0][1], t[0]],
        [r[1][0], r[1][1], t[1]],
        [r[2][0], r[2][1], t[2]],
    ];
    mat3_mul(&k.matrix(), &rt)
}

/// The pose of a chessboard's plane from its inner corners in a photo taken by `camera`
/// (as [`find_chessboard_corners`](crate::geometry::chessboard::find_chessboard_corners)
/// returns them, in OpenCV's order): OpenCV's `solvePnP` for a planar target, as
/// calibration poses its views (the homography of the undistorted corners gives a first
/// pose, then Levenberg-Marquardt minimises the reprojection error). Plane coordinates are
/// [`board_points`](crate::geometry::calibrate::board_points)': `X` along the first row of
/// corners, `Y` along the columns, in the unit of `square` (metres for [`PlaneView`]),
/// origin at the first corner, `Z = 0`.
///
/// Fails on a corner count other than `board.count()`, non-finite corners, a square that
/// is not positive, or corners from which no pose follows (collinear, or behind the camera).
pub fn board_pose(
    camera: &Camera,
    corners: &[[f64; 2]],
    board: crate::geometry::chessboard::BoardSize,
    square: f64,
) -> Result<Pose> {
    camera.validate()?;
    board.validate()?;
    if !(square.is_finite() && square > 0.0) {
        return Err(Error::param(
            "square",
            format!("the square size must be positive, found {square}"),
        ));
    }
    if corners.len() != board.count() {
        return Err(Error::DimensionMismatch {
            what: "chessboard corners",
            expected: board.count(),
            found: corners.len(),
        });
    }
    if !corners.iter().flatten().all(|v| v.is_finite()) {
        return Err(Error::NonFinite {
            what: "chessboard corners",
        });
    }
    let object = crate::geometry::calibrate::board_points(board.cols, board.rows, square);
    crate::geometry::calibrate_init::init_pose(camera, &object, corners)
}

/// The pose of the ground plane (`X` right, `Y` ahead, `Z` up, origin below the camera)
/// for a camera `height` metres above it, looking ahead and pitched down by `pitch_deg`
/// degrees (0: the optical axis is horizontal; 90: straight down). The camera's roll and yaw
/// are zero.
pub fn ground_pose(height: f64, pitch_deg: f64) -> Result<Pose> {
    if !(height.is_finite() && pitch_deg.is_finite()) {
        return Err(Error::NonFinite {
            what: "ground plane",
        });
    }
    if !(height > 0.0) {
        return Err(Error::param(
            "height",
            format!("must be positive, found {height}"),
        ));
    }
    if !(-90.0..=90.0).contains(&pitch_deg) {
        return Err(Error::param(
            "pitch",
            format!("must be -90 to 90 degrees, found {pitch_deg}"),
        ));
    }
    let (s, c) = pitch_deg.to_radians().sin_cos();
    // World to a level camera (x right, y down, z ahead), then the pitch about the camera's
    // x axis.
    let level = [[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]];
    let pitch = [[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]];
    let r = mat3_mul(&pitch, &level);
    let centre = mat3_vec(&r, [0.0, 0.0, height]);
    Pose::from_rotation(&r, [-centre[0], -centre[1], -centre[2]])
}

/// Source positions of plane points past which the lens model is not trusted: the largest
/// squared normalised radius of the image's corners, undistorted, times 1.5^2 (beyond the
/// calibrated field of view the distortion polynomial can fold back into the image).
fn trusted_radius2(camera: &Camera) -> f64 {
    let [w, h] = camera.image_size;
    let k = &camera.intrinsics;
    let corners = [
        [0.0, 0.0],
        [w as f64 - 1.0, 0.0],
        [0.0, h as f64 - 1.0],
        [w as f64 - 1.0, h as f64 - 1.0],
    ];
    let r2 = corners
        .iter()
        .map(|&c| {
            let [x, y] = k.to_normalized(camera.undistort_pixel(c));
            x * x + y * y
        })
        .fold(0.0f64, f64::max);
    2.25 * r2
}

/// The bird's-eye (inverse perspective) map: each picture pixel's plane point projected
/// through `camera` (distortion included) at `pose`. Plane points behind the camera, or
/// beyond 1.5 times the calibrated field of view, read outside the source. The source is the
/// camera's image size.
pub fn birdseye_map(camera: &Camera, pose: &Pose, view: &PlaneView) -> Result<WarpMap> {
    camera.validate()?;
    if !pose.rvec.iter().chain(&pose.t).all(|v| v.is_finite()) {
        return Err(Error::NonFinite { what: "plane pose" });
    }
    let (w, h) = view.size()?;
    let r = pose.rotation();
    let t = pose.t;
    // The camera centre in plane coordinates, -R^T t: which side of the plane it is on.
    let cz = -(r[0][2] * t[0] + r[1][2] * t[1] + r[2][2] * t[2]);
    let y_up = cz > 0.0;
    let s = view.pixels_per_metre;
    let [x0, _] = view.x_range;
    let [y0, y1] = view.y_range;
    let limit = trusted_radius2(camera);
    let [sw, sh] = camera.image_size;
    WarpMap::from_fn(w, h, sw, sh, |u, v| {
        let px = x0 + (u as f64 + 0.5) / s;
        let py = if y_up {
            y1 - (v as f64 + 0.5) / s
        } else {
            y0 + (v as f64 + 0.5) / s
        };
        let c = mat3_vec(&r, [px, py, 0.0]);
        let (zc, xc, yc) = (c[2] + t[2], c[0] + t[0], c[1] + t[1]);
        if !(zc > 0.0) {
            return [f64::NAN; 2];
        }
        let (xn, yn) = (xc / zc, yc / zc);
        if !(xn * xn + yn * yn <= limit) {
            return [f64::NAN; 2];
        }
        camera
            .intrinsics
            .to_pixel(camera.distortion.distort([xn, yn]))
    })
    .map_err(|e| match e {
        Error::InvalidParam { name: "map", .. } => Error::param(
            "plane",
            "the chosen area of the plane is nowhere in the camera's view",
        ),
        other => other,
    })
}

/// The homography from bird's-eye picture pixels to undistorted source pixels (the map of
/// [`birdseye_map`] for a lens without distortion, as `warpPerspective` with
/// `WARP_INVERSE_MAP`).
pub fn birdseye_homography(k: &Intrinsics, pose: &Pose, view: &PlaneView) -> Result<Mat3> {
    view.size()?;
    let r = pose.rotation();
    let cz = -(r[0][2] * pose.t[0] + r[1][2] * pose.t[1] + r[2][2] * pose.t[2]);
    let s = view.pixels_per_metre;
    let [x0, _] = view.x_range;
    let [y0, y1] = view.y_range;
    // Picture pixel (u, v) to plane metres.
    let to_plane = if cz > 0.0 {
        [
            [1.0 / s, 0.0, x0 + 0.5 / s],
            [0.0, -1.0 / s, y1 - 0.5 / s],
            [0.0, 0.0, 1.0],
        ]
    } else {
        [
            [1.0 / s, 0.0, x0 + 0.5 / s],
            [0.0, 1.0 / s, y0 + 0.5 / s],
            [0.0, 0.0, 1.0],
        ]
    };
    Ok(mat3_mul(&plane_homography(k, pose), &to_plane))
}
