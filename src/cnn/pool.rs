//! Max-pooling over square windows: `y = max` over each window (vectorised over channels; a
//! NaN never wins). Backward: the gradient goes to the first input of the window (row-major
//! window order) equal to the maximum.

use super::network::{Layer, LayerSize, LayerSpec, Shape};
use super::pass::{SAMPLE_CHUNK, zip4};
use crate::error::{Error, Result};

/// Output shape of a max-pool layer on input `s`; fails when the window does not fit.
pub(super) fn plan(size: usize, stride: usize, s: Shape) -> Result<LayerSize> {
    if size == 0 || stride == 0 || size > s.height || size > s.width {
        return Err(Error::param(
            "layers",
            format!(
                "max_pool size {size} stride {stride} does not fit a {}x{} input",
                s.width, s.height
            ),
        ));
    }
    Ok(LayerSize::same(Shape {
        height: (s.height - size) / stride + 1,
        width: (s.width - size) / stride + 1,
        channels: s.channels,
    }))
}

/// Window side and stride of a max-pool layer.
struct Window {
    size: usize,
    stride: usize,
}

fn window(l: &Layer) -> Window {
    match l.spec {
        LayerSpec::MaxPool { size, stride } => Window { size, stride },
        _ => unreachable!("not a max-pool layer"),
    }
}

/// Max-pool of a chunk of samples.
pub(super) fn forward(l: &Layer, x: &[f32], y: &mut [f32]) {
    let Window { size, stride } = window(l);
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

/// Input gradient of a batch, in parallel chunks of [`SAMPLE_CHUNK`] samples.
pub(super) fn backward(l: &Layer, x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32]) {
    let (in_len, out_len) = (l.input.len(), l.output.len());
    let lens = [in_len, out_len, out_len, in_len].map(|v| SAMPLE_CHUNK * v);
    zip4((x, y, dy, dx), lens, |x, y, dy, dx| {
        backward_chunk(l, x, y, dy, dx)
    });
}

/// Backward of max-pool for a chunk: each output gradient goes to the first input of its
/// window (in `ky`, `kx` order) equal to the output, i.e. the forward pass's winner. Finding
/// it again here, instead of storing its index, keeps both passes branch-free.
fn backward_chunk(l: &Layer, x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32]) {
    let Window { size, stride } = window(l);
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

#[cfg(test)]
mod tests {
    use super::super::pass::check::{conv, dense, grad_check_all, shape};
    use super::*;

    #[test]
    fn max_pool_gradients_match_finite_differences() {
        grad_check_all(&[
            (
                vec![
                    conv(3, 3, 1, 1),
                    LayerSpec::MaxPool { size: 2, stride: 2 },
                    conv(2, 3, 1, 1),
                ],
                shape(6, 6, 1),
                2,
                // Seed 5 puts two max-pool candidates within 1e-3 of each other (a kink).
                15,
            ),
            (
                vec![
                    conv(2, 3, 1, 1),
                    LayerSpec::MaxPool { size: 3, stride: 2 },
                    dense(3),
                ],
                shape(7, 7, 1),
                2,
                6,
            ),
        ]);
    }
}
