//! Semi-global matching (Hirschmüller, "Stereo processing by semiglobal matching and
//! mutual information", PAMI 2008): the window costs `C(p, d)` are aggregated along 1-D
//! paths `r` ending at each pixel,
//!
//! `L_r(p, d) = C(p, d) + min(L_r(p - r, d), L_r(p - r, d ± 1) + P1, min_k L_r(p - r, k) + P2)
//!              - min_k L_r(p - r, k)`,
//!
//! and the disparity is the minimum of `S(p, d) = Σ_r L_r(p, d)` (winner-takes-all in
//! `stereo::disparity`). A path starts at the image border with `L_r = C`.
//!
//! Paths: 8 (all directions, two sweeps: down with left-to-right, top-left, top and
//! top-right; up with right-to-left, bottom-right, bottom, bottom-left; OpenCV's
//! `MODE_HH`), 4 (left-to-right and top; right-to-left and bottom) or 5 (one sweep down:
//! left-to-right, right-to-left, top-left, top, top-right: OpenCV's default `MODE_SGBM`).
//! The two-sweep modes keep the down sweep's sums of every pixel in a `u16` volume
//! (`height * width * disparities * 2` bytes, at most [`MAX_SGM_VOLUME_BYTES`]); to use two
//! threads, the down sweep does the top half while the up sweep does the bottom half, then
//! each finishes the other half with the sums stored there. The one-sweep mode needs no
//! volume: a row's horizontal paths depend on that row's costs only, so they are computed
//! with the costs, rows in parallel, while the three paths from the previous row run as
//! one sequential sweep, pipelined over bands of rows. Each pixel's total is the same
//! integer sum whatever the order, so results do not depend on the thread count.
//!
//! The recurrence runs over blocks of 16 disparities (`u16` lanes with saturating adds,
//! as in OpenCV's vectorised loop), the paths from the previous row fused into one pass
//! over each pixel's costs and sums.
//!
//! Costs are `u16`: the window cost (census Hamming sums, SAD sums; SSD sums / 64;
//! `1 - NCC` and `1 - ZNCC` times 1024), rounded and capped at [`SGM_COST_CAP`];
//! disparities the pixel cannot have (`d > x`) cost the cap. With `P2 <= SGM_COST_CAP`
//! every `L_r <= C + P2 <= 8190`, so the sum of 8 paths fits in `u16` exactly.

use super::cost::MatchCost;
use super::volume::{Pair, RowCosts, RowSums};
use crate::error::{Error, Result};
use crate::simd::{Kernel, V3};
use rayon::prelude::*;

/// The largest SGM cost (costs are capped here) and the largest `P2`.
pub const SGM_COST_CAP: u16 = 4095;

/// The largest volume of path sums the two-sweep modes (4 and 8 paths) allocate.
pub const MAX_SGM_VOLUME_BYTES: usize = 4 << 30;

/// Which paths a sweep follows.
#[derive(Clone, Copy, Debug)]
struct Paths {
    /// Horizontal offsets `dx` of the paths coming from the previous row (`p - r` is
    /// `(x - dx, y - dy)`).
    vertical: &'static [isize],
    /// Left-to-right along the row.
    forward: bool,
    /// Right-to-left along the row.
    backward: bool,
}

/// The `u16` cost rows of a pair.
struct CostRows<'a> {
    pair: &'a Pair,
    sums: Option<RowSums<'a>>,
    costs: Option<(RowCosts<'a>, Vec<f32>, f32)>,
}

impl<'a> CostRows<'a> {
    fn new(pair: &'a Pair) -> Self {
        match pair.cost {
            MatchCost::Census | MatchCost::Sad => CostRows {
                pair,
                sums: Some(RowSums::new(pair)),
                costs: None,
            },
            other => {
                let scale = if other == MatchCost::Ssd {
                    1.0 / 64.0
                } else {
                    1024.0
                };
                CostRows {
                    pair,
                    sums: None,
                    costs: Some((
                        RowCosts::new(pair),
                        vec![0.0; pair.width * pair.disparities],
                        scale,
                    )),
                }
            }
        }
    }

