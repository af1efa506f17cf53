//! Multi-scale Viola-Jones detection that reproduces OpenCV 4's
//! `CascadeClassifier::detectMultiScale` bit for bit.
//!
//! # Overview
//! A [`Detector`] wraps a validated [`Cascade`] and scans an 8-bit gray image at every
//! scale of a pyramid, returning the windows that pass every stage, grouped as OpenCV's
//! `groupRectangles` does (or by plain IoU non-maximum suppression, or not at all). For the
//! same image and parameters it returns the same boxes as OpenCV 4.x, in the same order as
//! single-threaded OpenCV. It is `Send + Sync`: the model is immutable and all buffers live
//! in a [`Scratch`]: the caller's, reused across frames of a video stream, or one the
//! detector keeps in a small pool for its next calls.
//!
//! # Usage
//! ```
//! use classic_cv::detect::cascade::Cascade;
//! use classic_cv::detect::{DetectParams, Detector};
//! # let xml = r#"<opencv_storage><cascade><stageType>BOOST</stageType>
//! # <featureType>HAAR</featureType><height>4</height><width>4</width>
//! # <stages><_><stageThreshold>0.5</stageThreshold><weakClassifiers><_>
//! # <internalNodes>0 -1 0 0.0</internalNodes><leafValues>0 1</leafValues></_>
//! # </weakClassifiers></_></stages><features><_><rects><_>0 0 4 4 -1</_>
//! # <_>0 0 2 4 2</_></rects></_></features></cascade></opencv_storage>"#;
//! let cascade = Cascade::from_xml(xml, "edge.xml")?; // "left half brighter" on 4x4 windows
//! let detector = Detector::new(cascade)?;
//! let (w, h) = (32, 24);
//! let pixels: Vec<u8> = (0..w * h).map(|i| if i % w < 16 { 200 } else { 20 }).collect();
//! let params = DetectParams { min_neighbors: 0, ..Default::default() };
//! let found = detector.detect_u8(&pixels, w, h, &params)?;
//! assert!(!found.is_empty());
//! # Ok::<(), classic_cv::Error>(())
//! ```
//!
//! # Algorithm and conventions (each one changes boxes)
//! 1. Scales: `factor = 1.0` (f64) multiplied by `scale_factor` each step; the window
//!    `round(w0 * factor) x round(h0 * factor)` stops the loop when larger than `max_size`
//!    or the image, and skips the step when smaller than `min_size`. The level scale is
//!    `s = f32(factor)`. Rounding is half to even everywhere (cvRound).
//! 2. Each level is resampled from the original image to `round(W / s) x round(H / s)`
//!    (f32 division) with OpenCV's `INTER_LINEAR_EXACT`: 8-bit fixed-point bilinear
//!    weights `c1 = round(256 (f - floor f))`, a horizontal then a vertical pass, and
//!    `(v + 2^15) >> 16`; border samples use a single clamped tap.
//! 3. Integral tables per level: `i32` sums, wrapping 32-bit squared sums, and the
//!    rotated sum for tilted cascades.
//! 4. Scan: step 2 below scale 2, else 1; windows fully inside the level; rows top to
//!    bottom. A window rejected by stage 0 makes the scan skip the next x position.
//! 5. Haar windows: with `A` the area of the window minus a 1-pixel border, `S` and `Q`
//!    its sum and sum of squares, `nf = A Q - S²` (f64); the window is rejected when
//!    `nf <= 0` or `A * f32(1/sqrt(nf)) >= 0.1` (std-dev below 10 gray levels). A feature's
//!    value is `f32(weighted sum) * inv` in f32; stage sums are accumulated in f64 and a
//!    stage passes when `sum >= f32(threshold) - 1e-5f`. LBP windows skip the variance
//!    test.
//! 6. A hit at `(x, y)` of level `s` maps to `(round(x s), round(y s), round(w0 s),
//!    round(h0 s))` with f32 products.
//! 7. Grouping (`Grouping::OpenCv`, `min_neighbors > 0`): eps = 0.2 similarity classes
//!    (transitive closure, numbered by first member), mean boxes `round(f32(sum) / n)`,
//!    classes with `n > min_neighbors` kept unless inside a stronger class. Finally every
//!    box is clipped to the image and empty ones are dropped.
//!
//! Scores: a raw window's score is its last stage sum (OpenCV's "level weight"); a group
//! keeps its best member's score and the member count as `neighbors`.
//!
//! Evaluation order (no effect on results): for compact stump cascades (upright
//! rectangles, integer weights, such as `haarcascade_frontalface_default.xml`), a stripe
//! of rows of a level is evaluated stage by stage over blocks of 8 adjacent windows
//! (lanes), one stump at a time over all the blocks, so that a stump's offsets, weights
//! and leaves are loaded once per stripe rather than once per window. The variance test
//! and stage 0 run on every window of the rows; OpenCV's skip rule (step 4) is then
//! applied row by row to the stage-0 results, which gives the windows the scan visits.
//! Each later stage runs on blocks re-formed to cover the live windows with as few blocks
//! as possible (a block may start at any window). A lane computes exactly what the
//! one-window code computes:
//! - the feature value is the integer `w0 R0 + w1 R1 + w2 R2` in wrapping i32 arithmetic
//!   (its true value is below 2^24, so this is the f32 sum OpenCV forms), converted to
//!   f32 and multiplied by `inv` in f32. Weights 2 and 3 are additions; an edge feature
//!   `2 H - W` (`H` a half of `W`) is summed over its 6 distinct corners and a
//!   checkerboard `2 Q1 + 2 Q2 - W` over its 9 (the same integer from fewer table reads:
//!   the loads bound the scan);
//! - the last stage, whose sum is the score, is summed per lane in f64 in stump order,
//!   as OpenCV does;
//! - the other stages are summed in fixed point: each leaf rounded to a multiple of
//!   `2^-q` (the largest possible sum fits in 2^30 units), summed exactly in i32, from
//!   the sum of the right leaves plus `left - right` where the value is below the
//!   threshold (integer sums do not depend on their order). With the error bound of
//!   `FixedStage`, a sum at or above `pass` means OpenCV's f64 sum surely reaches the
//!   threshold, at or below `reject` that it surely does not; a window in between (a band
//!   of about `n 2^-q` around the threshold) gets its exact f64 sum;
//! - the variance test is formed in f64 vectors with the same unfused operations, and
//!   the skip rule comes from a table of the visited windows of a block given its
//!   stage-0 rejections and whether the block before ended on a rejection.
//!
//! The 8 lanes must be adjacent table entries: step-1 levels use the usual tables;
//! step-2 levels (scale < 2, the largest ones) store their tables column-de-interleaved,
//! each row as its even columns followed by its odd ones, so that windows at x, x + 2,
//! ..., x + 14 read 8 consecutive entries (feature offsets are compiled for that layout
//! too). The lane code uses AVX2 (8 x i32, 8 x f32, 2 x 4 x f64) where the CPU has it,
//! through `pulp`'s safe run-time dispatch (no `unsafe` here); the portable code (plain
//! lane arrays, compiled for the x86-64 baseline) gives identical results
//! ([`Detector::with_portable_simd`]). Both are tested against the one-window code on
//! random cascades whose stage thresholds are reachable sums, so that the exact band is
//! exercised. Other cascades (trees, tilted features, LBP) are evaluated one window at a
//! time. The integral tables (8-pixel prefix scans in AVX2) and the resampling (byte
//! shuffles for the horizontal pass) are vectorised too, with the same integers as their
//! one-pixel forms. On the 640x480 anchor frames (default cascade, minSize 24) this
//! takes about 24 ms of CPU per frame on the development machine; see the README for the
//! `--raw` stream rate.
//!
//! # Parallelism
//! Pyramid levels are resampled and integrated in parallel (one rayon task per level),
//! then rows are scanned in parallel in stripes of 16 rows per task.
//! [`FrameStream::detect_batch`] also detects in several frames at once (one task each).
//! Hits are concatenated in (scale, row, column) order, so the output never depends on
//! the thread count.
//!
//! # References
//! P. Viola, M. Jones, "Robust real-time face detection", IJCV 2004; R. Lienhart, J.
//! Maydt, ICIP 2002; `../shared/anchors/opencv/CONVENTIONS.md` for the OpenCV details.

pub mod cascade;
pub mod haar;
pub mod integral;
pub mod lbp;
pub mod train;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::detect::cascade::{Cascade, FeatureType, Split};
use crate::detect::integral::{check_size, sum_sqsum_rows, tilted_into};
use crate::error::{Error, Result};
use crate::image::{Image, Rect};

use crate::simd::V3;

/// How raw windows are merged into detections.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Grouping {
    /// OpenCV's `groupRectangles(eps = 0.2, min_neighbors)`; `min_neighbors = 0` returns
    /// the raw windows (as OpenCV does).
    OpenCv,
    /// Greedy IoU non-maximum suppression by score: a window suppresses every later one
    /// whose IoU with it exceeds `iou`; kept windows need `neighbors > min_neighbors`.
    Nms {
        /// IoU above which a lower-scored window is suppressed, in (0, 1].
        iou: f32,
    },
}

/// Parameters of [`Detector::detect_u8`] (OpenCV's `detectMultiScale` arguments).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectParams {
    /// Pyramid scale step, > 1. Default 1.1.
    pub scale_factor: f64,
    /// Raw windows a group needs beyond one (`n > min_neighbors`); 0 = raw. Default 3.
    pub min_neighbors: usize,
    /// Smallest window `(width, height)` in image pixels. Default (0, 0).
    pub min_size: (usize, usize),
    /// Largest window; `None` = the image size. Default `None`.
    pub max_size: Option<(usize, usize)>,
    /// Grouping of raw windows. Default [`Grouping::OpenCv`].
    pub grouping: Grouping,
}

impl Default for DetectParams {
    fn default() -> Self {
        DetectParams {
            scale_factor: 1.1,
            min_neighbors: 3,
            min_size: (0, 0),
            max_size: None,
            grouping: Grouping::OpenCv,
        }
    }
}

impl DetectParams {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        if !(self.scale_factor > 1.0 && self.scale_factor.is_finite()) {
            return Err(Error::param("scale_factor", "must be a finite number > 1"));
        }
        if let Some((w, h)) = self.max_size
            && (w == 0 || h == 0)
        {
            return Err(Error::param("max_size", "must be at least 1x1"));
        }
        if let Grouping::Nms { iou } = self.grouping
            && !(iou > 0.0 && iou <= 1.0)
        {
            return Err(Error::param("grouping", "NMS iou must lie in (0, 1]"));
        }
        Ok(())
    }
}

