//! The compiled program of a cascade: everything the scan needs, built once from a
//! [`Cascade`] (stage thresholds, stumps or trees, fixed-point stage forms) and, per table
//! stride and layout, the feature offsets ([`FeatureOffsets`]).
//!
//! # Window-by-window evaluation
//! [`Program::run`] evaluates one window as OpenCV does: the variance test
//! ([`variance_passes`] on `nf = A Q - S²` with `inv = `[`inverse_norm`]`(nf)`), then each
//! stage's sum in f64 in weak-classifier order, compared with the stage's
//! [`effective_threshold`] `f32(threshold) - 1e-5f`. A feature's value is its f32 weighted
//! rectangle sum times `inv` in f32; with integer weights and sums below 2^24 the integer
//! sum is formed instead (the same f32 value). Where every partial sum of a stage's leaves
//! is exact in f64 ([`stage_sum_is_exact`]), two accumulators may form it in any order and
//! still give OpenCV's sum.
//!
//! # Compact stumps and fixed-point stages
//! Stump cascades of upright rectangles with integer weights and 16-bit offsets compile to
//! [`CompactStump`]s, the form the lane scan evaluates (see `lanes`). Edge features and
//! checkerboards whose rectangles share corners are summed over their distinct corners
//! ([`shared_corners`]). Every stage but the last gets a fixed-point form
//! ([`FixedStage`]): leaves rounded to units of `2^-q`, summed exactly in i32, with pass
//! and reject bounds outside of which OpenCV's f64 sum is surely on the same side of the
//! threshold; between them the exact f64 sum decides.
//!
//! # Layouts
//! Offsets are compiled for one table stride; the `dual` form addresses column-de-
//! interleaved rows (each row's even columns, then its odd ones), so that windows two
//! columns apart read adjacent table entries.

use crate::detect::Tables;
use crate::detect::cascade::{
    Cascade, FeatureType, NodeSplit, Stage, effective_threshold, inverse_norm, variance_passes,
};
use crate::detect::haar::HaarFeature;
use crate::detect::integral::{TableValue, corner_sum};
use crate::detect::lbp::code_from_corners;

/// Which lane kernel variant (`lanes::lane_feature`) a stump takes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Kind {
    /// Weights `-1, 2` (edge features).
    Edge,
    /// Weights `-1, 3` (line features).
    Line,
    /// Weights `-1, 2, 2` (checkerboards).
    Check,
    /// Any other two weights, `w0 = -1`.
    Neg2,
    /// Any other three weights, `w0 = -1`.
    Neg3,
    /// Any two weights.
    Any2,
    /// Any three weights.
    Any3,
    /// An edge feature over its 6 distinct corners.
    EdgeShared,
    /// A checkerboard over its 9 distinct corners, `s = 1`.
    CheckShared,
    /// A checkerboard over its 9 distinct corners, `s = -1`.
    CheckSharedNeg,
}

impl Kind {
    #[inline(always)]
    fn of(st: &CompactStump) -> Kind {
        match (st.w[2] != 0, st.w[0] == -1, st.w[1]) {
            (false, true, 2) => Kind::Edge,
            (false, true, 3) => Kind::Line,
            (true, true, 2) if st.w[2] == 2 => Kind::Check,
            (false, true, _) => Kind::Neg2,
            (true, true, _) => Kind::Neg3,
            (false, false, _) => Kind::Any2,
            (true, false, _) => Kind::Any3,
        }
    }
}

/// Stride-independent evaluation program: stages, stumps or trees, thresholds.
#[derive(Clone, Debug)]
pub(super) struct Program {
    pub(super) haar: bool,
    stumps: bool,
    /// `(first weak, weak count, f32(threshold) - 1e-5f)`.
    pub(super) stages: Vec<(usize, usize, f32)>,
    /// Per stage: every partial f64 sum of its leaves is exact, so the sum may be formed
    /// in any order (two accumulators) and still equal OpenCV's sequential sum.
    exact: Vec<bool>,
    /// Per stage of a stump cascade: integer thresholds for fixed-point stage sums
    /// (`None`: f64 sums; always for the last stage, whose sum is the score).
    pub(super) fixed: Vec<Option<FixedStage>>,
    /// Per stump: left leaf minus right leaf in the fixed-point units of its stage (see
    /// [`fixed_terms`]; 0 where `None`).
    pub(super) fixed_delta: Vec<i32>,
    /// Stumps: feature, threshold, left, right (one per weak classifier when `stumps`).
    stump: Vec<(u32, f32, f32, f32)>,
    /// LBP sets, one per node (stumps or trees).
    subsets: Vec<[u32; 8]>,
    /// Trees: (first node, first leaf), when not `stumps`.
    trees: Vec<(usize, usize)>,
    /// Tree nodes: feature, threshold, left, right.
    nodes: Vec<(u32, f32, i32, i32)>,
    leaves: Vec<f32>,
    /// Normalisation rectangle area (Haar): (w0-2)(h0-2).
    pub(super) norm_area: f64,
}

