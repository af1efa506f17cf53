//! The lane scan of compact stump cascades: a stripe of rows of one pyramid level,
//! evaluated stage by stage over blocks of [`LANES`] adjacent windows, one stump at a time
//! over all the blocks, so that a stump's offsets, weights and leaves are loaded once per
//! stripe rather than once per window. The portable kernels live here; their AVX2
//! twins, with the same operations in the same order, in `lanes_avx2.rs`.
//!
//! # Steps of a stripe ([`StripeScan`])
//! 1. The variance test (OpenCV's [`variance_passes`]) on every window of the rows, in
//!    blocks at multiples of [`LANES`]; blocks with a passing lane are stage 0's blocks.
//! 2. Each stage adds one leaf per stump to every lane of every block: in f64 in stump
//!    order for the last stage (its sum is the score) and for stages without a
//!    fixed-point form, else in exact i32 fixed point (see `program`), where lanes in the
//!    band around the threshold get their exact f64 sum ([`exact_stage_sum`]).
//! 3. After stage 0, OpenCV's skip rule (a window rejected by stage 0 skips the next x
//!    position) comes from [`SKIP_RULE`], a table of the visited windows of a block given
//!    its stage-0 rejections and whether the block before ended on a rejection.
//! 4. Before each later stage the blocks are re-formed to cover the live windows with as
//!    few blocks as possible (a block may start at any window).
//! 5. The windows passing the last stage are pushed in scan order.
//!
//! # Lane arithmetic (the same numbers as one window at a time)
//! A feature value is the integer `w0 R0 + w1 R1 + w2 R2` in wrapping i32 arithmetic (its
//! true value is below 2^24, so this is the f32 sum OpenCV forms), converted to f32 and
//! multiplied by the window's `inv` in f32. Weights 2 and 3 are additions; an edge feature
//! `2 H - W` is summed over its 6 distinct corners and a checkerboard `2 Q1 + 2 Q2 - W`
//! over its 9. The lanes of a block must be adjacent table entries: step-1 levels use the
//! usual tables, step-2 levels column-de-interleaved ones.

use crate::detect::cascade::{inverse_norm, variance_passes};
use crate::detect::integral::{TableValue, corner_sum};
#[cfg(target_arch = "x86_64")]
use crate::detect::lanes_avx2::{fixed_masks_v3, stump_pass_fixed_v3, stump_pass_v3, variance_v3};
use crate::detect::program::{
    CompactStump, FeatureOffsets, FixedStage, Kind, Program, Stump, WINDOW_SLICE,
};
use crate::detect::{Level, Tables};
use crate::simd::{Kernel, V3};

/// Windows evaluated together by [`StripeScan`].
pub(super) const LANES: usize = 8;

/// Blocks of [`LANES`] adjacent windows (structure of arrays, in window order): the
/// tables from the lane-0 window on, `f32(1 / sqrt(nf))` per lane, the live lanes (bit
/// j = lane j), the lane-0 window id, and f64 stage sums.
#[derive(Default)]
struct Blocks<'t> {
    sum: Vec<&'t [i32; WINDOW_SLICE + LANES]>,
    inv: Vec<[f32; LANES]>,
    mask: Vec<u8>,
    first: Vec<u32>,
    acc: Vec<[f64; LANES]>,
}

impl<'t> Blocks<'t> {
    fn clear(&mut self) {
        self.sum.clear();
        self.inv.clear();
        self.mask.clear();
        self.first.clear();
    }

    #[inline(always)]
    fn push(
        &mut self,
        sum: &'t [i32; WINDOW_SLICE + LANES],
        inv: [f32; LANES],
        mask: u8,
        first: u32,
    ) {
        self.sum.push(sum);
        self.inv.push(inv);
        self.mask.push(mask);
        self.first.push(first);
    }
}

/// Buffers of one stripe scan (reused across the stripes a thread scans; their contents
/// never affect results).
#[derive(Default)]
pub(super) struct StripeWork<'t> {
    blocks: Blocks<'t>,
    /// Per window id: `f32(1 / sqrt(nf))`.
    window_inv: Vec<f32>,
    /// The first window of each block of the last stage evaluated (its live lanes are
    /// `pass`), while the next stage's blocks are formed.
    prev_first: Vec<u32>,
    /// Per block: the lanes passing the current stage.
    pass: Vec<u8>,
    /// Fixed-point stage sums of the blocks.
    acc_fixed: Vec<[i32; LANES]>,
    /// Per stage-0 block slot: the lanes rejected by stage 0 (OpenCV code 0), and the
    /// lanes the scan visits.
    rejected0: Vec<u8>,
    visited: Vec<u8>,
}

