//! The pieces `classic_cv.dask` distributes: which training images feed the codebook, their
//! dense SIFT on the workers, and the codebook fitted from the gathered features.
//!
//! The split reproduces `EncoderParams::fit` exactly: it draws the same seeded image sample
//! (`EncoderParams::codebook_sample`), extracts the same local features (the files decoded
//! as `Image::load` decodes them), and fits on them in index order with `fit_features`, whose
//! own sample is then the whole set; so the codebook, and every encoding, is bit-identical to
//! the single-process run.

use std::path::PathBuf;

use classic_cv::Image;
use classic_cv::encode::encoder::{EncoderParams, LocalFeatures};
use classic_cv::error::{Error, Result};
use ndarray::Array2;
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray2};
use pyo3::prelude::*;
use rayon::prelude::*;

use crate::fitted::Fitted;
use crate::{Model, params, py_err};

/// Local features as Python values: descriptors `m x 128`, positions `m x 2`, width, height.
type PyFeatures<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray2<f32>>, u32, u32);

/// Indices (sorted) of the `n` training images whose descriptors learn the codebook.
#[pyfunction]
fn codebook_sample(params_json: &str, n: usize) -> PyResult<Vec<usize>> {
    let p: EncoderParams = params(params_json)?;
    p.validate().map_err(py_err)?;
    Ok(p.codebook_sample(n))
}

/// Dense SIFT (after upscale and pad) of image files, as `fit_encoder_features` takes them.
#[pyfunction]
fn local_features_files<'py>(
    py: Python<'py>,
    params_json: &str,
    paths: Vec<PathBuf>,
) -> PyResult<Vec<PyFeatures<'py>>> {
    let p: EncoderParams = params(params_json)?;
    let feats = py
        .detach(|| -> Result<Vec<LocalFeatures>> {
            p.validate()?;
            paths
                .par_iter()
                .map(|path| p.local_features(&Image::load(path)?))
                .collect()
        })
        .map_err(py_err)?;
    feats
        .into_iter()
        .map(|f| {
            let n = f.positions.len();
            let pos: Vec<f32> = f.positions.iter().flatten().copied().collect();
            let pos = Array2::from_shape_vec((n, 2), pos)
                .map_err(|e| py_err(Error::param("positions", e.to_string())))?;
            Ok((
                f.descriptors.into_pyarray(py),
                pos.into_pyarray(py),
                f.width,
                f.height,
            ))
        })
        .collect()
}

/// Fits an encoder from the local features of the sampled images, in index order.
#[pyfunction]
fn fit_encoder_features(
    py: Python<'_>,
    params_json: &str,
    features: Vec<(
        PyReadonlyArray2<'_, f32>,
        PyReadonlyArray2<'_, f32>,
        u32,
        u32,
    )>,
) -> PyResult<Model> {
    let p: EncoderParams = params(params_json)?;
    let mut feats = Vec::with_capacity(features.len());
    for (d, pos, width, height) in &features {
        let pos = pos.as_array();
        if pos.ncols() != 2 {
            return Err(py_err(Error::DimensionMismatch {
                what: "position columns",
                expected: 2,
                found: pos.ncols(),
            }));
        }
        feats.push(LocalFeatures {
            descriptors: d.as_array().to_owned(),
            positions: pos.rows().into_iter().map(|r| [r[0], r[1]]).collect(),
            width: *width,
            height: *height,
        });
    }
    let enc = py.detach(|| p.fit_features(&feats)).map_err(py_err)?;
    Ok(Model {
        inner: Fitted::Encoder(enc),
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(codebook_sample, m)?)?;
    m.add_function(wrap_pyfunction!(local_features_files, m)?)?;
    m.add_function(wrap_pyfunction!(fit_encoder_features, m)?)?;
    Ok(())
}
