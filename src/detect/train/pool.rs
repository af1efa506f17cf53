//! The pool of Haar-like features of a `W x H` window, as OpenCV's trainer enumerates it.
//!
//! # Overview
//! [`HaarPool`] describes every Haar feature that fits in a detection window: upright
//! edge (2-rectangle), line (3- and 4-rectangle), centre-surround and diagonal
//! (four-square) features, plus the 45-degree tilted ones. [`HaarPool::count`] gives the
//! number in closed form (without enumerating), [`HaarPool::iter`] streams the features in
//! OpenCV `traincascade`'s order, and [`FeatureBlock`] evaluates a block of features on a
//! set of training windows so that no features x samples matrix larger than a chosen
//! memory budget is ever built (see [`block_len`]).
//!
//! # Usage
//! ```
//! use classic_cv::detect::train::pool::{HaarPool, PoolMode};
//! let pool = HaarPool::new(8, 8, PoolMode::Basic).unwrap();
//! assert_eq!(pool.count(), pool.iter().count() as u64);
//! ```
//!
//! # Algorithm and conventions
//! - Enumeration order, as in OpenCV's `CvHaarEvaluator::generateFeatures`: for `x`, `y`
//!   (positions), `dx`, `dy` (cell sizes, from 1) nested in that order, the types
//!   `x2, y2, x3, y3, [x4, y4], x2y2, [centre 3x3], [tilted x2, y2, x3, y3, x4, y4]`;
//!   bracketed types need [`PoolMode::Core`] (upright x4, y4, centre) or [`PoolMode::All`]
//!   (also the tilted types). Weights are Lienhart's: the whole area −1, the inner part
//!   +2, +3 or +9 (two +2 squares for the diagonal feature).
//! - Upright counts: a type spanning `a·dx x b·dy` contributes `S(W, a) · S(H, b)` with
//!   `S(W, a) = Σ_{dx=1}^{⌊W/a⌋} (W − a·dx + 1) = n(W+1) − a·n(n+1)/2`, `n = ⌊W/a⌋`.
//!   Tilted types need `q·dy <= x <= W − p·dx` and `y <= H − r·dx − s·dy`; their count
//!   is the positions product summed over `(dx, dy)` (`O(W·H)` instead of enumerating).
//! - Values are computed as the detector does (see `detect`): the integer weighted sum,
//!   converted to `f32`, times the window's `f32` inverse standard-deviation factor.
//!
//! # Parallelism
//! [`FeatureBlock::evaluate`] evaluates features in parallel (one rayon task per feature);
//! each value depends only on its feature and sample, so the block never depends on the
//! thread count.
//!
//! # References
//! R. Lienhart, J. Maydt, "An extended set of Haar-like features for rapid object
//! detection", ICIP 2002; OpenCV 3.4 `apps/traincascade/haarfeatures.cpp` (feature order).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::detect::cascade::{inverse_norm, variance_passes};
use crate::detect::haar::{HaarFeature, WeightedRect};
use crate::detect::integral::Integral;
use crate::error::{Error, Result};

/// Which feature types the pool holds (OpenCV's `-mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum PoolMode {
    /// Upright x2, y2, x3, y3 and the diagonal x2y2.
    Basic,
    /// Basic plus upright x4, y4 and the 3x3 centre-surround.
    Core,
    /// Core plus the six tilted types.
    All,
}

/// The Haar features of a `width x height` window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HaarPool {
    /// Window width.
    pub width: usize,
    /// Window height.
    pub height: usize,
    /// Feature types.
    pub mode: PoolMode,
}

/// Tilted types: (p, q, r, s) with `q·dy <= x <= W − p·dx` and `y + r·dx + s·dy <= H`.
const TILTED: [(usize, usize, usize, usize); 6] = [
    (2, 1, 2, 1),
    (1, 2, 1, 2),
    (3, 1, 3, 1),
    (1, 3, 1, 3),
    (4, 1, 4, 1),
    (1, 4, 1, 4),
];

/// Line types, x then y for each: `(cells, inner cells, inner weight)` (the x2, x3, x4 lines
/// and their y twins; the last needs [`PoolMode::Core`]).
const LINES: [(usize, usize, f32); 3] = [(2, 1, 2.0), (3, 1, 3.0), (4, 2, 2.0)];