    fn row(&mut self, y: usize, out: &mut [u16]) {
        let dn = self.pair.disparities;
        let cap = u32::from(SGM_COST_CAP);
        if let Some(s) = &mut self.sums {
            s.sums_capped(y, SGM_COST_CAP, out);
        } else if let Some((rc, buf, scale)) = &mut self.costs {
            rc.row(y, buf);
            for (o, &v) in out.iter_mut().zip(buf.iter()) {
                *o = (v * *scale).round().clamp(0.0, cap as f32) as u16;
            }
        }
        // Disparities that would look left of the right image's first column.
        for x in 0..dn.min(self.pair.width) {
            out[x * dn + x + 1..(x + 1) * dn].fill(SGM_COST_CAP);
        }
    }
}

/// Lanes of the explicit vector loops (16 `u16` per AVX2 register).
const LANES: usize = 16;

/// The recurrence for one disparity: `prev` at `d - 1`, `d`, `d + 1` (`lo`, `mid`, `hi`).
#[inline(always)]
fn recur(c: u16, lo: u16, mid: u16, hi: u16, pmin: u16, base: u16, p1: u16) -> u16 {
    mid.min(lo.saturating_add(p1))
        .min(hi.saturating_add(p1))
        .min(base)
        .wrapping_sub(pmin)
        .wrapping_add(c)
}

/// One step of a path at one pixel over all disparities: `prev` is `L_r(p - r, ·)` with a
/// `u16::MAX` sentinel on each side (`D + 2` values), `cur` receives `L_r(p, ·)` at
/// `1..=D`, `sum` accumulates it; returns `min_d L_r(p, d)`.
#[inline(always)]
fn step(
    c: &[u16],
    prev: &[u16],
    pmin: u16,
    p1: u16,
    p2: u16,
    cur: &mut [u16],
    sum: &mut [u16],
) -> u16 {
    step_n::<1>(c, [prev], [pmin], p1, p2, [cur], sum)[0]
}

/// [`step`] for `N` paths at once (one pass over the costs and the sums), written over
/// fixed blocks of [`LANES`] disparities so that it compiles to vector instructions
/// wherever it is inlined. Each path's values are those of [`step`]; the sum receives
/// them all.
#[inline(always)]
fn step_n<const N: usize>(
    c: &[u16],
    prev: [&[u16]; N],
    pmin: [u16; N],
    p1: u16,
    p2: u16,
    cur: [&mut [u16]; N],
    sum: &mut [u16],
) -> [u16; N] {
    let dn = c.len();
    let base = pmin.map(|m| m.wrapping_add(p2));
    let prev = prev.map(|p| &p[..dn + 2]);
    let cur = cur.map(|o| &mut o[1..dn + 1]);
    let sum = &mut sum[..dn];
    let full = dn - dn % LANES;
    let mut mins = [[u16::MAX; LANES]; N];
    for i in (0..full).step_by(LANES) {
        let cc = &c[i..i + LANES];
        let s = &mut sum[i..i + LANES];
        for k in 0..N {
            let pv = &prev[k][i..i + LANES + 2];
            let o = &mut cur[k][i..i + LANES];
            for l in 0..LANES {
                let v = recur(cc[l], pv[l], pv[l + 1], pv[l + 2], pmin[k], base[k], p1);
                o[l] = v;
                s[l] = s[l].wrapping_add(v);
                mins[k][l] = mins[k][l].min(v);
            }
        }
    }
    let mut m = mins.map(|mk| mk.iter().fold(u16::MAX, |a, &b| a.min(b)));
    for d in full..dn {
        for k in 0..N {
            let pv = prev[k];
            let v = recur(c[d], pv[d], pv[d + 1], pv[d + 2], pmin[k], base[k], p1);
            cur[k][d] = v;
            sum[d] = sum[d].wrapping_add(v);
            m[k] = m[k].min(v);
        }
    }
    m
}

/// Scratch of the horizontal paths: the previous and current pixel's `L_r` (with
/// sentinels) and a zero row for a path's first pixel.
struct Horizontal {
    bufs: [Vec<u16>; 2],
    zero: Vec<u16>,
}

impl Horizontal {
    fn new(dn: usize) -> Self {
        let dp = dn + 2;
        let mut hrow = vec![0u16; dp];
        hrow[0] = u16::MAX;
        hrow[dp - 1] = u16::MAX;
        Horizontal {
            bufs: [hrow.clone(), hrow],
            zero: vec![0; dp],
        }
    }

