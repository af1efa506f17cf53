//! Scale-space SIFT keypoints and descriptors: the difference-of-Gaussians detector of Lowe
//! (2004), with the conventions of VLFeat's `vl_sift` (`sift.c`).
//!
//! # Scale space
//! With `S` levels per octave, `k = 2^(1/S)`, `σ0 = 1.6 k` and level indices `s = -1..=S+1`,
//! octave `o` (from `first_octave`) holds the Gaussian levels `σ(o, s) = σ0 2^(o + s/S)` in
//! octave pixels of `2^o` image pixels. The first octave starts from the image doubled by
//! linear interpolation (`first_octave = -1`: pixel `2x` is image pixel `x`, pixel `2x + 1`
//! the mean of `x` and `x + 1`, the last one repeated), copied (`0`) or subsampled (`> 0`);
//! the input is assumed blurred by `σn = 0.5` and its first level is smoothed by
//! `√(σ(s=-1)² - (σn 2^-o)²)`. Each next level is the previous one smoothed by `σ0 √(1 -
//! 1/k²) k^s` (incremental smoothing); the next octave starts from level `s = S - 1`
//! subsampled by 2. Smoothing is dense SIFT's (`vl_imsmooth`: normalised Gaussian of
//! half-width `⌈4σ⌉`, replicated edges, columns then rows).
//!
//! # Detection (as `vl_sift_detect`)
//! 1. DoG levels `D_s = L_{s+1} - L_s`; candidates are strict maxima (minima) of their 26
//!    neighbours with `D >= 0.8 peak_threshold` (`<= -0.8 peak_threshold`), `s = 0..=S-1`,
//!    away from the octave border.
//! 2. Refinement: Newton steps on the quadratic fit (central differences), moving the sample
//!    by one pixel while the offset exceeds 0.6 (at most 5 times); a keypoint is kept when
//!    `|D(x̂)| > peak_threshold`, the edge score `tr(H)²/det(H) < (r + 1)²/r` with `r =
//!    edge_threshold` and `>= 0`, all offsets below 1.5 and the point inside the octave.
//!    `x = (x + δx) 2^o`, `σ = σ0 2^((s + δs)/S) 2^o`.
//! 3. Gradients of levels `s = 0..=S-1` with VLFeat's fast `sqrt`/`atan2`
//!    ([`crate::features::vlmath`]), central differences inside, one-sided on the borders.
//! 4. Orientations: a 36-bin histogram of gradient angles in a circular window of radius
//!    `max(⌊4.5 σ⌋, 1)` weighted by the magnitude and a Gaussian of `1.5 σ`, smoothed 6 times
//!    by a circular `[1 1 1]/3`; every local peak above 0.8 of the maximum gives an
//!    orientation (parabolic interpolation; at most 4, as VLFeat).
//! 5. Descriptor: 4x4 spatial x 8 orientation bins of `magnif · σ` pixels each, rotated by
//!    the orientation; every gradient is weighted by a Gaussian of `window_size` bins and
//!    split trilinearly between bins; L2-normalised, clamped at 0.2, normalised again
//!    (dense SIFT's normalisation, element order `t + 8 (bx + 4 by)`, as dense SIFT).
//!
//! Angles are in radians in `[0, 2π)`, measured from the x axis towards y (clockwise on the
//! screen, y points down). Coordinates are image pixels with pixel centres at integers.
//! Keypoints come octave by octave, in detection order (level, row, column), one per
//! orientation. Octaves run in sequence; within an octave, rows, candidates and keypoints are
//! processed in parallel and collected in order, so results do not depend on the thread
//! count.
//!
//! Differences from VLFeat: exact `exp` where VLFeat uses a table (`fast_expn`); the default
//! peak threshold is OpenCV's contrast threshold `0.04 / S` (images in `[0, 1]`), where
//! VLFeat's is 0; the default first octave is -1 (the doubled image, as Lowe and OpenCV), which
//! finds more small-scale keypoints and gives the more accurate homographies on OpenCV's graf
//! sequence (VLFeat's default is 0).

use nalgebra::{Matrix3, Vector3};
use ndarray::Array2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::sift::DESCRIPTOR_LEN;
use super::vlmath::{fast_atan2, fast_sqrt};
use super::vlmath::{normalize_sift, smooth};
use crate::Image;
use crate::error::{Error, Result};

const TAU: f32 = std::f32::consts::TAU;
/// Bins of the orientation histogram.
const ORIENTATION_BINS: usize = 36;
/// Most orientations per keypoint (VLFeat's).
const MAX_ORIENTATIONS: usize = 4;
/// Most pixels of the first octave (the doubled image with `first_octave = -1`).
pub const MAX_OCTAVE_PIXELS: usize = 1 << 25;
/// Smallest side of an octave; coarser octaves are not computed.
const MIN_OCTAVE_SIDE: usize = 8;

