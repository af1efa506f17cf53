//! Stereo rectification by Bouguet's method, as OpenCV's `stereoRectify`: the rotations
//! `R1`, `R2` that turn both cameras to a common orientation with the baseline along the
//! rows, the new projection matrices `P1`, `P2`, the reprojection matrix `Q`, and the
//! regions of valid pixels; and the warp maps that resample a pair to it.
//!
//! # The method (OpenCV's, step by step)
//! With `X2 = R X1 + T` (see [`rig`](super::rig)):
//! 1. Split `R` in halves: `r_r = rodrigues(-rodrigues⁻¹(R) / 2)`, and `t = r_r T`.
//! 2. The baseline's axis is `x` when `|t_x| > |t_y|` (horizontal rig), else `y`; the
//!    rotation `W` by `acos(|t_i| / |t|)` about `t × u` (`u` the unit axis with the sign of
//!    `t_i`) aligns `t` with it. `R1 = W r_rᵀ`, `R2 = W r_r`.
//! 3. The new focal length is the mean of the two cameras' `fy` (`fx` for a vertical rig),
//!    scaled by the new image size. Each camera's new principal point centres its image: the
//!    four image corners are undistorted (`cv::undistortPoints`' 5 iterations), rotated by
//!    `R1` or `R2`, projected with that focal length, and their mean is put at the image
//!    centre `((w - 1)/2, (h - 1)/2)`; as in OpenCV these intermediate points are stored in
//!    `f32`. With [`RectifyParams::zero_disparity`] (`CALIB_ZERO_DISPARITY`, the default)
//!    both principal points become their mean; otherwise only the coordinate across the
//!    baseline is shared.
//! 4. `P1 = [f 0 cx1 0; 0 f cy 0; 0 0 1 0]`, `P2` the same with `cx2` and `P2[i][3] = f t'_i`
//!    where `t' = R2 T` (the baseline times the focal length, negative for a right camera
//!    on the `+x` side).
//! 5. With [`RectifyParams::alpha`] `= Some(a)` the focal length is scaled by
//!    `s = s0 (1 - a) + s1 a`, where `s0` zooms until only valid pixels are seen (the
//!    largest of the ratios of the inner rectangles of both images) and `s1` until every
//!    source pixel is kept (the smallest for the outer rectangles); the rectangles come from
//!    the 32 points along the image border at `(k (w - 1) / 8, l (h - 1) / 8)`,
//!    undistorted into the rectified views (OpenCV 4.14's `getUndistortRectangles`). `None` (OpenCV's `alpha = -1`) keeps `s = 1`.
//! 6. The valid regions are the inner rectangles scaled by `s`, rounded inwards and clipped
//!    to the image. `Q = [[1, 0, 0, -cx1], [0, 1, 0, -cy1], [0, 0, 0, f],
//!    [0, 0, -1/t'_i, (cx1 - cx2)/t'_i]]`, so that `[X Y Z W] = Q [x y d 1]` with
//!    `d = x_left - x_right`.
//!
//! The maps: output pixel `(u, v)` of the left rectified image reads the left photo at the
//! distorted projection of `(P1 R1)⁻¹ [u, v, 1]` ([`rectify_map`], OpenCV's
//! `initUndistortRectifyMap`); the same for the right with `P2`, `R2`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::geometry::camera::{
    Camera, MAX_CAMERA_SIDE, Mat3, mat3_mul, mat3_transpose, mat3_vec, rodrigues, rodrigues_vector,
};
use crate::geometry::remap::WarpMap;
use crate::geometry::warp::rectify_map;
use crate::image::Rect;

/// Iterations of OpenCV's `undistortPoints` without criteria.
pub const OPENCV_UNDISTORT_ITERATIONS: usize = 5;

/// A 3x4 projection matrix, row-major.
pub type Projection = [[f64; 4]; 3];

/// How to rectify (OpenCV's `stereoRectify` flags and arguments).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RectifyParams {
    /// Free scaling in `[0, 1]`: 0 shows only valid pixels, 1 keeps every source pixel;
    /// `None` is OpenCV's default (`alpha = -1`: no scaling).
    pub alpha: Option<f64>,
    /// Give both rectified cameras the same principal point (`CALIB_ZERO_DISPARITY`), so
    /// that points at infinity have disparity 0.
    pub zero_disparity: bool,
    /// `[width, height]` of the rectified images; `None` keeps the cameras' size.
    pub new_size: Option<[usize; 2]>,
}

