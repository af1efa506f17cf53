//! Dense local-feature image encoders: dense SIFT -> codebook -> BoVW / VLAD / Fisher per
//! spatial-pyramid cell, as one feature stage of a classification pipeline.
//!
//! # Overview
//! [`EncoderParams`] chains the crate's stages into one image -> vector stage: optional
//! bilinear upscaling and zero padding of the image, [`DenseSift`] (single or multi-scale),
//! a codebook learnt from descriptors pooled over a seeded sample of the training images
//! (k-means for BoVW and VLAD, a diagonal GMM for Fisher vectors), the encoding computed
//! separately in every cell of a spatial pyramid, signed power normalisation, per-cell and
//! global L2 normalisation, and an optional additive kernel map ([`HomKerMap`]). The
//! fitted [`Encoder`] is what `model::Features::Encoder` holds; [`Encoder::transform`]
//! maps an [`Image`] to its vector.
//!
//! # Usage
//! ```
//! use classic_cv::encode::encoder::{EncoderParams, Encoding};
//! use classic_cv::pipeline::{Fit, Transform};
//! use classic_cv::features::sift::DenseSift;
//! use classic_cv::Image;
//! let images: Vec<Image> = (0..4)
//!     .map(|i| Image::from_fn(24, 24, move |x, y| ((x * (i + 1) + y) % 7) as f32 / 6.0))
//!     .collect();
//! let params = EncoderParams {
//!     sift: DenseSift { step: 4, bin_size: 4, ..DenseSift::default() },
//!     encoding: Encoding::Vlad,
//!     k: 4,
//!     pyramid: vec![1, 2],
//!     ..EncoderParams::default()
//! };
//! let enc = params.fit(&images, &[0, 1, 0, 1])?;
//! let v = enc.transform(&images[0])?;
//! assert_eq!(v.len(), enc.dim());
//! assert_eq!(v.len(), 4 * 128 * (1 + 4));
//! # Ok::<(), classic_cv::Error>(())
//! ```
//!
//! # Algorithm and the conventions that change numbers
//! 1. Image: if `upscale > 1`, bilinear resize to `upscale·W x upscale·H`
//!    ([`Image::resize_bilinear`]); then `pad` pixels of zeros on every side (so that
//!    descriptors reach the border of small images such as Fashion-MNIST's 28x28).
//! 2. Dense SIFT with [`EncoderParams::sift`]; keypoint positions are taken relative to the
//!    padded image.
//! 3. Codebook: descriptors of at most `codebook_images` training images (a seeded sample,
//!    kept in index order), then at most `codebook_descriptors` of their descriptors
//!    ([`KMeansParams::fit_pooled`]); k-means++ and `kmeans_iter` Lloyd iterations for BoVW
//!    and VLAD, `kmeans_iter` EM iterations of a diagonal GMM for Fisher.
//! 4. Per pyramid level `g` (cells `⌊x·g/W⌋, ⌊y·g/H⌋`, level-major then row-major), the
//!    descriptors of a cell are encoded: BoVW = hard-assignment counts (`k` values), VLAD =
//!    residual sums per codeword (`k·128`), Fisher = improved-free Fisher vector (`2·k·128`,
//!    VLFeat layout, no normalisation).
//! 5. Every value `v` becomes `sign(v)·|v|^power` (`power = 1` leaves it), then every cell
//!    block is scaled to unit L2 norm (`cell_l2`), then the whole vector (always; zero
//!    vectors stay zero).
//! 6. Optional [`HomKerMap`] of the normalised vector (for BoVW histograms).
//!
//! # Caching for model selection
//! An [`EncodingCache`] (created by the caller with a byte budget; the `select` command makes
//! one for its grid search) keeps the fitted encoder and the encodings of a batch of images,
//! keyed on the stage's full params (as JSON) and a fingerprint of the images (sizes and every
//! pixel's bits), so that candidates differing only in the classifier (a grid over `C`) reuse
//! them instead of recomputing. A change of any encoder param, or of any pixel, is a different
//! key: entries are never stale. The cache holds at most its byte budget, evicting the oldest.
//! Without a cache (the default) nothing is kept.
//!
//! # Parallelism
//! [`Transform::transform_batch`] encodes images in parallel with rayon, one image per
//! task; codebook learning is parallel inside k-means / EM. Results do not depend on the
//! number of threads.
//!
//! # References
//! - S. Lazebnik, C. Schmid, J. Ponce, "Beyond bags of features", CVPR 2006.
//! - H. Jégou et al., "Aggregating local descriptors into a compact image representation",
//!   CVPR 2010.
//! - F. Perronnin, J. Sánchez, T. Mensink, "Improving the Fisher kernel for large-scale
//!   image classification", ECCV 2010.
//! - A. Vedaldi, B. Fulkerson, "VLFeat", 2008 (`vl_phow`, the PHOW + kernel map pipeline).

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::encode::fisher::fisher_encode;
use crate::encode::gmm::{Gmm, GmmParams};
use crate::encode::homkermap::HomKerMap;
use crate::encode::kmeans::{KMeans, KMeansParams, quantize};
use crate::encode::vlad::{VladNormalization, vlad_encode};
use crate::error::{Error, Result};
use crate::features::sift::{DESCRIPTOR_LEN, DenseSift, Descriptors};
use crate::image::Image;
use crate::pipeline::{Fit, Label, Transform, check_fit};
use crate::rng::Rng;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One image's local descriptors and where they were taken: the input of the encoders.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocalFeatures {
    /// `n x d` descriptors, one per row.
    pub descriptors: Array2<f32>,
    /// Keypoint centre `(x, y)` in pixels (x = column) for each descriptor. May be empty
    /// when no encoder needs positions (no spatial pyramid).
    pub positions: Vec<[f32; 2]>,
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
}

