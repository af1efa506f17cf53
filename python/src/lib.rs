//! `classic_cv._native`: the Rust side of the Python package.
//!
//! A thin layer over the `classic_cv` crate: parameters arrive as JSON objects laid over the
//! crate's `Default` params (so Python passes only what it sets, with the crate's field
//! names), NumPy arrays arrive as read-only views and fitted models stay Rust values inside
//! one Python class, [`Model`], pickled through `persist::model_bytes` / `persist::decode`.
//! Every heavy call releases the GIL (`Python::detach`). Errors become
//! `classic_cv.ClassicCvError` (a `ValueError`) or `classic_cv.ClassicCvIOError` (an
//! `OSError`) carrying the crate's message.
//!
//! Copies: feature matrices go to the k-means codebook and quantizer as views (no copy);
//! the learners' API takes one `Vec<f32>` per sample and images own their pixels, so rows
//! are copied once there. Results are handed to NumPy without a copy (`Vec` -> array).

use std::path::Path;

use classic_cv::Image;
use classic_cv::error::Error;
use classic_cv::pipeline::Label;
use ndarray::{Array2, ArrayView2};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::create_exception;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

mod dask;
mod fitted;

use fitted::Fitted;

create_exception!(
    _native,
    ClassicCvError,
    PyValueError,
    "An error reported by classic-cv (bad parameters, data or model bytes)."
);
create_exception!(
    _native,
    ClassicCvIOError,
    PyOSError,
    "A file classic-cv was asked to read could not be read."
);

/// The crate's error as a Python exception: I/O errors as `ClassicCvIOError` (an `OSError`),
/// everything else as `ClassicCvError` (a `ValueError`), with the crate's message.
pub(crate) fn py_err(e: Error) -> PyErr {
    match e {
        Error::Io { .. } => ClassicCvIOError::new_err(e.to_string()),
        _ => ClassicCvError::new_err(e.to_string()),
    }
}

fn value_err(msg: impl Into<String>) -> PyErr {
    ClassicCvError::new_err(msg.into())
}

/// `T::default()` with the keys of the JSON object `json` laid over it (objects merged
/// key by key, anything else replaced), then decoded; unknown keys are errors where the
/// crate's params deny them.
pub(crate) fn params<T: Default + Serialize + DeserializeOwned>(json: &str) -> PyResult<T> {
    let over: Value =
        serde_json::from_str(json).map_err(|e| value_err(format!("params JSON: {e}")))?;
    let mut base = serde_json::to_value(T::default())
        .map_err(|e| value_err(format!("default params: {e}")))?;
    merge(&mut base, over);
    serde_json::from_value(base).map_err(|e| value_err(format!("invalid params: {e}")))
}

fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// One `Vec<f32>` per row (the learners' input type).
pub(crate) fn rows(x: ArrayView2<f32>) -> Vec<Vec<f32>> {
    x.rows().into_iter().map(|r| r.to_vec()).collect()
}

/// Rows of `x` as `height x width` images.
pub(crate) fn images(x: ArrayView2<f32>, shape: (usize, usize)) -> Result<Vec<Image>, Error> {
    let (h, w) = shape;
    let need = h
        .checked_mul(w)
        .ok_or_else(|| Error::param("image_shape", "too large"))?;
    if x.ncols() != need {
        return Err(Error::DimensionMismatch {
            what: "pixels per image (image_shape)",
            expected: need,
            found: x.ncols(),
        });
    }
    x.rows()
        .into_iter()
        .map(|r| Image::new(w, h, r.to_vec()))
        .collect()
}

/// Rows of equal length as a `n x d` array (moved, not copied, into NumPy by the caller).
pub(crate) fn matrix(v: Vec<Vec<f32>>, d: usize) -> Result<Array2<f32>, Error> {
    let n = v.len();
    let mut flat = Vec::with_capacity(n.checked_mul(d).unwrap_or(0));
    for r in v {
        if r.len() != d {
            return Err(Error::DimensionMismatch {
                what: "output row",
                expected: d,
                found: r.len(),
            });
        }
        flat.extend_from_slice(&r);
    }
    Array2::from_shape_vec((n, d), flat).map_err(|e| Error::param("output", e.to_string()))
}

/// A fitted classic-cv model (any kind), with the calls the Python estimators need.
#[pyclass(module = "classic_cv._native", frozen)]
pub struct Model {
    pub(crate) inner: Fitted,
}

#[pymethods]
impl Model {
    /// Fits a model of `kind` with `params` (JSON) on `x` (one sample or flattened image
    /// per row), `y` (dense labels `0..n_classes`, or `None` for unsupervised kinds) and,
    /// for image kinds, `image_shape = (height, width)`.
    #[staticmethod]
    #[pyo3(signature = (kind, params, x, y=None, image_shape=None))]
    fn fit(
        py: Python<'_>,
        kind: &str,
        params: &str,
        x: PyReadonlyArray2<'_, f32>,
        y: Option<PyReadonlyArray1<'_, u32>>,
        image_shape: Option<(usize, usize)>,
    ) -> PyResult<Model> {
        let x = x.as_array();
        let y: Option<Vec<Label>> = y.map(|y| y.as_array().to_vec());
        let fitter = fitted::Fitter::new(kind, params, image_shape)?;
        let inner = py.detach(|| fitter.fit(x, y.as_deref())).map_err(py_err)?;
        Ok(Model { inner })
    }

