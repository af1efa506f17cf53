//! Positive windows for cascade training: each source box resampled to the detection
//! window, plain once and then with random mirror, rotation, scale, shift, brightness,
//! contrast and pixel noise (the role of OpenCV's `opencv_createsamples`).
//!
//! # Overview
//! [`augment_positives`] turns `(image, box)` sources into `count` 8-bit windows of
//! `w x h` pixels; [`PositiveAugment`] holds the ranges of the random changes. The resampling
//! helper (`warp`) also cuts the random background windows of negative mining.
//!
//! # Usage
//! ```no_run
//! use classic_cv::detect::train::augment::{augment_positives, PositiveAugment};
//! # let sources: Vec<(classic_cv::image::Image, classic_cv::image::Rect)> = vec![];
//! let pos = augment_positives(&sources, 1000, 20, 20, &PositiveAugment::default(), 0)?;
//! # Ok::<(), classic_cv::Error>(())
//! ```
//!
//! # Algorithm and conventions
//! - Sample `i` comes from source `i mod len`; the first copy of each source is the plain
//!   resampled box, the others draw, in this order, with `Rng::stream(seed, 2^62 + i)`:
//!   mirror (probability 1/2, only when [`PositiveAugment::mirror`] is set), rotation, scale,
//!   shift x, shift y, contrast, brightness (each uniform in `[-x, x]` of its range), then
//!   (when [`PositiveAugment::noise`] is positive) one Gaussian noise value per pixel.
//! - The window pixel centre `(u + 1/2, v + 1/2)` maps about the box centre (plus the
//!   shift) through the scale, the mirror and the rotation to an image point; the image
//!   is sampled bilinearly there (pixel centres at integer + 1/2, clamped at the border).
//! - Gray levels: `a·255·v + b` with contrast `a` about mid-gray 128
//!   (`b = brightness + 128·(1 − a)`), plus noise, rounded half away from zero and
//!   clamped to `0..=255`.
//!
//! # Parallelism
//! Samples are made in parallel (rayon); each depends only on its own random stream, so
//! the windows never depend on the thread count.
//!
//! # References
//! P. Viola, M. Jones, "Robust real-time face detection", IJCV 2004 (the positives of a
//! cascade); OpenCV's `createsamples` application (augmented positives).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::image::{Image, Rect};
use crate::rng::Rng;

/// Positive augmentation ranges (each drawn uniformly in `[-x, x]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PositiveAugment {
    /// Mirror half of the samples left-right.
    pub mirror: bool,
    /// Rotation in degrees.
    pub rotation_deg: f32,
    /// Relative scale change.
    pub scale: f32,
    /// Shift as a fraction of the box size.
    pub shift: f32,
    /// Added gray levels.
    pub brightness: f32,
    /// Relative contrast change.
    pub contrast: f32,
    /// Standard deviation of added Gaussian pixel noise, in gray levels.
    pub noise: f32,
}

impl Default for PositiveAugment {
    fn default() -> Self {
        PositiveAugment {
            mirror: true,
            rotation_deg: 6.0,
            scale: 0.06,
            shift: 0.04,
            brightness: 20.0,
            contrast: 0.2,
            noise: 3.0,
        }
    }
}