/// Which encoding is computed in each pyramid cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Codeword counts (`k` values per cell).
    Bovw,
    /// Residual sums per codeword (`k·128` values per cell).
    Vlad,
    /// Fisher vector under a diagonal GMM (`2·k·128` values per cell).
    Fisher,
}

/// Parameters of the dense-SIFT encoder stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncoderParams {
    /// Integer upscaling factor applied first (1 = none). Default 1.
    pub upscale: usize,
    /// Zero padding added on every side after upscaling, in pixels. Default 0.
    pub pad: usize,
    /// Dense SIFT extraction.
    pub sift: DenseSift,
    /// Encoding per cell. Default VLAD.
    pub encoding: Encoding,
    /// Codebook size (k-means centres or GMM components). Default 64.
    pub k: usize,
    /// Pyramid levels as grid sizes. Default `[1]`.
    pub pyramid: Vec<u32>,
    /// Signed power normalisation exponent in (0, 1]. Default 0.5.
    pub power: f32,
    /// Scale each cell block to unit L2 norm before the global L2. Default true.
    pub cell_l2: bool,
    /// Additive kernel map of the final vector. Default none.
    pub homkermap: Option<HomKerMap>,
    /// Training images sampled to learn the codebook. Default 5000.
    pub codebook_images: usize,
    /// Descriptors sampled from those images. Default 100,000.
    pub codebook_descriptors: usize,
    /// Lloyd (or EM) iterations. Default 20.
    pub kmeans_iter: usize,
    /// Seed of the samples and of the codebook. Default 0.
    pub seed: u64,
}

impl Default for EncoderParams {
    fn default() -> Self {
        EncoderParams {
            upscale: 1,
            pad: 0,
            sift: DenseSift::default(),
            encoding: Encoding::Vlad,
            k: 64,
            pyramid: vec![1],
            power: 0.5,
            cell_l2: true,
            homkermap: None,
            codebook_images: 5000,
            codebook_descriptors: 100_000,
            kmeans_iter: 20,
            seed: 0,
        }
    }
}

/// A learnt codebook.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Codebook {
    /// k-means centres (BoVW, VLAD).
    KMeans(KMeans),
    /// Diagonal GMM (Fisher).
    Gmm(Gmm),
}

/// A fitted encoder: the params and the codebook.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Encoder {
    /// The params it was fitted with.
    pub params: EncoderParams,
    /// The learnt codebook.
    pub codebook: Codebook,
}