/// Parameters of the scale-space SIFT detector and descriptor (VLFeat's names and defaults,
/// except the peak threshold and the first octave: see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SiftDetectorParams {
    /// Number of octaves; `None`: `max(⌊log2 min(w, h)⌋ - first_octave - 3, 1)` (VLFeat's).
    pub octaves: Option<usize>,
    /// Levels per octave `S`.
    pub levels: usize,
    /// Index of the first octave: -1 doubles the image, 0 keeps it, `o > 0` subsamples it.
    pub first_octave: i32,
    /// Minimum `|DoG|` of a keypoint, for images in `[0, 1]`.
    pub peak_threshold: f32,
    /// Maximum ratio `r` of principal curvatures (edge rejection).
    pub edge_threshold: f32,
    /// Descriptor bin size in units of the keypoint scale.
    pub magnif: f32,
    /// Standard deviation of the descriptor's Gaussian window, in bins.
    pub window_size: f32,
}

impl Default for SiftDetectorParams {
    fn default() -> Self {
        SiftDetectorParams {
            octaves: None,
            levels: 3,
            first_octave: -1,
            peak_threshold: 0.04 / 3.0,
            edge_threshold: 10.0,
            magnif: 3.0,
            window_size: 2.0,
        }
    }
}

/// One oriented keypoint.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SiftKeypoint {
    /// Column, in image pixels (pixel centres at integers).
    pub x: f32,
    /// Row, in image pixels.
    pub y: f32,
    /// Scale `σ` of the keypoint, in image pixels.
    pub scale: f32,
    /// Orientation in radians, `[0, 2π)`, from the x axis towards y.
    pub angle: f32,
}

/// Keypoints and their descriptors (row `i` describes keypoint `i`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SiftFeatures {
    /// The keypoints, one per orientation.
    pub keypoints: Vec<SiftKeypoint>,
    /// `N x 128` descriptors, unit L2 norm (0 for a keypoint without gradient).
    pub descriptors: Array2<f32>,
}

/// A keypoint in its octave's coordinates.
#[derive(Clone, Copy, Debug)]
struct OctaveKeypoint {
    x: f64,
    y: f64,
    sigma: f64,
    /// Integer level `s` (index into the gradient levels: `s`).
    level: usize,
}

/// Gradient magnitude and angle (`[0, 2π)`) planes of one level.
struct Gradient {
    modulus: Vec<f32>,
    angle: Vec<f32>,
}

/// VLFeat's `vl_mod_2pi_f` for values within a few turns.
fn mod_2pi(mut x: f32) -> f32 {
    while x > TAU {
        x -= TAU;
    }
    while x < 0.0 {
        x += TAU;
    }
    x
}

impl SiftDetectorParams {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<()> {
        if let Some(o) = self.octaves
            && !(1..=16).contains(&o)
        {
            return Err(Error::param(
                "octaves",
                format!("must be in 1..=16, got {o}"),
            ));
        }
        if !(1..=16).contains(&self.levels) {
            return Err(Error::param(
                "levels",
                format!("must be in 1..=16, got {}", self.levels),
            ));
        }
        if !(-1..=4).contains(&self.first_octave) {
            return Err(Error::param(
                "first_octave",
                format!("must be in -1..=4, got {}", self.first_octave),
            ));
        }
        let positive = [
            ("edge_threshold", self.edge_threshold),
            ("magnif", self.magnif),
            ("window_size", self.window_size),
        ];
        for (name, v) in positive {
            if !(v > 0.0 && v.is_finite()) {
                return Err(Error::param(
                    name,
                    format!("must be a positive number, got {v}"),
                ));
            }
        }
        if !(self.peak_threshold >= 0.0 && self.peak_threshold.is_finite()) {
            return Err(Error::param(
                "peak_threshold",
                format!("must be >= 0, got {}", self.peak_threshold),
            ));
        }
        Ok(())
    }

