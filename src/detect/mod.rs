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
//!    `nf <= 0` or `A * f32(1/sqrt(nf)) >= 0.1` (std-dev below 10 gray levels;
//!    [`cascade::variance_passes`]). A feature's value is `f32(weighted sum) * inv` in f32;
//!    stage sums are accumulated in f64 and a stage passes when
//!    `sum >= f32(threshold) - 1e-5f` ([`cascade::stage_passes`]). LBP windows skip the
//!    variance test.
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
//! # Where the code lives
//! - this module: the public API ([`Detector`], [`DetectParams`], [`FrameStream`],
//!   [`Scratch`]) and the pyramid: level sizes, tables, stripes of rows in parallel;
//! - `program`: the compiled program (stages, stumps and trees, fixed-point stage forms,
//!   feature offsets per table layout) and the window-by-window evaluation;
//! - `lanes` and `lanes_avx2`: the lane scan of compact stump cascades and its kernels;
//! - [`resize`]: OpenCV's `INTER_LINEAR_EXACT` resize and `equalizeHist`;
//! - [`group`]: the scale list, `groupRectangles` and non-maximum suppression;
//! - [`eval`]: evaluation of detections against truth boxes (matching, precision-recall,
//!   average precision).
//!
//! # Evaluation order (no effect on results)
//! Compact stump cascades (upright rectangles, integer weights, such as
//! `haarcascade_frontalface_default.xml`) are evaluated by the lane scan: a stripe of rows
//! of a level stage by stage over blocks of 8 adjacent windows, with OpenCV's skip rule
//! applied to the stage-0 results, stage sums in exact fixed point where that decides and
//! in OpenCV's f64 order where it does not (see `lanes`). The 8 lanes must be adjacent
//! table entries: step-1 levels use the usual tables; step-2 levels (scale < 2, the
//! largest ones) store their tables column-de-interleaved, each row as its even columns
//! followed by its odd ones, so that windows at x, x + 2, ..., x + 14 read 8 consecutive
//! entries (feature offsets are compiled for that layout too). The lane code uses AVX2
//! (8 x i32, 8 x f32, 2 x 4 x f64) where the CPU has it, through `pulp`'s safe run-time
//! dispatch (no `unsafe` here); the portable code (plain lane arrays, compiled for the
//! x86-64 baseline) gives identical results ([`Detector::with_portable_simd`]). Both are
//! tested against the one-window code on random cascades whose stage thresholds are
//! reachable sums, so that the exact band is exercised. Other cascades (trees, tilted
//! features, LBP) are evaluated one window at a time. The integral tables (8-pixel prefix
//! scans in AVX2) and the resampling (byte shuffles for the horizontal pass) are
//! vectorised too, with the same integers as their one-pixel forms. See the README for
//! the speed of the detector.
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
//! Maydt, "An extended set of Haar-like features for rapid object detection", ICIP 2002;
//! OpenCV 4's `cascadedetect.cpp` and `resize.cpp` for the conventions above.

pub mod cascade;
pub mod eval;
pub mod group;
pub mod haar;
pub mod integral;
pub mod lbp;
pub mod resize;
pub mod train;

