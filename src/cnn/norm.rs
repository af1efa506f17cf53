//! Batch normalisation (Ioffe & Szegedy 2015), per channel over all samples and pixels of
//! the batch: `x̂ = (x - μ) / sqrt(σ² + eps)`, `y = γ x̂ + β`, with the biased batch
//! variance; the running statistics follow `r = (1 - momentum) r + momentum · batch`
//! (unbiased variance, as PyTorch). Inference uses the running statistics.
//! Backward: `dx = γ / (M sqrt(σ² + eps)) (M dy - Σdy - x̂ Σ(dy x̂))`.
//!
//! Parameters: the `c` values of γ, then the `c` of β; buffers: the running mean, then the
//! running variance. Channel sums are taken in f64 per chunk of samples and added in chunk
//! order.

use rayon::prelude::*;

use super::network::{Layer, LayerSize, Shape};
use super::pass::{Backward, Cache, SAMPLE_CHUNK, resize, zip3};
use crate::error::{Error, Result};

/// Batch norm keeps its input's shape and holds `2c` parameters and `2c` buffers.
pub(super) fn plan(momentum: f32, eps: f32, s: Shape) -> Result<LayerSize> {
    if !(momentum > 0.0 && momentum <= 1.0) {
        return Err(Error::param(
            "layers",
            "batch_norm momentum must be in (0, 1]",
        ));
    }
    if !(eps > 0.0) || !eps.is_finite() {
        return Err(Error::param("layers", "batch_norm eps must be > 0"));
    }
    Ok(LayerSize {
        output: s,
        n_weights: s.channels,
        n_biases: s.channels,
        n_buffers: 2 * s.channels,
    })
}

/// Initial `γ = 1` (β stays 0) and running variance 1 (the mean stays 0) of `c` channels.
pub(super) fn init(c: usize, params: &mut [f32], buffers: &mut [f32]) {
    params[..c].fill(1.0);
    buffers[c..2 * c].fill(1.0);
}

/// Per-channel sums of `a` (and of `a * b` when `b` is given) over all rows, in f64,
/// computed per chunk in parallel and added in chunk order.
fn channel_sums(a: &[f32], b: Option<&[f32]>, c: usize, chunk: usize) -> ChannelSums {
    let parts: Vec<ChannelSums> = a
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
            ChannelSums { s1, s2 }
        })
        .collect();
    let (mut s1, mut s2) = (vec![0f64; c], vec![0f64; c]);
    for p in parts {
        for j in 0..c {
            s1[j] += p.s1[j];
            s2[j] += p.s2[j];
        }
    }
    ChannelSums { s1, s2 }
}

/// Per-channel `Σ a` and `Σ a b` (or `Σ a²`).
struct ChannelSums {
    s1: Vec<f64>,
    s2: Vec<f64>,
}

/// Training forward: normalises with the batch statistics, updates the running statistics
/// in `buffers`, keeps x̂ in `cache.mask` and `1 / sqrt(σ² + eps)` in `cache.inv_std`.
#[allow(clippy::too_many_arguments)]
pub(super) fn forward_train(
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
    let chunk = SAMPLE_CHUNK * l.input.len();
    let ChannelSums { s1, s2 } = channel_sums(x, None, c, chunk);
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
    zip3((x, y, &mut cache.mask[..]), [chunk; 3], |_, x, y, xhat| {
        for ((x, y), xh) in x.chunks(c).zip(y.chunks_mut(c)).zip(xhat.chunks_mut(c)) {
            for j in 0..c {
                xh[j] = (x[j] - mean[j]) * inv_std[j];
                y[j] = gamma[j] * xh[j] + beta[j];
            }
        }
    });
}

/// Inference forward of a chunk with the running statistics in `buffers`.
pub(super) fn forward_eval(
    l: &Layer,
    p: &[f32],
    buffers: &[f32],
    eps: f32,
    x: &[f32],
    y: &mut [f32],
) {
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

/// Backward of a batch: `dγ`, `dβ` into `g` and the input gradient into `dx`.
pub(super) fn backward(b: Backward, cache: &Cache) {
    let (l, dy) = (b.layer, b.dy);
    let c = l.input.channels;
    let m = (dy.len() / c) as f32;
    let chunk = SAMPLE_CHUNK * l.input.len();
    let xhat = &cache.mask[..dy.len()];
    let ChannelSums {
        s1: sum_dy,
        s2: sum_dy_xhat,
    } = channel_sums(dy, Some(xhat), c, chunk);
    let (dgamma, dbeta) = b.grads.split_at_mut(c);
    for j in 0..c {
        dgamma[j] = sum_dy_xhat[j] as f32;
        dbeta[j] = sum_dy[j] as f32;
    }
    let gamma = &b.params[..c];
    let k: Vec<f32> = (0..c).map(|j| gamma[j] * cache.inv_std[j] / m).collect();
    let (sd, sdx): (Vec<f32>, Vec<f32>) = (0..c)
        .map(|j| (sum_dy[j] as f32, sum_dy_xhat[j] as f32))
        .unzip();
    zip3((dy, xhat, b.dx), [chunk; 3], |_, dy, xh, dx| {
        for ((dy, xh), dx) in dy.chunks(c).zip(xh.chunks(c)).zip(dx.chunks_mut(c)) {
            for j in 0..c {
                dx[j] = k[j] * (m * dy[j] - sd[j] - xh[j] * sdx[j]);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::network::LayerSpec;
    use super::super::pass::check::{conv, dense, grad_check_all, shape};

    #[test]
    fn batch_norm_gradients_match_finite_differences() {
        let bn = LayerSpec::BatchNorm {
            momentum: 0.1,
            eps: 1e-5,
        };
        grad_check_all(&[
            (
                vec![conv(3, 3, 1, 1), bn.clone(), conv(2, 3, 1, 1)],
                shape(5, 5, 1),
                3,
                9,
            ),
            (vec![dense(6), bn, dense(3)], shape(2, 2, 1), 10, 10),
        ]);
    }
}
