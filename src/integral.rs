//! Integral images: sum, squared sum and the 45-degree tilted sum of 8-bit gray images.
//!
//! # Overview
//! An integral image turns any rectangle sum into four look-ups. This module builds the
//! three tables the Viola-Jones detector reads, in OpenCV's layout: `(w+1) x (h+1)`
//! values, row-major, with a zero first row and a zero first column, so that entry
//! `(X, Y)` is the sum over all pixels strictly above and strictly left of it.
//!
//! # Usage
//! ```
//! use classic_cv::integral::Integral;
//! let px = [1u8, 2, 3, 4, 5, 6];
//! let ii = Integral::new(&px, 3, 2, true).unwrap();
//! assert_eq!(ii.rect_sum(0, 0, 3, 2), 21);
//! assert_eq!(ii.rect_sqsum(1, 0, 2, 2), 4 + 9 + 25 + 36);
//! ```
//!
//! # Algorithm and conventions
//! - `sum(X, Y) = Σ_{y<Y, x<X} I(x, y)` in `i32` (exact for images up to 8421504 pixels).
//! - `sqsum(X, Y) = Σ_{y<Y, x<X} I(x, y)²` in **wrapping** 32-bit arithmetic, exactly as
//!   OpenCV stores it: a 640x480 white image overflows it, yet every difference over a
//!   rectangle of fewer than 66051 pixels is exact when read back as `u32`.
//! - `tilted(X, Y) = Σ_{y<Y, |x-X+1| <= Y-1-y} I(x, y)` (OpenCV's rotated sum): the
//!   triangle whose apex is pixel `(X-1, Y-1)` and which widens upwards, clipped to the
//!   image. It is built from two families of diagonal prefix sums in `O((w + h) h)`.
//!   A 45-degree rectangle `(x, y, w, h)` (top pixel `(x-1, y)`, extending `w` pixels
//!   down-right and `h` down-left) sums to
//!   `T(x, y) - T(x-h, y+h) - T(x+w, y+w) + T(x+w-h, y+w+h)`.
//!
//! # Parallelism
//! None inside one table; the detector builds the tables of its pyramid levels in parallel.
//!
//! # References
//! P. Viola, M. Jones, "Rapid object detection using a boosted cascade of simple
//! features", CVPR 2001. R. Lienhart, J. Maydt, "An extended set of Haar-like features
//! for rapid object detection", ICIP 2002 (the rotated sum).

use crate::error::{Error, Result};

/// The integral tables of one 8-bit image (see the module docs for the layout).
#[derive(Clone, Debug, PartialEq)]
pub struct Integral {
    width: usize,
    height: usize,
    /// `(width+1) * (height+1)` sums.
    pub sum: Vec<i32>,
    /// `(width+1) * (height+1)` wrapping sums of squares.
    pub sqsum: Vec<u32>,
    /// `(width+1) * (height+1)` rotated sums, when asked for.
    pub tilted: Option<Vec<i32>>,
}

impl Integral {
    /// Builds the tables of a `width x height` row-major image; `tilted` also builds the
    /// rotated sum.
    pub fn new(pixels: &[u8], width: usize, height: usize, tilted: bool) -> Result<Self> {
        check_size(pixels, width, height)?;
        let n = (width + 1) * (height + 1);
        let mut sum = vec![0i32; n];
        let mut sqsum = vec![0u32; n];
        sum_sqsum_rows(
            pixels,
            width,
            height,
            width + 1,
            &mut sum,
            &mut sqsum,
            false,
        );
        let tilted = if tilted {
            let mut t = vec![0i32; n];
            tilted_into(pixels, width, height, width + 1, &mut t, &mut Vec::new());
            Some(t)
        } else {
            None
        };
        Ok(Integral {
            width,
            height,
            sum,
            sqsum,
            tilted,
        })
    }

