//! Haar-like features (upright and 45-degree tilted) evaluated on integral images.
//!
//! # Overview
//! A Haar feature is a weighted sum of two or three rectangle sums inside a detection
//! window, as in OpenCV's cascade files: the Lienhart kind, where the first rectangle is
//! the whole feature area with weight −1 and the others (weights +2 or +3) cover part of
//! it. A tilted feature uses 45-degree rectangles read from the rotated integral image.
//!
//! # Usage
//! ```
//! use classic_cv::detect::haar::{HaarFeature, WeightedRect};
//! use classic_cv::detect::integral::Integral;
//! // Left half minus right half of a 4x2 window, written the Lienhart way.
//! let f = HaarFeature {
//!     rects: vec![
//!         WeightedRect { x: 0, y: 0, width: 4, height: 2, weight: -1.0 },
//!         WeightedRect { x: 0, y: 0, width: 2, height: 2, weight: 2.0 },
//!     ],
//!     tilted: false,
//! };
//! f.check(4, 2).unwrap();
//! let ii = Integral::new(&[9, 9, 1, 1, 9, 9, 1, 1], 4, 2, false).unwrap();
//! assert_eq!(f.value(&ii, 0, 0), 2.0 * 36.0 - 40.0);
//! ```
//!
//! # Algorithm and conventions
//! - Rectangles are `(x, y, width, height)` in window pixels. Weights are used as stored
//!   (OpenCV 4 does not re-balance them); a weight of 0 skips the rectangle.
//! - The weighted sum is accumulated in `f32` in rectangle order. With integer weights and
//!   rectangle sums below 2²⁴ every term is exact, so the value is an exact integer, as in
//!   OpenCV. The detector multiplies it by the window's variance factor (see `detect`).
//! - A tilted rectangle `(x, y, w, h)` has its top pixel at `(x-1, y)` and extends `w`
//!   pixels down-right and `h` down-left (OpenCV's convention); it needs `x >= h`,
//!   `x + w <= W` and `y + w + h <= H` inside a `W x H` window.
//!
//! # Parallelism
//! None; evaluation is a few look-ups.
//!
//! # References
//! R. Lienhart, J. Maydt, "An extended set of Haar-like features for rapid object
//! detection", ICIP 2002.

use serde::{Deserialize, Serialize};

use crate::detect::integral::Integral;
use crate::error::{Error, Result};

/// One weighted rectangle of a Haar feature, in window coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightedRect {
    /// Left column (or top corner column for tilted rectangles).
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Width (extent down-right for tilted rectangles).
    pub width: u32,
    /// Height (extent down-left for tilted rectangles).
    pub height: u32,
    /// Weight of the rectangle sum.
    pub weight: f32,
}

/// A Haar feature: 1 to 3 weighted rectangles, upright or tilted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HaarFeature {
    /// The rectangles, in evaluation order.
    pub rects: Vec<WeightedRect>,
    /// 45-degree rotated rectangles (read from the tilted integral image).
    pub tilted: bool,
}

