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
//! use classic_cv::detect::integral::Integral;
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

use crate::error::Result;
use crate::simd::{Kernel, V3};

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
        crate::image::check_pixel_count(width, height, pixels.len())?;
        let n = (width + 1) * (height + 1);
        let mut sum = vec![0i32; n];
        let mut sqsum = vec![0u32; n];
        TableRows {
            pixels,
            width,
            height,
            stride: width + 1,
            sum: &mut sum,
            sqsum: &mut sqsum,
            deinterleave: false,
            simd: crate::simd::v3(false),
        }
        .write();
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

    /// The table entries of the corners of `[x, x+w) x [y, y+h)`, in [`corner_sum`]'s
    /// order.
    fn corners(&self, x: usize, y: usize, w: usize, h: usize) -> [usize; 4] {
        let s = self.stride();
        [
            y * s + x,
            y * s + x + w,
            (y + h) * s + x,
            (y + h) * s + x + w,
        ]
    }

    /// Sum of the pixels in `[x, x+w) x [y, y+h)`; the rectangle must lie in the image.
    pub fn rect_sum(&self, x: usize, y: usize, w: usize, h: usize) -> i32 {
        corner_sum(&self.sum, 0, self.corners(x, y, w, h))
    }

    /// Sum of the squared pixels in `[x, x+w) x [y, y+h)` (exact below 66051 pixels).
    pub fn rect_sqsum(&self, x: usize, y: usize, w: usize, h: usize) -> u32 {
        corner_sum(&self.sqsum, 0, self.corners(x, y, w, h))
    }

    /// Sum over the 45-degree rectangle `(x, y, w, h)` (see the module docs), or `None`
    /// without a tilted table. Needs `x >= h`, `x + w <= width`, `y + w + h <= height`.
    pub fn tilted_sum(&self, x: usize, y: usize, w: usize, h: usize) -> Option<i32> {
        let t = self.tilted.as_ref()?;
        let s = self.stride();
        let corners = [
            y * s + x,
            (y + h) * s + x - h,
            (y + w) * s + x + w,
            (y + w + h) * s + x + w - h,
        ];
        Some(corner_sum(t, 0, corners))
    }
}

/// A value of an integral table: a rectangle sums to `a - b - c + d` over its corners
/// (top-left, top-right, bottom-left, bottom-right; for tilted rectangles top, left,
/// right, bottom), in wrapping arithmetic, as OpenCV's tables wrap.
pub(crate) trait TableValue: Copy {
    /// `a - b - c + d`, wrapping, in that order.
    fn rect(a: Self, b: Self, c: Self, d: Self) -> Self;
}

impl TableValue for i32 {
    #[inline(always)]
    fn rect(a: i32, b: i32, c: i32, d: i32) -> i32 {
        a.wrapping_sub(b).wrapping_sub(c).wrapping_add(d)
    }
}

impl TableValue for u32 {
    #[inline(always)]
    fn rect(a: u32, b: u32, c: u32, d: u32) -> u32 {
        a.wrapping_sub(b).wrapping_sub(c).wrapping_add(d)
    }
}

/// The rectangle sum [`TableValue::rect`] of the entries `base + corners[k]` of `t`.
#[inline(always)]
pub(crate) fn corner_sum<T: TableValue>(t: &[T], base: usize, corners: [usize; 4]) -> T {
    let [a, b, c, d] = corners.map(|o| t[base + o]);
    T::rect(a, b, c, d)
}

/// The sum and squared-sum tables of `pixels` (`width x height`, tight rows), written by
/// [`TableRows::write`] into `sum` and `sqsum`, whose rows are `stride >= width + 1`
/// apart; row 0 and column 0 are zero. With `deinterleave` (`stride` even) every row is
/// stored column-de-interleaved: entry `x` of a row at `(x % 2) * stride / 2 + x / 2`, its
/// even columns then its odd ones. Entries not written (past `width`, and in
/// de-interleaved rows those of columns past `width`) hold unspecified values.
///
/// One pass per row: entry `x` is the row above plus the row's own prefix sum `P(x)`.
/// With `simd` the prefix sums are formed 8 pixels at a time in AVX2 vectors (a
/// log-step scan inside the vector plus the running total); the rest of a row, and
/// every row without `simd`, goes one pixel at a time. Both give the same integers.
pub(crate) struct TableRows<'a> {
    pub(crate) pixels: &'a [u8],
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) stride: usize,
    pub(crate) sum: &'a mut [i32],
    pub(crate) sqsum: &'a mut [u32],
    pub(crate) deinterleave: bool,
    pub(crate) simd: Option<V3>,
}

