//! The AVX2 kernels of the lane scan (beside `lanes.rs`, whose portable kernels they
//! mirror: the same integer and floating-point operations in the same order, so the same
//! results bit for bit; the tests compare them).
//!
//! Everything here is `#[inline(always)]` and runs inside the pulp AVX2+FMA context that
//! [`crate::simd::dispatch`] opens around the stripe scan: a function that is not inlined
//! there would be compiled without AVX2 and called through a slow boundary. Closures are
//! avoided for the same reason (they are not always inlined into the context).

use std::arch::x86_64::{__m128, __m128i, __m256d};

use pulp::{f32x4, f32x8, f64x4, i32x8, u32x8};

use crate::detect::lanes::{LANES, lane_offsets, lanes_at};
use crate::detect::program::{CompactStump, FixedStage, WINDOW_SLICE};
use crate::simd::V3;

/// The tables at entry `o + j` for lanes `j`, as an AVX2 vector.
#[inline(always)]
fn lane_v3(t: &[i32; WINDOW_SLICE + LANES], o: usize) -> i32x8 {
    pulp::cast(*lanes_at(t, o))
}

/// One rectangle sum `a - b - c + d` per lane, AVX2 (corner offsets `o[0..4]`). A plain
/// function, not a closure: closures are not always inlined into the AVX2 context.
#[inline(always)]
fn lane_rect_v3(simd: V3, t: &[i32; WINDOW_SLICE + LANES], o: &[usize]) -> i32x8 {
    let (a, b) = (lane_v3(t, o[0]), lane_v3(t, o[1]));
    let (c, d) = (lane_v3(t, o[2]), lane_v3(t, o[3]));
    simd.wrapping_add_i32x8(simd.wrapping_sub_i32x8(simd.wrapping_sub_i32x8(a, b), c), d)
}

/// `w * r` per lane for [`lane_feature_v3`]: additions when `W` is 2 or 3.
#[inline(always)]
fn times_v3<const W: i32>(simd: V3, w: i32x8, r: i32x8) -> i32x8 {
    match W {
        2 => simd.wrapping_add_i32x8(r, r),
        3 => simd.wrapping_add_i32x8(simd.wrapping_add_i32x8(r, r), r),
        _ => simd.wrapping_mul_i32x8(w, r),
    }
}

/// [`lane_feature`](crate::detect::lanes::lane_feature) with AVX2 vectors (same operations).
#[inline(always)]
fn lane_feature_v3<const THREE: bool, const NEG: bool, const W: i32, const SHAPE: u8>(
    simd: V3,
    t: &[i32; WINDOW_SLICE + LANES],
    o: &[usize; 12],
    w: &[i32x8; 3],
) -> f32x8 {
    if SHAPE != 0 {
        let (add, sub) = (V3::wrapping_add_i32x8, V3::wrapping_sub_i32x8);
        let r = if SHAPE == 1 {
            let d = sub(simd, lane_v3(t, o[4]), lane_v3(t, o[5]));
            let s1 = sub(
                simd,
                sub(
                    simd,
                    add(simd, lane_v3(t, o[0]), lane_v3(t, o[1])),
                    lane_v3(t, o[2]),
                ),
                lane_v3(t, o[3]),
            );
            add(simd, s1, add(simd, d, d))
        } else {
            let a = add(
                simd,
                add(simd, lane_v3(t, o[0]), lane_v3(t, o[1])),
                add(simd, lane_v3(t, o[2]), lane_v3(t, o[3])),
            );
            let b = add(
                simd,
                add(simd, lane_v3(t, o[4]), lane_v3(t, o[5])),
                add(simd, lane_v3(t, o[6]), lane_v3(t, o[7])),
            );
            let c = lane_v3(t, o[8]);
            let (b2, c2) = (add(simd, b, b), add(simd, c, c));
            let c4 = add(simd, c2, c2);
            if SHAPE == 3 {
                sub(simd, sub(simd, b2, a), c4)
            } else {
                add(simd, sub(simd, a, b2), c4)
            }
        };
        return simd.convert_i32x8_to_f32x8(r);
    }
    let mut v = times_v3::<W>(simd, w[1], lane_rect_v3(simd, t, &o[4..8]));
    if THREE {
        let r2 = lane_rect_v3(simd, t, &o[8..12]);
        v = simd.wrapping_add_i32x8(v, times_v3::<W>(simd, w[2], r2));
    }
    let r0 = lane_rect_v3(simd, t, &o[0..4]);
    v = if NEG {
        simd.wrapping_sub_i32x8(v, r0)
    } else {
        simd.wrapping_add_i32x8(v, simd.wrapping_mul_i32x8(w[0], r0))
    };
    simd.convert_i32x8_to_f32x8(v)
}