impl From<Descriptors> for LocalFeatures {
    /// Keeps the descriptors, takes `(x, y)` of every keypoint as its position and the
    /// image size.
    fn from(d: Descriptors) -> Self {
        LocalFeatures {
            positions: d.keypoints.iter().map(|k| [k.x, k.y]).collect(),
            descriptors: d.descriptors,
            width: d.width as u32,
            height: d.height as u32,
        }
    }
}

impl EncoderParams {
    /// Checks every parameter; called first by `fit`.
    pub fn validate(&self) -> Result<()> {
        self.sift.validate()?;
        if !(1..=16).contains(&self.upscale) {
            return Err(Error::param("upscale", "must be between 1 and 16"));
        }
        if self.pad > 1024 {
            return Err(Error::param("pad", "must be at most 1024"));
        }
        if self.k == 0 {
            return Err(Error::param("k", "must be at least 1"));
        }
        if self.pyramid.is_empty() || self.pyramid.iter().any(|&g| g == 0 || g > 16) {
            return Err(Error::param(
                "pyramid",
                "must be a non-empty list of grid sizes between 1 and 16",
            ));
        }
        if !(self.power > 0.0 && self.power <= 1.0) {
            return Err(Error::param("power", "must be in (0, 1]"));
        }
        if self.codebook_images == 0 {
            return Err(Error::param("codebook_images", "must be at least 1"));
        }
        if self.codebook_descriptors < self.k {
            return Err(Error::param("codebook_descriptors", "must be at least k"));
        }
        if self.kmeans_iter == 0 {
            return Err(Error::param("kmeans_iter", "must be at least 1"));
        }
        if self.pyramid.len() > crate::encode::bovw::MAX_PYRAMID_LEVELS {
            return Err(Error::param(
                "pyramid",
                format!("at most {} levels", crate::encode::bovw::MAX_PYRAMID_LEVELS),
            ));
        }
        if let Some(h) = &self.homkermap {
            h.validate()?;
        }
        let per_word = match self.encoding {
            Encoding::Bovw => 1,
            Encoding::Vlad => DESCRIPTOR_LEN,
            Encoding::Fisher => 2 * DESCRIPTOR_LEN,
        };
        let cells: usize = self.pyramid.iter().map(|&g| (g * g) as usize).sum();
        let expansion = self.homkermap.as_ref().map_or(1, |h| h.expansion());
        let dim = [per_word, cells, expansion]
            .iter()
            .try_fold(self.k, |a, &b| a.checked_mul(b));
        if dim.is_none_or(|d| d > crate::limits::MAX_ENCODING_DIM) {
            return Err(Error::param(
                "k",
                format!(
                    "k = {} with this pyramid and kernel map gives encodings longer than {} values",
                    self.k,
                    crate::limits::MAX_ENCODING_DIM
                ),
            ));
        }
        Ok(())
    }

    /// The image the descriptors are taken from: upscaled, then zero-padded.
    pub fn prepare(&self, image: &Image) -> Result<Image> {
        image.check_finite()?;
        let up = if self.upscale > 1 {
            image.resize_bilinear(image.width() * self.upscale, image.height() * self.upscale)?
        } else {
            image.clone()
        };
        if self.pad == 0 {
            return Ok(up);
        }
        let p = self.pad;
        let (w, h) = (up.width(), up.height());
        Ok(Image::from_fn(w + 2 * p, h + 2 * p, |x, y| {
            if x < p || y < p || x >= w + p || y >= h + p {
                0.0
            } else {
                up.get(x - p, y - p)
            }
        }))
    }

    /// Dense SIFT of one prepared image as [`LocalFeatures`].
    pub fn local_features(&self, image: &Image) -> Result<LocalFeatures> {
        let prepared = self.prepare(image)?;
        Ok(self.sift.extract(&prepared)?.into())
    }

    /// Learns the codebook from precomputed local features of the training images (the
    /// seeded image sample of the module docs is drawn from `features`).
    pub fn fit_features(&self, features: &[LocalFeatures]) -> Result<Encoder> {
        self.validate()?;
        if features.is_empty() {
            return Err(Error::EmptyInput {
                what: "training images",
            });
        }
        let idx = self.codebook_sample(features.len());
        let sample: Vec<LocalFeatures> = idx.iter().map(|&i| features[i].clone()).collect();
        self.fit_sample(&sample)
    }

