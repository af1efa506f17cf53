//! Training Viola-Jones cascades: boosted Haar stumps in an attentional cascade, written as
//! OpenCV cascade XML (the counterpart of OpenCV's `opencv_traincascade`).
//!
//! # Overview
//! [`train`] builds a [`Cascade`] stage by stage. Each stage boosts decision stumps over
//! the Haar feature pool of the window ([`pool`], [`adaboost`], [`stage`]) until it keeps
//! at least `min_hit_rate` of the positives while passing at most `max_false_alarm` of the
//! negatives; the negatives of each stage are hard negatives, windows of the background
//! images that the cascade trained so far still accepts ([`mining`]).
//! [`augment_positives`](augment::augment_positives) makes the positive windows (mirror,
//! small rotation, scale, shift, brightness, contrast, noise; [`augment`]). After every
//! stage the state is saved to a checkpoint, and a run given the same checkpoint resumes
//! where it stopped. The result is an ordinary [`Cascade`]: `Cascade::save` writes
//! OpenCV's XML, `persist::save` our model file, and `detect::Detector` runs it exactly as
//! OpenCV 4 does.
//!
//! The pieces follow OpenCV's `traincascade`: [`augment`] (its `createsamples`),
//! [`mining`] (`CvCascadeImageReader`, `fillPassedSamples`), [`stage`]
//! (`CvCascadeBoost`), [`adaboost`] (the boosted stumps), [`pool`] (`CvHaarEvaluator`),
//! and this driver (`CvCascadeClassifier::train`, its parameters and checkpoints).
//!
//! # Usage
//! ```no_run
//! use classic_cv::detect::train::augment::{augment_positives, PositiveAugment};
//! use classic_cv::detect::train::{train, CascadeTrainingParams};
//! # let sources: Vec<(classic_cv::image::Image, classic_cv::image::Rect)> = vec![];
//! # let backgrounds: Vec<classic_cv::image::Image> = vec![];
//! let params = CascadeTrainingParams {
//!     window_width: 20,
//!     window_height: 20,
//!     stages: 10,
//!     ..Default::default()
//! };
//! let pos = augment_positives(&sources, 1000, 20, 20, &PositiveAugment::default(), params.seed)?;
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
//! - Positives of a stage: those of the pool that the cascade so far accepts (at most
//!   `num_pos`). Negatives: `num_neg` windows of the backgrounds that it accepts (see
//!   [`mining`]). A stage trains on fewer when `max_neg_draws` draws do not find them all;
//!   training stops when fewer than a tenth of `num_neg` are found (the cascade's
//!   false-alarm rate on the backgrounds is then below `num_neg / (10 max_neg_draws)`), or
//!   when no positive passes the cascade.
//! - Each stage starts from sample weights `1/N` and ends at its hit rate and false-alarm
//!   targets (see [`stage`]).
//! - Randomness: positive `i` uses `Rng::stream(seed, 2^62 + i)`, the draws and scans of
//!   stage `k` streams keyed by `(k+1)·2^40`, the feature subset (when
//!   `max_features > 0`) `Rng::stream(seed, 2^63)`.
//! - Checkpoints ([`TrainState`]) hold the parameters, a fingerprint of the data and the
//!   stages so far; a checkpoint is resumed only by a run with the same parameters (but
//!   for `stages`) and data.
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
pub mod augment;
pub mod mining;
pub mod pool;
pub mod stage;

use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::detect::cascade::Cascade;
use crate::detect::haar::HaarFeature;
use crate::detect::train::adaboost::Boost;
use crate::detect::train::mining::{Mining, Universe, hard_negatives};
use crate::detect::train::pool::{HaarPool, PoolMode, Sample};
use crate::detect::train::stage::{CascadeSoFar, TrainedStage, to_cascade, train_stage};
use crate::error::{Error, Result};
use crate::image::Image;
use crate::rng::Rng;

/// Parameters of a cascade training run ([`train`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CascadeTrainingParams {
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
    /// Bytes for feature values (see [`stage`]).
    pub memory_budget: usize,
    /// Maximum background windows drawn (or scanned) per stage.
    pub max_neg_draws: usize,
    /// How hard negatives are found.
    #[serde(default)]
    pub mining: Mining,
    /// Seed.
    pub seed: u64,
}

