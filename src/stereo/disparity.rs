//! From costs to a disparity map: winner-takes-all with OpenCV's uniqueness ratio, parabola
//! sub-pixel refinement, the left-right consistency check, the 3x3 median, the speckle
//! filter (`cv::filterSpeckles`) and an optional hole filling. Invalid pixels are NaN.
//!
//! For the pixel at column `x` the candidates are `d = 0..=min(D - 1, x)` (a larger
//! disparity would look left of the right image). With `c` the costs (lower is better)
//! and `d*` the minimum (the first one on ties):
//! - uniqueness (OpenCV's `uniquenessRatio` `u`, in percent): invalid when some `d` with
//!   `|d - d*| > 1` has `c(d) · (100 - u) < c(d*) · 100`;
//! - sub-pixel: `d* + (c(d*-1) - c(d*+1)) / (2 (c(d*-1) + c(d*+1) - 2 c(d*)))` when both
//!   neighbours exist and the denominator is positive;
//! - left-right check: the right image's disparity at `xr` is the minimum over `d` of
//!   `c(xr + d, d)` (from the same costs); the left pixel is invalid when
//!   `|d* - d_R(x - d*)| > max_diff` (OpenCV's `disp12MaxDiff`, which SGBM sets to 1 when
//!   given 0).
//!
//! After all rows: a 3x3 median of the valid neighbours of each valid pixel (OpenCV's SGBM
//! applies `medianBlur(3)`), then the speckle filter: 4-connected regions of valid pixels
//! whose neighbours differ by at most `speckle_range` are marked invalid when they have at
//! most `speckle_window` pixels; then, if asked, each invalid pixel takes the smaller of the
//! nearest valid disparities to its left and right on its row (the background side).

use crate::error::{Error, Result};

/// A dense disparity map: `d = x_left - x_right` in pixels, NaN where invalid.
#[derive(Clone, Debug, PartialEq)]
pub struct DisparityMap {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major disparities, NaN = invalid.
    pub data: Vec<f32>,
}

impl DisparityMap {
    /// Wraps row-major data, checking its length.
    pub fn new(width: usize, height: usize, data: Vec<f32>) -> Result<Self> {
        if width == 0 || height == 0 || width.checked_mul(height) != Some(data.len()) {
            return Err(Error::DimensionMismatch {
                what: "disparity map",
                expected: width.saturating_mul(height),
                found: data.len(),
            });
        }
        if data.iter().any(|v| v.is_infinite() || *v < 0.0) {
            return Err(Error::param(
                "disparity",
                "disparities must be finite and non-negative (NaN marks invalid pixels)",
            ));
        }
        Ok(DisparityMap {
            width,
            height,
            data,
        })
    }

    /// Disparity at `(x, y)` (NaN when invalid).
    pub fn get(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }

    /// Fraction of pixels with a valid disparity.
    pub fn density(&self) -> f64 {
        self.data.iter().filter(|v| !v.is_nan()).count() as f64 / self.data.len() as f64
    }

    /// The largest valid disparity (0 when there is none).
    pub fn max_valid(&self) -> f32 {
        self.data
            .iter()
            .filter(|v| !v.is_nan())
            .fold(0.0f32, |a, &b| a.max(b))
    }
}

/// What the row-level selection needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SelectSettings {
    pub(crate) uniqueness: f32,
    pub(crate) subpixel: bool,
    pub(crate) lr_check: bool,
    pub(crate) lr_max_diff: u32,
}

/// A cost value: `u16` (SGM sums) or `f32` (window costs).
pub(crate) trait CostValue: Copy + PartialOrd + Into<f64> {
    /// Larger than every cost.
    const WORST: Self;
}

impl CostValue for u16 {
    const WORST: u16 = u16::MAX;
}

impl CostValue for f32 {
    const WORST: f32 = f32::INFINITY;
}

/// Lanes of the explicit vector loops.
const LANES: usize = 16;