    /// Image width (the tables have `width + 1` columns).
    pub fn width(&self) -> usize {
        self.width
    }

    /// Image height (the tables have `height + 1` rows).
    pub fn height(&self) -> usize {
        self.height
    }

    /// Row stride of the tables.
    pub fn stride(&self) -> usize {
        self.width + 1
    }

    /// Sum of the pixels in `[x, x+w) x [y, y+h)`; the rectangle must lie in the image.
    pub fn rect_sum(&self, x: usize, y: usize, w: usize, h: usize) -> i32 {
        let s = self.stride();
        let t = &self.sum;
        t[y * s + x]
            .wrapping_sub(t[y * s + x + w])
            .wrapping_sub(t[(y + h) * s + x])
            .wrapping_add(t[(y + h) * s + x + w])
    }

    /// Sum of the squared pixels in `[x, x+w) x [y, y+h)` (exact below 66051 pixels).
    pub fn rect_sqsum(&self, x: usize, y: usize, w: usize, h: usize) -> u32 {
        let s = self.stride();
        let t = &self.sqsum;
        t[y * s + x]
            .wrapping_sub(t[y * s + x + w])
            .wrapping_sub(t[(y + h) * s + x])
            .wrapping_add(t[(y + h) * s + x + w])
    }

    /// Sum over the 45-degree rectangle `(x, y, w, h)` (see the module docs), or `None`
    /// without a tilted table. Needs `x >= h`, `x + w <= width`, `y + w + h <= height`.
    pub fn tilted_sum(&self, x: usize, y: usize, w: usize, h: usize) -> Option<i32> {
        let t = self.tilted.as_ref()?;
        let s = self.stride();
        Some(
            t[y * s + x]
                .wrapping_sub(t[(y + h) * s + x - h])
                .wrapping_sub(t[(y + w) * s + x + w])
                .wrapping_add(t[(y + w + h) * s + x + w - h]),
        )
    }
}

/// Fails unless `pixels` holds a non-empty `width x height` image.
pub(crate) fn check_size(pixels: &[u8], width: usize, height: usize) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::ImageTooSmall {
            width,
            height,
            min_width: 1,
            min_height: 1,
        });
    }
    if pixels.len() != width * height {
        return Err(Error::DimensionMismatch {
            what: "image pixel count",
            expected: width * height,
            found: pixels.len(),
        });
    }
    Ok(())
}