/// One detection in image pixels.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// The box, clipped to the image.
    pub rect: Rect,
    /// Raw windows merged into it (1 for raw windows).
    pub neighbors: usize,
    /// Best last-stage sum among its windows (higher is more confident).
    pub score: f64,
}

/// A raw window before grouping and clipping.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RawHit {
    /// `[x, y, w, h]` in image pixels (may extend past the image by rounding).
    pub rect: [i32; 4],
    /// Last stage sum.
    pub score: f64,
}

/// A thread-safe cascade detector: an immutable model, and a small pool of buffers that
/// calls without their own [`Scratch`] borrow and give back.
#[derive(Clone, Debug)]
pub struct Detector {
    cascade: Cascade,
    program: Program,
    /// Identifies the model in a [`Scratch`]'s cache of compiled offsets (clones share
    /// it, as they hold the same model).
    id: u64,
    /// Lane code compiled for the x86-64 baseline only (no run-time AVX2 dispatch).
    portable: bool,
    /// Every cascade evaluated one window at a time (the reference the lane code is
    /// tested against).
    window_by_window: bool,
    /// Buffers of finished calls, reused by later [`Detector::detect_u8`] calls (their
    /// contents never affect results; clones share them).
    pool: std::sync::Arc<std::sync::Mutex<Vec<Scratch>>>,
}

/// Buffers a [`Detector`] keeps for reuse by later calls (one per concurrent call; a
/// 640x480 frame's take about 30 MB).
const POOLED_SCRATCH: usize = 4;

/// Reusable buffers for one detection at a time (one per thread or per video stream).
#[derive(Default, Debug)]
pub struct Scratch {
    sum: Vec<i32>,
    sqsum: Vec<u32>,
    tilted: Vec<i32>,
    levels: Vec<Vec<u8>>,
    tilted_tmp: Vec<Vec<i64>>,
    compiled: Option<Compiled>,
    /// Offsets for the column-de-interleaved tables of step-2 levels.
    compiled_d: Option<Compiled>,
}

/// A frame-stream detector: one [`Detector`], reusable [`Scratch`] buffers and a fixed
/// frame size, for video where every frame reuses the buffers of an earlier one.
/// [`FrameStream::detect_batch`] detects in several frames at once (one per thread), which
/// keeps every core busy between frames; each frame's boxes are those of
/// [`Detector::detect_u8`].
pub struct FrameStream<'a> {
    detector: &'a Detector,
    /// One per frame of the largest batch so far.
    scratch: Vec<Scratch>,
    width: usize,
    height: usize,
    params: DetectParams,
}

impl<'a> FrameStream<'a> {
    /// A stream of `width x height` 8-bit frames.
    pub fn new(
        detector: &'a Detector,
        width: usize,
        height: usize,
        params: DetectParams,
    ) -> Result<Self> {
        params.validate()?;
        if width == 0 || height == 0 {
            return Err(Error::ImageTooSmall {
                width,
                height,
                min_width: 1,
                min_height: 1,
            });
        }
        Ok(FrameStream {
            detector,
            scratch: vec![Scratch::default()],
            width,
            height,
            params,
        })
    }

    /// Detects in one frame; its length must be `width * height`.
    pub fn detect(&mut self, frame: &[u8]) -> Result<Vec<Detection>> {
        self.check(frame)?;
        self.detector.detect_u8_with(
            &mut self.scratch[0],
            frame,
            self.width,
            self.height,
            &self.params,
        )
    }

    /// Detects in consecutive frames in parallel (one task per frame, each parallel
    /// inside as [`FrameStream::detect`] is): the boxes of every frame, in order. All
    /// frames are checked before any is processed.
    pub fn detect_batch(&mut self, frames: &[&[u8]]) -> Result<Vec<Vec<Detection>>> {
        for f in frames {
            self.check(f)?;
        }
        if self.scratch.len() < frames.len() {
            self.scratch.resize_with(frames.len(), Scratch::default);
        }
        let (det, (w, h), params) = (self.detector, (self.width, self.height), &self.params);
        frames
            .par_iter()
            .zip(self.scratch.par_iter_mut())
            .map(|(f, s)| det.detect_u8_with(s, f, w, h, params))
            .collect()
    }

    fn check(&self, frame: &[u8]) -> Result<()> {
        if frame.len() != self.width * self.height {
            return Err(Error::DimensionMismatch {
                what: "frame byte count (width x height of the stream)",
                expected: self.width * self.height,
                found: frame.len(),
            });
        }
        Ok(())
    }
}

impl Detector {
    /// Validates the cascade and prepares the evaluation program.
    pub fn new(cascade: Cascade) -> Result<Self> {
        cascade.validate()?;
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let program = Program::new(&cascade);
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Detector {
            cascade,
            program,
            id,
            portable: false,
            window_by_window: false,
            pool: Default::default(),
        })
    }

    /// Chooses the portable evaluation code (compiled for the x86-64 baseline, SSE2)
    /// instead of the default run-time dispatch, which uses AVX2+FMA where the CPU has
    /// them. Both give identical results; this exists to compare and test them.
    pub fn with_portable_simd(mut self, portable: bool) -> Self {
        self.portable = portable;
        self
    }

    /// The model.
    pub fn cascade(&self) -> &Cascade {
        &self.cascade
    }

    /// Detects in a gray [`Image`] (converted to 8 bits with `round(255 v)`).
    pub fn detect(&self, image: &Image, params: &DetectParams) -> Result<Vec<Detection>> {
        self.detect_u8(&image.to_u8(), image.width(), image.height(), params)
    }

    /// Detects in a row-major 8-bit gray image.
    pub fn detect_u8(
        &self,
        pixels: &[u8],
        width: usize,
        height: usize,
        params: &DetectParams,
    ) -> Result<Vec<Detection>> {
        self.with_pooled_scratch(|s| self.detect_u8_with(s, pixels, width, height, params))
    }

    /// Runs `f` with a [`Scratch`] from the pool (or a new one) and returns it to the pool,
    /// which keeps at most [`POOLED_SCRATCH`] of them.
    fn with_pooled_scratch<T>(&self, f: impl FnOnce(&mut Scratch) -> T) -> T {
        let mut scratch = self
            .pool
            .lock()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_default();
        let out = f(&mut scratch);
        if let Ok(mut p) = self.pool.lock()
            && p.len() < POOLED_SCRATCH
        {
            p.push(scratch);
        }
        out
    }

    /// [`Detector::detect_u8`] with caller-owned buffers (reused across calls).
    pub fn detect_u8_with(
        &self,
        scratch: &mut Scratch,
        pixels: &[u8],
        width: usize,
        height: usize,
        params: &DetectParams,
    ) -> Result<Vec<Detection>> {
        params.validate()?;
        let raw = self.raw_hits_with(scratch, pixels, width, height, params)?;
        Ok(group_and_clip(&raw, params, width, height))
    }

    /// The raw windows (every window passing all stages), unclipped, in OpenCV's
    /// single-thread order (scale, row, column).
    pub fn raw_hits(
        &self,
        pixels: &[u8],
        width: usize,
        height: usize,
        params: &DetectParams,
    ) -> Result<Vec<RawHit>> {
        params.validate()?;
        self.with_pooled_scratch(|s| self.raw_hits_with(s, pixels, width, height, params))
    }

    fn raw_hits_with(
        &self,
        scratch: &mut Scratch,
        pixels: &[u8],
        width: usize,
        height: usize,
        params: &DetectParams,
    ) -> Result<Vec<RawHit>> {
        check_size(pixels, width, height)?;
        let c = &self.cascade;
        let (w0, h0) = (c.window_width, c.window_height);
        let scales = scale_list(width, height, w0, h0, params);
        if scales.is_empty() {
            return Ok(Vec::new());
        }
        // Level sizes and their rows in the shared tables (one stride for all levels, so
        // feature offsets are computed once).
        let mut levels: Vec<Level> = {
            let mut row0 = 0;
            scales
                .iter()
                .map(|&s| {
                    let lw = round_half_even((width as f32 / s) as f64) as usize;
                    let lh = round_half_even((height as f32 / s) as f64) as usize;
                    let l = Level {
                        scale: s,
                        width: lw,
                        height: lh,
                        row0,
                        step: if s >= 2.0 { 1 } else { 2 },
                        dual: false,
                    };
                    row0 += lh + 1;
                    l
                })
                .collect()
        };
        // An even stride: a de-interleaved row (even columns, then odd ones) fills it.
        let stride = (levels.iter().map(|l| l.width).max().unwrap_or(0) + 2) & !1;
        // Feature offsets are u32 (a window spans `h0 + 1` table rows).
        if (h0 + 2).saturating_mul(stride) >= u32::MAX as usize {
            return Err(Error::param(
                "pixels",
                format!("a {width}-pixel-wide image is too wide for this cascade's window"),
            ));
        }
        let rows: usize = levels.iter().map(|l| l.height + 1).sum();
        let tilted = c.has_tilted();
        let n = rows * stride;
        // Padding lets every window take a FAST-long slice (see `Table`) and every block
        // LANES more entries.
        scratch.sum.resize(n + FAST + LANES, 0);
        scratch.sqsum.resize(n + FAST + LANES, 0);
        if tilted {
            scratch.tilted.resize(n + FAST, 0);
        }
        if scratch.levels.len() < levels.len() {
            scratch.levels.resize_with(levels.len(), Vec::new);
            scratch.tilted_tmp.resize_with(levels.len(), Vec::new);
        }
        for (slot, dual) in [
            (&mut scratch.compiled, false),
            (&mut scratch.compiled_d, true),
        ] {
            if slot
                .as_ref()
                .is_none_or(|k| k.stride != stride || k.detector != self.id)
            {
                let mut k = Compiled::new(c, stride, dual);
                k.detector = self.id;
                *slot = Some(k);
            }
        }
        let compiled = scratch.compiled.as_ref().expect("compiled just above");
        let compiled_d = scratch.compiled_d.as_ref().expect("compiled just above");
        let lanes_std = self.program.haar && !compiled.compact.is_empty() && !self.window_by_window;
        let lanes_dual = lanes_std && !compiled_d.compact.is_empty();
        for l in &mut levels {
            l.dual = lanes_dual && l.step == 2;
        }

        let simd = crate::simd::v3(self.portable);
        // Phase 1: one task per level (resample + integrals) into disjoint row ranges.
        {
            let mut jobs = Vec::with_capacity(levels.len());
            let mut s_rest = &mut scratch.sum[..];
            let mut q_rest = &mut scratch.sqsum[..];
            let mut t_rest = &mut scratch.tilted[..];
            let mut px_rest = &mut scratch.levels[..];
            let mut tt_rest = &mut scratch.tilted_tmp[..];
            for l in &levels {
                let len = (l.height + 1) * stride;
                let (s, sr) = s_rest.split_at_mut(len);
                let (q, qr) = q_rest.split_at_mut(len);
                let (t, tr) = if tilted {
                    t_rest.split_at_mut(len)
                } else {
                    t_rest.split_at_mut(0)
                };
                let (px, pr) = px_rest.split_at_mut(1);
                let (tt, ttr) = tt_rest.split_at_mut(1);
                s_rest = sr;
                q_rest = qr;
                t_rest = tr;
                px_rest = pr;
                tt_rest = ttr;
                jobs.push((l, s, q, t, &mut px[0], &mut tt[0]));
            }
            jobs.into_par_iter().for_each(|(l, s, q, t, px, tt)| {
                resize_rows_with(
                    simd,
                    pixels,
                    (width, height),
                    (l.width, l.height),
                    0..l.height,
                    px,
                );
                sum_sqsum_rows(px, l.width, l.height, stride, s, q, l.dual, simd);
                if tilted {
                    tilted_into(px, l.width, l.height, stride, t, tt);
                }
            });
        }

        // Phase 2: stripes of rows, in parallel; results concatenated in scan order.
        let mut tasks = Vec::new();
        for (li, l) in levels.iter().enumerate() {
            let ny = (l.height + 1).saturating_sub(h0);
            let stripe = l.step * 16;
            let mut y = 0;
            while y < ny {
                tasks.push((li, y, (y + stripe).min(ny)));
                y += stripe;
            }
        }
        let tables = Tables {
            sum: &scratch.sum,
            sqsum: &scratch.sqsum,
            tilted: &scratch.tilted,
        };
        let program = &self.program;
        let parts: Vec<Vec<RawHit>> = tasks
            .par_iter()
            .map_init(StripeWork::default, |work, &(li, y0, y1)| {
                let l = &levels[li];
                let nx = (l.width + 1).saturating_sub(w0);
                let s = l.scale;
                let (ww, wh) = (
                    round_half_even((w0 as f32 * s) as f64) as i32,
                    round_half_even((h0 as f32 * s) as f64) as i32,
                );
                let rect = |x: usize, y: usize| {
                    [
                        round_half_even((x as f32 * s) as f64) as i32,
                        round_half_even((y as f32 * s) as f64) as i32,
                        ww,
                        wh,
                    ]
                };
                let mut out = Vec::new();
                // Lanes need adjacent windows in adjacent entries: step 1, or step 2 on
                // de-interleaved tables.
                if lanes_std && (l.step == 1 || l.dual) {
                    let mut hits = Vec::new();
                    let scan = StripeScan {
                        simd,
                        program,
                        k: if l.dual { compiled_d } else { compiled },
                        t: &tables,
                        level: l,
                        rows: (y0, y1),
                        nx,
                        work,
                        out: &mut hits,
                    };
                    match simd {
                        // Everything `scan` inlines is compiled with AVX2+FMA enabled.
                        #[cfg(target_arch = "x86_64")]
                        Some(v3) => pulp::Simd::vectorize(v3, scan),
                        _ => scan.run(),
                    }
                    out.extend(hits.into_iter().map(|(y, x, score)| RawHit {
                        rect: rect(x, y),
                        score,
                    }));
                    return out;
                }
                let step = l.step;
                let mut y = y0;
                while y < y1 {
                    let mut x = 0;
                    while x < nx {
                        let base = (l.row0 + y) * stride + x;
                        let (result, score) = program.run(compiled, &tables, base);
                        if result > 0 {
                            out.push(RawHit {
                                rect: rect(x, y),
                                score,
                            });
                        }
                        if result == 0 {
                            x += step;
                        }
                        x += step;
                    }
                    y += step;
                }
                out
            })
            .collect();
        Ok(parts.into_iter().flatten().collect())
    }
}