impl Default for RectifyParams {
    fn default() -> Self {
        RectifyParams {
            alpha: None,
            zero_disparity: true,
            new_size: None,
        }
    }
}

impl RectifyParams {
    /// Checks the params.
    pub fn validate(&self) -> Result<()> {
        if let Some(a) = self.alpha
            && !(0.0..=1.0).contains(&a)
        {
            return Err(Error::param(
                "alpha",
                format!("must be in [0, 1] (or absent for no scaling), got {a}"),
            ));
        }
        if let Some([w, h]) = self.new_size
            && (!(1..=MAX_CAMERA_SIDE).contains(&w) || !(1..=MAX_CAMERA_SIDE).contains(&h))
        {
            return Err(Error::param(
                "new_size",
                format!("must be 1 to {MAX_CAMERA_SIDE} pixels a side, got {w}x{h}"),
            ));
        }
        Ok(())
    }
}

/// A stereo rectification (OpenCV's `stereoRectify` outputs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rectification {
    /// Rotation of the left camera into the rectified frame.
    pub r1: Mat3,
    /// Rotation of the right camera into the rectified frame.
    pub r2: Mat3,
    /// Projection matrix of the rectified left camera.
    pub p1: Projection,
    /// Projection matrix of the rectified right camera (`P2[0][3] = f Tx'`).
    pub p2: Projection,
    /// Disparity-to-depth matrix: `[X Y Z W]ᵀ = Q [x y d 1]ᵀ`.
    pub q: [[f64; 4]; 4],
    /// Pixels of the rectified left image that all come from inside the photo.
    pub roi1: Rect,
    /// The same for the right image.
    pub roi2: Rect,
    /// `[width, height]` of the rectified images.
    pub size: [usize; 2],
    /// The params it was computed with.
    pub params: RectifyParams,
}

impl Rectification {
    /// Checks what a rectification claims: finite matrices, a valid size, regions inside
    /// it.
    pub fn validate(&self) -> Result<()> {
        let finite = self
            .r1
            .iter()
            .chain(&self.r2)
            .flatten()
            .chain(self.p1.iter().chain(&self.p2).flatten())
            .chain(self.q.iter().flatten())
            .all(|v| v.is_finite());
        if !finite {
            return Err(Error::NonFinite {
                what: "rectification",
            });
        }
        let [w, h] = self.size;
        if !(1..=MAX_CAMERA_SIDE).contains(&w) || !(1..=MAX_CAMERA_SIDE).contains(&h) {
            return Err(Error::param(
                "size",
                format!("rectified size must be 1 to {MAX_CAMERA_SIDE} pixels a side"),
            ));
        }
        for roi in [&self.roi1, &self.roi2] {
            if roi.x as usize + roi.width as usize > w || roi.y as usize + roi.height as usize > h {
                return Err(Error::param(
                    "roi",
                    format!("the valid region {roi:?} is not inside the {w}x{h} image"),
                ));
            }
        }
        if !(self.p1[0][0] > 0.0 && self.p1[1][1] > 0.0) {
            return Err(Error::param("p1", "the focal length must be positive"));
        }
        Ok(())
    }

    /// The two warp maps (left, right) that rectify photos of `camera1` and `camera2`.
    pub fn maps(&self, camera1: &Camera, camera2: &Camera) -> Result<[WarpMap; 2]> {
        let size = (self.size[0], self.size[1]);
        Ok([
            rectify_map(camera1, &self.r1, &left3(&self.p1), size)?,
            rectify_map(camera2, &self.r2, &left3(&self.p2), size)?,
        ])
    }
}

/// The left 3x3 block of a projection matrix.
fn left3(p: &Projection) -> Mat3 {
    std::array::from_fn(|i| [p[i][0], p[i][1], p[i][2]])
}

/// Pixels of `camera` to the rectified (or new) view, as OpenCV's
/// `undistortPoints(pts, K, dist, R, P)` with its default 5 iterations: normalised, the
/// distortion removed by the fixed-point iteration (stopping where the radial factor turns
/// negative), rotated by `r` and projected by `p` (`P R` applied as a homography).
pub fn rectify_points(camera: &Camera, r: &Mat3, p: &Mat3, pts: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let rr = mat3_mul(p, r);
    pts.iter()
        .map(|&q| {
            let [x, y] = undistort_normalized(camera, q);
            let xx = rr[0][0] * x + rr[0][1] * y + rr[0][2];
            let yy = rr[1][0] * x + rr[1][1] * y + rr[1][2];
            let ww = 1.0 / (rr[2][0] * x + rr[2][1] * y + rr[2][2]);
            [xx * ww, yy * ww]
        })
        .collect()
}