    /// Indices (sorted) of the training images used for the codebook.
    pub fn codebook_sample(&self, n: usize) -> Vec<usize> {
        if self.codebook_images >= n {
            return (0..n).collect();
        }
        let mut idx = Rng::stream(self.seed, 0xc0de).sample_indices(n, self.codebook_images);
        idx.sort_unstable();
        idx
    }

    fn fit_sample(&self, sample: &[LocalFeatures]) -> Result<Encoder> {
        let x = crate::encode::kmeans::pool_descriptors(
            sample,
            Some(self.codebook_descriptors),
            self.seed,
        )?;
        self.fit_descriptors(x.view())
    }

    /// Learns the codebook from descriptors already pooled from the sampled images (as
    /// [`crate::encode::kmeans::pool_descriptors`] pools them, at most
    /// `codebook_descriptors`): the last step of [`EncoderParams::fit_features`], for callers
    /// that gather the pool themselves (a distributed run).
    pub fn fit_descriptors(&self, x: ArrayView2<f32>) -> Result<Encoder> {
        self.validate()?;
        let codebook = match self.encoding {
            // The pool holds at most `codebook_descriptors` rows, so k-means fits it whole.
            Encoding::Bovw | Encoding::Vlad => Codebook::KMeans(
                KMeansParams {
                    k: self.k,
                    max_iter: self.kmeans_iter,
                    subsample: Some(self.codebook_descriptors),
                    seed: self.seed,
                    ..Default::default()
                }
                .fit_array(x)?,
            ),
            Encoding::Fisher => Codebook::Gmm(
                GmmParams {
                    k: self.k,
                    max_iter: self.kmeans_iter,
                    seed: self.seed,
                    subsample: None,
                    ..Default::default()
                }
                .fit_array(x)?,
            ),
        };
        Ok(Encoder {
            params: self.clone(),
            codebook,
        })
    }
}

impl Fit for EncoderParams {
    type Input = Image;
    type Fitted = Encoder;

    /// Extracts descriptors from the sampled training images only and learns the codebook
    /// (labels are ignored but must match in number).
    fn fit(&self, images: &[Image], labels: &[Label]) -> Result<Encoder> {
        check_fit(self.validate(), images, labels)?;
        self.fit_uncached(images)
    }
}

impl EncoderParams {
    /// As [`Fit::fit`], through `cache`: a fit of the same params on the same images is
    /// returned from the cache.
    pub fn fit_cached(
        &self,
        images: &[Image],
        labels: &[Label],
        cache: &EncodingCache,
    ) -> Result<Encoder> {
        check_fit(self.validate(), images, labels)?;
        cache.cached(
            self,
            images,
            |v| match v {
                CacheValue::Encoder(e) => Some((**e).clone()),
                CacheValue::Encodings(_) => None,
            },
            || self.fit_uncached(images),
            |e| {
                let bytes = match &e.codebook {
                    Codebook::KMeans(k) => k.centres.len() * 4,
                    Codebook::Gmm(g) => g.means.len() * 8,
                };
                (bytes + 1024, CacheValue::Encoder(Box::new(e.clone())))
            },
        )
    }

    fn fit_uncached(&self, images: &[Image]) -> Result<Encoder> {
        let idx = self.codebook_sample(images.len());
        let sample: Vec<LocalFeatures> = idx
            .par_iter()
            .map(|&i| self.local_features(&images[i]))
            .collect::<Result<_>>()?;
        self.fit_sample(&sample)
    }
}

impl Encoder {
    /// Length of one cell's encoding.
    fn cell_dim(&self) -> usize {
        match &self.codebook {
            Codebook::KMeans(km) => match self.params.encoding {
                Encoding::Bovw => km.k(),
                _ => km.k() * km.dim(),
            },
            Codebook::Gmm(g) => 2 * g.k() * g.means.ncols(),
        }
    }

    /// Number of pyramid cells.
    fn cells(&self) -> usize {
        self.params.pyramid.iter().map(|&g| (g * g) as usize).sum()
    }

    /// Output dimension (after the kernel map, if any).
    pub fn dim(&self) -> usize {
        let d = self.cell_dim() * self.cells();
        match &self.params.homkermap {
            Some(h) => d * h.expansion(),
            None => d,
        }
    }

