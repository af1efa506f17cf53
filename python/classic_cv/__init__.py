"""classic-cv from Python: scikit-learn estimators backed by the Rust crate.

Learners on feature vectors (``LinearSVC``, ``KNeighborsClassifier``, ``SoftmaxRegression``,
``RandomForestClassifier``), codebooks and encodings (``KMeansCodebook``, ``BoVW``, ``VLAD``,
``FisherVector``, ``AdditiveKernelMap``), ``DenseSIFT``, a small ``CNNClassifier`` and an
OpenCV-compatible ``CascadeClassifier``. Image estimators take one flattened gray image per
row (``image_shape=(height, width)``). Errors from the crate are raised as
``ClassicCvError`` (a ``ValueError``) or ``ClassicCvIOError`` (an ``OSError``).
"""

from ._native import ClassicCvError, ClassicCvIOError, load_image
from .estimators import (
    AdditiveKernelMap,
    BoVW,
    CascadeClassifier,
    CNNClassifier,
    DenseSIFT,
    FisherVector,
    KMeansCodebook,
    KNeighborsClassifier,
    LinearSVC,
    RandomForestClassifier,
    SoftmaxRegression,
    VLAD,
)

__all__ = [
    "AdditiveKernelMap",
    "BoVW",
    "CascadeClassifier",
    "CNNClassifier",
    "ClassicCvError",
    "ClassicCvIOError",
    "DenseSIFT",
    "FisherVector",
    "KMeansCodebook",
    "KNeighborsClassifier",
    "LinearSVC",
    "RandomForestClassifier",
    "SoftmaxRegression",
    "VLAD",
    "load_image",
]
