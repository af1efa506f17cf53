//! The network plan: the layer list as written in a config ([`LayerSpec`]), the shape of every
//! layer's input and output, and where each layer's numbers live ([`Network`]).
//!
//! Activations are NHWC: sample, row, column, channel, channels contiguous; a batch is one
//! `Vec<f32>` of `n * shape.len()` values. A dense layer reads its input flattened in that
//! (row, column, channel) order. Parameters of the whole network live in one flat `Vec<f32>`
//! (each layer owns a range: weights first, then biases); batch-norm running statistics live
//! in a second flat vector of "buffers" (not trained by the optimiser).
//!
//! Each layer kind has its own module with its shape rule, forward and backward passes:
//! [`conv`], [`pool`], [`dense`], [`activation`], [`dropout`], [`norm`]; the loss is in
//! [`loss`](super::loss).

use serde::{Deserialize, Serialize};

use super::{activation, conv, dense, dropout, norm, pool};
use crate::error::{Error, Result};
use crate::rng::Rng;

/// Size of one sample's activation: `height x width x channels` (NHWC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Channels.
    pub channels: usize,
}

impl Shape {
    /// Number of values.
    pub fn len(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// True when the shape holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn default_one() -> usize {
    1
}

/// One layer of the network, as written in a config file:
/// `{"conv2d": {"out_channels": 32, "kernel": 3, "padding": 1}}`, `"relu"`,
/// `{"max_pool": {"size": 2, "stride": 2}}`, `{"dense": {"out_features": 10}}`, ...
/// (serde's external tagging, which the binary model format can store).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerSpec {
    /// Square 2-D convolution (cross-correlation) with bias.
    Conv2d {
        /// Output channels.
        out_channels: usize,
        /// Kernel side, in pixels.
        kernel: usize,
        /// Step between windows. Default 1.
        #[serde(default = "default_one")]
        stride: usize,
        /// Zero padding on every side. Default 0.
        #[serde(default)]
        padding: usize,
    },
    /// `max(x, 0)`.
    Relu,
    /// `x` if positive, else `slope * x`.
    LeakyRelu {
        /// Slope for negative inputs, in `[0, 1)`.
        slope: f32,
    },
    /// Max over square windows.
    MaxPool {
        /// Window side.
        size: usize,
        /// Step between windows.
        stride: usize,
    },
    /// Fully connected layer (flattens its input).
    Dense {
        /// Output features.
        out_features: usize,
    },
    /// Inverted dropout.
    Dropout {
        /// Probability of zeroing a value during training, in `[0, 1)`.
        rate: f32,
    },
    /// Batch normalisation over the batch and the pixels, per channel.
    BatchNorm {
        /// Weight of the current batch in the running statistics, in `(0, 1]`.
        momentum: f32,
        /// Added to the variance, > 0.
        eps: f32,
    },
}

/// A layer placed in a network: its spec, its shapes and where its numbers live.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    /// What it computes.
    pub spec: LayerSpec,
    /// Shape of one input sample.
    pub input: Shape,
    /// Shape of one output sample.
    pub output: Shape,
    /// Start of its parameters in the flat parameter vector.
    pub param_offset: usize,
    /// Number of parameters (weights, then biases / γ, then β).
    pub n_params: usize,
    /// Number of those that are weights (decayed by weight decay); the rest are biases.
    pub n_weights: usize,
    /// Start of its buffers (batch-norm running mean, then variance).
    pub buffer_offset: usize,
    /// Number of buffers.
    pub n_buffers: usize,
}

/// The layers of a network with their shapes, for one input shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    /// Shape of one input sample.
    pub input: Shape,
    /// The layers in order.
    pub layers: Vec<Layer>,
    /// Total number of trained parameters.
    pub n_params: usize,
    /// Total number of buffers.
    pub n_buffers: usize,
}

/// The initial numbers of a network, as [`Network::init`] draws them.
#[derive(Clone, Debug, PartialEq)]
pub struct InitialState {
    /// Trained parameters, laid out as the plan says.
    pub params: Vec<f32>,
    /// Buffers (batch-norm running statistics).
    pub buffers: Vec<f32>,
}

/// What one layer's kind makes of its input shape: the layer module's shape rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct LayerSize {
    /// Shape of one output sample.
    pub output: Shape,
    /// Number of weights (decayed).
    pub n_weights: usize,
    /// Number of biases (or γ and β).
    pub n_biases: usize,
    /// Number of buffers.
    pub n_buffers: usize,
}

impl LayerSize {
    /// A layer without numbers whose output has the shape of its input.
    pub(super) fn same(s: Shape) -> Self {
        LayerSize {
            output: s,
            n_weights: 0,
            n_biases: 0,
            n_buffers: 0,
        }
    }
}

impl Network {
    /// Places `specs` after an input of shape `input`; fails on a layer that does not fit
    /// its input (a window larger than the padded input, a zero size, a rate out of range).
    pub fn plan(specs: &[LayerSpec], input: Shape) -> Result<Network> {
        if specs.is_empty() {
            return Err(Error::param(
                "layers",
                "the network needs at least one layer",
            ));
        }
        let mut layers = Vec::with_capacity(specs.len());
        let (mut shape, mut n_params, mut n_buffers) = (input, 0, 0);
        for spec in specs {
            check_layer_bounds(spec, shape)?;
            let size = plan_layer(spec, shape)?;
            layers.push(Layer {
                spec: spec.clone(),
                input: shape,
                output: size.output,
                param_offset: n_params,
                n_params: size.n_weights + size.n_biases,
                n_weights: size.n_weights,
                buffer_offset: n_buffers,
                n_buffers: size.n_buffers,
            });
            n_params = [n_params, size.n_weights, size.n_biases]
                .iter()
                .try_fold(0usize, |a, &b| a.checked_add(b))
                .ok_or_else(|| Error::param("layers", "the parameter count overflows"))?;
            n_buffers = n_buffers
                .checked_add(size.n_buffers)
                .ok_or_else(|| Error::param("layers", "the buffer count overflows"))?;
            shape = size.output;
        }
        Ok(Network {
            input,
            layers,
            n_params,
            n_buffers,
        })
    }