impl Default for CascadeTrainingParams {
    fn default() -> Self {
        CascadeTrainingParams {
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

impl CascadeTrainingParams {
    /// Checks every parameter.
    pub fn validate(&self) -> Result<()> {
        let (w, h) = (self.window_width, self.window_height);
        if !(3..=256).contains(&w) || !(3..=256).contains(&h) {
            return Err(Error::param(
                "window",
                format!("window sides must be 3 to 256 pixels, got {w}x{h}"),
            ));
        }
        HaarPool::new(w, h, self.mode)?;
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

/// Training state: what a checkpoint holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// The parameters of the run.
    pub params: CascadeTrainingParams,
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

    /// Valid params; every stage with a finite threshold, at least one stump, rates in
    /// `[0, 1]`; every stump with finite numbers and a feature of the params' pool kind
    /// (tilted only in [`PoolMode::All`], small integer weights) inside the window.
    fn validate_loaded(&self) -> Result<()> {
        self.params.validate()?;
        let (w, h) = (self.params.window_width, self.params.window_height);
        for (k, st) in self.stages.iter().enumerate() {
            let bad =
                |what: &str| Error::param("stages", format!("stage {k} of the checkpoint: {what}"));
            let rates = [st.hit_rate, st.false_alarm, st.acceptance];
            if !st.threshold.is_finite() || rates.iter().any(|r| !(0.0..=1.0).contains(r)) {
                return Err(bad("a threshold or rate is not finite or out of [0, 1]"));
            }
            if st.stumps.is_empty() {
                return Err(bad("no stump"));
            }
            for s in &st.stumps {
                if ![s.threshold, s.left, s.right].iter().all(|v| v.is_finite()) {
                    return Err(bad("a stump's threshold or leaf is not finite"));
                }
                if s.feature.tilted && self.params.mode != PoolMode::All {
                    return Err(bad("a tilted feature outside the `all` pool"));
                }
                if s.feature
                    .rects
                    .iter()
                    .any(|r| r.weight.fract() != 0.0 || r.weight.abs() > MAX_POOL_WEIGHT)
                {
                    return Err(bad("a rectangle weight that no pool feature has"));
                }
                s.feature.check(w, h)?;
            }
        }
        Ok(())
    }
}

/// Largest rectangle weight magnitude of a pool feature (the centre of the 3x3
/// centre-surround feature weighs 9).
const MAX_POOL_WEIGHT: f32 = 9.0;

/// A finished training run: the cascade and the per-stage figures.
#[derive(Clone, Debug)]
pub struct CascadeTraining {
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

/// Trains a cascade on `positives` (`window_width x window_height` 8-bit windows) and
/// negatives mined from `backgrounds` (gray images in `[0, 1]`, each at least the window
/// size). With `checkpoint`, the state is saved there after every stage and a run
/// resumes from it when it exists (same parameters and data required).
pub fn train(
    p: &CascadeTrainingParams,
    positives: &[Vec<u8>],
    backgrounds: &[Image],
    checkpoint: Option<&Path>,
) -> Result<CascadeTraining> {
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
        let old: TrainState = crate::persist::load(path)?;
        if old.params.seed != p.seed
            || old.data_hash != hash
            || (CascadeTrainingParams {
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
        let so_far = CascadeSoFar::new(&state.stages, w);
        let pos: Vec<Sample> = pos_all
            .iter()
            .filter(|s| so_far.accepts(s))
            .take(p.num_pos)
            .cloned()
            .collect();
        if pos.is_empty() {
            state.stop_reason = format!("stage {k}: no positive passes the cascade");
            break;
        }
        let neg = hard_negatives(p, k, &state.stages, &so_far, backgrounds, universe.as_ref())?;
        let drawn = neg.drawn;
        if neg.samples.len() < p.num_neg.div_ceil(10) {
            state.stop_reason = format!(
                "stage {k}: only {} of {} negatives in {drawn} background windows (false-alarm rate {:.2e})",
                neg.samples.len(),
                p.num_neg,
                neg.accepted as f64 / drawn.max(1) as f64
            );
            break;
        }
        let mut stage = train_stage(p, &feats, &pos, &neg.samples)?;
        stage.acceptance = neg.accepted as f64 / drawn.max(1) as f64;
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
    Ok(CascadeTraining { cascade, state })
}
