//! Rectifiers: ReLU `y = max(x, 0)` and leaky ReLU `y = x` if `x > 0` else `slope x`.
//! Backward: `dx = dy y'(x)`, read from the output (`y > 0` exactly when `x > 0`).

use super::network::{Layer, LayerSize, Shape};
use super::pass::{SAMPLE_CHUNK, zip3};
use crate::error::{Error, Result};

/// A leaky ReLU keeps its input's shape; its slope must be in `[0, 1)`.
pub(super) fn plan_leaky_relu(slope: f32, s: Shape) -> Result<LayerSize> {
    if !(0.0..1.0).contains(&slope) {
        return Err(Error::param("layers", "leaky_relu slope must be in [0, 1)"));
    }
    Ok(LayerSize::same(s))
}

/// ReLU of a chunk.
pub(super) fn relu_forward(x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = x.max(0.0);
    }
}

/// Leaky ReLU of a chunk.
pub(super) fn leaky_relu_forward(slope: f32, x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = if x > 0.0 { x } else { slope * x };
    }
}

/// Input gradient of a batch from the output `y` (slope 0 for ReLU).
pub(super) fn backward(l: &Layer, slope: f32, y: &[f32], dy: &[f32], dx: &mut [f32]) {
    let (in_len, out_len) = (l.input.len(), l.output.len());
    let lens = [out_len, out_len, in_len].map(|v| SAMPLE_CHUNK * v);
    zip3((dy, y, dx), lens, |_, dy, y, dx| {
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

#[cfg(test)]
mod tests {
    use super::super::network::LayerSpec;
    use super::super::pass::check::{conv, dense, grad_check_all, shape};

    #[test]
    fn relu_and_leaky_relu_gradients_match_finite_differences() {
        grad_check_all(&[
            (
                vec![conv(3, 3, 1, 1), LayerSpec::Relu, conv(2, 3, 1, 0)],
                shape(6, 6, 1),
                2,
                3,
            ),
            (
                vec![
                    conv(3, 3, 1, 1),
                    LayerSpec::LeakyRelu { slope: 0.1 },
                    dense(4),
                ],
                shape(5, 4, 2),
                3,
                4,
            ),
        ]);
    }
}