    /// Detects keypoints in `image` and describes them (see the module docs).
    ///
    /// Errors: invalid params, non-finite pixels, an image under 8x8 pixels or whose first
    /// octave would exceed [`MAX_OCTAVE_PIXELS`].
    pub fn detect(&self, image: &Image) -> Result<SiftFeatures> {
        self.validate()?;
        image.check_finite()?;
        let (w, h) = (image.width(), image.height());
        if w < MIN_OCTAVE_SIDE || h < MIN_OCTAVE_SIDE {
            return Err(Error::ImageTooSmall {
                width: w,
                height: h,
                min_width: MIN_OCTAVE_SIDE,
                min_height: MIN_OCTAVE_SIDE,
            });
        }
        let o_min = self.first_octave;
        let (mut ow, mut oh) = octave_size(w, h, o_min);
        if ow.saturating_mul(oh) > MAX_OCTAVE_PIXELS {
            return Err(Error::param(
                "first_octave",
                format!(
                    "the first octave of a {w}x{h} image has {ow}x{oh} pixels, more than {MAX_OCTAVE_PIXELS}"
                ),
            ));
        }
        let n_octaves = self.octaves.unwrap_or_else(|| {
            ((w.min(h) as f64).log2().floor() as i64 - o_min as i64 - 3).max(1) as usize
        });
        let s_levels = self.levels;
        let k = 2f64.powf(1.0 / s_levels as f64);
        let sigma0 = 1.6 * k;
        let dsigma0 = sigma0 * (1.0 - 1.0 / (k * k)).sqrt();
        let mut tmp = Vec::new();
        // First level (s = -1) of the first octave.
        let mut base = match o_min {
            -1 => upsample(image.as_slice(), w, h),
            0 => image.as_slice().to_vec(),
            _ => subsample(image.as_slice(), w, h, 1 << o_min),
        };
        let sa = sigma0 / k;
        let sb = 0.5 * 2f64.powi(-o_min);
        if sa > sb {
            let mut out = Vec::new();
            smooth(
                &base,
                ow,
                oh,
                (sa * sa - sb * sb).sqrt() as f32,
                &mut out,
                &mut tmp,
            );
            base = out;
        }
        let mut keypoints = Vec::new();
        let mut rows: Vec<f32> = Vec::new();
        for octave in 0..n_octaves {
            let o = o_min + octave as i32;
            let mut levels = vec![base];
            for s in 0..s_levels + 2 {
                let sd = dsigma0 * k.powi(s as i32);
                let mut out = Vec::new();
                smooth(&levels[s], ow, oh, sd as f32, &mut out, &mut tmp);
                levels.push(out);
            }
            let xper = 2f64.powi(o);
            let found = self.octave_features(&levels, ow, oh, sigma0, xper);
            for (kp, d) in found {
                keypoints.push(kp);
                rows.extend_from_slice(&d);
            }
            // Next octave from level s = S - 1 (index S), subsampled by 2.
            let (nw, nh) = (ow / 2, oh / 2);
            if octave + 1 == n_octaves || nw.min(nh) < MIN_OCTAVE_SIDE {
                break;
            }
            base = subsample(&levels[s_levels], ow, oh, 2);
            (ow, oh) = (nw, nh);
        }
        let n = keypoints.len();
        let descriptors =
            Array2::from_shape_vec((n, DESCRIPTOR_LEN), rows).expect("one row per keypoint");
        Ok(SiftFeatures {
            keypoints,
            descriptors,
        })
    }

    /// Keypoints (image coordinates) and descriptors of one octave.
    fn octave_features(
        &self,
        levels: &[Vec<f32>],
        w: usize,
        h: usize,
        sigma0: f64,
        xper: f64,
    ) -> Vec<(SiftKeypoint, [f32; DESCRIPTOR_LEN])> {
        let dog: Vec<Vec<f32>> = levels
            .windows(2)
            .map(|p| p[1].iter().zip(&p[0]).map(|(b, a)| b - a).collect())
            .collect();
        let candidates: Vec<(usize, usize, usize)> = (1..dog.len() - 1)
            .flat_map(|s| (1..h - 1).map(move |y| (s, y)))
            .collect::<Vec<_>>()
            .par_iter()
            .flat_map_iter(|&(s, y)| extrema_in_row(&dog, w, s, y, self.peak_threshold))
            .collect();
        let refined: Vec<OctaveKeypoint> = candidates
            .par_iter()
            .filter_map(|&(s, y, x)| self.refine(&dog, w, h, s, y, x, sigma0))
            .collect();
        // Gradients of the levels s = 0..S-1 (level index 1..=S).
        let grads: Vec<Gradient> = (1..=self.levels)
            .into_par_iter()
            .map(|i| gradient(&levels[i], w, h))
            .collect();
        refined
            .par_iter()
            .flat_map_iter(|kp| {
                let g = &grads[kp.level];
                let angles = orientations(g, w, h, kp);
                angles.into_iter().filter_map(move |a| {
                    let d = self.descriptor(g, w, h, kp, a)?;
                    let key = SiftKeypoint {
                        x: (kp.x * xper) as f32,
                        y: (kp.y * xper) as f32,
                        scale: (kp.sigma * xper) as f32,
                        angle: mod_2pi(a as f32),
                    };
                    Some((key, d))
                })
            })
            .collect()
    }

