//! The passes over the network plan: training forward, backward and inference forward, each
//! a loop over the layers that hands every layer to its kind's module.
//!
//! Parallelism: every pass splits the batch into fixed chunks of [`SAMPLE_CHUNK`] samples, or the
//! output of a weight gradient into fixed row blocks; partial sums are added in chunk order.
//! Nothing depends on the number of threads.

use rayon::prelude::*;

use super::network::{Layer, LayerSpec, Network};
use super::{activation, conv, dense, dropout, norm, pool};

/// Samples per parallel task. Fixed, so results do not depend on the thread count.
pub const SAMPLE_CHUNK: usize = 16;

/// What a layer keeps from its forward pass for the backward pass (reused across steps).
#[derive(Clone, Debug, Default)]
pub(super) struct Cache {
    /// conv: im2col matrix (overwritten by `dcols` during backward).
    pub cols: Vec<f32>,
    /// dropout: per-value multiplier; batch norm: x̂.
    pub mask: Vec<f32>,
    /// batch norm: per-channel `1 / sqrt(σ² + eps)`.
    pub inv_std: Vec<f32>,
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

/// What the backward pass of a layer with parameters reads and writes, for a batch.
pub(super) struct Backward<'a> {
    /// The layer.
    pub layer: &'a Layer,
    /// Its parameters.
    pub params: &'a [f32],
    /// Receives the gradient of its parameters.
    pub grads: &'a mut [f32],
    /// Gradient with respect to its output.
    pub dy: &'a [f32],
    /// Receives the gradient with respect to its input, when `need_dx`.
    pub dx: &'a mut [f32],
    /// Samples in the batch.
    pub n: usize,
    /// Whether the input gradient is needed (not for the first layer).
    pub need_dx: bool,
}

pub(super) fn resize(v: &mut Vec<f32>, n: usize) {
    v.resize(n, 0.0);
}

/// A slice the passes cut into chunks processed in parallel: shared (`&[f32]`) or exclusive
/// (`&mut [f32]`).
pub(super) trait ParSlice<'a>: Send {
    /// One chunk.
    type Chunk: Send;
    /// The chunks.
    type Chunks: IndexedParallelIterator<Item = Self::Chunk>;
    /// Chunks of `len` values (the last one may be shorter).
    fn par_chunks_of(self, len: usize) -> Self::Chunks;
}

impl<'a> ParSlice<'a> for &'a [f32] {
    type Chunk = &'a [f32];
    type Chunks = rayon::slice::Chunks<'a, f32>;
    fn par_chunks_of(self, len: usize) -> Self::Chunks {
        self.par_chunks(len)
    }
}

impl<'a> ParSlice<'a> for &'a mut [f32] {
    type Chunk = &'a mut [f32];
    type Chunks = rayon::slice::ChunksMut<'a, f32>;
    fn par_chunks_of(self, len: usize) -> Self::Chunks {
        self.par_chunks_mut(len)
    }
}

/// Runs `f` on matching chunks of [`SAMPLE_CHUNK`] samples of `x` (`in_len` values per sample) and
/// `y` (`out_len` per sample), in parallel.
pub(super) fn per_chunk(
    x: &[f32],
    y: &mut [f32],
    in_len: usize,
    out_len: usize,
    f: impl Fn(&[f32], &mut [f32]) + Sync + Send,
) {
    (
        x.par_chunks(SAMPLE_CHUNK * in_len),
        y.par_chunks_mut(SAMPLE_CHUNK * out_len),
    )
        .into_par_iter()
        .for_each(|(x, y)| f(x, y));
}

/// Runs `f(k, a_k, b_k, c_k)` on the `k`-th chunks of three slices (`lens` values per chunk)
/// for every `k`, in parallel.
pub(super) fn zip3<'a, A: ParSlice<'a>, B: ParSlice<'a>, C: ParSlice<'a>>(
    (a, b, c): (A, B, C),
    lens: [usize; 3],
    f: impl Fn(usize, A::Chunk, B::Chunk, C::Chunk) + Sync + Send,
) {
    (
        a.par_chunks_of(lens[0]),
        b.par_chunks_of(lens[1]),
        c.par_chunks_of(lens[2]),
    )
        .into_par_iter()
        .enumerate()
        .for_each(|(k, (a, b, c))| f(k, a, b, c));
}