impl TableRows<'_> {
    /// Writes the tables (inside the AVX2 context when `simd` is given).
    pub(crate) fn write(self) {
        crate::simd::dispatch(self.simd, self)
    }
}

impl Kernel for TableRows<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let (width, stride, half, simd) = (self.width, self.stride, self.stride / 2, self.simd);
        let (sum, sqsum) = (self.sum, self.sqsum);
        if self.deinterleave {
            sum[..=width / 2].fill(0);
            sum[half..half + width.div_ceil(2)].fill(0);
            sqsum[..=width / 2].fill(0);
            sqsum[half..half + width.div_ceil(2)].fill(0);
        } else {
            sum[..=width].fill(0);
            sqsum[..=width].fill(0);
        }
        for y in 0..self.height {
            let src = &self.pixels[y * width..(y + 1) * width];
            let (prev_s, cur_s) = sum[y * stride..(y + 2) * stride].split_at_mut(stride);
            let (prev_q, cur_q) = sqsum[y * stride..(y + 2) * stride].split_at_mut(stride);
            if self.deinterleave {
                let (pe_s, po_s) = prev_s.split_at(half);
                let (pe_q, po_q) = prev_q.split_at(half);
                let (e_s, o_s) = cur_s.split_at_mut(half);
                let (e_q, o_q) = cur_q.split_at_mut(half);
                let mut run = DualRow {
                    src,
                    prev: [pe_s, po_s],
                    prevq: [pe_q, po_q],
                    cur: [e_s, o_s],
                    curq: [e_q, o_q],
                };
                let (k, rs, rq) = match simd {
                    #[cfg(target_arch = "x86_64")]
                    Some(v3) => run.pairs_v3(v3),
                    _ => (0, 0, 0),
                };
                run.pairs_scalar(k, rs, rq);
            } else {
                cur_s[0] = 0;
                cur_q[0] = 0;
                let (x, rs, rq) = match simd {
                    #[cfg(target_arch = "x86_64")]
                    Some(v3) => plain_row_v3(v3, src, prev_s, prev_q, cur_s, cur_q),
                    _ => (0, 0, 0),
                };
                let (mut rs, mut rq) = (rs, rq);
                let tail = src[x..]
                    .iter()
                    .zip(prev_s[x + 1..=width].iter().zip(&prev_q[x + 1..=width]))
                    .zip(
                        cur_s[x + 1..=width]
                            .iter_mut()
                            .zip(&mut cur_q[x + 1..=width]),
                    );
                for ((&v, (ps, pq)), (s, q)) in tail {
                    let v = v as i32;
                    rs += v;
                    rq = rq.wrapping_add((v * v) as u32);
                    *s = ps.wrapping_add(rs);
                    *q = pq.wrapping_add(rq);
                }
            }
        }
    }
}

