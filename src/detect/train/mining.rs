//! Hard-negative mining for cascade training: background windows that the cascade trained
//! so far still accepts, the negatives of the next stage (OpenCV `traincascade`'s
//! `CvCascadeImageReader` and `fillPassedSamples`).
//!
//! # Overview
//! Two sources of windows: random windows (a random size, position and background,
//! resampled to the window) and, once those become rare, a scan of the backgrounds'
//! detection pyramids with a [`Detector`] of the cascade so far ([`Mining::Scan`]).
//! [`background_regions`] cuts photos of the object into regions that keep clear of its
//! boxes, to serve as backgrounds.
//!
//! # Algorithm and conventions
//! - Random negatives: draw `j` of stage `k` uses `Rng::stream(seed, (k+1)·2^40 + j)`: a
//!   background image, a window size log-uniform between the window and the largest of
//!   its aspect ratio that fits the image, a position, then a bilinear resampling to the
//!   window (8-bit, rounded). A window is kept when the cascade so far accepts it, until
//!   `num_neg` are found or `max_neg_draws` windows were drawn.
//! - Windows the detector rejects for low variance (std-dev under 10 gray levels) are
//!   never negatives: they can never be false alarms.
//! - [`Mining::Scan`] (the default) draws random negatives while the stage expects to need
//!   at most [`RANDOM_DRAWS_BEFORE_SCAN`] draws (expected acceptance: the previous stage's
//!   acceptance times its false-alarm rate), then scans. The scan universe is every window
//!   of the backgrounds' detection pyramids (scale factor [`MINE_SCALE_FACTOR`], levels by
//!   the exact resize of the detector), at all four phases of the detector's 2-pixel step,
//!   plain and mirrored, cut into units of 32 window rows. Unit `i` has key
//!   `Rng::stream(seed ^ 0x6D69_6E65_7363_616E, (k+1)·2^40 + i)`; units whose key fraction
//!   lies below `q = 3·num_neg / (windows · acceptance)` are scanned by a `Detector` of the
//!   cascade so far (raising `q` by up to 16x while too few are found, up to all units or
//!   `max_neg_draws` windows); of the accepted windows the `num_neg` with the smallest
//!   per-window keys are kept, so the choice is uniform and independent of thread count.
//!   The windows are the detector's own 8-bit level pixels, so they are exactly what the
//!   detector would see.
//!
//! # Parallelism
//! Random draws are evaluated in parallel in fixed batches and kept in draw order; scan
//! units are scanned in parallel and their windows chosen by key. The negatives never
//! depend on the thread count.
//!
//! # References
//! P. Viola, M. Jones, "Robust real-time face detection", IJCV 2004 (bootstrapping the
//! negatives of each stage); OpenCV 3.4 `apps/traincascade/imagestorage.cpp`.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::detect::group::scale_list;
use crate::detect::resize::resize_linear_exact_rows;
use crate::detect::train::CascadeTrainingParams;
use crate::detect::train::augment::warp;
use crate::detect::train::pool::{PoolMode, Sample};
use crate::detect::train::stage::{CascadeSoFar, TrainedStage, to_cascade};
use crate::detect::{DetectParams, Detector, round_half_even};
use crate::error::Result;
use crate::image::{Image, Rect};
use crate::rng::Rng;

/// How the hard negatives of a stage are found (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Mining {
    /// Random windows of the backgrounds only: a random size, position and image,
    /// resampled to the window.
    Random,
    /// Random windows while a stage expects to need at most 200,000 draws, then the
    /// windows of the backgrounds' detection pyramids, scanned by the cascade so far.
    #[default]
    Scan,
}

/// Expected draws per stage up to which [`Mining::Scan`] still draws random windows.
pub const RANDOM_DRAWS_BEFORE_SCAN: f64 = 200_000.0;

/// Scale factor of the mining pyramids of [`Mining::Scan`].
pub const MINE_SCALE_FACTOR: f64 = 1.1;

/// Pyramid rows per scan unit of [`Mining::Scan`] (even).
const MINE_BAND: usize = 32;

/// The negatives of one stage.
pub(super) struct Negatives {
    /// The windows, each accepted by the cascade so far.
    pub(super) samples: Vec<Sample>,
    /// Background windows drawn or scanned.
    pub(super) drawn: usize,
    /// Of those, the windows the cascade so far accepted (at least `samples.len()`).
    pub(super) accepted: usize,
}

