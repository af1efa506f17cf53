//! Body-part segmentation from a single depth frame with a random forest on depth-comparison
//! features, and joint proposals by mean shift (Shotton et al., CVPR 2011).
//!
//! # Overview
//! [`train`] grows [`BodyPartsParams::n_trees`] trees with the generic learner of
//! [`crate::learn::tree`] on pixels sampled from labelled depth frames ([`LabelledFrame`]); the
//! features are the depth comparisons of [`crate::bodyparts::depth`], drawn at random per node and
//! evaluated on the fly. The fitted [`BodyPartForest`] labels every body pixel of a frame
//! ([`BodyPartForest::segment`], [`BodyPartForest::probabilities`]), proposes one 3D
//! position per part ([`BodyPartForest::propose_joints`]), and [`metrics::evaluate`] computes the
//! segmentation metrics (per-part IoU, mIoU, pixel and mean class accuracy) and the joint errors. [`render_segmentation`]
//! draws the colour-coded parts with a legend.
//!
//! # Usage
//! ```
//! use classic_cv::bodyparts::{train, BodyPartsParams, LabelledFrame};
//! use classic_cv::bodyparts::metrics::evaluate;
//! use classic_cv::bodyparts::synth::{render_indexed, SynthParams};
//! let p = SynthParams::default();
//! let frames: Vec<LabelledFrame> = (0..4)
//!     .map(|i| LabelledFrame::from_synth(&render_indexed(&p, 1, i).unwrap()).unwrap())
//!     .collect();
//! let params = BodyPartsParams { n_trees: 1, max_depth: 6, pixels_per_image: 300,
//!     candidates: 20, ..BodyPartsParams::default() };
//! let forest = train(&params, &frames).unwrap();
//! let m = evaluate(&forest, &frames[..1]).unwrap();
//! assert!(m.scores.pixel_accuracy > 0.3);
//! ```
//!
//! # Algorithm (paper section 3-4)
//! - Training pixels: for each tree and frame, about `pixels_per_image` body pixels,
//!   class-balanced: an equal quota per part present in the frame (all pixels of a part
//!   smaller than its quota), drawn without replacement.
//! - Per node: `candidates` offset pairs drawn uniformly in a disc of `radius` pixel-metres
//!   (the second offset is zero with probability `unary`); every threshold on the 1 cm grid
//!   of [`crate::bodyparts::depth`] is scored; the split maximises the information gain (Shannon
//!   entropy of the part labels). A node with more than `split_samples` samples scores its
//!   candidates on an even subset of that many (every `k`-th of its samples, which are in
//!   frame order) and partitions all of them with the best split: the top levels, where
//!   every node holds hundreds of thousands of pixels, then cost little, and the budget goes
//!   to more frames. Depth at most `max_depth`; nodes with fewer than `min_samples_split`
//!   samples are leaves; leaves store the part distribution.
//! - Inference: the mean of the trees' leaf distributions at each body pixel; the label is
//!   its argmax (ties: the lower part). The trees are flattened once into 24-byte nodes
//!   (offsets, threshold, child) and `1 / D(p)` is computed once per pixel; the result is
//!   bit-identical to walking each [`Tree`] with [`crate::bodyparts::depth::feature`].
//! - Joints: for each part, the body pixels with probability at least
//!   [`joints::JOINT_PROB_THRESHOLD`] are back-projected to 3D and weighted by `p * z^2` (the
//!   paper's weight: it compensates the pixel area falling as `1/z^2`); mean shift with a
//!   Gaussian kernel of bandwidth [`joints::BANDWIDTH`] m from 8 seeds; the densest mode is pushed
//!   back along z by the part's learned offset (the mean, over the training frames, of the
//!   true part centre's z minus the mode found on the true labels). Our "joints" are the
//!   part centres (centre of each capsule axis), one per part.
//!
//! # Parallelism and determinism
//! Trees grow in parallel; within a tree, nodes with more than 50k sample-candidates
//! evaluate their candidates in parallel (reduced in draw order), so the last tree still
//! uses both cores of a 2-core machine. Tree `t` draws its pixels
//! and features from `Rng::stream(seed, ...)` streams indexed by tree and frame, so the
//! forest does not depend on the thread count. Inference runs in parallel over rows.
//!
//! # References
//! J. Shotton et al., "Real-time human pose recognition in parts from single depth images",
//! CVPR 2011. D. Comaniciu, P. Meer, "Mean shift", PAMI 24(5), 2002.