/// [`stump_pass`](crate::detect::lanes::stump_pass) with AVX2 vectors (same operations, same order, same results).
#[inline(always)]
pub(super) fn stump_pass_v3<const THREE: bool, const NEG: bool, const W: i32, const SHAPE: u8>(
    simd: V3,
    st: &CompactStump,
    sum: &[&[i32; WINDOW_SLICE + LANES]],
    inv: &[[f32; LANES]],
    acc: &mut [[f64; LANES]],
) {
    let o = lane_offsets::<SHAPE>(st);
    let w = st.w.map(|v| simd.splat_i32x8(v));
    let (thr, left, right) = (
        simd.splat_f32x8(st.rule.thr),
        simd.splat_f32x8(st.rule.left),
        simd.splat_f32x8(st.rule.right),
    );
    for ((t, inv), acc) in sum.iter().zip(inv).zip(acc.iter_mut()) {
        let f = lane_feature_v3::<THREE, NEG, W, SHAPE>(simd, t, &o, &w);
        let v = simd.mul_f32x8(f, pulp::cast::<[f32; LANES], f32x8>(*inv));
        let leaf = simd.select_f32x8(simd.cmp_lt_f32x8(v, thr), left, right);
        let [l0, l1]: [f32x4; 2] = pulp::cast(leaf);
        let [a0, a1]: [f64x4; 2] = pulp::cast(*acc);
        *acc = pulp::cast([
            simd.add_f64x4(a0, simd.convert_f32x4_to_f64x4(l0)),
            simd.add_f64x4(a1, simd.convert_f32x4_to_f64x4(l1)),
        ]);
    }
}

/// [`stump_pass`](crate::detect::lanes::stump_pass) for a fixed-point stage with AVX2 vectors. The sums start at the
/// stage's [`FixedStage::base`] (its right leaves), so a stump adds `delta` (left leaf
/// minus right leaf, in the stage's units) where the value is below the threshold: one
/// AND instead of a select.
#[inline(always)]
pub(super) fn stump_pass_fixed_v3<
    const THREE: bool,
    const NEG: bool,
    const W: i32,
    const SHAPE: u8,
>(
    simd: V3,
    st: &CompactStump,
    delta: i32,
    sum: &[&[i32; WINDOW_SLICE + LANES]],
    inv: &[[f32; LANES]],
    acc: &mut [[i32; LANES]],
) {
    let o = lane_offsets::<SHAPE>(st);
    let w = st.w.map(|v| simd.splat_i32x8(v));
    let thr = simd.splat_f32x8(st.rule.thr);
    let delta = simd.splat_i32x8(delta);
    for ((t, inv), acc) in sum.iter().zip(inv).zip(acc.iter_mut()) {
        let f = lane_feature_v3::<THREE, NEG, W, SHAPE>(simd, t, &o, &w);
        let v = simd.mul_f32x8(f, pulp::cast::<[f32; LANES], f32x8>(*inv));
        let below: i32x8 = pulp::cast(simd.cmp_lt_f32x8(v, thr));
        let add = simd.and_i32x8(below, delta);
        *acc = pulp::cast(simd.wrapping_add_i32x8(pulp::cast(*acc), add));
    }
}

/// The lanes of fixed-point sums `acc` that pass (`>= pass`) and those in the band
/// `(reject, pass)` where the exact sum decides, as bit masks.
#[inline(always)]
pub(super) fn fixed_masks_v3(simd: V3, acc: &[i32; LANES], fx: &FixedStage) -> (u8, u8) {
    let a = simd.avx2;
    let acc = pulp::cast(*acc);
    let below_pass = a._mm256_cmpgt_epi32(simd.avx._mm256_set1_epi32(fx.pass), acc);
    let above_reject = a._mm256_cmpgt_epi32(acc, simd.avx._mm256_set1_epi32(fx.reject));
    let bits = |m| simd.avx._mm256_movemask_ps(pulp::cast(m)) as u8;
    let (below, above) = (bits(below_pass), bits(above_reject));
    (!below, above & below)
}