/// The hard negatives of stage `k`, after `stages` (compiled in `so_far`): random windows
/// of `backgrounds`, or a scan of `universe` when it is given and random windows would
/// be too rare (see the module docs).
pub(super) fn hard_negatives(
    p: &CascadeTrainingParams,
    k: usize,
    stages: &[TrainedStage],
    so_far: &CascadeSoFar,
    backgrounds: &[Image],
    universe: Option<&Universe>,
) -> Result<Negatives> {
    // Expected acceptance of the cascade so far on background windows.
    let est = stages.last().map_or(1.0, |s| s.acceptance * s.false_alarm);
    match universe {
        Some(uni) if k > 0 && p.num_neg as f64 > RANDOM_DRAWS_BEFORE_SCAN * est => {
            scan_negatives(p, k, stages, so_far, uni, est)
        }
        _ => Ok(random_negatives(p, k, so_far, backgrounds)),
    }
}

/// Disjoint rectangles of a `width x height` image that keep clear of every box in `boxes`
/// grown by `margin` times its side on each side, each at least `min_side` pixels wide
/// and high: background regions for negatives taken from photos of the object.
///
/// The image is cut into square cells of `max(1, min_side / 4)` pixels (the partial cells
/// of the right and bottom edges are left out); a cell touching a grown box is occupied.
/// The largest free rectangle of cells whose sides reach `min_side` is taken (the first in
/// row-major order of its bottom-left cell on ties), its cells marked occupied, and so on
/// until none is left.
pub fn background_regions(
    width: usize,
    height: usize,
    boxes: &[Rect],
    margin: f32,
    min_side: usize,
) -> Vec<Rect> {
    let cell = (min_side / 4).max(1);
    let (cols, rows) = (width / cell, height / cell);
    let need = min_side.div_ceil(cell).max(1);
    let mut busy = vec![false; cols * rows];
    for b in boxes {
        let (mx, my) = (margin * b.width as f32, margin * b.height as f32);
        let x0 = b.x as f32 - mx;
        let y0 = b.y as f32 - my;
        let x1 = (b.x + b.width) as f32 + mx;
        let y1 = (b.y + b.height) as f32 + my;
        for r in 0..rows {
            for c in 0..cols {
                let (cx0, cy0) = ((c * cell) as f32, (r * cell) as f32);
                let (cx1, cy1) = (cx0 + cell as f32, cy0 + cell as f32);
                if cx0 < x1 && x0 < cx1 && cy0 < y1 && y0 < cy1 {
                    busy[r * cols + c] = true;
                }
            }
        }
    }
    let mut out = Vec::new();
    loop {
        // Free run lengths upwards ending at each row, then every (bottom row, left, right).
        let mut up = vec![0usize; cols];
        let mut best: Option<(usize, usize, usize, usize)> = None; // area, bottom, left, right
        for r in 0..rows {
            for c in 0..cols {
                up[c] = if busy[r * cols + c] { 0 } else { up[c] + 1 };
            }
            for c0 in 0..cols {
                let mut h = usize::MAX;
                for c1 in c0..cols {
                    h = h.min(up[c1]);
                    if h < need {
                        break;
                    }
                    let wc = c1 - c0 + 1;
                    if wc >= need && best.is_none_or(|b| h * wc > b.0) {
                        best = Some((h * wc, r, c0, c1));
                    }
                }
            }
        }
        let Some((area, r, c0, c1)) = best else { break };
        let h = area / (c1 - c0 + 1);
        for rr in r + 1 - h..=r {
            for c in c0..=c1 {
                busy[rr * cols + c] = true;
            }
        }
        out.push(Rect {
            x: (c0 * cell) as u32,
            y: ((r + 1 - h) * cell) as u32,
            width: ((c1 - c0 + 1) * cell) as u32,
            height: (h * cell) as u32,
        });
    }
    out
}