impl Program {
    pub(super) fn new(c: &Cascade) -> Program {
        let stumps = c.is_stump_based();
        let mut p = Program {
            haar: c.feature_type == FeatureType::Haar,
            stumps,
            stages: Vec::new(),
            exact: Vec::new(),
            fixed: Vec::new(),
            fixed_delta: Vec::new(),
            stump: Vec::new(),
            subsets: Vec::new(),
            trees: Vec::new(),
            nodes: Vec::new(),
            leaves: Vec::new(),
            norm_area: (c.window_width.saturating_sub(2) * c.window_height.saturating_sub(2))
                as f64,
        };
        let mut first = 0;
        for st in &c.stages {
            p.stages
                .push((first, st.trees.len(), effective_threshold(st.threshold)));
            p.exact.push(stage_sum_is_exact(st));
            let last = p.stages.len() == c.stages.len();
            match fixed_stage(st, effective_threshold(st.threshold)).filter(|_| stumps && !last) {
                Some((f, leaves)) => {
                    p.fixed.push(Some(f));
                    p.fixed_delta.extend(fixed_terms(&leaves).1);
                }
                None => {
                    p.fixed.push(None);
                    p.fixed_delta.extend(std::iter::repeat_n(0, st.trees.len()));
                }
            }
            first += st.trees.len();
            for t in &st.trees {
                if !stumps {
                    p.trees.push((p.nodes.len(), p.leaves.len()));
                    p.leaves.extend_from_slice(&t.leaves);
                }
                for n in &t.nodes {
                    let thr = match &n.split {
                        NodeSplit::Threshold(v) => *v,
                        NodeSplit::Subset(m) => {
                            p.subsets.push(*m);
                            0.0
                        }
                    };
                    if stumps {
                        p.stump.push((n.feature, thr, t.leaves[0], t.leaves[1]));
                    } else {
                        p.nodes.push((n.feature, thr, n.left, n.right));
                    }
                }
            }
        }
        p
    }

    /// Runs the cascade on the window whose top-left table entry is `base`: returns
    /// OpenCV's result code (1 accepted, 0 rejected by stage 0, -1 variance, -k stage k)
    /// and the last stage sum.
    #[inline]
    pub(super) fn run(&self, c: &FeatureOffsets, t: &Tables, base: usize) -> (i32, f64) {
        if self.haar {
            let (s, q) = (
                corner_sum(t.sum, base, c.norm),
                corner_sum(t.sqsum, base, c.norm),
            );
            let nf = self.norm_area * q as f64 - s as f64 * s as f64;
            let inv = inverse_norm(nf);
            if !variance_passes(nf, self.norm_area, inv) {
                return (-1, 0.0);
            }
            if c.span <= WINDOW_SLICE {
                let sum: &[i32; WINDOW_SLICE] = t.sum[base..base + WINDOW_SLICE]
                    .try_into()
                    .expect("padded tables");
                let tilted: &[i32; WINDOW_SLICE] = if c.any_tilted {
                    t.tilted[base..base + WINDOW_SLICE]
                        .try_into()
                        .expect("padded tables")
                } else {
                    sum
                };
                self.eval_haar(c, sum, tilted, inv)
            } else {
                let sum = &t.sum[base..base + c.span];
                let tilted = if c.any_tilted {
                    &t.tilted[base..base + c.span]
                } else {
                    sum
                };
                self.eval_haar(c, sum, tilted, inv)
            }
        } else if c.span <= WINDOW_SLICE {
            let sum: &[i32; WINDOW_SLICE] = t.sum[base..base + WINDOW_SLICE]
                .try_into()
                .expect("padded tables");
            self.eval_lbp(c, sum)
        } else {
            self.eval_lbp(c, &t.sum[base..base + c.span])
        }
    }