mod lanes;
#[cfg(target_arch = "x86_64")]
mod lanes_avx2;
mod program;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::detect::cascade::Cascade;
use crate::detect::group::{group_and_clip, scale_list};
use crate::detect::integral::{TableRows, tilted_into};
use crate::detect::lanes::{LANES, StripeScan, StripeWork};
use crate::detect::program::{FeatureOffsets, Program, WINDOW_SLICE};
use crate::detect::resize::resize_rows_with;
use crate::error::{Error, Result};
use crate::image::{Image, Rect, check_nonempty, check_pixel_count};
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
    /// Pyramid scale step, at least [`MIN_SCALE_FACTOR`]. Default 1.1.
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
        if !(self.scale_factor >= MIN_SCALE_FACTOR && self.scale_factor.is_finite()) {
            return Err(Error::param(
                "scale_factor",
                format!(
                    "must be a finite number of at least {MIN_SCALE_FACTOR} (closer to 1, the \
                     pyramid's levels would hold more than {MAX_PYRAMID_RATIO} times the image)"
                ),
            ));
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
    /// Feature offsets for the usual tables of the last call's stride.
    offsets: Option<FeatureOffsets>,
    /// Offsets for the column-de-interleaved tables of step-2 levels.
    offsets_dual: Option<FeatureOffsets>,
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
        check_nonempty(width, height)?;
        crate::limits::check_image_size(width, height)?;
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

    /// The raw windows of one detection, in scan order: the pyramid's levels, their
    /// tables in the scratch buffers, then every stripe of rows scanned in parallel.
    fn raw_hits_with(
        &self,
        scratch: &mut Scratch,
        pixels: &[u8],
        width: usize,
        height: usize,
        params: &DetectParams,
    ) -> Result<Vec<RawHit>> {
        check_pixel_count(width, height, pixels.len())?;
        let c = &self.cascade;
        let window = (c.window_width, c.window_height);
        let scales = scale_list(width, height, window.0, window.1, params);
        if scales.is_empty() {
            return Ok(Vec::new());
        }
        let mut levels = pyramid_levels(&scales, width, height);
        check_pyramid(&levels, width, height, params.scale_factor)?;
        let stride = table_stride(&levels, window.1, width)?;
        scratch.size_tables(&levels, stride, c.has_tilted());
        scratch.compile_offsets(c, stride, self.id);
        let (lanes, lanes_dual) = self.lane_scan_layouts(scratch);
        for l in &mut levels {
            l.dual = lanes_dual && l.step == 2;
        }
        let simd = crate::simd::v3(self.portable);
        scratch.build_tables(
            simd,
            pixels,
            (width, height),
            &levels,
            stride,
            c.has_tilted(),
        );
        let scan = PyramidScan {
            simd,
            program: &self.program,
            offsets: scratch.offsets.as_ref().expect("compiled above"),
            offsets_dual: scratch.offsets_dual.as_ref().expect("compiled above"),
            tables: Tables {
                sum: &scratch.sum,
                sqsum: &scratch.sqsum,
                tilted: &scratch.tilted,
            },
            levels: &levels,
            window,
            lanes,
        };
        Ok(scan.run())
    }

    /// Whether the lane scan evaluates this cascade on step-1 levels (compact stump
    /// cascades), and on step-2 levels with de-interleaved tables.
    fn lane_scan_layouts(&self, scratch: &Scratch) -> (bool, bool) {
        let has_compact =
            |o: &Option<FeatureOffsets>| o.as_ref().is_some_and(|k| !k.compact.is_empty());
        let lanes = self.program.haar && has_compact(&scratch.offsets) && !self.window_by_window;
        (lanes, lanes && has_compact(&scratch.offsets_dual))
    }
}

/// The levels of the scale list: each one's size `round(W / s) x round(H / s)` (f32
/// division), its scan step and its first row in the shared tables (one stride for all
/// levels, so feature offsets are computed once).
fn pyramid_levels(scales: &[f32], width: usize, height: usize) -> Vec<Level> {
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
}

/// The row stride of the shared tables: even, so that a de-interleaved row (even columns,
/// then odd ones) fills it. Fails when a window's feature offsets (a window spans
/// `window_height + 1` table rows) would not fit u32.
fn table_stride(levels: &[Level], window_height: usize, width: usize) -> Result<usize> {
    let stride = (levels.iter().map(|l| l.width).max().unwrap_or(0) + 2) & !1;
    if (window_height + 2).saturating_mul(stride) >= u32::MAX as usize {
        return Err(Error::param(
            "pixels",
            format!("a {width}-pixel-wide image is too wide for this cascade's window"),
        ));
    }
    Ok(stride)
}

impl Scratch {
    /// Sizes the tables for `levels` at `stride`. Padding lets every window take a
    /// [`WINDOW_SLICE`]-long slice and every block [`LANES`] more entries.
    fn size_tables(&mut self, levels: &[Level], stride: usize, tilted: bool) {
        let n = levels.iter().map(|l| l.height + 1).sum::<usize>() * stride;
        self.sum.resize(n + WINDOW_SLICE + LANES, 0);
        self.sqsum.resize(n + WINDOW_SLICE + LANES, 0);
        if tilted {
            self.tilted.resize(n + WINDOW_SLICE, 0);
        }
        if self.levels.len() < levels.len() {
            self.levels.resize_with(levels.len(), Vec::new);
            self.tilted_tmp.resize_with(levels.len(), Vec::new);
        }
    }