/// Rewrites every `stride`-long row of `buf` (`stride` even) as its even columns followed
/// by its odd ones, so that windows 2 columns apart read adjacent entries.
#[cfg(test)]
fn deinterleave_rows<T: Copy + Default>(buf: &mut [T], stride: usize) {
    let hs = stride / 2;
    let mut tmp = vec![T::default(); stride];
    for row in buf.chunks_exact_mut(stride) {
        tmp.copy_from_slice(row);
        let (even, odd) = row.split_at_mut(hs);
        for ((e, o), pair) in even.iter_mut().zip(odd.iter_mut()).zip(tmp.chunks_exact(2)) {
            *e = pair[0];
            *o = pair[1];
        }
    }
}

/// Blocks of [`LANES`] adjacent windows (structure of arrays, in window order): the
/// tables from the lane-0 window on, `f32(1 / sqrt(nf))` per lane, the live lanes (bit
/// j = lane j), the lane-0 window id, and f64 stage sums.
#[derive(Default)]
struct Blocks<'t> {
    sum: Vec<&'t [i32; FAST + LANES]>,
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
    fn push(&mut self, sum: &'t [i32; FAST + LANES], inv: [f32; LANES], mask: u8, first: u32) {
        self.sum.push(sum);
        self.inv.push(inv);
        self.mask.push(mask);
        self.first.push(first);
    }
}

/// Buffers of one stripe scan (reused across the stripes a thread scans; their contents
/// never affect results).
#[derive(Default)]
struct StripeWork<'t> {
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
/// right in the level's layout. Offsets are below `FAST`, so no bounds checks.
#[inline(always)]
fn lanes_at<T>(t: &[T; FAST + LANES], o: usize) -> &[T; LANES] {
    t[o..o + LANES].try_into().expect("o < FAST")
}

/// The feature value of every lane in f32, `f32(w0 R0 + w1 R1 + w2 R2)` with each `R` a
/// rectangle sum `a - b - c + d`, all in wrapping i32 arithmetic: the true sum is below
/// 2^24 in magnitude for compact stumps, so this is exactly the f32 sum OpenCV forms.
/// `THREE`: a third rectangle; `NEG`: `w0 = -1` (most Haar features), one product less;
/// `W`: `w1` (and `w2` with `THREE`) when it is 2 or 3 (additions instead of products),
/// else 0.
/// `SHAPE` 1 to 3: the shared-corner forms of [`shared_corners`] over offsets `o[..9]`.
#[inline(always)]
fn lane_feature<const THREE: bool, const NEG: bool, const W: i32, const SHAPE: u8>(
    t: &[i32; FAST + LANES],
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
        std::array::from_fn(|j| {
            a[j].wrapping_sub(b[j])
                .wrapping_sub(c[j])
                .wrapping_add(d[j])
        })
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

/// The tables at entry `o + j` for lanes `j`, as an AVX2 vector.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn lane_v3(t: &[i32; FAST + LANES], o: usize) -> pulp::i32x8 {
    pulp::cast(*lanes_at(t, o))
}

/// One rectangle sum `a - b - c + d` per lane, AVX2 (corner offsets `o[0..4]`). A plain
/// function, not a closure: closures are not always inlined into the AVX2 context.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn lane_rect_v3(simd: V3, t: &[i32; FAST + LANES], o: &[usize]) -> pulp::i32x8 {
    let (a, b) = (lane_v3(t, o[0]), lane_v3(t, o[1]));
    let (c, d) = (lane_v3(t, o[2]), lane_v3(t, o[3]));
    simd.wrapping_add_i32x8(simd.wrapping_sub_i32x8(simd.wrapping_sub_i32x8(a, b), c), d)
}

/// The offsets a lane kernel reads: the rectangles' corners, or with `SHAPE != 0` the
/// distinct corners.
#[inline(always)]
fn lane_offsets<const SHAPE: u8>(st: &CompactStump) -> [usize; 12] {
    if SHAPE == 0 {
        st.o.map(usize::from)
    } else {
        std::array::from_fn(|k| st.so.get(k).map_or(0, |&o| o as usize))
    }
}

/// `w * r` per lane for [`lane_feature_v3`]: additions when `W` is 2 or 3.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn times_v3<const W: i32>(simd: V3, w: pulp::i32x8, r: pulp::i32x8) -> pulp::i32x8 {
    match W {
        2 => simd.wrapping_add_i32x8(r, r),
        3 => simd.wrapping_add_i32x8(simd.wrapping_add_i32x8(r, r), r),
        _ => simd.wrapping_mul_i32x8(w, r),
    }
}

/// [`lane_feature`] with AVX2 vectors (same operations).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn lane_feature_v3<const THREE: bool, const NEG: bool, const W: i32, const SHAPE: u8>(
    simd: V3,
    t: &[i32; FAST + LANES],
    o: &[usize; 12],
    w: &[pulp::i32x8; 3],
) -> pulp::f32x8 {
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

/// Which [`lane_feature`] variant a stump takes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
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
fn stump_pass<const THREE: bool, const NEG: bool, const W: i32, const SHAPE: u8, A>(
    st: &CompactStump,
    sum: &[&[i32; FAST + LANES]],
    inv: &[[f32; LANES]],
    acc: &mut [[A; LANES]],
    add: &impl Fn(&mut A, bool),
) {
    let o = lane_offsets::<SHAPE>(st);
    for ((t, inv), acc) in sum.iter().zip(inv).zip(acc.iter_mut()) {
        let f = lane_feature::<THREE, NEG, W, SHAPE>(t, &o, &st.w);
        for j in 0..LANES {
            add(&mut acc[j], f[j] * inv[j] < st.thr);
        }
    }
}

/// [`stump_pass`] with AVX2 vectors (same operations, same order, same results).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn stump_pass_v3<const THREE: bool, const NEG: bool, const W: i32, const SHAPE: u8>(
    simd: V3,
    st: &CompactStump,
    sum: &[&[i32; FAST + LANES]],
    inv: &[[f32; LANES]],
    acc: &mut [[f64; LANES]],
) {
    use pulp::{f32x4, f32x8, f64x4};
    let o = lane_offsets::<SHAPE>(st);
    let w = st.w.map(|v| simd.splat_i32x8(v));
    let (thr, left, right) = (
        simd.splat_f32x8(st.thr),
        simd.splat_f32x8(st.left),
        simd.splat_f32x8(st.right),
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

/// [`stump_pass`] for a fixed-point stage with AVX2 vectors. The sums start at the
/// stage's [`FixedStage::base`] (its right leaves), so a stump adds `delta` (left leaf
/// minus right leaf, in the stage's units) where the value is below the threshold: one
/// AND instead of a select.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn stump_pass_fixed_v3<const THREE: bool, const NEG: bool, const W: i32, const SHAPE: u8>(
    simd: V3,
    st: &CompactStump,
    delta: i32,
    sum: &[&[i32; FAST + LANES]],
    inv: &[[f32; LANES]],
    acc: &mut [[i32; LANES]],
) {
    let o = lane_offsets::<SHAPE>(st);
    let w = st.w.map(|v| simd.splat_i32x8(v));
    let thr = simd.splat_f32x8(st.thr);
    let delta = simd.splat_i32x8(delta);
    for ((t, inv), acc) in sum.iter().zip(inv).zip(acc.iter_mut()) {
        let f = lane_feature_v3::<THREE, NEG, W, SHAPE>(simd, t, &o, &w);
        let v = simd.mul_f32x8(f, pulp::cast::<[f32; LANES], pulp::f32x8>(*inv));
        let below: pulp::i32x8 = pulp::cast(simd.cmp_lt_f32x8(v, thr));
        let add = simd.and_i32x8(below, delta);
        *acc = pulp::cast(simd.wrapping_add_i32x8(pulp::cast(*acc), add));
    }
}

/// The lanes of fixed-point sums `acc` that pass (`>= pass`) and those in the band
/// `(reject, pass)` where the exact sum decides, as bit masks.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn fixed_masks_v3(simd: V3, acc: &[i32; LANES], fx: &FixedStage) -> (u8, u8) {
    let a = simd.avx2;
    let acc = pulp::cast(*acc);
    let below_pass = a._mm256_cmpgt_epi32(simd.avx._mm256_set1_epi32(fx.pass), acc);
    let above_reject = a._mm256_cmpgt_epi32(acc, simd.avx._mm256_set1_epi32(fx.reject));
    let bits = |m| simd.avx._mm256_movemask_ps(pulp::cast(m)) as u8;
    let (below, above) = (bits(below_pass), bits(above_reject));
    (!below, above & below)
}