    #[inline(always)]
    fn eval_haar<T: Table>(&self, c: &FeatureOffsets, sum: T, tilted: T, inv: f32) -> (i32, f64) {
        if self.stumps {
            if T::IS_WINDOW_SLICE && !c.compact.is_empty() {
                self.haar_stumps(&c.compact, sum, tilted, inv, 0)
            } else {
                self.haar_stumps(&c.haar, sum, tilted, inv, 0)
            }
        } else {
            self.trees(
                |f| c.haar[f as usize].value(sum, tilted) * inv,
                |_, _| false,
            )
        }
    }

    /// Stump cascades: the stage sums, each stump giving its leaf.
    #[inline(always)]
    fn haar_stumps<T: Table, S: Stump>(
        &self,
        all: &[S],
        sum: T,
        tilted: T,
        inv: f32,
        from: usize,
    ) -> (i32, f64) {
        let mut acc = 0.0f64;
        for (si, &(first, count, thr)) in self.stages.iter().enumerate().skip(from) {
            let stumps = &all[first..first + count];
            acc = if self.exact[si] {
                // Two independent chains let consecutive stumps overlap.
                let (mut a, mut b) = (0.0f64, 0.0f64);
                let mut pairs = stumps.chunks_exact(2);
                for pair in &mut pairs {
                    a += pair[0].leaf(sum, tilted, inv);
                    b += pair[1].leaf(sum, tilted, inv);
                }
                for f in pairs.remainder() {
                    a += f.leaf(sum, tilted, inv);
                }
                a + b
            } else {
                let mut a = 0.0f64;
                for f in stumps {
                    a += f.leaf(sum, tilted, inv);
                }
                a
            };
            if acc < thr as f64 {
                return (-(si as i32), acc);
            }
        }
        (1, acc)
    }

    #[inline(always)]
    fn eval_lbp<T: Table>(&self, c: &FeatureOffsets, sum: T) -> (i32, f64) {
        let code = |f: u32| {
            let o = &c.lbp[f as usize];
            let p: [i32; 16] = std::array::from_fn(|k| sum.at(o[k]));
            code_from_corners(&p)
        };
        if self.stumps {
            self.lbp_stumps(code)
        } else {
            self.trees(
                |f| code(f) as f32,
                |node, v| {
                    let m = &self.subsets[node];
                    let code = v as u32;
                    (m[(code >> 5) as usize] >> (code & 31)) & 1 == 1
                },
            )
        }
    }

    #[inline(always)]
    fn lbp_stumps(&self, code: impl Fn(u32) -> u32) -> (i32, f64) {
        let mut acc = 0.0f64;
        for (si, &(first, count, thr)) in self.stages.iter().enumerate() {
            let leaf = |k: usize| {
                let (f, _, l, r) = self.stump[k];
                let c = code(f);
                let m = &self.subsets[k];
                let set = (m[(c >> 5) as usize] >> (c & 31)) & 1 == 1;
                (if set { l } else { r }) as f64
            };
            acc = if self.exact[si] {
                let (mut a, mut b) = (0.0f64, 0.0f64);
                let mut k = first;
                while k + 1 < first + count {
                    a += leaf(k);
                    b += leaf(k + 1);
                    k += 2;
                }
                if k < first + count {
                    a += leaf(k);
                }
                a + b
            } else {
                let mut a = 0.0f64;
                for k in first..first + count {
                    a += leaf(k);
                }
                a
            };
            if acc < thr as f64 {
                return (-(si as i32), acc);
            }
        }
        (1, acc)
    }

    /// General trees. `value(feature)` gives the node's input; for LBP, `categorical`
    /// answers "go left?" from (node index, value), for Haar the threshold decides.
    fn trees(
        &self,
        value: impl Fn(u32) -> f32,
        categorical: impl Fn(usize, f32) -> bool,
    ) -> (i32, f64) {
        let mut acc = 0.0f64;
        for (si, &(first, count, thr)) in self.stages.iter().enumerate() {
            acc = 0.0;
            for &(n0, l0) in &self.trees[first..first + count] {
                let mut idx = 0i32;
                loop {
                    let node = n0 + idx as usize;
                    let (f, t, l, r) = self.nodes[node];
                    let v = value(f);
                    let left = if self.haar {
                        v < t
                    } else {
                        categorical(node, v)
                    };
                    idx = if left { l } else { r };
                    if idx <= 0 {
                        break;
                    }
                }
                acc += self.leaves[l0 + (-idx) as usize] as f64;
            }
            if acc < thr as f64 {
                return (-(si as i32), acc);
            }
        }
        (1, acc)
    }
}

