//! The model kinds the Python estimators drive: their params, fitting, inference and bytes.
//!
//! Kind names (`linear_svm`, `knn`, `softmax`, `random_forest`, `kmeans`, `encoder`,
//! `homkermap`, `cnn`) are the Python side's; each maps to one crate type and its
//! `persist::Model` kind, so a model file saved by the CLI loads here and the bytes written
//! here load in the CLI.

use std::path::{Path, PathBuf};

use classic_cv::Image;
use classic_cv::cnn::{Cnn, CnnParams};
use classic_cv::encode::encoder::{Encoder, EncoderParams};
use classic_cv::encode::homkermap::HomKerMap;
use classic_cv::encode::kmeans::{KMeans, KMeansParams};
use classic_cv::error::{Error, Result};
use classic_cv::learn::forest::{RandomForest, RandomForestParams};
use classic_cv::learn::knn::{Knn, KnnParams};
use classic_cv::learn::softmax::{Softmax, SoftmaxParams};
use classic_cv::learn::svm::{LinearSvm, LinearSvmParams};
use classic_cv::persist;
use classic_cv::pipeline::{Fit, Label, Transform};
use ndarray::{Array2, ArrayView2};
use pyo3::PyResult;
use rayon::prelude::*;

use crate::{images, matrix, params, rows};

/// Parsed params of one kind, ready to fit.
pub(crate) enum Fitter {
    LinearSvm(LinearSvmParams),
    Knn(KnnParams),
    Softmax(SoftmaxParams),
    Forest(RandomForestParams),
    KMeans(KMeansParams),
    Encoder(EncoderParams, (usize, usize)),
    HomKerMap(HomKerMap),
    Cnn(CnnParams, (usize, usize)),
}

/// A fitted model of one kind.
pub(crate) enum Fitted {
    LinearSvm(LinearSvm),
    Knn(Knn),
    Softmax(Softmax),
    Forest(RandomForest),
    KMeans(KMeans),
    Encoder(Encoder),
    HomKerMap(HomKerMap),
    Cnn(Cnn),
}

fn need_shape(shape: Option<(usize, usize)>) -> Result<(usize, usize)> {
    shape.ok_or_else(|| Error::param("image_shape", "required for image models"))
}

fn labels_or_zeros(y: Option<&[Label]>, n: usize) -> Vec<Label> {
    y.map_or_else(|| vec![0; n], <[Label]>::to_vec)
}

fn need_labels(y: Option<&[Label]>) -> Result<&[Label]> {
    y.ok_or_else(|| Error::param("y", "this model needs labels"))
}

impl Fitter {
    pub(crate) fn new(kind: &str, json: &str, shape: Option<(usize, usize)>) -> PyResult<Fitter> {
        let f = match kind {
            "linear_svm" => Fitter::LinearSvm(params(json)?),
            "knn" => Fitter::Knn(params(json)?),
            "softmax" => Fitter::Softmax(params(json)?),
            "random_forest" => Fitter::Forest(params(json)?),
            "kmeans" => Fitter::KMeans(params(json)?),
            "encoder" => Fitter::Encoder(params(json)?, need_shape(shape).map_err(crate::py_err)?),
            "homkermap" => Fitter::HomKerMap(params(json)?),
            "cnn" => Fitter::Cnn(params(json)?, need_shape(shape).map_err(crate::py_err)?),
            _ => return Err(crate::py_err(unknown_kind(kind))),
        };
        Ok(f)
    }

    /// Fits on `x` (rows or flattened images) and `y` (dense labels, when supervised).
    pub(crate) fn fit(&self, x: ArrayView2<f32>, y: Option<&[Label]>) -> Result<Fitted> {
        Ok(match self {
            Fitter::LinearSvm(p) => Fitted::LinearSvm(p.fit(&rows(x), need_labels(y)?)?),
            Fitter::Knn(p) => Fitted::Knn(p.fit(&rows(x), need_labels(y)?)?),
            Fitter::Softmax(p) => Fitted::Softmax(p.fit(&rows(x), need_labels(y)?)?),
            Fitter::Forest(p) => Fitted::Forest(p.fit(&rows(x), need_labels(y)?)?),
            Fitter::KMeans(p) => Fitted::KMeans(p.fit_array(x)?),
            Fitter::Encoder(p, shape) => {
                let ims = images(x, *shape)?;
                Fitted::Encoder(p.fit(&ims, &labels_or_zeros(y, ims.len()))?)
            }
            Fitter::HomKerMap(p) => {
                let r = rows(x);
                Fitted::HomKerMap(p.fit(&r, &labels_or_zeros(y, r.len()))?)
            }
            Fitter::Cnn(p, shape) => Fitted::Cnn(p.fit(&images(x, *shape)?, need_labels(y)?)?),
        })
    }
}

fn unknown_kind(kind: &str) -> Error {
    Error::param("kind", format!("unknown model kind `{kind}`"))
}

fn decode<T: persist::Model>(path: &Path, data: &[u8]) -> Result<T> {
    persist::decode(path, data)
}

impl Fitted {
    /// Decodes model bytes as `kind` (checked: a model that decodes can be used).
    pub(crate) fn decode(kind: &str, data: &[u8]) -> Result<Fitted> {
        Fitted::decode_at(kind, Path::new("<bytes>"), data)
    }