/// OpenCV's f64 sum of stage `(first, count)` for the window whose tables start at `t`
/// (one window, stumps in order): the exact answer where a fixed-point sum is too close
/// to the threshold to decide.
fn exact_stage_sum(stumps: &[CompactStump], t: &[i32], inv: f32) -> f64 {
    let t: &[i32; FAST] = t[..FAST].try_into().expect("padded tables");
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
/// rectangle, area `area`): returns the lanes with `nf > 0` and `area * inv < 0.1` (the
/// std-dev of the window above 10 gray levels), with `nf = area * Q - S * S` in f64 and
/// `inv = f32(1 / sqrt(nf))`, written to `inv` (for the lanes that pass; the others are
/// never read).
#[inline(always)]
fn variance(
    s: &[i32; FAST + LANES],
    q: &[u32; FAST + LANES],
    c: [usize; 4],
    area: f64,
    inv: &mut [f32; LANES],
) -> u8 {
    let mut ok = 0u8;
    for j in 0..LANES {
        let ss = s[c[0] + j]
            .wrapping_sub(s[c[1] + j])
            .wrapping_sub(s[c[2] + j])
            .wrapping_add(s[c[3] + j]);
        let qq = q[c[0] + j]
            .wrapping_sub(q[c[1] + j])
            .wrapping_sub(q[c[2] + j])
            .wrapping_add(q[c[3] + j]);
        let nf = area * qq as f64 - ss as f64 * ss as f64;
        inv[j] = (1.0 / nf.sqrt()) as f32;
        ok |= ((nf > 0.0 && area * (inv[j] as f64) < 0.1) as u8) << j;
    }
    ok
}

/// [`variance`] with AVX2 vectors (the same f64 operations, unfused, in the same order).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn variance_v3(
    simd: V3,
    s: &[i32; FAST + LANES],
    q: &[u32; FAST + LANES],
    c: [usize; 4],
    area: f64,
    inv: &mut [f32; LANES],
) -> u8 {
    use std::arch::x86_64::__m128i;
    let ss = lane_rect_v3(simd, s, &c);
    let qa: pulp::u32x8 = pulp::cast(*lanes_at(q, c[0]));
    let qb: pulp::u32x8 = pulp::cast(*lanes_at(q, c[1]));
    let qc: pulp::u32x8 = pulp::cast(*lanes_at(q, c[2]));
    let qd: pulp::u32x8 = pulp::cast(*lanes_at(q, c[3]));
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
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn norm_v3(
    simd: V3,
    s: std::arch::x86_64::__m128i,
    q: std::arch::x86_64::__m128i,
    area: f64,
) -> std::arch::x86_64::__m256d {
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
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn variance_half_v3(
    simd: V3,
    nf: std::arch::x86_64::__m256d,
    area: f64,
) -> (std::arch::x86_64::__m128, u8) {
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

/// One stripe of rows of one level (compact stump cascades), evaluated stage by stage
/// over blocks of [`LANES`] adjacent windows: the variance test and stage 0 on every
/// block, OpenCV's skip rule on the stage-0 results row by row, then each later stage
/// on the blocks that still have a live window, one stump at a time over all of them.
/// Pushes `(row, column, score)` of the accepted windows in scan order.
struct StripeScan<'a, 't> {
    /// `Some` on CPUs with AVX2+FMA unless the detector is portable.
    simd: Option<V3>,
    program: &'a Program,
    /// Offsets for the level's table layout (de-interleaved when `level.dual`).
    k: &'a Compiled,
    t: &'a Tables<'t>,
    level: &'a Level,
    rows: (usize, usize),
    nx: usize,
    work: &'a mut StripeWork<'t>,
    out: &'a mut Vec<(usize, usize, f64)>,
}

impl pulp::WithSimd for StripeScan<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        self.run()
    }
}

impl<'t> StripeScan<'_, 't> {
    #[inline(always)]
    fn run(self) {
        let StripeScan {
            simd,
            program: p,
            k,
            t,
            level: l,
            rows: (y0, y1),
            nx,
            work: w,
            out,
        } = self;
        let step = l.step;
        // Windows of a row are x = i * step, i < nk; window i is table entry row + i.
        // Window ids are `row * row_len + i`; a block may start at any window of a row.
        let nk = nx.div_ceil(step);
        if nk == 0 || y0 >= y1 {
            return;
        }
        let nb = nk.div_ceil(LANES);
        // A power of two (ids split by shifts), at least one block more than a row.
        let row_len = ((nb + 1) * LANES).next_power_of_two();
        let row_shift = row_len.trailing_zeros();
        let slots_per_row = row_len / LANES;
        let ys: Vec<usize> = (y0..y1).step_by(step).collect();
        let row_base: Vec<usize> = ys.iter().map(|y| (l.row0 + y) * k.stride).collect();
        w.blocks.clear();
        w.window_inv.clear();
        w.window_inv.resize(ys.len() * row_len, 0.0);
        let [na, nbb, nc, nd] = k.norm.map(|o| o as u16 as usize);
        let area = p.norm_area;
        // The variance test on blocks at multiples of LANES (every window of the rows).
        for (ri, &row) in row_base.iter().enumerate() {
            for b in 0..nb {
                let base = row + b * LANES;
                let s: &'t [i32; FAST + LANES] = t.sum[base..base + FAST + LANES]
                    .try_into()
                    .expect("padded tables");
                let q: &[u32; FAST + LANES] = t.sqsum[base..base + FAST + LANES]
                    .try_into()
                    .expect("padded tables");
                let id = ri * row_len + b * LANES;
                let inv: &mut [f32; LANES] = (&mut w.window_inv[id..id + LANES])
                    .try_into()
                    .expect("LANES long");
                let ok = match simd {
                    #[cfg(target_arch = "x86_64")]
                    Some(v3) => variance_v3(v3, s, q, [na, nbb, nc, nd], area, inv),
                    _ => variance(s, q, [na, nbb, nc, nd], area, inv),
                };
                if ok != 0 {
                    w.blocks.push(s, *inv, ok, id as u32);
                }
            }
        }
        for (si, &(first, count, thr)) in p.stages.iter().enumerate() {
            if si > 0 {
                // Cover the live windows with as few blocks as possible: each block starts
                // at the first live window it does not already cover. The last stage's
                // blocks do not overlap and come in window order, so each one's live lanes
                // go partly into the open block and the rest into one new block.
                std::mem::swap(&mut w.prev_first, &mut w.blocks.first);
                w.blocks.clear();
                let mut open = usize::MAX;
                for (&f, &m) in w.prev_first.iter().zip(&w.pass) {
                    let (f, mut m) = (f as usize, m as u32);
                    let sh = f.wrapping_sub(open);
                    if sh < LANES && f >> row_shift == open >> row_shift {
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
                    let (ri, i) = (id >> row_shift, id & (row_len - 1));
                    let base = row_base[ri] + i;
                    let s: &'t [i32; FAST + LANES] = t.sum[base..base + FAST + LANES]
                        .try_into()
                        .expect("padded tables");
                    let inv: [f32; LANES] =
                        w.window_inv[id..id + LANES].try_into().expect("LANES long");
                    w.blocks.push(s, inv, (m >> j) as u8, id as u32);
                }
            }
            let bl = &mut w.blocks;
            let stumps = &k.compact[first..first + count];
            // Per block: the lanes that pass the stage.
            let pass = &mut w.pass;
            pass.clear();
            if let Some(fx) = p.fixed[si] {
                let acc = &mut w.acc_fixed;
                acc.clear();
                acc.resize(bl.mask.len(), [fx.base; LANES]);
                let deltas = &p.fixed_delta[first..first + count];
                for (st, &delta) in stumps.iter().zip(deltas) {
                    let (sum, inv) = (&bl.sum[..], &bl.inv[..]);
                    match simd {
                        #[cfg(target_arch = "x86_64")]
                        Some(v3) => {
                            by_kind!(st.kind, stump_pass_fixed_v3(v3, st, delta, sum, inv, acc))
                        }
                        _ => {
                            let add = |a: &mut i32, below: bool| {
                                *a = a.wrapping_add(if below { delta } else { 0 })
                            };
                            by_kind!(st.kind, stump_pass::<i32>(st, sum, inv, acc, &add))
                        }
                    }
                }
                let lanes = bl.sum.iter().zip(&bl.inv).zip(&bl.mask);
                for (a, ((t, inv), &mask)) in acc.iter().zip(lanes) {
                    let (mut m, mut band) = match simd {
                        #[cfg(target_arch = "x86_64")]
                        Some(v3) => fixed_masks_v3(v3, a, &fx),
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
            } else {
                let acc = &mut bl.acc;
                acc.clear();
                acc.resize(bl.mask.len(), [0.0; LANES]);
                for st in stumps {
                    let (sum, inv) = (&bl.sum[..], &bl.inv[..]);
                    match simd {
                        #[cfg(target_arch = "x86_64")]
                        Some(v3) => by_kind!(st.kind, stump_pass_v3(v3, st, sum, inv, acc)),
                        _ => {
                            let add = |a: &mut f64, below: bool| {
                                *a += if below { st.left } else { st.right } as f64
                            };
                            by_kind!(st.kind, stump_pass::<f64>(st, sum, inv, acc, &add))
                        }
                    }
                }
                for (a, &mask) in acc.iter().zip(&bl.mask) {
                    let mut m = 0u8;
                    for (j, v) in a.iter().enumerate() {
                        m |= ((*v >= thr as f64) as u8) << j;
                    }
                    pass.push(m & mask);
                }
            }
            if si == 0 {
                // OpenCV's scan order: a window rejected by stage 0 skips the next one.
                // Stage-0 blocks are the variance blocks: block b of row ri holds windows
                // ri * row_len + 8 b onwards (slot ri * slots_per_row + b).
                let slots = ys.len() * slots_per_row;
                w.rejected0.clear();
                w.rejected0.resize(slots, 0);
                w.visited.clear();
                w.visited.resize(slots, 0);
                for ((&f, &mask), &ps) in bl.first.iter().zip(&bl.mask).zip(pass.iter()) {
                    w.rejected0[f as usize / LANES] = mask & !ps;
                }
                let last = if nk % LANES == 0 {
                    u8::MAX
                } else {
                    (1u8 << (nk % LANES)) - 1
                };
                for ri in 0..ys.len() {
                    let row = ri * slots_per_row..ri * slots_per_row + nb;
                    let mut skip = false;
                    for (v, &r) in w.visited[row.clone()].iter_mut().zip(&w.rejected0[row]) {
                        (*v, skip) = SKIP_RULE[skip as usize][r as usize];
                    }
                    w.visited[ri * slots_per_row + nb - 1] &= last;
                }
                for (ps, &f) in pass.iter_mut().zip(&bl.first) {
                    *ps &= w.visited[f as usize / LANES];
                }
            }
            if si + 1 == p.stages.len() {
                // Accepted windows, with the last stage's f64 sums as scores (the last
                // stage never uses fixed point).
                for ((&f, acc), &ps) in bl.first.iter().zip(&bl.acc).zip(pass.iter()) {
                    let (ri, i) = (f as usize >> row_shift, f as usize & (row_len - 1));
                    for (j, &score) in acc.iter().enumerate() {
                        if ps >> j & 1 == 1 {
                            out.push((ys[ri], (i + j) * step, score));
                        }
                    }
                }
                return;
            }
            if pass.iter().all(|&m| m == 0) {
                return;
            }
        }
    }
}

/// Groups raw windows as `params.grouping` says and clips the boxes to a `width x height`
/// image (the last steps of [`Detector::detect_u8`]).
pub fn group_and_clip(
    raw: &[RawHit],
    params: &DetectParams,
    width: usize,
    height: usize,
) -> Vec<Detection> {
    let dets = match params.grouping {
        Grouping::OpenCv if params.min_neighbors == 0 => {
            raw.iter().map(|h| (h.rect, 1, h.score)).collect::<Vec<_>>()
        }
        Grouping::OpenCv => group_rectangles(raw, params.min_neighbors, 0.2),
        Grouping::Nms { iou } => nms(raw, iou, params.min_neighbors),
    };
    dets.into_iter()
        .filter_map(|(r, n, score)| {
            clip(r, width, height).map(|rect| Detection {
                rect,
                neighbors: n,
                score,
            })
        })
        .collect()
}

/// OpenCV's scale list (see the module docs, step 1).
pub fn scale_list(
    width: usize,
    height: usize,
    win_w: usize,
    win_h: usize,
    params: &DetectParams,
) -> Vec<f32> {
    let (max_w, max_h) = params.max_size.unwrap_or((width, height));
    let mut out = Vec::new();
    let mut factor = 1.0f64;
    loop {
        let ww = round_half_even(win_w as f64 * factor);
        let wh = round_half_even(win_h as f64 * factor);
        if ww > max_w as f64 || wh > max_h as f64 || ww > width as f64 || wh > height as f64 {
            break;
        }
        if !(ww < params.min_size.0 as f64 || wh < params.min_size.1 as f64) {
            out.push(factor as f32);
        }
        factor *= params.scale_factor;
    }
    out
}

/// OpenCV's `groupRectangles(rects, min_neighbors, eps)` on raw windows: returns
/// `(mean box, member count, best member score)` per kept class, in class order.
pub fn group_rectangles(
    raw: &[RawHit],
    min_neighbors: usize,
    eps: f64,
) -> Vec<([i32; 4], usize, f64)> {
    let n = raw.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut a: usize) -> usize {
        while p[a] != a {
            p[a] = p[p[a]];
            a = p[a];
        }
        a
    }
    for i in 0..n {
        for j in i + 1..n {
            if similar(&raw[i].rect, &raw[j].rect, eps) {
                let (ri, rj) = (find(&mut parent, i), find(&mut parent, j));
                if ri != rj {
                    parent[rj] = ri;
                }
            }
        }
    }
    // Classes numbered by their first member.
    let mut label_of_root = vec![usize::MAX; n];
    let mut labels = vec![0; n];
    let mut nc = 0;
    for i in 0..n {
        let r = find(&mut parent, i);
        if label_of_root[r] == usize::MAX {
            label_of_root[r] = nc;
            nc += 1;
        }
        labels[i] = label_of_root[r];
    }
    let mut sums = vec![[0i64; 4]; nc];
    let mut counts = vec![0usize; nc];
    let mut best = vec![f64::NEG_INFINITY; nc];
    for (h, &l) in raw.iter().zip(&labels) {
        for k in 0..4 {
            sums[l][k] += h.rect[k] as i64;
        }
        counts[l] += 1;
        best[l] = best[l].max(h.score);
    }
    let means: Vec<[i32; 4]> = sums
        .iter()
        .zip(&counts)
        .map(|(s, &c)| {
            let inv = 1.0f32 / c as f32;
            s.map(|v| round_half_even((v as f32 * inv) as f64) as i32)
        })
        .collect();
    let mut out = Vec::new();
    for i in 0..nc {
        let n1 = counts[i];
        if n1 <= min_neighbors {
            continue;
        }
        let r1 = means[i];
        let inside = (0..nc).any(|j| {
            let n2 = counts[j];
            if j == i || n2 <= min_neighbors {
                return false;
            }
            let r2 = means[j];
            let dx = round_half_even(r2[2] as f64 * eps) as i32;
            let dy = round_half_even(r2[3] as f64 * eps) as i32;
            r1[0] >= r2[0] - dx
                && r1[1] >= r2[1] - dy
                && r1[0] + r1[2] <= r2[0] + r2[2] + dx
                && r1[1] + r1[3] <= r2[1] + r2[3] + dy
                && (n2 > n1.max(3) || n1 < 3)
        });
        if !inside {
            out.push((r1, n1, best[i]));
        }
    }
    out
}

/// Greedy IoU non-maximum suppression by descending score (ties keep scan order).
pub fn nms(raw: &[RawHit], iou: f32, min_neighbors: usize) -> Vec<([i32; 4], usize, f64)> {
    let mut order: Vec<usize> = (0..raw.len()).collect();
    order.sort_by(|&a, &b| raw[b].score.total_cmp(&raw[a].score).then(a.cmp(&b)));
    let mut suppressed = vec![false; raw.len()];
    let mut out = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        if suppressed[i] {
            continue;
        }
        let mut n = 1;
        for &j in &order[k + 1..] {
            if !suppressed[j] && iou_i32(&raw[i].rect, &raw[j].rect) > iou as f64 {
                suppressed[j] = true;
                n += 1;
            }
        }
        if n > min_neighbors {
            out.push((raw[i].rect, n, raw[i].score));
        }
    }
    out
}

/// Detection-versus-truth counts and the precision-recall curve of an evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Matched detections.
    pub tp: usize,
    /// Unmatched detections.
    pub fp: usize,
    /// Unmatched truth boxes.
    pub fn_: usize,
    /// `tp / (tp + fp)` (1 when there is no detection).
    pub precision: f64,
    /// `tp / (tp + fn)` (1 when there is no truth box).
    pub recall: f64,
    /// Area under the monotone (all-points interpolated) precision-recall curve.
    pub average_precision: f64,
    /// `(recall, precision)` after each detection in decreasing confidence.
    pub curve: Vec<(f64, f64)>,
}