    /// Encodes precomputed local features (as [`EncoderParams::local_features`] gives).
    pub fn encode(&self, f: &LocalFeatures) -> Result<Vec<f32>> {
        let p = &self.params;
        let n = f.descriptors.nrows();
        if n > 0 && f.descriptors.ncols() != DESCRIPTOR_LEN {
            return Err(Error::DimensionMismatch {
                what: "descriptor length",
                expected: DESCRIPTOR_LEN,
                found: f.descriptors.ncols(),
            });
        }
        if f.positions.len() != n {
            return Err(Error::DimensionMismatch {
                what: "keypoint positions vs descriptors",
                expected: n,
                found: f.positions.len(),
            });
        }
        let labels = match &self.codebook {
            Codebook::KMeans(km) if n > 0 => {
                quantize(f.descriptors.view(), km.centres.view())?.labels
            }
            _ => Vec::new(),
        };
        let cd = self.cell_dim();
        let mut out = Vec::with_capacity(cd * self.cells());
        let (w, h) = (f.width.max(1) as f32, f.height.max(1) as f32);
        for &g in &p.pyramid {
            let mut members: Vec<Vec<usize>> = vec![Vec::new(); (g * g) as usize];
            for (i, &[x, y]) in f.positions.iter().enumerate() {
                let cx = ((x * g as f32 / w).floor().max(0.0) as u32).min(g - 1);
                let cy = ((y * g as f32 / h).floor().max(0.0) as u32).min(g - 1);
                members[(cy * g + cx) as usize].push(i);
            }
            for m in &members {
                let start = out.len();
                self.encode_cell(f, &labels, m, &mut out)?;
                debug_assert_eq!(out.len() - start, cd);
                let block = &mut out[start..];
                if p.power != 1.0 {
                    for v in block.iter_mut() {
                        *v = v.signum() * v.abs().powf(p.power);
                    }
                }
                if p.cell_l2 {
                    scale_to_unit(block);
                }
            }
        }
        scale_to_unit(&mut out);
        crate::error::check_finite(&out, "image encoding")?;
        match &p.homkermap {
            Some(hk) => hk.transform(&out),
            None => Ok(out),
        }
    }

    fn encode_cell(
        &self,
        f: &LocalFeatures,
        labels: &[u32],
        members: &[usize],
        out: &mut Vec<f32>,
    ) -> Result<()> {
        match (&self.codebook, self.params.encoding) {
            (Codebook::KMeans(km), Encoding::Bovw) => {
                let mut hist = vec![0f32; km.k()];
                for &i in members {
                    hist[labels[i] as usize] += 1.0;
                }
                out.extend(hist);
            }
            (Codebook::KMeans(km), _) => {
                let x = f.descriptors.select(Axis(0), members);
                let l: Vec<u32> = members.iter().map(|&i| labels[i]).collect();
                let v = vlad_encode(
                    x.view(),
                    km.centres.view(),
                    &l,
                    VladNormalization {
                        unnormalized: true,
                        ..Default::default()
                    },
                )?;
                out.extend(v);
            }
            (Codebook::Gmm(g), _) => {
                let x: Array2<f32> = f.descriptors.select(Axis(0), members);
                out.extend(fisher_encode(x.view(), g, false)?);
            }
        }
        Ok(())
    }
}

/// Scales `v` to unit L2 norm (a zero vector stays zero).
fn scale_to_unit(v: &mut [f32]) {
    let n = v
        .iter()
        .map(|&x| (x as f64) * (x as f64))
        .sum::<f64>()
        .sqrt();
    if n > 0.0 {
        let s = (1.0 / n) as f32;
        for x in v.iter_mut() {
            *x *= s;
        }
    }
}

impl Transform for Encoder {
    type Input = Image;
    type Output = Vec<f32>;

    fn transform(&self, image: &Image) -> Result<Vec<f32>> {
        let f = self.params.local_features(image)?;
        self.encode(&f)
    }

    fn transform_batch(&self, images: &[Image]) -> Result<Vec<Vec<f32>>> {
        self.transform_batch_uncached(images)
    }
}

