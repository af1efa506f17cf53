//! The layers of the CNN, each with its forward pass and hand-derived backward pass.
//!
//! Activations are NHWC: sample, row, column, channel, channels contiguous; a batch is one
//! `Vec<f32>` of `n * shape.len()` values. A dense layer reads its input flattened in that
//! (row, column, channel) order. Parameters of the whole network live in one flat `Vec<f32>`
//! (each layer owns a range: weights first, then biases); batch-norm running statistics live
//! in a second flat vector of "buffers" (not trained by the optimiser).
//!
//! Formulas (y = output, x = input, dy = dLoss/dy):
//! - conv2d: cross-correlation `y[o, co] = b[co] + sum_{ky,kx,ci} x[o*s + k - p, ci] W[(ky,kx,ci), co]`,
//!   computed as `cols W` with `cols` the im2col matrix (one row per output pixel, columns
//!   ordered (ky, kx, ci), zeros where the window leaves the padded input). Backward:
//!   `dW = colsᵀ dy`, `db = Σ_rows dy`, `dcols = dy Wᵀ`, `dx = col2im(dcols)` (scatter-add).
//! - ReLU `y = max(x, 0)`, leaky ReLU `y = x` if `x > 0` else `slope x`; `dx = dy y'(x)`.
//! - max-pool: `y = max` over each window; the gradient goes to the first input of the window
//!   (row-major window order) equal to the maximum.
//! - dense: `y = x W + b`; `dW = xᵀ dy`, `db = Σ_n dy`, `dx = dy Wᵀ`.
//! - dropout (inverted): training keeps each value with probability `1 - rate` and scales it
//!   by `1 / (1 - rate)`; identity at inference.
//! - batch norm (Ioffe & Szegedy 2015), per channel over all samples and pixels of the batch:
//!   `x̂ = (x - μ) / sqrt(σ² + eps)`, `y = γ x̂ + β`, with the biased batch variance; the
//!   running statistics follow `r = (1 - momentum) r + momentum · batch` (unbiased variance,
//!   as PyTorch). Backward: `dx = γ / (M sqrt(σ² + eps)) (M dy - Σdy - x̂ Σ(dy x̂))`.
//! - softmax cross-entropy with label smoothing ε over K outputs: target
//!   `q = (1 - ε) onehot(y) + ε / K`, loss `-Σ q log softmax(z)`, `dz = (softmax(z) - q) / N`.
//!
//! Parallelism: every pass splits the batch into fixed chunks of [`CHUNK`] samples, or the
//! output of a weight gradient into fixed row blocks; partial sums are added in chunk order.
//! Nothing depends on the number of threads.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::gemm::{Mat, matmul};
use crate::error::{Error, Result};
use crate::rng::Rng;

/// Samples per parallel task. Fixed, so results do not depend on the thread count.
pub const CHUNK: usize = 16;
/// Rows of a dense weight gradient per parallel task.
const DENSE_ROWS: usize = 256;

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
            let (output, n_weights, n_biases, n_buf) = plan_layer(spec, shape)?;
            layers.push(Layer {
                spec: spec.clone(),
                input: shape,
                output,
                param_offset: n_params,
                n_params: n_weights + n_biases,
                n_weights,
                buffer_offset: n_buffers,
                n_buffers: n_buf,
            });
            n_params += n_weights + n_biases;
            n_buffers += n_buf;
            shape = output;
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
    pub fn init(&self, seed: u64) -> (Vec<f32>, Vec<f32>) {
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
                    let c = l.input.channels;
                    p[..c].fill(1.0);
                    buffers[l.buffer_offset + c..l.buffer_offset + 2 * c].fill(1.0);
                }
                _ => {}
            }
        }
        (params, buffers)
    }
}

fn plan_layer(spec: &LayerSpec, s: Shape) -> Result<(Shape, usize, usize, usize)> {
    Ok(match *spec {
        LayerSpec::Conv2d {
            out_channels,
            kernel,
            stride,
            padding,
        } => {
            if out_channels == 0 || kernel == 0 || stride == 0 {
                return Err(Error::param(
                    "layers",
                    "conv2d needs out_channels, kernel and stride >= 1",
                ));
            }
            let (h, w) = (s.height + 2 * padding, s.width + 2 * padding);
            if kernel > h || kernel > w || padding >= kernel {
                return Err(Error::param(
                    "layers",
                    format!(
                        "conv2d kernel {kernel} with padding {padding} does not fit a {}x{} input (padding must be < kernel)",
                        s.width, s.height
                    ),
                ));
            }
            let out = Shape {
                height: (h - kernel) / stride + 1,
                width: (w - kernel) / stride + 1,
                channels: out_channels,
            };
            (
                out,
                kernel * kernel * s.channels * out_channels,
                out_channels,
                0,
            )
        }
        LayerSpec::Relu => (s, 0, 0, 0),
        LayerSpec::LeakyRelu { slope } => {
            if !(0.0..1.0).contains(&slope) {
                return Err(Error::param("layers", "leaky_relu slope must be in [0, 1)"));
            }
            (s, 0, 0, 0)
        }
        LayerSpec::MaxPool { size, stride } => {
            if size == 0 || stride == 0 || size > s.height || size > s.width {
                return Err(Error::param(
                    "layers",
                    format!(
                        "max_pool size {size} stride {stride} does not fit a {}x{} input",
                        s.width, s.height
                    ),
                ));
            }
            let out = Shape {
                height: (s.height - size) / stride + 1,
                width: (s.width - size) / stride + 1,
                channels: s.channels,
            };
            (out, 0, 0, 0)
        }
        LayerSpec::Dense { out_features } => {
            if out_features == 0 {
                return Err(Error::param("layers", "dense needs out_features >= 1"));
            }
            let out = Shape {
                height: 1,
                width: 1,
                channels: out_features,
            };
            (out, s.len() * out_features, out_features, 0)
        }
        LayerSpec::Dropout { rate } => {
            if !(0.0..1.0).contains(&rate) {
                return Err(Error::param("layers", "dropout rate must be in [0, 1)"));
            }
            (s, 0, 0, 0)
        }
        LayerSpec::BatchNorm { momentum, eps } => {
            if !(momentum > 0.0 && momentum <= 1.0) {
                return Err(Error::param(
                    "layers",
                    "batch_norm momentum must be in (0, 1]",
                ));
            }
            if !(eps > 0.0) || !eps.is_finite() {
                return Err(Error::param("layers", "batch_norm eps must be > 0"));
            }
            (s, s.channels, s.channels, 2 * s.channels)
        }
    })
}