    /// As [`Fitted::decode`], naming `path` in errors.
    pub(crate) fn decode_at(kind: &str, path: &Path, data: &[u8]) -> Result<Fitted> {
        Ok(match kind {
            "linear_svm" => Fitted::LinearSvm(decode(path, data)?),
            "knn" => Fitted::Knn(decode(path, data)?),
            "softmax" => Fitted::Softmax(decode(path, data)?),
            "random_forest" => Fitted::Forest(decode(path, data)?),
            "kmeans" => Fitted::KMeans(decode(path, data)?),
            "encoder" => Fitted::Encoder(decode(path, data)?),
            "homkermap" => Fitted::HomKerMap(decode(path, data)?),
            "cnn" => Fitted::Cnn(decode(path, data)?),
            _ => return Err(unknown_kind(kind)),
        })
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Fitted::LinearSvm(_) => "linear_svm",
            Fitted::Knn(_) => "knn",
            Fitted::Softmax(_) => "softmax",
            Fitted::Forest(_) => "random_forest",
            Fitted::KMeans(_) => "kmeans",
            Fitted::Encoder(_) => "encoder",
            Fitted::HomKerMap(_) => "homkermap",
            Fitted::Cnn(_) => "cnn",
        }
    }

    pub(crate) fn bytes(&self) -> Result<Vec<u8>> {
        match self {
            Fitted::LinearSvm(m) => persist::model_bytes(m),
            Fitted::Knn(m) => persist::model_bytes(m),
            Fitted::Softmax(m) => persist::model_bytes(m),
            Fitted::Forest(m) => persist::model_bytes(m),
            Fitted::KMeans(m) => persist::model_bytes(m),
            Fitted::Encoder(m) => persist::model_bytes(m),
            Fitted::HomKerMap(m) => persist::model_bytes(m),
            Fitted::Cnn(m) => persist::model_bytes(m),
        }
    }

    fn unsupported(&self, what: &str) -> Error {
        Error::param("model", format!("a `{}` model has no {what}", self.kind()))
    }

    pub(crate) fn predict(
        &self,
        x: ArrayView2<f32>,
        shape: Option<(usize, usize)>,
    ) -> Result<Vec<Label>> {
        match self {
            Fitted::LinearSvm(m) => m.transform_batch(&rows(x)),
            Fitted::Knn(m) => m.transform_batch(&rows(x)),
            Fitted::Softmax(m) => m.transform_batch(&rows(x)),
            Fitted::Forest(m) => m.transform_batch(&rows(x)),
            Fitted::KMeans(m) => Ok(m.quantize(x)?.labels),
            Fitted::Cnn(m) => m.transform_batch(&images(x, need_shape(shape)?)?),
            Fitted::Encoder(_) | Fitted::HomKerMap(_) => Err(self.unsupported("predict")),
        }
    }

    pub(crate) fn scores(
        &self,
        x: ArrayView2<f32>,
        shape: Option<(usize, usize)>,
    ) -> Result<Array2<f32>> {
        let per_row = |f: &(dyn Fn(&[f32]) -> Result<Vec<f32>> + Sync), k: usize| {
            let r = rows(x);
            let out: Vec<Vec<f32>> = r.par_iter().map(|v| f(v)).collect::<Result<_>>()?;
            matrix(out, k)
        };
        match self {
            Fitted::LinearSvm(m) => per_row(&|v| m.decision_function(v), m.n_classes),
            Fitted::Softmax(m) => per_row(&|v| m.probabilities(v), m.biases.len()),
            Fitted::Forest(m) => per_row(&|v| m.class_probabilities(v), m.n_classes),
            Fitted::Cnn(m) => {
                let s = m.scores(&images(x, need_shape(shape)?)?)?;
                let k = m.n_classes.min(s.ncols());
                Ok(s.slice(ndarray::s![.., ..k]).to_owned())
            }
            _ => Err(self.unsupported("class scores")),
        }
    }

    pub(crate) fn transform(
        &self,
        x: ArrayView2<f32>,
        shape: Option<(usize, usize)>,
    ) -> Result<Array2<f32>> {
        match self {
            Fitted::Encoder(m) => {
                let out = m.transform_batch(&images(x, need_shape(shape)?)?)?;
                matrix(out, m.dim())
            }
            Fitted::HomKerMap(m) => {
                let out = m.transform_batch(&rows(x))?;
                matrix(out, x.ncols() * m.expansion())
            }
            _ => Err(self.unsupported("transform")),
        }
    }

    pub(crate) fn transform_files(&self, paths: &[PathBuf]) -> Result<Array2<f32>> {
        let Fitted::Encoder(m) = self else {
            return Err(self.unsupported("image-file transform"));
        };
        let ims: Vec<Image> = paths.par_iter().map(Image::load).collect::<Result<_>>()?;
        matrix(m.transform_batch(&ims)?, m.dim())
    }

    pub(crate) fn n_iter(&self) -> Result<usize> {
        use classic_cv::encode::encoder::Codebook;
        match self {
            Fitted::LinearSvm(m) => Ok(m.n_iter()),
            Fitted::KMeans(m) => Ok(m.n_iter),
            Fitted::Encoder(m) => Ok(match &m.codebook {
                Codebook::KMeans(km) => km.n_iter,
                Codebook::Gmm(g) => g.n_iter,
            }),
            _ => Err(self.unsupported("iteration count")),
        }
    }

    pub(crate) fn output_dim(&self) -> Result<usize> {
        match self {
            Fitted::Encoder(m) => Ok(m.dim()),
            _ => Err(self.unsupported("output dimension")),
        }
    }
}