    /// Adds the left-to-right (`forward`) and right-to-left (`backward`) paths of one
    /// cost row `c` (`[x][d]`) to `sum`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        c: &[u16],
        dn: usize,
        p1: u16,
        p2: u16,
        forward: bool,
        backward: bool,
        sum: &mut [u16],
    ) {
        let w = c.len() / dn;
        let [ha, hb] = &mut self.bufs;
        let zero = &self.zero[..];
        for (on, order) in [(forward, false), (backward, true)] {
            if !on {
                continue;
            }
            let mut pm = 0u16;
            for i in 0..w {
                let x = if order { w - 1 - i } else { i };
                let (prev, cur) = if i % 2 == 0 {
                    (&*hb, &mut *ha)
                } else {
                    (&*ha, &mut *hb)
                };
                let pv = if i == 0 { zero } else { &prev[..] };
                let pmin = if i == 0 { 0 } else { pm };
                pm = step(
                    &c[x * dn..(x + 1) * dn],
                    pv,
                    pmin,
                    p1,
                    p2,
                    cur,
                    &mut sum[x * dn..(x + 1) * dn],
                );
            }
        }
    }
}

/// Both horizontal paths of one row as a kernel: `sum` is overwritten with their sum.
struct HorizontalRow<'a> {
    scratch: &'a mut Horizontal,
    c: &'a [u16],
    dn: usize,
    p1: u16,
    p2: u16,
    sum: &'a mut [u16],
}

impl Kernel for HorizontalRow<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        self.sum.fill(0);
        self.scratch
            .add(self.c, self.dn, self.p1, self.p2, true, true, self.sum);
    }
}

/// One sweep's state: the cost rows, the previous row's `L_r` of each vertical path.
struct Sweep {
    paths: Paths,
    dy: isize,
    p1: u16,
    p2: u16,
    width: usize,
    dn: usize,
    sum: Vec<u16>,
    prev: Vec<(Vec<u16>, Vec<u16>)>,
    cur: Vec<(Vec<u16>, Vec<u16>)>,
    horizontal: Horizontal,
    zero: Vec<u16>,
    last: Option<usize>,
    simd: Option<V3>,
}

impl Sweep {
    fn new(pair: &Pair, paths: Paths, dy: isize, p1: u16, p2: u16, simd: Option<V3>) -> Self {
        let (w, dn) = (pair.width, pair.disparities);
        let dp = dn + 2;
        let mut padded = vec![0u16; w * dp];
        for x in 0..w {
            padded[x * dp] = u16::MAX;
            padded[x * dp + dp - 1] = u16::MAX;
        }
        let state = || (padded.clone(), vec![0u16; w]);
        Sweep {
            paths,
            dy,
            p1,
            p2,
            width: w,
            dn,
            sum: vec![0; w * dn],
            prev: paths.vertical.iter().map(|_| state()).collect(),
            cur: paths.vertical.iter().map(|_| state()).collect(),
            horizontal: Horizontal::new(dn),
            zero: vec![0; dp],
            last: None,
            simd,
        }
    }

    /// The path sums of row `y` with costs `c` (the row must follow the previous row in
    /// the sweep's direction, or be its first row).
    fn row(&mut self, y: usize, c: &[u16]) -> &[u16] {
        let mut sum = std::mem::take(&mut self.sum);
        sum.fill(0);
        self.row_onto(y, c, &mut sum);
        self.sum = sum;
        &self.sum
    }

    /// [`Sweep::row`] adding the path values of row `y` to `sum` (`[x][d]`).
    fn row_onto(&mut self, y: usize, c: &[u16], sum: &mut [u16]) {
        let simd = self.simd;
        let kernel = SweepRow {
            sweep: self,
            y,
            c,
            sum,
        };
        crate::simd::dispatch(simd, kernel);
    }

    /// [`Sweep::row`] with the costs computed here.
    fn row_of(&mut self, y: usize, costs: &mut CostRows, c: &mut [u16]) -> &[u16] {
        costs.row(y, c);
        self.row(y, c)
    }
}

struct SweepRow<'s, 'c> {
    sweep: &'s mut Sweep,
    y: usize,
    c: &'c [u16],
    sum: &'c mut [u16],
}

