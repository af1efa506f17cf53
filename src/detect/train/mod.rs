//! Training Viola-Jones cascades: boosted Haar stumps in an attentional cascade, written as
//! OpenCV cascade XML.
//!
//! # Overview
//! [`train`] builds a [`Cascade`] stage by stage. Each stage boosts decision stumps over
//! the Haar feature pool of the window (`haarpool`, `adaboost`) until it keeps at least
//! `min_hit_rate` of the positives while passing at most `max_false_alarm` of the
//! negatives; the negatives of each stage are hard negatives, windows of the background
//! images that the cascade trained so far still accepts. [`augment_positives`] makes the
//! positive windows (mirror, small rotation, scale, shift, brightness, contrast, noise). After
//! every stage the state is saved to a checkpoint, and a run given the same checkpoint
//! resumes where it stopped. The result is an ordinary [`Cascade`]: `Cascade::save` writes
//! OpenCV's XML, `persist::save` our model file, and `detect::Detector` runs it exactly as
//! OpenCV 4 does.
//!
//! # Usage
//! ```no_run
//! use classic_cv::detect::train::{augment_positives, train, Augment, TrainParams};
//! # let sources: Vec<(classic_cv::image::Image, classic_cv::image::Rect)> = vec![];
//! # let backgrounds: Vec<classic_cv::image::Image> = vec![];
//! let params = TrainParams { window_width: 20, window_height: 20, stages: 10, ..Default::default() };
//! let pos = augment_positives(&sources, 1000, 20, 20, &Augment::default(), params.seed)?;
//! let trained = train(&params, &pos, &backgrounds, None)?;
//! trained.cascade.save("cascade.xml")?;
//! # Ok::<(), classic_cv::Error>(())
//! ```
//!
//! # Algorithm and conventions
//! - Feature values are those the detector computes (module `detect`, OpenCV's
//!   convention): the integer weighted rectangle sum times `f32(1/sqrt(A·Q − S²))` over the
//!   window minus a 1-pixel border. Windows the detector rejects for low variance (std-dev
//!   under 10 gray levels) are skipped, as positives and as negatives. So a stump threshold
//!   means the same thing in training, in our detector and in OpenCV.
//! - Sample weights start at `1/N` (SPEC section 5). Stage sums are accumulated in `f64`
//!   over the `f32` leaves in order, as the detector does. After each stump the stage
//!   threshold is the `f32` score of the positive at rank `⌊(1 − min_hit_rate)·P⌋`
//!   (ascending), lowered until `f32(t) − 1e-5f` does not exceed it; the stage ends when the
//!   negatives' pass rate is at most `max_false_alarm` (or after `max_weak_count` stumps).
//! - Positives of a stage: those of the pool that the cascade so far accepts (at most
//!   `num_pos`). Random negatives: windows drawn at a random size (log-uniform between the
//!   window size and the image's), position and background image, resampled bilinearly to
//!   the window, kept when the cascade so far accepts them, until `num_neg` are found.
//!   A stage trains on fewer when `max_neg_draws` draws do not find them all; training
//!   stops when fewer than a tenth of `num_neg` are found (the cascade's false-alarm rate
//!   on the backgrounds is then below `num_neg / (10 max_neg_draws)`).
//! - [`Mining::Scan`] (the default) draws random negatives while the stage expects to need
//!   at most [`RANDOM_DRAWS_BEFORE_SCAN`] draws (expected acceptance: the previous stage's
//!   acceptance times its false-alarm rate), then scans. The scan universe is every window
//!   of the backgrounds' detection pyramids (scale factor [`MINE_SCALE_FACTOR`], levels by
//!   the exact resize of `detect`), at all four phases of the detector's 2-pixel step,
//!   plain and mirrored, cut into units of 32 window rows. Unit `i` has key
//!   `Rng::stream(seed ^ 0x6D69_6E65_7363_616E, (k+1)·2^40 + i)`; units whose key fraction
//!   lies below `q = 3·num_neg / (windows · acceptance)` are scanned by a `Detector` of the
//!   cascade so far (raising `q` by up to 16x while too few are found, up to all units or
//!   `max_neg_draws` windows); of the accepted windows the `num_neg` with the smallest
//!   per-window keys are kept, so the choice is uniform and independent of thread count.
//!   The windows are the detector's own 8-bit level pixels, so they are exactly what the
//!   detector would see.
//! - Randomness: draw `j` of stage `k` uses `Rng::stream(seed, (k+1)·2^40 + j)`; positive
//!   `i` uses `Rng::stream(seed, 2^62 + i)`; the feature subset (when `max_features > 0`)
//!   `Rng::stream(seed, 2^63)`.
//! - Memory: the feature values of a stage are computed in blocks of
//!   `haarpool::block_len(memory_budget, N)` features; when the whole pool fits, it is
//!   evaluated and sorted once per stage, otherwise every round re-evaluates the blocks.
//!
//! # Parallelism
//! Negative draws are evaluated in parallel in fixed batches and kept in draw order;
//! features are evaluated and scanned in parallel and reduced in index order. The
//! trained cascade is identical for any thread count.
//!
//! # References
//! P. Viola, M. Jones, "Robust real-time face detection", IJCV 2004; R. Lienhart, A.
//! Kuranov, V. Pisarevsky, "Empirical analysis of detection cascades of boosted
//! classifiers for rapid object detection", DAGM 2003 (Gentle AdaBoost, OpenCV's trainer).