    /// Compiles the feature offsets of `detector`'s cascade for `stride`, in both
    /// layouts, unless the scratch already holds them.
    fn compile_offsets(&mut self, c: &Cascade, stride: usize, detector: u64) {
        for (slot, dual) in [(&mut self.offsets, false), (&mut self.offsets_dual, true)] {
            if slot
                .as_ref()
                .is_none_or(|k| k.stride != stride || k.detector != detector)
            {
                let mut k = FeatureOffsets::new(c, stride, dual);
                k.detector = detector;
                *slot = Some(k);
            }
        }
    }

    /// Resamples every level from the image and writes its tables into its own rows of
    /// the shared tables: one task per level.
    fn build_tables(
        &mut self,
        simd: Option<V3>,
        pixels: &[u8],
        size: (usize, usize),
        levels: &[Level],
        stride: usize,
        tilted: bool,
    ) {
        let mut jobs = Vec::with_capacity(levels.len());
        let mut s_rest = &mut self.sum[..];
        let mut q_rest = &mut self.sqsum[..];
        let mut t_rest = &mut self.tilted[..];
        let mut px_rest = &mut self.levels[..];
        let mut tt_rest = &mut self.tilted_tmp[..];
        for l in levels {
            let len = (l.height + 1) * stride;
            let (s, sr) = s_rest.split_at_mut(len);
            let (q, qr) = q_rest.split_at_mut(len);
            let (t, tr) = t_rest.split_at_mut(if tilted { len } else { 0 });
            let (px, pr) = px_rest.split_at_mut(1);
            let (tt, ttr) = tt_rest.split_at_mut(1);
            (s_rest, q_rest, t_rest, px_rest, tt_rest) = (sr, qr, tr, pr, ttr);
            jobs.push((l, s, q, t, &mut px[0], &mut tt[0]));
        }
        jobs.into_par_iter().for_each(|(l, sum, sqsum, t, px, tt)| {
            resize_rows_with(simd, pixels, size, (l.width, l.height), 0..l.height, px);
            TableRows {
                pixels: px,
                width: l.width,
                height: l.height,
                stride,
                sum,
                sqsum,
                deinterleave: l.dual,
                simd,
            }
            .write();
            if tilted {
                tilted_into(px, l.width, l.height, stride, t, tt);
            }
        });
    }
}

/// What every stripe of one detection reads: the program, the offsets of both table
/// layouts, the tables and the levels.
struct PyramidScan<'a> {
    simd: Option<V3>,
    program: &'a Program,
    offsets: &'a FeatureOffsets,
    offsets_dual: &'a FeatureOffsets,
    tables: Tables<'a>,
    levels: &'a [Level],
    /// The cascade's window size.
    window: (usize, usize),
    /// The lane scan evaluates step-1 levels and de-interleaved step-2 levels.
    lanes: bool,
}

impl<'a> PyramidScan<'a> {
    /// Scans stripes of rows (16 scan rows each) of every level in parallel; the hits
    /// concatenated in scan order (level, row, column).
    fn run(&self) -> Vec<RawHit> {
        let mut stripes = Vec::new();
        for (li, l) in self.levels.iter().enumerate() {
            let ny = (l.height + 1).saturating_sub(self.window.1);
            let rows = l.step * 16;
            stripes.extend((0..ny).step_by(rows).map(|y| (li, y, (y + rows).min(ny))));
        }
        let parts: Vec<Vec<RawHit>> = stripes
            .par_iter()
            .map_init(StripeWork::default, |work, &(li, y0, y1)| {
                self.stripe(work, &self.levels[li], (y0, y1))
            })
            .collect();
        parts.into_iter().flatten().collect()
    }

    /// The hits of rows `[y0, y1)` of level `l`: by the lane scan where its tables allow
    /// (adjacent windows in adjacent entries: step 1, or step 2 de-interleaved), else one
    /// window at a time.
    #[inline(always)]
    fn stripe(&self, work: &mut StripeWork<'a>, l: &Level, rows: (usize, usize)) -> Vec<RawHit> {
        let nx = (l.width + 1).saturating_sub(self.window.0);
        let to_image = LevelToImage::new(l.scale, self.window);
        if self.lanes && (l.step == 1 || l.dual) {
            let mut hits = Vec::new();
            let scan = StripeScan {
                simd: self.simd,
                program: self.program,
                offsets: if l.dual {
                    self.offsets_dual
                } else {
                    self.offsets
                },
                tables: &self.tables,
                level: l,
                rows,
                nx,
                work,
                out: &mut hits,
            };
            crate::simd::dispatch(self.simd, scan);
            return hits
                .into_iter()
                .map(|(y, x, score)| RawHit {
                    rect: to_image.rect(x, y),
                    score,
                })
                .collect();
        }
        self.stripe_window_by_window(l, rows, nx, &to_image)
    }