impl HaarPool {
    /// A pool for a `width x height` window (both at least 2 and at most 256).
    pub fn new(width: usize, height: usize, mode: PoolMode) -> Result<Self> {
        if !(2..=256).contains(&width) || !(2..=256).contains(&height) {
            return Err(Error::param(
                "window",
                format!("window sides must be 2 to 256 pixels, got {width}x{height}"),
            ));
        }
        Ok(HaarPool {
            width,
            height,
            mode,
        })
    }

    /// Number of features, in closed form.
    pub fn count(&self) -> u64 {
        let (w, h) = (self.width as u64, self.height as u64);
        let s = |side: u64, a: u64| {
            let n = side / a;
            n * (side + 1) - a * n * (n + 1) / 2
        };
        let mut total = s(w, 2) * s(h, 1) // x2
            + s(w, 1) * s(h, 2) // y2
            + s(w, 3) * s(h, 1) // x3
            + s(w, 1) * s(h, 3) // y3
            + s(w, 2) * s(h, 2); // x2y2
        if self.mode != PoolMode::Basic {
            total += s(w, 4) * s(h, 1) + s(w, 1) * s(h, 4) + s(w, 3) * s(h, 3);
        }
        if self.mode == PoolMode::All {
            for &(p, q, r, sy) in &TILTED {
                let (p, q, r, sy) = (p as i64, q as i64, r as i64, sy as i64);
                let (wi, hi) = (w as i64, h as i64);
                for dx in 1..=wi {
                    for dy in 1..=hi {
                        let nx = wi - p * dx - q * dy + 1;
                        let ny = hi - r * dx - sy * dy + 1;
                        if nx > 0 && ny > 0 {
                            total += (nx * ny) as u64;
                        }
                    }
                }
            }
        }
        total
    }

    /// Streams the features in OpenCV's order.
    pub fn iter(&self) -> PoolIter {
        PoolIter {
            pool: *self,
            x: 0,
            y: 0,
            dx: 1,
            dy: 1,
            pending: Vec::new(),
            done: false,
        }
    }

    /// All features at one `(x, y, dx, dy)`, in type order (pushed reversed onto `out`
    /// so that popping yields them in order).
    fn features_at(&self, x: usize, y: usize, dx: usize, dy: usize, out: &mut Vec<HaarFeature>) {
        let (w, h) = (self.width, self.height);
        let r = |x: usize, y: usize, width: usize, height: usize, weight: f32| WeightedRect {
            x: x as u32,
            y: y as u32,
            width: width as u32,
            height: height as u32,
            weight,
        };
        let feature = |tilted: bool, rects: Vec<WeightedRect>| HaarFeature { rects, tilted };
        let lines = if self.mode == PoolMode::Basic {
            &LINES[..2]
        } else {
            &LINES[..]
        };
        let mut v = Vec::new();
        for &(n, inner, weight) in lines {
            if x + n * dx <= w && y + dy <= h {
                let rects = vec![
                    r(x, y, n * dx, dy, -1.0),
                    r(x + dx, y, inner * dx, dy, weight),
                ];
                v.push(feature(false, rects));
            }
            if x + dx <= w && y + n * dy <= h {
                let rects = vec![
                    r(x, y, dx, n * dy, -1.0),
                    r(x, y + dy, dx, inner * dy, weight),
                ];
                v.push(feature(false, rects));
            }
        }
        if x + 2 * dx <= w && y + 2 * dy <= h {
            v.push(feature(
                false,
                vec![
                    r(x, y, 2 * dx, 2 * dy, -1.0),
                    r(x, y, dx, dy, 2.0),
                    r(x + dx, y + dy, dx, dy, 2.0),
                ],
            ));
        }
        if self.mode != PoolMode::Basic && x + 3 * dx <= w && y + 3 * dy <= h {
            v.push(feature(
                false,
                vec![
                    r(x, y, 3 * dx, 3 * dy, -1.0),
                    r(x + dx, y + dy, dx, dy, 9.0),
                ],
            ));
        }
        if self.mode == PoolMode::All {
            // The tilted lines, horizontal then vertical for each length; the inner part
            // of a 2-cell line is its first cell, of a longer one its second (one cell
            // down the 45-degree axes).
            let fits = |(p, q, rr, s): (usize, usize, usize, usize)| {
                x + p * dx <= w && y + rr * dx + s * dy <= h && x >= q * dy
            };
            for (k, &(n, inner, weight)) in LINES.iter().enumerate() {
                let o = usize::from(n > 2);
                if fits(TILTED[2 * k]) {
                    let rects = vec![
                        r(x, y, n * dx, dy, -1.0),
                        r(x + o * dx, y + o * dx, inner * dx, dy, weight),
                    ];
                    v.push(feature(true, rects));
                }
                if fits(TILTED[2 * k + 1]) {
                    let rects = vec![
                        r(x, y, dx, n * dy, -1.0),
                        r(x - o * dy, y + o * dy, dx, inner * dy, weight),
                    ];
                    v.push(feature(true, rects));
                }
            }
        }
        v.reverse();
        out.extend(v);
    }
}