pub mod depth;
pub mod joints;
pub mod metrics;
pub mod synth;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::bodyparts::depth::{BACKGROUND, DepthImage, DepthSamples, Offsets};
use crate::bodyparts::synth::{Frame, N_PARTS, PART_NAMES};
use crate::draw::Canvas;
use crate::error::{Error, Result};
use crate::image::Rect;
use crate::learn::tree::{Criterion, GrowParams, LEAF, Tree, grow};
use crate::pipeline::Label;
use crate::rng::Rng;

/// Hyperparameters of the body-part forest; defaults follow the paper where it applies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BodyPartsParams {
    /// Number of trees (paper: 3).
    pub n_trees: usize,
    /// Maximum depth (paper: 20).
    pub max_depth: usize,
    /// Class-balanced training pixels per frame and tree (paper: 2000; default 400: for a
    /// fixed training time, more frames with fewer pixels each score higher, see README).
    pub pixels_per_image: usize,
    /// Candidate offset pairs per node (paper: 2000 with 50 thresholds each; we score every
    /// threshold of a 1 cm grid, so far fewer offset pairs suffice).
    pub candidates: usize,
    /// Radius of the offset disc in pixel-metres.
    pub radius: f32,
    /// Probability that a candidate's second offset is zero.
    pub unary: f32,
    /// Nodes with fewer samples become leaves.
    pub min_samples_split: usize,
    /// Nodes with more samples score their candidates on an even subset of this many
    /// ([`GrowParams::max_split_samples`]).
    pub split_samples: usize,
    /// Seed of the pixel and feature draws.
    pub seed: u64,
}

impl Default for BodyPartsParams {
    fn default() -> Self {
        BodyPartsParams {
            n_trees: 3,
            max_depth: 20,
            pixels_per_image: 400,
            candidates: 100,
            radius: 100.0,
            unary: 0.25,
            min_samples_split: 10,
            split_samples: 20_000,
            seed: 0,
        }
    }
}

impl BodyPartsParams {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        if self.n_trees == 0 || self.n_trees > crate::limits::MAX_TREES {
            return Err(Error::param(
                "n_trees",
                format!("must be 1 to {}", crate::limits::MAX_TREES),
            ));
        }
        if self.max_depth == 0 || self.max_depth > 40 {
            return Err(Error::param("max_depth", "must be in 1..=40"));
        }
        if self.pixels_per_image == 0 || self.pixels_per_image > 1 << 20 {
            return Err(Error::param("pixels_per_image", "must be 1 to 1048576"));
        }
        if self.candidates == 0 || self.candidates > 1 << 16 {
            return Err(Error::param("candidates", "must be 1 to 65536"));
        }
        if !(self.radius > 0.0 && self.radius <= 10_000.0) {
            return Err(Error::param("radius", "must be in (0, 10000] pixel-metres"));
        }
        if !(0.0..=1.0).contains(&self.unary) {
            return Err(Error::param("unary", "must be a probability"));
        }
        if self.min_samples_split < 2 {
            return Err(Error::param("min_samples_split", "must be at least 2"));
        }
        if self.split_samples < 100 {
            return Err(Error::param("split_samples", "must be at least 100"));
        }
        Ok(())
    }
}

/// A depth frame with its ground truth.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelledFrame {
    /// Depth (background and invalid readings already [`BACKGROUND`]).
    pub depth: DepthImage,
    /// Part labels: 0 background, `1..=N_PARTS`.
    pub labels: Vec<u8>,
    /// Focal length in pixels.
    pub focal: f32,
    /// True part centres (camera coordinates, metres), empty if unknown.
    pub part_centres: Vec<[f32; 3]>,
}

