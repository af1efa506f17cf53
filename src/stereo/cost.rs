//! Matching costs between a left window and a right window shifted by a disparity.
//!
//! Pixels are 8-bit gray values (`Image::to_u8`). A window of odd side `w = 2r + 1` is
//! centred on the left pixel `(x, y)` and on the right pixel `(x - d, y)`; a window pixel
//! outside an image takes the value of the nearest pixel inside (coordinates clamped, each
//! image on its own). With `L` and `R` the two windows' pixels and `n = w²`:
//!
//! - NCC, the course notes' definition: `ΣLR / sqrt(ΣL² ΣR²)` (the notes write the right
//!   window at `u + d`; with `d = uL - uR` it is at `u - d`, which is what is used here);
//! - zero-mean NCC: `(ΣLR - ΣLΣR/n) / sqrt((ΣL² - (ΣL)²/n)(ΣR² - (ΣR)²/n))`;
//! - SAD `Σ|L - R|`, SSD `Σ(L - R)²`;
//! - census (Zabih and Woodfill 1994): each pixel's signature has one bit per pixel of its
//!   census window (the centre excluded, row-major), set when that pixel is darker than
//!   the centre; the per-pixel cost is the Hamming distance of the two signatures, summed
//!   over the matching window.
//!
//! Every cost is turned into a non-negative value where lower is better: `1 - NCC` and
//! `1 - ZNCC` (in `[0, 2]`), the sums themselves for the others. A window with no signal
//! (`ΣL² = 0` for NCC, zero variance for ZNCC) has no correlation: its cost is the worst
//! value, 2, and the texture check marks such pixels invalid.
//!
//! [`window_cost`] evaluates one pixel at one disparity directly from these definitions;
//! the cost volume (`stereo::volume`) computes the same numbers for all disparities with
//! running sums, and the tests compare the two.

use serde::{Deserialize, Serialize};

/// The matching cost of a window pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MatchCost {
    /// Normalised cross-correlation as the course notes define it (no mean removed).
    Ncc,
    /// Zero-mean normalised cross-correlation.
    Zncc,
    /// Sum of absolute differences.
    Sad,
    /// Sum of squared differences.
    Ssd,
    /// Census transform with Hamming distance.
    #[default]
    Census,
}

impl MatchCost {
    /// The lowercase name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            MatchCost::Ncc => "ncc",
            MatchCost::Zncc => "zncc",
            MatchCost::Sad => "sad",
            MatchCost::Ssd => "ssd",
            MatchCost::Census => "census",
        }
    }

    /// Whether the cost is a correlation (NCC, ZNCC), returned as `1 - correlation`.
    pub fn is_correlation(self) -> bool {
        matches!(self, MatchCost::Ncc | MatchCost::Zncc)
    }
}

/// The largest census window: 9x7 = 63 neighbours, one 64-bit signature.
pub const MAX_CENSUS_BITS: usize = 64;

/// Clamps `v` (possibly negative) into `0..len`.
#[inline(always)]
pub(crate) fn clamp_index(v: isize, len: usize) -> usize {
    v.clamp(0, len as isize - 1) as usize
}

/// Census signatures of all pixels of a `width x height` 8-bit image over a
/// `cw x ch` window (odd sides, `cw * ch - 1 <= 64`): bit `k` (row-major order of the
/// window without its centre, first neighbour in the most significant used bit) is set
/// when that neighbour is darker than the centre. Borders are clamped.
pub fn census_transform(
    pixels: &[u8],
    width: usize,
    height: usize,
    cw: usize,
    ch: usize,
) -> Vec<u64> {
    struct Census<'a>(&'a [u8], usize, usize, usize, usize);
    impl crate::simd::Kernel for Census<'_> {
        type Output = Vec<u64>;
        #[inline(always)]
        fn run(self) -> Vec<u64> {
            census_in(self.0, self.1, self.2, self.3, self.4)
        }
    }
    crate::simd::dispatch(
        crate::simd::v3(false),
        Census(pixels, width, height, cw, ch),
    )
}

#[inline(always)]
fn census_in(pixels: &[u8], width: usize, height: usize, cw: usize, ch: usize) -> Vec<u64> {
    let (rx, ry) = ((cw / 2) as isize, (ch / 2) as isize);
    let mut out = vec![0u64; width * height];
    let mut ext = vec![0u8; width + cw - 1];
    for y in 0..height {
        let centre = &pixels[y * width..(y + 1) * width];
        let sig = &mut out[y * width..(y + 1) * width];
        for dy in -ry..=ry {
            let yy = clamp_index(y as isize + dy, height);
            let row = &pixels[yy * width..(yy + 1) * width];
            // The row with clamped borders: ext[j] is column j - rx.
            for (j, e) in ext.iter_mut().enumerate() {
                *e = row[clamp_index(j as isize - rx, width)];
            }
            for dx in 0..cw {
                if dy == 0 && dx as isize == rx {
                    continue;
                }
                for ((s, &c), &v) in sig.iter_mut().zip(centre).zip(&ext[dx..dx + width]) {
                    *s = (*s << 1) | u64::from(v < c);
                }
            }
        }
    }
    out
}

