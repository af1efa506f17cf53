"""scikit-learn estimators over the classic-cv crate.

Every estimator keeps its constructor arguments untouched (scikit-learn's contract), turns
them into the crate's params (JSON, the crate's field names) at ``fit``, and holds the fitted
Rust model in ``_model``; pickling stores the crate's checksummed model bytes
(``persist::model_bytes``), so a pickled estimator is exactly the model file the CLI writes.

Image estimators (``DenseSIFT``, ``BoVW``, ``VLAD``, ``FisherVector``, ``CNNClassifier``)
take one flattened gray image per row. ``image_shape=(height, width)`` gives the layout;
``None`` means square images when the row length is a perfect square, else images one
pixel high. Pixels are floats, nominally in ``[0, 1]`` (``uint8`` input is divided by 255).
"""

import json
import math
import numbers

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    ClusterMixin,
    TransformerMixin,
)
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _native

__all__ = [
    "AdditiveKernelMap",
    "BoVW",
    "CascadeClassifier",
    "CNNClassifier",
    "DenseSIFT",
    "FisherVector",
    "KMeansCodebook",
    "KNeighborsClassifier",
    "LinearSVC",
    "RandomForestClassifier",
    "SoftmaxRegression",
    "VLAD",
]


def _seed(random_state):
    """The crate's ``seed`` (an unsigned 64-bit integer) from ``random_state``."""
    if random_state is None:
        return 0
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be >= 0, got {random_state}")
        return int(random_state)
    raise ValueError(
        "random_state must be None or a non-negative int (classic-cv seeds are integers), "
        f"got {random_state!r}"
    )


def _pixels(X):
    """``uint8`` images scaled to ``[0, 1]``; floats as they are (``float32``)."""
    if isinstance(X, np.ndarray) and X.dtype == np.uint8:
        return X.astype(np.float32) / np.float32(255.0)
    return X


def _image_shape(image_shape, n_features):
    if image_shape is None:
        side = math.isqrt(n_features)
        return (side, side) if side * side == n_features else (1, n_features)
    try:
        h, w = (int(v) for v in image_shape)
    except (TypeError, ValueError):
        raise ValueError(f"image_shape must be (height, width), got {image_shape!r}") from None
    if h < 1 or w < 1 or h * w != n_features:
        raise ValueError(
            f"image_shape {image_shape!r} does not match {n_features} pixels per row"
        )
    return (h, w)


class _F32:
    """Transformers here compute in f32 (the crate's type for images and features)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if tags.transformer_tags is not None:
            # The crate computes in f32: float32 in, float32 out (float64 is converted).
            tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


class _Native(_F32):
    """Fitted-model plumbing: the kind, pickling through the crate's model bytes."""

    _kind = None

    def _fit_native(self, X, y=None, image_shape=None):
        params = json.dumps(self._native_params())
        yy = None if y is None else np.ascontiguousarray(y, dtype=np.uint32)
        self._model = _native.Model.fit(self._kind, params, X, yy, image_shape)

    def __getstate__(self):
        state = dict(super().__getstate__())
        model = state.pop("_model", None)
        if model is not None:
            state["_model_bytes"] = model.to_bytes()
        return state

    def __setstate__(self, state):
        state = dict(state)
        data = state.pop("_model_bytes", None)
        super().__setstate__(state)
        if data is not None:
            self._model = _native.Model.from_bytes(self._kind, data)

    def save_model(self, path):
        """Writes the fitted model as a classic-cv model file (readable by the CLI)."""
        check_is_fitted(self)
        data = self._model.to_bytes()
        with open(path, "wb") as f:
            f.write(data)