/// Random hard negatives for stage `k` (see the module docs).
fn random_negatives(
    p: &CascadeTrainingParams,
    k: usize,
    so_far: &CascadeSoFar,
    backgrounds: &[Image],
) -> Negatives {
    let (w, h) = (p.window_width, p.window_height);
    let tilted = p.mode == PoolMode::All;
    const BATCH: usize = 4096;
    let mut found = Vec::new();
    let mut drawn = 0usize;
    while found.len() < p.num_neg && drawn < p.max_neg_draws {
        let n = BATCH.min(p.max_neg_draws - drawn);
        let batch: Vec<Option<Sample>> = (drawn..drawn + n)
            .into_par_iter()
            .map(|j| {
                let mut rng = Rng::stream(p.seed, ((k as u64 + 1) << 40) + j as u64);
                let img = &backgrounds[rng.below(backgrounds.len())];
                let (iw, ih) = (img.width() as f32, img.height() as f32);
                // Largest window of the aspect ratio that fits.
                let max_s = (iw / w as f32).min(ih / h as f32);
                let s = (max_s.ln() * rng.next_f32()).exp().max(1.0);
                let (sw, sh) = (w as f32 * s, h as f32 * s);
                let x0 = rng.next_f32() * (iw - sw).max(0.0);
                let y0 = rng.next_f32() * (ih - sh).max(0.0);
                let px = warp(img, w, h, 1.0, 0.0, |u, v| (x0 + u * s, y0 + v * s));
                let sample = Sample::with_tilted(&px, w, h, tilted).ok().flatten()?;
                so_far.accepts(&sample).then_some(sample)
            })
            .collect();
        for (i, s) in batch.into_iter().enumerate() {
            if found.len() < p.num_neg {
                if let Some(s) = s {
                    found.push(s);
                }
            } else {
                drawn += i;
                return Negatives::random(found, drawn);
            }
        }
        drawn += n;
    }
    Negatives::random(found, drawn)
}

impl Negatives {
    /// Random negatives: every accepted draw is kept.
    fn random(samples: Vec<Sample>, drawn: usize) -> Negatives {
        let accepted = samples.len();
        Negatives {
            samples,
            drawn,
            accepted,
        }
    }
}

/// One scan unit of [`Mining::Scan`]: the window rows `band·MINE_BAND ..` of pyramid level
/// `level` of background `image`, mirrored or not, at the four phases of the detector's
/// 2-pixel step.
#[derive(Clone, Copy, Debug)]
struct Unit {
    image: u32,
    level: u32,
    band: u32,
    mirror: bool,
    /// Window positions (at step 1) the unit covers.
    windows: u64,
}

/// The pyramid-level rows a scan unit reads: from its first window row to the last row
/// its windows reach, mirrored for a mirrored unit.
struct BandRows {
    /// The rows, `width` pixels each.
    pixels: Vec<u8>,
    /// Width of the level.
    width: usize,
    /// Level row of the first window row (and of the first pixel row).
    first: usize,
    /// Level row of the last window row.
    last: usize,
}

/// The mining pyramids of the backgrounds ([`Mining::Scan`]).
pub(super) struct Universe {
    w: usize,
    h: usize,
    /// 8-bit backgrounds and their sizes.
    pixels: Vec<(Vec<u8>, usize, usize)>,
    /// Level sizes per background.
    levels: Vec<Vec<(usize, usize)>>,
    units: Vec<Unit>,
    total: u64,
}

impl Universe {
    /// The mining pyramids of `backgrounds` for a `w x h` window.
    pub(super) fn new(backgrounds: &[Image], w: usize, h: usize) -> Universe {
        let dp = DetectParams {
            scale_factor: MINE_SCALE_FACTOR,
            min_neighbors: 0,
            ..Default::default()
        };
        let mut levels = Vec::new();
        let mut units = Vec::new();
        let mut total = 0u64;
        for (i, img) in backgrounds.iter().enumerate() {
            let (iw, ih) = (img.width(), img.height());
            let sizes: Vec<(usize, usize)> = scale_list(iw, ih, w, h, &dp)
                .iter()
                .map(|&s| {
                    (
                        round_half_even((iw as f32 / s) as f64) as usize,
                        round_half_even((ih as f32 / s) as f64) as usize,
                    )
                })
                .filter(|&(lw, lh)| lw >= w && lh >= h)
                .collect();
            for (li, &(lw, lh)) in sizes.iter().enumerate() {
                let ny = lh + 1 - h;
                for band in 0..ny.div_ceil(MINE_BAND) {
                    let rows = MINE_BAND.min(ny - band * MINE_BAND);
                    let windows = (rows * (lw + 1 - w)) as u64;
                    for mirror in [false, true] {
                        units.push(Unit {
                            image: i as u32,
                            level: li as u32,
                            band: band as u32,
                            mirror,
                            windows,
                        });
                        total += windows;
                    }
                }
            }
            levels.push(sizes);
        }
        Universe {
            w,
            h,
            pixels: backgrounds
                .par_iter()
                .map(|b| (b.to_u8(), b.width(), b.height()))
                .collect(),
            levels,
            units,
            total,
        }
    }

