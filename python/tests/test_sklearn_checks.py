"""scikit-learn's own estimator checks on every estimator of the package.

The image estimators read each row as one image (``image_shape=None``: square when the row
length is a perfect square, else one pixel high) and pad it, so the checks' small random
matrices are valid inputs and every check runs. Expected failures are listed in
``EXPECTED_FAILED`` with the reason.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

import classic_cv as cc

SMALL_SIFT = dict(step=2, bin_size=2, pad=8)
SMALL_CODEBOOK = dict(n_clusters=2, codebook_descriptors=64, max_iter=5, **SMALL_SIFT)
SMALL_CNN_LAYERS = [{"dense": {"out_features": 16}}, "relu", {"dense": {"out_features": 8}}]

ESTIMATORS = [
    cc.LinearSVC(),
    cc.KNeighborsClassifier(),
    cc.SoftmaxRegression(),
    cc.RandomForestClassifier(n_estimators=10),
    cc.KMeansCodebook(n_clusters=3),
    cc.AdditiveKernelMap(),
    cc.DenseSIFT(**SMALL_SIFT),
    cc.BoVW(**SMALL_CODEBOOK),
    cc.VLAD(**SMALL_CODEBOOK),
    cc.FisherVector(**SMALL_CODEBOOK),
    cc.CNNClassifier(layers=SMALL_CNN_LAYERS, epochs=30, batch_size=16, flip=False),
]

# estimator class name -> {check name: reason}
EXPECTED_FAILED = {}


def _expected(estimator):
    return EXPECTED_FAILED.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected)
def test_sklearn_compatible(estimator, check):
    check(estimator)