    /// VLFeat's sub-pixel and sub-level refinement of a DoG extremum at `(x, y)` of DoG level
    /// index `s`; `None` when it is rejected.
    #[allow(clippy::too_many_arguments)]
    fn refine(
        &self,
        dog: &[Vec<f32>],
        w: usize,
        h: usize,
        s: usize,
        y0: usize,
        x0: usize,
        sigma0: f64,
    ) -> Option<OctaveKeypoint> {
        let (mut x, mut y) = (x0, y0);
        let at = |x: usize, y: usize, dx: isize, dy: isize, ds: isize| -> f64 {
            let xx = (x as isize + dx) as usize;
            let yy = (y as isize + dy) as usize;
            dog[(s as isize + ds) as usize][yy * w + xx] as f64
        };
        let (mut grad, mut hess, mut b) = (Vector3::zeros(), Matrix3::zeros(), Vector3::zeros());
        for _ in 0..5 {
            let v = at(x, y, 0, 0, 0);
            let d = |dx, dy, ds| at(x, y, dx, dy, ds);
            grad = Vector3::new(
                0.5 * (d(1, 0, 0) - d(-1, 0, 0)),
                0.5 * (d(0, 1, 0) - d(0, -1, 0)),
                0.5 * (d(0, 0, 1) - d(0, 0, -1)),
            );
            let dxx = d(1, 0, 0) + d(-1, 0, 0) - 2.0 * v;
            let dyy = d(0, 1, 0) + d(0, -1, 0) - 2.0 * v;
            let dss = d(0, 0, 1) + d(0, 0, -1) - 2.0 * v;
            let dxy = 0.25 * (d(1, 1, 0) + d(-1, -1, 0) - d(-1, 1, 0) - d(1, -1, 0));
            let dxs = 0.25 * (d(1, 0, 1) + d(-1, 0, -1) - d(-1, 0, 1) - d(1, 0, -1));
            let dys = 0.25 * (d(0, 1, 1) + d(0, -1, -1) - d(0, -1, 1) - d(0, 1, -1));
            hess = Matrix3::new(dxx, dxy, dxs, dxy, dyy, dys, dxs, dys, dss);
            b = hess.lu().solve(&(-grad)).unwrap_or_else(Vector3::zeros);
            let dx = (b[0] > 0.6 && x < w - 2) as isize - (b[0] < -0.6 && x > 1) as isize;
            let dy = (b[1] > 0.6 && y < h - 2) as isize - (b[1] < -0.6 && y > 1) as isize;
            if dx == 0 && dy == 0 {
                break;
            }
            x = (x as isize + dx) as usize;
            y = (y as isize + dy) as usize;
        }
        let val = at(x, y, 0, 0, 0) + 0.5 * grad.dot(&b);
        let (dxx, dyy, dxy) = (hess[(0, 0)], hess[(1, 1)], hess[(0, 1)]);
        let score = (dxx + dyy) * (dxx + dyy) / (dxx * dyy - dxy * dxy);
        let te = self.edge_threshold as f64;
        let (xn, yn) = (x as f64 + b[0], y as f64 + b[1]);
        // DoG index s is level s - 1; the level range is [-1, S + 1].
        let sn = s as f64 - 1.0 + b[2];
        let good = val.abs() > self.peak_threshold as f64
            && score < (te + 1.0) * (te + 1.0) / te
            && score >= 0.0
            && b.iter().all(|v| v.abs() < 1.5)
            && (0.0..=(w - 1) as f64).contains(&xn)
            && (0.0..=(h - 1) as f64).contains(&yn)
            && (-1.0..=self.levels as f64 + 1.0).contains(&sn);
        good.then(|| OctaveKeypoint {
            x: xn,
            y: yn,
            sigma: sigma0 * 2f64.powf(sn / self.levels as f64),
            level: s - 1,
        })
    }