/// Greedy matching (the anchors' protocol): all (detection, truth) pairs with
/// `IoU >= iou` are taken in decreasing IoU order (ties: detection then truth index),
/// each box at most once. Returns, per detection, whether it was matched.
pub fn match_greedy(dets: &[Rect], truth: &[Rect], iou: f32) -> Vec<bool> {
    let mut pairs = Vec::new();
    for (i, d) in dets.iter().enumerate() {
        for (j, t) in truth.iter().enumerate() {
            let v = d.iou(t);
            if v >= iou {
                pairs.push((v, i, j));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut used_d = vec![false; dets.len()];
    let mut used_t = vec![false; truth.len()];
    for (_, i, j) in pairs {
        if !used_d[i] && !used_t[j] {
            used_d[i] = true;
            used_t[j] = true;
        }
    }
    used_d
}

/// One image for [`evaluate`]: detections with a confidence each, and the true boxes.
pub type ScoredImage = (Vec<(Rect, f64)>, Vec<Rect>);

/// Evaluates detections (with a confidence each) against truth boxes over several
/// images: greedy matching per image at `iou`, then one precision-recall curve over all
/// detections sorted by decreasing confidence (ties keep input order).
pub fn evaluate(images: &[ScoredImage], iou: f32) -> EvalReport {
    let mut ranked = Vec::new();
    let mut n_truth = 0;
    for (dets, truth) in images {
        let rects: Vec<Rect> = dets.iter().map(|d| d.0).collect();
        let hit = match_greedy(&rects, truth, iou);
        n_truth += truth.len();
        ranked.extend(dets.iter().zip(hit).map(|(d, h)| (d.1, h)));
    }
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut curve = Vec::with_capacity(ranked.len());
    for &(_, h) in &ranked {
        if h {
            tp += 1;
        } else {
            fp += 1;
        }
        let recall = if n_truth == 0 {
            1.0
        } else {
            tp as f64 / n_truth as f64
        };
        curve.push((recall, tp as f64 / (tp + fp) as f64));
    }
    // All-points interpolation: precision made non-increasing from the right.
    let mut ap = 0.0;
    let mut best = 0.0f64;
    for k in (0..curve.len()).rev() {
        best = best.max(curve[k].1);
        let r_before = if k == 0 { 0.0 } else { curve[k - 1].0 };
        if curve[k].0 > r_before {
            ap += (curve[k].0 - r_before) * best;
        }
    }
    EvalReport {
        tp,
        fp,
        fn_: n_truth - tp,
        precision: if tp + fp == 0 {
            1.0
        } else {
            tp as f64 / (tp + fp) as f64
        },
        recall: if n_truth == 0 {
            1.0
        } else {
            tp as f64 / n_truth as f64
        },
        average_precision: ap,
        curve,
    }
}

/// OpenCV's `equalizeHist` on 8-bit pixels, in place.
pub fn equalize_hist(pixels: &mut [u8]) {
    let mut hist = [0usize; 256];
    for &p in pixels.iter() {
        hist[p as usize] += 1;
    }
    let Some(first) = hist.iter().position(|&c| c > 0) else {
        return;
    };
    let total = pixels.len();
    let mut lut = [0u8; 256];
    if hist[first] == total {
        lut = [first as u8; 256];
    } else {
        let scale = 255.0f32 / (total - hist[first]) as f32;
        let mut sum = 0usize;
        for i in first + 1..256 {
            sum += hist[i];
            lut[i] = round_half_even((sum as f32 * scale) as f64).clamp(0.0, 255.0) as u8;
        }
    }
    for p in pixels.iter_mut() {
        *p = lut[*p as usize];
    }
}

/// OpenCV's `INTER_LINEAR_EXACT` resize of an 8-bit image (see the module docs, step 2).
pub fn resize_linear_exact(
    src: &[u8],
    sw: usize,
    sh: usize,
    dw: usize,
    dh: usize,
    dst: &mut Vec<u8>,
) {
    resize_linear_exact_rows(src, sw, sh, dw, dh, 0..dh, dst);
}

/// Rows `rows` (clamped to `0..dh`; an empty or reversed range gives no rows) of
/// [`resize_linear_exact`]'s `dw x dh` result, into `dst` (`dw x rows.len()`): the same
/// values as the full resize, computed only there. As for the full resize, `src` must hold
/// `sw x sh` pixels with `sw, sh >= 1`.
pub fn resize_linear_exact_rows(
    src: &[u8],
    sw: usize,
    sh: usize,
    dw: usize,
    dh: usize,
    rows: std::ops::Range<usize>,
    dst: &mut Vec<u8>,
) {
    resize_rows_with(crate::simd::v3(false), src, (sw, sh), (dw, dh), rows, dst);
}

/// [`resize_linear_exact_rows`], with AVX2 vectors where `simd` is given (the same
/// integers either way).
fn resize_rows_with(
    simd: Option<V3>,
    src: &[u8],
    (sw, sh): (usize, usize),
    (dw, dh): (usize, usize),
    rows: std::ops::Range<usize>,
    dst: &mut Vec<u8>,
) {
    dst.clear();
    let start = rows.start.min(dh);
    let rows = start..rows.end.clamp(start, dh);
    if (dw, dh) == (sw, sh) {
        dst.extend_from_slice(&src[rows.start * sw..rows.end * sw]);
        return;
    }
    dst.resize(dw * rows.len(), 0);
    let resize = Resize {
        simd,
        src,
        sw,
        dw,
        cx: exact_coeffs(sw, dw),
        cy: &exact_coeffs(sh, dh)[rows],
        dst,
    };
    match simd {
        #[cfg(target_arch = "x86_64")]
        Some(v3) => pulp::Simd::vectorize(v3, resize),
        _ => resize.run(),
    }
}

/// The work of [`resize_rows_with`] (run inside the AVX2 context when there is one).
struct Resize<'a> {
    simd: Option<V3>,
    src: &'a [u8],
    sw: usize,
    dw: usize,
    /// Horizontal and vertical taps and weights (the rows to make).
    cx: Vec<(usize, usize, u32, u32)>,
    cy: &'a [(usize, usize, u32, u32)],
    dst: &'a mut [u8],
}

impl pulp::WithSimd for Resize<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        self.run()
    }
}

