//! The cost volume (disparity space image) of a row band: the window cost of every pixel
//! of the band at every disparity `0..disparities`, laid out `[row][x][d]` (disparity
//! fastest), equal to [`window_cost`](super::cost::window_cost) for each entry.
//!
//! Window aggregation costs O(1) per pixel and disparity, whatever the window: running
//! column sums of the per-pixel terms (`|L - R|`, `(L - R)²`, `L·R`, census Hamming
//! distances) move down one row by adding the entering row's terms and subtracting the
//! leaving row's, and a running sum along the row adds the entering column and subtracts
//! the leaving one. All sums are exact integers (`u32`, wrapping arithmetic whose results
//! are in range), so the order of the additions does not matter. The inner loops run over
//! the disparities of one pixel, which are contiguous in memory (the right row is stored
//! reversed so that `R(x - d)` for increasing `d` is a forward slice); they are compiled
//! for AVX2 when the CPU has it (`simd::dispatch`), with the same integers either way.
//!
//! The correlations need per-pixel window sums of `L`, `L²` (and of the right image at the
//! shifted centre `x - d`), computed once per row; NCC and ZNCC then need one multiply per
//! entry (`1 - ΣLR · inv(L) · inv(R)`, `f32`), ZNCC its numerator in `f64`, where the sums
//! are exact.

use std::ops::Range;

use super::cost::{MatchCost, census_transform, clamp_index, correlation_cost, pixel_term};
use crate::error::{Error, Result};
use crate::image::Image;
use crate::simd::{Kernel, V3};

/// The matching problem of one rectified pair: 8-bit pixels (and census signatures),
/// the cost, the window and the disparity range. Built once, shared by the row bands.
#[derive(Debug)]
pub(crate) struct Pair {
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) disparities: usize,
    pub(crate) cost: MatchCost,
    pub(crate) window: usize,
    left: Vec<u8>,
    right: Vec<u8>,
    census: Option<(Vec<u64>, Vec<u64>)>,
    simd: Option<V3>,
}

impl Pair {
    /// Checks the two images and builds the pair. `census` is the census window
    /// `(width, height)`, used when `cost` is census.
    pub(crate) fn new(
        left: &Image,
        right: &Image,
        cost: MatchCost,
        window: usize,
        census: (usize, usize),
        disparities: usize,
    ) -> Result<Pair> {
        check_pair(left, right, disparities)?;
        let (width, height) = (left.width(), left.height());
        let (l8, r8) = (left.to_u8(), right.to_u8());
        let census = (cost == MatchCost::Census).then(|| {
            (
                census_transform(&l8, width, height, census.0, census.1),
                census_transform(&r8, width, height, census.0, census.1),
            )
        });
        Ok(Pair {
            width,
            height,
            disparities,
            cost,
            window,
            left: l8,
            right: r8,
            census,
            simd: crate::simd::v3(false),
        })
    }

    /// Uses the portable code paths (tests compare the two).
    #[cfg(test)]
    pub(crate) fn portable(mut self) -> Pair {
        self.simd = None;
        self
    }
}

/// Checks a rectified pair: same size, finite pixels, at least one disparity, and a
/// disparity range that fits in the width.
pub(crate) fn check_pair(left: &Image, right: &Image, disparities: usize) -> Result<()> {
    if left.width() != right.width() || left.height() != right.height() {
        return Err(Error::param(
            "right",
            format!(
                "the right image is {}x{} but the left one is {}x{}: a rectified pair has one size",
                right.width(),
                right.height(),
                left.width(),
                left.height()
            ),
        ));
    }
    left.check_finite()?;
    right.check_finite()?;
    if disparities == 0 || disparities > left.width() {
        return Err(Error::param(
            "max_disparity",
            format!(
                "must be in 1..={} (the image width), got {disparities}",
                left.width()
            ),
        ));
    }
    Ok(())
}