pub mod adaboost;
pub mod pool;

use std::collections::HashMap;
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::detect::cascade::{Cascade, FeatureType, Node, Split, Stage, Tree};
use crate::detect::group::scale_list;
use crate::detect::haar::HaarFeature;
use crate::detect::resize::resize_linear_exact_rows;
use crate::detect::train::adaboost::{Boost, StumpFit, fit_stump, reweight};
use crate::detect::train::pool::{Compiled, FeatureBlock, HaarPool, PoolMode, Sample, block_len};
use crate::detect::{DetectParams, Detector, round_half_even};
use crate::error::{Error, Result};
use crate::image::{Image, Rect};
use crate::rng::Rng;

/// Training parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainParams {
    /// Window width.
    pub window_width: usize,
    /// Window height.
    pub window_height: usize,
    /// Number of stages to train.
    pub stages: usize,
    /// Minimum fraction of the stage's positives each stage keeps.
    pub min_hit_rate: f32,
    /// Maximum fraction of the stage's negatives each stage passes.
    pub max_false_alarm: f32,
    /// Maximum stumps per stage.
    pub max_weak_count: usize,
    /// Boosting variant.
    pub boost: Boost,
    /// Feature types.
    pub mode: PoolMode,
    /// Positives per stage (at most; those the cascade so far keeps).
    pub num_pos: usize,
    /// Negatives per stage.
    pub num_neg: usize,
    /// Use a random subset of this many pool features (0: the whole pool).
    pub max_features: usize,
    /// Bytes for feature values (see the module docs).
    pub memory_budget: usize,
    /// Maximum background windows drawn (or scanned) per stage.
    pub max_neg_draws: usize,
    /// How hard negatives are found.
    #[serde(default)]
    pub mining: Mining,
    /// Seed.
    pub seed: u64,
}

/// How the hard negatives of a stage are found (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mining {
    /// Random windows only: a random size, position and image, resampled to the window.
    Random,
    /// Random windows while a stage expects to need at most [`RANDOM_DRAWS_BEFORE_SCAN`]
    /// draws, then windows of the backgrounds' detection pyramids, scanned by the
    /// detector.
    #[default]
    Scan,
}

/// Expected draws per stage up to which [`Mining::Scan`] still draws random windows.
pub const RANDOM_DRAWS_BEFORE_SCAN: f64 = 200_000.0;

/// Scale factor of the mining pyramids of [`Mining::Scan`].
pub const MINE_SCALE_FACTOR: f64 = 1.1;