/// `len` (8 or 4) destination pixels of the horizontal pass whose taps lie within 16
/// source bytes from `base`: byte shuffles that pick tap 0 and tap 1 of each as a u16
/// lane, and their weights.
#[derive(Clone, Copy)]
struct HChunk {
    base: usize,
    len: usize,
    pick: [[u8; 16]; 2],
    weight: [[u16; 8]; 2],
}

impl HChunk {
    /// The chunk of the pixels whose taps are `c`, if they fit.
    fn new(c: &[(usize, usize, u32, u32)], sw: usize) -> Option<HChunk> {
        let base = c.first()?.0;
        if c.iter().any(|t| t.0 < base || t.1 >= base + 16) || base + 16 > sw {
            return None;
        }
        let mut ch = HChunk {
            base,
            len: c.len(),
            pick: [[0x80; 16]; 2],
            weight: [[0; 8]; 2],
        };
        for (j, &(i0, i1, c0, c1)) in c.iter().enumerate() {
            ch.pick[0][2 * j] = (i0 - base) as u8;
            ch.pick[1][2 * j] = (i1 - base) as u8;
            ch.weight[0][j] = c0 as u16;
            ch.weight[1][j] = c1 as u16;
        }
        Some(ch)
    }
}

impl Resize<'_> {
    #[inline(always)]
    fn run(self) {
        let Resize {
            simd,
            src,
            sw,
            dw,
            cx,
            cy,
            dst,
        } = self;
        // The leading destination pixels that vector chunks cover (none without SIMD):
        // 8 at a time where their taps span at most 16 bytes (scales below about 2), else
        // 4 (below about 4.6).
        let mut chunks = Vec::new();
        let mut x = 0;
        while simd.is_some() && x + 4 <= dw {
            let ch = cx.get(x..x + 8).and_then(|c| HChunk::new(c, sw));
            match ch.or_else(|| HChunk::new(&cx[x..x + 4], sw)) {
                Some(ch) => {
                    x += ch.len;
                    chunks.push(ch);
                }
                None => break,
            }
        }
        // Each value is at most 256 * 255, a u16.
        let mut h0 = vec![0u16; dw];
        let mut h1 = vec![0u16; dw];
        let mut have = (usize::MAX, usize::MAX);
        for (d, &(r0, r1, b0, b1)) in cy.iter().enumerate() {
            if have != (r0, r1) {
                if have.1 == r0 {
                    std::mem::swap(&mut h0, &mut h1);
                } else {
                    hpass(simd, &src[r0 * sw..(r0 + 1) * sw], &chunks, &cx, &mut h0);
                }
                hpass(simd, &src[r1 * sw..(r1 + 1) * sw], &chunks, &cx, &mut h1);
                have = (r0, r1);
            }
            let out = &mut dst[d * dw..(d + 1) * dw];
            for ((o, &a), &b) in out.iter_mut().zip(&h0).zip(&h1) {
                let v = b0 * a as u32 + b1 * b as u32;
                *o = ((v + (1 << 15)) >> 16).min(255) as u8;
            }
        }
    }
}

/// The horizontal pass of one source row: `chunks` in vectors (with `simd`), the rest
/// one pixel at a time.
#[inline(always)]
fn hpass(
    simd: Option<V3>,
    row: &[u8],
    chunks: &[HChunk],
    cx: &[(usize, usize, u32, u32)],
    out: &mut [u16],
) {
    let done = match simd {
        #[cfg(target_arch = "x86_64")]
        Some(v3) => hpass_v3(v3, row, chunks, out),
        _ => 0,
    };
    for (o, &(i0, i1, c0, c1)) in out[done..].iter_mut().zip(&cx[done..]) {
        *o = (c0 * row[i0] as u32 + c1 * row[i1] as u32) as u16;
    }
}

/// The horizontal pass of one source row over `chunks` (8 or 4 destination pixels each,
/// from pixel 0): two byte shuffles, two u16 products and a sum per chunk. Returns the
/// number of destination pixels written.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn hpass_v3(simd: V3, row: &[u8], chunks: &[HChunk], out: &mut [u16]) -> usize {
    use std::arch::x86_64::__m128i;
    let (b, sh) = (simd.sse2, simd.ssse3);
    let mut x = 0;
    for ch in chunks {
        let bytes: [u8; 16] = row[ch.base..ch.base + 16].try_into().expect("16 bytes");
        let v: __m128i = pulp::cast(bytes);
        let a = sh._mm_shuffle_epi8(v, pulp::cast(ch.pick[0]));
        let c = sh._mm_shuffle_epi8(v, pulp::cast(ch.pick[1]));
        let r = b._mm_add_epi16(
            b._mm_mullo_epi16(a, pulp::cast(ch.weight[0])),
            b._mm_mullo_epi16(c, pulp::cast(ch.weight[1])),
        );
        let r: [u16; 8] = pulp::cast(r);
        // All 8 lanes where they fit: lanes past `len` are rewritten after.
        match out.get_mut(x..x + 8) {
            Some(o) => o.copy_from_slice(&r),
            None => out[x..x + ch.len].copy_from_slice(&r[..ch.len]),
        }
        x += ch.len;
    }
    x
}

/// Per destination index: (tap 0, tap 1, weight 0, weight 1), weights summing to 256.
fn exact_coeffs(ssz: usize, dsz: usize) -> Vec<(usize, usize, u32, u32)> {
    let scale = 1.0 / (dsz as f64 / ssz as f64);
    (0..dsz)
        .map(|d| {
            let f = scale * (d as f64 + 0.5) - 0.5;
            let i = f.floor();
            if i >= 0.0 && (i as usize) + 1 < ssz {
                let c1 = round_half_even((f - i) * 256.0) as u32;
                (i as usize, i as usize + 1, 256 - c1, c1)
            } else {
                let t = (i.max(0.0) as usize).min(ssz - 1);
                (t, t, 256, 0)
            }
        })
        .collect()
}

pub(crate) fn round_half_even(v: f64) -> f64 {
    v.round_ties_even()
}

fn similar(a: &[i32; 4], b: &[i32; 4], eps: f64) -> bool {
    let delta = eps * ((a[2].min(b[2]) + a[3].min(b[3])) as f64) * 0.5;
    ((a[0] - b[0]).abs() as f64) <= delta
        && ((a[1] - b[1]).abs() as f64) <= delta
        && ((a[0] + a[2] - b[0] - b[2]).abs() as f64) <= delta
        && ((a[1] + a[3] - b[1] - b[3]).abs() as f64) <= delta
}