/// Decision thresholds of a fixed-point stage sum `A` (an exact i32 sum of the leaves
/// rounded to units of `2^-q`): `A >= pass` means OpenCV's f64 sum surely reaches the
/// stage threshold, `A <= reject` that it surely does not; in between (a band a few
/// units wide) the window's f64 sum is formed exactly as OpenCV does, so decisions never
/// differ from OpenCV's.
#[derive(Clone, Copy, Debug)]
pub(super) struct FixedStage {
    pub(super) pass: i32,
    pub(super) reject: i32,
    /// The sum of the right leaves (wrapping), where the scan's sums start.
    pub(super) base: i32,
}

/// The scan's form of fixed-point leaves `(left, right)`: the sum of the right leaves,
/// and per stump `left - right`, added where the value is below the threshold. In
/// wrapping i32 arithmetic the result is the exact sum of the chosen leaves, which lies
/// within `+-2^30`.
fn fixed_terms(leaves: &[(i32, i32)]) -> (i32, Vec<i32>) {
    let base = leaves.iter().fold(0i32, |a, l| a.wrapping_add(l.1));
    (base, leaves.iter().map(|l| l.0.wrapping_sub(l.1)).collect())
}

/// The fixed-point form of a stump stage with threshold `thr`, and its leaves in units
/// of `2^-q`, where `q` makes the sum of the largest leaves at most `2^30`.
///
/// Bounds: each rounded leaf is within `2^-(q+1)` of its value, so `A 2^-q` is within
/// `n 2^-(q+1)` of the exact sum `S` of the chosen leaves; OpenCV's sequential f64 sum is
/// within `n B 2^-52` of `S` (`B` the sum of the largest leaves, bounding every partial
/// sum). With `E` the sum of both, `A 2^-q >= thr + E` implies OpenCV's sum `>= thr`, and
/// `A 2^-q < thr - E` that it is `< thr`; one unit of margin on each side covers the f64
/// rounding of the bounds themselves. `None` for trees or non-finite leaves.
fn fixed_stage(stage: &Stage, thr: f32) -> Option<(FixedStage, Vec<(i32, i32)>)> {
    if stage.trees.iter().any(|t| t.leaves.len() != 2) || !thr.is_finite() {
        return None;
    }
    let n = stage.trees.len() as f64;
    let bound: f64 = stage
        .trees
        .iter()
        .map(|t| (t.leaves[0].abs() as f64).max(t.leaves[1].abs() as f64))
        .sum();
    if !bound.is_finite() {
        return None;
    }
    // The largest q with bound 2^q <= 2^30 (any q when all leaves are 0). f32 leaves
    // keep q within about +-200, where 2^q is a finite f64; anything else falls back.
    let q = if bound > 0.0 {
        (30.0 - bound.log2()).floor()
    } else {
        0.0
    };
    if !(-400.0..=400.0).contains(&q) {
        return None;
    }
    let unit = 2f64.powi(q as i32);
    if !(unit.is_finite() && unit > 0.0 && bound * unit <= (1u64 << 30) as f64 * (1.0 + 1e-12)) {
        return None;
    }
    let leaves: Vec<(i32, i32)> = stage
        .trees
        .iter()
        .map(|t| {
            let f = |v: f32| (v as f64 * unit).round() as i32;
            (f(t.leaves[0]), f(t.leaves[1]))
        })
        .collect();
    let err = n * 0.5 / unit + n * bound * 2f64.powi(-52);
    let thr = thr as f64;
    let clamp = |v: f64| v.clamp(i32::MIN as f64, i32::MAX as f64) as i32;
    let pass = clamp(((thr + err) * unit).ceil() + 1.0);
    let reject = clamp(((thr - err) * unit).floor() - 1.0);
    let base = fixed_terms(&leaves).0;
    Some((FixedStage { pass, reject, base }, leaves))
}

/// Whether every partial sum of a stage's leaf values (one leaf per tree) is exact in
/// f64: all leaves are multiples of the smallest one's ulp, and the largest possible sum
/// stays below 2^53 such ulps. Then the order of the additions cannot change the result.
fn stage_sum_is_exact(stage: &Stage) -> bool {
    let leaves = stage
        .trees
        .iter()
        .flat_map(|t| &t.leaves)
        .filter(|v| **v != 0.0);
    // Unbiased binary exponent of a normal f32 (subnormals are refused below).
    let exponent = |v: f32| ((v.to_bits() >> 23) & 0xff) as i32 - 127;
    let Some(min_exp) = leaves.clone().map(|v| exponent(*v)).min() else {
        return true;
    };
    if leaves.clone().any(|v| v.abs() < f32::MIN_POSITIVE) {
        return false;
    }
    let bound: f64 = stage
        .trees
        .iter()
        .map(|t| t.leaves.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64)))
        .sum();
    let ulp = 2f64.powi(min_exp - 23);
    bound / ulp < 2f64.powi(52)
}