/// Lane `j` of a block reads the tables at entry `o + j`: the window `j` places to the
/// right in the level's layout. Offsets are below `WINDOW_SLICE`, so no bounds checks.
#[inline(always)]
pub(super) fn lanes_at<T>(t: &[T; WINDOW_SLICE + LANES], o: usize) -> &[T; LANES] {
    t[o..o + LANES].try_into().expect("o < WINDOW_SLICE")
}

/// The feature value of every lane in f32, `f32(w0 R0 + w1 R1 + w2 R2)` with each `R` a
/// rectangle sum `a - b - c + d`, all in wrapping i32 arithmetic: the true sum is below
/// 2^24 in magnitude for compact stumps, so this is exactly the f32 sum OpenCV forms.
/// `THREE`: a third rectangle; `NEG`: `w0 = -1` (most Haar features), one product less;
/// `W`: `w1` (and `w2` with `THREE`) when it is 2 or 3 (additions instead of products),
/// else 0.
/// `SHAPE` 1 to 3: the shared-corner forms of `program::shared_corners` over offsets `o[..9]`.
#[inline(always)]
pub(super) fn lane_feature<const THREE: bool, const NEG: bool, const W: i32, const SHAPE: u8>(
    t: &[i32; WINDOW_SLICE + LANES],
    o: &[usize; 12],
    w: &[i32; 3],
) -> [f32; LANES] {
    if SHAPE != 0 {
        let at = |k: usize| lanes_at(t, o[k]);
        return std::array::from_fn(|j| {
            let v = |k: usize| at(k)[j];
            let r = if SHAPE == 1 {
                let d = v(4).wrapping_sub(v(5));
                v(0).wrapping_add(v(1))
                    .wrapping_sub(v(2))
                    .wrapping_sub(v(3))
                    .wrapping_add(d.wrapping_add(d))
            } else {
                let a = v(0)
                    .wrapping_add(v(1))
                    .wrapping_add(v(2))
                    .wrapping_add(v(3));
                let b = v(4)
                    .wrapping_add(v(5))
                    .wrapping_add(v(6))
                    .wrapping_add(v(7));
                let c = v(8).wrapping_mul(4);
                let r = a.wrapping_sub(b.wrapping_mul(2)).wrapping_add(c);
                if SHAPE == 3 { r.wrapping_neg() } else { r }
            };
            r as f32
        });
    }
    let rect = |k: usize| -> [i32; LANES] {
        let (a, b, c, d) = (
            lanes_at(t, o[k]),
            lanes_at(t, o[k + 1]),
            lanes_at(t, o[k + 2]),
            lanes_at(t, o[k + 3]),
        );
        std::array::from_fn(|j| i32::rect(a[j], b[j], c[j], d[j]))
    };
    let (r0, r1) = (rect(0), rect(4));
    let r2 = if THREE { rect(8) } else { [0; LANES] };
    std::array::from_fn(|j| {
        let times = |w: i32, r: i32| match W {
            2 => r.wrapping_add(r),
            3 => r.wrapping_add(r).wrapping_add(r),
            _ => w.wrapping_mul(r),
        };
        let mut v = times(w[1], r1[j]);
        if THREE {
            v = v.wrapping_add(times(w[2], r2[j]));
        }
        v = if NEG {
            v.wrapping_sub(r0[j])
        } else {
            v.wrapping_add(w[0].wrapping_mul(r0[j]))
        };
        v as f32
    })
}

/// The offsets a lane kernel reads: the rectangles' corners, or with `SHAPE != 0` the
/// distinct corners.
#[inline(always)]
pub(super) fn lane_offsets<const SHAPE: u8>(st: &CompactStump) -> [usize; 12] {
    if SHAPE == 0 {
        st.o.map(usize::from)
    } else {
        std::array::from_fn(|k| st.so.get(k).map_or(0, |&o| o as usize))
    }
}

/// Calls `$f::<THREE, NEG, W, SHAPE, $g...>($args)` for the variant of stump kind `$kind`
/// (`SHAPE`: 0 rectangles, 1 [`Kind::EdgeShared`], 2 and 3 the shared checkerboards).
macro_rules! by_kind {
    ($kind:expr, $f:ident $(::<$($g:ty),*>)? ($($arg:expr),* $(,)?)) => {
        match $kind {
            Kind::Edge => $f::<false, true, 2, 0 $($(, $g)*)?>($($arg),*),
            Kind::Line => $f::<false, true, 3, 0 $($(, $g)*)?>($($arg),*),
            Kind::Check => $f::<true, true, 2, 0 $($(, $g)*)?>($($arg),*),
            Kind::Neg2 => $f::<false, true, 0, 0 $($(, $g)*)?>($($arg),*),
            Kind::Neg3 => $f::<true, true, 0, 0 $($(, $g)*)?>($($arg),*),
            Kind::Any2 => $f::<false, false, 0, 0 $($(, $g)*)?>($($arg),*),
            Kind::Any3 => $f::<true, false, 0, 0 $($(, $g)*)?>($($arg),*),
            Kind::EdgeShared => $f::<false, true, 2, 1 $($(, $g)*)?>($($arg),*),
            Kind::CheckShared => $f::<true, true, 2, 2 $($(, $g)*)?>($($arg),*),
            Kind::CheckSharedNeg => $f::<true, true, 2, 3 $($(, $g)*)?>($($arg),*),
        }
    };
}

