//! OpenCV's 8-bit resampling of the detector's pyramid, `resize(INTER_LINEAR_EXACT)`, and
//! its histogram equalisation, `equalizeHist`, bit for bit.
//!
//! # Resize conventions
//! Per destination index `d` the source position is `f = (d + 0.5) ssz / dsz - 0.5` (f64)
//! with taps `floor f` and `floor f + 1` and 8-bit fixed-point weights
//! `c1 = round(256 (f - floor f))`, `c0 = 256 - c1`; a position whose taps leave the
//! image uses the single clamped tap (weight 256). A horizontal pass forms
//! `c0 p0 + c1 p1` (u16), a vertical pass `b0 h0 + b1 h1`, and the pixel is
//! `(v + 2^15) >> 16`. The same size is a copy. With AVX2 the horizontal pass of 8 (or 4)
//! destination pixels whose taps lie within 16 source bytes is two byte shuffles, two
//! u16 products and a sum: the same integers.
//!
//! # Equalisation conventions
//! The lookup table maps the first non-empty bin to 0 and bin `i` to
//! `round(f32(cumulative count from the next bin to i) * f32(255 / (n - first bin's count)))`
//! (half to even); an image of one value is unchanged.

use crate::detect::round_half_even;
use crate::simd::{Kernel, V3};

/// OpenCV's `equalizeHist` on 8-bit pixels, in place.
pub fn equalize_hist(pixels: &mut [u8]) {
    let mut hist = [0usize; 256];
    for &p in pixels.iter() {
        hist[p as usize] += 1;
    }
    let Some(first) = hist.iter().position(|&c| c > 0) else {
        return;
    };
    let total = pixels.len();
    let mut lut = [0u8; 256];
    if hist[first] == total {
        lut = [first as u8; 256];
    } else {
        let scale = 255.0f32 / (total - hist[first]) as f32;
        let mut sum = 0usize;
        for i in first + 1..256 {
            sum += hist[i];
            lut[i] = round_half_even((sum as f32 * scale) as f64).clamp(0.0, 255.0) as u8;
        }
    }
    for p in pixels.iter_mut() {
        *p = lut[*p as usize];
    }
}

/// OpenCV's `INTER_LINEAR_EXACT` resize of an 8-bit `sw x sh` image to `dw x dh` (see the
/// module docs).
pub fn resize_linear_exact(
    src: &[u8],
    sw: usize,
    sh: usize,
    dw: usize,
    dh: usize,
    dst: &mut Vec<u8>,
) {
    resize_linear_exact_rows(src, sw, sh, dw, dh, 0..dh, dst);
}

/// Rows `rows` (clamped to `0..dh`; an empty or reversed range gives no rows) of
/// [`resize_linear_exact`]'s `dw x dh` result, into `dst` (`dw x rows.len()`): the same
/// values as the full resize, computed only there. As for the full resize, `src` must hold
/// `sw x sh` pixels with `sw, sh >= 1`.
pub fn resize_linear_exact_rows(
    src: &[u8],
    sw: usize,
    sh: usize,
    dw: usize,
    dh: usize,
    rows: std::ops::Range<usize>,
    dst: &mut Vec<u8>,
) {
    resize_rows_with(crate::simd::v3(false), src, (sw, sh), (dw, dh), rows, dst);
}

/// [`resize_linear_exact_rows`], with AVX2 vectors where `simd` is given (the same
/// integers either way).
pub(crate) fn resize_rows_with(
    simd: Option<V3>,
    src: &[u8],
    (sw, sh): (usize, usize),
    (dw, dh): (usize, usize),
    rows: std::ops::Range<usize>,
    dst: &mut Vec<u8>,
) {
    dst.clear();
    let start = rows.start.min(dh);
    let rows = start..rows.end.clamp(start, dh);
    if (dw, dh) == (sw, sh) {
        dst.extend_from_slice(&src[rows.start * sw..rows.end * sw]);
        return;
    }
    dst.resize(dw * rows.len(), 0);
    let resize = Resize {
        simd,
        src,
        sw,
        dw,
        cx: exact_coeffs(sw, dw),
        cy: &exact_coeffs(sh, dh)[rows],
        dst,
    };
    crate::simd::dispatch(simd, resize);
}

/// The work of [`resize_rows_with`] (run inside the AVX2 context when there is one).
struct Resize<'a> {
    simd: Option<V3>,
    src: &'a [u8],
    sw: usize,
    dw: usize,
    /// Horizontal and vertical taps and weights (the rows to make).
    cx: Vec<(usize, usize, u32, u32)>,
    cy: &'a [(usize, usize, u32, u32)],
    dst: &'a mut [u8],
}