impl LabelledFrame {
    /// Pairs a depth frame with its labels; fails if the sizes differ or a label is not a
    /// part.
    pub fn new(
        depth: DepthImage,
        labels: Vec<u8>,
        focal: f32,
        part_centres: Vec<[f32; 3]>,
    ) -> Result<Self> {
        if labels.len() != depth.width() * depth.height() {
            return Err(Error::DimensionMismatch {
                what: "label image pixels (must match the depth frame)",
                expected: depth.width() * depth.height(),
                found: labels.len(),
            });
        }
        if labels.iter().any(|&l| l as usize > N_PARTS) {
            return Err(Error::param(
                "labels",
                format!("labels must be in 0..={N_PARTS}"),
            ));
        }
        if !(focal > 0.0 && focal.is_finite()) {
            return Err(Error::param("focal", "must be positive"));
        }
        Ok(LabelledFrame {
            depth,
            labels,
            focal,
            part_centres,
        })
    }

    /// From a synthetic frame (or one read back from disk).
    pub fn from_synth(frame: &Frame) -> Result<Self> {
        LabelledFrame::new(
            DepthImage::from_metres(frame.width, frame.height, frame.depth.clone())?,
            frame.labels.clone(),
            frame.focal,
            frame.part_centres.clone(),
        )
    }
}

/// A fitted body-part forest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BodyPartForest {
    /// The params it was trained with.
    pub params: BodyPartsParams,
    /// Number of parts (classes `0..n_parts` = labels `1..=n_parts`).
    pub n_parts: usize,
    /// The trees; leaf distributions over the parts.
    pub trees: Vec<Tree<Offsets>>,
    /// Learned z offset of each part's joint behind its surface mode (metres).
    pub depth_offsets: Vec<f32>,
    /// The trees in the compact inference layout, built on first use (not stored).
    #[serde(skip)]
    flat: FlatCache,
}

/// One node of the inference layout: offsets, threshold and child in 24 bytes (one cache
/// line holds 2.7 nodes, where the learner's three arrays cost three lines per visit).
#[derive(Clone, Copy, Debug)]
struct FlatNode {
    u: [f32; 2],
    v: [f32; 2],
    threshold: f32,
    /// Left child (global index; the right child follows it) or `LEAF | global leaf`.
    child: u32,
}

/// All trees back to back in [`FlatNode`]s, leaf distributions back to back.
#[derive(Debug)]
struct Flat {
    nodes: Vec<FlatNode>,
    roots: Vec<u32>,
    distributions: Vec<f32>,
}

/// Lazily built [`Flat`]; a cache, so it never takes part in comparisons or copies.
#[derive(Debug, Default)]
struct FlatCache(std::sync::OnceLock<std::result::Result<Flat, String>>);

impl Clone for FlatCache {
    fn clone(&self) -> Self {
        FlatCache::default()
    }
}

impl PartialEq for FlatCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Flat {
    /// Flattens the trees; fails on a malformed tree (child indices out of range or not
    /// increasing, wrong class count, too many nodes).
    fn build(trees: &[Tree<Offsets>], n_parts: usize) -> std::result::Result<Flat, String> {
        let total: usize = trees.iter().map(|t| t.n_nodes()).sum();
        if total >= LEAF as usize {
            return Err("too many nodes".into());
        }
        let mut flat = Flat {
            nodes: Vec::with_capacity(total),
            roots: Vec::new(),
            distributions: Vec::new(),
        };
        for t in trees {
            if !t.is_well_formed() || t.n_classes as usize != n_parts {
                return Err("malformed tree".into());
            }
            let base = flat.nodes.len() as u32;
            let leaf_base = (flat.distributions.len() / n_parts) as u32;
            flat.roots.push(base);
            for i in 0..t.n_nodes() {
                let c = t.children[i];
                let child = if c & LEAF != 0 {
                    LEAF | (leaf_base + (c & !LEAF))
                } else {
                    base + c
                };
                let f = t.features[i];
                flat.nodes.push(FlatNode {
                    u: f.u,
                    v: f.v,
                    threshold: t.thresholds[i],
                    child,
                });
            }
            flat.distributions.extend_from_slice(&t.distributions);
        }
        if flat.distributions.len() / n_parts >= LEAF as usize {
            return Err("too many leaves".into());
        }
        Ok(flat)
    }
}

