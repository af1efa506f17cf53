//! The AVX2 kernel of OpenCV's fixed-point bilinear warp on 8-bit images with 3 or 4
//! interleaved channels (beside `remap.rs`, whose portable kernel it mirrors: the same
//! integer formula, so the same bytes; the tests compare them).
//!
//! Per output pixel, with its cell's top-left source byte at `i` and its fractions `fx`,
//! `fy` in 1/32 (OpenCV's `INTER_BITS = 5`):
//!
//! `a = tl (32 - fx) + tr fx`, `b = bl (32 - fx) + br fx` (at most 8160), then
//! `out = (a (32 - fy) + b fy + 512) >> 10`.
//!
//! Eight pixels per step: the cell's left and right pixels of each row are one 8-byte load
//! (`CN` bytes left, `CN` bytes right, the rest ignored), four of them make a vector; a
//! byte shuffle puts each channel's left and right values side by side, so that
//! `pmaddubsw` against `(32 - fx, fx)` gives `a` and `b`; `pmaddwd` of the `(a, b)` pairs
//! against `(32 - fy, fy)` gives the sums; shifts and packs give the bytes. The kernel
//! stops at the first step whose 8-byte loads would read past the source (cells at the
//! very end of the image) and leaves the rest of the row to the portable kernel.
//!
//! Everything is `#[inline(always)]`: it runs inside the pulp AVX2 context that
//! [`crate::simd::dispatch`] opens around the band of rows.

use std::arch::x86_64::{__m128i, __m256i};

use crate::simd::V3;

/// Output pixels per step.
const STEP: usize = 8;

/// The little-endian 8 bytes `s[i..i + 8]` as the integer `_mm256_set_epi64x` takes.
#[inline(always)]
fn load8(s: &[u8], i: usize) -> i64 {
    let bytes: [u8; 8] = s[i..i + 8].try_into().expect("an 8-byte slice");
    i64::from_le_bytes(bytes)
}

/// The 8-byte loads at the 4 source indices `at` as one vector (the first in the low lane).
#[inline(always)]
fn quad(simd: V3, s: &[u8], at: &[usize]) -> __m256i {
    let (l0, l1) = (load8(s, at[0]), load8(s, at[1]));
    let (l2, l3) = (load8(s, at[2]), load8(s, at[3]));
    simd.avx._mm256_set_epi64x(l3, l2, l1, l0)
}

/// The second stage for 4 pixels: `a` and `c` the first stage of the cells' top and
/// bottom rows (16-bit, 4 per pixel), `wy` the pixels' `(32 - fy, fy)` pairs; returns
/// `(a (32 - fy) + c fy + 512) >> 10` as 16-bit values, per 128-bit half the even pixel's
/// 4 channels, then the odd one's.
#[inline(always)]
fn blend(
    simd: V3,
    a: __m256i,
    c: __m256i,
    wy: __m128i,
    spread: [__m256i; 2],
    round: __m256i,
) -> __m256i {
    let avx2 = simd.avx2;
    let wy = avx2._mm256_cvtepu32_epi64(wy);
    let even = avx2._mm256_madd_epi16(
        avx2._mm256_unpacklo_epi16(a, c),
        avx2._mm256_shuffle_epi8(wy, spread[0]),
    );
    let odd = avx2._mm256_madd_epi16(
        avx2._mm256_unpackhi_epi16(a, c),
        avx2._mm256_shuffle_epi8(wy, spread[1]),
    );
    let even = avx2._mm256_srai_epi32::<10>(avx2._mm256_add_epi32(even, round));
    let odd = avx2._mm256_srai_epi32::<10>(avx2._mm256_add_epi32(odd, round));
    avx2._mm256_packus_epi32(even, odd)
}

/// The 16 bytes of a shuffle pattern used in both 128-bit halves of a vector.
#[inline(always)]
fn both_halves(simd: V3, p: [i8; 16]) -> __m256i {
    let half: __m128i = pulp::cast(p);
    simd.avx2._mm256_broadcastsi128_si256(half)
}