/// Adds one stump's leaf to every lane of every block: with the value `F * inv` in f32
/// (`F` from [`lane_feature`]), `add(sum, F * inv < threshold)` adds the left leaf when
/// true, else the right one, to the lane's stage sum (f64, in stump order: OpenCV's
/// sequential sum; or i32 in fixed point). Portable code.
#[inline(always)]
pub(super) fn stump_pass<const THREE: bool, const NEG: bool, const W: i32, const SHAPE: u8, A>(
    st: &CompactStump,
    sum: &[&[i32; WINDOW_SLICE + LANES]],
    inv: &[[f32; LANES]],
    acc: &mut [[A; LANES]],
    add: &impl Fn(&mut A, bool),
) {
    let o = lane_offsets::<SHAPE>(st);
    for ((t, inv), acc) in sum.iter().zip(inv).zip(acc.iter_mut()) {
        let f = lane_feature::<THREE, NEG, W, SHAPE>(t, &o, &st.w);
        for j in 0..LANES {
            add(&mut acc[j], f[j] * inv[j] < st.rule.thr);
        }
    }
}

/// OpenCV's f64 sum of stage `(first, count)` for the window whose tables start at `t`
/// (one window, stumps in order): the exact answer where a fixed-point sum is too close
/// to the threshold to decide.
fn exact_stage_sum(stumps: &[CompactStump], t: &[i32], inv: f32) -> f64 {
    let t: &[i32; WINDOW_SLICE] = t[..WINDOW_SLICE].try_into().expect("padded tables");
    stumps.iter().fold(0.0f64, |a, st| a + st.leaf(t, t, inv))
}

/// OpenCV's skip rule on one block of [`LANES`] windows: `SKIP_RULE[s][r]` is the set of
/// windows visited, given `r` (the windows that stage 0 rejects when visited) and `s`
/// (the window before the block was visited and rejected, so the first one is skipped),
/// and whether the block's last window is visited and rejected.
static SKIP_RULE: [[(u8, bool); 256]; 2] = {
    let mut t = [[(0u8, false); 256]; 2];
    let mut s = 0;
    while s < 2 {
        let mut r = 0;
        while r < 256 {
            let (mut visited, mut skip) = (0u8, s == 1);
            let mut j = 0;
            while j < LANES {
                if skip {
                    skip = false;
                } else {
                    visited |= 1 << j;
                    skip = r >> j & 1 == 1;
                }
                j += 1;
            }
            t[s][r] = (visited, skip);
            r += 1;
        }
        s += 1;
    }
    t
};

/// The variance test of a block of [`LANES`] windows (corners `c` of the normalisation
/// rectangle, area `area`): returns the lanes that pass OpenCV's [`variance_passes`]
/// (the std-dev of the window at least 10 gray levels), with `nf = area * Q - S * S` in
/// f64 and `inv = `[`inverse_norm`]`(nf)` written to `inv` (for the lanes that pass; the
/// others are never read).
#[inline(always)]
pub(super) fn variance(
    s: &[i32; WINDOW_SLICE + LANES],
    q: &[u32; WINDOW_SLICE + LANES],
    c: [usize; 4],
    area: f64,
    inv: &mut [f32; LANES],
) -> u8 {
    let mut ok = 0u8;
    for j in 0..LANES {
        let (ss, qq) = (corner_sum(s, j, c), corner_sum(q, j, c));
        let nf = area * qq as f64 - ss as f64 * ss as f64;
        inv[j] = inverse_norm(nf);
        ok |= (variance_passes(nf, area, inv[j]) as u8) << j;
    }
    ok
}

/// One stripe of rows of one level (compact stump cascades), evaluated stage by stage
/// over blocks of [`LANES`] adjacent windows: the variance test and stage 0 on every
/// block, OpenCV's skip rule on the stage-0 results row by row, then each later stage
/// on the blocks that still have a live window, one stump at a time over all of them.
/// Pushes `(row, column, score)` of the accepted windows in scan order.
pub(super) struct StripeScan<'a, 't> {
    /// `Some` on CPUs with AVX2+FMA unless the detector is portable.
    pub(super) simd: Option<V3>,
    pub(super) program: &'a Program,
    /// Offsets for the level's table layout (de-interleaved when `level.dual`).
    pub(super) offsets: &'a FeatureOffsets,
    pub(super) tables: &'a Tables<'t>,
    pub(super) level: &'a Level,
    /// The rows `[y0, y1)` of the level whose windows the stripe scans.
    pub(super) rows: (usize, usize),
    /// Windows per row start at columns below `nx`.
    pub(super) nx: usize,
    pub(super) work: &'a mut StripeWork<'t>,
    pub(super) out: &'a mut Vec<(usize, usize, f64)>,
}

