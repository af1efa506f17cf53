//! Sub-pixel corner refinement by gradient orthogonality, OpenCV's `cornerSubPix`.
//!
//! # Overview
//! At the true corner `q`, the image gradient `g_i` at every point `p_i` of a small window is
//! orthogonal to `p_i - q` (inside a flat square `g_i = 0`; on an edge through `q`, `g_i` is
//! normal to the edge, which contains `p_i - q`). So `q` solves the 2x2 weighted least-squares
//! system (Förstner 1987; Bouguet's calibration toolbox; OpenCV's `cornerSubPix`)
//!
//! `sum_i w_i g_i g_i^T q = sum_i w_i g_i g_i^T p_i`,
//!
//! which is solved again around the new estimate until it moves less than `epsilon` or
//! `max_iterations` is reached.
//!
//! # Usage
//! ```
//! use classic_cv::geometry::subpix::corner_subpix;
//! use classic_cv::image::Image;
//! // A blurred-free X-junction at (20.3, 19.6) in a 40x40 image.
//! let img = Image::from_fn(40, 40, |x, y| {
//!     let (dx, dy) = (x as f64 - 20.3, y as f64 - 19.6);
//!     if (dx > 0.0) == (dy > 0.0) { 0.9 } else { 0.1 }
//! });
//! let mut corners = [[19.0, 21.0]];
//! corner_subpix(&img, &mut corners, 5, None, 30, 1e-3).unwrap();
//! assert!((corners[0][0] - 20.3).abs() < 0.6 && (corners[0][1] - 19.6).abs() < 0.6);
//! ```
//!
//! # Conventions that change numbers (all as in OpenCV 4)
//! - The window is `(2 h + 1)^2` points at integer offsets `-h..=h` from the current
//!   estimate, sampled bilinearly (pixel centres at integer coordinates; outside the image
//!   the border pixels repeat, as `getRectSubPix` does).
//! - Gradients are central differences `I(x+1) - I(x-1)` (not halved; the scale cancels)
//!   of the sampled window, on gray values scaled to `0..255`.
//! - Weights: `w(dx, dy) = exp(-(dx/h)^2) exp(-(dy/h)^2)`, computed in `f32`; a zero zone of
//!   half-size `z` sets the central `(2 z + 1)^2` weights to 0.
//! - The system is accumulated in `f64`; a determinant `|det| <= DBL_EPSILON^2` stops the
//!   iterations for that corner. The loop runs while fewer than `max_iterations` updates
//!   were made and the last update moved more than `epsilon` (Euclidean).
//! - An update that leaves the image (`0 <= x < width`, `0 <= y < height` fails) is dropped
//!   and stops the iterations; a result farther than `h` from the start in `x` or `y` is
//!   replaced by the start (OpenCV's "poor convergence" rule).
//! - OpenCV stores positions in `f32`; here they stay `f64`, which moves results by about
//!   `1e-5` px at most.

use crate::error::{Error, Result};
use crate::image::Image;

/// OpenCV's cap on the number of iterations of `cornerSubPix`.
pub const MAX_SUBPIX_ITERATIONS: usize = 100;

