//! Dense SIFT: 4x4x8 SIFT descriptors on a regular grid, matching VLFeat's `vl_dsift`.
//!
//! # Overview
//! [`DenseSift`] computes one 128-dimensional SIFT descriptor (Lowe 2004) every `step`
//! pixels, all at the same scale (`bin_size` pixels per spatial bin) and orientation
//! (upright). It reproduces VLFeat 0.9.21's `vl_dsift` numerically: same frame geometry,
//! same element order, same window, same normalisation and the same fast `atan2`/`sqrt`
//! approximations, so keypoints are identical and descriptors (of mass >= 0.005) agree
//! with VLFeat's within 4e-5 for the flat window and 3e-7 for the Gaussian one (see
//! `tests/it/sift.rs` and `scripts/sift_sidebyside.sh`). With a list of [`DenseSift::scales`]
//! it runs VLFeat's PHOW recipe ("dense SIFT at several scales"). It is *not* the
//! scale-space SIFT detector: there is no keypoint detection and no dominant orientation.
//!
//! [`DenseSift`] is a stateless stage: it is its own fitted form ([`Fit`] returns a copy),
//! and [`Transform`] maps an [`Image`] to [`Descriptors`] (an `N x 128` matrix, one
//! [`Keypoint`] per row, and the image size for spatial pyramids).
//!
//! # Usage
//! ```
//! use classic_cv::Image;
//! use classic_cv::pipeline::Transform;
//! use classic_cv::features::sift::DenseSift;
//!
//! let image = Image::from_fn(64, 48, |x, y| ((x * 7 + y * 3) % 17) as f32 / 16.0);
//! let sift = DenseSift { step: 4, bin_size: 8, ..DenseSift::default() };
//! let d = sift.transform(&image)?;
//! // floor((W - 1 - 3 * bin) / step) + 1 frames per row, and per column: 10 x 6.
//! assert_eq!(d.descriptors.dim(), (60, 128));
//! assert_eq!((d.keypoints[0].x, d.keypoints[0].y), (12.0, 12.0));
//! # Ok::<(), classic_cv::Error>(())
//! ```
//!
//! # Algorithm and the conventions that change numbers
//! With `Δ = bin_size`, per pixel of the (gray, `f32`, unscaled) image:
//! 1. Gradient: central difference `(I[x+1] - I[x-1]) / 2` inside, one-sided difference on
//!    the first and last column (and row).
//! 2. Magnitude `m = fast_sqrt(gx² + gy²)` and angle `fast_atan2(gy, gx)`, mapped to
//!    `[0, 2π)`; y points down, so angles run clockwise on screen. These are VLFeat's
//!    `vl_fast_sqrt_f` (0 below 1e-8, else `x · rsqrt(x)` with the `0x5f3759df` initial
//!    guess and two Newton steps) and `vl_fast_atan2_f` (the rational approximation
//!    `π/4 + (0.1821 r² - 0.9675) r` with `r = (x - |y|)/(x + |y|)`, mirrored for `x < 0`;
//!    maximum error 0.0061 rad). They are re-implemented here from their documented
//!    formulas and **must** be mirrored: with exact `atan2`/`sqrt` descriptors move by up to
//!    1.2e-2 from VLFeat's.
//! 3. Orientation binning: `nt = angle · 8/(2π)` (computed in `f64`, rounded to `f32`),
//!    `b = floor(nt)`, `r = nt - b`; `(1 - r)·m` goes to plane `b mod 8`, `r·m` to
//!    `(b + 1) mod 8`. Bin `t` is centred on the angle `2πt/8`.
//! 4. Spatial pooling, per orientation plane, with edge-replicating padding and
//!    `δ_b = Δ(b - 1.5)`, `σ = window_size · Δ`:
//!    - [`Window::Flat`] (VLFeat's fast mode, PHOW's default): a separable convolution with
//!      the unit-area triangle `max(0, Δ - |t|)/Δ²`, read at each bin centre, times
//!      `Δ·w(bx) · Δ·w(by)` where `w(b)` is the mean of `exp(-½((t - δ_b)/σ)²)` over
//!      `t = -Δ+1..Δ-1`: the Gaussian window only reweights whole bins.
//!    - [`Window::Gaussian`]: a separable convolution per spatial bin with
//!      `k_b(t) = (1 - |t|/Δ) · exp(-½((t - δ_b)/σ)²)`, a true convolution
//!      (`dst[p] = Σ k(t) src[p - t]`), so the Gaussian is centred on the descriptor.
//! 5. Geometry: frames are `3Δ + 1` pixels wide (outer bin centres, not `4Δ`); frame
//!    origins run `fx = min_x, min_x + step, …` while `fx + 3Δ <= max_x` (default bounds
//!    `[0, W-1]`), the keypoint is `fx + 1.5Δ`, bin `(bx, by)` is centred on
//!    `(fx + bx·Δ, fy + by·Δ)`. Keypoints are in raster order (y outer, x inner).
//! 6. Element order `t + 8·(bx + 4·by)` (orientation fastest).
//! 7. Normalisation: [`Keypoint::norm`] is the mass `Σ desc / (3Δ + 1)²`; then `desc /=
//!    fast_sqrt(Σ desc²) + FLT_EPSILON`, clamp at 0.2, normalise again the same way.
//!    Descriptors with no gradient stay zero. Descriptors with a mass below
//!    [`DenseSift::contrast_threshold`] are zeroed, not removed (vl_phow). Sums of 128
//!    elements are accumulated in 8 interleaved `f32` partial sums (VLFeat sums
//!    sequentially: the difference is float rounding, about 1e-7).
//! 8. RootSIFT (Arandjelović & Zisserman 2012), optional, after everything else:
//!    L1-normalise, then take the element-wise square root.
//! 9. Multi-scale (vl_phow): for each bin size `s` in [`DenseSift::scales`], smooth with a
//!    normalised Gaussian of `σ = s / magnif` and half-width `ceil(4σ)` (MATLAB
//!    `vl_imsmooth`; replicated edges), then extract with `min_x = min_y` moved by
//!    `floor(1.5·(max(scales) - s))` so that every scale shares the same keypoint centres.
//!    Rows are scale-major (all keypoints of the first scale first). [`Keypoint::scale`]
//!    is the bin size `s` of the row's scale (vl_phow's 4th frame row).
//!
//! Where VLFeat convolves every orientation plane over the whole image (16 full-image
//! convolutions per plane for the Gaussian window), this implementation evaluates the
//! separable convolutions only where they are read: the y pass only on the rows of bin
//! centres (from a sliding window of `2Δ - 1` interleaved orientation rows, so the 8
//! orientation planes are never stored in full), the x pass only at the columns of bin
//! centres. The remaining per-keypoint work is a gather of 16 bins and the normalisation;
//! nothing is allocated per keypoint. This is why it is several times faster than VLFeat
//! with the flat window and tens of times faster with the Gaussian one.
//!
//! # Parallelism
//! One image is processed on one thread. [`Transform::transform_batch`] (and
//! [`crate::transform_all`]) extracts many images in parallel with rayon, one image per
//! task; the output does not depend on the number of threads.
//!
//! # References
//! - D. G. Lowe, "Distinctive image features from scale-invariant keypoints", IJCV 2004.
//! - A. Vedaldi and B. Fulkerson, "VLFeat: an open and portable library of computer vision
//!   algorithms", 2008 (`vl_dsift`, `vl_phow`).
//! - A. Bosch, A. Zisserman and X. Muñoz, "Image classification using random forests and
//!   ferns", ICCV 2007 (PHOW).
//! - R. Arandjelović and A. Zisserman, "Three things everyone should know to improve object
//!   retrieval", CVPR 2012 (RootSIFT).

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::features::vlmath::{fast_atan2, fast_sqrt, normalize_sift, smooth};
use crate::image::Image;
use crate::pipeline::{Fit, Label, Transform, check_fit};
use crate::vecops; // sum / sum_sq: the sequential 8-lane order of VLFeat parity tests