/// The smallest value of a slice (`WORST` when empty), in a form that vectorises: one
/// running minimum per lane, the tail padded with `WORST`, then the lanes halved (the
/// minimum is exact, so the order does not matter).
#[inline(always)]
fn min_of<T: CostValue>(c: &[T]) -> T {
    let mut lanes = [T::WORST; LANES];
    let mut blocks = c.chunks_exact(LANES);
    for b in &mut blocks {
        for (m, &v) in lanes.iter_mut().zip(b) {
            *m = if v < *m { v } else { *m };
        }
    }
    let rem = blocks.remainder();
    let mut tail = [T::WORST; LANES];
    tail[..rem.len()].copy_from_slice(rem);
    for (m, &v) in lanes.iter_mut().zip(&tail) {
        *m = if v < *m { v } else { *m };
    }
    let mut half = LANES / 2;
    while half > 0 {
        for i in 0..half {
            let v = lanes[i + half];
            lanes[i] = if v < lanes[i] { v } else { lanes[i] };
        }
        half /= 2;
    }
    lanes[0]
}

/// The first index of `v` in `c`, looking at blocks of [`LANES`] values at a time.
#[inline(always)]
fn first_index<T: CostValue>(c: &[T], v: T) -> Option<usize> {
    let mut start = 0;
    for b in c.chunks(LANES) {
        if b.iter().fold(false, |hit, &x| hit | (x == v)) {
            return b.iter().position(|&x| x == v).map(|i| start + i);
        }
        start += b.len();
    }
    None
}

/// Winner-takes-all over one row of costs `[x][d]` with the uniqueness test, sub-pixel
/// refinement and the left-right check; writes `out` (NaN where invalid). `valid[x]`
/// false (no texture) marks the pixel invalid up front. Runs in the AVX2 context when the
/// CPU has it (same results).
pub(crate) fn select_row<T: CostValue>(
    costs: &[T],
    dn: usize,
    s: SelectSettings,
    valid: &[bool],
    out: &mut [f32],
) {
    struct Select<'a, T> {
        costs: &'a [T],
        dn: usize,
        s: SelectSettings,
        valid: &'a [bool],
        out: &'a mut [f32],
    }
    impl<T: CostValue> crate::simd::Kernel for Select<'_, T> {
        type Output = ();
        #[inline(always)]
        fn run(self) {
            select_row_in(self.costs, self.dn, self.s, self.valid, self.out)
        }
    }
    let kernel = Select {
        costs,
        dn,
        s,
        valid,
        out,
    };
    crate::simd::dispatch(crate::simd::v3(false), kernel)
}