impl Kernel for SweepRow<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let s = self.sweep;
        let (w, dn, p1, p2) = (s.width, s.dn, s.p1, s.p2);
        let dp = dn + 2;
        let continues = s.last.is_some_and(|l| l as isize + s.dy == self.y as isize);
        s.last = Some(self.y);
        let (c, sum, zero) = (self.c, self.sum, &s.zero);
        // The previous row's values of path `k` seen from pixel `x`.
        let from = |k: usize, x: usize| -> Option<usize> {
            let px = x as isize - s.paths.vertical[k];
            (continues && px >= 0 && (px as usize) < w).then_some(px as usize)
        };
        if let ([pa, pb, pc], [ca, cb, cc]) = (&s.prev[..], &mut s.cur[..]) {
            // Three paths from the previous row, fused: one pass per pixel.
            let prevs = [pa, pb, pc];
            for x in 0..w {
                let mut pv = [&zero[..]; 3];
                let mut pm = [0u16; 3];
                for k in 0..3 {
                    if let Some(px) = from(k, x) {
                        pv[k] = &prevs[k].0[px * dp..(px + 1) * dp];
                        pm[k] = prevs[k].1[px];
                    }
                }
                let cur = [
                    &mut ca.0[x * dp..(x + 1) * dp],
                    &mut cb.0[x * dp..(x + 1) * dp],
                    &mut cc.0[x * dp..(x + 1) * dp],
                ];
                let m = step_n::<3>(
                    &c[x * dn..(x + 1) * dn],
                    pv,
                    pm,
                    p1,
                    p2,
                    cur,
                    &mut sum[x * dn..(x + 1) * dn],
                );
                (ca.1[x], cb.1[x], cc.1[x]) = (m[0], m[1], m[2]);
            }
        } else {
            for k in 0..s.paths.vertical.len() {
                let (prev, prev_min) = &s.prev[k];
                let (cur, cur_min) = &mut s.cur[k];
                for x in 0..w {
                    let (pv, pm) = match from(k, x) {
                        Some(px) => (&prev[px * dp..(px + 1) * dp], prev_min[px]),
                        None => (&zero[..], 0),
                    };
                    cur_min[x] = step(
                        &c[x * dn..(x + 1) * dn],
                        pv,
                        pm,
                        p1,
                        p2,
                        &mut cur[x * dp..(x + 1) * dp],
                        &mut sum[x * dn..(x + 1) * dn],
                    );
                }
            }
        }
        std::mem::swap(&mut s.prev, &mut s.cur);
        let (forward, backward) = (s.paths.forward, s.paths.backward);
        s.horizontal.add(c, dn, p1, p2, forward, backward, sum);
    }
}

/// The SGM settings the matcher passes down.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SgmSettings {
    pub(crate) p1: u16,
    pub(crate) p2: u16,
    pub(crate) paths: usize,
}

/// Checks `paths`, `P1 < P2 <= SGM_COST_CAP`.
pub(crate) fn check_sgm(p1: u32, p2: u32, paths: usize) -> Result<()> {
    if !matches!(paths, 4 | 5 | 8) {
        return Err(Error::param(
            "paths",
            format!("must be 4, 5 or 8, got {paths}"),
        ));
    }
    if p1 == 0 || p1 >= p2 || p2 > u32::from(SGM_COST_CAP) {
        return Err(Error::param(
            "p1",
            format!("need 0 < P1 < P2 <= {SGM_COST_CAP}, got P1 = {p1}, P2 = {p2}"),
        ));
    }
    Ok(())
}