    /// The descriptor at orientation `angle0` (`vl_sift_calc_keypoint_descriptor`); `None`
    /// for a keypoint on the octave's last row (VLFeat skips it).
    fn descriptor(
        &self,
        g: &Gradient,
        w: usize,
        h: usize,
        kp: &OctaveKeypoint,
        angle0: f64,
    ) -> Option<[f32; DESCRIPTOR_LEN]> {
        const NBP: i64 = 4;
        const NBO: usize = 8;
        let xi = (kp.x + 0.5) as i64;
        let yi = (kp.y + 0.5) as i64;
        if xi >= w as i64 || yi >= h as i64 - 1 {
            return None;
        }
        let (st0, ct0) = (angle0.sin() as f32, angle0.cos() as f32);
        let sbp = self.magnif as f64 * kp.sigma + f64::EPSILON;
        let radius = (std::f64::consts::SQRT_2 * sbp * (NBP + 1) as f64 / 2.0 + 0.5).floor() as i64;
        let sbp = sbp as f32;
        let mut desc = [0f32; DESCRIPTOR_LEN];
        let (x, y) = (kp.x as f32, kp.y as f32);
        let a0 = angle0 as f32;
        // The window exp(-|n|²/(2 ws²)) is rotation-invariant, so separable in dx and dy.
        let (y_lo, y_hi) = ((-radius).max(1 - yi), radius.min(h as i64 - yi - 2));
        let (x_lo, x_hi) = ((-radius).max(1 - xi), radius.min(w as i64 - xi - 2));
        let s_win = self.window_size as f64 * sbp as f64;
        let wy = gaussian_weights(yi + y_lo, yi + y_hi, kp.y, s_win);
        let wx = gaussian_weights(xi + x_lo, xi + x_hi, kp.x, s_win);
        for (dyi, &win_y) in (y_lo..=y_hi).zip(&wy) {
            let row = ((yi + dyi) as usize) * w;
            let dy = (yi + dyi) as f32 - y;
            // Only the columns where both rotated coordinates can be within 2.5 bins.
            let (lo, hi) = rotated_span(ct0, st0, dy, 2.5 * sbp);
            let lo = x_lo.max((x + lo).floor() as i64 - xi);
            let hi = x_hi.min((x + hi).ceil() as i64 - xi);
            for dxi in lo..=hi {
                let win_x = wx[(dxi - x_lo) as usize];
                let dx = (xi + dxi) as f32 - x;
                let nx = (ct0 * dx + st0 * dy) / sbp;
                let ny = (-st0 * dx + ct0 * dy) / sbp;
                // Samples at |n| >= 2.5 bins reach no bin.
                if nx.abs() >= 2.5 || ny.abs() >= 2.5 {
                    continue;
                }
                let p = row + (xi + dxi) as usize;
                let m = g.modulus[p] * win_x * win_y;
                // angle and a0 are in [0, 2π]: one correction is `vl_mod_2pi_f`.
                let t = g.angle[p] - a0;
                let theta = if t < 0.0 { t + TAU } else { t };
                let nt = NBO as f32 * theta / TAU;
                let binx = floor_i32(nx - 0.5);
                let biny = floor_i32(ny - 0.5);
                let bint = floor_i32(nt);
                let rx = nx - (binx as f32 + 0.5);
                let ry = ny - (biny as f32 + 0.5);
                let rt = nt - bint as f32;
                for (ddx, fx) in [(0, 1.0 - rx), (1, rx)] {
                    let bx = binx + ddx;
                    if !(-2..2).contains(&bx) {
                        continue;
                    }
                    for (ddy, fy) in [(0, 1.0 - ry), (1, ry)] {
                        let by = biny + ddy;
                        if !(-2..2).contains(&by) {
                            continue;
                        }
                        let base = NBO * ((bx + 2) as usize + 4 * (by + 2) as usize);
                        let wgt = m * fx.abs() * fy.abs();
                        desc[base + (bint as usize) % NBO] += wgt * (1.0 - rt).abs();
                        desc[base + (bint as usize + 1) % NBO] += wgt * rt.abs();
                    }
                }
            }
        }
        normalize_sift(&mut desc);
        Some(desc)
    }
}

/// Size of octave `o` of a `w x h` image (VLFeat's `VL_SHIFT_LEFT(w, -o)`).
fn octave_size(w: usize, h: usize, o: i32) -> (usize, usize) {
    if o < 0 {
        (w << -o, h << -o)
    } else {
        (w >> o, h >> o)
    }
}

/// The image doubled by linear interpolation (VLFeat's `copy_and_upsample_rows`, twice).
fn upsample(src: &[f32], w: usize, h: usize) -> Vec<f32> {
    let mut tmp = vec![0f32; 2 * w * h];
    for y in 0..h {
        let r = &src[y * w..][..w];
        let out = &mut tmp[y * 2 * w..][..2 * w];
        for x in 0..w {
            let b = r[(x + 1).min(w - 1)];
            out[2 * x] = r[x];
            out[2 * x + 1] = if x + 1 < w { 0.5 * (r[x] + b) } else { b };
        }
    }
    let w2 = 2 * w;
    let mut out = vec![0f32; 4 * w * h];
    for y in 0..h {
        let a = &tmp[y * w2..][..w2];
        let b = &tmp[(y + 1).min(h - 1) * w2..][..w2];
        out[2 * y * w2..][..w2].copy_from_slice(a);
        let mid = &mut out[(2 * y + 1) * w2..][..w2];
        for x in 0..w2 {
            mid[x] = if y + 1 < h { 0.5 * (a[x] + b[x]) } else { b[x] };
        }
    }
    out
}

/// Every `step`-th pixel of every `step`-th row, from `(0, 0)`: `⌊w/step⌋ x ⌊h/step⌋`.
fn subsample(src: &[f32], w: usize, h: usize, step: usize) -> Vec<f32> {
    let (nw, nh) = (w / step, h / step);
    (0..nh)
        .flat_map(|y| (0..nw).map(move |x| src[y * step * w + x * step]))
        .collect()
}

