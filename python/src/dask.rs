//! The pieces `classic_cv.dask` distributes: which training images feed the codebook, their
//! dense SIFT on the workers, which pooled descriptors are kept, and the codebook fitted
//! from the gathered rows.
//!
//! The split reproduces `EncoderParams::fit` exactly: the same seeded image sample
//! (`EncoderParams::codebook_sample`), the same local features (files decoded as
//! `Image::load` decodes them), the same seeded choice of pooled descriptors
//! (`kmeans::pool_sample` over the images' descriptor counts, in image order) and the same
//! fit (`EncoderParams::fit_descriptors`); so the codebook, and every encoding, is
//! bit-identical to the single-process run.

use std::path::PathBuf;

use classic_cv::Image;
use classic_cv::encode::encoder::EncoderParams;
use classic_cv::encode::kmeans::pool_sample;
use classic_cv::error::Result;
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray2};
use pyo3::prelude::*;
use rayon::prelude::*;

use crate::fitted::Fitted;
use crate::{Model, params, py_err};

/// Indices (sorted) of the `n` training images whose descriptors learn the codebook.
#[pyfunction]
fn codebook_sample(params_json: &str, n: usize) -> PyResult<Vec<usize>> {
    let p: EncoderParams = params(params_json)?;
    p.validate().map_err(py_err)?;
    Ok(p.codebook_sample(n))
}

/// Rows (sorted) kept of `total` pooled descriptors for the codebook of `params`.
#[pyfunction]
fn codebook_descriptor_sample(params_json: &str, total: usize) -> PyResult<Vec<usize>> {
    let p: EncoderParams = params(params_json)?;
    p.validate().map_err(py_err)?;
    Ok(pool_sample(total, Some(p.codebook_descriptors), p.seed))
}

/// Dense SIFT descriptors (after upscale and pad) of each image file, `m x 128` each.
#[pyfunction]
fn dense_sift_files<'py>(
    py: Python<'py>,
    params_json: &str,
    paths: Vec<PathBuf>,
) -> PyResult<Vec<Bound<'py, PyArray2<f32>>>> {
    let p: EncoderParams = params(params_json)?;
    let feats = py
        .detach(|| -> Result<Vec<_>> {
            p.validate()?;
            paths
                .par_iter()
                .map(|path| Ok(p.local_features(&Image::load(path)?)?.descriptors))
                .collect()
        })
        .map_err(py_err)?;
    Ok(feats.into_iter().map(|d| d.into_pyarray(py)).collect())
}

/// Fits an encoder on the pooled descriptors (`codebook_descriptor_sample`'s rows of the
/// sampled images' descriptors, in image order).
#[pyfunction]
fn fit_encoder_descriptors(
    py: Python<'_>,
    params_json: &str,
    x: PyReadonlyArray2<'_, f32>,
) -> PyResult<Model> {
    let p: EncoderParams = params(params_json)?;
    let x = x.as_array();
    let enc = py.detach(|| p.fit_descriptors(x)).map_err(py_err)?;
    Ok(Model {
        inner: Fitted::Encoder(enc),
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(codebook_sample, m)?)?;
    m.add_function(wrap_pyfunction!(codebook_descriptor_sample, m)?)?;
    m.add_function(wrap_pyfunction!(dense_sift_files, m)?)?;
    m.add_function(wrap_pyfunction!(fit_encoder_descriptors, m)?)?;
    Ok(())
}