/// What a layer keeps from its forward pass for the backward pass (reused across steps).
#[derive(Clone, Debug, Default)]
pub(crate) struct Cache {
    /// conv: im2col matrix (overwritten by `dcols` during backward).
    cols: Vec<f32>,
    /// dropout: per-value multiplier; batch norm: x̂.
    mask: Vec<f32>,
    /// batch norm: per-channel `1 / sqrt(σ² + eps)`.
    inv_std: Vec<f32>,
}

/// Activations, caches and gradients of one training step, reused across steps.
#[derive(Clone, Debug, Default)]
pub(crate) struct Workspace {
    /// `acts[0]` is the input batch, `acts[i + 1]` the output of layer `i`.
    pub acts: Vec<Vec<f32>>,
    caches: Vec<Cache>,
    /// Gradient of the loss with respect to every parameter.
    pub grads: Vec<f32>,
    /// Gradient with respect to the current layer's output (starts as dLoss/dlogits).
    pub dy: Vec<f32>,
    dx: Vec<f32>,
    partial: Vec<f32>,
}

impl Workspace {
    pub fn new(net: &Network) -> Self {
        Workspace {
            acts: vec![Vec::new(); net.layers.len() + 1],
            caches: vec![Cache::default(); net.layers.len()],
            grads: vec![0.0; net.n_params],
            ..Default::default()
        }
    }
}

fn resize(v: &mut Vec<f32>, n: usize) {
    v.resize(n, 0.0);
}

/// Training-mode forward pass of `n` samples already in `ws.acts[0]`; updates batch-norm
/// running statistics in `buffers`. `seed` drives dropout (one stream per layer and chunk).
pub(crate) fn forward_train(
    net: &Network,
    params: &[f32],
    buffers: &mut [f32],
    ws: &mut Workspace,
    n: usize,
    seed: u64,
) {
    for (i, l) in net.layers.iter().enumerate() {
        let (before, after) = ws.acts.split_at_mut(i + 1);
        let (x, y) = (&before[i][..n * l.input.len()], &mut after[0]);
        resize(y, n * l.output.len());
        let p = &params[l.param_offset..l.param_offset + l.n_params];
        let cache = &mut ws.caches[i];
        match l.spec {
            LayerSpec::BatchNorm { momentum, eps } => {
                let b = &mut buffers[l.buffer_offset..l.buffer_offset + l.n_buffers];
                batch_norm_train(l, p, b, momentum, eps, x, y, cache);
            }
            LayerSpec::Dropout { rate } => {
                resize(&mut cache.mask, y.len());
                let len = CHUNK * l.input.len();
                let layer_seed = Rng::stream(seed, i as u64).next_u64();
                (
                    x.par_chunks(len),
                    y.par_chunks_mut(len),
                    cache.mask.par_chunks_mut(len),
                )
                    .into_par_iter()
                    .enumerate()
                    .for_each(|(c, (x, y, m))| {
                        let mut rng = Rng::stream(layer_seed, c as u64);
                        let keep = 1.0 / (1.0 - rate);
                        for ((y, m), &x) in y.iter_mut().zip(m.iter_mut()).zip(x) {
                            *m = if rng.next_f32() < rate { 0.0 } else { keep };
                            *y = x * *m;
                        }
                    });
            }
            _ => {
                let (in_len, out_len) = (l.input.len(), l.output.len());
                match l.spec {
                    LayerSpec::Conv2d { .. } => {
                        let rows = l.output.height * l.output.width;
                        let kdim = l.n_weights / l.output.channels;
                        resize(&mut cache.cols, n * rows * kdim);
                        (
                            x.par_chunks(CHUNK * in_len),
                            y.par_chunks_mut(CHUNK * out_len),
                            cache.cols.par_chunks_mut(CHUNK * rows * kdim),
                        )
                            .into_par_iter()
                            .for_each(|(x, y, cols)| conv_forward(l, p, x, y, cols));
                    }
                    LayerSpec::MaxPool { .. } => {
                        (
                            x.par_chunks(CHUNK * in_len),
                            y.par_chunks_mut(CHUNK * out_len),
                        )
                            .into_par_iter()
                            .for_each(|(x, y)| max_pool_forward(l, x, y));
                    }
                    _ => (
                        x.par_chunks(CHUNK * in_len),
                        y.par_chunks_mut(CHUNK * out_len),
                    )
                        .into_par_iter()
                        .for_each(|(x, y)| stateless_forward(l, p, &[], x, y)),
                }
            }
        }
    }
}