#[inline(always)]
fn select_row_in<T: CostValue>(
    costs: &[T],
    dn: usize,
    s: SelectSettings,
    valid: &[bool],
    out: &mut [f32],
) {
    let w = out.len();
    let mut best = vec![u16::MAX; w];
    // Right disparities through reversed indexing j = (w - 1) - xr = (w - 1 - x) + d.
    let (mut rmin, mut rarg) = if s.lr_check {
        (vec![T::WORST; w + dn], vec![u16::MAX; w + dn])
    } else {
        (Vec::new(), Vec::new())
    };
    let keep = f64::from(100.0 - s.uniqueness);
    for x in 0..w {
        let n = dn.min(x + 1);
        let c = &costs[x * dn..x * dn + n];
        if s.lr_check {
            let j = w - 1 - x;
            let (rm, ra) = (&mut rmin[j..j + n], &mut rarg[j..j + n]);
            // Blocks of lanes worked on in local arrays, so that it vectorises.
            let mut d0 = 0;
            for ((cb, rb), ab) in c
                .chunks(LANES)
                .zip(rm.chunks_mut(LANES))
                .zip(ra.chunks_mut(LANES))
            {
                if let (Ok(cb), Ok(rb), Ok(ab)) = (
                    <&[T; LANES]>::try_from(cb),
                    <&mut [T; LANES]>::try_from(&mut *rb),
                    <&mut [u16; LANES]>::try_from(&mut *ab),
                ) {
                    let (mut m, mut a) = (*rb, *ab);
                    for l in 0..LANES {
                        let lt = cb[l] < m[l];
                        m[l] = if lt { cb[l] } else { m[l] };
                        a[l] = if lt { (d0 + l) as u16 } else { a[l] };
                    }
                    (*rb, *ab) = (m, a);
                } else {
                    for (l, ((&v, m), a)) in cb.iter().zip(rb).zip(ab).enumerate() {
                        if v < *m {
                            (*m, *a) = (v, (d0 + l) as u16);
                        }
                    }
                }
                d0 += LANES;
            }
        }
        out[x] = f32::NAN;
        if !valid[x] {
            continue;
        }
        let bv = min_of(c);
        let Some(bd) = first_index(c, bv) else {
            continue;
        };
        let bvf: f64 = bv.into();
        if s.uniqueness > 0.0 {
            let second = min_of(&c[..bd.saturating_sub(1)]);
            let second = if bd + 2 < n {
                let r = min_of(&c[bd + 2..]);
                if r < second { r } else { second }
            } else {
                second
            };
            if second.into() * keep < bvf * 100.0 {
                continue;
            }
        }
        best[x] = bd as u16;
        let mut disp = bd as f64;
        if s.subpixel && bd > 0 && bd + 1 < n {
            let (a, b): (f64, f64) = (c[bd - 1].into(), c[bd + 1].into());
            let denom = a + b - 2.0 * bvf;
            if denom > 0.0 {
                disp += (a - b) / (2.0 * denom);
            }
        }
        out[x] = disp as f32;
    }
    if s.lr_check {
        for x in 0..w {
            if best[x] == u16::MAX {
                continue;
            }
            let xr = x - usize::from(best[x]);
            let dr = rarg[w - 1 - xr];
            if dr == u16::MAX || u32::from(dr.abs_diff(best[x])) > s.lr_max_diff {
                out[x] = f32::NAN;
            }
        }
    }
}

/// 3x3 median of the valid values around each valid pixel (the pixel itself included).
/// Rows run in parallel (each reads the unfiltered map only); inside a row, runs of
/// [`MEDIAN_LANES`] pixels whose windows are all valid go through the exchange network as
/// lanes, the others one by one.
pub fn median3(map: &mut DisparityMap) {
    use rayon::prelude::*;
    let (w, h) = (map.width, map.height);
    let src = map.data.clone();
    map.data.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let mut x = 0;
        if y >= 1 && y + 1 < h && w >= MEDIAN_LANES + 2 {
            let rows = [
                &src[(y - 1) * w..y * w],
                &src[y * w..(y + 1) * w],
                &src[(y + 1) * w..(y + 2) * w],
            ];
            row[0] = median_at(&src, w, h, 0, y);
            x = 1;
            while x + MEDIAN_LANES < w {
                let mut p = [[0f32; MEDIAN_LANES]; 9];
                let mut invalid = [false; MEDIAN_LANES];
                for (k, lanes) in p.iter_mut().enumerate() {
                    let from = &rows[k / 3][x - 1 + k % 3..][..MEDIAN_LANES];
                    lanes.copy_from_slice(from);
                    for (bad, v) in invalid.iter_mut().zip(from) {
                        *bad |= v.is_nan();
                    }
                }
                let med = median9_lanes(p);
                for (l, out) in row[x..x + MEDIAN_LANES].iter_mut().enumerate() {
                    *out = if invalid[l] {
                        median_at(&src, w, h, x + l, y)
                    } else {
                        med[l]
                    };
                }
                x += MEDIAN_LANES;
            }
        }
        for (xx, out) in row.iter_mut().enumerate().skip(x) {
            *out = median_at(&src, w, h, xx, y);
        }
    });
}

/// Pixels per lane group of [`median3`].
const MEDIAN_LANES: usize = 8;