class _Classifier(_Native, ClassifierMixin, BaseEstimator):
    """Labels of any type are mapped to the crate's dense ``0..n_classes`` at fit."""

    _images = False

    def fit(self, X, y):
        X, y = validate_data(self, _pixels(X), y, dtype=np.float32, y_numeric=False)
        check_classification_targets(y)
        self.classes_, yi = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            # The crate says "too few classes"; scikit-learn's wording names the count.
            raise _native.ClassicCvError(
                f"too few classes: found {len(self.classes_)} class, need at least 2"
            )
        self._shape = _image_shape(self.image_shape, X.shape[1]) if self._images else None
        self._fit_native(X, yi, self._shape)
        if hasattr(self, "max_iter"):
            self.n_iter_ = self._model.n_iter()
        return self

    def _check(self, X):
        check_is_fitted(self)
        return validate_data(self, _pixels(X), dtype=np.float32, reset=False)

    def predict(self, X):
        X = self._check(X)
        return self.classes_[self._model.predict(X, self._shape)]


class _ProbaMixin:
    def predict_proba(self, X):
        X = self._check(X)
        p = self._model.scores(X, self._shape).astype(np.float64)
        return p / p.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))


class LinearSVC(_Classifier):
    """Linear SVM, one-vs-rest (LIBLINEAR's dual coordinate descent, or Pegasos SGD).

    ``C``, ``loss`` (``"squared_hinge"`` or ``"hinge"``), ``solver`` (``"dual_cd"`` or
    ``"sgd"``), ``bias`` (value of the constant feature; 0 = no intercept), ``max_iter``,
    ``tol``, ``random_state`` (the visiting order's seed).
    """

    _kind = "linear_svm"

    def __init__(
        self,
        C=1.0,
        loss="squared_hinge",
        solver="dual_cd",
        bias=1.0,
        max_iter=1000,
        tol=0.01,
        random_state=0,
    ):
        self.C = C
        self.loss = loss
        self.solver = solver
        self.bias = bias
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _native_params(self):
        return {
            "c": float(self.C),
            "loss": self.loss,
            "solver": self.solver,
            "bias": float(self.bias),
            "max_iter": int(self.max_iter),
            "tol": float(self.tol),
            "seed": _seed(self.random_state),
        }

    def decision_function(self, X):
        """Per-class scores; for two classes one column, ``f(x)`` of the second class."""
        X = self._check(X)
        d = self._model.scores(X, None)
        return d[:, 1] if len(self.classes_) == 2 else d


class KNeighborsClassifier(_Classifier):
    """k nearest neighbours with exact search (``metric``: l2, l1, chi2, cosine)."""

    _kind = "knn"

    def __init__(
        self,
        n_neighbors=5,
        metric="l2",
        weights="uniform",
        tie_break="nearest",
        algorithm="auto",
    ):
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.weights = weights
        self.tie_break = tie_break
        self.algorithm = algorithm

    def _native_params(self):
        return {
            "k": int(self.n_neighbors),
            "metric": self.metric,
            "weights": self.weights,
            "tie_break": self.tie_break,
            "algorithm": self.algorithm,
        }


class SoftmaxRegression(_ProbaMixin, _Classifier):
    """Multinomial logistic regression trained by mini-batch SGD, momentum or Adam."""

    _kind = "softmax"

    def __init__(
        self,
        learning_rate=0.1,
        optimizer="momentum",
        momentum=0.9,
        batch_size=128,
        epochs=20,
        l2=1e-4,
        random_state=0,
    ):
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.momentum = momentum
        self.batch_size = batch_size
        self.epochs = epochs
        self.l2 = l2
        self.random_state = random_state

    def _native_params(self):
        return {
            "learning_rate": float(self.learning_rate),
            "optimizer": self.optimizer,
            "momentum": float(self.momentum),
            "batch_size": int(self.batch_size),
            "epochs": int(self.epochs),
            "l2": float(self.l2),
            "seed": _seed(self.random_state),
        }