fn iou_i32(a: &[i32; 4], b: &[i32; 4]) -> f64 {
    let (ax1, ay1) = (a[0] as i64 + a[2] as i64, a[1] as i64 + a[3] as i64);
    let (bx1, by1) = (b[0] as i64 + b[2] as i64, b[1] as i64 + b[3] as i64);
    let iw = (ax1.min(bx1) - (a[0].max(b[0]) as i64)).max(0);
    let ih = (ay1.min(by1) - (a[1].max(b[1]) as i64)).max(0);
    let inter = (iw * ih) as f64;
    let union = (a[2] as i64 * a[3] as i64 + b[2] as i64 * b[3] as i64) as f64 - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// `rect & Rect(0, 0, width, height)`, `None` when empty.
fn clip(r: [i32; 4], width: usize, height: usize) -> Option<Rect> {
    let x0 = (r[0] as i64).max(0);
    let y0 = (r[1] as i64).max(0);
    let x1 = (r[0] as i64 + r[2] as i64).min(width as i64);
    let y1 = (r[1] as i64 + r[3] as i64).min(height as i64);
    (x1 > x0 && y1 > y0).then(|| Rect {
        x: x0 as u32,
        y: y0 as u32,
        width: (x1 - x0) as u32,
        height: (y1 - y0) as u32,
    })
}

struct Level {
    scale: f32,
    width: usize,
    height: usize,
    row0: usize,
    /// Scan step in rows and columns: 2 below scale 2, else 1.
    step: usize,
    /// Tables stored column-de-interleaved (step-2 levels of lane-evaluated cascades).
    dual: bool,
}

struct Tables<'a> {
    sum: &'a [i32],
    sqsum: &'a [u32],
    tilted: &'a [i32],
}

/// Stride-independent evaluation program: stages, stumps or trees, thresholds.
#[derive(Clone, Debug)]
struct Program {
    haar: bool,
    stumps: bool,
    /// `(first weak, weak count, f32(threshold) - 1e-5f)`.
    stages: Vec<(usize, usize, f32)>,
    /// Per stage: every partial f64 sum of its leaves is exact, so the sum may be formed
    /// in any order (two accumulators) and still equal OpenCV's sequential sum.
    exact: Vec<bool>,
    /// Per stage of a stump cascade: integer thresholds for fixed-point stage sums
    /// (`None`: f64 sums; always for the last stage, whose sum is the score).
    fixed: Vec<Option<FixedStage>>,
    /// Per stump: left leaf minus right leaf in the fixed-point units of its stage (see
    /// [`fixed_terms`]; 0 where `None`).
    fixed_delta: Vec<i32>,
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
    norm_area: f64,
}