/// Length of one descriptor: 4 x 4 spatial bins x 8 orientations.
pub const DESCRIPTOR_LEN: usize = 128;
/// Spatial bins per side.
const NB: usize = 4;
/// Orientation bins.
const NT: usize = 8;
/// Largest accepted bin size (a frame is `3 * bin + 1` pixels wide).
const MAX_BIN: usize = 1 << 16;
/// Most bin sizes of a multi-scale extraction.
const MAX_SCALES: usize = 64;
/// Largest Gaussian smoothing sigma of the multi-scale mode, in pixels.
pub const MAX_SMOOTHING_SIGMA: f32 = 256.0;

/// How gradient magnitudes are weighted inside a descriptor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Window {
    /// VLFeat's flat window (`vl_dsift_set_flat_window(1)`): bilinear spatial binning, then
    /// each spatial bin scaled by the mean of the Gaussian window over the bin. The fast
    /// mode, and vl_phow's default.
    #[default]
    #[cfg_attr(
        feature = "cli",
        value(help = "VLFeat's flat window (fast; vl_phow's default)")
    )]
    Flat,
    /// A Gaussian window of `σ = window_size · bin_size` centred on the descriptor,
    /// applied per pixel (VLFeat's default, exact SIFT weighting).
    #[cfg_attr(feature = "cli", value(help = "Per-pixel Gaussian window"))]
    Gaussian,
}

/// Inclusive pixel bounds `[min_x, max_x] x [min_y, max_y]` inside which frames are placed
/// (VLFeat's `vl_dsift_set_bounds`). Bounds past the image are clipped to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bounds {
    /// First column a frame may cover.
    pub min_x: usize,
    /// First row a frame may cover.
    pub min_y: usize,
    /// Last column a frame may cover.
    pub max_x: usize,
    /// Last row a frame may cover.
    pub max_y: usize,
}

/// Dense SIFT parameters; a stateless stage (its own fitted form).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DenseSift {
    /// Distance between keypoints, in pixels, in x and y. Default 4.
    pub step: usize,
    /// Size of one spatial bin in pixels (single-scale mode), 1 to 65536. Default 8.
    pub bin_size: usize,
    /// Spatial weighting. Default [`Window::Flat`].
    pub window: Window,
    /// Gaussian window sigma in units of `bin_size`. Default 2.0 (VLFeat's default;
    /// vl_phow uses 1.5, see [`DenseSift::phow`]).
    pub window_size: f32,
    /// Where frames are placed; `None` is the whole image. Default `None`.
    pub bounds: Option<Bounds>,
    /// Descriptors whose mass ([`Keypoint::norm`]) is below this are set to zero (vl_phow's
    /// "contrast threshold", 0.005). Default 0 (keep all).
    pub contrast_threshold: f32,
    /// Apply RootSIFT (L1-normalise, square root) to every descriptor. Default false.
    pub root_sift: bool,
    /// Multi-scale (PHOW) mode: bin sizes, each extracted after Gaussian smoothing with
    /// `σ = size / magnif`. Empty (the default) is single-scale at `bin_size`, without
    /// smoothing; when non-empty, `bin_size` is not used.
    pub scales: Vec<usize>,
    /// Bin size / smoothing sigma ratio of the multi-scale mode. Default 6 (vl_phow).
    pub magnif: f32,
}

impl Default for DenseSift {
    fn default() -> Self {
        DenseSift {
            step: 4,
            bin_size: 8,
            window: Window::Flat,
            window_size: 2.0,
            bounds: None,
            contrast_threshold: 0.0,
            root_sift: false,
            scales: Vec::new(),
            magnif: 6.0,
        }
    }
}