/// Backward pass of the step run by [`forward_train`]: reads dLoss/dlogits from `ws.dy`
/// and writes every parameter's gradient into `ws.grads`. The input gradient of the first
/// layer is not computed.
pub(crate) fn backward(net: &Network, params: &[f32], ws: &mut Workspace, n: usize) {
    for (i, l) in net.layers.iter().enumerate().rev() {
        let need_dx = i > 0;
        let p = &params[l.param_offset..l.param_offset + l.n_params];
        let g = &mut ws.grads[l.param_offset..l.param_offset + l.n_params];
        let (x, y) = (
            &ws.acts[i][..n * l.input.len()],
            &ws.acts[i + 1][..n * l.output.len()],
        );
        let dy = &ws.dy[..n * l.output.len()];
        let cache = &mut ws.caches[i];
        let (in_len, out_len) = (l.input.len(), l.output.len());
        resize(&mut ws.dx, n * in_len);
        let dx = &mut ws.dx[..n * in_len];
        match l.spec {
            LayerSpec::Conv2d { .. } => {
                let rows = l.output.height * l.output.width;
                let kdim = l.n_weights / l.output.channels;
                let n_chunks = n.div_ceil(CHUNK);
                resize(&mut ws.partial, n_chunks * l.n_params);
                (
                    dy.par_chunks(CHUNK * out_len),
                    dx.par_chunks_mut(CHUNK * in_len),
                    cache.cols.par_chunks_mut(CHUNK * rows * kdim),
                    ws.partial.par_chunks_mut(l.n_params),
                )
                    .into_par_iter()
                    .for_each(|(dy, dx, cols, part)| {
                        conv_backward(l, p, dy, dx, cols, part, need_dx)
                    });
                sum_partials(&ws.partial[..n_chunks * l.n_params], g);
            }
            LayerSpec::Dense { .. } => {
                let (din, dout) = (in_len, out_len);
                let (gw, gb) = g.split_at_mut(l.n_weights);
                gw.par_chunks_mut(DENSE_ROWS * dout)
                    .enumerate()
                    .for_each(|(blk, gw)| {
                        let r0 = blk * DENSE_ROWS;
                        let rows = gw.len() / dout;
                        let xt = Mat {
                            data: &x[r0..],
                            row_stride: 1,
                            col_stride: din,
                        };
                        matmul(gw, rows, dout, n, xt, Mat::rows(dy, dout), false);
                    });
                gb.fill(0.0);
                for row in dy.chunks(dout) {
                    for (b, d) in gb.iter_mut().zip(row) {
                        *b += d;
                    }
                }
                if need_dx {
                    let w = &p[..l.n_weights];
                    (dy.par_chunks(CHUNK * dout), dx.par_chunks_mut(CHUNK * din))
                        .into_par_iter()
                        .for_each(|(dy, dx)| {
                            let m = dy.len() / dout;
                            matmul(
                                dx,
                                m,
                                din,
                                dout,
                                Mat::rows(dy, dout),
                                Mat::transposed(w, dout),
                                false,
                            );
                        });
                }
            }
            LayerSpec::BatchNorm { .. } => batch_norm_backward(l, p, g, dy, dx, cache),
            LayerSpec::MaxPool { .. } => {
                if need_dx {
                    (
                        x.par_chunks(CHUNK * in_len),
                        y.par_chunks(CHUNK * out_len),
                        dy.par_chunks(CHUNK * out_len),
                        dx.par_chunks_mut(CHUNK * in_len),
                    )
                        .into_par_iter()
                        .for_each(|(x, y, dy, dx)| max_pool_backward(l, x, y, dy, dx));
                }
            }
            LayerSpec::Relu | LayerSpec::LeakyRelu { .. } => {
                let slope = match l.spec {
                    LayerSpec::LeakyRelu { slope } => slope,
                    _ => 0.0,
                };
                (
                    dy.par_chunks(CHUNK * out_len),
                    y.par_chunks(CHUNK * out_len),
                    dx.par_chunks_mut(CHUNK * in_len),
                )
                    .into_par_iter()
                    .for_each(|(dy, y, dx)| {
                        if slope == 0.0 {
                            for ((dx, &d), &y) in dx.iter_mut().zip(dy).zip(y) {
                                *dx = if y > 0.0 { d } else { 0.0 };
                            }
                        } else {
                            for ((dx, &d), &y) in dx.iter_mut().zip(dy).zip(y) {
                                *dx = if y > 0.0 { d } else { slope * d };
                            }
                        }
                    });
            }
            LayerSpec::Dropout { .. } => {
                for ((dx, &d), &m) in dx.iter_mut().zip(dy).zip(&cache.mask) {
                    *dx = d * m;
                }
            }
        }
        std::mem::swap(&mut ws.dy, &mut ws.dx);
    }
}

/// Inference-mode forward pass of `n` samples `x` (any number; processed in chunks of
/// [`CHUNK`], the last one padded with zeros so every chunk has the same shape and a sample's
/// logits do not depend on its neighbours). Returns `n` rows of logits.
pub(crate) fn forward_eval(
    net: &Network,
    params: &[f32],
    buffers: &[f32],
    x: &[f32],
    n: usize,
) -> Vec<f32> {
    let (in_len, out_len) = (net.input.len(), net.output().len());
    let mut logits = vec![0f32; n * out_len];
    logits
        .par_chunks_mut(CHUNK * out_len)
        .zip(x[..n * in_len].par_chunks(CHUNK * in_len))
        .for_each_init(
            || (Vec::new(), Vec::new(), Cache::default()),
            |(a, b, cache), (out, x)| {
                a.clear();
                a.extend_from_slice(x);
                a.resize(CHUNK * in_len, 0.0);
                for l in &net.layers {
                    let p = &params[l.param_offset..l.param_offset + l.n_params];
                    let buf = &buffers[l.buffer_offset..l.buffer_offset + l.n_buffers];
                    resize(b, CHUNK * l.output.len());
                    match l.spec {
                        LayerSpec::Conv2d { .. } => {
                            let rows = l.output.height * l.output.width;
                            let kdim = l.n_weights / l.output.channels;
                            resize(&mut cache.cols, CHUNK * rows * kdim);
                            conv_forward(l, p, a, b, &mut cache.cols);
                        }
                        LayerSpec::MaxPool { .. } => max_pool_forward(l, a, b),
                        _ => stateless_forward(l, p, buf, a, b),
                    }
                    std::mem::swap(a, b);
                }
                out.copy_from_slice(&a[..out.len()]);
            },
        );
    logits
}