/// Feature offsets for one table stride.
#[derive(Clone, Debug)]
pub(super) struct FeatureOffsets {
    pub(super) stride: usize,
    /// The [`Detector`](crate::detect::Detector) these offsets belong to.
    pub(super) detector: u64,
    /// Per Haar feature, or per stump in weak-classifier order for stump cascades.
    haar: Vec<HaarC>,
    lbp: Vec<[u32; 16]>,
    pub(super) norm: [usize; 4],
    /// One past the largest offset (windows are sliced to this length).
    span: usize,
    any_tilted: bool,
    /// [`CompactStump`]s, when every stump qualifies and offsets fit 16 bits (else empty).
    pub(super) compact: Vec<CompactStump>,
}

/// Window offsets of 16 bits: a window slice of this length is indexed without bounds
/// checks (tables are padded by this much).
pub(super) const WINDOW_SLICE: usize = 1 << 16;

/// A window's view of an integral table.
pub(super) trait Table: Copy {
    /// Whether this is a [`WINDOW_SLICE`]-long slice: offsets below it are all it needs,
    /// read without bounds checks.
    const IS_WINDOW_SLICE: bool;
    fn at(self, o: u32) -> i32;

    /// The rectangle sum over the corners at offsets `o` ([`TableValue::rect`]).
    #[inline(always)]
    fn rect(self, o: [u32; 4]) -> i32 {
        i32::rect(self.at(o[0]), self.at(o[1]), self.at(o[2]), self.at(o[3]))
    }
}

impl Table for &[i32; WINDOW_SLICE] {
    const IS_WINDOW_SLICE: bool = true;
    #[inline(always)]
    fn at(self, o: u32) -> i32 {
        // Offsets are below WINDOW_SLICE whenever this table type is used.
        self[o as u16 as usize]
    }
}

impl Table for &[i32] {
    const IS_WINDOW_SLICE: bool = false;
    #[inline(always)]
    fn at(self, o: u32) -> i32 {
        self[o as usize]
    }
}

/// A stump that turns a window into its leaf value.
pub(super) trait Stump {
    fn leaf<T: Table>(&self, sum: T, tilted: T, inv: f32) -> f64;
}

impl Stump for HaarC {
    #[inline(always)]
    fn leaf<T: Table>(&self, sum: T, tilted: T, inv: f32) -> f64 {
        self.rule.leaf(self.value(sum, tilted) * inv)
    }
}

/// A stump's decision: the left leaf where the feature value is below the threshold,
/// else the right one (OpenCV's `value < threshold`, in f32, leaf widened to f64).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct StumpRule {
    pub(super) thr: f32,
    pub(super) left: f32,
    pub(super) right: f32,
}

impl StumpRule {
    /// The leaf for feature value `v` (already scaled by the window's inverse norm).
    #[inline(always)]
    fn leaf(&self, v: f32) -> f64 {
        (if v < self.thr { self.left } else { self.right }) as f64
    }
}

/// The fast stump: upright rectangles, integer weights, 16-bit offsets (48 bytes). A
/// missing third rectangle has weight 0 and offsets 0, so all three terms are formed
/// without branches; the integer sum is exact and equals OpenCV's f32 sum.
#[derive(Clone, Copy, Debug)]
pub(super) struct CompactStump {
    pub(super) o: [u16; 12],
    pub(super) w: [i32; 3],
    pub(super) rule: StumpRule,
    /// The lane kernel; for [`Kind::EdgeShared`] and the checkerboards, `so` holds the
    /// distinct corners of the feature (see [`shared_corners`]).
    pub(super) kind: Kind,
    pub(super) so: [u16; 9],
}

impl CompactStump {
    fn new(o: [u16; 12], w: [i32; 3], rule: StumpRule) -> CompactStump {
        let mut st = CompactStump {
            o,
            w,
            rule,
            kind: Kind::Any3,
            so: [0; 9],
        };
        st.kind = Kind::of(&st);
        if let Some((kind, so)) = shared_corners(&st) {
            (st.kind, st.so) = (kind, so);
        }
        st
    }
}