    /// Fits an encoder (`params`: the crate's `EncoderParams` as JSON) on image files of
    /// any sizes, decoded as the CLI decodes them.
    #[staticmethod]
    fn fit_encoder_files(
        py: Python<'_>,
        params: &str,
        paths: Vec<std::path::PathBuf>,
    ) -> PyResult<Model> {
        let p: classic_cv::encode::encoder::EncoderParams = self::params(params)?;
        let enc = py
            .detach(|| -> Result<_, Error> {
                use classic_cv::pipeline::Fit;
                use rayon::prelude::*;
                let ims: Vec<Image> = paths
                    .par_iter()
                    .map(Image::load)
                    .collect::<Result<_, _>>()?;
                p.fit(&ims, &vec![0; ims.len()])
            })
            .map_err(py_err)?;
        Ok(Model {
            inner: Fitted::Encoder(enc),
        })
    }

    /// Decodes a model from the bytes of [`Model::to_bytes`] (or a binary model file),
    /// requiring it to be of `kind`.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, kind: &str, data: &[u8]) -> PyResult<Model> {
        let inner = py.detach(|| Fitted::decode(kind, data)).map_err(py_err)?;
        Ok(Model { inner })
    }

    /// Loads a model file written by the CLI or the crate (`persist::save`).
    #[staticmethod]
    fn load(py: Python<'_>, kind: &str, path: std::path::PathBuf) -> PyResult<Model> {
        let data = py
            .detach(|| classic_cv::limits::read_input(&path))
            .map_err(py_err)?;
        let inner = py
            .detach(|| Fitted::decode_at(kind, &path, &data))
            .map_err(py_err)?;
        Ok(Model { inner })
    }

    /// The model in the crate's checksummed binary model format.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py.detach(|| self.inner.bytes()).map_err(py_err)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The kind name given to `fit` / `from_bytes`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    /// Predicted dense labels, one per row (images: one per flattened image).
    #[pyo3(signature = (x, image_shape=None))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f32>,
        image_shape: Option<(usize, usize)>,
    ) -> PyResult<Bound<'py, PyArray1<u32>>> {
        let x = x.as_array();
        let out = py
            .detach(|| self.inner.predict(x, image_shape))
            .map_err(py_err)?;
        Ok(out.into_pyarray(py))
    }

    /// Per-class scores (`n x n_classes`): SVM decision values, class probabilities of
    /// softmax and forests, CNN scores.
    #[pyo3(signature = (x, image_shape=None))]
    fn scores<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f32>,
        image_shape: Option<(usize, usize)>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let x = x.as_array();
        let out = py
            .detach(|| self.inner.scores(x, image_shape))
            .map_err(py_err)?;
        Ok(out.into_pyarray(py))
    }

    /// The transform of the fitted stage (encoders, kernel maps), one row per input row.
    #[pyo3(signature = (x, image_shape=None))]
    fn transform<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f32>,
        image_shape: Option<(usize, usize)>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let x = x.as_array();
        let out = py
            .detach(|| self.inner.transform(x, image_shape))
            .map_err(py_err)?;
        Ok(out.into_pyarray(py))
    }

    /// Encodes image files (decoded as the CLI decodes them), one row per file.
    fn transform_files<'py>(
        &self,
        py: Python<'py>,
        paths: Vec<std::path::PathBuf>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let out = py
            .detach(|| self.inner.transform_files(&paths))
            .map_err(py_err)?;
        Ok(out.into_pyarray(py))
    }

    /// Iterations the fit ran (SVM: the most of any binary problem; k-means and encoders:
    /// the codebook's Lloyd or EM iterations).
    fn n_iter(&self) -> PyResult<usize> {
        self.inner.n_iter().map_err(py_err)
    }

    /// Output dimension of `transform`.
    fn output_dim(&self) -> PyResult<usize> {
        self.inner.output_dim().map_err(py_err)
    }

    /// k-means centres (`k x d`) of a `kmeans` model.
    fn centres<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        match &self.inner {
            Fitted::KMeans(km) => Ok(km.centres.clone().into_pyarray(py)),
            _ => Err(value_err("only a kmeans model has centres")),
        }
    }

    /// Nearest centre of every row (`kmeans` models), by the crate's quantizer.
    fn quantize<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f32>,
    ) -> PyResult<Bound<'py, PyArray1<u32>>> {
        let Fitted::KMeans(km) = &self.inner else {
            return Err(value_err("only a kmeans model quantizes"));
        };
        let x = x.as_array();
        let q = py.detach(|| km.quantize(x)).map_err(py_err)?;
        Ok(q.labels.into_pyarray(py))
    }
}