/// Writes the sum and squared-sum tables of `pixels` (`width x height`, tight rows) into
/// `sum` and `sqsum`, whose rows are `stride >= width + 1` apart; row 0 and column 0 are
/// zero. With `deinterleave` (`stride` even) every row is stored column-de-interleaved:
/// entry `x` of a row at `(x % 2) * stride / 2 + x / 2`, its even columns then its odd
/// ones. Entries not written (past `width`, and in de-interleaved rows those of columns
/// past `width`) hold unspecified values.
///
/// Each row is first written as its own prefix sums (one running sum per table), then
/// the row above is added entry by entry (which vectorises, in either layout).
pub(crate) fn sum_sqsum_rows(
    pixels: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    sum: &mut [i32],
    sqsum: &mut [u32],
    deinterleave: bool,
) {
    let half = stride / 2;
    let zero_row = |row: &mut [i32], qrow: &mut [u32]| {
        if deinterleave {
            row[..=width / 2].fill(0);
            row[half..half + width.div_ceil(2)].fill(0);
            qrow[..=width / 2].fill(0);
            qrow[half..half + width.div_ceil(2)].fill(0);
        } else {
            row[..=width].fill(0);
            qrow[..=width].fill(0);
        }
    };
    zero_row(&mut sum[..stride], &mut sqsum[..stride]);
    // Entries of a row that hold table values: 0..=width, or both de-interleaved halves.
    let used = if deinterleave { stride } else { width + 1 };
    for y in 0..height {
        let src = &pixels[y * width..(y + 1) * width];
        let (prev_s, cur_s) = sum[y * stride..(y + 2) * stride].split_at_mut(stride);
        let (prev_q, cur_q) = sqsum[y * stride..(y + 2) * stride].split_at_mut(stride);
        let (mut rs, mut rq) = (0i32, 0u32);
        if deinterleave {
            // P(2k) to the even half, P(2k + 1) to the odd half.
            let (even_s, odd_s) = cur_s.split_at_mut(half);
            let (even_q, odd_q) = cur_q.split_at_mut(half);
            let mut pairs = src.chunks_exact(2);
            let mut k = 0;
            for pair in &mut pairs {
                even_s[k] = rs;
                even_q[k] = rq;
                let v = pair[0] as i32;
                rs += v;
                rq = rq.wrapping_add((v * v) as u32);
                odd_s[k] = rs;
                odd_q[k] = rq;
                let v = pair[1] as i32;
                rs += v;
                rq = rq.wrapping_add((v * v) as u32);
                k += 1;
            }
            even_s[k] = rs;
            even_q[k] = rq;
            if let [v] = pairs.remainder() {
                let v = *v as i32;
                rs += v;
                rq = rq.wrapping_add((v * v) as u32);
                odd_s[k] = rs;
                odd_q[k] = rq;
            }
        } else {
            cur_s[0] = 0;
            cur_q[0] = 0;
            for ((s, q), &v) in cur_s[1..=width]
                .iter_mut()
                .zip(&mut cur_q[1..=width])
                .zip(src)
            {
                let v = v as i32;
                rs += v;
                rq = rq.wrapping_add((v * v) as u32);
                *s = rs;
                *q = rq;
            }
        }
        for (c, p) in cur_s[..used].iter_mut().zip(&prev_s[..used]) {
            *c = c.wrapping_add(*p);
        }
        for (c, p) in cur_q[..used].iter_mut().zip(&prev_q[..used]) {
            *c = c.wrapping_add(*p);
        }
    }
}