/// `len` (8 or 4) destination pixels of the horizontal pass whose taps lie within 16
/// source bytes from `base`: byte shuffles that pick tap 0 and tap 1 of each as a u16
/// lane, and their weights.
#[derive(Clone, Copy)]
struct HChunk {
    base: usize,
    len: usize,
    pick: [[u8; 16]; 2],
    weight: [[u16; 8]; 2],
}

impl HChunk {
    /// The chunk of the pixels whose taps are `c`, if they fit.
    fn new(c: &[(usize, usize, u32, u32)], sw: usize) -> Option<HChunk> {
        let base = c.first()?.0;
        if c.iter().any(|t| t.0 < base || t.1 >= base + 16) || base + 16 > sw {
            return None;
        }
        let mut ch = HChunk {
            base,
            len: c.len(),
            pick: [[0x80; 16]; 2],
            weight: [[0; 8]; 2],
        };
        for (j, &(i0, i1, c0, c1)) in c.iter().enumerate() {
            ch.pick[0][2 * j] = (i0 - base) as u8;
            ch.pick[1][2 * j] = (i1 - base) as u8;
            ch.weight[0][j] = c0 as u16;
            ch.weight[1][j] = c1 as u16;
        }
        Some(ch)
    }
}

impl Kernel for Resize<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let Resize {
            simd,
            src,
            sw,
            dw,
            cx,
            cy,
            dst,
        } = self;
        // The leading destination pixels that vector chunks cover (none without SIMD):
        // 8 at a time where their taps span at most 16 bytes (scales below about 2), else
        // 4 (below about 4.6).
        let mut chunks = Vec::new();
        let mut x = 0;
        while simd.is_some() && x + 4 <= dw {
            let ch = cx.get(x..x + 8).and_then(|c| HChunk::new(c, sw));
            match ch.or_else(|| HChunk::new(&cx[x..x + 4], sw)) {
                Some(ch) => {
                    x += ch.len;
                    chunks.push(ch);
                }
                None => break,
            }
        }
        // Each value is at most 256 * 255, a u16.
        let mut h0 = vec![0u16; dw];
        let mut h1 = vec![0u16; dw];
        let mut have = (usize::MAX, usize::MAX);
        for (d, &(r0, r1, b0, b1)) in cy.iter().enumerate() {
            if have != (r0, r1) {
                if have.1 == r0 {
                    std::mem::swap(&mut h0, &mut h1);
                } else {
                    hpass(simd, &src[r0 * sw..(r0 + 1) * sw], &chunks, &cx, &mut h0);
                }
                hpass(simd, &src[r1 * sw..(r1 + 1) * sw], &chunks, &cx, &mut h1);
                have = (r0, r1);
            }
            let out = &mut dst[d * dw..(d + 1) * dw];
            for ((o, &a), &b) in out.iter_mut().zip(&h0).zip(&h1) {
                let v = b0 * a as u32 + b1 * b as u32;
                *o = ((v + (1 << 15)) >> 16).min(255) as u8;
            }
        }
    }
}

/// The horizontal pass of one source row: `chunks` in vectors (with `simd`), the rest
/// one pixel at a time.
#[inline(always)]
fn hpass(
    simd: Option<V3>,
    row: &[u8],
    chunks: &[HChunk],
    cx: &[(usize, usize, u32, u32)],
    out: &mut [u16],
) {
    let done = match simd {
        #[cfg(target_arch = "x86_64")]
        Some(v3) => hpass_v3(v3, row, chunks, out),
        _ => 0,
    };
    for (o, &(i0, i1, c0, c1)) in out[done..].iter_mut().zip(&cx[done..]) {
        *o = (c0 * row[i0] as u32 + c1 * row[i1] as u32) as u16;
    }
}

/// The horizontal pass of one source row over `chunks` (8 or 4 destination pixels each,
/// from pixel 0): two byte shuffles, two u16 products and a sum per chunk. Returns the
/// number of destination pixels written.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn hpass_v3(simd: V3, row: &[u8], chunks: &[HChunk], out: &mut [u16]) -> usize {
    use std::arch::x86_64::__m128i;
    let (b, sh) = (simd.sse2, simd.ssse3);
    let mut x = 0;
    for ch in chunks {
        let bytes: [u8; 16] = row[ch.base..ch.base + 16].try_into().expect("16 bytes");
        let v: __m128i = pulp::cast(bytes);
        let a = sh._mm_shuffle_epi8(v, pulp::cast(ch.pick[0]));
        let c = sh._mm_shuffle_epi8(v, pulp::cast(ch.pick[1]));
        let r = b._mm_add_epi16(
            b._mm_mullo_epi16(a, pulp::cast(ch.weight[0])),
            b._mm_mullo_epi16(c, pulp::cast(ch.weight[1])),
        );
        let r: [u16; 8] = pulp::cast(r);
        // All 8 lanes where they fit: lanes past `len` are rewritten after.
        match out.get_mut(x..x + 8) {
            Some(o) => o.copy_from_slice(&r),
            None => out[x..x + ch.len].copy_from_slice(&r[..ch.len]),
        }
        x += ch.len;
    }
    x
}