/// Softmax cross-entropy with label smoothing over the `n` rows of `logits` (`k` columns):
/// writes `dLoss/dlogits` (already divided by `n`) into `dz`; returns the summed loss and the
/// number of rows whose largest logit is the label.
pub(crate) fn softmax_cross_entropy(
    logits: &[f32],
    labels: &[u32],
    k: usize,
    smoothing: f32,
    dz: &mut [f32],
) -> (f64, usize) {
    let n = labels.len();
    let (mut loss, mut correct) = (0f64, 0);
    for ((z, d), &y) in logits.chunks(k).zip(dz.chunks_mut(k)).zip(labels) {
        let (best, mx) = argmax(z);
        correct += (best == y as usize) as usize;
        let sum: f32 = z.iter().map(|v| (v - mx).exp()).sum();
        let log_sum = sum.ln() + mx;
        for (j, (d, &v)) in d.iter_mut().zip(z).enumerate() {
            let q = smoothing / k as f32
                + if j == y as usize {
                    1.0 - smoothing
                } else {
                    0.0
                };
            loss += (q * (log_sum - v)) as f64;
            *d = (((v - mx).exp() / sum) - q) / n as f32;
        }
    }
    (loss, correct)
}

/// Index and value of the largest entry (the first one on ties; NaN never wins).
pub(crate) fn argmax(z: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::NEG_INFINITY);
    for (j, &v) in z.iter().enumerate() {
        if v > best.1 {
            best = (j, v);
        }
    }
    best
}

fn sum_partials(partials: &[f32], out: &mut [f32]) {
    out.fill(0.0);
    for part in partials.chunks(out.len()) {
        for (o, p) in out.iter_mut().zip(part) {
            *o += p;
        }
    }
}

/// Layers whose output depends only on the input and the parameters (dense, ReLU, leaky
/// ReLU, and at inference dropout and batch norm).
fn stateless_forward(l: &Layer, p: &[f32], buffers: &[f32], x: &[f32], y: &mut [f32]) {
    match l.spec {
        LayerSpec::Dense { out_features } => {
            let din = l.input.len();
            let m = x.len() / din;
            let (w, b) = p.split_at(l.n_weights);
            for row in y.chunks_mut(out_features) {
                row.copy_from_slice(b);
            }
            matmul(
                y,
                m,
                out_features,
                din,
                Mat::rows(x, din),
                Mat::rows(w, out_features),
                true,
            );
        }
        LayerSpec::Relu => {
            for (y, &x) in y.iter_mut().zip(x) {
                *y = x.max(0.0);
            }
        }
        LayerSpec::LeakyRelu { slope } => {
            for (y, &x) in y.iter_mut().zip(x) {
                *y = if x > 0.0 { x } else { slope * x };
            }
        }
        LayerSpec::Dropout { .. } => y.copy_from_slice(x),
        LayerSpec::BatchNorm { eps, .. } => {
            let c = l.input.channels;
            let (gamma, beta) = p.split_at(c);
            let (mean, var) = buffers.split_at(c);
            let scale: Vec<f32> = (0..c).map(|j| gamma[j] / (var[j] + eps).sqrt()).collect();
            for (y, x) in y.chunks_mut(c).zip(x.chunks(c)) {
                for j in 0..c {
                    y[j] = (x[j] - mean[j]) * scale[j] + beta[j];
                }
            }
        }
        LayerSpec::Conv2d { .. } | LayerSpec::MaxPool { .. } => {
            unreachable!("conv and max-pool have their own forward")
        }
    }
}

fn conv_params(l: &Layer) -> (usize, usize, usize) {
    match l.spec {
        LayerSpec::Conv2d {
            kernel,
            stride,
            padding,
            ..
        } => (kernel, stride, padding),
        _ => unreachable!("not a conv layer"),
    }
}

/// im2col of one sample: row `oy * ow + ox`, column `(ky * k + kx) * cin + ci`. For a
/// fixed `ky` the `k * cin` values are contiguous in both the input and the row, so a window
/// row inside the image is one copy.
fn im2col(l: &Layer, x: &[f32], cols: &mut [f32]) {
    let (k, s, pad) = conv_params(l);
    let (i, o) = (l.input, l.output);
    let cin = i.channels;
    let (kdim, run) = (k * k * cin, k * cin);
    for oy in 0..o.height {
        for ox in 0..o.width {
            let row = &mut cols[(oy * o.width + ox) * kdim..][..kdim];
            let ix0 = (ox * s) as isize - pad as isize;
            let inside_x = ix0 >= 0 && ix0 as usize + k <= i.width;
            for ky in 0..k {
                let iy = (oy * s + ky) as isize - pad as isize;
                let dst = &mut row[ky * run..(ky + 1) * run];
                if iy < 0 || iy >= i.height as isize {
                    dst.fill(0.0);
                } else if inside_x {
                    let src = (iy as usize * i.width + ix0 as usize) * cin;
                    copy(dst, &x[src..src + run]);
                } else {
                    for kx in 0..k {
                        let ix = ix0 + kx as isize;
                        let d = &mut dst[kx * cin..(kx + 1) * cin];
                        if ix < 0 || ix >= i.width as isize {
                            d.fill(0.0);
                        } else {
                            let src = (iy as usize * i.width + ix as usize) * cin;
                            copy(d, &x[src..src + cin]);
                        }
                    }
                }
            }
        }
    }
}