/// DoG extrema `(dog index, y, x)` on row `y` of DoG level `s` (VLFeat's 26-neighbour test).
fn extrema_in_row(
    dog: &[Vec<f32>],
    w: usize,
    s: usize,
    y: usize,
    tp: f32,
) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    let thr = 0.8 * tp;
    let mut continue_until = 0;
    let cur = &dog[s];
    let row = &cur[y * w..][..w];
    for x in 1..w - 1 {
        // Skip runs of 16 pixels below the threshold with one branch (a vectorised test).
        if (x - 1) % 16 == 0
            && !row[x..(x + 16).min(w - 1)]
                .iter()
                .fold(false, |a, v| a | (v.abs() >= thr))
        {
            continue_until = x + 16;
        }
        if x < continue_until {
            continue;
        }
        let p = y * w + x;
        let v = cur[p];
        let is_max = v >= thr;
        let is_min = v <= -thr;
        if !(is_max || is_min) {
            continue;
        }
        let mut ok = true;
        'scan: for level in &dog[s - 1..=s + 1] {
            for q in [
                p - w - 1,
                p - w,
                p - w + 1,
                p - 1,
                p,
                p + 1,
                p + w - 1,
                p + w,
                p + w + 1,
            ] {
                if std::ptr::eq(level, cur) && q == p {
                    continue;
                }
                let n = level[q];
                if (is_max && !(v > n)) || (!is_max && !(v < n)) {
                    ok = false;
                    break 'scan;
                }
            }
        }
        // A value can pass both thresholds only at 0 with tp = 0: try the minimum too.
        if !ok && is_max && is_min {
            ok = dog[s - 1..=s + 1].iter().all(|level| {
                [
                    p - w - 1,
                    p - w,
                    p - w + 1,
                    p - 1,
                    p,
                    p + 1,
                    p + w - 1,
                    p + w,
                    p + w + 1,
                ]
                .iter()
                .all(|&q| (std::ptr::eq(level, cur) && q == p) || v < level[q])
            });
        }
        if ok {
            out.push((s, y, x));
        }
    }
    out
}

/// Gradient modulus and angle of a level, as VLFeat's `update_gradient`.
fn gradient(src: &[f32], w: usize, h: usize) -> Gradient {
    let mut modulus = vec![0f32; w * h];
    let mut angle = vec![0f32; w * h];
    // fast_atan2 is in [-π, π]: one conditional subtraction is VLFeat's `vl_mod_2pi_f`.
    let save = |gx: f32, gy: f32| {
        let a = fast_atan2(gy, gx) + TAU;
        (
            fast_sqrt(gx * gx + gy * gy),
            if a > TAU { a - TAU } else { a },
        )
    };
    for y in 0..h {
        let (up, down) = (y.saturating_sub(1), (y + 1).min(h - 1));
        let fy = if up == y || down == y { 1.0 } else { 0.5 };
        let (r, ru, rd) = (
            &src[y * w..][..w],
            &src[up * w..][..w],
            &src[down * w..][..w],
        );
        let (m, a) = (&mut modulus[y * w..][..w], &mut angle[y * w..][..w]);
        for x in 1..w - 1 {
            (m[x], a[x]) = save(0.5 * (r[x + 1] - r[x - 1]), fy * (rd[x] - ru[x]));
        }
        (m[0], a[0]) = save(r[1] - r[0], fy * (rd[0] - ru[0]));
        let l = w - 1;
        (m[l], a[l]) = save(r[l] - r[l - 1], fy * (rd[l] - ru[l]));
    }
    Gradient { modulus, angle }
}

/// `⌊v⌋` for values well inside the `i32` range (inlined, unlike `f32::floor` on x86-64
/// without SSE4.1).
#[inline]
fn floor_i32(v: f32) -> i32 {
    let t = v as i32;
    if (t as f32) > v { t - 1 } else { t }
}

/// The range of `dx` where `|c dx + s dy| < l` and `|-s dx + c dy| < l` (a superset: the
/// caller still tests each sample), for a unit `(c, s)`.
fn rotated_span(c: f32, s: f32, dy: f32, l: f32) -> (f32, f32) {
    let mut lo = f32::NEG_INFINITY;
    let mut hi = f32::INFINITY;
    // |a dx + b| < l  =>  dx in ((-l - b)/a, (l - b)/a) (ordered by the sign of a).
    for (a, b) in [(c, s * dy), (-s, c * dy)] {
        if a.abs() > 1e-6 {
            let (u, v) = ((-l - b) / a, (l - b) / a);
            lo = lo.max(u.min(v));
            hi = hi.min(u.max(v));
        } else if b.abs() >= l {
            return (1.0, 0.0);
        }
    }
    (lo - 1.0, hi + 1.0)
}

/// `exp(-(t - c)² / (2 s²))` for `t = lo..=hi`.
fn gaussian_weights(lo: i64, hi: i64, c: f64, s: f64) -> Vec<f32> {
    (lo..=hi)
        .map(|t| (-(t as f64 - c).powi(2) / (2.0 * s * s)).exp() as f32)
        .collect()
}

