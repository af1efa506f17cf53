//! Depth frames and depth-comparison features (Shotton et al. 2011).
//!
//! # Overview
//! A [`DepthImage`] holds depth in metres with the background (and every invalid reading:
//! NaN, infinite, zero, negative) replaced by the large constant [`BACKGROUND`]. The
//! depth-comparison feature at pixel `p` with offsets `theta = (u, v)` ([`Offsets`], in
//! pixel-metres) is
//!
//! `f(p) = D(p + u / D(p)) - D(p + v / D(p))`
//!
//! ([`feature`]); dividing the offsets by the depth at `p` makes the feature invariant to the
//! distance of the body. Probes outside the image read [`BACKGROUND`] too. [`DepthSamples`]
//! exposes sampled pixels of many frames to the tree learner ([`crate::learn::tree`]) as a
//! [`FeatureSource`]: a feature is an offset pair drawn at random per node and evaluated on
//! the fly, never stored as a matrix.
//!
//! # Usage
//! ```
//! use classic_cv::bodyparts::depth::{feature, DepthImage, Offsets, BACKGROUND};
//! // A 3x1 frame: body at 2 m in the middle, background around it.
//! let img = DepthImage::from_metres(3, 1, vec![0.0, 2.0, f32::NAN]).unwrap();
//! // u probes 2 px to the right at 2 m (4 px.m / 2 m): off the image -> BACKGROUND.
//! let f = feature(&img, 1, 0, &Offsets { u: [4.0, 0.0], v: [0.0, 0.0] });
//! assert_eq!(f, BACKGROUND - 2.0);
//! ```
//!
//! # Conventions
//! Probe pixel = `round(p + offset / D(p))` per axis (half-way rounds up), `x` the column.
//! Offsets are drawn uniformly in a disc of radius `radius` pixel-metres; with probability
//! `unary` the second offset is 0 (`f = D(p + u/D) - D(p)`), a variant the paper also
//! uses. For the learner, responses are quantised to codes of `STEP` = 1 cm over
//! `[-RANGE, RANGE]` = +-1 m (beyond that they saturate: "probe off the body or far
//! behind"), so the candidate thresholds are the 1 cm grid; the tree stores the threshold
//! half-way between the two codes that it separates.
//!
//! # References
//! J. Shotton, A. Fitzgibbon, M. Cook, T. Sharp, M. Finocchio, R. Moore, A. Kipman,
//! A. Blake, "Real-time human pose recognition in parts from single depth images",
//! CVPR 2011, section 3.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::learn::tree::{Draw, FeatureSource};
use crate::rng::Rng;

/// Depth read for background, invalid readings and probes outside the image (metres).
pub const BACKGROUND: f32 = 10.0;
/// Quantisation step of feature responses for the learner (metres).
pub const STEP: f32 = 0.01;
/// Responses beyond `+-RANGE` metres share the end codes.
pub const RANGE: f32 = 1.0;
const N_CODES: u32 = (2.0 * RANGE / STEP) as u32 + 1;

/// A depth frame in metres; background and invalid readings are [`BACKGROUND`].
#[derive(Clone, Debug, PartialEq)]
pub struct DepthImage {
    width: usize,
    height: usize,
    data: Vec<f32>,
}