class RandomForestClassifier(_ProbaMixin, _Classifier):
    """Random forest of CART trees (scikit-learn's defaults)."""

    _kind = "random_forest"

    def __init__(
        self,
        n_estimators=100,
        max_depth=None,
        min_samples_split=2,
        max_features="sqrt",
        bootstrap=True,
        criterion="gini",
        random_state=0,
    ):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.max_features = max_features
        self.bootstrap = bootstrap
        self.criterion = criterion
        self.random_state = random_state

    def _native_params(self):
        mf = self.max_features
        if mf is None:
            mf = "all"
        elif isinstance(mf, numbers.Integral) and not isinstance(mf, bool):
            mf = {"count": int(mf)}
        elif isinstance(mf, numbers.Real):
            mf = {"fraction": float(mf)}
        return {
            "n_trees": int(self.n_estimators),
            "max_depth": None if self.max_depth is None else int(self.max_depth),
            "min_samples_split": int(self.min_samples_split),
            "max_features": mf,
            "bootstrap": bool(self.bootstrap),
            "criterion": self.criterion,
            "seed": _seed(self.random_state),
        }


class CNNClassifier(_ProbaMixin, _Classifier):
    """The crate's small CNN on flattened gray images (``layers``: the crate's layer list,
    ``None`` for its Fashion-MNIST default)."""

    _kind = "cnn"
    _images = True

    def __init__(
        self,
        image_shape=None,
        layers=None,
        epochs=7,
        batch_size=64,
        learning_rate=2e-3,
        weight_decay=1e-4,
        label_smoothing=0.1,
        flip=True,
        random_state=42,
    ):
        self.image_shape = image_shape
        self.layers = layers
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.label_smoothing = label_smoothing
        self.flip = flip
        self.random_state = random_state

    def _native_params(self):
        p = {
            "epochs": int(self.epochs),
            "batch_size": int(self.batch_size),
            "learning_rate": float(self.learning_rate),
            "weight_decay": float(self.weight_decay),
            "label_smoothing": float(self.label_smoothing),
            "augment": {"flip": bool(self.flip)},
            "seed": _seed(self.random_state),
        }
        if self.layers is not None:
            p["layers"] = list(self.layers)
        return p

    def predict_proba(self, X):
        X = self._check(X)
        s = self._model.scores(X, self._shape).astype(np.float64)
        s = np.exp(s - s.max(axis=1, keepdims=True))
        return s / s.sum(axis=1, keepdims=True)