/// Up to 4 orientations of a keypoint (`vl_sift_calc_keypoint_orientations`).
fn orientations(g: &Gradient, w: usize, h: usize, kp: &OctaveKeypoint) -> Vec<f64> {
    let xi = (kp.x + 0.5) as i64;
    let yi = (kp.y + 0.5) as i64;
    let sigmaw = 1.5 * kp.sigma;
    let radius = ((3.0 * sigmaw).floor() as i64).max(1);
    let mut hist = [0f64; ORIENTATION_BINS];
    let (y_lo, y_hi) = ((-radius).max(-yi), radius.min(h as i64 - 1 - yi));
    let (x_lo, x_hi) = ((-radius).max(-xi), radius.min(w as i64 - 1 - xi));
    // exp(-r²/(2 σw²)) = exp(-dx²/(2 σw²)) exp(-dy²/(2 σw²)).
    let wy = gaussian_weights(yi + y_lo, yi + y_hi, kp.y, sigmaw);
    let wx = gaussian_weights(xi + x_lo, xi + x_hi, kp.x, sigmaw);
    let limit = (radius * radius) as f64 + 0.6;
    for (ys, &win_y) in (y_lo..=y_hi).zip(&wy) {
        let dy = (yi + ys) as f64 - kp.y;
        let row = (yi + ys) as usize * w;
        for (xs, &win_x) in (x_lo..=x_hi).zip(&wx) {
            let dx = (xi + xs) as f64 - kp.x;
            if dx * dx + dy * dy >= limit {
                continue;
            }
            let p = row + (xi + xs) as usize;
            let bin = (g.angle[p] * (ORIENTATION_BINS as f32 / TAU)) as usize;
            hist[bin % ORIENTATION_BINS] += (g.modulus[p] * win_x * win_y) as f64;
        }
    }
    for _ in 0..6 {
        let mut prev = hist[ORIENTATION_BINS - 1];
        let first = hist[0];
        for i in 0..ORIENTATION_BINS - 1 {
            let new = (prev + hist[i] + hist[i + 1]) / 3.0;
            prev = hist[i];
            hist[i] = new;
        }
        let last = ORIENTATION_BINS - 1;
        hist[last] = (prev + hist[last] + first) / 3.0;
    }
    let maxh = hist.iter().cloned().fold(0.0, f64::max);
    let mut angles = Vec::new();
    for i in 0..ORIENTATION_BINS {
        let h0 = hist[i];
        let hm = hist[(i + ORIENTATION_BINS - 1) % ORIENTATION_BINS];
        let hp = hist[(i + 1) % ORIENTATION_BINS];
        if h0 > 0.8 * maxh && h0 > hm && h0 > hp {
            let di = -0.5 * (hp - hm) / (hp + hm - 2.0 * h0);
            angles.push(std::f64::consts::TAU * (i as f64 + di + 0.5) / ORIENTATION_BINS as f64);
            if angles.len() == MAX_ORIENTATIONS {
                break;
            }
        }
    }
    angles
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Smooth random texture: a sum of Gaussian blobs of several sizes.
    fn texture(w: usize, h: usize, seed: u64) -> Image {
        let mut rng = Rng::new(seed);
        let blobs: Vec<(f32, f32, f32, f32)> = (0..60)
            .map(|_| {
                let (x, y) = (rng.next_f32() * w as f32, rng.next_f32() * h as f32);
                (x, y, 1.5 + 5.0 * rng.next_f32(), rng.next_f32() - 0.5)
            })
            .collect();
        Image::from_fn(w, h, |x, y| {
            let v: f32 = blobs
                .iter()
                .map(|&(bx, by, s, a)| {
                    let r2 = (x as f32 - bx).powi(2) + (y as f32 - by).powi(2);
                    a * (-r2 / (2.0 * s * s)).exp()
                })
                .sum();
            0.5 + 0.5 * v
        })
    }

    #[test]
    fn upsampling_interpolates_and_repeats_the_last_sample() {
        let up = upsample(&[0.0, 2.0, 4.0, 6.0], 2, 2);
        #[rustfmt::skip]
        let expected = [
            0.0, 1.0, 2.0, 2.0,
            2.0, 3.0, 4.0, 4.0,
            4.0, 5.0, 6.0, 6.0,
            4.0, 5.0, 6.0, 6.0,
        ];
        assert_eq!(up, expected);
        assert_eq!(subsample(&expected, 4, 4, 2), vec![0.0, 2.0, 4.0, 6.0]);
    }

    #[test]
    fn a_gaussian_blob_gives_one_keypoint_at_its_centre_and_scale() {
        let (cx, cy, s) = (40.3f32, 35.7f32, 4.0f32);
        let img = Image::from_fn(96, 96, |x, y| {
            let r2 = (x as f32 - cx).powi(2) + (y as f32 - cy).powi(2);
            0.2 + 0.6 * (-r2 / (2.0 * s * s)).exp()
        });
        let f = SiftDetectorParams::default().detect(&img).unwrap();
        let k = f
            .keypoints
            .iter()
            .min_by(|a, b| {
                let d = |k: &SiftKeypoint| (k.x - cx).hypot(k.y - cy);
                d(a).total_cmp(&d(b))
            })
            .expect("a keypoint");
        assert!((k.x - cx).hypot(k.y - cy) < 0.3, "{k:?}");
        assert!((k.scale / s - 1.0).abs() < 0.25, "{k:?}");
        assert_eq!(f.descriptors.nrows(), f.keypoints.len());
        for row in f.descriptors.rows() {
            let n: f32 = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((n - 1.0).abs() < 1e-3 && row.iter().all(|&v| (0.0..=1.0).contains(&v)));
        }
    }

    #[test]
    fn keypoints_rotate_with_the_image() {
        // A quarter turn maps the pixel grid onto itself: within one octave (odd sizes keep
        // the subsampling aligned), keypoints, angles and descriptors follow exactly, up to
        // rounding and fast_atan2's 0.006 rad.
        let (w, h) = (81, 65);
        let img = texture(w, h, 1);
        // Rotated a quarter turn clockwise on screen: (x, y) -> (h - 1 - y, x).
        let rot = Image::from_fn(h, w, |xr, yr| img.get(yr, h - 1 - xr));
        let p = SiftDetectorParams {
            octaves: Some(1),
            first_octave: 0,
            ..SiftDetectorParams::default()
        };
        let (a, b) = (p.detect(&img).unwrap(), p.detect(&rot).unwrap());
        assert!(a.keypoints.len() >= 10, "{} keypoints", a.keypoints.len());
        let mut matched = 0;
        for (i, k) in a.keypoints.iter().enumerate() {
            let (xr, yr) = ((h - 1) as f32 - k.y, k.x);
            let turn = (k.angle + std::f32::consts::FRAC_PI_2) % TAU;
            let found = b.keypoints.iter().enumerate().find(|(_, q)| {
                let da = (q.angle - turn).abs();
                (q.x - xr).hypot(q.y - yr) < 1e-3 && da.min(TAU - da) < 0.02
            });
            if let Some((j, q)) = found {
                matched += 1;
                assert!((q.scale - k.scale).abs() < 1e-3);
                let d: f32 = a
                    .descriptors
                    .row(i)
                    .iter()
                    .zip(b.descriptors.row(j))
                    .map(|(u, v)| (u - v).powi(2))
                    .sum();
                assert!(d.sqrt() < 0.05, "descriptor distance {}", d.sqrt());
            }
        }
        assert!(
            matched * 10 >= a.keypoints.len() * 9,
            "{matched} of {} matched",
            a.keypoints.len()
        );
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let img = texture(120, 90, 2);
        let p = SiftDetectorParams::default();
        let run = |n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .unwrap()
                .install(|| p.detect(&img).unwrap())
        };
        let one = run(1);
        assert!(one.keypoints.len() > 10);
        assert_eq!(one, run(3));
    }

    #[test]
    fn bad_inputs_are_named() {
        let p = SiftDetectorParams::default();
        assert!(matches!(
            p.detect(&Image::from_fn(7, 30, |_, _| 0.5)),
            Err(Error::ImageTooSmall { .. })
        ));
        let mut nan = Image::from_fn(20, 20, |_, _| 0.5);
        nan.as_mut_slice()[5] = f32::NAN;
        assert!(matches!(p.detect(&nan), Err(Error::NonFinite { .. })));
        let flat = p.detect(&Image::from_fn(40, 30, |_, _| 0.5)).unwrap();
        assert!(flat.keypoints.is_empty() && flat.descriptors.dim() == (0, DESCRIPTOR_LEN));
        for bad in [
            SiftDetectorParams {
                levels: 0,
                ..p.clone()
            },
            SiftDetectorParams {
                octaves: Some(0),
                ..p.clone()
            },
            SiftDetectorParams {
                first_octave: -2,
                ..p.clone()
            },
            SiftDetectorParams {
                peak_threshold: -1.0,
                ..p.clone()
            },
            SiftDetectorParams {
                edge_threshold: f32::NAN,
                ..p.clone()
            },
            SiftDetectorParams {
                magnif: 0.0,
                ..p.clone()
            },
        ] {
            assert!(matches!(
                bad.detect(&flat_image()),
                Err(Error::InvalidParam { .. })
            ));
        }
    }

    fn flat_image() -> Image {
        Image::from_fn(40, 30, |_, _| 0.5)
    }
}