/// The feature of `st` as a sum over its distinct corners, for the two shapes whose
/// rectangles share corners: an edge feature `2 H - W` with `H` a half of `W` is
/// `(p0 + p1 - m0 - m1) + 2 (u - v)` over 6 corners (8 reads become 6), and a
/// checkerboard `2 Q1 + 2 Q2 - W` with `Q1`, `Q2` opposite quadrants of `W` is
/// `s (A0 + .. + A3 - 2 (B0 + .. + B3) + 4 C)` over the 9 corners of a 3x3 grid (12
/// reads become 9). The same integer, so the same f32 value.
fn shared_corners(st: &CompactStump) -> Option<(Kind, [u16; 9])> {
    let mut coef: Vec<(u16, i32)> = Vec::new();
    for (k, &w) in st.w.iter().enumerate() {
        for (c, sign) in [(0, 1), (1, -1), (2, -1), (3, 1)] {
            let o = st.o[4 * k + c];
            match coef.iter_mut().find(|e| e.0 == o) {
                Some(e) => e.1 += sign * w,
                None => coef.push((o, sign * w)),
            }
        }
    }
    coef.retain(|e| e.1 != 0);
    let with = |c: i32| -> Vec<u16> { coef.iter().filter(|e| e.1 == c).map(|e| e.0).collect() };
    let mut so = [0u16; 9];
    match st.kind {
        Kind::Edge if coef.len() == 6 => {
            let (p, m, u, v) = (with(1), with(-1), with(2), with(-2));
            if (p.len(), m.len(), u.len(), v.len()) != (2, 2, 1, 1) {
                return None;
            }
            so[..6].copy_from_slice(&[p[0], p[1], m[0], m[1], u[0], v[0]]);
            Some((Kind::EdgeShared, so))
        }
        Kind::Check if coef.len() == 9 => {
            for (s, kind) in [(1, Kind::CheckShared), (-1, Kind::CheckSharedNeg)] {
                let (a, b, c) = (with(s), with(-2 * s), with(4 * s));
                if (a.len(), b.len(), c.len()) == (4, 4, 1) {
                    so[..4].copy_from_slice(&a);
                    so[4..8].copy_from_slice(&b);
                    so[8] = c[0];
                    return Some((kind, so));
                }
            }
            None
        }
        _ => None,
    }
}

impl Stump for CompactStump {
    #[inline(always)]
    fn leaf<T: Table>(&self, sum: T, _tilted: T, inv: f32) -> f64 {
        let r = |k: usize| sum.rect(std::array::from_fn(|c| self.o[4 * k + c] as u32));
        let raw = self.w[0] * r(0) + self.w[1] * r(1) + self.w[2] * r(2);
        self.rule.leaf(raw as f32 * inv)
    }
}

#[derive(Clone, Copy, Debug)]
struct HaarC {
    o: [[u32; 4]; 3],
    w: [f32; 3],
    /// The weights as integers, when they all are integers and the weighted sum of the
    /// largest possible rectangle sums stays below 2^24.
    wi: [i32; 3],
    int_weights: bool,
    /// Stump cascades: the node threshold and the two leaves (unused for trees).
    rule: StumpRule,
    tilted: bool,
}

impl HaarC {
    #[inline(always)]
    fn value<T: Table>(&self, sum: T, tilted: T) -> f32 {
        let t = if self.tilted { tilted } else { sum };
        let ri = |o: &[u32; 4]| t.rect(*o);
        let r = |o: &[u32; 4]| ri(o) as f32;
        if self.int_weights {
            // Exact: integer weights and |Σ w R| < 2^24, so the f32 sum OpenCV forms is
            // this integer.
            let mut v = self.wi[0] * ri(&self.o[0]) + self.wi[1] * ri(&self.o[1]);
            if self.wi[2] != 0 {
                v += self.wi[2] * ri(&self.o[2]);
            }
            return v as f32;
        }
        let mut v = self.w[0] * r(&self.o[0]) + self.w[1] * r(&self.o[1]);
        if self.w[2] != 0.0 {
            v += self.w[2] * r(&self.o[2]);
        }
        v
    }
}

