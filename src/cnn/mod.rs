//! A small convolutional network, written out layer by layer, for the classical-versus-deep
//! comparison.
//!
//! # Overview
//! [`CnnParams`] describes a network (a list of [`LayerSpec`]s) and how to train it (epochs,
//! batch size, [`Optimizer`], learning rate, [`Schedule`], weight decay, label smoothing,
//! [`Augment`]ation, seed); fitting it on gray images returns a [`Cnn`] that labels images.
//! Every layer kind has its own module with its forward and backward pass ([`conv`],
//! [`pool`], [`dense`], [`activation`], [`dropout`], [`norm`], the loss in [`loss`]), each
//! checked against finite differences in its tests; [`network`] places the layers and lays
//! out their parameters. No deep-learning framework is used. The default is the network of
//! the course notes:
//!
//! ```text
//! conv(1->32, 3x3, pad 1) - ReLU - maxpool 2x2/2 - conv(32->64, 3x3, pad 1) - ReLU - maxpool 2x2/2
//! - dense(3136->128) - ReLU - dense(128->10)
//! ```
//!
//! trained with the recipe that reaches >= 0.92 test accuracy on Fashion-MNIST (see the
//! defaults of [`CnnParams`]). It is not a general deep-learning
//! library: f32 only, CPU only, layers in sequence, gray input.
//!
//! # Usage
//! ```
//! use classic_cv::cnn::CnnParams;
//! use classic_cv::cnn::network::LayerSpec;
//! use classic_cv::cnn::train::Augment;
//! use classic_cv::pipeline::{Fit, Transform};
//! use classic_cv::Image;
//! // Bright-left versus bright-right 6x6 images.
//! let images: Vec<Image> = (0..40)
//!     .map(|i| Image::from_fn(6, 6, |x, _| if (x < 3) == (i % 2 == 0) { 0.9 } else { 0.1 }))
//!     .collect();
//! let labels: Vec<u32> = (0..40).map(|i| i % 2).collect();
//! let params = CnnParams {
//!     layers: vec![
//!         LayerSpec::Conv2d { out_channels: 4, kernel: 3, stride: 1, padding: 1 },
//!         LayerSpec::Relu,
//!         LayerSpec::Dense { out_features: 2 },
//!     ],
//!     epochs: 5,
//!     batch_size: 8,
//!     // No flips: a mirrored image would belong to the other class.
//!     augment: Augment { flip: false, max_shift: 0 },
//!     ..CnnParams::default()
//! };
//! let cnn = params.fit(&images, &labels).unwrap();
//! assert_eq!(cnn.transform(&images[1]).unwrap(), 1);
//! assert_eq!(cnn.history.len(), 5);
//! ```
//!
//! # Algorithm and the conventions that change numbers
//! - Input: the gray image (values in `[0, 1]`) standardised by the mean and standard
//!   deviation of all training pixels (stored in the model). Images of another size than
//!   the training images are resized bilinearly at inference.
//! - Layout NHWC; convolutions are im2col followed by one matrix product per chunk of
//!   samples (the `gemm` crate, behind the crate's only `unsafe` module); the formulas of
//!   every layer are in its module.
//! - Initialisation: He-uniform weights `U(±sqrt(6 / fan_in))`, zero biases.
//! - Each epoch visits the training set in a fresh random order; the last batch may be
//!   smaller. The loss is the mean softmax cross-entropy of the batch (with label
//!   smoothing); the learning rate is set before each step from the schedule and warm-up.
//! - `history` keeps, per epoch, the mean training loss and training accuracy (measured on
//!   the augmented batches, in training mode, as the weights move), the last learning rate,
//!   and the accuracy on an evaluation set when [`CnnParams::fit_with_eval`] gave one.
//!
//! # Parallelism and determinism
//! Every layer splits its batch into fixed chunks of 16 samples (weight
//! gradients of dense layers: fixed row blocks) run in parallel by rayon; per-chunk partial
//! gradients are summed in chunk order, and each matrix product runs on one thread. The
//! optimiser updates fixed blocks of parameters in parallel. Randomness (initialisation,
//! shuffling, augmentation, dropout) comes from `Rng::stream(seed, ...)` streams indexed
//! by layer, epoch, sample and step. So the same seed gives bit-identical weights with any
//! number of threads (tested with 1 and 2).
//!
//! # References
//! - LeCun, Bottou, Bengio, Haffner (1998), Gradient-based learning applied to document
//!   recognition.
//! - Ioffe & Szegedy (2015), Batch normalization. Srivastava et al. (2014), Dropout.
//! - Kingma & Ba (2015), Adam. Loshchilov & Hutter (2019), Decoupled weight decay
//!   regularization. Smith & Topin (2019), Super-convergence (one-cycle).
//! - Szegedy et al. (2016), Rethinking the Inception architecture (label smoothing).
//! - Xiao, Rasul, Vollgraf (2017), Fashion-MNIST.