/// [`variance`](crate::detect::lanes::variance) with AVX2 vectors: OpenCV's rule of [`inverse_norm`](crate::detect::cascade::inverse_norm) and
/// [`variance_passes`](crate::detect::cascade::variance_passes) on each lane, vectorised with the same f64 operations, unfused, in
/// the same order (so the same bits).
#[inline(always)]
pub(super) fn variance_v3(
    simd: V3,
    s: &[i32; WINDOW_SLICE + LANES],
    q: &[u32; WINDOW_SLICE + LANES],
    c: [usize; 4],
    area: f64,
    inv: &mut [f32; LANES],
) -> u8 {
    let ss = lane_rect_v3(simd, s, &c);
    let qa: u32x8 = pulp::cast(*lanes_at(q, c[0]));
    let qb: u32x8 = pulp::cast(*lanes_at(q, c[1]));
    let qc: u32x8 = pulp::cast(*lanes_at(q, c[2]));
    let qd: u32x8 = pulp::cast(*lanes_at(q, c[3]));
    let qq = simd.wrapping_add_u32x8(
        simd.wrapping_sub_u32x8(simd.wrapping_sub_u32x8(qa, qb), qc),
        qd,
    );
    let [s0, s1]: [__m128i; 2] = pulp::cast(ss);
    let [q0, q1]: [__m128i; 2] = pulp::cast(qq);
    let (nf0, nf1) = (norm_v3(simd, s0, q0, area), norm_v3(simd, s1, q1, area));
    // A lane with nf <= 100 area^2 (1 - 1e-5) surely fails (its 1/sqrt(nf), even
    // rounded to f32, is above 0.1 / area): a block of such lanes needs no square roots.
    let x = simd.avx;
    let sure_fail = x._mm256_set1_pd(100.0 * area * area * (1.0 - 1e-5));
    let maybe0 = x._mm256_movemask_pd(x._mm256_cmp_pd::<30>(nf0, sure_fail));
    let maybe1 = x._mm256_movemask_pd(x._mm256_cmp_pd::<30>(nf1, sure_fail));
    if maybe0 | maybe1 == 0 {
        return 0;
    }
    let (i0, m0) = variance_half_v3(simd, nf0, area);
    let (i1, m1) = variance_half_v3(simd, nf1, area);
    *inv = pulp::cast([i0, i1]);
    m0 | m1 << 4
}

/// `nf = area * Q - S * S` for four lanes in f64. The sums of squares are `u32`:
/// converted as signed, plus 2^32 where the sign bit is set.
#[inline(always)]
fn norm_v3(simd: V3, s: __m128i, q: __m128i, area: f64) -> __m256d {
    let x = simd.avx;
    let (zero, area) = (x._mm256_setzero_pd(), x._mm256_set1_pd(area));
    let qs = x._mm256_cvtepi32_pd(q);
    let wrapped = x._mm256_cmp_pd::<17>(qs, zero);
    let qf = x._mm256_add_pd(qs, x._mm256_and_pd(wrapped, x._mm256_set1_pd(4294967296.0)));
    let sf = x._mm256_cvtepi32_pd(s);
    x._mm256_sub_pd(x._mm256_mul_pd(area, qf), x._mm256_mul_pd(sf, sf))
}

/// Four lanes of [`variance_v3`] from their `nf`: the `f32` inverse norms and the lanes
/// that pass.
#[inline(always)]
fn variance_half_v3(simd: V3, nf: __m256d, area: f64) -> (__m128, u8) {
    let x = simd.avx;
    let (zero, area) = (x._mm256_setzero_pd(), x._mm256_set1_pd(area));
    let inv = x._mm256_cvtpd_ps(x._mm256_div_pd(x._mm256_set1_pd(1.0), x._mm256_sqrt_pd(nf)));
    let positive = x._mm256_cmp_pd::<30>(nf, zero);
    let prod = x._mm256_mul_pd(area, x._mm256_cvtps_pd(inv));
    let small = x._mm256_cmp_pd::<17>(prod, x._mm256_set1_pd(0.1));
    (
        inv,
        x._mm256_movemask_pd(x._mm256_and_pd(positive, small)) as u8,
    )
}