/// Runs SGM over the pair and calls `finish(y, sums)` once per row with `S(·, ·)` of that
/// row (`[x][d]`); `finish` is called from two threads at once in the two-sweep modes
/// (rows of the bottom half by one, of the top half by the other).
pub(crate) fn aggregate<F>(pair: &Pair, s: SgmSettings, finish: F) -> Result<()>
where
    F: Fn(usize, &[u16]) + Sync,
{
    let (w, h, dn) = (pair.width, pair.height, pair.disparities);
    let simd = crate::simd::v3(false);
    let (down, up): (Paths, Option<Paths>) = match s.paths {
        4 => (
            Paths {
                vertical: &[0],
                forward: true,
                backward: false,
            },
            Some(Paths {
                vertical: &[0],
                forward: false,
                backward: true,
            }),
        ),
        8 => (
            Paths {
                vertical: &[-1, 0, 1],
                forward: true,
                backward: false,
            },
            Some(Paths {
                vertical: &[-1, 0, 1],
                forward: false,
                backward: true,
            }),
        ),
        _ => (
            Paths {
                vertical: &[-1, 0, 1],
                forward: true,
                backward: true,
            },
            None,
        ),
    };
    let stride = w * dn;
    let Some(up) = up else {
        return single_sweep(pair, s, simd, finish);
    };
    let mut sweep_down = Sweep::new(pair, down, 1, s.p1, s.p2, simd);
    let bytes = h
        .checked_mul(stride)
        .and_then(|n| n.checked_mul(2))
        .filter(|&b| b <= MAX_SGM_VOLUME_BYTES)
        .ok_or_else(|| {
            Error::param(
                "paths",
                format!(
                    "{w}x{h} with {dn} disparities needs a path-sum volume over the {} GiB limit: use 5 paths or fewer disparities",
                    MAX_SGM_VOLUME_BYTES >> 30
                ),
            )
        })?;
    let mut volume = vec![0u16; bytes / 2];
    let mid = h / 2;
    let (top, bottom) = volume.split_at_mut(mid * stride);
    let mut sweep_up = Sweep::new(pair, up, -1, s.p1, s.p2, simd);
    let (mut costs_down, mut costs_up) = (CostRows::new(pair), CostRows::new(pair));
    let (mut c_down, mut c_up) = (vec![0u16; stride], vec![0u16; stride]);
    rayon::join(
        || {
            for y in 0..mid {
                let sums = sweep_down.row_of(y, &mut costs_down, &mut c_down);
                top[y * stride..(y + 1) * stride].copy_from_slice(sums);
            }
        },
        || {
            for y in (mid..h).rev() {
                let k = y - mid;
                let sums = sweep_up.row_of(y, &mut costs_up, &mut c_up);
                bottom[k * stride..(k + 1) * stride].copy_from_slice(sums);
            }
        },
    );
    let (top, bottom) = (&*top, &*bottom);
    let mut row_a = vec![0u16; stride];
    let mut row_b = vec![0u16; stride];
    rayon::join(
        || {
            for y in mid..h {
                let k = y - mid;
                let sums = sweep_down.row_of(y, &mut costs_down, &mut c_down);
                add_rows(&mut row_a, sums, &bottom[k * stride..(k + 1) * stride]);
                finish(y, &row_a);
            }
        },
        || {
            for y in (0..mid).rev() {
                let sums = sweep_up.row_of(y, &mut costs_up, &mut c_up);
                add_rows(&mut row_b, sums, &top[y * stride..(y + 1) * stride]);
                finish(y, &row_b);
            }
        },
    );
    Ok(())
}

/// Rows per stage of the single-sweep pipeline.
const PIPE_ROWS: usize = 16;

/// `(next, current, previous)` of three rotating buffers at stage `k`.
fn rotate3<T>(bufs: &mut [T; 3], k: usize) -> (&mut T, &mut T, &mut T) {
    let [a, b, c] = bufs;
    match k % 3 {
        0 => (b, a, c),
        1 => (c, b, a),
        _ => (a, c, b),
    }
}