/// Per destination index: (tap 0, tap 1, weight 0, weight 1), weights summing to 256.
fn exact_coeffs(ssz: usize, dsz: usize) -> Vec<(usize, usize, u32, u32)> {
    let scale = 1.0 / (dsz as f64 / ssz as f64);
    (0..dsz)
        .map(|d| {
            let f = scale * (d as f64 + 0.5) - 0.5;
            let i = f.floor();
            if i >= 0.0 && (i as usize) + 1 < ssz {
                let c1 = round_half_even((f - i) * 256.0) as u32;
                (i as usize, i as usize + 1, 256 - c1, c1)
            } else {
                let t = (i.max(0.0) as usize).min(ssz - 1);
                (t, t, 256, 0)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::TestRng;

    #[test]
    fn exact_resize_halves_by_averaging_four_pixels() {
        let src: Vec<u8> = (0..16).map(|i| (i * 13 % 256) as u8).collect();
        let mut dst = Vec::new();
        resize_linear_exact(&src, 4, 4, 2, 2, &mut dst);
        for y in 0..2 {
            for x in 0..2 {
                let p = |xx: usize, yy: usize| src[(2 * y + yy) * 4 + 2 * x + xx] as u32;
                let want = (p(0, 0) + p(1, 0) + p(0, 1) + p(1, 1) + 2) >> 2;
                assert_eq!(dst[y * 2 + x] as u32, want);
            }
        }
    }

    #[test]
    fn vector_resize_equals_the_scalar_resize() {
        let mut rng = TestRng(17);
        let (sw, sh) = (97, 61);
        let src: Vec<u8> = (0..sw * sh).map(|_| rng.below(256) as u8).collect();
        // Downscales from 1.1 to 12 (some with every chunk in vectors, some none),
        // upscales, and widths with ragged tails.
        let sizes = [
            (88, 55),
            (80, 50),
            (60, 40),
            (48, 30),
            (33, 20),
            (8, 5),
            (9, 3),
            (150, 90),
        ];
        for (dw, dh) in sizes {
            let mut scalar = Vec::new();
            resize_rows_with(None, &src, (sw, sh), (dw, dh), 0..dh, &mut scalar);
            // The scalar pass against the two-tap formula.
            let (cx, cy) = (exact_coeffs(sw, dw), exact_coeffs(sh, dh));
            for (y, &(r0, r1, b0, b1)) in cy.iter().enumerate() {
                for (x, &(i0, i1, c0, c1)) in cx.iter().enumerate() {
                    let h = |r: usize| c0 * src[r * sw + i0] as u32 + c1 * src[r * sw + i1] as u32;
                    let want = ((b0 * h(r0) + b1 * h(r1) + (1 << 15)) >> 16).min(255);
                    assert_eq!(scalar[y * dw + x] as u32, want, "{dw}x{dh} at ({x}, {y})");
                }
            }
            let mut vector = Vec::new();
            resize_rows_with(
                crate::simd::v3(false),
                &src,
                (sw, sh),
                (dw, dh),
                0..dh,
                &mut vector,
            );
            assert_eq!(vector, scalar, "{dw}x{dh}");
        }
    }

    #[test]
    fn row_ranges_of_the_exact_resize_equal_the_full_resize() {
        let (sw, sh) = (37, 29);
        let src: Vec<u8> = (0..sw * sh).map(|i| (i * 97 % 251) as u8).collect();
        for (dw, dh) in [(30, 23), (37, 29), (12, 9), (50, 41)] {
            let mut full = Vec::new();
            resize_linear_exact(&src, sw, sh, dw, dh, &mut full);
            for (a, b) in [(0, dh), (0, 1), (3, 8), (dh - 1, dh), (5, dh + 7), (6, 2)] {
                let mut part = Vec::new();
                resize_linear_exact_rows(&src, sw, sh, dw, dh, a..b, &mut part);
                let b = b.clamp(a, dh);
                assert_eq!(part, full[a * dw..b * dw], "{dw}x{dh} rows {a}..{b}");
            }
        }
    }

    #[test]
    fn equalize_matches_hand_computation() {
        let mut px = vec![10, 10, 20, 30];
        equalize_hist(&mut px);
        // hist: 10 x2, 20, 30; scale = 255 / 2; lut[20] = 127.5 -> 128, lut[30] = 255.
        assert_eq!(px, vec![0, 0, 128, 255]);
        let mut flat = vec![7u8; 5];
        equalize_hist(&mut flat);
        assert_eq!(flat, vec![7; 5]);
    }
}
