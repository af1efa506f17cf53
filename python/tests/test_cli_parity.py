"""The Python estimators give the CLI's results on the same data (the release binary run
on .npy files: `classic-cv train` then `eval --predictions`), inside scikit-learn's
Pipeline, and GridSearchCV picks what a hand-written cross-validation picks."""

import json

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline

import classic_cv as cc


def _tabular(seed=0, n=240, d=12, k=3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 2.0, (k, d))
    y = rng.integers(0, k, n).astype(np.uint32)
    X = (centres[y] + rng.normal(0, 1.5, (n, d))).astype(np.float32)
    return X[: n * 3 // 4], y[: n * 3 // 4], X[n * 3 // 4 :], y[n * 3 // 4 :]


def _images(seed=1, n=48, side=20):
    """Two classes of small textured images: vertical vs horizontal stripes with noise."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 2).astype(np.uint32)
    yy, xx = np.mgrid[0:side, 0:side]
    X = np.empty((n, side, side), np.float32)
    for i in range(n):
        f = rng.uniform(0.5, 1.2)
        coord = xx if y[i] == 0 else yy
        X[i] = 0.5 + 0.4 * np.sin(coord * f + rng.uniform(0, 6)) + rng.normal(0, 0.1, (side, side))
    return np.clip(X, 0, 1), y


def _cli_predictions(cli, tmp_path, config, Xtr, ytr, Xte, yte):
    for name, a in [("xtr", Xtr), ("ytr", ytr), ("xte", Xte), ("yte", yte)]:
        np.save(tmp_path / f"{name}.npy", a)
    (tmp_path / "cfg.json").write_text(json.dumps(config))
    model = tmp_path / "model.bin"
    # No --seed: when given it overrides the config's seeds, and the configs here carry them.
    cli("train", "--config", tmp_path / "cfg.json",
        "--dataset", f"npy:{tmp_path / 'xtr.npy'},{tmp_path / 'ytr.npy'}", "-o", model)
    pred = tmp_path / "pred.npy"
    cli("eval", model, "--dataset", f"npy:{tmp_path / 'xte.npy'},{tmp_path / 'yte.npy'}",
        "--predictions", pred)
    return np.load(pred)


CLASSIFIERS = [
    ({"linear_svm": {"c": 0.5, "seed": 0}}, lambda: cc.LinearSVC(C=0.5)),
    ({"linear_svm": {"c": 2.0, "loss": "hinge", "seed": 0}}, lambda: cc.LinearSVC(C=2.0, loss="hinge")),
    ({"knn": {"k": 5, "metric": "l2"}}, lambda: cc.KNeighborsClassifier(5)),
    ({"knn": {"k": 3, "metric": "l1", "weights": "distance"}},
     lambda: cc.KNeighborsClassifier(3, metric="l1", weights="distance")),
    ({"softmax": {"epochs": 5, "seed": 0}}, lambda: cc.SoftmaxRegression(epochs=5)),
    ({"random_forest": {"n_trees": 15, "seed": 3}},
     lambda: cc.RandomForestClassifier(n_estimators=15, random_state=3)),
]


@pytest.mark.parametrize("config,make", CLASSIFIERS, ids=[list(c)[0] for c, _ in CLASSIFIERS])
def test_classifiers_predict_as_the_cli(cli, tmp_path, config, make):
    Xtr, ytr, Xte, yte = _tabular()
    want = _cli_predictions(cli, tmp_path, {"features": {"pixels": {}}, "classifier": config},
                            Xtr, ytr, Xte, yte)
    est = make().fit(Xtr, ytr)
    np.testing.assert_array_equal(est.predict(Xte), want)
    # The same model through pickling.
    import pickle

    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict(Xte), want)


ENCODER = {"upscale": 1, "pad": 4, "sift": {"step": 3, "bin_size": 3}, "k": 4,
           "pyramid": [1, 2], "codebook_images": 30, "codebook_descriptors": 500,
           "kmeans_iter": 5, "seed": 0}
ENCODER_PY = dict(n_clusters=4, pyramid=(1, 2), step=3, bin_size=3, pad=4,
                  codebook_images=30, codebook_descriptors=500, max_iter=5, random_state=0)


@pytest.mark.parametrize("encoding,cls", [("bovw", cc.BoVW), ("vlad", cc.VLAD),
                                          ("fisher", cc.FisherVector)])
def test_encoder_pipeline_predicts_as_the_cli(cli, tmp_path, encoding, cls):
    X, y = _images()
    Xtr, ytr, Xte, yte = X[:36], y[:36], X[36:], y[36:]
    config = {"features": {"encoder": dict(ENCODER, encoding=encoding)},
              "classifier": {"linear_svm": {"c": 1.0}}}
    want = _cli_predictions(cli, tmp_path, config, Xtr, ytr, Xte, yte)
    pipe = make_pipeline(cls(image_shape=(20, 20), **ENCODER_PY), cc.LinearSVC(C=1.0))
    pipe.fit(Xtr.reshape(36, -1), ytr)
    np.testing.assert_array_equal(pipe.predict(Xte.reshape(len(Xte), -1)), want)


def test_grid_search_picks_what_manual_cross_validation_picks():
    X, y = _images(n=40)
    X = X.reshape(len(X), -1)
    pipe = Pipeline([("enc", cc.BoVW(image_shape=(20, 20), **ENCODER_PY)),
                     ("svm", cc.LinearSVC())])
    grid = {"svm__C": [0.01, 1.0, 100.0], "enc__n_clusters": [2, 4]}
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    gs = GridSearchCV(pipe, grid, cv=cv).fit(X, y)
    means = {}
    for c in grid["svm__C"]:
        for k in grid["enc__n_clusters"]:
            scores = []
            for tr, te in cv.split(X, y):
                p = Pipeline([("enc", cc.BoVW(image_shape=(20, 20), **dict(ENCODER_PY, n_clusters=k))),
                              ("svm", cc.LinearSVC(C=c))]).fit(X[tr], y[tr])
                scores.append(p.score(X[te], y[te]))
            means[(c, k)] = np.mean(scores)
    best = max(means.values())
    assert gs.best_score_ == pytest.approx(best, abs=1e-12)
    assert means[(gs.best_params_["svm__C"], gs.best_params_["enc__n_clusters"])] == best