pub mod activation;
pub mod conv;
pub mod dense;
pub mod dropout;
mod gemm;
pub mod loss;
pub mod network;
pub mod norm;
pub mod optim;
mod pass;
pub mod pool;
pub mod train;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::image::Image;
use crate::pipeline::{Fit, Label, Transform, check_fit_inputs, count_classes};

use network::{LayerSpec, Network, Shape};
use optim::{Optimizer, Schedule};
use train::Augment;

/// Hyperparameters of a [`Cnn`]: the network and the training recipe. The defaults are the
/// recipe that meets the Fashion-MNIST goal (>= 0.92 test accuracy).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CnnParams {
    /// The layers, in order; the last one's output size must be at least the number of
    /// classes (its first outputs are the class scores). Default: see the module docs.
    pub layers: Vec<LayerSpec>,
    /// Passes over the training set. Default 7.
    pub epochs: usize,
    /// Images per gradient step. Default 64.
    pub batch_size: usize,
    /// The update rule. Default AdamW (0.9, 0.999, 1e-8).
    pub optimizer: Optimizer,
    /// Base (peak) learning rate. Default 2e-3.
    pub learning_rate: f32,
    /// Weight decay of conv and dense weights (L2 for SGD and Adam, decoupled for AdamW).
    /// Default 1e-4.
    pub weight_decay: f32,
    /// Learning-rate schedule. Default one-cycle (peak at 25 %, start lr/10, end lr/1000).
    pub schedule: Schedule,
    /// Linear warm-up length in epochs (may be fractional), on top of the schedule.
    /// Default 0.
    pub warmup_epochs: f32,
    /// Label smoothing ε in `[0, 1)`. Default 0.1.
    pub label_smoothing: f32,
    /// Training-time augmentation. Default: horizontal flips, no shifts.
    pub augment: Augment,
    /// Seed of initialisation, shuffling, augmentation and dropout. Default 42.
    pub seed: u64,
}

impl Default for CnnParams {
    fn default() -> Self {
        CnnParams {
            layers: default_layers(),
            epochs: 7,
            batch_size: 64,
            optimizer: Optimizer::adamw(),
            learning_rate: 2e-3,
            weight_decay: 1e-4,
            schedule: Schedule::one_cycle(),
            warmup_epochs: 0.0,
            label_smoothing: 0.1,
            augment: Augment::default(),
            seed: 42,
        }
    }
}

/// The network of the course notes (421,642 parameters on 28x28).
pub fn default_layers() -> Vec<LayerSpec> {
    let conv = |out_channels| LayerSpec::Conv2d {
        out_channels,
        kernel: 3,
        stride: 1,
        padding: 1,
    };
    let pool = LayerSpec::MaxPool { size: 2, stride: 2 };
    vec![
        conv(32),
        LayerSpec::Relu,
        pool.clone(),
        conv(64),
        LayerSpec::Relu,
        pool,
        LayerSpec::Dense { out_features: 128 },
        LayerSpec::Relu,
        LayerSpec::Dense { out_features: 10 },
    ]
}

/// Most trainable parameters a network may have (2^28: 1 GiB of `f32` weights, before
/// gradients and optimiser state).
pub const MAX_CNN_PARAMS: usize = 1 << 28;