impl Encoder {
    /// As [`Transform::transform_batch`], through `cache`: the encodings of the same images by
    /// the same encoder are returned from the cache.
    pub fn transform_batch_cached(
        &self,
        images: &[Image],
        cache: &EncodingCache,
    ) -> Result<Vec<Vec<f32>>> {
        cache.cached(
            self,
            images,
            |v| match v {
                CacheValue::Encodings(x) => Some(x.clone()),
                CacheValue::Encoder(_) => None,
            },
            || self.transform_batch_uncached(images),
            |x| {
                let bytes = x.iter().map(|r| r.len() * 4 + 24).sum::<usize>() + 1024;
                (bytes, CacheValue::Encodings(x.to_vec()))
            },
        )
    }

    fn transform_batch_uncached(&self, images: &[Image]) -> Result<Vec<Vec<f32>>> {
        images.par_iter().map(|im| self.transform(im)).collect()
    }
}

impl crate::persist::Model for Encoder {
    fn kind() -> String {
        "encoder".into()
    }

    /// Valid params and a codebook of the params' kind, `k` and descriptor length.
    fn validate_loaded(&self) -> Result<()> {
        self.params.validate()?;
        let (k, dim) = match (&self.codebook, self.params.encoding) {
            (Codebook::KMeans(c), Encoding::Bovw | Encoding::Vlad) => {
                c.validate_loaded()?;
                c.centres.dim()
            }
            (Codebook::Gmm(g), Encoding::Fisher) => {
                g.validate_loaded()?;
                g.means.dim()
            }
            _ => {
                return Err(Error::param(
                    "codebook",
                    "the codebook does not match the encoding",
                ));
            }
        };
        if k != self.params.k || dim != crate::features::sift::DESCRIPTOR_LEN {
            return Err(Error::DimensionMismatch {
                what: "codebook of the encoder (k x 128)",
                expected: self.params.k * crate::features::sift::DESCRIPTOR_LEN,
                found: k * dim,
            });
        }
        Ok(())
    }
}

/// A cache of fitted encoders and encodings, shared by the fits of one model selection (see
/// the module docs): created by the caller with its byte budget and handed explicitly to
/// [`EncoderParams::fit_cached`] / [`Encoder::transform_batch_cached`] (model selection passes
/// it down through `classify::select::grid_search_pipelines`). The plain [`Fit`] /
/// [`Transform`] never cache. Clones share the same entries.
#[derive(Clone)]
pub struct EncodingCache(Arc<CacheInner>);

struct CacheInner {
    budget: usize,
    state: Mutex<CacheState>,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Default)]
struct CacheState {
    used: usize,
    entries: Vec<(CacheKey, usize, CacheValue)>,
}

/// A cache key: the producing stage as JSON, the number of images and their fingerprint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheKey {
    stage: String,
    n: usize,
    fingerprint: u64,
}

enum CacheValue {
    Encoder(Box<Encoder>),
    Encodings(Vec<Vec<f32>>),
}