/// Where a stripe's windows lie. Windows of a row are `x = i * step`, `i < nk`; window
/// `i` of a row is table entry `row + i`. Window ids are `row index * row_len + i`, so a
/// block may start at any window of a row.
struct StripeGrid {
    step: usize,
    /// Windows per row.
    nk: usize,
    /// Blocks per row at multiples of [`LANES`] (the variance and stage-0 blocks).
    nb: usize,
    /// A power of two (ids split by shifts), at least one block more than a row.
    row_len: usize,
    row_shift: u32,
    /// Stage-0 block slots per row (`row_len / LANES`).
    slots_per_row: usize,
    /// The level rows scanned, and their first table entries.
    ys: Vec<usize>,
    row_base: Vec<usize>,
}

impl StripeGrid {
    /// The grid of a stripe, `None` when it has no window.
    #[inline(always)]
    fn new(level: &Level, (y0, y1): (usize, usize), nx: usize, stride: usize) -> Option<Self> {
        let step = level.step;
        let nk = nx.div_ceil(step);
        if nk == 0 || y0 >= y1 {
            return None;
        }
        let nb = nk.div_ceil(LANES);
        let row_len = ((nb + 1) * LANES).next_power_of_two();
        let ys: Vec<usize> = (y0..y1).step_by(step).collect();
        let row_base = ys.iter().map(|y| (level.row0 + y) * stride).collect();
        Some(StripeGrid {
            step,
            nk,
            nb,
            row_len,
            row_shift: row_len.trailing_zeros(),
            slots_per_row: row_len / LANES,
            ys,
            row_base,
        })
    }

    /// The row index and the window index in its row of window `id`.
    #[inline(always)]
    fn row_and_window(&self, id: usize) -> (usize, usize) {
        (id >> self.row_shift, id & (self.row_len - 1))
    }
}

/// The tables of a block whose lane-0 window starts at entry `base` (padded tables: a
/// block may read [`WINDOW_SLICE`] + [`LANES`] entries).
#[inline(always)]
fn block_tables<T>(table: &[T], base: usize) -> &[T; WINDOW_SLICE + LANES] {
    table[base..base + WINDOW_SLICE + LANES]
        .try_into()
        .expect("padded tables")
}

impl Kernel for StripeScan<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn run(mut self) {
        let stride = self.offsets.stride;
        let Some(grid) = StripeGrid::new(self.level, self.rows, self.nx, stride) else {
            return;
        };
        self.variance_blocks(&grid);
        let (p, offsets) = (self.program, self.offsets);
        for (si, &(first, count, thr)) in p.stages.iter().enumerate() {
            if si > 0 {
                self.cover_live_windows(&grid);
            }
            let stumps = &offsets.compact[first..first + count];
            match p.fixed[si] {
                Some(fx) => {
                    self.add_fixed_point_leaves(stumps, &p.fixed_delta[first..first + count], &fx);
                    self.decide_fixed_point(stumps, &fx, thr);
                }
                None => self.decide_f64(stumps, thr),
            }
            if si == 0 {
                self.apply_skip_rule(&grid);
            }
            if si + 1 == p.stages.len() {
                self.emit_accepted(&grid);
                return;
            }
            if self.work.pass.iter().all(|&m| m == 0) {
                return;
            }
        }
    }
}