impl CnnParams {
    /// Checks the parameters (layer constants against a generous 1024x1024 input; whether the
    /// layers fit the actual image size is checked by `fit`).
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 || self.epochs > crate::limits::MAX_EPOCHS {
            return Err(Error::param(
                "epochs",
                format!("must be 1 to {}", crate::limits::MAX_EPOCHS),
            ));
        }
        if self.batch_size == 0 || self.batch_size > 1 << 16 {
            return Err(Error::param("batch_size", "must be 1 to 65536"));
        }
        if !(self.learning_rate > 0.0) || !self.learning_rate.is_finite() {
            return Err(Error::param("learning_rate", "must be a finite number > 0"));
        }
        if !(self.weight_decay >= 0.0) || !self.weight_decay.is_finite() {
            return Err(Error::param("weight_decay", "must be a finite number >= 0"));
        }
        if !(self.warmup_epochs >= 0.0) || !self.warmup_epochs.is_finite() {
            return Err(Error::param(
                "warmup_epochs",
                "must be a finite number >= 0",
            ));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(Error::param("label_smoothing", "must be in [0, 1)"));
        }
        self.optimizer.validate()?;
        self.schedule.validate()?;
        let big = Shape {
            height: 1024,
            width: 1024,
            channels: 1,
        };
        let net = Network::plan(&self.layers, big)?;
        if net.n_params == 0 {
            return Err(Error::param(
                "layers",
                "the network has no trainable parameter (it needs a conv or dense layer)",
            ));
        }
        Ok(())
    }

    /// Parses a CNN config from JSON text (the `CnnParams` fields; missing ones take their
    /// defaults) and validates it; `origin` names it in errors.
    pub fn from_json(text: &str, origin: impl AsRef<std::path::Path>) -> Result<Self> {
        let p: CnnParams = serde_json::from_str(text)
            .map_err(|e| Error::format(origin.as_ref(), format!("invalid CNN config: {e}")))?;
        p.validate()
            .map_err(|e| Error::format(origin.as_ref(), e.to_string()))?;
        Ok(p)
    }

    /// Like [`Fit::fit`], also scoring `eval` (images and labels) after every epoch into
    /// `history[i].eval_accuracy` (learning curves). The evaluation does not affect training.
    pub fn fit_with_eval(
        &self,
        images: &[Image],
        labels: &[Label],
        eval: Option<(&[Image], &[Label])>,
    ) -> Result<Cnn> {
        self.validate()?;
        check_fit_inputs(images, labels)?;
        let n_classes = count_classes(labels)?;
        let (w, h) = (images[0].width(), images[0].height());
        let mut pixels = Vec::with_capacity(images.len() * w * h);
        for img in images {
            if img.width() != w || img.height() != h {
                return Err(Error::DimensionMismatch {
                    what: "training image size (width x height)",
                    expected: w * h,
                    found: img.width() * img.height(),
                });
            }
            img.check_finite()?;
            pixels.extend_from_slice(img.as_slice());
        }
        let input = Shape {
            height: h,
            width: w,
            channels: 1,
        };
        let net = Network::plan(&self.layers, input)?;
        if net.n_params > MAX_CNN_PARAMS {
            return Err(Error::param(
                "layers",
                format!(
                    "the network has {} parameters on {w}x{h} images, more than {MAX_CNN_PARAMS}",
                    net.n_params
                ),
            ));
        }
        if net.output().len() < n_classes {
            return Err(Error::param(
                "layers",
                format!(
                    "the last layer has {} outputs but the labels need {n_classes}",
                    net.output().len()
                ),
            ));
        }
        let (mean, std) = mean_std(&pixels);
        let mut model = Cnn {
            params: self.clone(),
            input,
            n_classes,
            input_mean: mean,
            input_std: std,
            weights: Vec::new(),
            buffers: Vec::new(),
            history: Vec::new(),
            class_names: Vec::new(),
        };
        let eval = match eval {
            Some((x, y)) => {
                if x.len() != y.len() {
                    return Err(Error::LengthMismatch {
                        inputs: x.len(),
                        labels: y.len(),
                    });
                }
                Some((model.input_tensor(x)?, y))
            }
            None => None,
        };
        let data = train::Pixels {
            data: &pixels,
            height: h,
            width: w,
        };
        let eval_ref = eval.as_ref().map(|(x, y)| (x.as_slice(), *y));
        let trained = train::train(self, &net, &data, labels, mean, std, eval_ref)?;
        model.weights = trained.weights;
        model.buffers = trained.buffers;
        model.history = trained.history;
        crate::error::check_finite(
            &model.weights,
            "cnn weights after training (lower the learning rate)",
        )?;
        Ok(model)
    }
}

/// A trained CNN: the network, its weights, and how it was trained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cnn {
    /// The params it was trained with (they hold the layer list).
    pub params: CnnParams,
    /// Shape of the input (the training images' size, one channel).
    pub input: Shape,
    /// Number of classes seen in training (labels `0..n_classes`).
    pub n_classes: usize,
    /// Mean of the training pixels, subtracted from every input pixel.
    pub input_mean: f32,
    /// Standard deviation of the training pixels, dividing every input pixel.
    pub input_std: f32,
    /// All trained parameters, layer after layer (weights then biases), as laid out by
    /// [`Network::plan`].
    pub weights: Vec<f32>,
    /// Batch-norm running statistics (empty without batch norm).
    pub buffers: Vec<f32>,
    /// One record per epoch.
    pub history: Vec<EpochRecord>,
    /// The classes' names, label by label (empty: not known; models saved before names
    /// were stored have none). Set by whoever knows them: `fit` sees labels only.
    #[serde(default)]
    pub class_names: Vec<String>,
}

