"""Fashion-MNIST with the `fashion-best.json` pipeline, from Python (notebook style).

Dense SIFT (2x upscale, 8 px padding, step 2, 5 px bins, RootSIFT) -> VLAD with 32 k-means
words on the whole image and each 2x2 quadrant -> signed square root, L2 per cell and
globally -> one-vs-rest linear SVM (C = 2), as a scikit-learn Pipeline of classic_cv
estimators. The model and the test accuracy equal the CLI's:

    cargo run --release -- train --config examples/configs/fashion-best.json \
        --dataset fashion-mnist -o M.bin
    cargo run --release -- --json eval M.bin --dataset fashion-mnist

Run from the repository root after `cargo run --release -- fetch-data` and
`pip install ./python`:

    python examples/python/fashion_mnist.py [--train-limit N] [--cli]

`--train-limit N` trains on the first N training images (the CLI's `--train-limit N`);
`--cli` also runs the CLI on the same data and checks that the predictions are identical.
The full run needs about 15 GB of memory (60,000 x 20,480 float32 encodings, and the SVM's
copy of them).
"""

import argparse
import gzip
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np
from sklearn.pipeline import make_pipeline

import classic_cv as cc

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "cache" / "fashion-mnist"
CONFIG = ROOT / "examples" / "configs" / "fashion-best.json"


def load_idx(name):
    """An IDX file of the Fashion-MNIST distribution as a uint8 array."""
    with gzip.open(DATA / name, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def pipeline_from_config(config):
    """The classic_cv estimators of a `{"features": {"encoder": ...}, "classifier":
    {"linear_svm": ...}}` config (the CLI's pipeline, as a scikit-learn Pipeline)."""
    enc = config["features"]["encoder"]
    sift = enc.get("sift", {})
    encoders = {"vlad": cc.VLAD, "bovw": cc.BoVW, "fisher": cc.FisherVector}
    features = encoders[enc.get("encoding", "vlad")](
        image_shape=(28, 28),
        n_clusters=enc.get("k", 64),
        pyramid=tuple(enc.get("pyramid", [1])),
        power=enc.get("power", 0.5),
        cell_l2=enc.get("cell_l2", True),
        step=sift.get("step", 4),
        bin_size=sift.get("bin_size", 8),
        root_sift=sift.get("root_sift", False),
        upscale=enc.get("upscale", 1),
        pad=enc.get("pad", 0),
        codebook_images=enc.get("codebook_images", 5000),
        codebook_descriptors=enc.get("codebook_descriptors", 100_000),
        max_iter=enc.get("kmeans_iter", 20),
        random_state=enc.get("seed", 0),
    )
    svm = config["classifier"]["linear_svm"]
    classifier = cc.LinearSVC(C=svm.get("c", 1.0), random_state=svm.get("seed", 0))
    return make_pipeline(features, classifier)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-limit", type=int, default=None)
    ap.add_argument("--cli", action="store_true", help="compare with the CLI's predictions")
    args = ap.parse_args()

    X_train = load_idx("train-images-idx3-ubyte.gz").reshape(-1, 784)
    y_train = load_idx("train-labels-idx1-ubyte.gz")
    X_test = load_idx("t10k-images-idx3-ubyte.gz").reshape(-1, 784)
    y_test = load_idx("t10k-labels-idx1-ubyte.gz")
    if args.train_limit:
        X_train, y_train = X_train[: args.train_limit], y_train[: args.train_limit]

    config = json.loads(CONFIG.read_text())
    model = pipeline_from_config(config)
    print(model)
    t = time.perf_counter()
    model.fit(X_train, y_train)  # uint8 pixels are read as v / 255, as the CLI reads them
    t_fit = time.perf_counter() - t
    t = time.perf_counter()
    pred = model.predict(X_test)
    t_pred = time.perf_counter() - t
    acc = float(np.mean(pred == y_test))
    print(f"train {len(X_train)} images: {t_fit:.1f} s; test {len(X_test)}: {t_pred:.1f} s")
    print(f"test accuracy: {acc:.4f}")

    if args.cli:
        target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
        exe = target / "release" / "classic-cv"
        with tempfile.TemporaryDirectory() as tmp:
            m, p = pathlib.Path(tmp) / "M.bin", pathlib.Path(tmp) / "pred.npy"
            limit = ["--train-limit", str(args.train_limit)] if args.train_limit else []
            subprocess.run([exe, "train", "--config", CONFIG, "--dataset", "fashion-mnist",
                            "-o", m, *limit], check=True)
            subprocess.run([exe, "eval", m, "--dataset", "fashion-mnist", "--predictions", p],
                           check=True, stdout=subprocess.DEVNULL)
            cli_pred = np.load(p)
        same = bool(np.array_equal(cli_pred, pred))
        print(f"CLI accuracy: {float(np.mean(cli_pred == y_test)):.4f}; "
              f"identical predictions: {same}")
        if not same:
            sys.exit(1)


if __name__ == "__main__":
    main()