/// Per-pixel window sums of one image row: `ΣI` and `ΣI²` over the clamped window centred
/// on columns `-ext..width` (index `c + ext`).
fn box_sums_row(
    px: &[u8],
    width: usize,
    height: usize,
    r: usize,
    y: usize,
    ext: usize,
) -> (Vec<u32>, Vec<u32>) {
    let (mut col, mut colq) = (vec![0u32; width], vec![0u32; width]);
    for dy in -(r as isize)..=r as isize {
        let yy = clamp_index(y as isize + dy, height);
        for (x, &v) in px[yy * width..(yy + 1) * width].iter().enumerate() {
            col[x] += u32::from(v);
            colq[x] += u32::from(v) * u32::from(v);
        }
    }
    let (mut s, mut q) = (
        Vec::with_capacity(width + ext),
        Vec::with_capacity(width + ext),
    );
    let at = |c: isize| clamp_index(c, width);
    let (mut a, mut b) = (0u32, 0u32);
    let first = -(ext as isize);
    for m in -(r as isize)..=r as isize {
        a += col[at(first + m)];
        b += colq[at(first + m)];
    }
    s.push(a);
    q.push(b);
    for c in first + 1..width as isize {
        let (inc, out) = (at(c + r as isize), at(c - r as isize - 1));
        a = a + col[inc] - col[out];
        b = b + colq[inc] - colq[out];
        s.push(a);
        q.push(b);
    }
    (s, q)
}

/// Adds the terms of one image row to the column sums (`sign`: +1) and removes those of
/// another (`-1`), fused: `col[e][d] += f(new) - f(old)`. Rows are given as the extended
/// left row (`width + 2r` clamped columns) and the reversed right row.
struct ColumnUpdate<'a, T, F> {
    col: &'a mut [u32],
    disparities: usize,
    add: Option<(&'a [T], &'a [T])>,
    sub: Option<(&'a [T], &'a [T])>,
    term: F,
    offset: usize,
}

impl<T: Copy, F: Fn(T, T) -> u32 + Copy> Kernel for ColumnUpdate<'_, T, F> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let (dn, term, off) = (self.disparities, self.term, self.offset);
        for (e, col) in self.col.chunks_exact_mut(dn).enumerate() {
            let start = off - e;
            match (self.add, self.sub) {
                (Some((la, ra)), Some((ls, rs))) => {
                    let (lv, lo) = (la[e], ls[e]);
                    let (ra, rs) = (&ra[start..start + dn], &rs[start..start + dn]);
                    for ((c, &a), &s) in col.iter_mut().zip(ra).zip(rs) {
                        *c = c.wrapping_add(term(lv, a)).wrapping_sub(term(lo, s));
                    }
                }
                (Some((la, ra)), None) => {
                    let lv = la[e];
                    for (c, &a) in col.iter_mut().zip(&ra[start..start + dn]) {
                        *c = c.wrapping_add(term(lv, a));
                    }
                }
                _ => {}
            }
        }
    }
}

/// The running horizontal sum `a[x][d] = Σ_{e = x}^{x + 2r} col[e][d]`, handed pixel by
/// pixel to `emit(x, a[x], out[x])`; `acc` (one pixel's disparities) holds the running
/// sums.
struct HorizontalSum<'a, O, F> {
    col: &'a [u32],
    acc: &'a mut [u32],
    out: &'a mut [O],
    disparities: usize,
    span: usize,
    emit: F,
}

impl<O, F: Fn(usize, &[u32], &mut [O])> Kernel for HorizontalSum<'_, O, F> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let (dn, emit, acc) = (self.disparities, self.emit, self.acc);
        acc.fill(0);
        for e in 0..self.span {
            for (a, &c) in acc.iter_mut().zip(&self.col[e * dn..(e + 1) * dn]) {
                *a = a.wrapping_add(c);
            }
        }
        let mut outs = self.out.chunks_exact_mut(dn);
        if let Some(first) = outs.next() {
            emit(0, acc, first);
        }
        for (x, out) in outs.enumerate() {
            let inc = &self.col[(x + self.span) * dn..(x + self.span + 1) * dn];
            let dec = &self.col[x * dn..(x + 1) * dn];
            for ((a, &i), &s) in acc.iter_mut().zip(inc).zip(dec) {
                *a = a.wrapping_add(i).wrapping_sub(s);
            }
            emit(x + 1, acc, out);
        }
    }
}

/// Incremental window sums of the per-pixel terms for consecutive rows of a [`Pair`]: the
/// column sums of the current row are kept, so moving one row up or down costs one fused
/// update; any other move recomputes them.
pub(crate) struct RowSums<'a> {
    pair: &'a Pair,
    col: Vec<u32>,
    agg: Vec<u32>,
    acc: Vec<u32>,
    current: Option<usize>,
    lrows: [Vec<u8>; 2],
    rrows: [Vec<u8>; 2],
    lsig: [Vec<u64>; 2],
    rsig: [Vec<u64>; 2],
}