impl crate::persist::Model for BodyPartForest {
    fn kind() -> String {
        "body-part-forest".into()
    }

    /// Valid params; the part count of this build, one finite depth offset per part; 1 to
    /// [`crate::limits::MAX_TREES`] trees, each well formed (children after their parent,
    /// leaves in range) over the parts, with finite offsets and thresholds and finite,
    /// non-negative leaf distributions.
    fn validate_loaded(&self) -> Result<()> {
        self.params.validate()?;
        if self.n_parts != N_PARTS {
            return Err(Error::DimensionMismatch {
                what: "parts of the body-part forest",
                expected: N_PARTS,
                found: self.n_parts,
            });
        }
        if self.depth_offsets.len() != N_PARTS {
            return Err(Error::DimensionMismatch {
                what: "depth offsets of the body-part forest (one per part)",
                expected: N_PARTS,
                found: self.depth_offsets.len(),
            });
        }
        crate::error::check_finite(&self.depth_offsets, "body-part depth offsets")?;
        if self.trees.is_empty() || self.trees.len() > crate::limits::MAX_TREES {
            return Err(Error::param(
                "trees",
                format!(
                    "a body-part forest has 1 to {} trees, found {}",
                    crate::limits::MAX_TREES,
                    self.trees.len()
                ),
            ));
        }
        for t in &self.trees {
            let offsets: Vec<f32> = t
                .features
                .iter()
                .flat_map(|f| f.u.into_iter().chain(f.v))
                .collect();
            crate::error::check_finite(&offsets, "body-part feature offsets")?;
            crate::error::check_finite(&t.thresholds, "body-part split thresholds")?;
            crate::error::check_finite(&t.distributions, "body-part leaf distributions")?;
            if t.distributions.iter().any(|&p| p < 0.0) {
                return Err(Error::param("trees", "a leaf distribution is negative"));
            }
        }
        let flat = Flat::build(&self.trees, self.n_parts)
            .map_err(|e| Error::param("trees", format!("malformed body-part forest: {e}")))?;
        let _ = self.flat.0.set(Ok(flat));
        Ok(())
    }
}

/// Class-balanced sample of body pixels of one frame.
fn sample_pixels(frame: &LabelledFrame, quota_total: usize, rng: &mut Rng) -> Vec<(u16, u16, u8)> {
    let w = frame.depth.width();
    let mut by_part: Vec<Vec<u32>> = vec![Vec::new(); N_PARTS + 1];
    for (i, &l) in frame.labels.iter().enumerate() {
        if l > 0 && frame.depth.as_slice()[i] < BACKGROUND {
            by_part[l as usize].push(i as u32);
        }
    }
    let present = by_part.iter().skip(1).filter(|v| !v.is_empty()).count();
    if present == 0 {
        return Vec::new();
    }
    let quota = quota_total.div_ceil(present);
    let mut out = Vec::with_capacity(quota_total + present);
    for (part, pix) in by_part.iter().enumerate().skip(1) {
        for k in rng.sample_indices(pix.len(), quota) {
            let i = pix[k] as usize;
            out.push(((i % w) as u16, (i / w) as u16, part as u8));
        }
    }
    out
}