    /// Rows `[y0, y1)` of level `l` one window at a time, in OpenCV's order: a window
    /// rejected by stage 0 skips the next x position.
    #[inline(always)]
    fn stripe_window_by_window(
        &self,
        l: &Level,
        (y0, y1): (usize, usize),
        nx: usize,
        to_image: &LevelToImage,
    ) -> Vec<RawHit> {
        let (step, stride) = (l.step, self.offsets.stride);
        let mut out = Vec::new();
        for y in (y0..y1).step_by(step) {
            let mut x = 0;
            while x < nx {
                let base = (l.row0 + y) * stride + x;
                let (result, score) = self.program.run(self.offsets, &self.tables, base);
                if result > 0 {
                    out.push(RawHit {
                        rect: to_image.rect(x, y),
                        score,
                    });
                }
                if result == 0 {
                    x += step;
                }
                x += step;
            }
        }
        out
    }
}

/// A level's window at `(x, y)` in image pixels: `(round(x s), round(y s), round(w0 s),
/// round(h0 s))` with f32 products (`s` the level's scale).
struct LevelToImage {
    scale: f32,
    size: [i32; 2],
}

impl LevelToImage {
    fn new(scale: f32, (w0, h0): (usize, usize)) -> Self {
        let scaled = |v: usize| round_half_even((v as f32 * scale) as f64) as i32;
        LevelToImage {
            scale,
            size: [scaled(w0), scaled(h0)],
        }
    }

    #[inline(always)]
    fn rect(&self, x: usize, y: usize) -> [i32; 4] {
        let scaled = |v: usize| round_half_even((v as f32 * self.scale) as f64) as i32;
        [scaled(x), scaled(y), self.size[0], self.size[1]]
    }
}

/// OpenCV's `cvRound`: the nearest integer, halves to even.
pub(crate) fn round_half_even(v: f64) -> f64 {
    v.round_ties_even()
}

/// One pyramid level: its size, its first row in the shared tables, its scan step and
/// its table layout.
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

/// Most pixels the levels of one pyramid may hold together, as a multiple of the image's
/// (a scale factor of 1.1 gives about 5.8, 1.01 about 50).
pub const MAX_PYRAMID_RATIO: usize = 64;

/// Smallest pyramid scale step [`DetectParams::validate`] accepts. Levels `s = f^k` hold
/// about `Σ f^-2k = 1 / (1 - f^-2)` times the image's pixels (51 at 1.01, plus the rounding
/// of the level sizes), under [`MAX_PYRAMID_RATIO`]; closer to 1, the scale list itself
/// grows without bound. The scan still checks the exact total before allocating.
pub const MIN_SCALE_FACTOR: f64 = 1.01;

/// Fails when the pyramid's levels hold more than [`MAX_PYRAMID_RATIO`] times the image's
/// pixels (a scale factor too close to 1), before their tables are allocated.
fn check_pyramid(levels: &[Level], width: usize, height: usize, factor: f64) -> Result<()> {
    let total: u128 = levels
        .iter()
        .map(|l| l.width as u128 * l.height as u128)
        .sum();
    let limit = (width * height) as u128 * MAX_PYRAMID_RATIO as u128;
    if total > limit {
        return Err(Error::param(
            "scale_factor",
            format!(
                "{factor} gives {} pyramid levels holding {total} pixels on a {width}x{height} \
                 image, more than {MAX_PYRAMID_RATIO} times the image (use a larger scale factor)",
                levels.len()
            ),
        ));
    }
    Ok(())
}

/// The integral tables of all levels (rows `stride` apart, each level in its own rows).
struct Tables<'a> {
    sum: &'a [i32],
    sqsum: &'a [u32],
    tilted: &'a [i32],
}

/// A deterministic generator for the randomised tests (xorshift64*).
#[cfg(test)]
struct TestRng(u64);

#[cfg(test)]
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

#[cfg(test)]
mod tests {
    use super::*;

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