/// Refines `corners` in place to sub-pixel accuracy (OpenCV's `cornerSubPix` with a window
/// of `(2 half_window + 1)^2`, `zeroZone` of `zero_zone` (None for `(-1, -1)`) and the
/// termination criteria `EPS + MAX_ITER` with `epsilon` and `max_iterations`).
///
/// Fails on an image smaller than `2 half_window + 5` in either side (OpenCV's bound), a
/// non-finite pixel or corner, a corner outside the image, `half_window == 0`, a zero zone
/// that covers the window, `max_iterations` outside `1..=100` or a negative or non-finite
/// `epsilon`.
pub fn corner_subpix(
    image: &Image,
    corners: &mut [[f64; 2]],
    half_window: usize,
    zero_zone: Option<usize>,
    max_iterations: usize,
    epsilon: f64,
) -> Result<()> {
    check_subpix_args(half_window, zero_zone, max_iterations, epsilon)?;
    check_window_fits(image.width(), image.height(), half_window)?;
    image.check_finite()?;
    let (w, h) = (image.width() as f64, image.height() as f64);
    for c in corners.iter() {
        if !(c[0].is_finite() && c[1].is_finite()) {
            return Err(Error::NonFinite { what: "corners" });
        }
        if !(c[0] >= 0.0 && c[0] < w && c[1] >= 0.0 && c[1] < h) {
            return Err(Error::param(
                "corners",
                format!(
                    "initial corner ({}, {}) is outside the {}x{} image",
                    c[0],
                    c[1],
                    image.width(),
                    image.height()
                ),
            ));
        }
    }
    let refiner = SubpixRefiner::new(half_window, zero_zone, max_iterations, epsilon);
    for c in corners.iter_mut() {
        *c = refiner.refine(image, *c);
    }
    Ok(())
}

/// Checks the arguments of [`corner_subpix`] that do not depend on the image.
pub(crate) fn check_subpix_args(
    half_window: usize,
    zero_zone: Option<usize>,
    max_iterations: usize,
    epsilon: f64,
) -> Result<()> {
    if half_window == 0 || half_window > 256 {
        return Err(Error::param("half_window", "must be in 1..=256"));
    }
    if let Some(z) = zero_zone
        && z >= half_window
    {
        return Err(Error::param(
            "zero_zone",
            format!("{z} covers the whole window of half-size {half_window}"),
        ));
    }
    if max_iterations == 0 || max_iterations > MAX_SUBPIX_ITERATIONS {
        return Err(Error::param(
            "max_iterations",
            format!("must be in 1..={MAX_SUBPIX_ITERATIONS}"),
        ));
    }
    if !(epsilon.is_finite() && epsilon >= 0.0) {
        return Err(Error::param("epsilon", "must be finite and >= 0"));
    }
    Ok(())
}

/// OpenCV's bound: the image is at least `2 half_window + 5` pixels in each side.
pub(crate) fn check_window_fits(width: usize, height: usize, half_window: usize) -> Result<()> {
    let min = 2 * half_window + 5;
    if width < min || height < min {
        return Err(Error::ImageTooSmall {
            width,
            height,
            min_width: min,
            min_height: min,
        });
    }
    Ok(())
}

/// One configured refinement: the weight mask and the stopping rule.
pub(crate) struct SubpixRefiner {
    half: usize,
    mask: Vec<f32>,
    max_iterations: usize,
    epsilon_sq: f64,
}

impl SubpixRefiner {
    /// The mask of a window of half-size `half` with an optional zero zone (arguments
    /// checked by [`check_subpix_args`]).
    pub(crate) fn new(
        half: usize,
        zero_zone: Option<usize>,
        max_iterations: usize,
        epsilon: f64,
    ) -> Self {
        let n = 2 * half + 1;
        let mut mask = vec![0f32; n * n];
        for i in 0..n {
            let y = (i as f32 - half as f32) / half as f32;
            let vy = (-y * y).exp();
            for j in 0..n {
                let x = (j as f32 - half as f32) / half as f32;
                mask[i * n + j] = vy * (-x * x).exp();
            }
        }
        if let Some(z) = zero_zone {
            for i in half - z..=half + z {
                for j in half - z..=half + z {
                    mask[i * n + j] = 0.0;
                }
            }
        }
        SubpixRefiner {
            half,
            mask,
            max_iterations,
            epsilon_sq: epsilon * epsilon,
        }
    }