impl DepthImage {
    /// Builds a frame from depth in metres; NaN, infinite, zero, negative and values at or
    /// beyond [`BACKGROUND`] become background.
    pub fn from_metres(width: usize, height: usize, mut data: Vec<f32>) -> Result<Self> {
        if width == 0 || height == 0 {
            return Err(Error::EmptyInput {
                what: "depth frame (zero size)",
            });
        }
        if data.len() != width * height {
            return Err(Error::DimensionMismatch {
                what: "depth frame pixels",
                expected: width * height,
                found: data.len(),
            });
        }
        if width > 1 << 15 || height > 1 << 15 {
            return Err(Error::param(
                "width",
                "depth frames are limited to 32768 pixels a side",
            ));
        }
        for z in &mut data {
            if !(z.is_finite() && *z > 0.0 && *z < BACKGROUND) {
                *z = BACKGROUND;
            }
        }
        Ok(DepthImage {
            width,
            height,
            data,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Depth values, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// Depth at `(x, y)`; [`BACKGROUND`] outside the image.
    #[inline]
    pub fn at(&self, x: i32, y: i32) -> f32 {
        if x < 0 || y < 0 || x as usize >= self.width || y as usize >= self.height {
            BACKGROUND
        } else {
            self.data[y as usize * self.width + x as usize]
        }
    }

    /// True where the frame has a body reading.
    #[inline]
    pub fn is_body(&self, x: usize, y: usize) -> bool {
        self.data[y * self.width + x] < BACKGROUND
    }
}

/// The two offsets of a depth-comparison feature, in pixel-metres (`(dx, dy)`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Offsets {
    /// First probe offset.
    pub u: [f32; 2],
    /// Second probe offset.
    pub v: [f32; 2],
}

#[inline]
fn probe(img: &DepthImage, x: usize, y: usize, d: f32, o: [f32; 2]) -> f32 {
    if o == [0.0, 0.0] {
        return d;
    }
    let inv = 1.0 / d;
    // floor(v + 0.5) without a libm call: shift to positive, truncate, shift back (exact
    // for |v| < 2^15, and farther probes are off the image anyway).
    const SHIFT: f32 = 32768.0;
    let px = (x as f32 + o[0] * inv + (0.5 + SHIFT)).max(0.0) as i32 - SHIFT as i32;
    let py = (y as f32 + o[1] * inv + (0.5 + SHIFT)).max(0.0) as i32 - SHIFT as i32;
    img.at(px, py)
}

/// `f(p) = D(p + u/D(p)) - D(p + v/D(p))` at pixel `(x, y)` (which should be on the body;
/// on background the offsets are divided by [`BACKGROUND`]).
#[inline]
pub fn feature(img: &DepthImage, x: usize, y: usize, theta: &Offsets) -> f32 {
    let d = img.data[y * img.width + x];
    probe(img, x, y, d, theta.u) - probe(img, x, y, d, theta.v)
}

/// Quantised code of a response (see the module conventions).
#[inline]
pub fn code(f: f32) -> u32 {
    // round(clamp(..)) without a libm call: the value is clamped to be >= 0 first.
    ((((f + RANGE) / STEP).clamp(0.0, (N_CODES - 1) as f32)) + 0.5) as u32
}

/// Sampled pixels of a set of frames, as a feature source for the tree learner.
///
/// Each frame is cropped to the bounding box of its body pixels (everything outside reads
/// [`BACKGROUND`] either way, so responses are unchanged) and the crops are stored back to
/// back in one array. Each sample keeps its crop's place and size, its pixel and its depth
/// and inverse depth, so evaluating a candidate on a node reads the samples sequentially
/// and makes two random reads per sample, both within the sample's own crop: with the
/// samples of a node kept in frame order (the learner's partition is stable), consecutive
/// samples probe the same few kilobytes.
pub struct DepthSamples {
    /// All crops, row-major, back to back.
    data: Vec<f32>,
    samples: Vec<Sample>,
    /// Radius of the offset disc, pixel-metres.
    pub radius: f32,
    /// Probability that the second offset is zero.
    pub unary: f32,
}

/// One training pixel: where its crop starts in [`DepthSamples::data`], the crop's origin
/// and size in its frame, the pixel in frame coordinates, its depth and inverse depth.
#[derive(Clone, Copy, Debug)]
struct Sample {
    base: u32,
    x0: u16,
    y0: u16,
    w: u16,
    h: u16,
    x: u16,
    y: u16,
    d: f32,
    inv: f32,
}

impl Sample {
    /// Depth at the probe `p + o / D(p)` ([`BACKGROUND`] off the crop): the same
    /// arithmetic as [`feature`] on the whole frame, so the responses are bit-identical.
    #[inline(always)]
    fn probe(&self, data: &[f32], o: [f32; 2]) -> f32 {
        if o == [0.0, 0.0] {
            return self.d;
        }
        const SHIFT: f32 = 32768.0;
        let px = (self.x as f32 + o[0] * self.inv + (0.5 + SHIFT)).max(0.0) as i32
            - SHIFT as i32
            - self.x0 as i32;
        let py = (self.y as f32 + o[1] * self.inv + (0.5 + SHIFT)).max(0.0) as i32
            - SHIFT as i32
            - self.y0 as i32;
        if (px as u32) < self.w as u32 && (py as u32) < self.h as u32 {
            data[self.base as usize + py as usize * self.w as usize + px as usize]
        } else {
            BACKGROUND
        }
    }
}

/// The bounding box `(x0, y0, w, h)` of the body pixels of `img`, `None` without any.
fn body_box(img: &DepthImage) -> Option<(usize, usize, usize, usize)> {
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..img.height {
        for x in 0..img.width {
            if img.is_body(x, y) {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x);
                y1 = y1.max(y);
            }
        }
    }
    (x0 != usize::MAX).then(|| (x0, y0, x1 - x0 + 1, y1 - y0 + 1))
}

impl DepthSamples {
    /// Samples at `pixels` (frame index, x, y) of `frames`; every pixel must be on a body and
    /// inside its frame.
    pub fn new<'f>(
        frames: impl IntoIterator<Item = &'f DepthImage>,
        pixels: Vec<(u32, u16, u16)>,
        radius: f32,
        unary: f32,
    ) -> Result<Self> {
        let mut data = Vec::new();
        // (base, crop x0, y0, w, h) of each frame.
        let mut crops = Vec::new();
        for img in frames {
            let (x0, y0, w, h) = body_box(img).unwrap_or((0, 0, 1, 1));
            let base = u32::try_from(data.len())
                .map_err(|_| Error::param("frames", "too many body pixels in all"))?;
            for y in y0..y0 + h {
                data.extend_from_slice(&img.data[y * img.width + x0..y * img.width + x0 + w]);
            }
            crops.push((base, x0, y0, w, h));
        }
        let mut samples = Vec::with_capacity(pixels.len());
        for &(f, x, y) in &pixels {
            let &(base, x0, y0, w, h) = crops
                .get(f as usize)
                .ok_or(Error::param("pixels", "frame index out of range"))?;
            let (x, y) = (x as usize, y as usize);
            if x < x0 || y < y0 || x - x0 >= w || y - y0 >= h {
                return Err(Error::param("pixels", "sample pixel outside the body"));
            }
            let (lx, ly) = (x - x0, y - y0);
            let d = data[base as usize + ly * w + lx];
            if d >= BACKGROUND {
                return Err(Error::param("pixels", "sample pixel outside the body"));
            }
            // Crops lie within frames of at most 2^15 pixels a side.
            samples.push(Sample {
                base,
                x0: x0 as u16,
                y0: y0 as u16,
                w: w as u16,
                h: h as u16,
                x: x as u16,
                y: y as u16,
                d,
                inv: 1.0 / d,
            });
        }
        Ok(DepthSamples {
            data,
            samples,
            radius,
            unary,
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// True when there is no sample.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Response of sample `s` to `theta` (equal to [`feature`] at its pixel of its frame).
    pub fn response(&self, s: usize, theta: &Offsets) -> f32 {
        let p = &self.samples[s];
        p.probe(&self.data, theta.u) - p.probe(&self.data, theta.v)
    }

    fn disc(&self, rng: &mut Rng) -> [f32; 2] {
        let r = self.radius * rng.next_f32().sqrt();
        let a = std::f32::consts::TAU * rng.next_f32();
        [r * a.cos(), r * a.sin()]
    }
}

impl FeatureSource for DepthSamples {
    type Feature = Offsets;

    fn draw(&self, rng: &mut Rng, _draw: &mut Draw) -> Option<Offsets> {
        let u = self.disc(rng);
        let v = if rng.next_f32() < self.unary {
            [0.0, 0.0]
        } else {
            self.disc(rng)
        };
        Some(Offsets { u, v })
    }

    fn codes(&self, theta: &Offsets, samples: &[u32], out: &mut [u32]) {
        let data = &self.data[..];
        for (o, &s) in out.iter_mut().zip(samples) {
            let p = &self.samples[s as usize];
            *o = code(p.probe(data, theta.u) - p.probe(data, theta.v));
        }
    }

    fn threshold(&self, _theta: &Offsets, left: u32, right: u32) -> f32 {
        -RANGE + (left + right) as f32 * 0.5 * STEP
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_depth_is_background() {
        let img = DepthImage::from_metres(4, 1, vec![f32::NAN, 0.0, -1.0, 2.5]).unwrap();
        assert_eq!(img.as_slice(), &[BACKGROUND, BACKGROUND, BACKGROUND, 2.5]);
        assert!(!img.is_body(0, 0) && img.is_body(3, 0));
        assert_eq!(img.at(-1, 0), BACKGROUND);
        assert_eq!(img.at(0, 1), BACKGROUND);
        assert!(matches!(
            DepthImage::from_metres(2, 2, vec![1.0; 3]),
            Err(Error::DimensionMismatch { .. })
        ));
    }

    /// Hand-computed: at 2 m an offset of 4 pixel-metres is 2 pixels; at 1 m it is 4.
    #[test]
    fn offsets_scale_with_inverse_depth() {
        let mut d = vec![3.0f32; 9];
        d[2] = 2.0;
        d[4] = 2.5;
        let img = DepthImage::from_metres(9, 1, d).unwrap();
        let t = Offsets {
            u: [4.0, 0.0],
            v: [0.0, 0.0],
        };
        // p = 2 (D = 2): probe 4 (2.5) minus D(p) = 2.0.
        assert_eq!(feature(&img, 2, 0, &t), 0.5);
        let t2 = Offsets {
            u: [4.0, 0.0],
            v: [-4.0, 0.0],
        };
        // p = 4 (D = 2.5): probes at 4 +- 1.6 -> 6 and 2 (rounded): 3.0 - 2.0.
        assert_eq!(feature(&img, 4, 0, &t2), 1.0);
    }

    /// The learner's responses equal [`feature`] on the whole frame, bit for bit (crops,
    /// cached inverse depth), on a synthetic body with offsets reaching off the image.
    #[test]
    fn sample_responses_match_feature() {
        let f = crate::bodyparts::synth::render_indexed(
            &crate::bodyparts::synth::SynthParams::default(),
            5,
            3,
        )
        .unwrap();
        let img = DepthImage::from_metres(f.width, f.height, f.depth.clone()).unwrap();
        let pixels: Vec<(u32, u16, u16)> = (0..img.width * img.height)
            .filter(|&i| img.data[i] < BACKGROUND)
            .step_by(7)
            .map(|i| (0, (i % img.width) as u16, (i / img.width) as u16))
            .collect();
        assert!(pixels.len() > 200);
        let s = DepthSamples::new([&img], pixels.clone(), 300.0, 0.3).unwrap();
        let mut rng = Rng::new(9);
        let mut draw = Draw::default();
        let mut off_body = 0;
        for _ in 0..50 {
            let theta = s.draw(&mut rng, &mut draw).unwrap();
            for (k, &(_, x, y)) in pixels.iter().enumerate() {
                let want = feature(&img, x as usize, y as usize, &theta);
                assert_eq!(s.response(k, &theta).to_bits(), want.to_bits());
                off_body += (want.abs() > 5.0) as usize;
            }
        }
        assert!(off_body > 0, "some probes must leave the body");
    }

    #[test]
    fn codes_quantise_and_saturate() {
        assert_eq!(code(0.0), 100);
        assert_eq!(code(0.013), 101);
        assert_eq!(code(-8.0), 0);
        assert_eq!(code(8.0), 200);
        let frames = [DepthImage::from_metres(2, 1, vec![1.0, 1.0]).unwrap()];
        let s = DepthSamples::new(&frames, vec![(0, 0, 0)], 1.0, 0.5).unwrap();
        // Threshold between codes 100 and 101 sits at the bin edge 0.005.
        assert!((s.threshold(&Offsets::default(), 100, 101) - 0.005).abs() < 1e-6);
        assert!(DepthSamples::new(&frames, vec![(1, 0, 0)], 1.0, 0.5).is_err());
    }
}