/// OpenCV's `undistortPoints` to normalised coordinates (5 iterations).
fn undistort_normalized(camera: &Camera, q: [f64; 2]) -> [f64; 2] {
    let k = &camera.intrinsics;
    let d = &camera.distortion;
    let (ifx, ify) = (1.0 / k.fx, 1.0 / k.fy);
    let (x0, y0) = ((q[0] - k.cx) * ifx, (q[1] - k.cy) * ify);
    let (mut x, mut y) = (x0, y0);
    if d.is_zero() {
        return [x, y];
    }
    for _ in 0..OPENCV_UNDISTORT_ITERATIONS {
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

/// A rectangle with `f64` corners: `[x, y, width, height]`.
type RectF = [f64; 4];

/// OpenCV's `getUndistortRectangles`: the largest rectangle inside and the smallest
/// around the image border seen through `(camera, r, p)`, from 9 points per side
/// (positions `k (w - 1) / 8`, corners included, as OpenCV 4.14 computes them).
fn undistort_rectangles(camera: &Camera, r: &Mat3, p: &Mat3) -> (RectF, RectF) {
    const N: usize = 9;
    let [w, h] = camera.image_size;
    let step = [
        (w as f64 - 1.0) / (N - 1) as f64,
        (h as f64 - 1.0) / (N - 1) as f64,
    ];
    let mut grid = Vec::new();
    for y in 0..N {
        for x in 0..N {
            if x == 0 || x == N - 1 || y == 0 || y == N - 1 {
                grid.push((x, y, [x as f64 * step[0], y as f64 * step[1]]));
            }
        }
    }
    let pts: Vec<[f64; 2]> = grid.iter().map(|g| g.2).collect();
    let out = rectify_points(camera, r, p, &pts);
    let big = f32::MAX as f64;
    let (mut ix0, mut ix1, mut iy0, mut iy1) = (-big, big, -big, big);
    let (mut ox0, mut ox1, mut oy0, mut oy1) = (big, -big, big, -big);
    for ((x, y, _), q) in grid.iter().zip(&out) {
        ox0 = ox0.min(q[0]);
        ox1 = ox1.max(q[0]);
        oy0 = oy0.min(q[1]);
        oy1 = oy1.max(q[1]);
        if *x == 0 {
            ix0 = ix0.max(q[0]);
        }
        if *x == N - 1 {
            ix1 = ix1.min(q[0]);
        }
        if *y == 0 {
            iy0 = iy0.max(q[1]);
        }
        if *y == N - 1 {
            iy1 = iy1.min(q[1]);
        }
    }
    (
        [ix0, iy0, ix1 - ix0, iy1 - iy0],
        [ox0, oy0, ox1 - ox0, oy1 - oy0],
    )
}

/// `cv::Rect(ceil, ceil, floor, floor) & Rect(0, 0, w, h)` of a scaled inner rectangle.
fn valid_region(inner: &RectF, c0: [f64; 2], c: [f64; 2], s: f64, size: [usize; 2]) -> Rect {
    let clamp = |v: f64| v.clamp(-1e15, 1e15) as i64;
    let x = clamp(((inner[0] - c0[0]) * s + c[0]).ceil());
    let y = clamp(((inner[1] - c0[1]) * s + c[1]).ceil());
    let w = clamp((inner[2] * s).floor());
    let h = clamp((inner[3] * s).floor());
    let x1 = x.max(0);
    let y1 = y.max(0);
    let w1 = (x + w).min(size[0] as i64) - x1;
    let h1 = (y + h).min(size[1] as i64) - y1;
    if w1 <= 0 || h1 <= 0 {
        return Rect {
            x: 0,
            y: 0,
            width: 0,
            height: 0,
        };
    }
    Rect {
        x: x1 as u32,
        y: y1 as u32,
        width: w1 as u32,
        height: h1 as u32,
    }
}

/// The new principal point of one camera: the image corners, undistorted, rotated by `r`
/// and projected with focal length `fc`, centred (OpenCV keeps these points in `f32`).
fn centring(camera: &Camera, r: &Mat3, fc: f64) -> [f64; 2] {
    let [w, h] = camera.image_size;
    let (nx, ny) = (w as f64, h as f64);
    let mut sum = [0.0f64; 2];
    for i in 0..4 {
        let corner = [
            ((i % 2) as f64 * (nx - 1.0)) as f32 as f64,
            ((i / 2) as f64 * (ny - 1.0)) as f32 as f64,
        ];
        let n = undistort_normalized(camera, corner).map(|v| v as f32 as f64);
        let xc = mat3_vec(r, [n[0], n[1], 1.0]);
        let iz = if xc[2] != 0.0 { 1.0 / xc[2] } else { 1.0 };
        sum[0] += (xc[0] * iz * fc) as f32 as f64;
        sum[1] += (xc[1] * iz * fc) as f32 as f64;
    }
    [
        (nx - 1.0) / 2.0 - sum[0] / 4.0,
        (ny - 1.0) / 2.0 - sum[1] / 4.0,
    ]
}

/// Bouguet's rectification of the rig `(camera1, camera2, r, t)` (`X2 = R X1 + T`), as
/// OpenCV's `stereoRectify` (see the module docs). Fails on invalid cameras or cameras of
/// different image sizes, a non-finite `r` or `t`, a zero baseline, or bad params.
pub fn stereo_rectify(
    camera1: &Camera,
    camera2: &Camera,
    r: &Mat3,
    t: [f64; 3],
    params: &RectifyParams,
) -> Result<Rectification> {
    params.validate()?;
    camera1.validate()?;
    camera2.validate()?;
    if camera1.image_size != camera2.image_size {
        return Err(Error::param(
            "camera2",
            "the two cameras must have the same image size",
        ));
    }
    if !r.iter().flatten().chain(&t).all(|v| v.is_finite()) {
        return Err(Error::NonFinite {
            what: "stereo rig R, T",
        });
    }
    let image_size = camera1.image_size;
    let (nx, ny) = (image_size[0] as f64, image_size[1] as f64);
    let om = rodrigues_vector(r).map(|v| v * -0.5);
    let r_r = rodrigues(om);
    let tr = mat3_vec(&r_r, t);
    let idx = if tr[0].abs() > tr[1].abs() { 0 } else { 1 };
    let c = tr[idx];
    let nt = (tr[0] * tr[0] + tr[1] * tr[1] + tr[2] * tr[2]).sqrt();
    if !(nt > 0.0) {
        return Err(Error::Degenerate {
            what: "stereo rectification",
            reason: "the baseline |T| is zero".into(),
        });
    }
    let mut uu = [0.0; 3];
    uu[idx] = if c > 0.0 { 1.0 } else { -1.0 };
    let mut ww = [
        tr[1] * uu[2] - tr[2] * uu[1],
        tr[2] * uu[0] - tr[0] * uu[2],
        tr[0] * uu[1] - tr[1] * uu[0],
    ];
    let nw = (ww[0] * ww[0] + ww[1] * ww[1] + ww[2] * ww[2]).sqrt();
    if nw > 0.0 {
        let k = (c.abs() / nt).acos() / nw;
        ww = ww.map(|v| v * k);
    }
    let wr = rodrigues(ww);
    let r1 = mat3_mul(&wr, &mat3_transpose(&r_r));
    let r2 = mat3_mul(&wr, &r_r);
    let t2 = mat3_vec(&r2, t);

    let new_size = params.new_size.unwrap_or(image_size);
    let ratio_x = new_size[0] as f64 / nx / 2.0;
    let ratio_y = new_size[1] as f64 / ny / 2.0;
    let ratio = if idx == 1 { ratio_x } else { ratio_y };
    let k1 = camera1.intrinsics.matrix();
    let k2 = camera2.intrinsics.matrix();
    let mut fc = (k1[idx ^ 1][idx ^ 1] + k2[idx ^ 1][idx ^ 1]) * ratio;
    let mut cc = [centring(camera1, &r1, fc), centring(camera2, &r2, fc)];
    if params.zero_disparity {
        for j in 0..2 {
            let m = (cc[0][j] + cc[1][j]) * 0.5;
            cc[0][j] = m;
            cc[1][j] = m;
        }
    } else {
        let j = idx ^ 1;
        let m = (cc[0][j] + cc[1][j]) * 0.5;
        cc[0][j] = m;
        cc[1][j] = m;
    }
    let t_idx = t2[idx];
    let projection =
        |f: f64, c: [f64; 2]| -> Mat3 { [[f, 0.0, c[0]], [0.0, f, c[1]], [0.0, 0.0, 1.0]] };
    let (inner1, outer1) = undistort_rectangles(camera1, &r1, &projection(fc, cc[0]));
    let (inner2, outer2) = undistort_rectangles(camera2, &r2, &projection(fc, cc[1]));

    let scale = |c0: [f64; 2]| {
        [
            new_size[0] as f64 * c0[0] / nx,
            new_size[1] as f64 * c0[1] / ny,
        ]
    };
    let (c1, c2) = (scale(cc[0]), scale(cc[1]));
    let mut s = 1.0;
    if let Some(alpha) = params.alpha {
        let (w1, h1) = (new_size[0] as f64 - 1.0, new_size[1] as f64 - 1.0);
        let ratios = |rect: &RectF, c0: [f64; 2], c: [f64; 2]| {
            [
                c[0] / (c0[0] - rect[0]),
                c[1] / (c0[1] - rect[1]),
                (w1 - c[0]) / (rect[0] + rect[2] - c0[0]),
                (h1 - c[1]) / (rect[1] + rect[3] - c0[1]),
            ]
        };
        let s0 = ratios(&inner1, cc[0], c1)
            .into_iter()
            .chain(ratios(&inner2, cc[1], c2))
            .fold(f64::NEG_INFINITY, f64::max);
        let s1 = ratios(&outer1, cc[0], c1)
            .into_iter()
            .chain(ratios(&outer2, cc[1], c2))
            .fold(f64::INFINITY, f64::min);
        s = s0 * (1.0 - alpha) + s1 * alpha;
    }
    if !(s.is_finite() && s > 0.0) {
        return Err(Error::Degenerate {
            what: "stereo rectification",
            reason: format!("the scale for alpha {:?} is {s}", params.alpha),
        });
    }
    let roi1 = valid_region(&inner1, cc[0], c1, s, new_size);
    let roi2 = valid_region(&inner2, cc[1], c2, s, new_size);
    let p_idx = t_idx * fc * s;
    fc *= s;
    let mut p1 = [[0.0; 4]; 3];
    p1[0][0] = fc;
    p1[1][1] = fc;
    p1[0][2] = c1[0];
    p1[1][2] = c1[1];
    p1[2][2] = 1.0;
    let mut p2 = p1;
    p2[0][2] = c2[0];
    p2[1][2] = c2[1];
    p2[idx][3] = p_idx;
    let shift = if idx == 0 {
        c1[0] - c2[0]
    } else {
        c1[1] - c2[1]
    };
    let q = [
        [1.0, 0.0, 0.0, -c1[0]],
        [0.0, 1.0, 0.0, -c1[1]],
        [0.0, 0.0, 0.0, fc],
        [0.0, 0.0, -1.0 / t_idx, shift / t_idx],
    ];
    let rect = Rectification {
        r1,
        r2,
        p1,
        p2,
        q,
        roi1,
        roi2,
        size: new_size,
        params: params.clone(),
    };
    rect.validate().map_err(|e| Error::Degenerate {
        what: "stereo rectification",
        reason: format!("the result is not usable: {e}"),
    })?;
    Ok(rect)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::camera::{Distortion, Intrinsics};

    #[test]
    fn rectify_points_with_identity_and_no_distortion_is_the_identity() {
        let cam = Camera {
            intrinsics: Intrinsics {
                fx: 500.0,
                fy: 510.0,
                cx: 320.0,
                cy: 240.0,
                skew: 0.0,
            },
            distortion: Distortion::default(),
            image_size: [640, 480],
        };
        let k = cam.intrinsics.matrix();
        let eye = crate::geometry::camera::IDENTITY3;
        let out = rectify_points(&cam, &eye, &k, &[[10.0, 20.0], [600.5, 400.25]]);
        assert!((out[0][0] - 10.0).abs() < 1e-12 && (out[1][1] - 400.25).abs() < 1e-12);
    }

    #[test]
    fn regions_are_clipped_like_opencvs_rect_intersection() {
        let r = valid_region(
            &[-5.5, 2.2, 700.0, 10.0],
            [0.0; 2],
            [0.0; 2],
            1.0,
            [640, 480],
        );
        assert_eq!((r.x, r.y, r.width, r.height), (0, 3, 640, 10));
        let r = valid_region(
            &[700.0, 0.0, 10.0, 10.0],
            [0.0; 2],
            [0.0; 2],
            1.0,
            [640, 480],
        );
        assert_eq!(r.width, 0);
    }

    #[test]
    fn bad_params_are_refused() {
        for p in [
            RectifyParams {
                alpha: Some(1.5),
                ..Default::default()
            },
            RectifyParams {
                new_size: Some([0, 10]),
                ..Default::default()
            },
        ] {
            assert!(p.validate().is_err());
        }
    }
}