/// One descriptor frame.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Keypoint {
    /// Column of the descriptor centre (0-based; `fx + 1.5·bin`).
    pub x: f32,
    /// Row of the descriptor centre.
    pub y: f32,
    /// Bin size in pixels of the scale it was extracted at.
    pub scale: f32,
    /// Descriptor mass before normalisation, `Σ desc / (3·bin + 1)²` (VLFeat's `norm`).
    pub norm: f32,
}

/// The descriptors of one image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Descriptors {
    /// `N x 128` descriptors in VLFeat's element order (`t + 8·(bx + 4·by)`).
    pub descriptors: Array2<f32>,
    /// One keypoint per descriptor row.
    pub keypoints: Vec<Keypoint>,
    /// Width of the source image in pixels.
    pub width: usize,
    /// Height of the source image in pixels.
    pub height: usize,
}

impl Descriptors {
    /// Number of descriptors.
    pub fn len(&self) -> usize {
        self.keypoints.len()
    }

    /// True when there are no descriptors.
    pub fn is_empty(&self) -> bool {
        self.keypoints.is_empty()
    }

    /// Keypoints as an `N x 4` matrix of `x, y, scale, norm`.
    pub fn frames(&self) -> Array2<f32> {
        let mut f = Array2::zeros((self.len(), 4));
        for (i, k) in self.keypoints.iter().enumerate() {
            for (j, v) in [k.x, k.y, k.scale, k.norm].into_iter().enumerate() {
                f[[i, j]] = v;
            }
        }
        f
    }
}

impl DenseSift {
    /// vl_phow's defaults: bin sizes 4, 6, 8, 10, step 2, flat window of size 1.5,
    /// descriptors with mass below 0.005 zeroed.
    pub fn phow() -> Self {
        DenseSift {
            step: 2,
            window_size: 1.5,
            contrast_threshold: 0.005,
            scales: vec![4, 6, 8, 10],
            ..DenseSift::default()
        }
    }

    /// Checks the parameters.
    ///
    /// The multi-scale mode smooths with sigma = bin size / `magnif`, at most
    /// [`MAX_SMOOTHING_SIGMA`].
    pub fn validate(&self) -> Result<()> {
        if self.step == 0 {
            return Err(Error::param("step", "must be at least 1"));
        }
        if self.scales.is_empty() && !(1..=MAX_BIN).contains(&self.bin_size) {
            return Err(Error::param(
                "bin_size",
                format!("must be between 1 and {MAX_BIN}"),
            ));
        }
        if self.scales.len() > MAX_SCALES {
            return Err(Error::param(
                "scales",
                format!("at most {MAX_SCALES} bin sizes"),
            ));
        }
        if self.scales.iter().any(|s| !(1..=MAX_BIN).contains(s)) {
            return Err(Error::param(
                "scales",
                format!("bin sizes must be between 1 and {MAX_BIN}"),
            ));
        }
        if !(self.window_size > 0.0 && self.window_size.is_finite()) {
            return Err(Error::param("window_size", "must be positive and finite"));
        }
        if !(self.contrast_threshold >= 0.0 && self.contrast_threshold.is_finite()) {
            return Err(Error::param(
                "contrast_threshold",
                "must be non-negative and finite",
            ));
        }
        let magnif_ok = self.magnif > 0.0 && self.magnif.is_finite();
        if !self.scales.is_empty() && !magnif_ok {
            return Err(Error::param("magnif", "must be positive and finite"));
        }
        // The smoothing kernel is about 8 sigma wide: bound sigma = bin size / magnif.
        if let Some(&big) = self.scales.iter().max()
            && big as f32 / self.magnif > MAX_SMOOTHING_SIGMA
        {
            return Err(Error::param(
                "magnif",
                format!(
                    "{:?}: the smoothing sigma of bin size {big} would be {:e}, more than \
                     {MAX_SMOOTHING_SIGMA} (magnif must be at least {})",
                    self.magnif,
                    big as f32 / self.magnif,
                    big as f32 / MAX_SMOOTHING_SIGMA
                ),
            ));
        }
        if let Some(b) = self.bounds
            && (b.min_x > b.max_x || b.min_y > b.max_y)
        {
            return Err(Error::param("bounds", "min must not exceed max"));
        }
        Ok(())
    }

    /// The bin sizes extracted, in output order, with their smoothing sigma.
    fn scale_list(&self) -> Vec<(usize, Option<f32>)> {
        if self.scales.is_empty() {
            vec![(self.bin_size, None)]
        } else {
            self.scales
                .iter()
                .map(|&s| (s, Some(s as f32 / self.magnif)))
                .collect()
        }
    }

    /// Frame layout of every scale on a `width x height` image.
    fn levels(&self, width: usize, height: usize) -> Result<Vec<Level>> {
        let scales = self.scale_list();
        let max_bin = scales.iter().map(|s| s.0).max().unwrap_or(1);
        let b = self.bounds.unwrap_or(Bounds {
            min_x: 0,
            min_y: 0,
            max_x: usize::MAX,
            max_y: usize::MAX,
        });
        let mut levels = Vec::with_capacity(scales.len());
        let (mut need_w, mut need_h) = (0, 0);
        for &(bin, sigma) in &scales {
            // vl_phow: 0-based `floor(1.5 (maxSize - size))`, so all scales share centres.
            let off = if self.scales.is_empty() {
                0
            } else {
                (3 * (max_bin - bin)) / 2
            };
            let (min_x, min_y) = (b.min_x.saturating_add(off), b.min_y.saturating_add(off));
            let span = 3 * bin;
            if b.max_x < min_x.saturating_add(span) || b.max_y < min_y.saturating_add(span) {
                return Err(Error::param(
                    "bounds",
                    format!("leave no room for a frame of {0}x{0} pixels", span + 1),
                ));
            }
            need_w = need_w.max(min_x + span + 1);
            need_h = need_h.max(min_y + span + 1);
            let max_x = b.max_x.min(width.saturating_sub(1));
            let max_y = b.max_y.min(height.saturating_sub(1));
            if width < min_x + span + 1 || height < min_y + span + 1 {
                continue;
            }
            levels.push(Level {
                bin,
                sigma,
                min_x,
                min_y,
                n_x: (max_x - min_x - span) / self.step + 1,
                n_y: (max_y - min_y - span) / self.step + 1,
            });
        }
        if width < need_w || height < need_h {
            return Err(Error::ImageTooSmall {
                width,
                height,
                min_width: need_w,
                min_height: need_h,
            });
        }
        Ok(levels)
    }