/// The 3x3 median of the valid values around `(x, y)` of the `w x h` map `src`, NaN where
/// `(x, y)` itself is invalid.
fn median_at(src: &[f32], w: usize, h: usize, x: usize, y: usize) -> f32 {
    if src[y * w + x].is_nan() {
        return f32::NAN;
    }
    let mut window = [0f32; 9];
    let mut n = 0;
    for yy in y.saturating_sub(1)..(y + 2).min(h) {
        for xx in x.saturating_sub(1)..(x + 2).min(w) {
            let v = src[yy * w + xx];
            if !v.is_nan() {
                window[n] = v;
                n += 1;
            }
        }
    }
    if n == 9 {
        return median9(window);
    }
    let win = &mut window[..n];
    win.sort_unstable_by(f32::total_cmp);
    win[n / 2]
}

/// The median of nine values (none NaN) by Paeth's exchange network (19 exchanges).
fn median9(p: [f32; 9]) -> f32 {
    median9_lanes(p.map(|v| [v]))[0]
}

/// [`median9`] on `L` independent lanes: every exchange is a min and a max, without
/// branches, so the lanes vectorise.
#[inline(always)]
fn median9_lanes<const L: usize>(mut p: [[f32; L]; 9]) -> [f32; L] {
    const NETWORK: [(usize, usize); 19] = [
        (1, 2),
        (4, 5),
        (7, 8),
        (0, 1),
        (3, 4),
        (6, 7),
        (1, 2),
        (4, 5),
        (7, 8),
        (0, 3),
        (5, 8),
        (4, 7),
        (3, 6),
        (1, 4),
        (2, 5),
        (4, 7),
        (4, 2),
        (6, 4),
        (4, 2),
    ];
    for (a, b) in NETWORK {
        let (lo, hi) = (p[a], p[b]);
        for l in 0..L {
            p[a][l] = lo[l].min(hi[l]);
            p[b][l] = lo[l].max(hi[l]);
        }
    }
    p[4]
}

/// `cv::filterSpeckles`: 4-connected regions of valid pixels whose neighbours differ by at
/// most `max_diff` are marked invalid when they have at most `max_size` pixels.
pub fn filter_speckles(map: &mut DisparityMap, max_size: usize, max_diff: f32) {
    if max_size == 0 {
        return;
    }
    let (w, h) = (map.width, map.height);
    let mut label = vec![0u32; w * h];
    let mut stack = Vec::new();
    let mut region = Vec::new();
    let mut next = 0u32;
    for start in 0..w * h {
        if label[start] != 0 || map.data[start].is_nan() {
            continue;
        }
        next += 1;
        label[start] = next;
        stack.push(start);
        region.clear();
        while let Some(p) = stack.pop() {
            region.push(p);
            let (x, y) = (p % w, p / w);
            let v = map.data[p];
            let mut visit = |q: usize| {
                let u = map.data[q];
                if label[q] == 0 && !u.is_nan() && (u - v).abs() <= max_diff {
                    label[q] = next;
                    stack.push(q);
                }
            };
            if x > 0 {
                visit(p - 1);
            }
            if x + 1 < w {
                visit(p + 1);
            }
            if y > 0 {
                visit(p - w);
            }
            if y + 1 < h {
                visit(p + w);
            }
        }
        if region.len() <= max_size {
            for &p in &region {
                map.data[p] = f32::NAN;
            }
        }
    }
}

