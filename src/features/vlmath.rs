//! VLFeat's fast single-precision approximations, reproduced bit for bit because dense SIFT's
//! parity with VLFeat depends on them: `vl_fast_resqrt_f` (the `0x5f3759df` initial guess and
//! two Newton steps), `vl_fast_sqrt_f` (`0` below `1e-8`, else `x · rsqrt(x)`) and
//! `vl_fast_atan2_f` (a rational approximation with a maximum error of about 0.0061 rad);
//! and the two routines dense SIFT and the scale-space keypoints share: VLFeat's descriptor
//! normalisation and MATLAB `vl_imsmooth`'s Gaussian smoothing.

use crate::vecops; // sum_sq: the sequential 8-lane order of the VLFeat parity tests

/// `FLT_EPSILON`, VLFeat's guard in normalisations and kernel widths.
const EPS_F: f32 = f32::EPSILON;

/// VLFeat's `vl_fast_resqrt_f`: `0x5f3759df` initial guess and two Newton steps.
#[inline]
pub fn fast_rsqrt(x: f32) -> f32 {
    let xhalf = 0.5 * x;
    let mut y = f32::from_bits((0x5f37_59df_i32 - ((x.to_bits() as i32) >> 1)) as u32);
    y *= 1.5 - xhalf * y * y;
    y *= 1.5 - xhalf * y * y;
    y
}

/// VLFeat's `vl_fast_sqrt_f`: 0 below 1e-8, else `x · fast_rsqrt(x)`.
#[inline]
pub fn fast_sqrt(x: f32) -> f32 {
    // `x < 1e-8` in double precision, as in C; for a float x that is `x <= 1e-8f32`.
    if x <= 1e-8_f32 {
        0.0
    } else {
        x * fast_rsqrt(x)
    }
}

/// VLFeat's `vl_fast_atan2_f`: a rational approximation of `atan2(y, x)` with a maximum
/// error of about 0.0061 rad.
#[inline]
pub fn fast_atan2(y: f32, x: f32) -> f32 {
    const C3: f32 = 0.1821;
    const C1: f32 = 0.9675;
    let abs_y = y.abs() + f32::EPSILON;
    // Written as selects (no branches) so that loops over pixels vectorise.
    let pos = x >= 0.0;
    let num = if pos { x - abs_y } else { x + abs_y };
    let den = if pos { x + abs_y } else { abs_y - x };
    let base = if pos {
        std::f32::consts::FRAC_PI_4
    } else {
        (3.0 * std::f64::consts::FRAC_PI_4) as f32
    };
    let r = num / den;
    let angle = base + (C3 * r * r - C1) * r;
    if y < 0.0 { -angle } else { angle }
}

/// VLFeat's SIFT normalisation: L2 (fast sqrt + FLT_EPSILON), clamp at 0.2, L2 again.
pub(crate) fn normalize_sift(d: &mut [f32]) {
    let n = fast_sqrt(vecops::sum_sq(d)) + EPS_F;
    for v in d.iter_mut() {
        *v = (*v / n).min(0.2);
    }
    let n = fast_sqrt(vecops::sum_sq(d)) + EPS_F;
    for v in d.iter_mut() {
        *v /= n;
    }
}

/// Gaussian smoothing as MATLAB `vl_imsmooth`: normalised kernel of half-width `ceil(4σ)`,
/// edge-replicating padding, columns first, then rows.
pub(crate) fn smooth(
    src: &[f32],
    w: usize,
    h: usize,
    sigma: f32,
    dst: &mut Vec<f32>,
    tmp: &mut Vec<f32>,
) {
    let hw = (4.0 * sigma as f64).ceil() as usize;
    let mut k: Vec<f32> = (0..2 * hw + 1)
        .map(|j| {
            let z = (j as f32 - hw as f32) / (sigma + EPS_F);
            (-0.5 * (z * z) as f64).exp() as f32
        })
        .collect();
    let total: f32 = k.iter().sum();
    for v in &mut k {
        *v /= total;
    }
    // Columns: tmp row y = Σ_j k[j] src[clamp(y + j - hw)].
    tmp.clear();
    tmp.resize(w * h, 0.0);
    for y in 0..h {
        let out = &mut tmp[y * w..][..w];
        for (j, &kj) in k.iter().enumerate() {
            let yy = (y + j).saturating_sub(hw).min(h - 1);
            let r = &src[yy * w..][..w];
            for x in 0..w {
                out[x] += kj * r[x];
            }
        }
    }
    // Rows, through a padded copy of each row.
    dst.clear();
    dst.resize(w * h, 0.0);
    let mut padded = vec![0f32; w + 2 * hw];
    for y in 0..h {
        let r = &tmp[y * w..][..w];
        padded[..hw].fill(r[0]);
        padded[hw..hw + w].copy_from_slice(r);
        padded[hw + w..].fill(r[w - 1]);
        let out = &mut dst[y * w..][..w];
        for (j, &kj) in k.iter().enumerate() {
            let p = &padded[j..j + w];
            for x in 0..w {
                out[x] += kj * p[x];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_atan2_and_sqrt_are_close_to_exact() {
        let mut worst = 0f32;
        for i in 0..2000 {
            let a = (i as f32 / 1000.0 - 1.0) * std::f32::consts::PI;
            for r in [1e-3f32, 0.5, 7.0] {
                let (y, x) = (r * a.sin(), r * a.cos());
                let e = (fast_atan2(y, x) - y.atan2(x)).abs();
                worst = worst.max(e.min((e - 2.0 * std::f32::consts::PI).abs()));
            }
        }
        assert!(worst < 0.0065 && worst > 0.003, "max error {worst}");
        for x in [1e-7f32, 0.01, 1.0, 2.0, 123.0] {
            assert!((fast_sqrt(x) - x.sqrt()).abs() <= 1e-5 * x.sqrt());
        }
        assert_eq!(fast_sqrt(5e-9), 0.0);
        // The C comparison `x < 1e-8` is done in double precision.
        let c = 1e-8_f32;
        for v in [
            c,
            f32::from_bits(c.to_bits() + 1),
            f32::from_bits(c.to_bits() - 1),
        ] {
            assert_eq!(fast_sqrt(v) == 0.0, (v as f64) < 1e-8, "{v:e}");
        }
    }
}