impl<'a> RowSums<'a> {
    pub(crate) fn new(pair: &'a Pair) -> Self {
        let ext = pair.width + pair.window - 1;
        RowSums {
            pair,
            col: vec![0; ext * pair.disparities],
            agg: vec![0; pair.width * pair.disparities],
            acc: vec![0; pair.disparities],
            current: None,
            lrows: [Vec::new(), Vec::new()],
            rrows: [Vec::new(), Vec::new()],
            lsig: [Vec::new(), Vec::new()],
            rsig: [Vec::new(), Vec::new()],
        }
    }

    /// Fills slot `k` with image row `y` (clamped): the extended left row and the
    /// reversed right row.
    fn load(&mut self, k: usize, y: isize) {
        let p = self.pair;
        let (w, r, dn) = (p.width, p.window / 2, p.disparities);
        let yy = clamp_index(y, p.height);
        let base = (w - 1 + r) as isize;
        let rev_len = w + 2 * r + dn - 1;
        let lcols = (0..w + 2 * r).map(|e| clamp_index(e as isize - r as isize, w));
        let rcols = (0..rev_len).map(|j| clamp_index(base - j as isize, w));
        if let Some((cl, cr)) = &p.census {
            let (cl, cr) = (&cl[yy * w..(yy + 1) * w], &cr[yy * w..(yy + 1) * w]);
            self.lsig[k].clear();
            self.lsig[k].extend(lcols.map(|x| cl[x]));
            self.rsig[k].clear();
            self.rsig[k].extend(rcols.map(|x| cr[x]));
        } else {
            let (l, rr) = (
                &p.left[yy * w..(yy + 1) * w],
                &p.right[yy * w..(yy + 1) * w],
            );
            self.lrows[k].clear();
            self.lrows[k].extend(lcols.map(|x| l[x]));
            self.rrows[k].clear();
            self.rrows[k].extend(rcols.map(|x| rr[x]));
        }
    }

    /// Applies the loaded rows to the column sums: slot 0 added, slot 1 subtracted when
    /// `both`.
    fn update(&mut self, both: bool) {
        let p = self.pair;
        let (dn, r) = (p.disparities, p.window / 2);
        let offset = p.width - 1 + 2 * r;
        let simd = p.simd;
        if p.census.is_some() {
            let kernel = ColumnUpdate {
                col: &mut self.col,
                disparities: dn,
                add: Some((&self.lsig[0], &self.rsig[0])),
                sub: both.then(|| (&self.lsig[1][..], &self.rsig[1][..])),
                term: |a: u64, b: u64| (a ^ b).count_ones(),
                offset,
            };
            crate::simd::dispatch(simd, kernel);
        } else {
            let add = Some((&self.lrows[0][..], &self.rrows[0][..]));
            let sub = both.then(|| (&self.lrows[1][..], &self.rrows[1][..]));
            let col = &mut self.col;
            macro_rules! run {
                ($term:expr) => {
                    crate::simd::dispatch(
                        simd,
                        ColumnUpdate {
                            col,
                            disparities: dn,
                            add,
                            sub,
                            term: $term,
                            offset,
                        },
                    )
                };
            }
            match p.cost {
                MatchCost::Sad => run!(|a, b| pixel_term(MatchCost::Sad, a, b)),
                MatchCost::Ssd => run!(|a, b| pixel_term(MatchCost::Ssd, a, b)),
                _ => run!(|a: u8, b: u8| u32::from(a) * u32::from(b)),
            }
        }
    }

    /// Moves the column sums to row `y`.
    fn column_sums(&mut self, y: usize) {
        let r = (self.pair.window / 2) as isize;
        let yi = y as isize;
        match self.current {
            Some(c) if c + 1 == y => {
                self.load(0, yi + r);
                self.load(1, yi - r - 1);
                self.update(true);
            }
            Some(c) if c == y + 1 => {
                self.load(0, yi - r);
                self.load(1, yi + r + 1);
                self.update(true);
            }
            Some(c) if c == y => {}
            _ => {
                self.col.fill(0);
                for dy in -r..=r {
                    self.load(0, yi + dy);
                    self.update(false);
                }
            }
        }
        self.current = Some(y);
    }