/// Fills each invalid pixel with the smaller of the nearest valid disparities on its row
/// (left and right); rows without any valid pixel stay invalid.
pub fn fill_holes(map: &mut DisparityMap) {
    let w = map.width;
    for row in map.data.chunks_exact_mut(w) {
        let mut left = vec![f32::NAN; w];
        let mut last = f32::NAN;
        for x in 0..w {
            if !row[x].is_nan() {
                last = row[x];
            }
            left[x] = last;
        }
        let mut right = f32::NAN;
        for x in (0..w).rev() {
            if !row[x].is_nan() {
                right = row[x];
                continue;
            }
            row[x] = match (left[x].is_nan(), right.is_nan()) {
                (false, false) => left[x].min(right),
                (false, true) => left[x],
                (true, false) => right,
                (true, true) => f32::NAN,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SelectSettings {
        SelectSettings {
            uniqueness: 10.0,
            subpixel: true,
            lr_check: false,
            lr_max_diff: 1,
        }
    }

    #[test]
    fn wta_parabola_and_uniqueness() {
        // One pixel at x = 4 (5 candidates): costs 9 4 1 3 9 -> d* = 2,
        // offset (4 - 3) / (2 (4 + 3 - 2)) = 0.1.
        let dn = 5;
        let mut costs = vec![100u16; 5 * dn];
        costs[4 * dn..].copy_from_slice(&[9, 4, 1, 3, 9]);
        let mut out = vec![0f32; 5];
        select_row(&costs, dn, settings(), &[true; 5], &mut out);
        assert!((out[4] - 2.1).abs() < 1e-6, "{}", out[4]);
        // A second minimum two steps away within 10 %: not unique.
        costs[4 * dn..].copy_from_slice(&[1, 4, 1, 3, 9]);
        select_row(&costs, dn, settings(), &[true; 5], &mut out);
        assert!(out[4].is_nan());
    }

    /// The selection written plainly: scans for the minimum, its first index, the
    /// smallest cost at least 2 disparities away, the parabola, and the right image's
    /// disparities by a scan of every left pixel that can match each right pixel.
    fn naive_select<T: CostValue>(costs: &[T], dn: usize, s: SelectSettings, out: &mut [f32]) {
        let w = out.len();
        let cost = |x: usize, d: usize| costs[x * dn + d];
        let mut best = vec![None; w];
        for x in 0..w {
            out[x] = f32::NAN;
            let n = dn.min(x + 1);
            let bd = (0..n).fold(0, |b, d| if cost(x, d) < cost(x, b) { d } else { b });
            let bv: f64 = cost(x, bd).into();
            let second = (0..n)
                .filter(|&d| d.abs_diff(bd) > 1)
                .map(|d| cost(x, d).into())
                .fold(f64::INFINITY, f64::min);
            if s.uniqueness > 0.0 && second * f64::from(100.0 - s.uniqueness) < bv * 100.0 {
                continue;
            }
            best[x] = Some(bd);
            let mut disp = bd as f64;
            if s.subpixel && bd > 0 && bd + 1 < n {
                let (a, b): (f64, f64) = (cost(x, bd - 1).into(), cost(x, bd + 1).into());
                if a + b - 2.0 * bv > 0.0 {
                    disp += (a - b) / (2.0 * (a + b - 2.0 * bv));
                }
            }
            out[x] = disp as f32;
        }
        if s.lr_check {
            for x in 0..w {
                let Some(bd) = best[x] else { continue };
                let xr = x - bd;
                // Right pixel xr: the smallest cost over the left pixels xr + d, first d.
                let dr = (0..dn.min(w - xr)).fold(0, |b, d| {
                    if cost(xr + d, d) < cost(xr + b, b) {
                        d
                    } else {
                        b
                    }
                });
                if dr.abs_diff(bd) as u32 > s.lr_max_diff {
                    out[x] = f32::NAN;
                }
            }
        }
    }

    #[test]
    fn selection_equals_the_plain_scans() {
        let mut r = 5u64;
        let mut next = |k: u64| {
            r = r
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (r >> 33) % k
        };
        for (w, dn) in [(1, 1), (7, 3), (20, 16), (40, 17), (50, 40)] {
            for round in 0..20 {
                // Few distinct values, so that ties and near-ties are common.
                let costs: Vec<u16> = (0..w * dn).map(|_| next(12) as u16 * 3 + 1).collect();
                let s = SelectSettings {
                    uniqueness: [0.0, 10.0, 30.0][round % 3],
                    subpixel: round % 2 == 0,
                    lr_check: round % 4 < 2,
                    lr_max_diff: 1,
                };
                let (mut got, mut want) = (vec![0f32; w], vec![0f32; w]);
                select_row(&costs, dn, s, &vec![true; w], &mut got);
                naive_select(&costs, dn, s, &mut want);
                let same = |a: &[f32], b: &[f32]| {
                    a.iter()
                        .zip(b)
                        .all(|(p, q)| p == q || (p.is_nan() && q.is_nan()))
                };
                assert!(same(&got, &want), "u16 {w}x{dn} {s:?}\n{got:?}\n{want:?}");
                let costs: Vec<f32> = costs.iter().map(|&c| f32::from(c) * 0.25).collect();
                select_row(&costs, dn, s, &vec![true; w], &mut got);
                naive_select(&costs, dn, s, &mut want);
                assert!(same(&got, &want), "f32 {w}x{dn} {s:?}");
            }
        }
    }

    #[test]
    fn median9_equals_the_sorted_middle() {
        let mut s = 7u64;
        for _ in 0..2000 {
            let mut v = [0f32; 9];
            for x in &mut v {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // Few distinct values, so that ties are common.
                *x = ((s >> 33) % 6) as f32 * 0.5;
            }
            let mut sorted = v;
            sorted.sort_by(f32::total_cmp);
            assert_eq!(median9(v), sorted[4], "{v:?}");
        }
    }

    #[test]
    fn median3_equals_the_sorted_middle_of_each_window() {
        let mut s = 11u64;
        for (w, h) in [(1, 1), (3, 2), (9, 3), (10, 4), (27, 6)] {
            let data: Vec<f32> = (0..w * h)
                .map(|_| {
                    s = s
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let r = (s >> 33) % 10;
                    if r == 0 { f32::NAN } else { r as f32 * 0.75 }
                })
                .collect();
            let mut map = DisparityMap {
                width: w,
                height: h,
                data: data.clone(),
            };
            median3(&mut map);
            for y in 0..h {
                for x in 0..w {
                    let mut win: Vec<f32> = (y.saturating_sub(1)..(y + 2).min(h))
                        .flat_map(|yy| {
                            (x.saturating_sub(1)..(x + 2).min(w)).map(move |xx| (xx, yy))
                        })
                        .map(|(xx, yy)| data[yy * w + xx])
                        .filter(|v| !v.is_nan())
                        .collect();
                    win.sort_by(f32::total_cmp);
                    let want = if data[y * w + x].is_nan() {
                        f32::NAN
                    } else {
                        win[win.len() / 2]
                    };
                    let got = map.data[y * w + x];
                    assert!(
                        got == want || (got.is_nan() && want.is_nan()),
                        "{w}x{h} ({x}, {y})"
                    );
                }
            }
        }
    }

    #[test]
    fn speckles_of_at_most_the_window_go() {
        let nan = f32::NAN;
        #[rustfmt::skip]
        let data = vec![
            5.0, 5.0, 5.0, 9.0,
            5.0, 5.5, 5.0, 9.0,
            5.0, 5.0, nan, 1.0,
        ];
        let mut m = DisparityMap::new(4, 3, data).unwrap();
        filter_speckles(&mut m, 2, 1.0);
        assert_eq!(m.data.iter().filter(|v| v.is_nan()).count(), 4);
        assert_eq!(m.get(1, 1), 5.5);
        assert!(m.get(3, 0).is_nan() && m.get(3, 2).is_nan());
    }

    #[test]
    fn holes_take_the_background_side() {
        let nan = f32::NAN;
        let mut m = DisparityMap::new(5, 1, vec![nan, 7.0, nan, 3.0, nan]).unwrap();
        fill_holes(&mut m);
        assert_eq!(m.data, vec![7.0, 7.0, 3.0, 3.0, 3.0]);
    }
}