/// One de-interleaved row: `[even half, odd half]` of the row above (`prev`, `prevq`)
/// and of the row written (`cur`, `curq`).
struct DualRow<'a> {
    src: &'a [u8],
    prev: [&'a [i32]; 2],
    prevq: [&'a [u32]; 2],
    cur: [&'a mut [i32]; 2],
    curq: [&'a mut [u32]; 2],
}

impl DualRow<'_> {
    /// Pixel pairs `k..` (pixels `2k..`) one at a time, from the running sums `rs`, `rq`
    /// of the pixels before: `P(2k)` to the even half, `P(2k + 1)` to the odd half.
    #[inline(always)]
    fn pairs_scalar(&mut self, k: usize, mut rs: i32, mut rq: u32) {
        let width = self.src.len();
        let mut k = k;
        let mut put = |slot: usize, k: usize, rs: i32, rq: u32| {
            self.cur[slot][k] = self.prev[slot][k].wrapping_add(rs);
            self.curq[slot][k] = self.prevq[slot][k].wrapping_add(rq);
        };
        while 2 * k < width {
            put(0, k, rs, rq);
            let v = self.src[2 * k] as i32;
            rs += v;
            rq = rq.wrapping_add((v * v) as u32);
            put(1, k, rs, rq);
            if let Some(&v) = self.src.get(2 * k + 1) {
                let v = v as i32;
                rs += v;
                rq = rq.wrapping_add((v * v) as u32);
            }
            k += 1;
        }
        if width.is_multiple_of(2) {
            put(0, k, rs, rq);
        }
    }

    /// Pixel pairs 8 at a time (16 pixels) in AVX2 vectors: with `e`, `o` the even and
    /// odd pixels of a chunk and `I` the running inclusive scan of `e + o`, the even
    /// entries are `I - (e + o)` and the odd ones `I - o`. Returns the first pair not
    /// done and the running sums there.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn pairs_v3(&mut self, simd: V3) -> (usize, i32, u32) {
        use std::arch::x86_64::{__m128i, __m256i};
        let (a, b) = (simd.avx2, simd.sse2);
        let split =
            pulp::cast::<[i8; 16], __m128i>([0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15]);
        let (mut cs, mut cq) = (
            simd.avx._mm256_setzero_si256(),
            simd.avx._mm256_setzero_si256(),
        );
        let mut k = 0;
        while 2 * k + 16 <= self.src.len() {
            let bytes: [u8; 16] = self.src[2 * k..2 * k + 16].try_into().expect("16 pixels");
            let sh = simd.ssse3._mm_shuffle_epi8(pulp::cast(bytes), split);
            let e = a._mm256_cvtepu8_epi32(sh);
            let o = a._mm256_cvtepu8_epi32(b._mm_unpackhi_epi64(sh, sh));
            let (eq, oq) = (a._mm256_mullo_epi16(e, e), a._mm256_mullo_epi16(o, o));
            let pair = a._mm256_add_epi32(e, o);
            let pairq = a._mm256_add_epi32(eq, oq);
            let inc = a._mm256_add_epi32(scan8(simd, pair), cs);
            let incq = a._mm256_add_epi32(scan8(simd, pairq), cq);
            let put = |dst: &mut [i32], src: &[i32], v: __m256i| {
                let p: [i32; 8] = src[k..k + 8].try_into().expect("8 entries");
                let r: [i32; 8] = pulp::cast(a._mm256_add_epi32(pulp::cast(p), v));
                dst[k..k + 8].copy_from_slice(&r);
            };
            let putq = |dst: &mut [u32], src: &[u32], v: __m256i| {
                let p: [u32; 8] = src[k..k + 8].try_into().expect("8 entries");
                let r: [u32; 8] = pulp::cast(a._mm256_add_epi32(pulp::cast(p), v));
                dst[k..k + 8].copy_from_slice(&r);
            };
            put(self.cur[0], self.prev[0], a._mm256_sub_epi32(inc, pair));
            put(self.cur[1], self.prev[1], a._mm256_sub_epi32(inc, o));
            putq(self.curq[0], self.prevq[0], a._mm256_sub_epi32(incq, pairq));
            putq(self.curq[1], self.prevq[1], a._mm256_sub_epi32(incq, oq));
            cs = last_lane(simd, inc);
            cq = last_lane(simd, incq);
            k += 8;
        }
        let (s, q): ([i32; 8], [u32; 8]) = (pulp::cast(cs), pulp::cast(cq));
        (k, s[0], q[0])
    }
}

/// The inclusive prefix sums of the 8 lanes of `v` (wrapping).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn scan8(simd: V3, v: std::arch::x86_64::__m256i) -> std::arch::x86_64::__m256i {
    let a = simd.avx2;
    let v = a._mm256_add_epi32(v, a._mm256_slli_si256::<4>(v));
    let v = a._mm256_add_epi32(v, a._mm256_slli_si256::<8>(v));
    // The low half's total into every lane of the high half.
    let low = a._mm256_shuffle_epi32::<0xFF>(a._mm256_permute2x128_si256::<0x08>(v, v));
    a._mm256_add_epi32(v, low)
}

/// Lane 7 of `v` in every lane.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn last_lane(simd: V3, v: std::arch::x86_64::__m256i) -> std::arch::x86_64::__m256i {
    simd.avx2
        ._mm256_permutevar8x32_epi32(v, simd.avx._mm256_set1_epi32(7))
}