impl HaarFeature {
    /// Checks that the feature has 1 to 3 rectangles with finite weights, all inside a
    /// `win_w x win_h` window.
    pub fn check(&self, win_w: usize, win_h: usize) -> Result<()> {
        if self.rects.is_empty() || self.rects.len() > 3 {
            return Err(Error::param(
                "rects",
                format!(
                    "a Haar feature has 1 to 3 rectangles, found {}",
                    self.rects.len()
                ),
            ));
        }
        for r in &self.rects {
            if !r.weight.is_finite() {
                return Err(Error::NonFinite {
                    what: "Haar rectangle weight",
                });
            }
            if r.weight == 0.0 {
                continue;
            }
            let (x, y, w, h) = (r.x as u64, r.y as u64, r.width as u64, r.height as u64);
            let inside = if self.tilted {
                x >= h && x + w <= win_w as u64 && y + w + h <= win_h as u64
            } else {
                x + w <= win_w as u64 && y + h <= win_h as u64
            };
            if !inside {
                return Err(Error::param(
                    "rects",
                    format!(
                        "{}rectangle ({x}, {y}, {w}, {h}) lies outside the {win_w}x{win_h} window",
                        if self.tilted { "tilted " } else { "" }
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The (unnormalised) feature value of the window whose top-left corner is `(x, y)`:
    /// `Σ weight_i · sum_i` in `f32`. The straightforward reference evaluation; the
    /// detector uses precomputed offsets. Tilted features need `ii.tilted`; without it
    /// their rectangles count as 0.
    pub fn value(&self, ii: &Integral, x: usize, y: usize) -> f32 {
        let mut v = 0.0f32;
        for r in &self.rects {
            if r.weight == 0.0 {
                continue;
            }
            let (rx, ry, rw, rh) = (
                x + r.x as usize,
                y + r.y as usize,
                r.width as usize,
                r.height as usize,
            );
            let s = if self.tilted {
                ii.tilted_sum(rx, ry, rw, rh).unwrap_or(0)
            } else {
                ii.rect_sum(rx, ry, rw, rh)
            };
            v += r.weight * s as f32;
        }
        v
    }

    /// Offsets of the four corners of each rectangle in a table with rows `stride`
    /// apart, relative to the window's top-left entry, in the order `+ - - +`.
    pub(crate) fn corner_offsets(&self, stride: usize) -> Vec<[u32; 4]> {
        self.rects
            .iter()
            .filter(|r| r.weight != 0.0)
            .map(|r| {
                let (x, y, w, h) = (
                    r.x as usize,
                    r.y as usize,
                    r.width as usize,
                    r.height as usize,
                );
                let at = |cx: usize, cy: usize| (cy * stride + cx) as u32;
                if self.tilted {
                    [
                        at(x, y),
                        at(x - h, y + h),
                        at(x + w, y + w),
                        at(x + w - h, y + w + h),
                    ]
                } else {
                    [at(x, y), at(x + w, y), at(x, y + h), at(x + w, y + h)]
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive_rect(px: &[u8], w: usize, x: usize, y: usize, rw: usize, rh: usize) -> i64 {
        let mut s = 0;
        for yy in y..y + rh {
            for xx in x..x + rw {
                s += px[yy * w + xx] as i64;
            }
        }
        s
    }

    proptest! {
        #[test]
        fn value_matches_explicit_rectangle_sums(
            rx in 0u32..6, ry in 0u32..6, rw in 1u32..6, rh in 1u32..6,
            wx in 0usize..5, wy in 0usize..5, seed in any::<u64>()
        ) {
            let (w, h) = (16, 16);
            let mut rng = crate::rng::Rng::new(seed);
            let px: Vec<u8> = (0..w * h).map(|_| (rng.next_u64() % 256) as u8).collect();
            let ii = Integral::new(&px, w, h, false).unwrap();
            let f = HaarFeature {
                rects: vec![
                    WeightedRect { x: rx, y: ry, width: rw, height: rh, weight: -1.0 },
                    WeightedRect { x: rx, y: ry, width: rw.div_ceil(2), height: rh, weight: 2.0 },
                ],
                tilted: false,
            };
            prop_assert!(f.check(11, 11).is_ok());
            let (ax, ay) = (wx + rx as usize, wy + ry as usize);
            let want = -naive_rect(&px, w, ax, ay, rw as usize, rh as usize)
                + 2 * naive_rect(&px, w, ax, ay, rw.div_ceil(2) as usize, rh as usize);
            prop_assert_eq!(f.value(&ii, wx, wy), want as f32);
        }
    }

    #[test]
    fn rectangles_outside_the_window_are_rejected() {
        let r = |x, y, width, height| WeightedRect {
            x,
            y,
            width,
            height,
            weight: 1.0,
        };
        // An upright rectangle past the right edge, a tilted one reaching left of it.
        for (rect, tilted) in [(r(20, 0, 5, 4), false), (r(2, 0, 4, 3), true)] {
            let f = HaarFeature {
                rects: vec![rect],
                tilted,
            };
            assert!(matches!(
                f.check(24, 24),
                Err(Error::InvalidParam { name: "rects", .. })
            ));
        }
        let nan = HaarFeature {
            rects: vec![WeightedRect {
                weight: f32::NAN,
                ..r(0, 0, 1, 1)
            }],
            tilted: false,
        };
        assert!(matches!(nan.check(24, 24), Err(Error::NonFinite { .. })));
        assert!(
            HaarFeature {
                rects: vec![],
                tilted: false
            }
            .check(24, 24)
            .is_err()
        );
    }
}