/// Writes the rotated-sum table (rows `stride` apart). `scratch` is reused between calls.
///
/// With `P(y, a)` the prefix sum of row `y` over columns `< a` (clamped to `0..=width`),
/// `T(X, Y) = R(X+Y-1, Y) - L(X-Y, Y)` where `R(d, Y) = Σ_{y<Y} P(y, d-y)` and
/// `L(e, Y) = Σ_{y<Y} P(y, e+y)`: both are running sums along diagonals, updated once per
/// row.
pub(crate) fn tilted_into(
    pixels: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    out: &mut [i32],
    scratch: &mut Vec<i64>,
) {
    // Index ranges: d = X+Y-1 in [-1, width+height-1]; e = X-Y in [-height, width].
    let nd = width + height + 1;
    let ne = width + height + 1;
    scratch.clear();
    scratch.resize(nd + ne + width + 1, 0);
    let (r, rest) = scratch.split_at_mut(nd);
    let (l, prefix) = rest.split_at_mut(ne);
    out[..=width].fill(0);
    for y in 0..height {
        prefix[0] = 0;
        for x in 0..width {
            prefix[x + 1] = prefix[x] + pixels[y * width + x] as i64;
        }
        let p = |a: i64| prefix[a.clamp(0, width as i64) as usize];
        // Add row y to every diagonal: R(d) += P(y, d - y), L(e) += P(y, e + y).
        for (i, rv) in r.iter_mut().enumerate() {
            let d = i as i64 - 1;
            *rv += p(d - y as i64);
        }
        for (i, lv) in l.iter_mut().enumerate() {
            let e = i as i64 - height as i64;
            *lv += p(e + y as i64);
        }
        let yy = y + 1;
        let row = &mut out[yy * stride..yy * stride + width + 1];
        for (xx, o) in row.iter_mut().enumerate() {
            let d = xx + yy - 1; // index d + 1
            let e = xx as i64 - yy as i64 + height as i64;
            *o = (r[d + 1] - l[e as usize]) as i32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(px: &[u8], w: usize, h: usize) -> (Vec<i64>, Vec<i64>, Vec<i64>) {
        let s = w + 1;
        let mut sum = vec![0; s * (h + 1)];
        let mut sq = vec![0; s * (h + 1)];
        let mut t = vec![0; s * (h + 1)];
        for yy in 0..=h {
            for xx in 0..=w {
                for y in 0..h {
                    for x in 0..w {
                        let v = px[y * w + x] as i64;
                        if y < yy && x < xx {
                            sum[yy * s + xx] += v;
                            sq[yy * s + xx] += v * v;
                        }
                        if y < yy && (x as i64 - xx as i64 + 1).abs() <= (yy - 1 - y) as i64 {
                            t[yy * s + xx] += v;
                        }
                    }
                }
            }
        }
        (sum, sq, t)
    }

    proptest! {
        #[test]
        fn tables_match_double_loops(w in 1usize..12, h in 1usize..12, seed in any::<u64>()) {
            let mut rng = crate::rng::Rng::new(seed);
            let px: Vec<u8> = (0..w * h).map(|_| (rng.next_u64() % 256) as u8).collect();
            let ii = Integral::new(&px, w, h, true).unwrap();
            let (s, q, t) = reference(&px, w, h);
            prop_assert_eq!(ii.sum.iter().map(|&v| v as i64).collect::<Vec<_>>(), s);
            prop_assert_eq!(ii.sqsum.iter().map(|&v| v as i64).collect::<Vec<_>>(), q);
            prop_assert_eq!(ii.tilted.unwrap().iter().map(|&v| v as i64).collect::<Vec<_>>(), t);
        }

        #[test]
        fn tilted_rect_sum_matches_pixel_set(x in 0usize..8, y in 0usize..8, rw in 1usize..5, rh in 1usize..5, seed in any::<u64>()) {
            let (w, h) = (16, 18);
            prop_assume!(x >= rh && x + rw <= w && y + rw + rh <= h);
            let mut rng = crate::rng::Rng::new(seed);
            let px: Vec<u8> = (0..w * h).map(|_| (rng.next_u64() % 256) as u8).collect();
            let ii = Integral::new(&px, w, h, true).unwrap();
            // The rectangle's top pixel is (x-1, y); with dx, dy the offsets from it, a
            // pixel belongs when u = dx + dy lies in [0, 2 rw) and v = dy - dx in [0, 2 rh).
            let mut naive = 0i64;
            for py in 0..h {
                for pxx in 0..w {
                    let dx = pxx as i64 - (x as i64 - 1);
                    let dy = py as i64 - y as i64;
                    let (u, v) = (dx + dy, dy - dx);
                    if (0..2 * rw as i64).contains(&u) && (0..2 * rh as i64).contains(&v) {
                        naive += px[py * w + pxx] as i64;
                    }
                }
            }
            prop_assert_eq!(ii.tilted_sum(x, y, rw, rh).unwrap() as i64, naive);
        }
    }

    #[test]
    fn squared_sum_wraps_but_window_differences_are_exact() {
        let (w, h) = (640, 480);
        let px = vec![255u8; w * h];
        let ii = Integral::new(&px, w, h, false).unwrap();
        assert_eq!(ii.rect_sqsum(600, 400, 22, 22), 484 * 65025);
        assert_eq!(ii.rect_sum(1, 1, 639, 479), 639 * 479 * 255);
    }

    #[test]
    fn wrong_sizes_are_errors() {
        assert!(matches!(
            Integral::new(&[1, 2, 3], 2, 2, false),
            Err(Error::DimensionMismatch { .. })
        ));
        assert!(matches!(
            Integral::new(&[], 0, 2, false),
            Err(Error::ImageTooSmall { .. })
        ));
    }
}