/// The fast path of one output row with `CN` (3 or 4) channels, as the portable
/// `colour_row`: `top` and `bottom` are the source windows of the cells' top and bottom
/// pixels, `fast` the cells' pixel indices (off-path pixels beyond the source, clamped and
/// overwritten later), `frac` the fractions `fx | fy << 8`. Returns how many pixels (a
/// multiple of 8) it wrote; the caller computes the rest.
#[inline(always)]
pub(super) fn colour_row_v3<const CN: usize>(
    simd: V3,
    top: &[u8],
    bottom: &[u8],
    fast: &[u32],
    frac: &[u16],
    out: &mut [u8],
) -> usize {
    debug_assert!(CN == 3 || CN == 4);
    if top.len() < 2 * CN + 8 {
        return 0;
    }
    // A cell at `i <= last` is inside; an 8-byte load at `i` needs `i <= limit`.
    let (last, limit) = (top.len() - 2 * CN, top.len() - 8);
    let (avx, avx2, sse2) = (simd.avx, simd.avx2, simd.sse2);
    // Each channel's left and right byte side by side, in every 8-byte pixel.
    let pairs = if CN == 3 {
        both_halves(simd, [0, 3, 1, 4, 2, 5, 6, 7, 8, 11, 9, 12, 10, 13, 14, 15])
    } else {
        both_halves(simd, [0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15])
    };
    // A pixel's 16-bit weight pair (low 2 bytes of its 64-bit lane) in all 4 of its slots.
    let spread_x = both_halves(simd, [0, 1, 0, 1, 0, 1, 0, 1, 8, 9, 8, 9, 8, 9, 8, 9]);
    // A pixel's 32-bit weight pair in all 4 slots of a 128-bit half: the even pixel of
    // the half's two, or the odd one.
    let spread_even = both_halves(simd, [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]);
    let spread_odd = both_halves(
        simd,
        [8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11],
    );
    // Three bytes of each 4-byte pixel, packed (the half's last 4 bytes unused).
    let pack3 = both_halves(
        simd,
        [0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1],
    );
    let round = avx._mm256_set1_epi32(512);
    let low_byte = sse2._mm_set1_epi16(0xff);
    let thirty_two = sse2._mm_set1_epi16(32);

    let n = fast.len() / STEP * STEP;
    let mut done = 0;
    while done < n {
        let idx = &fast[done..done + STEP];
        let mut at = [0usize; STEP];
        let mut past_end = false;
        for (a, &q) in at.iter_mut().zip(idx) {
            let i = q as usize * CN;
            past_end |= i > limit && i <= last;
            *a = i.min(limit);
        }
        if past_end {
            break;
        }
        let t0 = avx2._mm256_shuffle_epi8(quad(simd, top, &at[..4]), pairs);
        let t1 = avx2._mm256_shuffle_epi8(quad(simd, top, &at[4..]), pairs);
        let b0 = avx2._mm256_shuffle_epi8(quad(simd, bottom, &at[..4]), pairs);
        let b1 = avx2._mm256_shuffle_epi8(quad(simd, bottom, &at[4..]), pairs);

        let f: [u16; STEP] = frac[done..done + STEP].try_into().expect("8 fractions");
        let f: __m128i = pulp::cast(f);
        let fx = sse2._mm_and_si128(f, low_byte);
        let fy = sse2._mm_srli_epi16::<8>(f);
        // (32 - fx, fx) as the bytes of a 16-bit lane; (32 - fy, fy) as 16-bit halves.
        let wx = sse2._mm_or_si128(
            sse2._mm_slli_epi16::<8>(fx),
            sse2._mm_sub_epi16(thirty_two, fx),
        );
        let wy_lo = sse2._mm_unpacklo_epi16(sse2._mm_sub_epi16(thirty_two, fy), fy);
        let wy_hi = sse2._mm_unpackhi_epi16(sse2._mm_sub_epi16(thirty_two, fy), fy);
        let wx0 = avx2._mm256_shuffle_epi8(avx2._mm256_cvtepu16_epi64(wx), spread_x);
        let wx1 = avx2._mm256_shuffle_epi8(
            avx2._mm256_cvtepu16_epi64(sse2._mm_srli_si128::<8>(wx)),
            spread_x,
        );

        let a0 = avx2._mm256_maddubs_epi16(t0, wx0);
        let a1 = avx2._mm256_maddubs_epi16(t1, wx1);
        let c0 = avx2._mm256_maddubs_epi16(b0, wx0);
        let c1 = avx2._mm256_maddubs_epi16(b1, wx1);

        let spread = [spread_even, spread_odd];
        let p0 = blend(simd, a0, c0, wy_lo, spread, round);
        let p1 = blend(simd, a1, c1, wy_hi, spread, round);
        // 8-byte groups: pixels 0-1, 4-5, 2-3, 6-7; put them in order.
        let bytes =
            avx2._mm256_permute4x64_epi64::<0b11_01_10_00>(avx2._mm256_packus_epi16(p0, p1));
        let o = &mut out[done * CN..(done + STEP) * CN];
        if CN == 4 {
            let b: [u8; 32] = pulp::cast(bytes);
            o.copy_from_slice(&b);
        } else {
            let b: [u8; 32] = pulp::cast(avx2._mm256_shuffle_epi8(bytes, pack3));
            o[..12].copy_from_slice(&b[..12]);
            o[12..].copy_from_slice(&b[16..28]);
        }
        done += STEP;
    }
    done
}