/// Trains a body-part forest on labelled frames.
pub fn train(params: &BodyPartsParams, frames: &[LabelledFrame]) -> Result<BodyPartForest> {
    params.validate()?;
    if frames.is_empty() {
        return Err(Error::EmptyInput {
            what: "training frames",
        });
    }
    if frames.len() >= u32::MAX as usize {
        return Err(Error::param("frames", "too many frames"));
    }
    let progress = crate::progress::start("body-part forest", params.n_trees as u64);
    let trees: Vec<Result<Tree<Offsets>>> = (0..params.n_trees)
        .into_par_iter()
        .map(|t| {
            let per_frame: Vec<Vec<(u16, u16, u8)>> = frames
                .par_iter()
                .enumerate()
                .map(|(i, f)| {
                    let mut rng = Rng::stream(params.seed, ((t as u64) << 32) | i as u64);
                    sample_pixels(f, params.pixels_per_image, &mut rng)
                })
                .collect();
            let mut pixels = Vec::new();
            let mut labels: Vec<Label> = Vec::new();
            for (i, v) in per_frame.iter().enumerate() {
                for &(x, y, l) in v {
                    pixels.push((i as u32, x, y));
                    labels.push(l as Label - 1);
                }
            }
            let distinct = {
                let mut seen = [false; N_PARTS];
                labels.iter().for_each(|&l| seen[l as usize] = true);
                seen.iter().filter(|&&s| s).count()
            };
            if distinct < 2 {
                return Err(Error::TooFewClasses { found: distinct });
            }
            let n = pixels.len();
            let source = DepthSamples::new(
                frames.iter().map(|f| &f.depth),
                pixels,
                params.radius,
                params.unary,
            )?;
            let gp = GrowParams {
                n_classes: N_PARTS,
                max_depth: params.max_depth,
                min_samples_split: params.min_samples_split,
                max_features: params.candidates,
                criterion: Criterion::Entropy,
                parallel_work: 50_000,
                max_split_samples: params.split_samples,
            };
            let samples: Vec<u32> = (0..n as u32).collect();
            let mut rng = Rng::stream(params.seed ^ 0x5EED_F0E5, t as u64);
            let tree = grow(&source, &samples, &vec![1; n], &labels, &gp, &mut rng);
            progress.inc(1);
            Ok(tree)
        })
        .collect();
    progress.finish();
    let trees = trees.into_iter().collect::<Result<Vec<_>>>()?;
    let depth_offsets = learn_depth_offsets(frames);
    Ok(BodyPartForest {
        params: params.clone(),
        n_parts: N_PARTS,
        trees,
        depth_offsets,
        flat: FlatCache::default(),
    })
}

/// Mean of (true centre z - mode z on the true labels) per part over the frames where both
/// exist; 0 for a part never seen.
fn learn_depth_offsets(frames: &[LabelledFrame]) -> Vec<f32> {
    let per_frame: Vec<Vec<Option<f32>>> = frames
        .par_iter()
        .map(|f| {
            if f.part_centres.len() != N_PARTS {
                return vec![None; N_PARTS];
            }
            let probs = one_hot(f);
            let modes =
                crate::bodyparts::joints::mean_shift_modes(&f.depth, &probs, N_PARTS, f.focal);
            (0..N_PARTS)
                .map(|c| modes[c].map(|m| f.part_centres[c][2] - m[2]))
                .collect()
        })
        .collect();
    (0..N_PARTS)
        .map(|c| {
            let v: Vec<f32> = per_frame.iter().filter_map(|p| p[c]).collect();
            if v.is_empty() {
                0.0
            } else {
                v.iter().sum::<f32>() / v.len() as f32
            }
        })
        .collect()
}

fn one_hot(f: &LabelledFrame) -> Vec<f32> {
    let mut p = vec![0f32; f.labels.len() * N_PARTS];
    for (i, &l) in f.labels.iter().enumerate() {
        if l > 0 && f.depth.as_slice()[i] < BACKGROUND {
            p[i * N_PARTS + l as usize - 1] = 1.0;
        }
    }
    p
}

impl BodyPartForest {
    /// Consistency checks and the compact layout (built once; a malformed tree is an
    /// error here, before any traversal).
    fn flat(&self) -> Result<&Flat> {
        if self.n_parts != N_PARTS || self.depth_offsets.len() != N_PARTS || self.trees.is_empty() {
            return Err(Error::format("", "malformed body-part forest"));
        }
        self.flat
            .0
            .get_or_init(|| Flat::build(&self.trees, self.n_parts))
            .as_ref()
            .map_err(|e| Error::format("", format!("malformed body-part forest: {e}")))
    }