/// Pyramid rows per scan unit of [`Mining::Scan`] (even).
const MINE_BAND: usize = 32;

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            window_width: 24,
            window_height: 24,
            stages: 20,
            min_hit_rate: 0.995,
            max_false_alarm: 0.5,
            max_weak_count: 100,
            boost: Boost::Gentle,
            mode: PoolMode::Basic,
            num_pos: 2000,
            num_neg: 2000,
            max_features: 0,
            memory_budget: 512 << 20,
            max_neg_draws: 2_000_000,
            mining: Mining::Scan,
            seed: 0,
        }
    }
}

impl TrainParams {
    /// Checks every parameter.
    pub fn validate(&self) -> Result<()> {
        HaarPool::new(self.window_width, self.window_height, self.mode)?;
        if self.window_width < 3 || self.window_height < 3 {
            return Err(Error::param(
                "window",
                "window sides must be at least 3 pixels",
            ));
        }
        if self.stages == 0 {
            return Err(Error::param("stages", "must be at least 1"));
        }
        if !(self.min_hit_rate > 0.0 && self.min_hit_rate <= 1.0) {
            return Err(Error::param("min_hit_rate", "must be in (0, 1]"));
        }
        if !(self.max_false_alarm > 0.0 && self.max_false_alarm < 1.0) {
            return Err(Error::param("max_false_alarm", "must be in (0, 1)"));
        }
        if self.max_weak_count == 0 {
            return Err(Error::param("max_weak_count", "must be at least 1"));
        }
        if self.num_pos == 0 || self.num_neg == 0 {
            return Err(Error::param(
                "num_pos",
                "num_pos and num_neg must be at least 1",
            ));
        }
        if self.memory_budget == 0 {
            return Err(Error::param("memory_budget", "must be positive"));
        }
        if self.max_neg_draws < self.num_neg {
            return Err(Error::param("max_neg_draws", "must be at least num_neg"));
        }
        Ok(())
    }
}

/// Positive augmentation ranges (each drawn uniformly in `[-x, x]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    /// Mirror half of the samples left-right.
    pub mirror: bool,
    /// Rotation in degrees.
    pub rotation_deg: f32,
    /// Relative scale change.
    pub scale: f32,
    /// Shift as a fraction of the box size.
    pub shift: f32,
    /// Added gray levels.
    pub brightness: f32,
    /// Relative contrast change.
    pub contrast: f32,
    /// Standard deviation of added Gaussian pixel noise, in gray levels.
    pub noise: f32,
}

impl Default for Augment {
    fn default() -> Self {
        Augment {
            mirror: true,
            rotation_deg: 6.0,
            scale: 0.06,
            shift: 0.04,
            brightness: 20.0,
            contrast: 0.2,
            noise: 3.0,
        }
    }
}