/// Bilinear sample of `img` at continuous index coordinates, clamped at the border.
fn bilinear(img: &Image, x: f32, y: f32) -> f32 {
    let (w, h) = (img.width(), img.height());
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    // Non-negative after the clamp, so the cast is the floor.
    let (x0, y0) = (x as usize, y as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let top = img.get(x0, y0) * (1.0 - fx) + img.get(x1, y0) * fx;
    let bot = img.get(x0, y1) * (1.0 - fx) + img.get(x1, y1) * fx;
    top * (1.0 - fy) + bot * fy
}

/// A `w x h` window sampled from `img`: window pixel centre `(u + .5, v + .5)` maps to the
/// image point `map(u + .5, v + .5)` (pixel-centre coordinates), then `a·255·v + b`, rounded
/// and clamped to 8 bits.
pub(super) fn warp(
    img: &Image,
    w: usize,
    h: usize,
    a: f32,
    b: f32,
    map: impl Fn(f32, f32) -> (f32, f32),
) -> Vec<u8> {
    let mut out = Vec::with_capacity(w * h);
    for v in 0..h {
        for u in 0..w {
            let (x, y) = map(u as f32 + 0.5, v as f32 + 0.5);
            let p = bilinear(img, x - 0.5, y - 0.5) * 255.0 * a + b;
            out.push(round_u8(p));
        }
    }
    out
}

/// `p.round().clamp(0.0, 255.0) as u8` (rounding half away from zero) without the libm
/// calls.
fn round_u8(p: f32) -> u8 {
    if !(p > 0.0) {
        0
    } else if p >= 255.0 {
        255
    } else {
        let i = p as u32;
        (i + u32::from(p - i as f32 >= 0.5)) as u8
    }
}

/// `count` positive windows of `w x h` from `(image, box)` sources (gray in `[0, 1]`, the
/// `Image` convention; the windows are 8-bit): sample `i` comes from
/// source `i mod len`; the first copy of each source is the plain resampled box, the
/// others are augmented (see [`PositiveAugment`]) with `Rng::stream(seed, 2^62 + i)`.
pub fn augment_positives(
    sources: &[(Image, Rect)],
    count: usize,
    w: usize,
    h: usize,
    aug: &PositiveAugment,
    seed: u64,
) -> Result<Vec<Vec<u8>>> {
    if sources.is_empty() {
        return Err(Error::EmptyInput {
            what: "positive sources",
        });
    }
    if w == 0 || h == 0 {
        return Err(Error::param("window", "window sides must be positive"));
    }
    for (img, r) in sources {
        if r.width == 0 || r.height == 0 || img.width() == 0 || img.height() == 0 {
            return Err(Error::param("positives", "empty box or image"));
        }
    }
    Ok((0..count)
        .into_par_iter()
        .map(|i| {
            let (img, r) = &sources[i % sources.len()];
            let mut rng = Rng::stream(seed, (1u64 << 62) + i as u64);
            let plain = i < sources.len();
            let u = |rng: &mut Rng, x: f32| if plain { 0.0 } else { rng.uniform(-x, x) };
            let mirror = !plain && aug.mirror && rng.next_f32() < 0.5;
            let angle = u(&mut rng, aug.rotation_deg).to_radians();
            let scale = 1.0 + u(&mut rng, aug.scale);
            let (tx, ty) = (
                u(&mut rng, aug.shift) * r.width as f32,
                u(&mut rng, aug.shift) * r.height as f32,
            );
            let contrast = 1.0 + u(&mut rng, aug.contrast);
            let brightness = u(&mut rng, aug.brightness);
            let (cx, cy) = (
                r.x as f32 + r.width as f32 / 2.0 + tx,
                r.y as f32 + r.height as f32 / 2.0 + ty,
            );
            let (sx, sy) = (
                r.width as f32 * scale / w as f32,
                r.height as f32 * scale / h as f32,
            );
            let (sin, cos) = angle.sin_cos();
            // Contrast about mid-gray 128 so that it does not shift the mean.
            let b = brightness + 128.0 * (1.0 - contrast);
            let mut px = warp(img, w, h, contrast, b, |pu, pv| {
                let mut dx = (pu - w as f32 / 2.0) * sx;
                let dy = (pv - h as f32 / 2.0) * sy;
                if mirror {
                    dx = -dx;
                }
                (cx + cos * dx - sin * dy, cy + sin * dx + cos * dy)
            });
            if !plain && aug.noise > 0.0 {
                for v in &mut px {
                    *v = round_u8(*v as f32 + rng.normal() * aug.noise);
                }
            }
            px
        })
        .collect())
}