    /// Extracts the descriptors of one image (the same as [`Transform::transform`]).
    pub fn extract(&self, image: &Image) -> Result<Descriptors> {
        self.validate()?;
        image.check_finite()?;
        let (w, h) = (image.width(), image.height());
        let levels = self.levels(w, h)?;
        let n: usize = levels.iter().map(|l| l.n_x * l.n_y).sum();
        let mut desc = vec![0f32; n * DESCRIPTOR_LEN];
        let mut keypoints = Vec::with_capacity(n);
        let mut scratch = Scratch::default();
        let mut smoothed = Vec::new();
        let mut start = 0;
        for lv in &levels {
            let src: &[f32] = match lv.sigma {
                Some(sigma) => {
                    smooth(
                        image.as_slice(),
                        w,
                        h,
                        sigma,
                        &mut smoothed,
                        &mut scratch.smooth_tmp,
                    );
                    &smoothed
                }
                None => image.as_slice(),
            };
            let count = lv.n_x * lv.n_y;
            let out = &mut desc[start * DESCRIPTOR_LEN..(start + count) * DESCRIPTOR_LEN];
            self.extract_level(src, w, h, lv, out, &mut keypoints, &mut scratch);
            start += count;
        }
        let descriptors = Array2::from_shape_vec((n, DESCRIPTOR_LEN), desc)
            .expect("descriptor buffer has n x 128 values");
        Ok(Descriptors {
            descriptors,
            keypoints,
            width: w,
            height: h,
        })
    }

    /// One scale: pooled orientation histograms, then normalisation.
    #[allow(clippy::too_many_arguments)]
    fn extract_level(
        &self,
        src: &[f32],
        w: usize,
        h: usize,
        lv: &Level,
        out: &mut [f32],
        keypoints: &mut Vec<Keypoint>,
        s: &mut Scratch,
    ) {
        let bin = lv.bin;
        let klen = 2 * bin - 1;
        let (kernels, bin_scale) = window_kernels(bin, self.window, self.window_size);
        let kid = |b: usize| if self.window == Window::Flat { 0 } else { b };

        // The (position, kernel) pairs where the separable convolutions are read, sorted
        // by position so that the y pass slides forward over the image rows.
        let taps = |min: usize, n: usize, list: &mut Vec<(usize, usize)>, slot: &mut Vec<u32>| {
            list.clear();
            for j in 0..n {
                for b in 0..NB {
                    list.push((min + j * self.step + b * bin, kid(b)));
                }
            }
            let all = list.clone();
            list.sort_unstable();
            list.dedup();
            slot.clear();
            slot.extend(
                all.iter()
                    .map(|p| list.binary_search(p).expect("tap is in the list") as u32),
            );
        };
        taps(lv.min_y, lv.n_y, &mut s.rows, &mut s.row_slot);
        taps(lv.min_x, lv.n_x, &mut s.cols, &mut s.col_slot);
        let (n_rows, n_cols) = (s.rows.len(), s.cols.len());

        // y pass (ring of orientation rows) and x pass, into the table of pooled values.
        let row_len = w * NT;
        let pad = (bin - 1) * NT;
        s.ring.resize(klen * row_len, 0.0);
        s.ring_tag.clear();
        s.ring_tag.resize(klen, usize::MAX);
        s.ypad.resize(row_len + 2 * pad, 0.0);
        s.table.resize(n_rows * n_cols * NT, 0.0);
        for (ri, &(r, ky)) in s.rows.iter().enumerate() {
            // Taps of the y convolution, with rows clamped (edge replication) and merged.
            s.ytaps.clear();
            for u in 0..klen {
                let y = (r + bin - 1).saturating_sub(u).min(h - 1);
                let wgt = kernels[ky][u];
                match s.ytaps.last_mut() {
                    Some(last) if last.0 == y => last.1 += wgt,
                    _ => s.ytaps.push((y, wgt)),
                }
            }
            for &(y, _) in &s.ytaps {
                let slot = y % klen;
                if s.ring_tag[slot] != y {
                    orientation_row(
                        src,
                        w,
                        h,
                        y,
                        &mut s.grad,
                        &mut s.ring[slot * row_len..][..row_len],
                    );
                    s.ring_tag[slot] = y;
                }
            }
            let ydst = &mut s.ypad[pad..pad + row_len];
            convolve_rows(&s.ring, row_len, klen, &s.ytaps, ydst);
            for p in 0..bin - 1 {
                s.ypad.copy_within(pad..pad + NT, p * NT);
                let last = pad + row_len - NT;
                s.ypad.copy_within(last..last + NT, pad + row_len + p * NT);
            }
            let trow = &mut s.table[ri * n_cols * NT..][..n_cols * NT];
            for (ci, &(c, kx)) in s.cols.iter().enumerate() {
                let k = &kernels[kx];
                // dst[c] = Σ_t k(t) Y[c - t], t = u - (bin - 1): Y index c + 2(bin-1) - u.
                let base = (c + 2 * (bin - 1)) * NT;
                let mut acc = [0f32; NT];
                for u in 0..klen {
                    let v = &s.ypad[base - u * NT..][..NT];
                    for t in 0..NT {
                        acc[t] += k[u] * v[t];
                    }
                }
                trow[ci * NT..][..NT].copy_from_slice(&acc);
            }
        }

        // Gather the 16 bins of every frame, normalise.
        let frame = (3 * bin + 1) as f32;
        let area = frame * frame;
        let half = 1.5 * bin as f32;
        for j in 0..lv.n_y {
            for i in 0..lv.n_x {
                let f = j * lv.n_x + i;
                let d = &mut out[f * DESCRIPTOR_LEN..][..DESCRIPTOR_LEN];
                for by in 0..NB {
                    let rs = s.row_slot[j * NB + by] as usize;
                    for bx in 0..NB {
                        let cs = s.col_slot[i * NB + bx] as usize;
                        let sc = bin_scale[by * NB + bx];
                        let src = &s.table[(rs * n_cols + cs) * NT..][..NT];
                        let dst = &mut d[(by * NB + bx) * NT..][..NT];
                        for t in 0..NT {
                            dst[t] = src[t] * sc;
                        }
                    }
                }
                let mass = vecops::sum(d) / area;
                normalize_sift(d);
                if mass < self.contrast_threshold {
                    d.fill(0.0);
                }
                if self.root_sift {
                    root_sift(d);
                }
                keypoints.push(Keypoint {
                    x: (lv.min_x + i * self.step) as f32 + half,
                    y: (lv.min_y + j * self.step) as f32 + half,
                    scale: bin as f32,
                    norm: mass,
                });
            }
        }
    }
}