/// Pixels 8 at a time of one plain row: entries `x + 1` get the row above plus the
/// running inclusive scan. Returns the first pixel not done and the running sums there.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn plain_row_v3(
    simd: V3,
    src: &[u8],
    prev_s: &[i32],
    prev_q: &[u32],
    cur_s: &mut [i32],
    cur_q: &mut [u32],
) -> (usize, i32, u32) {
    let (a, b) = (simd.avx2, simd.sse2);
    let (mut cs, mut cq) = (
        simd.avx._mm256_setzero_si256(),
        simd.avx._mm256_setzero_si256(),
    );
    let mut x = 0;
    while x + 8 <= src.len() {
        let bytes: [u8; 8] = src[x..x + 8].try_into().expect("8 pixels");
        let v = a._mm256_cvtepu8_epi32(b._mm_set_epi64x(0, i64::from_le_bytes(bytes)));
        let inc = a._mm256_add_epi32(scan8(simd, v), cs);
        let incq = a._mm256_add_epi32(scan8(simd, a._mm256_mullo_epi16(v, v)), cq);
        let p: [i32; 8] = prev_s[x + 1..x + 9].try_into().expect("8 entries");
        let r: [i32; 8] = pulp::cast(a._mm256_add_epi32(pulp::cast(p), inc));
        cur_s[x + 1..x + 9].copy_from_slice(&r);
        let p: [u32; 8] = prev_q[x + 1..x + 9].try_into().expect("8 entries");
        let r: [u32; 8] = pulp::cast(a._mm256_add_epi32(pulp::cast(p), incq));
        cur_q[x + 1..x + 9].copy_from_slice(&r);
        cs = last_lane(simd, inc);
        cq = last_lane(simd, incq);
        x += 8;
    }
    let (s, q): ([i32; 8], [u32; 8]) = (pulp::cast(cs), pulp::cast(cq));
    (x, s[0], q[0])
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

/// Rewrites every `stride`-long row of `buf` (`stride` even) as its even columns followed
/// by its odd ones, so that windows 2 columns apart read adjacent entries.
#[cfg(test)]
pub(crate) fn deinterleave_rows<T: Copy + Default>(buf: &mut [T], stride: usize) {
    let hs = stride / 2;
    let mut tmp = vec![T::default(); stride];
    for row in buf.chunks_exact_mut(stride) {
        tmp.copy_from_slice(row);
        let (even, odd) = row.split_at_mut(hs);
        for ((e, o), pair) in even.iter_mut().zip(odd.iter_mut()).zip(tmp.chunks_exact(2)) {
            *e = pair[0];
            *o = pair[1];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::TestRng;
    use crate::error::Error;
    use proptest::prelude::*;

    /// [`TableRows::write`] of a `w x h` image.
    fn write_tables(
        pixels: &[u8],
        (width, height): (usize, usize),
        stride: usize,
        (sum, sqsum): (&mut [i32], &mut [u32]),
        deinterleave: bool,
        simd: Option<V3>,
    ) {
        TableRows {
            pixels,
            width,
            height,
            stride,
            sum,
            sqsum,
            deinterleave,
            simd,
        }
        .write();
    }

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

    #[test]
    fn integral_rows_equal_hand_sums_in_both_layouts_with_and_without_simd() {
        let mut rng = TestRng(7);
        let sizes = [
            (1, 1),
            (2, 3),
            (7, 5),
            (8, 2),
            (16, 9),
            (17, 3),
            (33, 20),
            (64, 3),
        ];
        for simd in [None, crate::simd::v3(false)] {
            for (w, h) in sizes {
                let stride = (w + 2 + rng.below(3) as usize * 2) & !1;
                // Random pixels, or all 255 (the largest squares).
                let bright = rng.below(4) == 0;
                let px: Vec<u8> = (0..w * h)
                    .map(|_| if bright { 255 } else { rng.below(256) as u8 })
                    .collect();
                let n = (h + 1) * stride;
                // Stale values in the entries the function leaves unspecified; the plain
                // layout against hand sums of the pixels above and left of (x, y) and of
                // their squares.
                let (mut s, mut q) = (vec![5i32; n], vec![3u32; n]);
                write_tables(&px, (w, h), stride, (&mut s, &mut q), false, simd);
                for y in 0..=h {
                    for x in 0..=w {
                        let i = y * stride + x;
                        let (want_s, want_q) = (0..y)
                            .flat_map(|yy| (0..x).map(move |xx| (yy, xx)))
                            .map(|(yy, xx)| px[yy * w + xx] as u32)
                            .fold((0u32, 0u32), |(a, b), v| (a + v, b + v * v));
                        assert_eq!(
                            (s[i] as u32, q[i]),
                            (want_s, want_q),
                            "{w}x{h} at ({x}, {y})"
                        );
                    }
                }
                // The de-interleaved layout holds the same entries, moved.
                deinterleave_rows(&mut s, stride);
                deinterleave_rows(&mut q, stride);
                let (mut s2, mut q2) = (vec![-7i32; n], vec![99u32; n]);
                write_tables(&px, (w, h), stride, (&mut s2, &mut q2), true, simd);
                for y in 0..=h {
                    for x in 0..=w {
                        let i = y * stride + (x % 2) * (stride / 2) + x / 2;
                        assert_eq!((s2[i], q2[i]), (s[i], q[i]), "{w}x{h} at ({x}, {y})");
                    }
                }
            }
        }
    }
}