/// Dense SIFT descriptors of flattened images (`image_shape = (height, width)`), after the
/// encoder's upscale and pad: one row per image, its descriptors concatenated in the
/// crate's keypoint order (`n x (n_keypoints * 128)`).
#[pyfunction]
fn dense_sift<'py>(
    py: Python<'py>,
    params: &str,
    x: PyReadonlyArray2<'py, f32>,
    image_shape: (usize, usize),
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let p: classic_cv::encode::encoder::EncoderParams = self::params(params)?;
    let x = x.as_array();
    let out = py
        .detach(|| -> Result<Array2<f32>, Error> {
            p.validate()?;
            let imgs = images(x, image_shape)?;
            use rayon::prelude::*;
            let rows: Vec<Vec<f32>> = imgs
                .par_iter()
                .map(|im| {
                    let f = p.local_features(im)?;
                    Ok(f.descriptors.iter().copied().collect())
                })
                .collect::<Result<_, Error>>()?;
            let d = rows.first().map_or(0, Vec::len);
            matrix(rows, d)
        })
        .map_err(py_err)?;
    Ok(out.into_pyarray(py))
}

/// Number of dense SIFT keypoints of one `image_shape` image under `params`.
#[pyfunction]
fn dense_sift_count(py: Python<'_>, params: &str, image_shape: (usize, usize)) -> PyResult<usize> {
    let p: classic_cv::encode::encoder::EncoderParams = self::params(params)?;
    py.detach(|| -> Result<usize, Error> {
        p.validate()?;
        let (h, w) = image_shape;
        let im = Image::new(w, h, vec![0.0; w.saturating_mul(h)])?;
        Ok(p.local_features(&im)?.descriptors.nrows())
    })
    .map_err(py_err)
}

/// Decodes an image file to gray `f32` in `[0, 1]` as the CLI does (`height x width`).
#[pyfunction]
fn load_image<'py>(
    py: Python<'py>,
    path: std::path::PathBuf,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let im = py.detach(|| Image::load(&path)).map_err(py_err)?;
    let (w, h) = (im.width(), im.height());
    let a = Array2::from_shape_vec((h, w), im.into_vec()).map_err(|e| value_err(e.to_string()))?;
    Ok(a.into_pyarray(py))
}

/// An OpenCV cascade (XML) and the crate's exact `detectMultiScale`.
#[pyclass(module = "classic_cv._native", frozen)]
struct Cascade {
    detector: classic_cv::detect::Detector,
}

#[pymethods]
impl Cascade {
    /// Reads an OpenCV cascade XML file.
    #[new]
    fn new(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        let detector = py
            .detach(|| {
                classic_cv::detect::cascade::Cascade::load(Path::new(&path))
                    .and_then(classic_cv::detect::Detector::new)
            })
            .map_err(py_err)?;
        Ok(Cascade { detector })
    }

    /// Detections in a `height x width` `uint8` image as `n x 4` `(x, y, w, h)` rows
    /// (OpenCV's `detectMultiScale`), and their neighbour counts.
    #[pyo3(signature = (image, scale_factor, min_neighbors, min_size, max_size))]
    #[allow(clippy::type_complexity)]
    fn detect<'py>(
        &self,
        py: Python<'py>,
        image: PyReadonlyArray2<'py, u8>,
        scale_factor: f64,
        min_neighbors: usize,
        min_size: (usize, usize),
        max_size: Option<(usize, usize)>,
    ) -> PyResult<(Bound<'py, PyArray2<i32>>, Bound<'py, PyArray1<u32>>)> {
        let view = image.as_array();
        let (h, w) = view.dim();
        let params = classic_cv::detect::DetectParams {
            scale_factor,
            min_neighbors,
            min_size,
            max_size: max_size.filter(|&(a, b)| a > 0 && b > 0),
            ..Default::default()
        };
        let owned;
        let pixels: &[u8] = match view.as_slice() {
            Some(s) => s,
            None => {
                owned = view.iter().copied().collect::<Vec<u8>>();
                &owned
            }
        };
        let dets = py
            .detach(|| self.detector.detect_u8(pixels, w, h, &params))
            .map_err(py_err)?;
        let mut rects = Vec::with_capacity(dets.len() * 4);
        let mut counts = Vec::with_capacity(dets.len());
        for d in &dets {
            let r = d.rect;
            rects.extend([r.x as i32, r.y as i32, r.width as i32, r.height as i32]);
            counts.push(d.neighbors as u32);
        }
        let rects =
            Array2::from_shape_vec((dets.len(), 4), rects).map_err(|e| value_err(e.to_string()))?;
        Ok((rects.into_pyarray(py), counts.into_pyarray(py)))
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ClassicCvError", py.get_type::<ClassicCvError>())?;
    m.add("ClassicCvIOError", py.get_type::<ClassicCvIOError>())?;
    m.add(
        "IMAGE_EXTENSIONS",
        classic_cv::image::IMAGE_EXTENSIONS.to_vec(),
    )?;
    m.add_class::<Model>()?;
    m.add_class::<Cascade>()?;
    m.add_function(wrap_pyfunction!(dense_sift, m)?)?;
    m.add_function(wrap_pyfunction!(dense_sift_count, m)?)?;
    m.add_function(wrap_pyfunction!(load_image, m)?)?;
    dask::register(m)?;
    Ok(())
}