impl Fit for DenseSift {
    type Input = Image;
    type Fitted = DenseSift;

    /// A stateless stage: checks the params and the inputs, returns a copy of itself.
    fn fit(&self, inputs: &[Image], labels: &[Label]) -> Result<DenseSift> {
        check_fit(self.validate(), inputs, labels).map(|()| self.clone())
    }
}

impl Transform for DenseSift {
    type Input = Image;
    type Output = Descriptors;

    fn transform(&self, input: &Image) -> Result<Descriptors> {
        self.extract(input)
    }
}

impl crate::persist::Model for DenseSift {
    fn kind() -> String {
        "dense-sift".into()
    }

    /// Every parameter, as [`DenseSift::validate`] checks them for a fit.
    fn validate_loaded(&self) -> Result<()> {
        self.validate()
    }
}

/// Frame layout of one scale.
struct Level {
    bin: usize,
    sigma: Option<f32>,
    min_x: usize,
    min_y: usize,
    n_x: usize,
    n_y: usize,
}

/// Per-image work buffers, reused across scales.
#[derive(Default)]
struct Scratch {
    rows: Vec<(usize, usize)>,
    cols: Vec<(usize, usize)>,
    row_slot: Vec<u32>,
    col_slot: Vec<u32>,
    ring: Vec<f32>,
    ring_tag: Vec<usize>,
    ytaps: Vec<(usize, f32)>,
    ypad: Vec<f32>,
    table: Vec<f32>,
    grad: Vec<f32>,
    smooth_tmp: Vec<f32>,
}

/// The 1-D pooling kernels (index `u = t + bin - 1`) and the per-bin output scale.
fn window_kernels(bin: usize, window: Window, window_size: f32) -> (Vec<Vec<f32>>, [f32; 16]) {
    let binf = bin as f32;
    let sigma = binf * window_size;
    let gauss = |b: usize, t: f32| {
        let delta = binf * (b as f32 - 0.5 * (NB - 1) as f32);
        let z = (t - delta) / sigma;
        (-0.5 * z * z).exp()
    };
    let ts: Vec<f32> = (0..2 * bin - 1)
        .map(|u| u as f32 - (bin - 1) as f32)
        .collect();
    let tri = |t: f32| 1.0 - t.abs() / binf;
    match window {
        Window::Flat => {
            let kernel = ts.iter().map(|&t| tri(t) / binf).collect();
            // Each bin is reweighted by the mean of the Gaussian window over the bin.
            let mean: Vec<f32> = (0..NB)
                .map(|b| binf * (ts.iter().map(|&t| gauss(b, t)).sum::<f32>() / ts.len() as f32))
                .collect();
            let mut scale = [0f32; 16];
            for by in 0..NB {
                for bx in 0..NB {
                    scale[by * NB + bx] = mean[bx] * mean[by];
                }
            }
            (vec![kernel], scale)
        }
        Window::Gaussian => {
            let kernels = (0..NB)
                .map(|b| ts.iter().map(|&t| tri(t) * gauss(b, t)).collect())
                .collect();
            (kernels, [1.0; 16])
        }
    }
}