/// Bilinear sample of `img` at continuous index coordinates, clamped at the border.
fn bilinear(img: &Image, x: f32, y: f32) -> f32 {
    let (w, h) = (img.width(), img.height());
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    // Non-negative after the clamp, so the cast is the floor.
    let (x0, y0) = (x as usize, y as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let top = img.get(x0, y0) * (1.0 - fx) + img.get(x1, y0) * fx;
    let bot = img.get(x0, y1) * (1.0 - fx) + img.get(x1, y1) * fx;
    top * (1.0 - fy) + bot * fy
}

/// A `w x h` window sampled from `img`: window pixel centre `(u + .5, v + .5)` maps to the
/// image point `map(u + .5, v + .5)` (pixel-centre coordinates), then `a·255·v + b`, rounded
/// and clamped to 8 bits.
fn warp(
    img: &Image,
    w: usize,
    h: usize,
    a: f32,
    b: f32,
    map: impl Fn(f32, f32) -> (f32, f32),
) -> Vec<u8> {
    let mut out = Vec::with_capacity(w * h);
    for v in 0..h {
        for u in 0..w {
            let (x, y) = map(u as f32 + 0.5, v as f32 + 0.5);
            let p = bilinear(img, x - 0.5, y - 0.5) * 255.0 * a + b;
            out.push(round_u8(p));
        }
    }
    out
}

/// `p.round().clamp(0.0, 255.0) as u8` (rounding half away from zero) without the libm
/// calls.
fn round_u8(p: f32) -> u8 {
    if !(p > 0.0) {
        0
    } else if p >= 255.0 {
        255
    } else {
        let i = p as u32;
        (i + u32::from(p - i as f32 >= 0.5)) as u8
    }
}

/// `count` positive windows of `w x h` from `(image, box)` sources (gray in `[0, 1]`, the
/// `Image` convention; the windows are 8-bit): sample `i` comes from
/// source `i mod len`; the first copy of each source is the plain resampled box, the
/// others are augmented (see [`Augment`]) with `Rng::stream(seed, 2^62 + i)`.
pub fn augment_positives(
    sources: &[(Image, Rect)],
    count: usize,
    w: usize,
    h: usize,
    aug: &Augment,
    seed: u64,
) -> Result<Vec<Vec<u8>>> {
    if sources.is_empty() {
        return Err(Error::EmptyInput {
            what: "positive sources",
        });
    }
    if w == 0 || h == 0 {
        return Err(Error::param("window", "window sides must be positive"));
    }
    for (img, r) in sources {
        if r.width == 0 || r.height == 0 || img.width() == 0 || img.height() == 0 {
            return Err(Error::param("positives", "empty box or image"));
        }
    }
    Ok((0..count)
        .into_par_iter()
        .map(|i| {
            let (img, r) = &sources[i % sources.len()];
            let mut rng = Rng::stream(seed, (1u64 << 62) + i as u64);
            let plain = i < sources.len();
            let u = |rng: &mut Rng, x: f32| if plain { 0.0 } else { rng.uniform(-x, x) };
            let mirror = !plain && aug.mirror && rng.next_f32() < 0.5;
            let angle = u(&mut rng, aug.rotation_deg).to_radians();
            let scale = 1.0 + u(&mut rng, aug.scale);
            let (tx, ty) = (
                u(&mut rng, aug.shift) * r.width as f32,
                u(&mut rng, aug.shift) * r.height as f32,
            );
            let contrast = 1.0 + u(&mut rng, aug.contrast);
            let brightness = u(&mut rng, aug.brightness);
            let (cx, cy) = (
                r.x as f32 + r.width as f32 / 2.0 + tx,
                r.y as f32 + r.height as f32 / 2.0 + ty,
            );
            let (sx, sy) = (
                r.width as f32 * scale / w as f32,
                r.height as f32 * scale / h as f32,
            );
            let (sin, cos) = angle.sin_cos();
            // Contrast about mid-gray 128 so that it does not shift the mean.
            let b = brightness + 128.0 * (1.0 - contrast);
            let mut px = warp(img, w, h, contrast, b, |pu, pv| {
                let mut dx = (pu - w as f32 / 2.0) * sx;
                let dy = (pv - h as f32 / 2.0) * sy;
                if mirror {
                    dx = -dx;
                }
                (cx + cos * dx - sin * dy, cy + sin * dx + cos * dy)
            });
            if !plain && aug.noise > 0.0 {
                for v in &mut px {
                    *v = round_u8(*v as f32 + rng.normal() * aug.noise);
                }
            }
            px
        })
        .collect())
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

/// One trained stump.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainedStump {
    /// The feature.
    pub feature: HaarFeature,
    /// Values `< threshold` take `left`.
    pub threshold: f32,
    /// Left leaf.
    pub left: f32,
    /// Right leaf.
    pub right: f32,
}

/// One trained stage with its training figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainedStage {
    /// Stage threshold as stored (the detector compares with `threshold − 1e-5f`).
    pub threshold: f32,
    /// The stumps.
    pub stumps: Vec<TrainedStump>,
    /// Positives used.
    pub positives: usize,
    /// Negatives used.
    pub negatives: usize,
    /// Fraction of the positives the stage keeps.
    pub hit_rate: f64,
    /// Fraction of the negatives the stage passes.
    pub false_alarm: f64,
    /// Fraction of background draws the cascade before this stage accepted.
    pub acceptance: f64,
}