/// col2im of one sample: scatter-adds `dcols` back onto the input positions.
fn col2im(l: &Layer, dcols: &[f32], dx: &mut [f32]) {
    let (k, s, pad) = conv_params(l);
    let (i, o) = (l.input, l.output);
    let cin = i.channels;
    let (kdim, run) = (k * k * cin, k * cin);
    dx.fill(0.0);
    for oy in 0..o.height {
        for ox in 0..o.width {
            let row = &dcols[(oy * o.width + ox) * kdim..][..kdim];
            let ix0 = (ox * s) as isize - pad as isize;
            let inside_x = ix0 >= 0 && ix0 as usize + k <= i.width;
            for ky in 0..k {
                let iy = (oy * s + ky) as isize - pad as isize;
                if iy < 0 || iy >= i.height as isize {
                    continue;
                }
                let src = &row[ky * run..(ky + 1) * run];
                if inside_x {
                    let dst = (iy as usize * i.width + ix0 as usize) * cin;
                    add(&mut dx[dst..dst + run], src);
                } else {
                    for kx in 0..k {
                        let ix = ix0 + kx as isize;
                        if ix >= 0 && ix < i.width as isize {
                            let dst = (iy as usize * i.width + ix as usize) * cin;
                            add(&mut dx[dst..dst + cin], &src[kx * cin..(kx + 1) * cin]);
                        }
                    }
                }
            }
        }
    }
}

/// `dst = src` as a plain loop (short runs: a `memcpy` call costs more than the copy).
#[inline]
fn copy(dst: &mut [f32], src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

/// `dst += src`.
#[inline]
fn add(dst: &mut [f32], src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += *s;
    }
}

/// Forward of one chunk of samples: im2col into `cols`, then `y = cols W + b`.
fn conv_forward(l: &Layer, p: &[f32], x: &[f32], y: &mut [f32], cols: &mut [f32]) {
    let rows = l.output.height * l.output.width;
    let cout = l.output.channels;
    let kdim = l.n_weights / cout;
    let n = x.len() / l.input.len();
    for (x, c) in x.chunks(l.input.len()).zip(cols.chunks_mut(rows * kdim)) {
        im2col(l, x, c);
    }
    let (w, b) = p.split_at(l.n_weights);
    for row in y.chunks_mut(cout) {
        row.copy_from_slice(b);
    }
    matmul(
        y,
        n * rows,
        cout,
        kdim,
        Mat::rows(cols, kdim),
        Mat::rows(w, cout),
        true,
    );
}

/// Backward of one chunk: `part` receives this chunk's `dW` and `db`; `dx` the input
/// gradient (when `need_dx`), through `dcols` written over `cols`.
fn conv_backward(
    l: &Layer,
    p: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    cols: &mut [f32],
    part: &mut [f32],
    need_dx: bool,
) {
    let rows = l.output.height * l.output.width;
    let cout = l.output.channels;
    let kdim = l.n_weights / cout;
    let m = dy.len() / cout;
    let (gw, gb) = part.split_at_mut(l.n_weights);
    matmul(
        gw,
        kdim,
        cout,
        m,
        Mat::transposed(cols, kdim),
        Mat::rows(dy, cout),
        false,
    );
    gb.fill(0.0);
    for row in dy.chunks(cout) {
        for (b, d) in gb.iter_mut().zip(row) {
            *b += d;
        }
    }
    if need_dx {
        let w = &p[..l.n_weights];
        let dcols = &mut cols[..m * kdim];
        matmul(
            dcols,
            m,
            kdim,
            cout,
            Mat::rows(dy, cout),
            Mat::transposed(w, cout),
            false,
        );
        for (dc, dx) in dcols.chunks(rows * kdim).zip(dx.chunks_mut(l.input.len())) {
            col2im(l, dc, dx);
        }
    }
}

fn pool_params(l: &Layer) -> (usize, usize) {
    match l.spec {
        LayerSpec::MaxPool { size, stride } => (size, stride),
        _ => unreachable!("not a max-pool layer"),
    }
}

/// Max-pool of a chunk of samples (vectorised over channels; a NaN never wins).
fn max_pool_forward(l: &Layer, x: &[f32], y: &mut [f32]) {
    let (size, stride) = pool_params(l);
    let (i, o) = (l.input, l.output);
    let c = i.channels;
    for (x, y) in x.chunks(i.len()).zip(y.chunks_mut(o.len())) {
        for oy in 0..o.height {
            for ox in 0..o.width {
                let y = &mut y[(oy * o.width + ox) * c..][..c];
                y.fill(f32::NEG_INFINITY);
                for ky in 0..size {
                    for kx in 0..size {
                        let src = ((oy * stride + ky) * i.width + ox * stride + kx) * c;
                        for (y, &v) in y.iter_mut().zip(&x[src..src + c]) {
                            *y = y.max(v);
                        }
                    }
                }
            }
        }
    }
}

