//! 2-D convolution (cross-correlation) with bias, as im2col followed by one matrix product.
//!
//! Forward: `y[o, co] = b[co] + sum_{ky,kx,ci} x[o*s + k - p, ci] W[(ky,kx,ci), co]`,
//! computed as `cols W` with `cols` the im2col matrix (one row per output pixel, columns
//! ordered (ky, kx, ci), zeros where the window leaves the padded input); `W` is stored
//! row-major as `(ky, kx, ci) x co`, then the `co` biases.
//! Backward: `dW = colsᵀ dy`, `db = Σ_rows dy`, `dcols = dy Wᵀ`, `dx = col2im(dcols)`
//! (scatter-add). The weight gradient is summed per chunk of samples, then over the chunks
//! in chunk order.

use super::dense;
use super::gemm::{Mat, matmul};
use super::network::{Layer, LayerSize, LayerSpec, Shape};
use super::pass::{Backward, Cache, SAMPLE_CHUNK, resize, zip3, zip4};
use crate::error::{Error, Result};

/// Output shape and parameter counts of a conv layer on input `s`; fails when the window
/// does not fit the padded input or a size is zero.
pub(super) fn plan(
    out_channels: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    s: Shape,
) -> Result<LayerSize> {
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
    Ok(LayerSize {
        output: Shape {
            height: (h - kernel) / stride + 1,
            width: (w - kernel) / stride + 1,
            channels: out_channels,
        },
        n_weights: kernel * kernel * s.channels * out_channels,
        n_biases: out_channels,
        n_buffers: 0,
    })
}

/// Kernel side, stride and padding of a conv layer.
struct Window {
    k: usize,
    s: usize,
    pad: usize,
}

fn window(l: &Layer) -> Window {
    match l.spec {
        LayerSpec::Conv2d {
            kernel,
            stride,
            padding,
            ..
        } => Window {
            k: kernel,
            s: stride,
            pad: padding,
        },
        _ => unreachable!("not a conv layer"),
    }
}

/// Values of one sample's im2col matrix: output pixels times `k * k * cin`.
pub(super) fn cols_len(l: &Layer) -> usize {
    l.output.height * l.output.width * (l.n_weights / l.output.channels)
}

/// im2col of one sample: row `oy * ow + ox`, column `(ky * k + kx) * cin + ci`. For a
/// fixed `ky` the `k * cin` values are contiguous in both the input and the row, so a window
/// row inside the image is one copy.
fn im2col(l: &Layer, x: &[f32], cols: &mut [f32]) {
    let Window { k, s, pad } = window(l);
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
    let Window { k, s, pad } = window(l);
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
pub(super) fn forward(l: &Layer, p: &[f32], x: &[f32], y: &mut [f32], cols: &mut [f32]) {
    let rows = l.output.height * l.output.width;
    let cout = l.output.channels;
    let kdim = l.n_weights / cout;
    let n = x.len() / l.input.len();
    for (x, c) in x.chunks(l.input.len()).zip(cols.chunks_mut(rows * kdim)) {
        im2col(l, x, c);
    }
    let (w, b) = p.split_at(l.n_weights);
    dense::affine(y, &cols[..n * rows * kdim], w, b, kdim);
}

/// Training forward of `n` samples: [`forward`] on chunks of [`SAMPLE_CHUNK`] samples in parallel,
/// keeping the im2col matrices in `cache.cols` for the backward pass.
pub(super) fn forward_train(
    l: &Layer,
    p: &[f32],
    x: &[f32],
    y: &mut [f32],
    cache: &mut Cache,
    n: usize,
) {
    let cols_len = cols_len(l);
    resize(&mut cache.cols, n * cols_len);
    let lens = [l.input.len(), l.output.len(), cols_len].map(|v| SAMPLE_CHUNK * v);
    zip3((x, y, &mut cache.cols[..]), lens, |_, x, y, cols| {
        forward(l, p, x, y, cols)
    });
}

/// Backward of `n` samples: the gradient of the parameters into `g` (per-chunk partial sums
/// in `partial`, added in chunk order) and, when `need_dx`, of the input into `dx`.
pub(super) fn backward(b: Backward, cols: &mut [f32], partial: &mut Vec<f32>) {
    let (l, p, need_dx) = (b.layer, b.params, b.need_dx);
    let n_chunks = b.n.div_ceil(SAMPLE_CHUNK);
    resize(partial, n_chunks * l.n_params);
    let per_sample = [l.output.len(), l.input.len(), cols_len(l)].map(|v| SAMPLE_CHUNK * v);
    let lens = [per_sample[0], per_sample[1], per_sample[2], l.n_params];
    zip4(
        (b.dy, b.dx, cols, &mut partial[..]),
        lens,
        |dy, dx, cols, part| backward_chunk(l, p, dy, dx, cols, part, need_dx),
    );
    sum_partials(&partial[..n_chunks * l.n_params], b.grads);
}

fn sum_partials(partials: &[f32], out: &mut [f32]) {
    out.fill(0.0);
    for part in partials.chunks(out.len()) {
        for (o, p) in out.iter_mut().zip(part) {
            *o += p;
        }
    }
}

/// Backward of one chunk: `part` receives this chunk's `dW` and `db`; `dx` the input
/// gradient (when `need_dx`), through `dcols` written over `cols`.
fn backward_chunk(
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
    dense::sum_rows(dy, gb);
    if need_dx {
        let w = &p[..l.n_weights];
        let dcols = &mut cols[..m * kdim];
        dense::input_gradient(dcols, dy, w, cout);
        for (dc, dx) in dcols.chunks(rows * kdim).zip(dx.chunks_mut(l.input.len())) {
            col2im(l, dc, dx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::network::Network;
    use super::super::pass::check::{conv, grad_check_all, shape};
    use super::super::pass::forward_eval;
    use crate::rng::Rng;

    #[test]
    fn conv_gradients_match_finite_differences() {
        grad_check_all(&[
            (
                vec![conv(3, 3, 1, 1), conv(2, 3, 2, 1)],
                shape(7, 6, 2),
                3,
                1,
            ),
            (
                vec![conv(4, 2, 1, 0), conv(2, 1, 1, 0)],
                shape(5, 5, 1),
                2,
                2,
            ),
        ]);
    }

    #[test]
    fn conv_matches_direct_cross_correlation() {
        let l_spec = conv(2, 3, 2, 1);
        let input = shape(5, 6, 2);
        let net = Network::plan(std::slice::from_ref(&l_spec), input).unwrap();
        let init = net.init(4);
        let (params, buffers) = (init.params, init.buffers);
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
}