    /// The window sums of row `y`: `[x][d]`, `width * disparities` values.
    pub(crate) fn sums(&mut self, y: usize) -> &[u32] {
        self.column_sums(y);
        let kernel = HorizontalSum {
            col: &self.col,
            acc: &mut self.acc,
            out: &mut self.agg,
            disparities: self.pair.disparities,
            span: self.pair.window,
            emit: |_: usize, a: &[u32], o: &mut [u32]| o.copy_from_slice(a),
        };
        crate::simd::dispatch(self.pair.simd, kernel);
        &self.agg
    }

    /// The window sums of row `y` capped at `cap` as `u16` into `out` (`[x][d]`), without
    /// going through the `u32` row.
    pub(crate) fn sums_capped(&mut self, y: usize, cap: u16, out: &mut [u16]) {
        self.column_sums(y);
        let cap = u32::from(cap);
        let kernel = HorizontalSum {
            col: &self.col,
            acc: &mut self.acc,
            out,
            disparities: self.pair.disparities,
            span: self.pair.window,
            emit: move |_: usize, a: &[u32], o: &mut [u16]| {
                for (o, &v) in o.iter_mut().zip(a) {
                    *o = v.min(cap) as u16;
                }
            },
        };
        crate::simd::dispatch(self.pair.simd, kernel);
    }
}

/// Turns the window sums of one row into `f32` costs (lower is better), as
/// [`window_cost`](super::cost::window_cost) defines them.
pub(crate) struct RowCosts<'a> {
    sums: RowSums<'a>,
}

impl<'a> RowCosts<'a> {
    pub(crate) fn new(pair: &'a Pair) -> Self {
        RowCosts {
            sums: RowSums::new(pair),
        }
    }

    /// The costs of row `y` into `out` (`width * disparities`).
    pub(crate) fn row(&mut self, y: usize, out: &mut [f32]) {
        let pair = self.sums.pair;
        let (w, h, dn, r) = (pair.width, pair.height, pair.disparities, pair.window / 2);
        let cost = pair.cost;
        if !cost.is_correlation() {
            let sums = self.sums.sums(y);
            for (o, &s) in out.iter_mut().zip(sums) {
                *o = s as f32;
            }
            return;
        }
        let n = (pair.window * pair.window) as f64;
        let (sl, sll) = box_sums_row(&pair.left, w, h, r, y, 0);
        // Right sums at centres c = x - d in -(dn - 1)..w, reversed: index (w - 1) - c.
        let (mut sr, mut srr) = box_sums_row(&pair.right, w, h, r, y, dn - 1);
        sr.reverse();
        srr.reverse();
        if cost == MatchCost::Ncc {
            let inv = |q: &u32| {
                if f64::from(*q) <= 0.5 {
                    0.0
                } else {
                    (1.0 / f64::from(*q).sqrt()) as f32
                }
            };
            let invr: Vec<f32> = srr.iter().map(inv).collect();
            let invl: Vec<f32> = sll.iter().map(inv).collect();
            // The window sums go straight into the costs, pixel by pixel.
            self.sums.column_sums(y);
            let sums = &mut self.sums;
            let kernel = HorizontalSum {
                col: &sums.col,
                acc: &mut sums.acc,
                out,
                disparities: dn,
                span: pair.window,
                emit: |x: usize, a: &[u32], o: &mut [f32]| {
                    let (il, ir) = (invl[x], &invr[w - 1 - x..w - 1 - x + dn]);
                    for ((o, &p), &ir) in o.iter_mut().zip(a).zip(ir) {
                        let k = il * ir;
                        // `p < 2^31` (at most 255² · 51²), so going through `i32` (which
                        // converts in one vector instruction) gives the same `f32`.
                        *o = if k == 0.0 {
                            2.0
                        } else {
                            1.0 - p as i32 as f32 * k
                        };
                    }
                },
            };
            crate::simd::dispatch(pair.simd, kernel);
        } else {
            let sums = self.sums.sums(y);
            for x in 0..w {
                let s = &sums[x * dn..(x + 1) * dn];
                for d in 0..dn {
                    let j = w - 1 - x + d;
                    out[x * dn + d] = correlation_cost(
                        cost,
                        n,
                        f64::from(sl[x]),
                        f64::from(sr[j]),
                        f64::from(sll[x]),
                        f64::from(srr[j]),
                        f64::from(s[d]),
                    ) as f32;
                }
            }
        }
    }
}