/// Backward of max-pool for a chunk: each output gradient goes to the first input of its
/// window (in `ky`, `kx` order) equal to the output, i.e. the forward pass's winner. Finding
/// it again here, instead of storing its index, keeps both passes branch-free.
fn max_pool_backward(l: &Layer, x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32]) {
    let (size, stride) = pool_params(l);
    let (i, o) = (l.input, l.output);
    let c = i.channels;
    dx.fill(0.0);
    let mut left = vec![0f32; c];
    for (((x, y), dy), dx) in x
        .chunks(i.len())
        .zip(y.chunks(o.len()))
        .zip(dy.chunks(o.len()))
        .zip(dx.chunks_mut(i.len()))
    {
        for oy in 0..o.height {
            for ox in 0..o.width {
                let out = (oy * o.width + ox) * c;
                let y = &y[out..out + c];
                left.copy_from_slice(&dy[out..out + c]);
                for ky in 0..size {
                    for kx in 0..size {
                        let src = ((oy * stride + ky) * i.width + ox * stride + kx) * c;
                        let (d, v) = (&mut dx[src..src + c], &x[src..src + c]);
                        for j in 0..c {
                            // 1 for the winner, as a number so the loop vectorises.
                            let win = (v[j] == y[j]) as u32 as f32;
                            d[j] += win * left[j];
                            left[j] -= win * left[j];
                        }
                    }
                }
            }
        }
    }
}

/// Per-channel sums of `a` (and of `a * b` when `b` is given) over all rows, in f64,
/// computed per chunk in parallel and added in chunk order.
fn channel_sums(a: &[f32], b: Option<&[f32]>, c: usize, chunk: usize) -> (Vec<f64>, Vec<f64>) {
    let parts: Vec<(Vec<f64>, Vec<f64>)> = a
        .par_chunks(chunk)
        .enumerate()
        .map(|(k, a)| {
            let (mut s1, mut s2) = (vec![0f64; c], vec![0f64; c]);
            let b = b.map(|b| &b[k * chunk..k * chunk + a.len()]);
            for (r, row) in a.chunks(c).enumerate() {
                for j in 0..c {
                    let v = row[j] as f64;
                    s1[j] += v;
                    s2[j] += match b {
                        Some(b) => v * b[r * c + j] as f64,
                        None => v * v,
                    };
                }
            }
            (s1, s2)
        })
        .collect();
    let (mut s1, mut s2) = (vec![0f64; c], vec![0f64; c]);
    for (p1, p2) in parts {
        for j in 0..c {
            s1[j] += p1[j];
            s2[j] += p2[j];
        }
    }
    (s1, s2)
}

#[allow(clippy::too_many_arguments)]
fn batch_norm_train(
    l: &Layer,
    p: &[f32],
    buffers: &mut [f32],
    momentum: f32,
    eps: f32,
    x: &[f32],
    y: &mut [f32],
    cache: &mut Cache,
) {
    let c = l.input.channels;
    let m = (x.len() / c) as f64;
    let chunk = CHUNK * l.input.len();
    let (s1, s2) = channel_sums(x, None, c, chunk);
    let mean: Vec<f32> = s1.iter().map(|s| (s / m) as f32).collect();
    let var: Vec<f64> = (0..c)
        .map(|j| (s2[j] / m - (s1[j] / m).powi(2)).max(0.0))
        .collect();
    cache.inv_std = var
        .iter()
        .map(|v| (1.0 / (v + eps as f64).sqrt()) as f32)
        .collect();
    let (running_mean, running_var) = buffers.split_at_mut(c);
    for j in 0..c {
        running_mean[j] = (1.0 - momentum) * running_mean[j] + momentum * mean[j];
        let unbiased = if m > 1.0 {
            var[j] * m / (m - 1.0)
        } else {
            var[j]
        };
        running_var[j] = (1.0 - momentum) * running_var[j] + momentum * unbiased as f32;
    }
    resize(&mut cache.mask, x.len());
    let (gamma, beta) = p.split_at(c);
    let inv_std = &cache.inv_std;
    (
        x.par_chunks(chunk),
        y.par_chunks_mut(chunk),
        cache.mask.par_chunks_mut(chunk),
    )
        .into_par_iter()
        .for_each(|(x, y, xhat)| {
            for ((x, y), xh) in x.chunks(c).zip(y.chunks_mut(c)).zip(xhat.chunks_mut(c)) {
                for j in 0..c {
                    xh[j] = (x[j] - mean[j]) * inv_std[j];
                    y[j] = gamma[j] * xh[j] + beta[j];
                }
            }
        });
}