    /// The refined position of the corner that starts at `start` (inside the image).
    pub(crate) fn refine(&self, image: &Image, start: [f64; 2]) -> [f64; 2] {
        let (w, h) = (image.width(), image.height());
        let px = image.as_slice();
        let half = self.half as isize;
        let n = 2 * self.half + 1;
        let np = n + 2;
        let mut patch = vec![0f64; np * np];
        let mut cur = start;
        let mut iter = 0;
        loop {
            sample_patch(px, w, h, cur, half + 1, &mut patch);
            let (mut a, mut b, mut c, mut bb1, mut bb2) = (0f64, 0f64, 0f64, 0f64, 0f64);
            for i in 0..n {
                let py = i as f64 - half as f64;
                let row = (i + 1) * np;
                for j in 0..n {
                    let m = self.mask[i * n + j] as f64;
                    let k = row + j + 1;
                    let gx = patch[k + 1] - patch[k - 1];
                    let gy = patch[k + np] - patch[k - np];
                    let (gxx, gxy, gyy) = (gx * gx * m, gx * gy * m, gy * gy * m);
                    let pxo = j as f64 - half as f64;
                    a += gxx;
                    b += gxy;
                    c += gyy;
                    bb1 += gxx * pxo + gxy * py;
                    bb2 += gxy * pxo + gyy * py;
                }
            }
            let det = a * c - b * b;
            if det.abs() <= f64::EPSILON * f64::EPSILON {
                break;
            }
            let s = 1.0 / det;
            let next = [
                cur[0] + c * s * bb1 - b * s * bb2,
                cur[1] - b * s * bb1 + a * s * bb2,
            ];
            let (dx, dy) = (next[0] - cur[0], next[1] - cur[1]);
            let err = dx * dx + dy * dy;
            let inside =
                next[0] >= 0.0 && next[0] < w as f64 && next[1] >= 0.0 && next[1] < h as f64;
            if !inside {
                break;
            }
            cur = next;
            iter += 1;
            if iter >= self.max_iterations || err <= self.epsilon_sq {
                break;
            }
        }
        let lim = self.half as f64;
        if (cur[0] - start[0]).abs() > lim || (cur[1] - start[1]).abs() > lim {
            start
        } else {
            cur
        }
    }
}