/// Training state: what a checkpoint holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// The parameters of the run.
    pub params: TrainParams,
    /// Fingerprint of the positives and backgrounds.
    pub data_hash: u64,
    /// Stages trained so far.
    pub stages: Vec<TrainedStage>,
    /// Why training stopped (empty while running).
    pub stop_reason: String,
}

impl crate::persist::Model for TrainState {
    fn kind() -> String {
        "cascade-train-state".into()
    }
}

/// A finished run.
#[derive(Clone, Debug)]
pub struct Trained {
    /// The cascade (OpenCV layout).
    pub cascade: Cascade,
    /// Training state with per-stage figures.
    pub state: TrainState,
}

/// FNV-1a over the training data.
fn data_hash(positives: &[Vec<u8>], backgrounds: &[Image]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let mut eat = |b: u8| {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    };
    for p in positives {
        p.iter().for_each(|&b| eat(b));
    }
    for img in backgrounds {
        for b in (img.width() as u64)
            .to_le_bytes()
            .into_iter()
            .chain((img.height() as u64).to_le_bytes())
        {
            eat(b);
        }
        for v in img.as_slice().iter().step_by(97) {
            v.to_bits().to_le_bytes().into_iter().for_each(&mut eat);
        }
    }
    h
}

/// A compiled stump: feature, threshold, left and right leaves.
type RunStump = (Compiled, f32, f32, f32);

/// The cascade so far, compiled for evaluation on training windows.
struct Runner {
    /// Per stage: `threshold − 1e-5f` and the stumps.
    stages: Vec<(f32, Vec<RunStump>)>,
}

impl Runner {
    fn new(stages: &[TrainedStage], w: usize) -> Runner {
        Runner {
            stages: stages
                .iter()
                .map(|s| {
                    (
                        s.threshold - 1e-5f32,
                        s.stumps
                            .iter()
                            .map(|t| (Compiled::new(&t.feature, w), t.threshold, t.left, t.right))
                            .collect(),
                    )
                })
                .collect(),
        }
    }

    /// Whether every stage accepts the window (as the detector decides).
    fn accepts(&self, s: &Sample) -> bool {
        self.stages.iter().all(|(thr, stumps)| {
            let mut acc = 0.0f64;
            for (f, t, l, r) in stumps {
                acc += if f.value(s) < *t { *l } else { *r } as f64;
            }
            acc >= *thr as f64
        })
    }
}

/// Converts trained stages to a [`Cascade`] (identical features shared, in first-use order).
pub fn to_cascade(w: usize, h: usize, stages: &[TrainedStage]) -> Result<Cascade> {
    let mut features: Vec<HaarFeature> = Vec::new();
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut out = Vec::new();
    for st in stages {
        let mut trees = Vec::new();
        for s in &st.stumps {
            let key = format!("{:?}", s.feature);
            let fi = *index.entry(key).or_insert_with(|| {
                features.push(s.feature.clone());
                (features.len() - 1) as u32
            });
            trees.push(Tree {
                nodes: vec![Node {
                    feature: fi,
                    split: Split::Threshold(s.threshold),
                    left: 0,
                    right: -1,
                }],
                leaves: vec![s.left, s.right],
            });
        }
        out.push(Stage {
            threshold: st.threshold,
            trees,
        });
    }
    let c = Cascade {
        feature_type: FeatureType::Haar,
        window_width: w,
        window_height: h,
        stages: out,
        haar_features: features,
        lbp_features: Vec::new(),
    };
    c.validate()?;
    Ok(c)
}