    /// Shape of the network's output (the logits).
    pub fn output(&self) -> Shape {
        self.layers.last().map_or(self.input, |l| l.output)
    }

    /// Initial parameters and buffers: He-uniform weights (`U(-b, b)`, `b = sqrt(6 /
    /// fan_in)`), zero biases, batch norm `γ = 1, β = 0`, running mean 0 and variance 1.
    /// Layer `i` draws from `Rng::stream(seed, i)`.
    pub fn init(&self, seed: u64) -> InitialState {
        let mut params = vec![0f32; self.n_params];
        let mut buffers = vec![0f32; self.n_buffers];
        for (i, l) in self.layers.iter().enumerate() {
            let p = &mut params[l.param_offset..l.param_offset + l.n_params];
            match l.spec {
                LayerSpec::Conv2d { .. } | LayerSpec::Dense { .. } => {
                    let fan_in = (l.n_weights / (l.n_params - l.n_weights)).max(1);
                    let bound = (6.0 / fan_in as f32).sqrt();
                    let mut rng = Rng::stream(seed, i as u64);
                    for w in &mut p[..l.n_weights] {
                        *w = rng.uniform(-bound, bound);
                    }
                }
                LayerSpec::BatchNorm { .. } => {
                    let b = &mut buffers[l.buffer_offset..l.buffer_offset + l.n_buffers];
                    norm::init(l.input.channels, p, b);
                }
                _ => {}
            }
        }
        InitialState { params, buffers }
    }
}

/// Largest activation of one sample, in values (2^31), and the largest layer constants:
/// with them every product in the shape rules fits in 64 bits.
const MAX_ACTIVATION: u128 = 1 << 31;
const MAX_WIDTH: usize = 1 << 20;
const MAX_KERNEL: usize = 255;

/// Fails when the layer's input or its constants are beyond the bounds above.
fn check_layer_bounds(spec: &LayerSpec, s: Shape) -> Result<()> {
    let len = s.height as u128 * s.width as u128 * s.channels as u128;
    if len > MAX_ACTIVATION {
        return Err(Error::param(
            "layers",
            format!(
                "a layer input of {}x{}x{} values is larger than {MAX_ACTIVATION}",
                s.height, s.width, s.channels
            ),
        ));
    }
    let (width, kernel) = match *spec {
        LayerSpec::Conv2d {
            out_channels,
            kernel,
            stride,
            padding,
        } => (out_channels, kernel.max(stride).max(padding)),
        LayerSpec::Dense { out_features } => (out_features, 1),
        LayerSpec::MaxPool { size, stride } => (1, size.max(stride)),
        _ => (1, 1),
    };
    if width > MAX_WIDTH || kernel > MAX_KERNEL {
        return Err(Error::param(
            "layers",
            format!(
                "a layer of width {width} and kernel (or stride, padding) {kernel} is beyond \
                 the limits (width <= {MAX_WIDTH}, kernel, stride and padding <= {MAX_KERNEL})"
            ),
        ));
    }
    Ok(())
}

/// The shape rule of the layer's kind.
fn plan_layer(spec: &LayerSpec, s: Shape) -> Result<LayerSize> {
    match *spec {
        LayerSpec::Conv2d {
            out_channels,
            kernel,
            stride,
            padding,
        } => conv::plan(out_channels, kernel, stride, padding, s),
        LayerSpec::Relu => Ok(LayerSize::same(s)),
        LayerSpec::LeakyRelu { slope } => activation::plan_leaky_relu(slope, s),
        LayerSpec::MaxPool { size, stride } => pool::plan(size, stride, s),
        LayerSpec::Dense { out_features } => dense::plan(out_features, s),
        LayerSpec::Dropout { rate } => dropout::plan(rate, s),
        LayerSpec::BatchNorm { momentum, eps } => norm::plan(momentum, eps, s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cnn::pass::check::{conv, shape};

    #[test]
    fn plan_rejects_layers_that_do_not_fit() {
        let input = shape(4, 4, 1);
        for bad in [
            conv(0, 3, 1, 1),
            conv(2, 5, 1, 0),
            conv(2, 3, 1, 3),
            conv(2, 3, 0, 1),
            LayerSpec::MaxPool { size: 5, stride: 1 },
            LayerSpec::MaxPool { size: 2, stride: 0 },
            LayerSpec::Dense { out_features: 0 },
            LayerSpec::Dropout { rate: 1.0 },
            LayerSpec::LeakyRelu { slope: -0.1 },
            LayerSpec::BatchNorm {
                momentum: 0.0,
                eps: 1e-5,
            },
            LayerSpec::BatchNorm {
                momentum: 0.1,
                eps: 0.0,
            },
        ] {
            assert!(
                matches!(
                    Network::plan(std::slice::from_ref(&bad), input),
                    Err(Error::InvalidParam { name: "layers", .. })
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            Network::plan(&[], input),
            Err(Error::InvalidParam { name: "layers", .. })
        ));
    }
}