/// The window standard deviation of the left image at every pixel of row `y`, in gray
/// levels (the texture check).
pub(crate) fn left_texture_row(pair: &Pair, window: usize, y: usize) -> Vec<f32> {
    let n = (window * window) as f64;
    let (s, q) = box_sums_row(&pair.left, pair.width, pair.height, window / 2, y, 0);
    s.iter()
        .zip(&q)
        .map(|(&s, &q)| {
            let var = (n * f64::from(q) - f64::from(s) * f64::from(s)) / (n * n);
            var.max(0.0).sqrt() as f32
        })
        .collect()
}

/// The cost volume of a band of rows.
#[derive(Clone, Debug, PartialEq)]
pub struct CostBand {
    /// The rows of the band.
    pub rows: Range<usize>,
    /// Image width.
    pub width: usize,
    /// Number of disparities (`0..disparities`).
    pub disparities: usize,
    /// Costs `[row - rows.start][x][d]`, lower is better.
    pub costs: Vec<f32>,
}

impl CostBand {
    /// The cost of pixel `(x, y)` at disparity `d`.
    pub fn get(&self, x: usize, y: usize, d: usize) -> f32 {
        self.costs[((y - self.rows.start) * self.width + x) * self.disparities + d]
    }
}

/// The window costs of every pixel of `rows` at every disparity `0..disparities`:
/// the same numbers as [`window_cost`](super::cost::window_cost), in O(1) per entry.
/// `census` is the census window (width, height) when `cost` is census.
pub fn cost_band(
    left: &Image,
    right: &Image,
    cost: MatchCost,
    window: usize,
    census: (usize, usize),
    disparities: usize,
    rows: Range<usize>,
) -> Result<CostBand> {
    super::check_window(window, cost, census)?;
    let pair = Pair::new(left, right, cost, window, census, disparities)?;
    if rows.start >= rows.end || rows.end > pair.height {
        return Err(Error::param(
            "rows",
            format!("must be a non-empty range within 0..{}", pair.height),
        ));
    }
    band_of(&pair, rows)
}

fn band_of(pair: &Pair, rows: Range<usize>) -> Result<CostBand> {
    let stride = pair.width * pair.disparities;
    let mut costs = vec![0f32; rows.len() * stride];
    let mut rc = RowCosts::new(pair);
    for (k, y) in rows.clone().enumerate() {
        rc.row(y, &mut costs[k * stride..(k + 1) * stride]);
    }
    Ok(CostBand {
        rows,
        width: pair.width,
        disparities: pair.disparities,
        costs,
    })
}

#[cfg(test)]
mod tests {
    use super::super::cost::window_cost;
    use super::*;
    use proptest::prelude::*;

    fn image(w: usize, h: usize, v: &[u8]) -> Image {
        Image::from_u8(w, h, v).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn band_equals_the_naive_window_costs(
            w in 5usize..14, h in 3usize..9, seed in any::<u64>(), k in 0usize..5,
            win in prop::sample::select(vec![1usize, 3, 5]), dn in 1usize..6,
            portable in any::<bool>(),
        ) {
            let dn = dn.min(w);
            let mut s = seed | 1;
            let mut px = |_| { s ^= s << 13; s ^= s >> 7; s ^= s << 17; (s >> 24) as u8 };
            let l: Vec<u8> = (0..w * h).map(&mut px).collect();
            let r: Vec<u8> = (0..w * h).map(&mut px).collect();
            let cost = [MatchCost::Ncc, MatchCost::Zncc, MatchCost::Sad, MatchCost::Ssd, MatchCost::Census][k];
            let (li, ri) = (image(w, h, &l), image(w, h, &r));
            let mut pair = Pair::new(&li, &ri, cost, win, (3, 3), dn).unwrap();
            if portable { pair = pair.portable(); }
            let band = band_of(&pair, 0..h).unwrap();
            let (cl, cr) = (census_transform(&l, w, h, 3, 3), census_transform(&r, w, h, 3, 3));
            // Rows visited out of order too: up, then a jump.
            let mut rc = RowCosts::new(&pair);
            let mut row = vec![0f32; w * dn];
            for y in (0..h).rev().chain([h / 2]) {
                rc.row(y, &mut row);
                for x in 0..w {
                    for d in 0..dn {
                        let want = window_cost(cost, &l, &r, Some((&cl, &cr)), w, h, win, x, y, d);
                        let got = band.get(x, y, d);
                        prop_assert!((f64::from(got) - want).abs() <= 1e-4 * want.abs().max(1.0),
                            "{:?} ({}, {}, {}): {} vs {}", cost, x, y, d, got, want);
                        prop_assert_eq!(row[x * dn + d], got);
                    }
                }
            }
        }
    }
}