    /// Sum over the trees of the leaf distributions reached by body pixel `(x, y)`, written
    /// to `acc`. The probes use the arithmetic of [`crate::bodyparts::depth::feature`] with `1 / D(p)` computed once
    /// per pixel, so the result equals the per-tree [`Tree::predict`] with [`crate::bodyparts::depth::feature`].
    #[inline]
    fn pixel_sum(flat: &Flat, img: &DepthImage, x: usize, y: usize, acc: &mut [f32]) {
        let np = acc.len();
        let d = img.as_slice()[y * img.width() + x];
        let inv = 1.0 / d;
        let (xf, yf) = (x as f32, y as f32);
        const SHIFT: f32 = 32768.0;
        let probe = |o: [f32; 2]| -> f32 {
            if o == [0.0, 0.0] {
                return d;
            }
            let px = (xf + o[0] * inv + (0.5 + SHIFT)).max(0.0) as i32 - SHIFT as i32;
            let py = (yf + o[1] * inv + (0.5 + SHIFT)).max(0.0) as i32 - SHIFT as i32;
            img.at(px, py)
        };
        acc.iter_mut().for_each(|a| *a = 0.0);
        for &root in &flat.roots {
            let mut i = root as usize;
            // Well-formed trees (checked in `Flat::build`) have increasing child indices,
            // so the walk ends at a leaf.
            let leaf = loop {
                let n = &flat.nodes[i];
                if n.child & LEAF != 0 {
                    break (n.child & !LEAF) as usize;
                }
                let f = probe(n.u) - probe(n.v);
                i = n.child as usize + usize::from(!(f <= n.threshold));
            };
            for (a, p) in acc
                .iter_mut()
                .zip(&flat.distributions[leaf * np..(leaf + 1) * np])
            {
                *a += p;
            }
        }
    }

    /// Per-pixel part distributions, `width * height * n_parts` values (zero on background).
    pub fn probabilities(&self, img: &DepthImage) -> Result<Vec<f32>> {
        let flat = self.flat()?;
        let (w, np) = (img.width(), self.n_parts);
        let k = 1.0 / self.trees.len() as f32;
        let mut out = vec![0f32; w * img.height() * np];
        out.par_chunks_mut(w * np).enumerate().for_each(|(y, row)| {
            for x in 0..w {
                if img.is_body(x, y) {
                    let acc = &mut row[x * np..(x + 1) * np];
                    Self::pixel_sum(flat, img, x, y, acc);
                    acc.iter_mut().for_each(|a| *a *= k);
                }
            }
        });
        Ok(out)
    }

    /// Part label of every pixel: 0 on background (no valid depth), else `1..=n_parts`
    /// (the argmax of the mean distribution, exactly as from [`Self::probabilities`];
    /// ties: the lower part).
    pub fn segment(&self, img: &DepthImage) -> Result<Vec<u8>> {
        let flat = self.flat()?;
        let w = img.width();
        let k = 1.0 / self.trees.len() as f32;
        let mut out = vec![0u8; w * img.height()];
        out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
            let mut acc = [0f32; N_PARTS];
            for x in 0..w {
                if img.is_body(x, y) {
                    Self::pixel_sum(flat, img, x, y, &mut acc);
                    acc.iter_mut().for_each(|a| *a *= k);
                    row[x] = crate::vecops::argmax(&acc) as u8 + 1;
                }
            }
        });
        Ok(out)
    }
}

/// Colour of each label (0 = background, black).
pub const PART_COLOURS: [[u8; 3]; N_PARTS + 1] = [
    [0, 0, 0],
    [230, 25, 75],
    [255, 225, 25],
    [60, 180, 75],
    [0, 130, 200],
    [245, 130, 48],
    [70, 240, 240],
    [240, 50, 230],
    [210, 245, 60],
    [250, 190, 212],
    [0, 128, 128],
    [220, 190, 255],
    [170, 110, 40],
    [255, 250, 200],
    [128, 0, 0],
    [170, 255, 195],
];