/// A CNN as saved before class names were stored: the binary payload of such a file ends
/// after `history` (the JSON form just lacks the field, which defaults to empty).
#[derive(Deserialize)]
struct CnnWithoutNames {
    params: CnnParams,
    input: Shape,
    n_classes: usize,
    input_mean: f32,
    input_std: f32,
    weights: Vec<f32>,
    buffers: Vec<f32>,
    history: Vec<EpochRecord>,
}

/// What one training epoch achieved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (with label smoothing).
    pub loss: f32,
    /// Fraction of training images classified correctly during the epoch.
    pub accuracy: f32,
    /// Learning rate of the epoch's last step.
    pub learning_rate: f32,
    /// Accuracy on the evaluation set after the epoch, if one was given.
    pub eval_accuracy: Option<f32>,
}

impl Fit for CnnParams {
    type Input = Image;
    type Fitted = Cnn;

    fn fit(&self, images: &[Image], labels: &[Label]) -> Result<Cnn> {
        self.fit_with_eval(images, labels, None)
    }
}

impl Transform for Cnn {
    type Input = Image;
    type Output = Label;

    /// The class with the largest score.
    fn transform(&self, image: &Image) -> Result<Label> {
        let scores = self.scores(std::slice::from_ref(image))?;
        Ok(top_class(scores.row(0)))
    }

    /// Batched inference: all images go through the network in parallel chunks.
    fn transform_batch(&self, images: &[Image]) -> Result<Vec<Label>> {
        Ok(self
            .scores(images)?
            .rows()
            .into_iter()
            .map(top_class)
            .collect())
    }
}

/// The class of a row of scores: the first largest one.
fn top_class(row: ndarray::ArrayView1<f32>) -> Label {
    let row = row.as_slice().expect("rows of a standard layout array");
    crate::vecops::max_entry(row).0 as Label
}

impl crate::persist::Model for Cnn {
    fn kind() -> String {
        "cnn".into()
    }

    /// The current layout, else the layout of files saved before class names were stored.
    fn from_postcard(payload: &[u8]) -> postcard::Result<Self> {
        postcard::from_bytes(payload).or_else(|e| {
            let old: CnnWithoutNames = postcard::from_bytes(payload).map_err(|_| e)?;
            Ok(Cnn {
                params: old.params,
                input: old.input,
                n_classes: old.n_classes,
                input_mean: old.input_mean,
                input_std: old.input_std,
                weights: old.weights,
                buffers: old.buffers,
                history: old.history,
                class_names: Vec::new(),
            })
        })
    }

    /// Valid params, a network that plans for the stored input, weights and buffers of the
    /// planned sizes (at least one weight), `1 <= n_classes <=` the network's outputs, a
    /// finite input mean and a finite positive input spread, finite weights.
    fn validate_loaded(&self) -> Result<()> {
        self.params.validate()?;
        crate::limits::check_image_size(self.input.width, self.input.height)?;
        let net = self.network()?;
        if net.n_params == 0 || net.n_params > MAX_CNN_PARAMS {
            return Err(Error::param(
                "layers",
                format!(
                    "the network has {} parameters (must be 1 to {MAX_CNN_PARAMS})",
                    net.n_params
                ),
            ));
        }
        if net.n_params != self.weights.len() || net.n_buffers != self.buffers.len() {
            return Err(Error::DimensionMismatch {
                what: "stored weights of the cnn model",
                expected: net.n_params + net.n_buffers,
                found: self.weights.len() + self.buffers.len(),
            });
        }
        crate::limits::check_class_count(self.n_classes, "cnn")?;
        if !self.class_names.is_empty() && self.class_names.len() != self.n_classes {
            return Err(Error::DimensionMismatch {
                what: "class names of the cnn model",
                expected: self.n_classes,
                found: self.class_names.len(),
            });
        }
        if self.n_classes > net.output().len() {
            return Err(Error::DimensionMismatch {
                what: "classes of the cnn model (at most the network's outputs)",
                expected: net.output().len(),
                found: self.n_classes,
            });
        }
        if !(self.input_mean.is_finite() && self.input_std.is_finite() && self.input_std > 0.0) {
            return Err(Error::param(
                "input_std",
                "the input normalisation needs a finite mean and a finite spread > 0",
            ));
        }
        crate::error::check_finite(&self.weights, "cnn weights")?;
        crate::error::check_finite(&self.buffers, "cnn buffers")
    }
}

