"""Hostile inputs raise Python exceptions (ValueError / OSError subclasses with the crate's
messages) and never crash the interpreter; non-contiguous arrays give the contiguous
result; pickles and model bytes round-trip and are checked."""

import pickle

import numpy as np
import pytest

import classic_cv as cc
from classic_cv import _native


def _data(n=60, d=8, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = (rng.normal(size=(n, d)) + y[:, None]).astype(np.float32)
    return X, y


LEARNERS = [cc.LinearSVC, cc.KNeighborsClassifier, cc.SoftmaxRegression,
            lambda: cc.RandomForestClassifier(n_estimators=5)]


@pytest.mark.parametrize("make", LEARNERS)
def test_bad_arrays_raise_value_error(make):
    X, y = _data()
    est = make().fit(X, y)
    bad = [
        np.full(X.shape, "a"),  # wrong dtype (text)
        X.astype(np.complex64),  # complex
        X[:, :5],  # wrong number of features
        X[0],  # 1-D
        X[None],  # 3-D
        np.where(np.arange(X.size).reshape(X.shape) == 7, np.nan, X),  # NaN
        np.where(np.arange(X.size).reshape(X.shape) == 7, np.inf, X),  # inf
        np.empty((0, X.shape[1]), np.float32),  # no rows
    ]
    for b in bad:
        with pytest.raises(ValueError):
            est.predict(b)
    with pytest.raises(ValueError):
        make().fit(np.where(np.arange(X.size).reshape(X.shape) == 3, np.nan, X), y)
    with pytest.raises(ValueError):
        make().fit(X, y[:-1])


@pytest.mark.parametrize("make", LEARNERS)
def test_non_contiguous_inputs_give_the_contiguous_result(make):
    X, y = _data()
    wide = np.zeros((X.shape[0], 2 * X.shape[1]), np.float32)
    wide[:, ::2] = X
    strided = wide[:, ::2]  # every other column: not contiguous
    fortran = np.asfortranarray(X)
    assert not strided.flags.c_contiguous and not fortran.flags.c_contiguous
    a = make().fit(X, y)
    b = make().fit(strided, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(fortran))
    np.testing.assert_array_equal(a.predict(X), a.predict(X[::-1])[::-1])


def test_crate_errors_keep_their_messages_and_types():
    X, y = _data()
    with pytest.raises(cc.ClassicCvError, match=r"invalid parameter `c`"):
        cc.LinearSVC(C=-1.0).fit(X, y)
    with pytest.raises(cc.ClassicCvError, match=r"invalid parameter `k`"):
        cc.KNeighborsClassifier(n_neighbors=0).fit(X, y)
    with pytest.raises(ValueError, match="random_state"):
        cc.LinearSVC(random_state=np.random.RandomState(0)).fit(X, y)
    assert issubclass(cc.ClassicCvError, ValueError)
    assert issubclass(cc.ClassicCvIOError, OSError)
    with pytest.raises(cc.ClassicCvIOError):
        cc.load_image("/nonexistent/image.png")
    with pytest.raises(ValueError, match="image_shape"):
        cc.VLAD(image_shape=(5, 5), n_clusters=2).fit(X)


def test_pickles_are_the_crate_model_bytes_and_are_checked():
    X, y = _data()
    est = cc.LinearSVC().fit(X, y)
    state = est.__getstate__()
    data = state["_model_bytes"]
    assert data.startswith(b"CCVMODEL")
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.decision_function(X), est.decision_function(X))
    broken = bytearray(data)
    broken[len(broken) // 2] ^= 0xFF
    with pytest.raises(cc.ClassicCvError):
        _native.Model.from_bytes("linear_svm", bytes(broken))
    with pytest.raises(cc.ClassicCvError, match="holds a `linear-svm` model"):
        _native.Model.from_bytes("knn", data)
    for cut in (0, 8, 20, len(data) - 1):
        with pytest.raises(cc.ClassicCvError):
            _native.Model.from_bytes("linear_svm", data[:cut])


def test_image_estimators_reject_bad_images():
    X = np.random.default_rng(0).random((6, 400)).astype(np.float32)
    sift = cc.DenseSIFT(image_shape=(20, 20), step=4, bin_size=3).fit(X)
    with pytest.raises(ValueError):
        sift.transform(X[:, :399])
    with pytest.raises(ValueError):
        sift.transform(np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X))
    with pytest.raises(ValueError, match="too small"):
        cc.DenseSIFT(image_shape=(4, 4), bin_size=8).fit(np.zeros((2, 16), np.float32))
    u8 = (X * 255).round().astype(np.uint8)
    np.testing.assert_array_equal(sift.transform(u8), sift.transform(u8.astype(np.float32) / 255))


def test_cascade_rejects_bad_files_and_images(tmp_path):
    with pytest.raises(OSError):
        cc.CascadeClassifier(tmp_path / "missing.xml")
    bad = tmp_path / "bad.xml"
    bad.write_text("<opencv_storage><cascade>")
    c = cc.CascadeClassifier()
    assert not c.load(bad) and c.empty()
    with pytest.raises(ValueError):
        c.detectMultiScale(np.zeros((10, 10), np.uint8))