/// The per-pixel raw cost of two gray values (SAD and SSD terms, the NCC product).
#[inline(always)]
pub(crate) fn pixel_term(cost: MatchCost, l: u8, r: u8) -> u32 {
    let (l, r) = (u32::from(l), u32::from(r));
    match cost {
        MatchCost::Sad => l.abs_diff(r),
        MatchCost::Ssd => {
            let d = l.abs_diff(r);
            d * d
        }
        // The correlations accumulate the product; census never calls this.
        _ => l * r,
    }
}

/// `1 - correlation` from the window sums (`f64` so that the naive evaluation is exact
/// enough to compare with). `sl`, `sr`: sums; `sll`, `srr`, `slr`: sums of products;
/// `n`: pixels in the window. Returns 2 (no correlation) when a norm is zero.
pub(crate) fn correlation_cost(
    cost: MatchCost,
    n: f64,
    sl: f64,
    sr: f64,
    sll: f64,
    srr: f64,
    slr: f64,
) -> f64 {
    let (num, vl, vr) = if cost == MatchCost::Zncc {
        (slr - sl * sr / n, sll - sl * sl / n, srr - sr * sr / n)
    } else {
        (slr, sll, srr)
    };
    // Variances below half a gray level squared over the window are rounding noise.
    if vl <= 0.5 || vr <= 0.5 {
        return 2.0;
    }
    1.0 - num / (vl * vr).sqrt()
}

/// The cost of matching the left window centred on `(x, y)` with the right window centred
/// on `(x - d, y)`, straight from the definitions in the module docs (borders clamped).
/// `census` carries the two images' census signatures when `cost` is
/// [`MatchCost::Census`]. The reference the cost volume is tested against.
#[allow(clippy::too_many_arguments)]
pub fn window_cost(
    cost: MatchCost,
    left: &[u8],
    right: &[u8],
    census: Option<(&[u64], &[u64])>,
    width: usize,
    height: usize,
    window: usize,
    x: usize,
    y: usize,
    d: usize,
) -> f64 {
    let r = (window / 2) as isize;
    let (mut sl, mut sr, mut sll, mut srr, mut slr, mut acc) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for dy in -r..=r {
        let yy = clamp_index(y as isize + dy, height);
        for dx in -r..=r {
            let xl = clamp_index(x as isize + dx, width);
            let xr = clamp_index(x as isize + dx - d as isize, width);
            let (il, ir) = (yy * width + xl, yy * width + xr);
            match (cost, census) {
                (MatchCost::Census, Some((cl, cr))) => {
                    acc += f64::from((cl[il] ^ cr[ir]).count_ones());
                }
                (MatchCost::Sad | MatchCost::Ssd, _) => {
                    acc += f64::from(pixel_term(cost, left[il], right[ir]));
                }
                _ => {
                    let (a, b) = (f64::from(left[il]), f64::from(right[ir]));
                    sl += a;
                    sr += b;
                    sll += a * a;
                    srr += b * b;
                    slr += a * b;
                }
            }
        }
    }
    if cost.is_correlation() {
        correlation_cost(cost, (window * window) as f64, sl, sr, sll, srr, slr)
    } else {
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn census_bits_follow_the_definition() {
        // 3x3 window on a 3x3 image: centre 5, neighbours row-major 1 9 2 / 8 _ 3 / 7 6 4.
        let px = [1u8, 9, 2, 8, 5, 3, 7, 6, 4];
        let c = census_transform(&px, 3, 3, 3, 3);
        // darker than 5: 1, 2, 3, 4 -> bits (msb first) 1 0 1 0 1 0 0 1.
        assert_eq!(c[4], 0b1010_1001);
    }

    #[test]
    fn ncc_of_a_scaled_window_is_one_and_zncc_of_an_offset_one() {
        let left: Vec<u8> = (0..25).map(|i| (i * 7 % 31 + 10) as u8).collect();
        let scaled: Vec<u8> = left.iter().map(|&v| v * 2).collect();
        let offset: Vec<u8> = left.iter().map(|&v| v + 40).collect();
        let ncc = window_cost(MatchCost::Ncc, &left, &scaled, None, 5, 5, 5, 2, 2, 0);
        let zncc = window_cost(MatchCost::Zncc, &left, &offset, None, 5, 5, 5, 2, 2, 0);
        assert!(ncc.abs() < 1e-12 && zncc.abs() < 1e-12, "{ncc} {zncc}");
        let flat = vec![0u8; 25];
        assert_eq!(
            window_cost(MatchCost::Ncc, &flat, &left, None, 5, 5, 5, 2, 2, 0),
            2.0
        );
    }

    #[test]
    fn sad_and_ssd_by_hand_with_clamped_borders() {
        // 2x1 images: left [10, 20], right [13, 12]; window 3 at (0, 0), d = 0:
        // columns -1, 0, 1 -> left 10 10 20, right 13 13 12 (rows clamped: 3 identical rows).
        let (l, r) = ([10u8, 20], [13u8, 12]);
        assert_eq!(
            window_cost(MatchCost::Sad, &l, &r, None, 2, 1, 3, 0, 0, 0),
            3.0 * 14.0
        );
        assert_eq!(
            window_cost(MatchCost::Ssd, &l, &r, None, 2, 1, 3, 0, 0, 0),
            3.0 * 82.0
        );
    }
}