impl Program {
    fn new(c: &Cascade) -> Program {
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
                .push((first, st.trees.len(), st.threshold - 1e-5f32));
            p.exact.push(stage_sum_is_exact(st));
            let last = p.stages.len() == c.stages.len();
            match fixed_stage(st, st.threshold - 1e-5f32).filter(|_| stumps && !last) {
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
                        Split::Threshold(v) => *v,
                        Split::Subset(m) => {
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
    fn run(&self, c: &Compiled, t: &Tables, base: usize) -> (i32, f64) {
        if self.haar {
            let [a, b, cc, d] = c.norm;
            let s = t.sum[base + a]
                .wrapping_sub(t.sum[base + b])
                .wrapping_sub(t.sum[base + cc])
                .wrapping_add(t.sum[base + d]);
            let q = t.sqsum[base + a]
                .wrapping_sub(t.sqsum[base + b])
                .wrapping_sub(t.sqsum[base + cc])
                .wrapping_add(t.sqsum[base + d]);
            let nf = self.norm_area * q as f64 - s as f64 * s as f64;
            if !(nf > 0.0) {
                return (-1, 0.0);
            }
            let inv = (1.0 / nf.sqrt()) as f32;
            if !(self.norm_area * (inv as f64) < 0.1) {
                return (-1, 0.0);
            }
            if c.span <= FAST {
                let sum: &[i32; FAST] = t.sum[base..base + FAST].try_into().expect("padded tables");
                let tilted: &[i32; FAST] = if c.any_tilted {
                    t.tilted[base..base + FAST]
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
        } else if c.span <= FAST {
            let sum: &[i32; FAST] = t.sum[base..base + FAST].try_into().expect("padded tables");
            self.eval_lbp(c, sum)
        } else {
            self.eval_lbp(c, &t.sum[base..base + c.span])
        }
    }

    #[inline(always)]
    fn eval_haar<T: Table>(&self, c: &Compiled, sum: T, tilted: T, inv: f32) -> (i32, f64) {
        if self.stumps {
            if T::FAST && !c.compact.is_empty() {
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
    fn eval_lbp<T: Table>(&self, c: &Compiled, sum: T) -> (i32, f64) {
        let code = |f: u32| {
            let o = &c.lbp[f as usize];
            let p: [i32; 16] = std::array::from_fn(|k| sum.at(o[k]));
            crate::detect::lbp::code_from_corners(&p)
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
struct FixedStage {
    pass: i32,
    reject: i32,
    /// The sum of the right leaves (wrapping), where the scan's sums start.
    base: i32,
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
fn fixed_stage(
    stage: &crate::detect::cascade::Stage,
    thr: f32,
) -> Option<(FixedStage, Vec<(i32, i32)>)> {
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
fn stage_sum_is_exact(stage: &crate::detect::cascade::Stage) -> bool {
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

/// Windows evaluated together by [`StripeScan`].
const LANES: usize = 8;

/// Feature offsets for one table stride.
#[derive(Clone, Debug)]
struct Compiled {
    stride: usize,
    /// The [`Detector`] these offsets belong to.
    detector: u64,
    /// Per Haar feature, or per stump in weak-classifier order for stump cascades.
    haar: Vec<HaarC>,
    lbp: Vec<[u32; 16]>,
    norm: [usize; 4],
    /// One past the largest offset (windows are sliced to this length).
    span: usize,
    any_tilted: bool,
    /// [`CompactStump`]s, when every stump qualifies and offsets fit 16 bits (else empty).
    compact: Vec<CompactStump>,
}

/// Window offsets of 16 bits: a window slice of this length is indexed without bounds
/// checks (tables are padded by this much).
const FAST: usize = 1 << 16;

/// A window's view of an integral table.
trait Table: Copy {
    /// Whether offsets below `FAST` are all this table needs (no bounds checks).
    const FAST: bool;
    fn at(self, o: u32) -> i32;
}

impl Table for &[i32; FAST] {
    const FAST: bool = true;
    #[inline(always)]
    fn at(self, o: u32) -> i32 {
        // Offsets are below FAST whenever this table type is used.
        self[o as u16 as usize]
    }
}

impl Table for &[i32] {
    const FAST: bool = false;
    #[inline(always)]
    fn at(self, o: u32) -> i32 {
        self[o as usize]
    }
}

/// A stump that turns a window into its leaf value.
trait Stump {
    fn leaf<T: Table>(&self, sum: T, tilted: T, inv: f32) -> f64;
}

impl Stump for HaarC {
    #[inline(always)]
    fn leaf<T: Table>(&self, sum: T, tilted: T, inv: f32) -> f64 {
        let v = self.value(sum, tilted) * inv;
        (if v < self.thr { self.left } else { self.right }) as f64
    }
}

/// The fast stump: upright rectangles, integer weights, 16-bit offsets (48 bytes). A
/// missing third rectangle has weight 0 and offsets 0, so all three terms are formed
/// without branches; the integer sum is exact and equals OpenCV's f32 sum.
#[derive(Clone, Copy, Debug)]
struct CompactStump {
    o: [u16; 12],
    w: [i32; 3],
    thr: f32,
    left: f32,
    right: f32,
    /// The lane kernel; for [`Kind::EdgeShared`] and the checkerboards, `so` holds the
    /// distinct corners of the feature (see [`shared_corners`]).
    kind: Kind,
    so: [u16; 9],
}

impl CompactStump {
    fn new(o: [u16; 12], w: [i32; 3], thr: f32, left: f32, right: f32) -> CompactStump {
        let mut st = CompactStump {
            o,
            w,
            thr,
            left,
            right,
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
        let r = |k: usize| {
            sum.at(self.o[4 * k] as u32)
                .wrapping_sub(sum.at(self.o[4 * k + 1] as u32))
                .wrapping_sub(sum.at(self.o[4 * k + 2] as u32))
                .wrapping_add(sum.at(self.o[4 * k + 3] as u32))
        };
        let raw = self.w[0] * r(0) + self.w[1] * r(1) + self.w[2] * r(2);
        let v = raw as f32 * inv;
        (if v < self.thr { self.left } else { self.right }) as f64
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
    thr: f32,
    left: f32,
    right: f32,
    tilted: bool,
}

impl HaarC {
    #[inline(always)]
    fn value<T: Table>(&self, sum: T, tilted: T) -> f32 {
        let t = if self.tilted { tilted } else { sum };
        let r = |o: &[u32; 4]| {
            t.at(o[0])
                .wrapping_sub(t.at(o[1]))
                .wrapping_sub(t.at(o[2]))
                .wrapping_add(t.at(o[3])) as f32
        };
        if self.int_weights {
            // Exact: integer weights and |Σ w R| < 2^24, so the f32 sum OpenCV forms is
            // this integer.
            let ri = |o: &[u32; 4]| {
                t.at(o[0])
                    .wrapping_sub(t.at(o[1]))
                    .wrapping_sub(t.at(o[2]))
                    .wrapping_add(t.at(o[3]))
            };
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

impl Compiled {
    /// Offsets for tables with rows `stride` apart; `dual`: for column-de-interleaved
    /// rows (even columns, then odd ones; see `deinterleave_rows`), as scanned by windows
    /// at even columns, for compact stump cascades only (`compact` is empty otherwise).
    fn new(c: &Cascade, stride: usize, dual: bool) -> Compiled {
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
        let compile = |f: &crate::detect::haar::HaarFeature| {
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
                thr: 0.0,
                left: 0.0,
                right: 0.0,
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
                    if let Split::Threshold(v) = n.split {
                        h.thr = v;
                    }
                    (h.left, h.right) = (t.leaves[0], t.leaves[1]);
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
            && span <= FAST
            && haar.iter().all(|h| h.int_weights)
        {
            haar.iter()
                .map(|h| {
                    CompactStump::new(
                        std::array::from_fn(|k| h.o[k / 4][k % 4] as u16),
                        h.wi,
                        h.thr,
                        h.left,
                        h.right,
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
        Compiled {
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

    /// A deterministic generator for the randomised tests (xorshift64*).
    struct TestRng(u64);

    impl TestRng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn fixed_point_decisions_agree_with_the_sequential_f64_sum() {
        let mut rng = TestRng(0x5eed);
        let mut decided = 0;
        for case in 0..300 {
            let n = 1 + rng.below(if case % 3 == 0 { 200 } else { 12 }) as usize;
            // Leaves of mixed magnitudes (as trained cascades have), some shared.
            let scale = [1e-3, 0.1, 1.0, 30.0, 1e30, 1e-30][case % 6];
            let leaf = |rng: &mut TestRng| ((rng.unit() * 2.0 - 1.0) * scale) as f32;
            let trees: Vec<crate::detect::cascade::Tree> = (0..n)
                .map(|_| crate::detect::cascade::Tree {
                    nodes: Vec::new(),
                    leaves: vec![leaf(&mut rng), leaf(&mut rng)],
                })
                .collect();
            let stage = crate::detect::cascade::Stage {
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
            let q: [u32; FAST + LANES] = std::array::from_fn(|_| rng.next() as u32);
            let s: [i32; FAST + LANES] =
                std::array::from_fn(|_| rng.below(1 << 20) as i32 - (1 << 19));
            let c: [usize; 4] = std::array::from_fn(|_| rng.below(FAST as u64) as usize);
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
                let mut q = [0u32; FAST + LANES];
                for j in 0..LANES {
                    q[10 + j] = q0 + j as u32;
                }
                let (s, c) = ([0i32; FAST + LANES], [10, 0, 0, 0]);
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
            let mut t = target + 1e-5f32;
            for _ in 0..64 {
                let eff = t - 1e-5f32;
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
                for st in Compiled::new(&cascade, 64, dual).compact {
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

    #[test]
    fn integral_rows_equal_hand_sums_in_both_layouts_with_and_without_simd() {
        let mut rng = TestRng(7);
        let sizes = [
            (1, 1),
            (2, 3),
            (7, 5),
            (8, 2),
            (16, 9),
            (17, 3),
            (33, 20),
            (64, 3),
        ];
        for simd in [None, crate::simd::v3(false)] {
            for (w, h) in sizes {
                let stride = (w + 2 + rng.below(3) as usize * 2) & !1;
                // Random pixels, or all 255 (the largest squares).
                let bright = rng.below(4) == 0;
                let px: Vec<u8> = (0..w * h)
                    .map(|_| if bright { 255 } else { rng.below(256) as u8 })
                    .collect();
                let n = (h + 1) * stride;
                // Stale values in the entries the function leaves unspecified; the plain
                // layout against hand sums of the pixels above and left of (x, y) and of
                // their squares.
                let (mut s, mut q) = (vec![5i32; n], vec![3u32; n]);
                crate::detect::integral::sum_sqsum_rows(
                    &px, w, h, stride, &mut s, &mut q, false, simd,
                );
                for y in 0..=h {
                    for x in 0..=w {
                        let i = y * stride + x;
                        let (want_s, want_q) = (0..y)
                            .flat_map(|yy| (0..x).map(move |xx| (yy, xx)))
                            .map(|(yy, xx)| px[yy * w + xx] as u32)
                            .fold((0u32, 0u32), |(a, b), v| (a + v, b + v * v));
                        assert_eq!(
                            (s[i] as u32, q[i]),
                            (want_s, want_q),
                            "{w}x{h} at ({x}, {y})"
                        );
                    }
                }
                // The de-interleaved layout holds the same entries, moved.
                deinterleave_rows(&mut s, stride);
                deinterleave_rows(&mut q, stride);
                let (mut s2, mut q2) = (vec![-7i32; n], vec![99u32; n]);
                crate::detect::integral::sum_sqsum_rows(
                    &px, w, h, stride, &mut s2, &mut q2, true, simd,
                );
                for y in 0..=h {
                    for x in 0..=w {
                        let i = y * stride + (x % 2) * (stride / 2) + x / 2;
                        assert_eq!((s2[i], q2[i]), (s[i], q[i]), "{w}x{h} at ({x}, {y})");
                    }
                }
            }
        }
    }

    #[test]
    fn exact_resize_halves_by_averaging_four_pixels() {
        let src: Vec<u8> = (0..16).map(|i| (i * 13 % 256) as u8).collect();
        let mut dst = Vec::new();
        resize_linear_exact(&src, 4, 4, 2, 2, &mut dst);
        for y in 0..2 {
            for x in 0..2 {
                let p = |xx: usize, yy: usize| src[(2 * y + yy) * 4 + 2 * x + xx] as u32;
                let want = (p(0, 0) + p(1, 0) + p(0, 1) + p(1, 1) + 2) >> 2;
                assert_eq!(dst[y * 2 + x] as u32, want);
            }
        }
    }

    #[test]
    fn vector_resize_equals_the_scalar_resize() {
        let mut rng = TestRng(17);
        let (sw, sh) = (97, 61);
        let src: Vec<u8> = (0..sw * sh).map(|_| rng.below(256) as u8).collect();
        // Downscales from 1.1 to 12 (some with every chunk in vectors, some none),
        // upscales, and widths with ragged tails.
        let sizes = [
            (88, 55),
            (80, 50),
            (60, 40),
            (48, 30),
            (33, 20),
            (8, 5),
            (9, 3),
            (150, 90),
        ];
        for (dw, dh) in sizes {
            let mut scalar = Vec::new();
            resize_rows_with(None, &src, (sw, sh), (dw, dh), 0..dh, &mut scalar);
            // The scalar pass against the two-tap formula.
            let (cx, cy) = (exact_coeffs(sw, dw), exact_coeffs(sh, dh));
            for (y, &(r0, r1, b0, b1)) in cy.iter().enumerate() {
                for (x, &(i0, i1, c0, c1)) in cx.iter().enumerate() {
                    let h = |r: usize| c0 * src[r * sw + i0] as u32 + c1 * src[r * sw + i1] as u32;
                    let want = ((b0 * h(r0) + b1 * h(r1) + (1 << 15)) >> 16).min(255);
                    assert_eq!(scalar[y * dw + x] as u32, want, "{dw}x{dh} at ({x}, {y})");
                }
            }
            let mut vector = Vec::new();
            resize_rows_with(
                crate::simd::v3(false),
                &src,
                (sw, sh),
                (dw, dh),
                0..dh,
                &mut vector,
            );
            assert_eq!(vector, scalar, "{dw}x{dh}");
        }
    }

    #[test]
    fn row_ranges_of_the_exact_resize_equal_the_full_resize() {
        let (sw, sh) = (37, 29);
        let src: Vec<u8> = (0..sw * sh).map(|i| (i * 97 % 251) as u8).collect();
        for (dw, dh) in [(30, 23), (37, 29), (12, 9), (50, 41)] {
            let mut full = Vec::new();
            resize_linear_exact(&src, sw, sh, dw, dh, &mut full);
            for (a, b) in [(0, dh), (0, 1), (3, 8), (dh - 1, dh), (5, dh + 7), (6, 2)] {
                let mut part = Vec::new();
                resize_linear_exact_rows(&src, sw, sh, dw, dh, a..b, &mut part);
                let b = b.clamp(a, dh);
                assert_eq!(part, full[a * dw..b * dw], "{dw}x{dh} rows {a}..{b}");
            }
        }
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
            Compiled::new(&c, stride, false),
            Compiled::new(&c, stride, true),
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

    #[test]
    fn scale_list_matches_the_conventions() {
        let p = DetectParams {
            min_size: (24, 24),
            ..Default::default()
        };
        let s = scale_list(640, 480, 24, 24, &p);
        assert_eq!(s.len(), 32);
        assert_eq!(s[0], 1.0);
        let s = scale_list(640, 480, 20, 20, &p);
        assert_eq!(s.len(), 32);
        assert_eq!(s[0], (1.1f64 * 1.1) as f32);
        assert_eq!(scale_list(640, 480, 45, 45, &p).len(), 25);
    }

    #[test]
    fn grouping_keeps_classes_above_min_neighbors() {
        let h = |x, y, w| RawHit {
            rect: [x, y, w, w],
            score: x as f64,
        };
        let raw = [h(10, 10, 24), h(11, 10, 24), h(10, 11, 24), h(100, 100, 24)];
        let g = group_rectangles(&raw, 2, 0.2);
        // (10+11+10)/3 = 10.33 -> 10; (10+10+11)/3 -> 10.
        assert_eq!(g, vec![([10, 10, 24, 24], 3, 11.0)]);
        assert!(group_rectangles(&raw, 3, 0.2).is_empty());
        let n = nms(&raw, 0.5, 0);
        assert_eq!(n.len(), 2);
        assert_eq!(n[0], ([100, 100, 24, 24], 1, 100.0));
        assert_eq!(n[1].1, 3);
    }

    #[test]
    fn evaluation_matches_hand_computation() {
        let r = |x, y| Rect {
            x,
            y,
            width: 10,
            height: 10,
        };
        // Image 1: a perfect hit (conf 0.9) and a false alarm (0.8); image 2: one miss
        // and a hit at IoU 81/119 (conf 0.5).
        let images = vec![
            (vec![(r(0, 0), 0.9), (r(50, 50), 0.8)], vec![r(0, 0)]),
            (vec![(r(1, 1), 0.5)], vec![r(0, 0), r(30, 30)]),
        ];
        let e = evaluate(&images, 0.5);
        assert_eq!((e.tp, e.fp, e.fn_), (2, 1, 1));
        assert_eq!(
            e.curve,
            vec![(1.0 / 3.0, 1.0), (1.0 / 3.0, 0.5), (2.0 / 3.0, 2.0 / 3.0)]
        );
        // AP = 1/3 * 1 + 1/3 * 2/3.
        assert!((e.average_precision - (1.0 / 3.0 + 2.0 / 9.0)).abs() < 1e-12);
        assert_eq!(evaluate(&images, 0.7).tp, 1);
        // Greedy: the higher-IoU pair wins even when listed second.
        let m = match_greedy(&[r(2, 0), r(0, 0)], &[r(0, 0)], 0.5);
        assert_eq!(m, vec![false, true]);
    }

    #[test]
    fn equalize_matches_hand_computation() {
        let mut px = vec![10, 10, 20, 30];
        equalize_hist(&mut px);
        // hist: 10 x2, 20, 30; scale = 255 / 2; lut[20] = 127.5 -> 128, lut[30] = 255.
        assert_eq!(px, vec![0, 0, 128, 255]);
        let mut flat = vec![7u8; 5];
        equalize_hist(&mut flat);
        assert_eq!(flat, vec![7; 5]);
    }

    #[test]
    fn bad_params_are_rejected() {
        let bad = |p: DetectParams, name: &str| {
            assert!(matches!(p.validate(), Err(Error::InvalidParam { name: n, .. }) if n == name));
        };
        bad(
            DetectParams {
                scale_factor: 1.0,
                ..Default::default()
            },
            "scale_factor",
        );
        bad(
            DetectParams {
                scale_factor: f64::NAN,
                ..Default::default()
            },
            "scale_factor",
        );
        bad(
            DetectParams {
                max_size: Some((0, 5)),
                ..Default::default()
            },
            "max_size",
        );
        bad(
            DetectParams {
                grouping: Grouping::Nms { iou: f32::NAN },
                ..Default::default()
            },
            "grouping",
        );
        assert!(DetectParams::default().validate().is_ok());
    }
}