class KMeansCodebook(_Native, ClusterMixin, TransformerMixin, BaseEstimator):
    """k-means codebook (k-means++ seeding, Lloyd or Hamerly): ``predict`` gives the nearest
    centre, ``transform`` the Euclidean distances to every centre."""

    _kind = "kmeans"

    def __init__(
        self,
        n_clusters=256,
        init="k-means++",
        algorithm="lloyd",
        max_iter=100,
        tol=0.0,
        max_samples=None,
        random_state=42,
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.algorithm = algorithm
        self.max_iter = max_iter
        self.tol = tol
        self.max_samples = max_samples
        self.random_state = random_state

    def _native_params(self):
        inits = {"k-means++": "PlusPlus", "random": "Random"}
        algos = {"lloyd": "Lloyd", "hamerly": "Hamerly"}
        if isinstance(self.init, str) and self.init in inits:
            init = inits[self.init]
        else:
            init = {"Given": _array_json(np.asarray(self.init, dtype=np.float32))}
        if self.algorithm not in algos:
            raise ValueError(f"algorithm must be one of {sorted(algos)}, got {self.algorithm!r}")
        return {
            "k": int(self.n_clusters),
            "init": init,
            "algorithm": algos[self.algorithm],
            "max_iter": int(self.max_iter),
            "tol": float(self.tol),
            "seed": _seed(self.random_state),
            "subsample": None if self.max_samples is None else int(self.max_samples),
        }

    def fit(self, X, y=None):
        X = validate_data(self, X, dtype=np.float32)
        self._fit_native(X)
        self.cluster_centers_ = self._model.centres()
        self.labels_ = self._model.quantize(X).astype(np.intp)
        self.n_iter_ = self._model.n_iter()
        return self

    def _check(self, X):
        check_is_fitted(self)
        return validate_data(self, X, dtype=np.float32, reset=False)

    def predict(self, X):
        X = self._check(X)
        return self._model.quantize(X).astype(np.intp)

    def transform(self, X):
        X = self._check(X).astype(np.float64)
        c = self.cluster_centers_.astype(np.float64)
        d2 = (X * X).sum(1)[:, None] - 2.0 * X @ c.T + (c * c).sum(1)[None, :]
        return np.sqrt(np.maximum(d2, 0.0)).astype(np.float32)


def _array_json(a):
    """An ndarray in serde-ndarray's JSON form."""
    return {"v": 1, "dim": list(a.shape), "data": a.ravel().tolist()}


class AdditiveKernelMap(_Native, TransformerMixin, BaseEstimator):
    """Explicit feature map of an additive homogeneous kernel (VLFeat's homkermap):
    ``kernel`` chi2, intersection or js; ``order`` n gives ``2n+1`` outputs per feature."""

    _kind = "homkermap"

    def __init__(self, kernel="chi2", order=1, gamma=1.0, period=None, window="rectangular"):
        self.kernel = kernel
        self.order = order
        self.gamma = gamma
        self.period = period
        self.window = window

    def _native_params(self):
        kernels = {"chi2": "Chi2", "intersection": "Intersection", "js": "JensenShannon"}
        windows = {"rectangular": "Rectangular", "uniform": "Uniform"}
        if self.kernel not in kernels:
            raise ValueError(f"kernel must be one of {sorted(kernels)}, got {self.kernel!r}")
        if self.window not in windows:
            raise ValueError(f"window must be one of {sorted(windows)}, got {self.window!r}")
        return {
            "kernel": kernels[self.kernel],
            "order": int(self.order),
            "gamma": float(self.gamma),
            "period": None if self.period is None else float(self.period),
            "window": windows[self.window],
        }

    def fit(self, X, y=None):
        X = validate_data(self, X, dtype=np.float32)
        self._fit_native(X)
        return self

    def transform(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        return self._model.transform(X, None)


class _SiftParams:
    """Dense SIFT, upscale and pad: the part of the crate's ``EncoderParams`` before the
    codebook."""

    def _sift_params(self):
        sift = {
            "step": int(self.step),
            "bin_size": int(self.bin_size),
            "root_sift": bool(self.root_sift),
        }
        sift.update(self.sift_params or {})
        return {"upscale": int(self.upscale), "pad": int(self.pad), "sift": sift}


class DenseSIFT(_F32, _SiftParams, TransformerMixin, BaseEstimator):
    """Dense SIFT (VLFeat's ``vl_dsift``) of flattened images: one row per image, its
    descriptors (128 values each, in the crate's keypoint order) concatenated.

    ``sift_params``: any other field of the crate's ``DenseSift`` (``window``,
    ``window_size``, ``contrast_threshold``, ``scales``, ``magnif``, ``bounds``).
    """

    def __init__(
        self,
        image_shape=None,
        step=4,
        bin_size=8,
        root_sift=False,
        upscale=1,
        pad=0,
        sift_params=None,
    ):
        self.image_shape = image_shape
        self.step = step
        self.bin_size = bin_size
        self.root_sift = root_sift
        self.upscale = upscale
        self.pad = pad
        self.sift_params = sift_params

    def fit(self, X, y=None):
        X = validate_data(self, _pixels(X), dtype=np.float32)
        self._shape = _image_shape(self.image_shape, X.shape[1])
        params = json.dumps(self._sift_params())
        self.n_keypoints_ = _native.dense_sift_count(params, self._shape)
        if self.n_keypoints_ == 0:
            raise ValueError(
                f"images of {self._shape[1]}x{self._shape[0]} have no dense SIFT keypoint "
                "at these settings (raise pad or upscale, or lower bin_size)"
            )
        return self

    def transform(self, X):
        check_is_fitted(self)
        X = validate_data(self, _pixels(X), dtype=np.float32, reset=False)
        return _native.dense_sift(json.dumps(self._sift_params()), X, self._shape)

    def descriptors(self, X):
        """The descriptors of every image as an ``(n_images, n_keypoints, 128)`` array."""
        return self.transform(X).reshape(-1, self.n_keypoints_, 128)


class _Encoder(_Native, _SiftParams, TransformerMixin, BaseEstimator):
    """Dense SIFT -> codebook -> encoding per pyramid cell -> power and L2 normalisation
    (the crate's ``EncoderParams``; fit learns the codebook from a seeded sample of the
    images)."""

    _kind = "encoder"
    _encoding = None

    def _native_params(self):
        p = self._sift_params()
        p.update(
            {
                "encoding": self._encoding,
                "k": int(self.n_clusters),
                "pyramid": [int(g) for g in self.pyramid],
                "power": float(self.power),
                "cell_l2": bool(self.cell_l2),
                "codebook_images": int(self.codebook_images),
                "codebook_descriptors": int(self.codebook_descriptors),
                "kmeans_iter": int(self.max_iter),
                "seed": _seed(self.random_state),
            }
        )
        return p

    def fit(self, X, y=None):
        X = validate_data(self, _pixels(X), dtype=np.float32)
        self._shape = _image_shape(self.image_shape, X.shape[1])
        self._fit_native(X, None, self._shape)
        self.n_features_out_ = self._model.output_dim()
        self.n_iter_ = self._model.n_iter()
        return self

    def transform(self, X):
        check_is_fitted(self)
        X = validate_data(self, _pixels(X), dtype=np.float32, reset=False)
        return self._model.transform(X, self._shape)

    def fit_files(self, paths):
        """Fits on image files (decoded as the CLI does; any sizes). ``transform_files``
        then encodes files; ``transform`` needs a fit on rows (it fixes ``image_shape``)."""
        params = json.dumps(self._native_params())
        self._model = _native.Model.fit_encoder_files(params, [str(p) for p in paths])
        self._shape = None
        self.n_features_out_ = self._model.output_dim()
        self.n_iter_ = self._model.n_iter()
        return self

    def transform_files(self, paths):
        """Encodes image files (decoded as the CLI does; any size), one row per file."""
        check_is_fitted(self)
        return self._model.transform_files([str(p) for p in paths])


def _encoder_init(self, image_shape, n_clusters, pyramid, power, cell_l2, step, bin_size,
                  root_sift, upscale, pad, sift_params, codebook_images,
                  codebook_descriptors, max_iter, random_state):
    self.image_shape = image_shape
    self.n_clusters = n_clusters
    self.pyramid = pyramid
    self.power = power
    self.cell_l2 = cell_l2
    self.step = step
    self.bin_size = bin_size
    self.root_sift = root_sift
    self.upscale = upscale
    self.pad = pad
    self.sift_params = sift_params
    self.codebook_images = codebook_images
    self.codebook_descriptors = codebook_descriptors
    self.max_iter = max_iter
    self.random_state = random_state


class BoVW(_Encoder):
    """Bag of visual words: codeword counts per spatial-pyramid cell (``n_clusters`` per
    cell)."""

    _encoding = "bovw"

    def __init__(self, image_shape=None, n_clusters=64, pyramid=(1,), power=0.5,
                 cell_l2=True, step=4, bin_size=8, root_sift=False, upscale=1, pad=0,
                 sift_params=None, codebook_images=5000, codebook_descriptors=100_000,
                 max_iter=20, random_state=0):
        _encoder_init(self, image_shape, n_clusters, pyramid, power, cell_l2, step,
                      bin_size, root_sift, upscale, pad, sift_params, codebook_images,
                      codebook_descriptors, max_iter, random_state)


class VLAD(_Encoder):
    """VLAD: residual sums per codeword and spatial-pyramid cell (``n_clusters * 128`` per
    cell)."""

    _encoding = "vlad"

    def __init__(self, image_shape=None, n_clusters=64, pyramid=(1,), power=0.5,
                 cell_l2=True, step=4, bin_size=8, root_sift=False, upscale=1, pad=0,
                 sift_params=None, codebook_images=5000, codebook_descriptors=100_000,
                 max_iter=20, random_state=0):
        _encoder_init(self, image_shape, n_clusters, pyramid, power, cell_l2, step,
                      bin_size, root_sift, upscale, pad, sift_params, codebook_images,
                      codebook_descriptors, max_iter, random_state)


class FisherVector(_Encoder):
    """Fisher vectors under a diagonal GMM of ``n_clusters`` components
    (``2 * n_clusters * 128`` per cell)."""

    _encoding = "fisher"

    def __init__(self, image_shape=None, n_clusters=64, pyramid=(1,), power=0.5,
                 cell_l2=True, step=4, bin_size=8, root_sift=False, upscale=1, pad=0,
                 sift_params=None, codebook_images=5000, codebook_descriptors=100_000,
                 max_iter=20, random_state=0):
        _encoder_init(self, image_shape, n_clusters, pyramid, power, cell_l2, step,
                      bin_size, root_sift, upscale, pad, sift_params, codebook_images,
                      codebook_descriptors, max_iter, random_state)


class CascadeClassifier:
    """Viola-Jones detection with OpenCV's cascade files and ``detectMultiScale``
    (bit-exact with OpenCV's grouping): ``cv2.CascadeClassifier`` with one import changed.
    """

    def __init__(self, filename=None):
        self._cascade = None
        if filename is not None and not self.load(filename):
            raise _native.ClassicCvIOError(f"{filename}: cannot load the cascade")

    def load(self, filename):
        """Reads an OpenCV cascade XML; returns ``False`` when it cannot (as OpenCV)."""
        try:
            self._cascade = _native.Cascade(str(filename))
        except (OSError, ValueError):
            self._cascade = None
            return False
        return True

    def empty(self):
        return self._cascade is None

    def detectMultiScale(self, image, scaleFactor=1.1, minNeighbors=3, flags=0,
                         minSize=(0, 0), maxSize=(0, 0)):
        """Boxes ``(x, y, w, h)`` as an ``int32`` array of shape ``(n, 4)``; ``image`` is
        gray ``uint8`` (``height x width``) or BGR ``uint8`` (converted as OpenCV's
        ``cvtColor(BGR2GRAY)`` does before its own detector would)."""
        return self.detectMultiScale2(image, scaleFactor, minNeighbors, flags, minSize,
                                      maxSize)[0]

    def detectMultiScale2(self, image, scaleFactor=1.1, minNeighbors=3, flags=0,
                          minSize=(0, 0), maxSize=(0, 0)):
        """As ``detectMultiScale``, with the number of raw windows of each detection."""
        if self._cascade is None:
            raise ValueError("the cascade is empty (load a cascade file first)")
        img = np.asarray(image)
        if img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8:
            b, g, r = (img[..., i].astype(np.int32) for i in range(3))
            # OpenCV's fixed-point BGR2GRAY: (B*1868 + G*9617 + R*4899 + 2^13) >> 14.
            img = ((b * 1868 + g * 9617 + r * 4899 + (1 << 13)) >> 14).astype(np.uint8)
        if img.ndim != 2 or img.dtype != np.uint8:
            raise ValueError(
                f"image must be a 2-D uint8 array (gray) or 3-channel BGR uint8, got "
                f"shape {img.shape} and dtype {img.dtype}"
            )
        min_size = tuple(int(v) for v in minSize)
        max_size = tuple(int(v) for v in maxSize) if maxSize is not None else (0, 0)
        if len(min_size) != 2 or len(max_size) != 2 or min(min_size + max_size) < 0:
            raise ValueError("minSize and maxSize must be (width, height) pairs >= 0")
        rects, counts = self._cascade.detect(
            np.ascontiguousarray(img), float(scaleFactor), int(minNeighbors), min_size,
            max_size,
        )
        return rects, counts.astype(np.int32)