impl<'t> StripeScan<'_, 't> {
    /// The variance test on the blocks at multiples of [`LANES`] (every window of the
    /// rows): records each window's inverse norm and makes the blocks with a passing
    /// lane the stage-0 blocks.
    #[inline(always)]
    fn variance_blocks(&mut self, g: &StripeGrid) {
        let (sum, sqsum) = (self.tables.sum, self.tables.sqsum);
        let corners = self.offsets.norm.map(|o| o as u16 as usize);
        let area = self.program.norm_area;
        let w = &mut *self.work;
        w.blocks.clear();
        w.window_inv.clear();
        w.window_inv.resize(g.ys.len() * g.row_len, 0.0);
        for (ri, &row) in g.row_base.iter().enumerate() {
            for b in 0..g.nb {
                let base = row + b * LANES;
                let (s, q) = (block_tables(sum, base), block_tables(sqsum, base));
                let id = ri * g.row_len + b * LANES;
                let inv: &mut [f32; LANES] = (&mut w.window_inv[id..id + LANES])
                    .try_into()
                    .expect("LANES long");
                let ok = match self.simd {
                    #[cfg(target_arch = "x86_64")]
                    Some(v3) => variance_v3(v3, s, q, corners, area, inv),
                    _ => variance(s, q, corners, area, inv),
                };
                if ok != 0 {
                    w.blocks.push(s, *inv, ok, id as u32);
                }
            }
        }
    }

    /// Re-forms the blocks to cover the windows live after the last stage with as few
    /// blocks as possible: each block starts at the first live window it does not already
    /// cover. The last stage's blocks do not overlap and come in window order, so each
    /// one's live lanes go partly into the open block and the rest into one new block.
    #[inline(always)]
    fn cover_live_windows(&mut self, g: &StripeGrid) {
        let sum = self.tables.sum;
        let w = &mut *self.work;
        std::mem::swap(&mut w.prev_first, &mut w.blocks.first);
        w.blocks.clear();
        let mut open = usize::MAX;
        for (&f, &m) in w.prev_first.iter().zip(&w.pass) {
            let (f, mut m) = (f as usize, m as u32);
            let sh = f.wrapping_sub(open);
            if sh < LANES && f >> g.row_shift == open >> g.row_shift {
                let low = m & ((1 << (LANES - sh)) - 1);
                *w.blocks.mask.last_mut().expect("an open block") |= (low << sh) as u8;
                m &= !low;
            }
            if m == 0 {
                continue;
            }
            let j = m.trailing_zeros() as usize;
            let id = f + j;
            open = id;
            let (ri, i) = g.row_and_window(id);
            let s = block_tables(sum, g.row_base[ri] + i);
            let inv: [f32; LANES] = w.window_inv[id..id + LANES].try_into().expect("LANES long");
            w.blocks.push(s, inv, (m >> j) as u8, id as u32);
        }
    }

    /// The fixed-point sums of a stage over the blocks: from the stage's base (its right
    /// leaves), each stump adds its `delta` where the value is below its threshold.
    #[inline(always)]
    fn add_fixed_point_leaves(&mut self, stumps: &[CompactStump], deltas: &[i32], fx: &FixedStage) {
        let w = &mut *self.work;
        let (bl, acc) = (&w.blocks, &mut w.acc_fixed);
        acc.clear();
        acc.resize(bl.mask.len(), [fx.base; LANES]);
        for (st, &delta) in stumps.iter().zip(deltas) {
            let (sum, inv) = (&bl.sum[..], &bl.inv[..]);
            match self.simd {
                #[cfg(target_arch = "x86_64")]
                Some(v3) => by_kind!(st.kind, stump_pass_fixed_v3(v3, st, delta, sum, inv, acc)),
                _ => {
                    let add = |a: &mut i32, below: bool| {
                        *a = a.wrapping_add(if below { delta } else { 0 })
                    };
                    by_kind!(st.kind, stump_pass::<i32>(st, sum, inv, acc, &add))
                }
            }
        }
    }

    /// The lanes passing a fixed-point stage, per block: sums at or above `pass` pass,
    /// those in the band `(reject, pass)` get their exact f64 sum (compared with `thr`).
    #[inline(always)]
    fn decide_fixed_point(&mut self, stumps: &[CompactStump], fx: &FixedStage, thr: f32) {
        let w = &mut *self.work;
        let (bl, pass) = (&w.blocks, &mut w.pass);
        pass.clear();
        let lanes = bl.sum.iter().zip(&bl.inv).zip(&bl.mask);
        for (a, ((t, inv), &mask)) in w.acc_fixed.iter().zip(lanes) {
            let (mut m, mut band) = match self.simd {
                #[cfg(target_arch = "x86_64")]
                Some(v3) => fixed_masks_v3(v3, a, fx),
                _ => (0..LANES).fold((0u8, 0u8), |(m, band), j| {
                    let above = a[j] > fx.reject;
                    let ok = a[j] >= fx.pass;
                    (m | (ok as u8) << j, band | ((above && !ok) as u8) << j)
                }),
            };
            band &= mask;
            while band != 0 {
                let j = band.trailing_zeros() as usize;
                band &= band - 1;
                let ok = exact_stage_sum(stumps, &t[j..], inv[j]) >= thr as f64;
                m |= (ok as u8) << j;
            }
            pass.push(m & mask);
        }
    }

    /// The lanes passing a stage summed in f64 (OpenCV's sequential sum per lane, kept in
    /// the blocks' `acc`: the last stage's sums are the scores), per block.
    #[inline(always)]
    fn decide_f64(&mut self, stumps: &[CompactStump], thr: f32) {
        let w = &mut *self.work;
        let bl = &mut w.blocks;
        let acc = &mut bl.acc;
        acc.clear();
        acc.resize(bl.mask.len(), [0.0; LANES]);
        for st in stumps {
            let (sum, inv) = (&bl.sum[..], &bl.inv[..]);
            match self.simd {
                #[cfg(target_arch = "x86_64")]
                Some(v3) => by_kind!(st.kind, stump_pass_v3(v3, st, sum, inv, acc)),
                _ => {
                    let add = |a: &mut f64, below: bool| {
                        *a += if below { st.rule.left } else { st.rule.right } as f64
                    };
                    by_kind!(st.kind, stump_pass::<f64>(st, sum, inv, acc, &add))
                }
            }
        }
        let pass = &mut w.pass;
        pass.clear();
        for (a, &mask) in acc.iter().zip(&bl.mask) {
            let mut m = 0u8;
            for (j, v) in a.iter().enumerate() {
                m |= ((*v >= thr as f64) as u8) << j;
            }
            pass.push(m & mask);
        }
    }

    /// OpenCV's scan order after stage 0: a window rejected by stage 0 skips the next
    /// one. Stage-0 blocks are the variance blocks: block b of row ri holds windows
    /// `ri * row_len + 8 b` onwards (slot `ri * slots_per_row + b`). Keeps the visited
    /// lanes of `pass`.
    #[inline(always)]
    fn apply_skip_rule(&mut self, g: &StripeGrid) {
        let w = &mut *self.work;
        let (bl, pass) = (&w.blocks, &mut w.pass);
        let slots = g.ys.len() * g.slots_per_row;
        w.rejected0.clear();
        w.rejected0.resize(slots, 0);
        w.visited.clear();
        w.visited.resize(slots, 0);
        for ((&f, &mask), &ps) in bl.first.iter().zip(&bl.mask).zip(pass.iter()) {
            w.rejected0[f as usize / LANES] = mask & !ps;
        }
        let last = if g.nk.is_multiple_of(LANES) {
            u8::MAX
        } else {
            (1u8 << (g.nk % LANES)) - 1
        };
        for ri in 0..g.ys.len() {
            let row = ri * g.slots_per_row..ri * g.slots_per_row + g.nb;
            let mut skip = false;
            for (v, &r) in w.visited[row.clone()].iter_mut().zip(&w.rejected0[row]) {
                (*v, skip) = SKIP_RULE[skip as usize][r as usize];
            }
            w.visited[ri * g.slots_per_row + g.nb - 1] &= last;
        }
        for (ps, &f) in pass.iter_mut().zip(&bl.first) {
            *ps &= w.visited[f as usize / LANES];
        }
    }

    /// Pushes the accepted windows, with the last stage's f64 sums as scores (the last
    /// stage never uses fixed point).
    #[inline(always)]
    fn emit_accepted(&mut self, g: &StripeGrid) {
        let bl = &self.work.blocks;
        for ((&f, acc), &ps) in bl.first.iter().zip(&bl.acc).zip(&self.work.pass) {
            let (ri, i) = g.row_and_window(f as usize);
            for (j, &score) in acc.iter().enumerate() {
                if ps >> j & 1 == 1 {
                    self.out.push((g.ys[ri], (i + j) * g.step, score));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::cascade::{Cascade, STAGE_EPS, effective_threshold};
    use crate::detect::{DetectParams, Detector, TestRng};

    #[test]
    fn skip_rule_table_equals_the_sequential_scan() {
        // OpenCV's loop over 3 blocks of windows: visit, and skip the next window after
        // a stage-0 rejection; the table carries the skip from block to block.
        let mut rng = TestRng(11);
        for _ in 0..2000 {
            let r: [u8; 3] = std::array::from_fn(|_| rng.below(256) as u8);
            let mut want = [0u8; 3];
            let mut i = 0;
            while i < 3 * LANES {
                want[i / LANES] |= 1 << (i % LANES);
                i += if r[i / LANES] >> (i % LANES) & 1 == 1 {
                    2
                } else {
                    1
                };
            }
            let mut skip = false;
            for b in 0..3 {
                let (v, s) = SKIP_RULE[skip as usize][r[b] as usize];
                assert_eq!(v, want[b], "{r:?} block {b}");
                skip = s;
            }
        }
    }

    #[test]
    fn vector_variance_equals_the_scalar_one() {
        let simd = crate::simd::v3(false);
        let mut rng = TestRng(13);
        let mut passed = 0;
        for case in 0..3000 {
            // Tables whose corner differences give sums of squares across the whole u32
            // range (half of them above 2^31) and sums up to +-2^20.
            let q: [u32; WINDOW_SLICE + LANES] = std::array::from_fn(|_| rng.next() as u32);
            let s: [i32; WINDOW_SLICE + LANES] =
                std::array::from_fn(|_| rng.below(1 << 20) as i32 - (1 << 19));
            let c: [usize; 4] = std::array::from_fn(|_| rng.below(WINDOW_SLICE as u64) as usize);
            let area = [484.0, 48.0, 1.0, 1e6][case % 4];
            let mut want = [0f32; LANES];
            let ok = variance(&s, &q, c, area, &mut want);
            passed += ok.count_ones();
            #[cfg(target_arch = "x86_64")]
            if let Some(v3) = simd {
                let mut got = [0f32; LANES];
                let got_ok = variance_v3(v3, &s, &q, c, area, &mut got);
                assert_eq!(got_ok, ok, "case {case}");
                for j in (0..LANES).filter(|j| ok >> j & 1 == 1) {
                    assert_eq!(got[j].to_bits(), want[j].to_bits(), "case {case}");
                }
            }
            // The scalar test against its definition.
            for j in 0..LANES {
                let ss = s[c[0] + j] - s[c[1] + j] - s[c[2] + j] + s[c[3] + j];
                let qq = q[c[0] + j]
                    .wrapping_sub(q[c[1] + j])
                    .wrapping_sub(q[c[2] + j])
                    .wrapping_add(q[c[3] + j]);
                let nf = area * qq as f64 - (ss as f64) * (ss as f64);
                let inv = (1.0 / nf.sqrt()) as f32;
                assert_eq!(want[j].to_bits(), inv.to_bits());
                assert_eq!(ok >> j & 1 == 1, nf > 0.0 && area * (inv as f64) < 0.1);
            }
        }
        assert!(passed > 100, "{passed}");
        // At the std-dev threshold (S = 0, Q around 100 A), where the vector code's
        // shortcut for blocks that surely fail must not drop a passing lane.
        for area in [484.0f64, 48.0, 1.0] {
            let (mut flips, mut last) = (0, None);
            for q0 in (100.0 * area) as u32 - 40..(100.0 * area) as u32 + 40 {
                let mut q = [0u32; WINDOW_SLICE + LANES];
                for j in 0..LANES {
                    q[10 + j] = q0 + j as u32;
                }
                let (s, c) = ([0i32; WINDOW_SLICE + LANES], [10, 0, 0, 0]);
                let mut want = [0f32; LANES];
                let ok = variance(&s, &q, c, area, &mut want);
                for j in 0..LANES {
                    let nf = area * (q0 + j as u32) as f64;
                    let pass = area * ((1.0 / nf.sqrt()) as f32 as f64) < 0.1;
                    assert_eq!(ok >> j & 1 == 1, pass);
                }
                flips += (last.is_some_and(|l| l != ok)) as u32;
                last = Some(ok);
                #[cfg(target_arch = "x86_64")]
                if let Some(v3) = simd {
                    let mut got = [0f32; LANES];
                    assert_eq!(variance_v3(v3, &s, &q, c, area, &mut got), ok, "Q {q0}");
                }
            }
            assert!(flips > 0, "the threshold lies in the range for area {area}");
        }
    }

    /// A random stump cascade on 10x8 windows: upright rectangles with integer weights
    /// (the compact form the lane code evaluates), leaves on a coarse grid and stage
    /// thresholds equal to reachable sums, so that fixed-point sums land in the band
    /// where the exact f64 sum decides.
    fn random_compact_cascade(rng: &mut TestRng) -> Cascade {
        let (ww, wh) = (10usize, 8usize);
        let mut features = String::new();
        let mut stages = String::new();
        let mut f = 0;
        let n_stages = 2 + rng.below(3) as usize;
        for s in 0..n_stages {
            let n = 1 + rng.below(6) as usize;
            let mut weak = String::new();
            let mut leaves = Vec::new();
            for _ in 0..n {
                let (x, y) = (
                    rng.below(ww as u64 - 3) as usize,
                    rng.below(wh as u64 - 3) as usize,
                );
                let w = 2 + rng.below((ww - x - 1) as u64) as usize;
                let h = 2 + rng.below((wh - y - 1) as u64) as usize;
                let (w, h) = (w.min(ww - x), h.min(wh - y));
                let (hw, hh) = ((w / 2).max(1), (h / 2).max(1));
                let rects = match rng.below(6) {
                    0 => format!("<_>{x} {y} {w} {h} -1.</_><_>{x} {y} {} {h} 2.</_>", w / 2),
                    // Edge features with the other halves, and checkerboards on either
                    // diagonal (their rectangles share corners).
                    3 => format!(
                        "<_>{x} {y} {w} {h} -1.</_><_>{x} {} {w} {} 2.</_>",
                        y + h - hh,
                        hh
                    ),
                    4 => format!(
                        "<_>{x} {y} {w} {h} -1.</_><_>{x} {y} {hw} {hh} 2.</_><_>{} {} {} {} 2.</_>",
                        x + hw,
                        y + hh,
                        w - hw,
                        h - hh
                    ),
                    5 => format!(
                        "<_>{x} {y} {w} {h} -1.</_><_>{} {y} {} {hh} 2.</_><_>{x} {} {hw} {} 2.</_>",
                        x + hw,
                        w - hw,
                        y + hh,
                        h - hh
                    ),
                    1 => format!(
                        "<_>{x} {y} {w} {h} -1.</_><_>{x} {y} {w} {} 3.</_>",
                        (h / 3).max(1)
                    ),
                    _ => format!(
                        "<_>{x} {y} {w} {h} 2.</_><_>{x} {y} {} {} -3.</_><_>{} {y} 1 {h} 1.</_>",
                        (w / 2).max(1),
                        h,
                        x + w - 1
                    ),
                };
                features.push_str(&format!("<_><rects>{rects}</rects></_>"));
                let thr = (rng.unit() - 0.5) * 0.6;
                let (l, r) = (
                    (rng.below(9) as f32 - 4.0) * 0.25,
                    (rng.below(9) as f32 - 4.0) * 0.25,
                );
                leaves.push((l, r));
                weak.push_str(&format!(
                    "<_><internalNodes>0 -1 {f} {thr}</internalNodes><leafValues>{l} {r}</leafValues></_>"
                ));
                f += 1;
            }
            // A reachable sum as the effective threshold f32(T) - 1e-5f.
            let target: f32 = leaves
                .iter()
                .map(|&(l, r)| if rng.below(2) == 0 { l } else { r })
                .sum();
            let mut t = target + STAGE_EPS;
            for _ in 0..64 {
                let eff = effective_threshold(t);
                if eff == target {
                    break;
                }
                t = if eff < target {
                    t.next_up()
                } else {
                    t.next_down()
                };
            }
            let _ = s;
            stages.push_str(&format!(
                "<_><stageThreshold>{t:e}</stageThreshold><weakClassifiers>{weak}</weakClassifiers></_>"
            ));
        }
        let xml = format!(
            "<opencv_storage><cascade><stageType>BOOST</stageType><featureType>HAAR</featureType>\
             <height>{wh}</height><width>{ww}</width><stages>{stages}</stages>\
             <features>{features}</features></cascade></opencv_storage>"
        );
        Cascade::from_xml(&xml, "random.xml").expect("valid random cascade")
    }

    #[test]
    fn lane_scan_equals_window_by_window_evaluation() {
        let mut rng = TestRng(0xcafe);
        let mut hits = 0;
        let mut shapes = [0; 3];
        for case in 0..24 {
            let cascade = random_compact_cascade(&mut rng);
            for dual in [false, true] {
                for st in FeatureOffsets::new(&cascade, 64, dual).compact {
                    match st.kind {
                        Kind::EdgeShared => shapes[0] += 1,
                        Kind::CheckShared => shapes[1] += 1,
                        Kind::CheckSharedNeg => shapes[2] += 1,
                        _ => {}
                    }
                }
            }
            let det = Detector::new(cascade).unwrap();
            assert!(
                !det.program.fixed.iter().all(|f| f.is_none()) || det.program.stages.len() == 1
            );
            let reference = Detector {
                window_by_window: true,
                ..det.clone()
            };
            let portable = det.clone().with_portable_simd(true);
            let (w, h) = (37 + case, 29 + case / 2);
            // Noise on a gradient: most windows pass the variance test.
            let px: Vec<u8> = (0..w * h)
                .map(|i| ((i % w) * 3 + (i / w) * 2 + rng.below(90) as usize) as u8)
                .collect();
            let p = DetectParams {
                scale_factor: 1.25,
                min_neighbors: 0,
                min_size: (10, 8),
                ..Default::default()
            };
            let want = reference.raw_hits(&px, w, h, &p).unwrap();
            assert_eq!(det.raw_hits(&px, w, h, &p).unwrap(), want, "case {case}");
            assert_eq!(
                portable.raw_hits(&px, w, h, &p).unwrap(),
                want,
                "case {case}"
            );
            hits += want.len();
        }
        assert!(
            hits > 100,
            "the random cascades accept some windows ({hits})"
        );
        // Every shared-corner kernel ran.
        assert!(shapes.iter().all(|&n| n > 3), "{shapes:?}");
    }

    #[test]
    fn lane_scan_of_images_about_one_window_wide_equals_the_reference() {
        // Last pyramid levels at or just under the window size (10x8) must give the
        // reference's hits (none, or a few), never a panic.
        let mut rng = TestRng(0xbeef);
        let det = Detector::new(random_compact_cascade(&mut rng)).unwrap();
        let reference = Detector {
            window_by_window: true,
            ..det.clone()
        };
        for (w, h) in [
            (10, 8),
            (11, 8),
            (10, 9),
            (9, 8),
            (10, 7),
            (12, 10),
            (21, 17),
        ] {
            let px: Vec<u8> = (0..w * h).map(|_| rng.below(256) as u8).collect();
            for sf in [1.05, 1.1, 1.3] {
                let p = DetectParams {
                    scale_factor: sf,
                    min_neighbors: 0,
                    ..Default::default()
                };
                let want = reference.raw_hits(&px, w, h, &p).unwrap();
                assert_eq!(
                    det.raw_hits(&px, w, h, &p).unwrap(),
                    want,
                    "{w}x{h} sf {sf}"
                );
            }
        }
    }
}