/// Samples the `(2 r + 1)^2` points at integer offsets `-r..=r` around `centre`, bilinearly,
/// with the border pixels repeated outside the image, scaled to `0..255`.
fn sample_patch(px: &[f32], w: usize, h: usize, centre: [f64; 2], r: isize, out: &mut [f64]) {
    let n = (2 * r + 1) as usize;
    let x0f = (centre[0] - r as f64).floor();
    let y0f = (centre[1] - r as f64).floor();
    let fx = (centre[0] - r as f64 - x0f) as f32;
    let fy = (centre[1] - r as f64 - y0f) as f32;
    let (x0, y0) = (x0f as isize, y0f as isize);
    let clampx = |x: isize| x.clamp(0, w as isize - 1) as usize;
    let clampy = |y: isize| y.clamp(0, h as isize - 1) as usize;
    let (a11, a12, a21, a22) = (
        (1.0 - fx) * (1.0 - fy),
        fx * (1.0 - fy),
        (1.0 - fx) * fy,
        fx * fy,
    );
    for i in 0..n {
        let r0 = clampy(y0 + i as isize) * w;
        let r1 = clampy(y0 + i as isize + 1) * w;
        for j in 0..n {
            let xa = clampx(x0 + j as isize);
            let xb = clampx(x0 + j as isize + 1);
            let v = px[r0 + xa] * a11 + px[r0 + xb] * a12 + px[r1 + xa] * a21 + px[r1 + xb] * a22;
            out[i * n + j] = v as f64 * 255.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An X-junction at `(cx, cy)` (0.8 top-left and bottom-right, 0.2 elsewhere), each
    /// pixel the mean of 8x8 samples over its area.
    fn x_corner(cx: f64, cy: f64, size: usize) -> Image {
        Image::from_fn(size, size, |x, y| {
            let mut acc = 0.0;
            for sy in 0..8 {
                for sx in 0..8 {
                    let dx = x as f64 + (sx as f64 + 0.5) / 8.0 - 0.5 - cx;
                    let dy = y as f64 + (sy as f64 + 0.5) / 8.0 - 0.5 - cy;
                    acc += if (dx > 0.0) == (dy > 0.0) { 0.8 } else { 0.2 };
                }
            }
            (acc / 64.0) as f32
        })
    }

    #[test]
    fn recovers_an_ideal_corner_from_two_pixels_off() {
        // Corners on the pixel grid or half-way between: the window is symmetric about
        // them and the estimate is exact.
        for &(cx, cy) in &[(24.0, 24.0), (23.5, 24.5), (24.0, 23.5)] {
            let img = x_corner(cx, cy, 48);
            for start in [[cx + 2.0, cy - 1.5], [cx - 1.0, cy + 2.0]] {
                let mut c = [start];
                corner_subpix(&img, &mut c, 5, None, 100, 1e-9).unwrap();
                let err = ((c[0][0] - cx).powi(2) + (c[0][1] - cy).powi(2)).sqrt();
                assert!(err < 1e-4, "({cx}, {cy}) from {start:?}: {:?}", c[0]);
            }
        }
    }

    #[test]
    fn sub_pixel_phase_bias_equals_opencv() {
        // Between grid positions the gradient-orthogonality estimate of a sharp corner is
        // biased; OpenCV 4.14's cornerSubPix on the same float32 images (winSize (11, 11),
        // 100 iterations, eps 1e-9, start (cx + 1, cy - 1)) ends at these offsets.
        let cases = [
            ((60.25, 60.0), (0.074832916, 0.0)),
            ((60.3, 60.2), (0.024841309, 0.12483978)),
        ];
        for ((cx, cy), (ex, ey)) in cases {
            let img = x_corner(cx, cy, 120);
            let mut c = [[cx + 1.0, cy - 1.0]];
            corner_subpix(&img, &mut c, 11, None, 100, 1e-9).unwrap();
            let (dx, dy) = (c[0][0] - cx, c[0][1] - cy);
            assert!(
                (dx - ex).abs() < 2e-4 && (dy - ey).abs() < 2e-4,
                "({cx}, {cy}): offset ({dx}, {dy}), OpenCV ({ex}, {ey})"
            );
        }
    }

    #[test]
    fn flat_window_leaves_the_corner_alone() {
        let img = Image::from_fn(30, 30, |_, _| 0.5);
        let mut c = [[14.5, 15.25]];
        corner_subpix(&img, &mut c, 5, None, 30, 1e-3).unwrap();
        assert_eq!(c[0], [14.5, 15.25]);
    }

    #[test]
    fn bad_arguments_are_errors() {
        let img = x_corner(24.0, 24.0, 48);
        let mut c = [[24.0, 24.0]];
        assert!(corner_subpix(&img, &mut c, 0, None, 30, 1e-3).is_err());
        assert!(corner_subpix(&img, &mut c, 5, Some(5), 30, 1e-3).is_err());
        assert!(corner_subpix(&img, &mut c, 5, None, 0, 1e-3).is_err());
        assert!(corner_subpix(&img, &mut c, 5, None, 101, 1e-3).is_err());
        assert!(corner_subpix(&img, &mut c, 5, None, 30, f64::NAN).is_err());
        assert!(corner_subpix(&img, &mut c, 30, None, 30, 1e-3).is_err());
        let mut out = [[48.0, 10.0]];
        assert!(corner_subpix(&img, &mut out, 5, None, 30, 1e-3).is_err());
        let mut nan = [[f64::NAN, 10.0]];
        assert!(corner_subpix(&img, &mut nan, 5, None, 30, 1e-3).is_err());
        // The zero zone is accepted and still finds the corner.
        let mut c = [[25.0, 23.0]];
        corner_subpix(&img, &mut c, 5, Some(1), 30, 1e-4).unwrap();
        assert!((c[0][0] - 24.0).abs() < 0.05 && (c[0][1] - 24.0).abs() < 0.05);
    }
}