/// The one-sweep mode (5 paths) as a pipeline over bands of [`PIPE_ROWS`] rows. The
/// horizontal paths of a row need only that row's costs, so they are computed with the
/// costs, rows in parallel; the three paths from the previous row are one sequential
/// sweep. While the sweep adds its paths to band `k`, the other task computes the costs
/// and horizontal paths of band `k + 1` and finishes band `k - 1` (in a 1-thread pool the
/// same steps run one after the other).
fn single_sweep<F>(pair: &Pair, s: SgmSettings, simd: Option<V3>, finish: F) -> Result<()>
where
    F: Fn(usize, &[u16]) + Sync,
{
    let (h, dn) = (pair.height, pair.disparities);
    let stride = pair.width * dn;
    let bands = h.div_ceil(PIPE_ROWS);
    let rows_of = |k: usize| k * PIPE_ROWS..((k + 1) * PIPE_ROWS).min(h);
    let vertical = Paths {
        vertical: &[-1, 0, 1],
        forward: false,
        backward: false,
    };
    let mut sweep = Sweep::new(pair, vertical, 1, s.p1, s.p2, simd);
    let mut costs = CostRows::new(pair);
    let band = || vec![0u16; PIPE_ROWS * stride];
    let mut cost_bufs = [band(), band()];
    let mut sum_bufs = [band(), band(), band()];
    let (p1, p2) = (s.p1, s.p2);
    // Band `k`: its costs, then the sums of its horizontal paths.
    let prepare = |costs: &mut CostRows, cbuf: &mut [u16], sbuf: &mut [u16], k: usize| {
        let n = rows_of(k).len() * stride;
        for (i, y) in rows_of(k).enumerate() {
            costs.row(y, &mut cbuf[i * stride..(i + 1) * stride]);
        }
        sbuf[..n]
            .par_chunks_mut(stride)
            .zip(cbuf[..n].par_chunks(stride))
            .for_each_init(
                || Horizontal::new(dn),
                |scratch, (sum, c)| {
                    let kernel = HorizontalRow {
                        scratch,
                        c,
                        dn,
                        p1,
                        p2,
                        sum,
                    };
                    crate::simd::dispatch(simd, kernel);
                },
            );
    };
    let finish_band = |sbuf: &[u16], k: usize| {
        let n = rows_of(k).len() * stride;
        sbuf[..n]
            .par_chunks(stride)
            .zip(rows_of(k).into_par_iter())
            .for_each(|(sums, y)| finish(y, sums));
    };
    {
        let [c0, _] = &mut cost_bufs;
        let [s0, ..] = &mut sum_bufs;
        prepare(&mut costs, c0, s0, 0);
    }
    for k in 0..bands {
        let [c0, c1] = &mut cost_bufs;
        let (cur_costs, next_costs) = if k % 2 == 0 { (&*c0, c1) } else { (&*c1, c0) };
        let (next_sums, cur_sums, prev_sums) = rotate3(&mut sum_bufs, k);
        rayon::join(
            || {
                if k + 1 < bands {
                    prepare(&mut costs, next_costs, next_sums, k + 1);
                }
                if k > 0 {
                    finish_band(prev_sums, k - 1);
                }
            },
            || {
                for (i, y) in rows_of(k).enumerate() {
                    let range = i * stride..(i + 1) * stride;
                    sweep.row_onto(y, &cur_costs[range.clone()], &mut cur_sums[range]);
                }
            },
        );
    }
    finish_band(&sum_bufs[(bands - 1) % 3], bands - 1);
    Ok(())
}