/// Row `y` of the 8 orientation planes, interleaved (`out[8x + t]`). `tmp` holds the
/// gradients, magnitudes and bin coordinates of the row so that each pass is a plain,
/// vectorisable loop.
fn orientation_row(src: &[f32], w: usize, h: usize, y: usize, tmp: &mut Vec<f32>, out: &mut [f32]) {
    tmp.resize(4 * w, 0.0);
    let (gx, rest) = tmp.split_at_mut(w);
    let (gy, rest) = rest.split_at_mut(w);
    let (mag, nt) = rest.split_at_mut(w);
    let row = &src[y * w..][..w];
    // Central differences inside, one-sided on the border (VLFeat's convention).
    gx[0] = row[1] - row[0];
    gx[w - 1] = row[w - 1] - row[w - 2];
    for x in 1..w - 1 {
        gx[x] = 0.5 * (row[x + 1] - row[x - 1]);
    }
    if y == 0 || y == h - 1 {
        let (next, prev) = if y == 0 { (1, 0) } else { (h - 1, h - 2) };
        let (next, prev) = (&src[next * w..][..w], &src[prev * w..][..w]);
        for x in 0..w {
            gy[x] = next[x] - prev[x];
        }
    } else {
        let (next, prev) = (&src[(y + 1) * w..][..w], &src[(y - 1) * w..][..w]);
        for x in 0..w {
            gy[x] = 0.5 * (next[x] - prev[x]);
        }
    }
    let two_pi = (2.0 * std::f64::consts::PI) as f32;
    let to_bin = NT as f64 / (2.0 * std::f64::consts::PI);
    for x in 0..w {
        let (dx, dy) = (gx[x], gy[x]);
        mag[x] = fast_sqrt(dx * dx + dy * dy);
        let mut angle = fast_atan2(dy, dx);
        // vl_mod_2pi_f; |fast_atan2| <= π + 1e-6, so one correction each way suffices.
        if angle > two_pi {
            angle -= two_pi;
        }
        if angle < 0.0 {
            angle += two_pi;
        }
        // VLFeat multiplies by `numBinT / (2π)` in double, then stores a float.
        nt[x] = (angle as f64 * to_bin) as f32;
    }
    for x in 0..w {
        // nt >= 0, so truncation is floor (and avoids a libm call); nt may equal 8.
        let b = nt[x] as usize;
        let r = nt[x] - b as f32;
        let o = &mut out[x * NT..][..NT];
        o.fill(0.0);
        o[b % NT] = (1.0 - r) * mag[x];
        o[(b + 1) % NT] = r * mag[x];
    }
}

/// `dst = Σ weight · ring[row y]` over the taps `(y, weight)` (ring slot `y % klen`).
fn convolve_rows(
    ring: &[f32],
    row_len: usize,
    klen: usize,
    taps: &[(usize, f32)],
    dst: &mut [f32],
) {
    const CH: usize = 32;
    let rows: Vec<(&[f32], f32)> = taps
        .iter()
        .map(|&(y, wgt)| (&ring[(y % klen) * row_len..][..row_len], wgt))
        .collect();
    let full = row_len / CH * CH;
    for start in (0..full).step_by(CH) {
        let mut acc = [0f32; CH];
        for &(r, wgt) in &rows {
            let r = &r[start..start + CH];
            for k in 0..CH {
                acc[k] += wgt * r[k];
            }
        }
        dst[start..start + CH].copy_from_slice(&acc);
    }
    for k in full..row_len {
        dst[k] = rows.iter().map(|&(r, wgt)| wgt * r[k]).sum();
    }
}