/// [`zip3`] for four slices.
pub(super) fn zip4<'a, A: ParSlice<'a>, B: ParSlice<'a>, C: ParSlice<'a>, D: ParSlice<'a>>(
    (a, b, c, d): (A, B, C, D),
    lens: [usize; 4],
    f: impl Fn(A::Chunk, B::Chunk, C::Chunk, D::Chunk) + Sync + Send,
) {
    (
        a.par_chunks_of(lens[0]),
        b.par_chunks_of(lens[1]),
        c.par_chunks_of(lens[2]),
        d.par_chunks_of(lens[3]),
    )
        .into_par_iter()
        .for_each(|(a, b, c, d)| f(a, b, c, d));
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
        let (in_len, out_len) = (l.input.len(), l.output.len());
        match l.spec {
            LayerSpec::BatchNorm { momentum, eps } => {
                let b = &mut buffers[l.buffer_offset..l.buffer_offset + l.n_buffers];
                norm::forward_train(l, p, b, momentum, eps, x, y, cache);
            }
            LayerSpec::Dropout { rate } => dropout::forward_train(l, rate, i, seed, x, y, cache),
            LayerSpec::Conv2d { .. } => conv::forward_train(l, p, x, y, cache, n),
            LayerSpec::MaxPool { .. } => {
                per_chunk(x, y, in_len, out_len, |x, y| pool::forward(l, x, y))
            }
            LayerSpec::Dense { .. } => {
                per_chunk(x, y, in_len, out_len, |x, y| dense::forward(l, p, x, y))
            }
            LayerSpec::Relu => per_chunk(x, y, in_len, out_len, activation::relu_forward),
            LayerSpec::LeakyRelu { slope } => per_chunk(x, y, in_len, out_len, |x, y| {
                activation::leaky_relu_forward(slope, x, y)
            }),
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
        resize(&mut ws.dx, n * l.input.len());
        let dx = &mut ws.dx[..n * l.input.len()];
        let with_params = |grads, dx| Backward {
            layer: l,
            params: p,
            grads,
            dy,
            dx,
            n,
            need_dx,
        };
        match l.spec {
            LayerSpec::Conv2d { .. } => {
                conv::backward(with_params(g, dx), &mut cache.cols, &mut ws.partial)
            }
            LayerSpec::Dense { .. } => dense::backward(with_params(g, dx), x),
            LayerSpec::BatchNorm { .. } => norm::backward(with_params(g, dx), cache),
            LayerSpec::MaxPool { .. } => {
                if need_dx {
                    pool::backward(l, x, y, dy, dx);
                }
            }
            LayerSpec::Relu => activation::backward(l, 0.0, y, dy, dx),
            LayerSpec::LeakyRelu { slope } => activation::backward(l, slope, y, dy, dx),
            LayerSpec::Dropout { .. } => dropout::backward(dy, dx, cache),
        }
        std::mem::swap(&mut ws.dy, &mut ws.dx);
    }
}

/// Inference-mode forward pass of `n` samples `x` (any number; processed in chunks of
/// [`SAMPLE_CHUNK`], the last one padded with zeros so every chunk has the same shape and a sample's
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
        .par_chunks_mut(SAMPLE_CHUNK * out_len)
        .zip(x[..n * in_len].par_chunks(SAMPLE_CHUNK * in_len))
        .for_each_init(
            || (Vec::new(), Vec::new(), Cache::default()),
            |(a, b, cache), (out, x)| {
                a.clear();
                a.extend_from_slice(x);
                a.resize(SAMPLE_CHUNK * in_len, 0.0);
                for l in &net.layers {
                    let p = &params[l.param_offset..l.param_offset + l.n_params];
                    let buf = &buffers[l.buffer_offset..l.buffer_offset + l.n_buffers];
                    resize(b, SAMPLE_CHUNK * l.output.len());
                    match l.spec {
                        LayerSpec::Conv2d { .. } => {
                            resize(&mut cache.cols, SAMPLE_CHUNK * conv::cols_len(l));
                            conv::forward(l, p, a, b, &mut cache.cols);
                        }
                        LayerSpec::MaxPool { .. } => pool::forward(l, a, b),
                        LayerSpec::Dense { .. } => dense::forward(l, p, a, b),
                        LayerSpec::Relu => activation::relu_forward(a, b),
                        LayerSpec::LeakyRelu { slope } => {
                            activation::leaky_relu_forward(slope, a, b)
                        }
                        LayerSpec::Dropout { .. } => b.copy_from_slice(a),
                        LayerSpec::BatchNorm { eps, .. } => {
                            norm::forward_eval(l, p, buf, eps, a, b)
                        }
                    }
                    std::mem::swap(a, b);
                }
                out.copy_from_slice(&a[..out.len()]);
            },
        );
    logits
}

/// The finite-difference check of the layer tests, and small constructors.
#[cfg(test)]
pub(super) mod check {
    use super::*;
    use crate::cnn::network::Shape;
    use crate::rng::Rng;

    /// One gradient check: the layers, the input shape, the batch size and the seed.
    pub type Case = (Vec<LayerSpec>, Shape, usize, u64);

    /// Runs [`grad_check`] on every case.
    pub fn grad_check_all(cases: &[Case]) {
        for (specs, input, n, seed) in cases {
            grad_check(specs, *input, *n, *seed);
        }
    }

    /// Finite-difference check of one network: the loss is `Σ R ⊙ output` for a fixed random
    /// `R`, so `dLoss/doutput = R`. Compares the analytic gradient of every parameter (or the
    /// 40 largest, for big layers) and of the input with central differences in f64 of the
    /// f32 forward pass.
    pub fn grad_check(specs: &[LayerSpec], input: Shape, n: usize, seed: u64) {
        let net = Network::plan(specs, input).unwrap();
        let init = net.init(seed);
        let (mut params, buffers) = (init.params, init.buffers);
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

    pub fn shape(h: usize, w: usize, c: usize) -> Shape {
        Shape {
            height: h,
            width: w,
            channels: c,
        }
    }

    pub fn conv(out_channels: usize, kernel: usize, stride: usize, padding: usize) -> LayerSpec {
        LayerSpec::Conv2d {
            out_channels,
            kernel,
            stride,
            padding,
        }
    }

    pub fn dense(out_features: usize) -> LayerSpec {
        LayerSpec::Dense { out_features }
    }
}

#[cfg(test)]
mod tests {
    use super::check::{conv, dense, shape};
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn eval_matches_train_forward_without_stochastic_layers() {
        let specs = [
            conv(4, 3, 1, 1),
            LayerSpec::Relu,
            LayerSpec::MaxPool { size: 2, stride: 2 },
            dense(3),
        ];
        let input = shape(6, 6, 1);
        let net = Network::plan(&specs, input).unwrap();
        let init = net.init(1);
        let (params, mut buffers) = (init.params, init.buffers);
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
}