fn add_rows(out: &mut [u16], a: &[u16], b: &[u16]) {
    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
        *o = a.wrapping_add(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recurrence written pixel by pixel for one path along a row.
    fn naive_path(c: &[Vec<u16>], p1: u32, p2: u32) -> Vec<Vec<u32>> {
        let mut l: Vec<Vec<u32>> = Vec::new();
        for (i, ci) in c.iter().enumerate() {
            let row: Vec<u32> = if i == 0 {
                ci.iter().map(|&v| u32::from(v)).collect()
            } else {
                let p = &l[i - 1];
                let pmin = *p.iter().min().unwrap();
                (0..ci.len())
                    .map(|d| {
                        let mut best = p[d].min(pmin + p2);
                        if d > 0 {
                            best = best.min(p[d - 1] + p1);
                        }
                        if d + 1 < ci.len() {
                            best = best.min(p[d + 1] + p1);
                        }
                        u32::from(ci[d]) + best - pmin
                    })
                    .collect()
            };
            l.push(row);
        }
        l
    }

    #[test]
    fn aggregate_equals_the_naive_paths_in_every_mode() {
        // Taller than two pipeline bands, more disparities than one block of lanes.
        let (w, h, dn) = (23, 2 * PIPE_ROWS + 5, 19);
        let mut s = 99u64;
        let mut px = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) % 256) as u8
        };
        let l: Vec<u8> = (0..w * h).map(|_| px()).collect();
        let r: Vec<u8> = (0..w * h).map(|_| px()).collect();
        let (li, ri) = (
            crate::image::Image::from_u8(w, h, &l).unwrap(),
            crate::image::Image::from_u8(w, h, &r).unwrap(),
        );
        let pair = Pair::new(&li, &ri, MatchCost::Sad, 3, (3, 3), dn).unwrap();
        let mut rows = CostRows::new(&pair);
        let mut c = vec![vec![0u16; w * dn]; h];
        for (y, row) in c.iter_mut().enumerate() {
            rows.row(y, row);
        }
        let (p1, p2) = (7u16, 40u16);
        let down = [(-1, 1), (0, 1), (1, 1)];
        let up = [(-1, -1), (0, -1), (1, -1)];
        let across = [(1, 0), (-1, 0)];
        let modes: [(usize, Vec<(isize, isize)>); 3] = [
            (5, [&across[..], &down[..]].concat()),
            (4, vec![(1, 0), (-1, 0), (0, 1), (0, -1)]),
            (8, [&across[..], &down[..], &up[..]].concat()),
        ];
        let inside = |x: isize, y: isize| x >= 0 && y >= 0 && x < w as isize && y < h as isize;
        for (paths, dirs) in modes {
            // Each path line from the pixel whose predecessor is outside the image.
            let mut want = vec![vec![0u32; w * dn]; h];
            for &(rx, ry) in &dirs {
                for y0 in 0..h as isize {
                    for x0 in 0..w as isize {
                        if inside(x0 - rx, y0 - ry) {
                            continue;
                        }
                        let mut line = Vec::new();
                        let (mut x, mut y) = (x0, y0);
                        while inside(x, y) {
                            line.push((x as usize, y as usize));
                            (x, y) = (x + rx, y + ry);
                        }
                        let costs: Vec<Vec<u16>> = line
                            .iter()
                            .map(|&(x, y)| c[y][x * dn..(x + 1) * dn].to_vec())
                            .collect();
                        let l = naive_path(&costs, u32::from(p1), u32::from(p2));
                        for (&(x, y), lv) in line.iter().zip(&l) {
                            for (d, &v) in lv.iter().enumerate() {
                                want[y][x * dn + d] += v;
                            }
                        }
                    }
                }
            }
            let got = std::sync::Mutex::new(vec![Vec::new(); h]);
            aggregate(&pair, SgmSettings { p1, p2, paths }, |y, sums| {
                got.lock().unwrap()[y] = sums.to_vec();
            })
            .unwrap();
            let got = got.into_inner().unwrap();
            for y in 0..h {
                let g: Vec<u32> = got[y].iter().map(|&v| u32::from(v)).collect();
                assert_eq!(g, want[y], "{paths} paths, row {y}");
            }
        }
    }

    #[test]
    fn step_equals_the_naive_recurrence_on_a_tiny_volume() {
        // 7 disparities: the scalar tail only; 37: two blocks of lanes and a tail.
        for dn in [7, 37] {
            step_matches_naive(dn);
        }
    }

    fn step_matches_naive(dn: usize) {
        let n = 9;
        let mut s = 12345u64;
        let c: Vec<Vec<u16>> = (0..n)
            .map(|_| {
                (0..dn)
                    .map(|_| {
                        s = s
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        ((s >> 33) % 60) as u16
                    })
                    .collect()
            })
            .collect();
        let (p1, p2) = (5u16, 23u16);
        let want = naive_path(&c, 5, 23);
        let mut prev = vec![0u16; dn + 2];
        prev[0] = u16::MAX;
        prev[dn + 1] = u16::MAX;
        let zero = vec![0u16; dn + 2];
        let mut pm = 0;
        for (i, ci) in c.iter().enumerate() {
            let mut cur = prev.clone();
            let mut sum = vec![0u16; dn];
            let pv = if i == 0 { &zero } else { &prev };
            pm = step(
                ci,
                pv,
                if i == 0 { 0 } else { pm },
                p1,
                p2,
                &mut cur,
                &mut sum,
            );
            let got: Vec<u32> = cur[1..=dn].iter().map(|&v| u32::from(v)).collect();
            assert_eq!(got, want[i], "pixel {i}");
            assert_eq!(u32::from(pm), *want[i].iter().min().unwrap());
            prev = cur;
        }
    }
}