/// RootSIFT: L1-normalise, then square root. A zero descriptor stays zero.
fn root_sift(d: &mut [f32]) {
    let l1 = vecops::sum(d);
    if l1 > 0.0 {
        for v in d.iter_mut() {
            *v = (*v / l1).sqrt();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A textbook per-keypoint dense SIFT (f64 sums over every pixel of every bin), written
    /// from the same conventions: the reference the separable fast path is checked against.
    fn reference(
        p: &DenseSift,
        img: &Image,
        bin: usize,
        min_x: usize,
        min_y: usize,
    ) -> Vec<Vec<f32>> {
        let (w, h) = (img.width(), img.height());
        let mut planes = vec![vec![0f64; w * h]; NT];
        let mut row = vec![0f32; w * NT];
        let mut tmp = Vec::new();
        for y in 0..h {
            orientation_row(img.as_slice(), w, h, y, &mut tmp, &mut row);
            for x in 0..w {
                for t in 0..NT {
                    planes[t][y * w + x] = row[x * NT + t] as f64;
                }
            }
        }
        let binf = bin as f64;
        let sigma = binf * p.window_size as f64;
        let g = |b: usize, t: f64| {
            let d = binf * (b as f64 - 1.5);
            (-0.5 * ((t - d) / sigma).powi(2)).exp()
        };
        let mean = |b: usize| {
            let n = 2 * bin - 1;
            (0..n)
                .map(|u| g(b, u as f64 - (bin - 1) as f64))
                .sum::<f64>()
                / n as f64
        };
        let span = 3 * bin;
        let mut out = Vec::new();
        let mut fy = min_y;
        while fy + span < h {
            let mut fx = min_x;
            while fx + span < w {
                let mut d = vec![0f64; 128];
                for by in 0..NB {
                    for bx in 0..NB {
                        let (cx, cy) = ((fx + bx * bin) as i64, (fy + by * bin) as i64);
                        for v in -(bin as i64) + 1..bin as i64 {
                            for u in -(bin as i64) + 1..bin as i64 {
                                let sx = (cx - u).clamp(0, w as i64 - 1) as usize;
                                let sy = (cy - v).clamp(0, h as i64 - 1) as usize;
                                let tri =
                                    (1.0 - u.abs() as f64 / binf) * (1.0 - v.abs() as f64 / binf);
                                let wgt = match p.window {
                                    Window::Flat => tri * mean(bx) * mean(by),
                                    Window::Gaussian => tri * g(bx, u as f64) * g(by, v as f64),
                                };
                                for t in 0..NT {
                                    d[(by * NB + bx) * NT + t] += wgt * planes[t][sy * w + sx];
                                }
                            }
                        }
                    }
                }
                let n1 = d.iter().map(|v| v * v).sum::<f64>().sqrt() + f32::EPSILON as f64;
                let d: Vec<f64> = d.iter().map(|v| (v / n1).min(0.2)).collect();
                let n2 = d.iter().map(|v| v * v).sum::<f64>().sqrt() + f32::EPSILON as f64;
                out.push(d.iter().map(|v| (v / n2) as f32).collect());
                fx += p.step;
            }
            fy += p.step;
        }
        out
    }

    fn noise_image(w: usize, h: usize, seed: u64) -> Image {
        let mut rng = crate::rng::Rng::new(seed);
        let data: Vec<f32> = (0..w * h).map(|_| rng.next_f32()).collect();
        // Smooth a little so gradients are not all at the noise level.
        let mut s = Scratch::default();
        let mut out = Vec::new();
        smooth(&data, w, h, 1.0, &mut out, &mut s.smooth_tmp);
        Image::new(w, h, out).unwrap()
    }

    fn max_diff(fast: &Descriptors, reference: &[Vec<f32>]) -> f32 {
        assert_eq!(fast.len(), reference.len());
        let mut m = 0f32;
        for (i, r) in reference.iter().enumerate() {
            for (a, b) in fast.descriptors.row(i).iter().zip(r) {
                m = m.max((a - b).abs());
            }
        }
        m
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(24))]
        #[test]
        fn fast_path_matches_reference_on_random_geometry(
            bin in 1usize..6,
            step in 1usize..7,
            extra_w in 0usize..20,
            extra_h in 0usize..20,
            gaussian in proptest::bool::ANY,
            window_size in 0.5f32..3.0,
            seed in 0u64..1000,
        ) {
            let (w, h) = (3 * bin + 1 + extra_w, 3 * bin + 1 + extra_h);
            let img = noise_image(w, h, seed);
            let window = if gaussian { Window::Gaussian } else { Window::Flat };
            let p = DenseSift { step, bin_size: bin, window, window_size, ..DenseSift::default() };
            let fast = p.extract(&img).unwrap();
            let r = reference(&p, &img, bin, 0, 0);
            let d = max_diff(&fast, &r);
            proptest::prop_assert!(d < 2e-5, "max |diff| {}", d);
        }
    }

    #[test]
    fn separable_fast_path_matches_per_keypoint_reference() {
        let cases = [
            (37, 29, 3, 4, Window::Flat),
            (37, 29, 3, 4, Window::Gaussian),
            (41, 33, 5, 3, Window::Flat),
            (40, 26, 2, 5, Window::Gaussian),
            (13, 13, 1, 3, Window::Flat),
            (20, 9, 2, 2, Window::Gaussian),
        ];
        for (k, &(w, h, step, bin, window)) in cases.iter().enumerate() {
            let img = noise_image(w, h, k as u64);
            let p = DenseSift {
                step,
                bin_size: bin,
                window,
                ..DenseSift::default()
            };
            let fast = p.extract(&img).unwrap();
            let r = reference(&p, &img, bin, 0, 0);
            let d = max_diff(&fast, &r);
            assert!(d < 2e-5, "case {k}: max |diff| {d}");
        }
    }

    #[test]
    fn bounds_shift_the_grid() {
        let img = noise_image(45, 40, 7);
        let p = DenseSift {
            step: 3,
            bin_size: 4,
            bounds: Some(Bounds {
                min_x: 5,
                min_y: 2,
                max_x: 40,
                max_y: 39,
            }),
            window: Window::Gaussian,
            ..DenseSift::default()
        };
        let d = p.extract(&img).unwrap();
        assert_eq!((d.keypoints[0].x, d.keypoints[0].y), (11.0, 8.0));
        // max_x 40: last frame origin fx with fx + 12 <= 40 -> 5 + 3*7 = 26.
        let last_x = d.keypoints.iter().map(|k| k.x).fold(0.0, f32::max);
        assert_eq!(last_x, 26.0 + 6.0);
        let full = DenseSift {
            bounds: None,
            ..p.clone()
        };
        let r = reference(&full, &img, 4, 5, 2);
        // The reference covers up to the image edge; compare the frames inside the bounds.
        let per_row_ref = (45 - 1 - 5 - 12) / 3 + 1;
        let per_row = (40 - 5 - 12) / 3 + 1;
        for (i, k) in d.keypoints.iter().enumerate() {
            let (row, col) = (i / per_row, i % per_row);
            let rr = &r[row * per_row_ref + col];
            for (a, b) in d.descriptors.row(i).iter().zip(rr) {
                assert!((a - b).abs() < 2e-5, "frame at {} {}", k.x, k.y);
            }
        }
    }

    #[test]
    fn root_sift_is_sqrt_of_l1_normalised_sift() {
        let img = noise_image(40, 40, 3);
        let p = DenseSift {
            step: 5,
            bin_size: 4,
            ..DenseSift::default()
        };
        let plain = p.extract(&img).unwrap();
        let root = DenseSift {
            root_sift: true,
            ..p
        }
        .extract(&img)
        .unwrap();
        for (a, b) in plain
            .descriptors
            .rows()
            .into_iter()
            .zip(root.descriptors.rows())
        {
            let l1: f32 = a.sum();
            for (x, y) in a.iter().zip(b.iter()) {
                assert!(((x / l1).sqrt() - y).abs() < 1e-6);
            }
            assert!((b.dot(&b) - 1.0).abs() < 1e-4);
        }
    }

    #[test]
    fn contrast_threshold_zeroes_low_mass_descriptors() {
        // Flat left half, texture on the right.
        let img = Image::from_fn(60, 30, |x, y| {
            if x < 30 {
                0.5
            } else {
                ((x * y) % 7) as f32 / 7.0
            }
        });
        let p = DenseSift {
            step: 4,
            bin_size: 4,
            ..DenseSift::default()
        };
        let all = p.extract(&img).unwrap();
        let thr = 0.01;
        let cut = DenseSift {
            contrast_threshold: thr,
            ..p
        }
        .extract(&img)
        .unwrap();
        assert_eq!(all.keypoints, cut.keypoints);
        let mut zeroed = 0;
        for (i, k) in all.keypoints.iter().enumerate() {
            if k.norm < thr {
                assert!(cut.descriptors.row(i).iter().all(|&v| v == 0.0));
                zeroed += 1;
            } else {
                assert_eq!(cut.descriptors.row(i), all.descriptors.row(i));
            }
        }
        assert!(zeroed > 0 && zeroed < all.len());
    }

    #[test]
    fn multi_scale_is_single_scale_on_the_smoothed_image_with_shared_centres() {
        let img = noise_image(50, 44, 9);
        let p = DenseSift {
            step: 3,
            scales: vec![2, 4],
            window_size: 1.5,
            ..DenseSift::default()
        };
        let d = p.extract(&img).unwrap();
        let mut s = Scratch::default();
        let mut start = 0;
        for &bin in &p.scales {
            let mut sm = Vec::new();
            smooth(
                img.as_slice(),
                50,
                44,
                bin as f32 / 6.0,
                &mut sm,
                &mut s.smooth_tmp,
            );
            let sm = Image::new(50, 44, sm).unwrap();
            let off = 3 * (4 - bin) / 2;
            let single = DenseSift {
                step: 3,
                bin_size: bin,
                window_size: 1.5,
                bounds: Some(Bounds {
                    min_x: off,
                    min_y: off,
                    max_x: 49,
                    max_y: 43,
                }),
                ..DenseSift::default()
            };
            let one = single.extract(&sm).unwrap();
            assert_eq!(
                d.keypoints[start].x, 6.0,
                "all scales start at the same centre"
            );
            assert_eq!(&d.keypoints[start..start + one.len()], &one.keypoints[..]);
            let rows = d.descriptors.rows().into_iter().skip(start);
            for (a, b) in rows.zip(one.descriptors.rows()) {
                assert_eq!(a, b);
            }
            start += one.len();
        }
        assert_eq!(start, d.len());
    }

    #[test]
    fn smoothing_preserves_constants_and_matches_direct_sum() {
        let img = noise_image(17, 11, 4);
        let mut s = Scratch::default();
        let mut out = Vec::new();
        smooth(img.as_slice(), 17, 11, 0.9, &mut out, &mut s.smooth_tmp);
        let hw = 4i64;
        let k: Vec<f64> = (-hw..=hw)
            .map(|j| (-0.5 * (j as f64 / 0.9).powi(2)).exp())
            .collect();
        let tot: f64 = k.iter().sum();
        for y in 0..11i64 {
            for x in 0..17i64 {
                let mut acc = 0.0;
                for (a, ka) in (-hw..=hw).zip(&k) {
                    for (b, kb) in (-hw..=hw).zip(&k) {
                        let yy = (y + a).clamp(0, 10) as usize;
                        let xx = (x + b).clamp(0, 16) as usize;
                        acc += ka * kb * img.get(xx, yy) as f64;
                    }
                }
                let v = out[(y * 17 + x) as usize] as f64;
                assert!((v - acc / (tot * tot)).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn invalid_params_are_named() {
        let cases: [crate::pipeline::Case<DenseSift>; 10] = [
            ("bin_size", |p| p.bin_size = 0),
            ("bin_size", |p| p.bin_size = MAX_BIN + 1),
            ("scales", |p| p.scales = vec![4, 0]),
            ("window_size", |p| p.window_size = 0.0),
            ("window_size", |p| p.window_size = -1.0),
            ("window_size", |p| p.window_size = f32::NAN),
            ("window_size", |p| p.window_size = f32::INFINITY),
            ("contrast_threshold", |p| p.contrast_threshold = f32::NAN),
            ("magnif", |p| {
                *p = DenseSift {
                    magnif: 0.0,
                    ..DenseSift::phow()
                }
            }),
            ("bounds", |p| p.bounds = Some(bounds(10, 0, 5, 30))),
        ];
        let base = DenseSift::default();
        crate::pipeline::assert_rejected(&base, &cases, |p| p.validate());
        // Checked when extracting: a zero step, and bounds that hold no frame of the image.
        let cases: [crate::pipeline::Case<DenseSift>; 1] = [("step", |p| p.step = 0)];
        let img = noise_image(40, 40, 1);
        crate::pipeline::assert_rejected(&base, &cases, |p| p.extract(&img));
        let cases: [crate::pipeline::Case<DenseSift>; 1] =
            [("bounds", |p| p.bounds = Some(bounds(0, 0, 20, 60)))];
        let img = noise_image(64, 64, 1);
        crate::pipeline::assert_rejected(&base, &cases, |p| p.extract(&img));
    }

    fn bounds(min_x: usize, min_y: usize, max_x: usize, max_y: usize) -> Bounds {
        Bounds {
            min_x,
            min_y,
            max_x,
            max_y,
        }
    }

    #[test]
    fn image_smaller_than_a_frame_names_the_minimum_size() {
        let p = DenseSift {
            bin_size: 8,
            ..DenseSift::default()
        };
        let img = noise_image(24, 40, 1);
        assert!(matches!(
            p.extract(&img),
            Err(Error::ImageTooSmall {
                width: 24,
                height: 40,
                min_width: 25,
                min_height: 25
            })
        ));
        // Exactly one frame fits at 25 x 25.
        let img = noise_image(25, 25, 1);
        assert_eq!(p.extract(&img).unwrap().len(), 1);
        let msg = DenseSift::phow()
            .extract(&noise_image(30, 30, 1))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("31x31"), "{msg}");
    }

    #[test]
    fn nan_pixels_are_rejected() {
        let mut img = noise_image(40, 40, 1);
        img.as_mut_slice()[77] = f32::NAN;
        assert!(matches!(
            DenseSift::default().extract(&img),
            Err(Error::NonFinite { .. })
        ));
    }
}