/// Streaming iterator over a pool (see [`HaarPool::iter`]).
pub struct PoolIter {
    pool: HaarPool,
    x: usize,
    y: usize,
    dx: usize,
    dy: usize,
    pending: Vec<HaarFeature>,
    done: bool,
}

impl Iterator for PoolIter {
    type Item = HaarFeature;

    fn next(&mut self) -> Option<HaarFeature> {
        loop {
            if let Some(f) = self.pending.pop() {
                return Some(f);
            }
            if self.done {
                return None;
            }
            let (x, y, dx, dy) = (self.x, self.y, self.dx, self.dy);
            self.pool.features_at(x, y, dx, dy, &mut self.pending);
            // Advance (x, y, dx, dy) with dy innermost.
            self.dy += 1;
            if self.dy > self.pool.height {
                self.dy = 1;
                self.dx += 1;
                if self.dx > self.pool.width {
                    self.dx = 1;
                    self.y += 1;
                    if self.y >= self.pool.height {
                        self.y = 0;
                        self.x += 1;
                        if self.x >= self.pool.width {
                            self.done = true;
                        }
                    }
                }
            }
        }
    }
}

/// One training window prepared for fast feature evaluation: its integral tables and the
/// detector's inverse standard-deviation factor.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    sum: Vec<i32>,
    tilted: Vec<i32>,
    /// `f32(1 / sqrt(A·Q − S²))` over the window minus a 1-pixel border, as the detector
    /// computes it.
    pub inv: f32,
}

impl Sample {
    /// Prepares a `width x height` window; `None` when the detector would reject it for
    /// its low variance ([`variance_passes`]; then it can never be detected, nor be a
    /// false alarm).
    pub fn new(pixels: &[u8], width: usize, height: usize) -> Result<Option<Sample>> {
        Sample::with_tilted(pixels, width, height, true)
    }

    /// As [`Sample::new`]; without `tilted` the tilted table is left empty (cheaper), so
    /// the sample must then only meet upright features.
    pub(crate) fn with_tilted(
        pixels: &[u8],
        width: usize,
        height: usize,
        tilted: bool,
    ) -> Result<Option<Sample>> {
        if width < 3 || height < 3 {
            return Err(Error::ImageTooSmall {
                width,
                height,
                min_width: 3,
                min_height: 3,
            });
        }
        let ii = Integral::new(pixels, width, height, tilted)?;
        let (nw, nh) = (width - 2, height - 2);
        let area = (nw * nh) as f64;
        let s = ii.rect_sum(1, 1, nw, nh);
        let q = ii.rect_sqsum(1, 1, nw, nh);
        let nf = area * q as f64 - s as f64 * s as f64;
        let inv = inverse_norm(nf);
        if !variance_passes(nf, area, inv) {
            return Ok(None);
        }
        Ok(Some(Sample {
            tilted: ii.tilted.unwrap_or_default(),
            sum: ii.sum,
            inv,
        }))
    }
}

/// A Haar feature compiled to integral-table offsets for a given window width.
#[derive(Clone, Debug)]
pub struct CompiledFeature {
    offsets: Vec<([u32; 4], i32)>,
    tilted: bool,
}

impl CompiledFeature {
    /// Compiles `f` for windows `width` pixels wide (tables `width + 1` wide).
    pub fn new(f: &HaarFeature, width: usize) -> CompiledFeature {
        let offs = f.corner_offsets(width + 1);
        let weights = f
            .rects
            .iter()
            .filter(|r| r.weight != 0.0)
            .map(|r| r.weight as i32);
        CompiledFeature {
            offsets: offs.into_iter().zip(weights).collect(),
            tilted: f.tilted,
        }
    }