    /// The level rows of unit `u` (see [`BandRows`]).
    fn band_rows(&self, u: &Unit) -> BandRows {
        let (px, iw, ih) = &self.pixels[u.image as usize];
        let (lw, lh) = self.levels[u.image as usize][u.level as usize];
        let y0 = u.band as usize * MINE_BAND;
        let top_max = (y0 + MINE_BAND - 1).min(lh - self.h);
        let mut rows = Vec::new();
        resize_linear_exact_rows(px, *iw, *ih, lw, lh, y0..top_max + self.h, &mut rows);
        if u.mirror {
            rows.chunks_mut(lw).for_each(|r| r.reverse());
        }
        BandRows {
            pixels: rows,
            width: lw,
            first: y0,
            last: top_max,
        }
    }

    /// Windows of unit `u` the detector accepts, as `(x, y)` in its level.
    fn scan(&self, u: &Unit, det: &Detector) -> Result<Vec<(u32, u32)>> {
        let (w, h) = (self.w, self.h);
        let BandRows {
            pixels: rows,
            width: lw,
            first: y0,
            last: top_max,
        } = self.band_rows(u);
        let one_scale = DetectParams {
            min_neighbors: 0,
            max_size: Some((w, h)),
            ..Default::default()
        };
        let mut out = Vec::new();
        let mut crop = Vec::new();
        for dy in 0..2 {
            for dx in 0..2 {
                if y0 + dy > top_max || dx + w > lw {
                    continue;
                }
                let (cw, ch) = (lw - dx, top_max + h - (y0 + dy));
                crop.clear();
                for r in rows.chunks(lw).skip(dy).take(ch) {
                    crop.extend_from_slice(&r[dx..]);
                }
                for hit in det.raw_hits(&crop, cw, ch, &one_scale)? {
                    out.push((
                        (hit.rect[0] as usize + dx) as u32,
                        (hit.rect[1] as usize + y0 + dy) as u32,
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// Key of window `(x, y)` of a unit with key `unit_key`.
fn window_key(unit_key: u64, x: u32, y: u32) -> u64 {
    Rng::stream(unit_key, ((x as u64) << 32) | y as u64).next_u64()
}

/// `[0, 1)` position of a key.
fn key_frac(k: u64) -> f64 {
    (k >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Hard negatives of stage `k` from the mining pyramids (see the module docs), with
/// `est` the expected acceptance of the cascade so far.
fn scan_negatives(
    p: &CascadeTrainingParams,
    k: usize,
    stages: &[TrainedStage],
    so_far: &CascadeSoFar,
    uni: &Universe,
    est: f64,
) -> Result<Negatives> {
    let (w, h) = (p.window_width, p.window_height);
    let det = Detector::new(to_cascade(w, h, stages)?)?;
    let salt = p.seed ^ 0x6D69_6E65_7363_616E;
    let ukeys: Vec<u64> = (0..uni.units.len())
        .map(|i| Rng::stream(salt, ((k as u64 + 1) << 40) + i as u64).next_u64())
        .collect();
    let need = p.num_neg;
    let mut q = if est > 0.0 {
        (3.0 * need as f64 / (uni.total as f64 * est)).min(1.0)
    } else {
        1.0
    };
    let mut lo = 0.0f64;
    let mut found: Vec<(u64, u32, u32, u32)> = Vec::new();
    let mut drawn = 0u64;
    loop {
        let sel: Vec<usize> = (0..uni.units.len())
            .filter(|&i| (lo..q).contains(&key_frac(ukeys[i])))
            .collect();
        let parts: Vec<Result<Vec<(u32, u32)>>> = sel
            .par_iter()
            .map(|&i| uni.scan(&uni.units[i], &det))
            .collect();
        for (&i, part) in sel.iter().zip(parts) {
            for (x, y) in part? {
                found.push((window_key(ukeys[i], x, y), i as u32, x, y));
            }
            drawn += uni.units[i].windows;
        }
        if found.len() >= need || q >= 1.0 || drawn >= p.max_neg_draws as u64 {
            break;
        }
        let grow = if found.is_empty() {
            16.0
        } else {
            (1.5 * need as f64 / found.len() as f64).clamp(1.5, 16.0)
        };
        lo = q;
        q = (q * grow).min(1.0);
    }
    let accepted = found.len();
    found.sort_unstable();
    found.truncate(need);
    // Materialise unit by unit, then back in key order.
    let mut order: Vec<usize> = (0..found.len()).collect();
    order.sort_by_key(|&j| found[j].1);
    let groups: Vec<&[usize]> = order.chunk_by(|&a, &b| found[a].1 == found[b].1).collect();
    let tilted = p.mode == PoolMode::All;
    let made: Vec<Vec<(usize, Option<Sample>)>> = groups
        .par_iter()
        .map(|g| {
            let u = &uni.units[found[g[0]].1 as usize];
            let BandRows {
                pixels: rows,
                width: lw,
                first: y0,
                ..
            } = uni.band_rows(u);
            g.iter()
                .map(|&j| {
                    let (_, _, x, y) = found[j];
                    let (x, y) = (x as usize, y as usize - y0);
                    let mut patch = Vec::with_capacity(w * h);
                    for r in rows.chunks(lw).skip(y).take(h) {
                        patch.extend_from_slice(&r[x..x + w]);
                    }
                    let s = Sample::with_tilted(&patch, w, h, tilted).ok().flatten();
                    (j, s.filter(|s| so_far.accepts(s)))
                })
                .collect()
        })
        .collect();
    let mut slots: Vec<Option<Sample>> = vec![None; found.len()];
    for (j, s) in made.into_iter().flatten() {
        slots[j] = s;
    }
    let out: Vec<Sample> = slots.into_iter().flatten().collect();
    debug_assert_eq!(
        out.len(),
        found.len(),
        "the detector and the trainer disagree"
    );
    Ok(Negatives {
        samples: out,
        drawn: drawn as usize,
        accepted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::haar::HaarFeature;
    use crate::detect::resize::resize_linear_exact;
    use crate::detect::train::pool::{CompiledFeature, HaarPool};
    use crate::detect::train::stage::TrainedStump;

    /// A noisy background with bright and dark bars.
    fn background(w: usize, h: usize, seed: u64) -> Image {
        let mut rng = Rng::new(seed);
        let bars: Vec<(usize, usize, f32)> = (0..10)
            .map(|_| (rng.below(w), rng.below(h), rng.uniform(0.0, 1.0)))
            .collect();
        Image::from_fn(w, h, |x, y| {
            let mut v = 0.5 + 0.2 * ((x as f32 * 0.3).sin() * (y as f32 * 0.17).cos());
            for &(bx, by, g) in &bars {
                if x.abs_diff(bx) < 6 || y.abs_diff(by) < 3 {
                    v = 0.5 * v + 0.5 * g;
                }
            }
            (v + 0.1 * (rng.next_f32() - 0.5)).clamp(0.0, 1.0)
        })
    }

    /// Two one-stump stages on features of the pool, thresholds at the median of the
    /// values on windows of `bg`.
    fn stages(bg: &Image) -> Vec<TrainedStage> {
        let pool = HaarPool::new(24, 24, PoolMode::Basic).unwrap();
        let feats: Vec<HaarFeature> = pool.iter().step_by(977).take(2).collect();
        let px = bg.to_u8();
        let samples: Vec<Sample> = (0..40)
            .filter_map(|i| {
                let (x0, y0) = (i * 7 % (bg.width() - 24), i * 5 % (bg.height() - 24));
                let patch: Vec<u8> = (0..24)
                    .flat_map(|y| px[(y0 + y) * bg.width() + x0..][..24].to_vec())
                    .collect();
                Sample::with_tilted(&patch, 24, 24, false).unwrap()
            })
            .collect();
        feats
            .into_iter()
            .map(|f| {
                let c = CompiledFeature::new(&f, 24);
                let mut v: Vec<f32> = samples.iter().map(|s| c.value(s)).collect();
                v.sort_by(f32::total_cmp);
                TrainedStage {
                    threshold: 0.0,
                    stumps: vec![TrainedStump {
                        feature: f,
                        threshold: v[v.len() / 2],
                        left: -1.0,
                        right: 1.0,
                    }],
                    positives: 0,
                    negatives: 0,
                    hit_rate: 1.0,
                    false_alarm: 0.5,
                    acceptance: 1.0,
                }
            })
            .collect()
    }

    #[test]
    fn scan_units_find_the_detector_windows_of_every_level() {
        let bg = background(130, 95, 7);
        let st = stages(&bg);
        let det = Detector::new(to_cascade(24, 24, &st).unwrap()).unwrap();
        let runner = CascadeSoFar::new(&st, 24);
        let uni = Universe::new(std::slice::from_ref(&bg), 24, 24);
        let px = bg.to_u8();
        let one_scale = DetectParams {
            min_neighbors: 0,
            max_size: Some((24, 24)),
            ..Default::default()
        };
        let mut total_hits = 0;
        for (li, &(lw, lh)) in uni.levels[0].iter().enumerate() {
            let mut level = Vec::new();
            resize_linear_exact(&px, 130, 95, lw, lh, &mut level);
            let mut mirrored = level.clone();
            mirrored.chunks_mut(lw).for_each(|r| r.reverse());
            for (mirror, img) in [(false, &level), (true, &mirrored)] {
                // Phase (0, 0) of the units is the detector's own scan of the level.
                let mut want: Vec<(u32, u32)> = det
                    .raw_hits(img, lw, lh, &one_scale)
                    .unwrap()
                    .iter()
                    .map(|r| (r.rect[0] as u32, r.rect[1] as u32))
                    .collect();
                want.sort_unstable();
                let mut got = Vec::new();
                for u in uni
                    .units
                    .iter()
                    .filter(|u| u.level as usize == li && u.mirror == mirror)
                {
                    for (x, y) in uni.scan(u, &det).unwrap() {
                        // Every hit, at every phase, is a window the trainer accepts.
                        let patch: Vec<u8> = (0..24)
                            .flat_map(|r| img[(y as usize + r) * lw + x as usize..][..24].to_vec())
                            .collect();
                        let s = Sample::with_tilted(&patch, 24, 24, false).unwrap().unwrap();
                        assert!(runner.accepts(&s), "level {li} ({x}, {y})");
                        total_hits += 1;
                        if x % 2 == 0 && y % 2 == 0 {
                            got.push((x, y));
                        }
                    }
                }
                got.sort_unstable();
                assert_eq!(got, want, "level {li} mirror {mirror}");
            }
        }
        assert!(
            total_hits > 100,
            "{total_hits} hits: the test cascade accepts too little"
        );
        let covered: u64 = uni.units.iter().map(|u| u.windows).sum();
        assert_eq!(covered, uni.total);
    }

    #[test]
    fn scan_mining_is_independent_of_the_thread_count() {
        let bgs: Vec<Image> = (0..3)
            .map(|i| background(120 + 10 * i, 90, i as u64))
            .collect();
        let st = stages(&bgs[0]);
        let runner = CascadeSoFar::new(&st, 24);
        let uni = Universe::new(&bgs, 24, 24);
        let p = CascadeTrainingParams {
            num_neg: 300,
            max_neg_draws: 1 << 40,
            seed: 5,
            ..Default::default()
        };
        let run = |threads: usize, est: f64| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    let n = scan_negatives(&p, 3, &st, &runner, &uni, est).unwrap();
                    (n.samples, n.drawn, n.accepted)
                })
        };
        // A low estimate scans few units first and grows; a high one scans them all.
        let (a, drawn_a, acc_a) = run(1, 0.01);
        let (b, drawn_b, acc_b) = run(2, 0.01);
        assert_eq!((drawn_a, acc_a), (drawn_b, acc_b));
        assert_eq!(a.len(), 300);
        assert!(a.iter().zip(&b).all(|(x, y)| x == y));
        assert!(a.iter().all(|s| runner.accepts(s)));
        let (_, drawn_all, acc_all) = run(2, 0.0);
        assert_eq!(drawn_all as u64, uni.total);
        assert!(acc_all >= acc_a && drawn_all >= drawn_a);
    }
}