/// Draws hard negatives for stage `k` (see the module docs); returns them and the draw count.
fn mine_negatives(
    p: &TrainParams,
    k: usize,
    runner: &Runner,
    backgrounds: &[Image],
) -> (Vec<Sample>, usize) {
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
                runner.accepts(&sample).then_some(sample)
            })
            .collect();
        for (i, s) in batch.into_iter().enumerate() {
            if found.len() < p.num_neg {
                if let Some(s) = s {
                    found.push(s);
                }
            } else {
                drawn += i;
                return (found, drawn);
            }
        }
        drawn += n;
    }
    (found, drawn)
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

/// The mining pyramids of the backgrounds ([`Mining::Scan`]).
struct Universe {
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
    fn new(backgrounds: &[Image], w: usize, h: usize) -> Universe {
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

    /// The level rows of unit `u` from its first window row to the last row its windows
    /// reach (mirrored for a mirrored unit), their width, and the first and last window
    /// rows.
    fn band_rows(&self, u: &Unit) -> (Vec<u8>, usize, usize, usize) {
        let (px, iw, ih) = &self.pixels[u.image as usize];
        let (lw, lh) = self.levels[u.image as usize][u.level as usize];
        let y0 = u.band as usize * MINE_BAND;
        let top_max = (y0 + MINE_BAND - 1).min(lh - self.h);
        let mut rows = Vec::new();
        resize_linear_exact_rows(px, *iw, *ih, lw, lh, y0..top_max + self.h, &mut rows);
        if u.mirror {
            rows.chunks_mut(lw).for_each(|r| r.reverse());
        }
        (rows, lw, y0, top_max)
    }

    /// Windows of unit `u` the detector accepts, as `(x, y)` in its level.
    fn scan(&self, u: &Unit, det: &Detector) -> Result<Vec<(u32, u32)>> {
        let (w, h) = (self.w, self.h);
        let (rows, lw, y0, top_max) = self.band_rows(u);
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

/// Hard negatives of stage `k` from the mining pyramids (see the module docs); returns
/// them, the windows scanned and the windows accepted.
fn scan_negatives(
    p: &TrainParams,
    k: usize,
    stages: &[TrainedStage],
    runner: &Runner,
    uni: &Universe,
    est: f64,
) -> Result<(Vec<Sample>, usize, usize)> {
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
            let (rows, lw, y0, _) = uni.band_rows(u);
            g.iter()
                .map(|&j| {
                    let (_, _, x, y) = found[j];
                    let (x, y) = (x as usize, y as usize - y0);
                    let mut patch = Vec::with_capacity(w * h);
                    for r in rows.chunks(lw).skip(y).take(h) {
                        patch.extend_from_slice(&r[x..x + w]);
                    }
                    let s = Sample::with_tilted(&patch, w, h, tilted).ok().flatten();
                    (j, s.filter(|s| runner.accepts(s)))
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
    Ok((out, drawn as usize, accepted))
}

/// Largest `f32` threshold `t` with `f64(t − 1e-5f) <= score`.
fn threshold_at(score: f64) -> f32 {
    let mut t = score as f32;
    while (t - 1e-5f32) as f64 > score {
        t = f32::from_bits(if t > 0.0 {
            t.to_bits() - 1
        } else if t == 0.0 {
            0x8000_0001
        } else {
            t.to_bits() + 1
        });
    }
    t
}

/// Trains one stage on `pos` + `neg`.
fn train_stage(
    p: &TrainParams,
    feats: &[HaarFeature],
    pos: &[Sample],
    neg: &[Sample],
) -> Result<TrainedStage> {
    let (w, _) = (p.window_width, p.window_height);
    let samples: Vec<Sample> = pos.iter().chain(neg).cloned().collect();
    let n = samples.len();
    let y: Vec<f32> = (0..n)
        .map(|i| if i < pos.len() { 1.0 } else { -1.0 })
        .collect();
    let mut wts = vec![1.0 / n as f64; n];
    let compiled: Vec<Compiled> = feats.iter().map(|f| Compiled::new(f, w)).collect();
    let blen = block_len(p.memory_budget, n);
    let cached = if compiled.len() <= blen {
        Some(FeatureBlock::evaluate(0, &compiled, &samples))
    } else {
        None
    };
    let mut scores = vec![0.0f64; n];
    let mut stumps = Vec::new();
    let mut stage = TrainedStage {
        threshold: 0.0,
        stumps: Vec::new(),
        positives: pos.len(),
        negatives: neg.len(),
        hit_rate: 1.0,
        false_alarm: 1.0,
        acceptance: 1.0,
    };
    for _round in 0..p.max_weak_count {
        let best: Option<StumpFit> = match &cached {
            Some(b) => fit_stump(b, &y, &wts, p.boost),
            None => {
                let mut best = None;
                for (bi, chunk) in compiled.chunks(blen).enumerate() {
                    let block = FeatureBlock::evaluate(bi * blen, chunk, &samples);
                    if let Some(f) = fit_stump(&block, &y, &wts, p.boost) {
                        best = crate::detect::train::adaboost::better(best, f);
                    }
                }
                best
            }
        };
        let Some(fit) = best else { break };
        let f = &compiled[fit.feature];
        let left: Vec<bool> = samples.iter().map(|s| f.value(s) < fit.threshold).collect();
        let (l, r) = match reweight(p.boost, &fit, &left, &y, &mut wts) {
            Ok(v) => v,
            Err(_) if !stumps.is_empty() => break,
            Err(e) => return Err(e),
        };
        for i in 0..n {
            scores[i] += if left[i] { l } else { r } as f64;
        }
        stumps.push(TrainedStump {
            feature: feats[fit.feature].clone(),
            threshold: fit.threshold,
            left: l,
            right: r,
        });
        let mut ps: Vec<f64> = scores[..pos.len()].to_vec();
        ps.sort_by(f64::total_cmp);
        let rank =
            (((1.0 - p.min_hit_rate as f64) * ps.len() as f64).floor() as usize).min(ps.len() - 1);
        let thr = threshold_at(ps[rank]);
        let pass = |s: f64| s >= (thr - 1e-5f32) as f64;
        stage.threshold = thr;
        stage.hit_rate =
            scores[..pos.len()].iter().filter(|&&s| pass(s)).count() as f64 / pos.len() as f64;
        stage.false_alarm = scores[pos.len()..].iter().filter(|&&s| pass(s)).count() as f64
            / neg.len().max(1) as f64;
        if stage.false_alarm <= p.max_false_alarm as f64 {
            break;
        }
    }
    if stumps.is_empty() {
        return Err(Error::param(
            "positives",
            "no Haar feature separates any two training windows",
        ));
    }
    stage.stumps = stumps;
    Ok(stage)
}

/// Trains a cascade on `positives` (`window_width x window_height` 8-bit windows) and
/// negatives mined from `backgrounds` (gray images in `[0, 1]`, each at least the window
/// size). With `checkpoint`, the state is saved there after every stage and a run
/// resumes from it when it exists (same parameters and data required).
pub fn train(
    p: &TrainParams,
    positives: &[Vec<u8>],
    backgrounds: &[Image],
    checkpoint: Option<&Path>,
) -> Result<Trained> {
    p.validate()?;
    let (w, h) = (p.window_width, p.window_height);
    if positives.is_empty() {
        return Err(Error::EmptyInput { what: "positives" });
    }
    if backgrounds.is_empty() {
        return Err(Error::EmptyInput {
            what: "background images",
        });
    }
    for px in positives {
        if px.len() != w * h {
            return Err(Error::DimensionMismatch {
                what: "positive window pixels",
                expected: w * h,
                found: px.len(),
            });
        }
    }
    for img in backgrounds {
        if img.width() < w || img.height() < h {
            return Err(Error::ImageTooSmall {
                width: img.width(),
                height: img.height(),
                min_width: w,
                min_height: h,
            });
        }
        img.check_finite()?;
    }
    let hash = data_hash(positives, backgrounds);
    let mut state = TrainState {
        params: p.clone(),
        data_hash: hash,
        stages: Vec::new(),
        stop_reason: String::new(),
    };
    if let Some(path) = checkpoint.filter(|p| p.exists()) {
        {
            let old: TrainState = crate::persist::load(path)?;
            if old.params.seed != p.seed
                || old.data_hash != hash
                || (TrainParams {
                    stages: p.stages,
                    ..old.params.clone()
                }) != *p
            {
                return Err(Error::param(
                    "checkpoint",
                    format!(
                        "{} was written by a run with other parameters or data",
                        path.display()
                    ),
                ));
            }
            state.stages = old.stages;
            state.stop_reason = old.stop_reason;
        }
    }
    let pool = HaarPool::new(w, h, p.mode)?;
    let mut feats: Vec<HaarFeature> = pool.iter().collect();
    if p.max_features > 0 && p.max_features < feats.len() {
        let mut idx = Rng::stream(p.seed, 1u64 << 63).sample_indices(feats.len(), p.max_features);
        idx.sort_unstable();
        feats = idx.into_iter().map(|i| feats[i].clone()).collect();
    }
    let pos_all: Vec<Sample> = positives
        .par_iter()
        .map(|px| Sample::with_tilted(px, w, h, p.mode == PoolMode::All))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    if pos_all.is_empty() {
        return Err(Error::param(
            "positives",
            "every positive window is too flat for the detector (std-dev < 10)",
        ));
    }
    let universe = (p.mining == Mining::Scan).then(|| Universe::new(backgrounds, w, h));
    let bar = crate::progress::start("train-cascade", p.stages as u64);
    bar.inc(state.stages.len().min(p.stages) as u64);
    while state.stages.len() < p.stages && state.stop_reason.is_empty() {
        let k = state.stages.len();
        let runner = Runner::new(&state.stages, w);
        let pos: Vec<Sample> = pos_all
            .iter()
            .filter(|s| runner.accepts(s))
            .take(p.num_pos)
            .cloned()
            .collect();
        if pos.is_empty() {
            state.stop_reason = format!("stage {k}: no positive passes the cascade");
            break;
        }
        // Expected acceptance of the cascade so far on background windows.
        let est = state
            .stages
            .last()
            .map_or(1.0, |s| s.acceptance * s.false_alarm);
        let (neg, drawn, accepted) = match &universe {
            Some(uni) if k > 0 && p.num_neg as f64 > RANDOM_DRAWS_BEFORE_SCAN * est => {
                scan_negatives(p, k, &state.stages, &runner, uni, est)?
            }
            _ => {
                let (neg, drawn) = mine_negatives(p, k, &runner, backgrounds);
                let n = neg.len();
                (neg, drawn, n)
            }
        };
        if neg.len() < p.num_neg.div_ceil(10) {
            state.stop_reason = format!(
                "stage {k}: only {} of {} negatives in {drawn} background windows (false-alarm rate {:.2e})",
                neg.len(),
                p.num_neg,
                accepted as f64 / drawn.max(1) as f64
            );
            break;
        }
        let mut stage = train_stage(p, &feats, &pos, &neg)?;
        stage.acceptance = accepted as f64 / drawn.max(1) as f64;
        let hit: f64 = state.stages.iter().map(|s| s.hit_rate).product::<f64>() * stage.hit_rate;
        let fa = stage.acceptance * stage.false_alarm;
        bar.message(&format!(
            "stage {k}: {} stumps, hit rate {:.4}, false-alarm rate {:.2e}",
            stage.stumps.len(),
            hit,
            fa
        ));
        bar.inc(1);
        state.stages.push(stage);
        if let Some(path) = checkpoint {
            crate::persist::save(path, &state)?;
        }
    }
    bar.finish();
    let cascade = to_cascade(w, h, &state.stages)?;
    Ok(Trained { cascade, state })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::resize::resize_linear_exact;

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
                let c = Compiled::new(&f, 24);
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
        let runner = Runner::new(&st, 24);
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
        let runner = Runner::new(&st, 24);
        let uni = Universe::new(&bgs, 24, 24);
        let p = TrainParams {
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
                .install(|| scan_negatives(&p, 3, &st, &runner, &uni, est).unwrap())
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