impl Cnn {
    /// The network with its shapes and parameter layout.
    pub fn network(&self) -> Result<Network> {
        Network::plan(&self.params.layers, self.input)
    }

    /// Number of trained parameters.
    pub fn n_params(&self) -> usize {
        self.weights.len()
    }

    /// Class scores (logits, before softmax): one row per image, `n_classes` columns.
    pub fn scores(&self, images: &[Image]) -> Result<Array2<f32>> {
        let net = self.network()?;
        if net.n_params != self.weights.len() || net.n_buffers != self.buffers.len() {
            return Err(Error::DimensionMismatch {
                what: "stored weights of the cnn model",
                expected: net.n_params + net.n_buffers,
                found: self.weights.len() + self.buffers.len(),
            });
        }
        let x = self.input_tensor(images)?;
        let k = net.output().len();
        let logits = pass::forward_eval(&net, &self.weights, &self.buffers, &x, images.len());
        let mut out = Array2::zeros((images.len(), self.n_classes));
        for (mut row, z) in out.rows_mut().into_iter().zip(logits.chunks(k)) {
            row.assign(&ndarray::ArrayView1::from(&z[..self.n_classes]));
        }
        Ok(out)
    }

    /// Normalised pixels of `images`, resized to the input size where needed.
    fn input_tensor(&self, images: &[Image]) -> Result<Vec<f32>> {
        let (w, h) = (self.input.width, self.input.height);
        let mut x = Vec::with_capacity(images.len() * w * h);
        for img in images {
            img.check_finite()?;
            let resized;
            let img = if img.width() != w || img.height() != h {
                resized = img.resize_bilinear(w, h)?;
                &resized
            } else {
                img
            };
            x.extend(
                img.as_slice()
                    .iter()
                    .map(|v| (v - self.input_mean) / self.input_std),
            );
        }
        Ok(x)
    }
}

/// Mean and standard deviation (population) of all pixels, accumulated in f64 in order;
/// a constant image set gets standard deviation 1.
fn mean_std(pixels: &[f32]) -> (f32, f32) {
    let n = pixels.len().max(1) as f64;
    let mean = pixels.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = pixels
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let std = if var > 1e-12 { var.sqrt() } else { 1.0 };
    (mean as f32, std as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::Model;

    /// The layout of files saved before class names were stored.
    #[derive(Serialize)]
    struct Old<'a> {
        params: &'a CnnParams,
        input: Shape,
        n_classes: usize,
        input_mean: f32,
        input_std: f32,
        weights: &'a [f32],
        buffers: &'a [f32],
        history: &'a [EpochRecord],
    }

    fn tiny() -> Cnn {
        let images: Vec<Image> = (0..8)
            .map(|i| Image::from_fn(4, 4, |x, _| if (x < 2) == (i % 2 == 0) { 0.9 } else { 0.1 }))
            .collect();
        let labels: Vec<Label> = (0..8).map(|i| i % 2).collect();
        let params = CnnParams {
            layers: vec![LayerSpec::Dense { out_features: 2 }],
            epochs: 1,
            batch_size: 4,
            ..CnnParams::default()
        };
        params.fit(&images, &labels).unwrap()
    }

    #[test]
    fn files_without_class_names_still_load_and_names_round_trip() {
        let mut cnn = tiny();
        let old = Old {
            params: &cnn.params,
            input: cnn.input,
            n_classes: cnn.n_classes,
            input_mean: cnn.input_mean,
            input_std: cnn.input_std,
            weights: &cnn.weights,
            buffers: &cnn.buffers,
            history: &cnn.history,
        };
        let bytes = postcard::to_stdvec(&old).unwrap();
        assert_eq!(Cnn::from_postcard(&bytes).unwrap(), cnn);
        cnn.class_names = vec!["left".into(), "right".into()];
        let bytes = postcard::to_stdvec(&cnn).unwrap();
        let back = Cnn::from_postcard(&bytes).unwrap();
        assert_eq!(back.class_names, ["left", "right"]);
        assert_eq!(back, cnn);
        // A truncated payload is still an error, not an old model.
        assert!(Cnn::from_postcard(&bytes[..bytes.len() / 2]).is_err());
        // Names that do not match the classes are refused on load.
        cnn.class_names.push("third".into());
        assert!(cnn.validate_loaded().is_err());
    }
}