impl EncodingCache {
    /// An empty cache holding at most `max_bytes` (estimated) bytes, evicting the oldest entries;
    /// `0` stores nothing.
    pub fn new(max_bytes: usize) -> EncodingCache {
        EncodingCache(Arc::new(CacheInner {
            budget: max_bytes,
            state: Mutex::new(CacheState::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }))
    }

    /// `(hits, misses)` of this cache so far.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.0.hits.load(Ordering::Relaxed),
            self.0.misses.load(Ordering::Relaxed),
        )
    }

    /// The key of `stage` applied to `images`; fails if the stage cannot be written as JSON.
    pub fn key(stage: &impl Serialize, images: &[Image]) -> Result<CacheKey> {
        let mut h = DefaultHasher::new();
        for im in images {
            (im.width(), im.height()).hash(&mut h);
            for v in im.as_slice() {
                v.to_bits().hash(&mut h);
            }
        }
        let stage = serde_json::to_string(stage)
            .map_err(|e| Error::param("stage", format!("cannot be written as a cache key: {e}")))?;
        Ok(CacheKey {
            stage,
            n: images.len(),
            fingerprint: h.finish(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, CacheState> {
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get<T>(&self, key: &CacheKey, pick: impl Fn(&CacheValue) -> Option<T>) -> Option<T> {
        let found = self
            .state()
            .entries
            .iter()
            .find(|(k, _, _)| k == key)
            .and_then(|(_, _, v)| pick(v));
        let counter = if found.is_some() {
            &self.0.hits
        } else {
            &self.0.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn put(&self, key: CacheKey, bytes: usize, value: CacheValue) {
        let budget = self.0.budget;
        let mut s = self.state();
        if bytes > budget {
            return;
        }
        while s.used + bytes > budget && !s.entries.is_empty() {
            let (_, b, _) = s.entries.remove(0);
            s.used -= b;
        }
        s.used += bytes;
        s.entries.push((key, bytes, value));
    }

    /// The cached result of `compute`, keyed on `stage` and `images` (computed and stored on
    /// a miss; a cache with no budget only computes).
    fn cached<T>(
        &self,
        stage: &impl Serialize,
        images: &[Image],
        pick: impl Fn(&CacheValue) -> Option<T>,
        compute: impl FnOnce() -> Result<T>,
        store: impl FnOnce(&T) -> (usize, CacheValue),
    ) -> Result<T> {
        if self.0.budget == 0 {
            return compute();
        }
        let key = Self::key(stage, images)?;
        if let Some(hit) = self.get(&key, pick) {
            return Ok(hit);
        }
        let value = compute()?;
        let (bytes, stored) = store(&value);
        self.put(key, bytes, stored);
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(n: usize) -> Vec<Image> {
        (0..n)
            .map(|i| {
                Image::from_fn(20, 20, move |x, y| {
                    if i % 2 == 0 {
                        ((x / 3 + y / 5) % 2) as f32
                    } else {
                        ((x + 2 * y + i) % 5) as f32 / 4.0
                    }
                })
            })
            .collect()
    }

    fn small(encoding: Encoding) -> EncoderParams {
        EncoderParams {
            sift: DenseSift {
                step: 3,
                bin_size: 3,
                ..DenseSift::default()
            },
            encoding,
            k: 3,
            pyramid: vec![1, 2],
            codebook_images: 4,
            kmeans_iter: 5,
            ..EncoderParams::default()
        }
    }

    #[test]
    fn bovw_cells_hold_the_counts_of_their_keypoints() {
        let imgs = images(6);
        let p = EncoderParams {
            power: 1.0,
            cell_l2: false,
            ..small(Encoding::Bovw)
        };
        let enc = p.fit(&imgs, &[0; 6]).unwrap();
        let f = p.local_features(&imgs[1]).unwrap();
        let v = enc.encode(&f).unwrap();
        assert_eq!(v.len(), 3 * 5);
        // Unnormalised counts up to the global L2: the 4 quadrant histograms sum to the
        // global one, and the global one sums to the number of descriptors.
        let scale = f.descriptors.nrows() as f32 / v[..3].iter().sum::<f32>();
        for j in 0..3 {
            let quads: f32 = (1..5).map(|c| v[c * 3 + j]).sum();
            assert!((quads - v[j]).abs() < 1e-5, "{quads} vs {}", v[j]);
        }
        let Codebook::KMeans(km) = &enc.codebook else {
            panic!("k-means codebook expected")
        };
        let q = quantize(f.descriptors.view(), km.centres.view()).unwrap();
        for j in 0..3 {
            let count = q.labels.iter().filter(|&&l| l as usize == j).count() as f32;
            assert!((v[j] * scale - count).abs() < 1e-3);
        }
    }

    #[test]
    fn vlad_global_cell_matches_vlad_encode() {
        let imgs = images(6);
        let p = EncoderParams {
            pyramid: vec![1],
            ..small(Encoding::Vlad)
        };
        let enc = p.fit(&imgs, &[0; 6]).unwrap();
        let f = p.local_features(&imgs[2]).unwrap();
        let Codebook::KMeans(km) = &enc.codebook else {
            panic!("k-means codebook expected")
        };
        let q = quantize(f.descriptors.view(), km.centres.view()).unwrap();
        let norm = VladNormalization {
            square_root: true,
            ..Default::default()
        };
        let want = vlad_encode(f.descriptors.view(), km.centres.view(), &q.labels, norm).unwrap();
        let got = enc.encode(&f).unwrap();
        assert_eq!(got.len(), want.len());
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn fisher_and_kernel_map_dimensions_and_unit_norm() {
        let imgs = images(4);
        let enc = small(Encoding::Fisher).fit(&imgs, &[0; 4]).unwrap();
        let v = enc.transform(&imgs[0]).unwrap();
        assert_eq!(v.len(), 2 * 3 * 128 * 5);
        let n: f32 = v.iter().map(|x| x * x).sum();
        assert!((n - 1.0).abs() < 1e-4);
        let hk = EncoderParams {
            homkermap: Some(HomKerMap::default()),
            ..small(Encoding::Bovw)
        }
        .fit(&imgs, &[0; 4])
        .unwrap();
        assert_eq!(hk.transform(&imgs[0]).unwrap().len(), hk.dim());
    }

    #[test]
    fn padding_and_upscaling_change_the_prepared_size() {
        let p = EncoderParams {
            upscale: 2,
            pad: 3,
            ..EncoderParams::default()
        };
        let im = Image::from_fn(5, 4, |x, _| x as f32);
        let out = p.prepare(&im).unwrap();
        assert_eq!((out.width(), out.height()), (16, 14));
        assert_eq!(out.get(0, 0), 0.0);
        assert_eq!(out.get(3, 3), 0.0); // upscaled column 0 is 0 too
        assert!(out.get(12, 5) > 0.0);
    }

    #[test]
    fn cache_reuses_encodings_and_is_invalidated_by_param_changes() {
        let imgs = images(6);
        let labels = [0, 1, 0, 1, 0, 1];
        let p = small(Encoding::Vlad);
        let fresh = p
            .fit(&imgs, &labels)
            .unwrap()
            .transform_batch(&imgs)
            .unwrap();
        let cache = EncodingCache::new(64 << 20);
        let run = |p: &EncoderParams| {
            p.fit_cached(&imgs, &labels, &cache)
                .unwrap()
                .transform_batch_cached(&imgs, &cache)
                .unwrap()
        };
        let (h0, _) = cache.stats();
        let a = run(&p);
        let b = run(&p);
        let (h1, _) = cache.stats();
        assert!(h1 >= h0 + 2, "second fit and encode must be hits");
        assert_eq!(a, fresh);
        assert_eq!(b, fresh);
        // A changed stage param is a different key: recomputed, and different numbers.
        let q = EncoderParams {
            power: 1.0,
            ..p.clone()
        };
        let c = run(&q);
        let uncached = q
            .fit(&imgs, &labels)
            .unwrap()
            .transform_batch(&imgs)
            .unwrap();
        assert_eq!(c, uncached);
        assert_ne!(c, fresh);
        // A changed pixel is a different key too.
        let mut other = imgs.clone();
        other[0].as_mut_slice()[5] += 0.5;
        let key = |p: &EncoderParams, imgs: &[Image]| EncodingCache::key(p, imgs).unwrap();
        assert_ne!(key(&p, &imgs), key(&p, &other));
        assert_ne!(key(&p, &imgs), key(&q, &imgs));
    }

    #[test]
    fn invalid_params_are_rejected() {
        let base = EncoderParams::default();
        for (p, name) in [
            (
                EncoderParams {
                    k: 0,
                    ..base.clone()
                },
                "k",
            ),
            (
                EncoderParams {
                    upscale: 0,
                    ..base.clone()
                },
                "upscale",
            ),
            (
                EncoderParams {
                    pyramid: vec![],
                    ..base.clone()
                },
                "pyramid",
            ),
            (
                EncoderParams {
                    power: 0.0,
                    ..base.clone()
                },
                "power",
            ),
            (
                EncoderParams {
                    codebook_images: 0,
                    ..base.clone()
                },
                "codebook_images",
            ),
            (
                EncoderParams {
                    kmeans_iter: 0,
                    ..base.clone()
                },
                "kmeans_iter",
            ),
            (
                EncoderParams {
                    codebook_descriptors: 1,
                    ..base.clone()
                },
                "codebook_descriptors",
            ),
        ] {
            assert!(
                matches!(p.validate(), Err(Error::InvalidParam { name: n, .. }) if n == name),
                "{name}"
            );
        }
        let nan = Image::from_fn(20, 20, |_, _| f32::NAN);
        assert!(matches!(
            base.fit(&[nan], &[0]),
            Err(Error::NonFinite { .. })
        ));
    }
}