fn batch_norm_backward(
    l: &Layer,
    p: &[f32],
    g: &mut [f32],
    dy: &[f32],
    dx: &mut [f32],
    cache: &Cache,
) {
    let c = l.input.channels;
    let m = (dy.len() / c) as f32;
    let chunk = CHUNK * l.input.len();
    let xhat = &cache.mask[..dy.len()];
    let (sum_dy, sum_dy_xhat) = channel_sums(dy, Some(xhat), c, chunk);
    let (dgamma, dbeta) = g.split_at_mut(c);
    for j in 0..c {
        dgamma[j] = sum_dy_xhat[j] as f32;
        dbeta[j] = sum_dy[j] as f32;
    }
    let gamma = &p[..c];
    let k: Vec<f32> = (0..c).map(|j| gamma[j] * cache.inv_std[j] / m).collect();
    let (sd, sdx): (Vec<f32>, Vec<f32>) = (0..c)
        .map(|j| (sum_dy[j] as f32, sum_dy_xhat[j] as f32))
        .unzip();
    (
        dy.par_chunks(chunk),
        xhat.par_chunks(chunk),
        dx.par_chunks_mut(chunk),
    )
        .into_par_iter()
        .for_each(|(dy, xh, dx)| {
            for ((dy, xh), dx) in dy.chunks(c).zip(xh.chunks(c)).zip(dx.chunks_mut(c)) {
                for j in 0..c {
                    dx[j] = k[j] * (m * dy[j] - sd[j] - xh[j] * sdx[j]);
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finite-difference check of one network: the loss is `Σ R ⊙ output` for a fixed random
    /// `R`, so `dLoss/doutput = R`. Compares the analytic gradient of every parameter (or the
    /// 40 largest, for big layers) and of the input with central differences in f64 of the
    /// f32 forward pass.
    fn grad_check(specs: &[LayerSpec], input: Shape, n: usize, seed: u64) {
        let net = Network::plan(specs, input).unwrap();
        let (mut params, buffers) = net.init(seed);
        let mut rng = Rng::new(seed + 1);
        for p in params.iter_mut() {
            *p += rng.uniform(-0.1, 0.1);
        }
        let x: Vec<f32> = (0..n * input.len())
            .map(|_| rng.uniform(-1.0, 1.0))
            .collect();
        let out_len = n * net.output().len();
        let r: Vec<f32> = (0..out_len).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let loss = |params: &[f32], x: &[f32]| -> f64 {
            let mut ws = Workspace::new(&net);
            ws.acts[0] = x.to_vec();
            let mut b = buffers.clone();
            forward_train(&net, params, &mut b, &mut ws, n, 7);
            ws.acts
                .last()
                .unwrap()
                .iter()
                .zip(&r)
                .map(|(a, b)| (*a as f64) * (*b as f64))
                .sum()
        };
        // Every layer's input gradient is checked through the parameter gradients of the
        // layers before it (each tested layer comes after a layer with parameters).
        let mut ws = Workspace::new(&net);
        ws.acts[0] = x.clone();
        let mut b = buffers.clone();
        forward_train(&net, &params, &mut b, &mut ws, n, 7);
        ws.dy = r.clone();
        backward(&net, &params, &mut ws, n);
        let analytic = ws.grads.clone();
        let central = |i: usize, h: f32| {
            let mut p = params.clone();
            p[i] += h;
            let lp = loss(&p, &x);
            p[i] -= 2.0 * h;
            let lm = loss(&p, &x);
            (lp - lm) / (2.0 * h as f64)
        };
        let (mut worst, mut checked) = (0f64, 0);
        let mut idx: Vec<usize> = (0..params.len()).collect();
        idx.sort_by(|&a, &b| analytic[b].abs().total_cmp(&analytic[a].abs()));
        for &i in idx.iter().take(40) {
            // A step that moves a ReLU input or a max-pool winner across its kink makes the
            // difference quotient meaningless; such entries disagree between two step sizes
            // and are skipped.
            let (num, half) = (central(i, 2e-3), central(i, 1e-3));
            let rel = |a: f64, b: f64| (a - b).abs() / a.abs().max(b.abs()).max(1e-2);
            if rel(num, half) > 2e-3 {
                continue;
            }
            checked += 1;
            worst = worst.max(rel(num, analytic[i] as f64));
        }
        assert!(
            checked >= 20.min(params.len()),
            "{specs:?}: only {checked} entries checked"
        );
        assert!(worst < 1e-2, "{specs:?}: worst relative error {worst}");
    }

    fn shape(h: usize, w: usize, c: usize) -> Shape {
        Shape {
            height: h,
            width: w,
            channels: c,
        }
    }

    fn conv(out_channels: usize, kernel: usize, stride: usize, padding: usize) -> LayerSpec {
        LayerSpec::Conv2d {
            out_channels,
            kernel,
            stride,
            padding,
        }
    }

    #[test]
    fn conv_gradients_match_finite_differences() {
        grad_check(&[conv(3, 3, 1, 1), conv(2, 3, 2, 1)], shape(7, 6, 2), 3, 1);
        grad_check(&[conv(4, 2, 1, 0), conv(2, 1, 1, 0)], shape(5, 5, 1), 2, 2);
    }

    #[test]
    fn relu_and_leaky_relu_gradients_match_finite_differences() {
        grad_check(
            &[conv(3, 3, 1, 1), LayerSpec::Relu, conv(2, 3, 1, 0)],
            shape(6, 6, 1),
            2,
            3,
        );
        grad_check(
            &[
                conv(3, 3, 1, 1),
                LayerSpec::LeakyRelu { slope: 0.1 },
                LayerSpec::Dense { out_features: 4 },
            ],
            shape(5, 4, 2),
            3,
            4,
        );
    }

    #[test]
    fn max_pool_gradients_match_finite_differences() {
        grad_check(
            &[
                conv(3, 3, 1, 1),
                LayerSpec::MaxPool { size: 2, stride: 2 },
                conv(2, 3, 1, 1),
            ],
            shape(6, 6, 1),
            2,
            // Seed 5 puts two max-pool candidates within 1e-3 of each other (a kink).
            15,
        );
        grad_check(
            &[
                conv(2, 3, 1, 1),
                LayerSpec::MaxPool { size: 3, stride: 2 },
                LayerSpec::Dense { out_features: 3 },
            ],
            shape(7, 7, 1),
            2,
            6,
        );
    }

    #[test]
    fn dense_gradients_match_finite_differences() {
        grad_check(
            &[
                LayerSpec::Dense { out_features: 5 },
                LayerSpec::Dense { out_features: 3 },
            ],
            shape(3, 2, 2),
            11,
            7,
        );
    }

    #[test]
    fn dropout_gradients_match_finite_differences() {
        // The mask is drawn from the step seed, so it is the same in every evaluation.
        grad_check(
            &[
                conv(3, 3, 1, 1),
                LayerSpec::Dropout { rate: 0.3 },
                LayerSpec::Dense { out_features: 3 },
            ],
            shape(4, 4, 1),
            9,
            8,
        );
    }

    #[test]
    fn batch_norm_gradients_match_finite_differences() {
        let bn = LayerSpec::BatchNorm {
            momentum: 0.1,
            eps: 1e-5,
        };
        grad_check(
            &[conv(3, 3, 1, 1), bn.clone(), conv(2, 3, 1, 1)],
            shape(5, 5, 1),
            3,
            9,
        );
        grad_check(
            &[
                LayerSpec::Dense { out_features: 6 },
                bn,
                LayerSpec::Dense { out_features: 3 },
            ],
            shape(2, 2, 1),
            10,
            10,
        );
    }

    #[test]
    fn cross_entropy_gradient_matches_finite_differences() {
        let mut rng = Rng::new(3);
        let (n, k) = (4, 5);
        let z: Vec<f32> = (0..n * k).map(|_| rng.uniform(-2.0, 2.0)).collect();
        let labels = [0, 3, 4, 1];
        for smoothing in [0.0, 0.1] {
            let mut dz = vec![0f32; n * k];
            let (loss, _) = softmax_cross_entropy(&z, &labels, k, smoothing, &mut dz);
            let mut scratch = vec![0f32; n * k];
            for i in 0..n * k {
                let h = 1e-2;
                let mut zp = z.clone();
                zp[i] += h;
                let lp = softmax_cross_entropy(&zp, &labels, k, smoothing, &mut scratch).0;
                zp[i] -= 2.0 * h;
                let lm = softmax_cross_entropy(&zp, &labels, k, smoothing, &mut scratch).0;
                let num = (lp - lm) / (2.0 * h as f64) / n as f64;
                assert!((num - dz[i] as f64).abs() < 1e-3, "{num} vs {}", dz[i]);
            }
            assert!(loss > 0.0);
        }
    }

    #[test]
    fn cross_entropy_of_a_hand_computed_case() {
        // Two equal logits, label 0: softmax = 1/2, loss = ln 2; with smoothing 0.2 over
        // K = 2 the target is (0.9, 0.1): loss still ln 2, gradient (0.5 - 0.9, 0.5 - 0.1).
        let mut dz = [0f32; 2];
        let (loss, correct) = softmax_cross_entropy(&[1.0, 1.0], &[0], 2, 0.2, &mut dz);
        assert!((loss - std::f64::consts::LN_2).abs() < 1e-6);
        assert_eq!(correct, 1);
        assert!((dz[0] + 0.4).abs() < 1e-6 && (dz[1] - 0.4).abs() < 1e-6);
    }

    #[test]
    fn conv_matches_direct_cross_correlation() {
        let l_spec = conv(2, 3, 2, 1);
        let input = shape(5, 6, 2);
        let net = Network::plan(std::slice::from_ref(&l_spec), input).unwrap();
        let (params, buffers) = net.init(4);
        let mut rng = Rng::new(9);
        let x: Vec<f32> = (0..input.len()).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let y = forward_eval(&net, &params, &buffers, &x, 1);
        let l = &net.layers[0];
        let o = l.output;
        assert_eq!((o.height, o.width), (3, 3));
        for oy in 0..o.height {
            for ox in 0..o.width {
                for co in 0..2 {
                    let mut s = params[l.n_weights + co] as f64;
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let (iy, ix) = ((oy * 2 + ky) as isize - 1, (ox * 2 + kx) as isize - 1);
                            if iy < 0 || ix < 0 || iy >= 5 || ix >= 6 {
                                continue;
                            }
                            for ci in 0..2 {
                                let xv = x[(iy as usize * 6 + ix as usize) * 2 + ci] as f64;
                                s += xv * params[((ky * 3 + kx) * 2 + ci) * 2 + co] as f64;
                            }
                        }
                    }
                    let got = y[(oy * o.width + ox) * 2 + co] as f64;
                    assert!((got - s).abs() < 1e-5, "{got} vs {s}");
                }
            }
        }
    }

    #[test]
    fn eval_matches_train_forward_without_stochastic_layers() {
        let specs = [
            conv(4, 3, 1, 1),
            LayerSpec::Relu,
            LayerSpec::MaxPool { size: 2, stride: 2 },
            LayerSpec::Dense { out_features: 3 },
        ];
        let input = shape(6, 6, 1);
        let net = Network::plan(&specs, input).unwrap();
        let (params, mut buffers) = net.init(1);
        let mut rng = Rng::new(2);
        let n = 11;
        let x: Vec<f32> = (0..n * input.len())
            .map(|_| rng.uniform(0.0, 1.0))
            .collect();
        let eval = forward_eval(&net, &params, &buffers, &x, n);
        let mut ws = Workspace::new(&net);
        ws.acts[0] = x.clone();
        forward_train(&net, &params, &mut buffers, &mut ws, n, 0);
        for (a, b) in eval.iter().zip(ws.acts.last().unwrap()) {
            assert!((a - b).abs() < 1e-5);
        }
        // A sample's logits do not depend on the other samples of its batch.
        let single = forward_eval(&net, &params, &buffers, &x[5 * 36..6 * 36], 1);
        assert_eq!(single, eval[15..18]);
    }

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