impl FeatureOffsets {
    /// Offsets for tables with rows `stride` apart; `dual`: for column-de-interleaved
    /// rows (even columns, then odd ones; see `deinterleave_rows`), as scanned by windows
    /// at even columns, for compact stump cascades only (`compact` is empty otherwise).
    pub(super) fn new(c: &Cascade, stride: usize, dual: bool) -> FeatureOffsets {
        let (w0, h0) = (c.window_width, c.window_height);
        let hs = stride / 2;
        // Entry (x, y) of a window at an even column: row y, half x % 2, entry x / 2.
        let remap = |o: u32| -> u32 {
            if dual {
                let (y, x) = (o as usize / stride, o as usize % stride);
                (y * stride + (x & 1) * hs + (x >> 1)) as u32
            } else {
                o
            }
        };
        let compile = |f: &HaarFeature| {
            let offs: Vec<[u32; 4]> = f
                .corner_offsets(stride)
                .iter()
                .map(|o| o.map(remap))
                .collect();
            let weights: Vec<f32> = f
                .rects
                .iter()
                .map(|r| r.weight)
                .filter(|w| *w != 0.0)
                .collect();
            let mut h = HaarC {
                o: [[0; 4]; 3],
                w: [0.0; 3],
                wi: [0; 3],
                int_weights: false,
                rule: StumpRule::default(),
                tilted: f.tilted,
            };
            for (k, (o, w)) in offs.iter().zip(&weights).enumerate() {
                h.o[k] = *o;
                h.w[k] = *w;
                h.wi[k] = *w as i32;
            }
            let bound: f64 = f
                .rects
                .iter()
                .map(|r| r.weight.abs() as f64 * r.width as f64 * r.height as f64 * 510.0)
                .sum();
            h.int_weights = weights
                .iter()
                .all(|w| w.fract() == 0.0 && w.abs() <= 1024.0)
                && bound < (1u64 << 24) as f64;
            h
        };
        let haar: Vec<HaarC> = if c.feature_type == FeatureType::Haar && c.is_stump_based() {
            c.stages
                .iter()
                .flat_map(|s| &s.trees)
                .map(|t| {
                    let n = &t.nodes[0];
                    let mut h = compile(&c.haar_features[n.feature as usize]);
                    if let NodeSplit::Threshold(v) = n.split {
                        h.rule.thr = v;
                    }
                    (h.rule.left, h.rule.right) = (t.leaves[0], t.leaves[1]);
                    h
                })
                .collect()
        } else {
            c.haar_features.iter().map(compile).collect()
        };
        let at = |x: usize, y: usize| remap((y * stride + x) as u32) as usize;
        // One past the largest offset (a de-interleaved row's odd half starts at hs).
        let span = if dual {
            h0 * stride + hs + w0 / 2 + 1
        } else {
            at(w0, h0) + 1
        };
        let compact = if c.feature_type == FeatureType::Haar
            && c.is_stump_based()
            && !c.has_tilted()
            && span <= WINDOW_SLICE
            && haar.iter().all(|h| h.int_weights)
        {
            haar.iter()
                .map(|h| {
                    CompactStump::new(
                        std::array::from_fn(|k| h.o[k / 4][k % 4] as u16),
                        h.wi,
                        h.rule,
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        let lbp: Vec<[u32; 16]> = c
            .lbp_features
            .iter()
            .map(|f| f.corner_offsets(stride))
            .collect();
        let (nw, nh) = (w0.saturating_sub(2), h0.saturating_sub(2));
        let norm = [at(1, 1), at(1 + nw, 1), at(1, 1 + nh), at(1 + nw, 1 + nh)];
        let compact = if dual && (c.feature_type != FeatureType::Haar || c.has_tilted()) {
            Vec::new()
        } else {
            compact
        };
        FeatureOffsets {
            stride,
            detector: 0,
            haar,
            lbp,
            norm,
            span,
            any_tilted: c.has_tilted(),
            compact,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::TestRng;
    use crate::detect::cascade::WeakTree;
    use crate::detect::integral::deinterleave_rows;

    #[test]
    fn fixed_point_decisions_agree_with_the_sequential_f64_sum() {
        let mut rng = TestRng(0x5eed);
        let mut decided = 0;
        for case in 0..300 {
            let n = 1 + rng.below(if case % 3 == 0 { 200 } else { 12 }) as usize;
            // Leaves of mixed magnitudes (as trained cascades have), some shared.
            let scale = [1e-3, 0.1, 1.0, 30.0, 1e30, 1e-30][case % 6];
            let leaf = |rng: &mut TestRng| ((rng.unit() * 2.0 - 1.0) * scale) as f32;
            let trees: Vec<WeakTree> = (0..n)
                .map(|_| WeakTree {
                    nodes: Vec::new(),
                    leaves: vec![leaf(&mut rng), leaf(&mut rng)],
                })
                .collect();
            let stage = Stage {
                threshold: 0.0,
                trees,
            };
            for _ in 0..40 {
                let picks: Vec<usize> = (0..n).map(|_| rng.below(2) as usize).collect();
                let f64_sum = picks
                    .iter()
                    .zip(&stage.trees)
                    .fold(0.0f64, |a, (&k, t)| a + t.leaves[k] as f64);
                // Thresholds right at the sum, a few ulps off, and far away.
                let offsets = [0.0, 1e-7, -1e-7, 1e-3, -1e-3, 10.0, -10.0];
                for off in offsets {
                    let thr = (f64_sum + off * scale) as f32;
                    let (fx, leaves) = fixed_stage(&stage, thr).expect("stumps");
                    let a: i64 = picks
                        .iter()
                        .zip(&leaves)
                        .map(|(&k, l)| if k == 0 { l.0 as i64 } else { l.1 as i64 })
                        .sum();
                    assert!(a.abs() < i32::MAX as i64);
                    // The scan's form: the right leaves plus the deltas of left picks.
                    let (base, deltas) = fixed_terms(&leaves);
                    assert_eq!(base, fx.base);
                    let scan = picks.iter().zip(&deltas).fold(base, |s, (&k, &d)| {
                        s.wrapping_add(if k == 0 { d } else { 0 })
                    });
                    assert_eq!(scan as i64, a, "case {case}");
                    let passes = f64_sum >= thr as f64;
                    if a >= fx.pass as i64 {
                        assert!(passes, "case {case}: fixed point says pass");
                        decided += 1;
                    }
                    if a <= fx.reject as i64 {
                        assert!(!passes, "case {case}: fixed point says reject");
                        decided += 1;
                    }
                    let clamped =
                        fx.pass == fx.reject && (fx.pass == i32::MIN || fx.pass == i32::MAX);
                    assert!(fx.reject < fx.pass || clamped);
                }
            }
        }
        // The band is narrow: thresholds 1e-3 scale away are decided.
        assert!(decided > 300 * 40 * 3, "{decided}");
    }

    #[test]
    fn deinterleaved_rows_and_offsets_address_the_same_entries() {
        let (stride, rows) = (10usize, 3usize);
        let orig: Vec<i32> = (0..(stride * rows) as i32).map(|v| v * 7 + 3).collect();
        let mut d = orig.clone();
        deinterleave_rows(&mut d, stride);
        for y in 0..rows {
            for x in 0..stride {
                assert_eq!(orig[y * stride + x], d[y * stride + (x & 1) * 5 + x / 2]);
            }
        }
        // A window at an even column x0 reads through the compiled offsets what it reads
        // in the usual layout, and windows x0, x0 + 2, ... are adjacent entries.
        let xml = r#"<opencv_storage><cascade><stageType>BOOST</stageType>
            <featureType>HAAR</featureType><height>5</height><width>5</width>
            <stages><_><stageThreshold>0.5</stageThreshold><weakClassifiers><_>
            <internalNodes>0 -1 0 0.0</internalNodes><leafValues>0 1</leafValues></_>
            </weakClassifiers></_></stages><features><_><rects><_>0 1 5 3 -1</_>
            <_>1 1 3 3 3</_></rects></_></features></cascade></opencv_storage>"#;
        let c = Cascade::from_xml(xml, "t.xml").unwrap();
        let stride = 12;
        let (std_k, dual_k) = (
            FeatureOffsets::new(&c, stride, false),
            FeatureOffsets::new(&c, stride, true),
        );
        assert!(!dual_k.compact.is_empty());
        let table: Vec<i32> = (0..(stride * 7) as i32).map(|v| v * v % 1009).collect();
        let mut d = table.clone();
        deinterleave_rows(&mut d, stride);
        for x0 in [0usize, 2, 4, 6] {
            for (a, b) in std_k.compact[0].o.iter().zip(&dual_k.compact[0].o) {
                assert_eq!(table[x0 + *a as usize], d[x0 / 2 + *b as usize]);
            }
            for (a, b) in std_k.norm.iter().zip(&dual_k.norm) {
                assert_eq!(table[x0 + a], d[x0 / 2 + b]);
            }
        }
    }
}