/// The colour-coded segmentation (`labels`: 0..=N_PARTS, `width x height`) with a legend
/// to its right.
pub fn render_segmentation(labels: &[u8], width: usize, height: usize) -> Result<Canvas> {
    if labels.len() != width * height {
        return Err(Error::DimensionMismatch {
            what: "label image pixels",
            expected: width * height,
            found: labels.len(),
        });
    }
    let legend_w = 120;
    let mut canvas = Canvas::new(width + legend_w, height.max(12 * N_PARTS + 4), [32, 32, 32]);
    for y in 0..height {
        for x in 0..width {
            let l = labels[y * width + x] as usize;
            canvas.put(x as i64, y as i64, PART_COLOURS[l.min(N_PARTS)]);
        }
    }
    for (i, name) in PART_NAMES.iter().enumerate() {
        let y = 4 + 12 * i as i64;
        canvas.fill_rect(
            Rect {
                x: width as u32 + 4,
                y: y as u32,
                width: 8,
                height: 8,
            },
            PART_COLOURS[i + 1],
        );
        canvas.draw_text(width as i64 + 16, y, name, [255, 255, 255], 1);
    }
    Ok(canvas)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The compact inference layout gives exactly the mean of the per-tree
    /// [`Tree::predict`] with [`crate::bodyparts::depth::feature`] (the naive reference), and a corrupted tree is an
    /// error, not a panic or an endless walk.
    #[test]
    fn flat_inference_matches_tree_predict() {
        use crate::bodyparts::depth::feature;
        use crate::bodyparts::synth::{SynthParams, render_indexed};
        let sp = SynthParams::default();
        let frames: Vec<LabelledFrame> = (0..4)
            .map(|i| LabelledFrame::from_synth(&render_indexed(&sp, 8, i).unwrap()).unwrap())
            .collect();
        let params = BodyPartsParams {
            n_trees: 2,
            max_depth: 10,
            pixels_per_image: 500,
            candidates: 20,
            ..BodyPartsParams::default()
        };
        let forest = train(&params, &frames).unwrap();
        let img = LabelledFrame::from_synth(&render_indexed(&sp, 9, 0).unwrap())
            .unwrap()
            .depth;
        let probs = forest.probabilities(&img).unwrap();
        let seg = forest.segment(&img).unwrap();
        let (w, np) = (img.width(), N_PARTS);
        let mut body = 0;
        for y in 0..img.height() {
            for x in 0..w {
                let i = y * w + x;
                let got = &probs[i * np..(i + 1) * np];
                if !img.is_body(x, y) {
                    assert!(got.iter().all(|&p| p == 0.0));
                    assert_eq!(seg[i], 0);
                    continue;
                }
                body += 1;
                let mut want = [0f32; N_PARTS];
                for t in &forest.trees {
                    let d = t.predict(|th| feature(&img, x, y, th)).unwrap();
                    want.iter_mut().zip(d).for_each(|(a, p)| *a += p);
                }
                want.iter_mut().for_each(|a| *a *= 0.5);
                assert_eq!(got, &want[..], "pixel ({x}, {y})");
                let best = (1..np).fold(0, |b, c| if want[c] > want[b] { c } else { b });
                assert_eq!(seg[i] as usize, best + 1);
            }
        }
        assert!(body > 1000);
        let mut bad = forest.clone();
        bad.trees[1].children[0] = 0;
        assert!(matches!(bad.segment(&img), Err(Error::Format { .. })));
        assert!(matches!(bad.probabilities(&img), Err(Error::Format { .. })));
    }

    #[test]
    fn class_balanced_sampling() {
        let f = crate::bodyparts::synth::render_indexed(
            &crate::bodyparts::synth::SynthParams::default(),
            4,
            0,
        )
        .unwrap();
        let lf = LabelledFrame::from_synth(&f).unwrap();
        let s = sample_pixels(&lf, 300, &mut Rng::new(1));
        let mut counts = [0usize; N_PARTS + 1];
        for &(x, y, l) in &s {
            assert_eq!(f.labels[y as usize * f.width + x as usize], l);
            counts[l as usize] += 1;
        }
        let present: Vec<usize> = (1..=N_PARTS)
            .filter(|&c| f.labels.contains(&(c as u8)))
            .collect();
        let quota = 300usize.div_ceil(present.len());
        for c in present {
            let avail = f.labels.iter().filter(|&&l| l as usize == c).count();
            assert_eq!(counts[c], quota.min(avail));
        }
    }
}