    /// The normalised value the detector computes for this feature on `s`.
    #[inline]
    pub fn value(&self, s: &Sample) -> f32 {
        let t = if self.tilted { &s.tilted } else { &s.sum };
        let mut v = 0i32;
        for (o, w) in &self.offsets {
            let r = t[o[0] as usize]
                .wrapping_sub(t[o[1] as usize])
                .wrapping_sub(t[o[2] as usize])
                .wrapping_add(t[o[3] as usize]);
            v += w * r;
        }
        v as f32 * s.inv
    }
}

/// How many features of `n_samples` values each fit in `budget_bytes`, counting the
/// `f32` value and the `u32` sort index kept per value (at least 1).
pub fn block_len(budget_bytes: usize, n_samples: usize) -> usize {
    (budget_bytes / (8 * n_samples.max(1))).max(1)
}

/// The values of a block of features on all samples, each feature's values sorted
/// ascending with the sample indices (ties by index).
pub struct FeatureBlock {
    /// Index in the pool of the first feature.
    pub first: usize,
    /// Per feature: sorted values.
    pub values: Vec<Vec<f32>>,
    /// Per feature: sample index of each sorted value.
    pub order: Vec<Vec<u32>>,
}

impl FeatureBlock {
    /// Evaluates `features` (pool indices `first..`) on `samples` and sorts each row.
    pub fn evaluate(
        first: usize,
        features: &[CompiledFeature],
        samples: &[Sample],
    ) -> FeatureBlock {
        let rows: Vec<(Vec<f32>, Vec<u32>)> = features
            .par_iter()
            .map(|f| {
                let mut pairs: Vec<(f32, u32)> = samples
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (f.value(s), i as u32))
                    .collect();
                pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                pairs.into_iter().unzip()
            })
            .collect();
        let (values, order) = rows.into_iter().unzip();
        FeatureBlock {
            first,
            values,
            order,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_form_count_equals_enumeration() {
        for mode in [PoolMode::Basic, PoolMode::Core, PoolMode::All] {
            for (w, h) in [(2, 2), (5, 3), (8, 8), (9, 13), (24, 24)] {
                let pool = HaarPool::new(w, h, mode).unwrap();
                assert_eq!(pool.count(), pool.iter().count() as u64, "{mode:?} {w}x{h}");
            }
        }
        // OpenCV's traincascade reports 162336 BASIC features for 24x24 (Viola-Jones' set
        // of about 160k) and 0 for nothing smaller than a 2-cell feature.
        assert_eq!(
            HaarPool::new(24, 24, PoolMode::Basic).unwrap().count(),
            162_336
        );
    }

    #[test]
    fn every_feature_fits_and_is_unique() {
        let pool = HaarPool::new(9, 7, PoolMode::All).unwrap();
        let all: Vec<HaarFeature> = pool.iter().collect();
        for f in &all {
            f.check(9, 7).unwrap();
        }
        let mut keys: Vec<String> = all.iter().map(|f| format!("{f:?}")).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), all.len());
    }

    #[test]
    fn compiled_value_matches_reference_evaluation() {
        let (w, h) = (10, 9);
        let mut rng = crate::rng::Rng::new(3);
        let px: Vec<u8> = (0..w * h).map(|_| (rng.next_u64() % 256) as u8).collect();
        let s = Sample::new(&px, w, h).unwrap().unwrap();
        let ii = Integral::new(&px, w, h, true).unwrap();
        for f in HaarPool::new(w, h, PoolMode::All).unwrap().iter() {
            let c = CompiledFeature::new(&f, w);
            assert_eq!(c.value(&s), f.value(&ii, 0, 0) * s.inv);
        }
    }

    #[test]
    fn flat_windows_are_rejected_and_bad_sizes_fail() {
        assert!(Sample::new(&[7u8; 64], 8, 8).unwrap().is_none());
        assert!(HaarPool::new(1, 8, PoolMode::Basic).is_err());
        assert!(matches!(
            Sample::new(&[1u8; 4], 2, 2),
            Err(Error::ImageTooSmall { .. })
        ));
    }
}
