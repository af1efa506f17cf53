//! Fully connected layer: `y = x W + b` on the input flattened in (row, column, channel)
//! order; `W` is stored row-major as `in x out`, then the `out` biases.
//!
//! Backward: `dW = xᵀ dy` (fixed blocks of rows of `dW` in parallel), `db = Σ_n dy`,
//! `dx = dy Wᵀ`.

use rayon::prelude::*;

use super::gemm::{Mat, matmul};
use super::network::{Layer, LayerSize, Shape};
use super::pass::{Backward, per_chunk};
use crate::error::{Error, Result};

/// Rows of a dense weight gradient per parallel task.
const DENSE_ROWS: usize = 256;

/// Output shape and parameter counts of a dense layer on input `s`.
pub(super) fn plan(out_features: usize, s: Shape) -> Result<LayerSize> {
    if out_features == 0 {
        return Err(Error::param("layers", "dense needs out_features >= 1"));
    }
    Ok(LayerSize {
        output: Shape {
            height: 1,
            width: 1,
            channels: out_features,
        },
        n_weights: s.len() * out_features,
        n_biases: out_features,
        n_buffers: 0,
    })
}

/// Forward of a chunk of samples `x` into `y`.
pub(super) fn forward(l: &Layer, p: &[f32], x: &[f32], y: &mut [f32]) {
    let (w, b) = p.split_at(l.n_weights);
    affine(y, x, w, b, l.input.len());
}

/// `y = x W + b` for the rows of `x` (`din` columns), `W` row-major `din x b.len()`: the
/// product of dense layers and of conv layers (on the im2col rows). The bias is written
/// first, then the product added to it.
pub(super) fn affine(y: &mut [f32], x: &[f32], w: &[f32], b: &[f32], din: usize) {
    let dout = b.len();
    for row in y.chunks_mut(dout) {
        row.copy_from_slice(b);
    }
    let m = x.len() / din;
    matmul(y, m, dout, din, Mat::rows(x, din), Mat::rows(w, dout), true);
}

/// `dx = dy Wᵀ` for the rows of `dy` (`dout` columns), `W` row-major `din x dout`: the
/// input gradient of dense layers and the `dcols` of conv layers.
pub(super) fn input_gradient(dx: &mut [f32], dy: &[f32], w: &[f32], dout: usize) {
    let m = dy.len() / dout;
    let din = w.len() / dout;
    let (a, b) = (Mat::rows(dy, dout), Mat::transposed(w, dout));
    matmul(dx, m, din, dout, a, b, false);
}

/// `out = Σ_rows a` over the rows of `a` (as many columns as `out`), added in row order: the
/// bias gradient of dense and conv layers.
pub(super) fn sum_rows(a: &[f32], out: &mut [f32]) {
    out.fill(0.0);
    for row in a.chunks(out.len()) {
        for (b, d) in out.iter_mut().zip(row) {
            *b += d;
        }
    }
}

/// Backward of `n` samples: parameter gradient into `g`; input gradient into `dx` when
/// `need_dx`.
pub(super) fn backward(b: Backward, x: &[f32]) {
    let (l, dy) = (b.layer, b.dy);
    let (din, dout) = (l.input.len(), l.output.len());
    let (gw, gb) = b.grads.split_at_mut(l.n_weights);
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
            matmul(gw, rows, dout, b.n, xt, Mat::rows(dy, dout), false);
        });
    sum_rows(dy, gb);
    if b.need_dx {
        let w = &b.params[..l.n_weights];
        per_chunk(dy, b.dx, dout, din, |dy, dx| {
            input_gradient(dx, dy, w, dout)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::pass::check::{dense, grad_check_all, shape};

    #[test]
    fn dense_gradients_match_finite_differences() {
        grad_check_all(&[(vec![dense(5), dense(3)], shape(3, 2, 2), 11, 7)]);
    }
}
