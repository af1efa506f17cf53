"""Overhead of the Python package against the CLI and the Rust library on Fashion-MNIST.

    python scripts/bench_python.py                           # full 60k / 10k, 5 rounds
    python scripts/bench_python.py --train-limit 5000 --limit 1000 --rounds 3   # quick

(a) `KNeighborsClassifier` (k = 5, L2) and `LinearSVC` (examples/configs/linear-svm.json's
    params) fit on the first --train-limit training images (raw pixels, v / 255) and predict
    the first --limit test images, from Python and through the CLI (`classic-cv train
    --config <pixels + the same params> --dataset fashion-mnist` then `classic-cv eval
    --predictions`). Python's side is the wall time of `fit` and of `predict` (input checks,
    copies and the native call); the CLI's side is the time the CLI reports itself
    (`fit_seconds`, `predict_seconds` of `--json`: the pipeline's fit and the batch
    prediction, without process start, dataset decoding or model writing; whole-process
    times are printed too). The predictions must be identical.
(b) `DenseSIFT` (the `fashion-best.json` settings: 2x upscale, 8 px padding, step 2, 5 px
    bins, RootSIFT) of the first --dsift-images test images from Python (`transform`)
    against the same library call in a Rust process (`examples/dsift_batch.rs`: rows into
    images, `local_features` in parallel, one output matrix: what `transform` runs
    natively), timed inside that process. The descriptors must be identical (sha256).

Both sides run on --threads threads (default: all cores): RAYON_NUM_THREADS for this
process, `--threads` for the CLI and the example. Rounds are interleaved (the order
alternates) and medians are reported, with the ratio Python / Rust (1.05 = 5 % slower).
Run on an otherwise idle machine; the table shows the load average. Needs the release CLI
and example (`cargo build --release --bin classic-cv --example dsift_batch`), the data
(`classic-cv fetch-data`) and `pip install ./python`. Exits 1 if any result differs.
"""

import argparse
import hashlib
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchlib import cpu_name, load_idx

ROOT = pathlib.Path(__file__).resolve().parents[1]


def pixels(images):
    """Images as float32 rows in [0, 1]: v / 255 in float32, the crate's reader."""
    return images.reshape(len(images), -1).astype(np.float32) / np.float32(255)


def run_json(cmd):
    """Runs a command that prints one JSON object; returns it and the process's wall time."""
    t = time.perf_counter()
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(map(str, cmd))} failed:\n{done.stderr}")
    return json.loads(done.stdout), wall


def executable(given, env, default):
    path = pathlib.Path(given or os.environ.get(env) or default)
    if not path.exists():
        sys.exit(f"error: {path} not found: run `cargo build --release --bin classic-cv "
                 "--example dsift_batch` (or give its path)")
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-limit", type=int, default=60_000, help="training images")
    ap.add_argument("--limit", type=int, default=10_000, help="test images")
    ap.add_argument("--dsift-images", type=int, default=1000, help="images for DenseSIFT")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--only", choices=["knn", "svm", "dsift"], action="append",
                    help="run only these parts (repeatable; default: all)")
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
    ap.add_argument("--cli", help="the classic-cv binary (default: $CLASSIC_CV_BIN, else "
                    "the release build)")
    ap.add_argument("--dsift-bin", help="the dsift_batch example (default: the release build)")
    ap.add_argument("--data-dir", default=str(ROOT / "data" / "cache"))
    args = ap.parse_args()
    if min(args.train_limit, args.limit, args.dsift_images, args.rounds, args.threads) < 1:
        sys.exit("error: limits, --rounds and --threads must be at least 1")
    parts = args.only or ["knn", "svm", "dsift"]
    # Before the first native call: the crate's thread pool reads it once.
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    import classic_cv as cc

    cli = executable(args.cli, "CLASSIC_CV_BIN", target / "classic-cv")
    dsift_bin = executable(args.dsift_bin, "", target / "examples" / "dsift_batch")
    data = pathlib.Path(args.data_dir) / "fashion-mnist"
    names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    if not all((data / n).exists() for n in names):
        sys.exit(f"error: Fashion-MNIST is missing under {data}: run `classic-cv fetch-data`")
    Xtr = pixels(load_idx(data / names[0])[: args.train_limit])
    ytr = load_idx(data / names[1])[: args.train_limit].astype(np.uint32)
    Xte = pixels(load_idx(data / names[2])[: args.limit])
    Xds = pixels(load_idx(data / names[2])[: args.dsift_images])
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="classic-cv-bench-python-"))
    threads = ["--threads", args.threads]

    learners = {
        "knn": lambda: cc.KNeighborsClassifier(n_neighbors=5, metric="l2"),
        "svm": lambda: cc.LinearSVC(C=0.01, loss="squared_hinge", solver="dual_cd", bias=1.0,
                                    max_iter=1000, tol=0.01, random_state=0),
    }
    rows = []  # (task, python seconds list, rust seconds list, identical, what the rust side is)
    ok = True
    load_before = os.getloadavg()

    for name in [p for p in ("knn", "svm") if p in parts]:
        est = learners[name]()
        config = tmp / f"{name}.json"
        config.write_text(json.dumps({"features": {"pixels": {}},
                                      "classifier": {est._kind: est._native_params()}}))
        model, pred = tmp / f"{name}.bin", tmp / f"{name}-pred.npy"
        py_fit, py_pred, cli_fit, cli_pred, cli_wall = [], [], [], [], []
        same = True
        for r in range(args.rounds):
            for side in (("py", "cli") if r % 2 == 0 else ("cli", "py")):
                if side == "py":
                    est = learners[name]()
                    t = time.perf_counter()
                    est.fit(Xtr, ytr)
                    t1 = time.perf_counter()
                    got = est.predict(Xte)
                    t2 = time.perf_counter()
                    py_fit.append(t1 - t)
                    py_pred.append(t2 - t1)
                else:
                    trained, w1 = run_json([cli, "train", "--json", "--config", config,
                                            "--dataset", "fashion-mnist", "--train-limit",
                                            args.train_limit, "-o", model, "--data-dir",
                                            args.data_dir, *threads])
                    evaluated, w2 = run_json([cli, "eval", "--json", model, "--dataset",
                                              "fashion-mnist", "--limit", args.limit,
                                              "--predictions", pred, "--data-dir",
                                              args.data_dir, *threads])
                    cli_fit.append(trained["fit_seconds"])
                    cli_pred.append(evaluated["predict_seconds"])
                    cli_wall.append(w1 + w2)
                    want = np.load(pred)
            same &= np.array_equal(np.asarray(got, np.int64), want.astype(np.int64))
            print(f"{name} round {r + 1}: python {py_fit[-1]:.3f} + {py_pred[-1]:.3f} s, "
                  f"CLI {cli_fit[-1]:.3f} + {cli_pred[-1]:.3f} s "
                  f"(processes {cli_wall[-1]:.2f} s)", flush=True)
        ok &= same
        rows.append((f"{name} fit", py_fit, cli_fit, same, "CLI fit_seconds"))
        rows.append((f"{name} predict", py_pred, cli_pred, same, "CLI predict_seconds"))
        rows.append((f"{name} fit+predict", [a + b for a, b in zip(py_fit, py_pred)],
                     [a + b for a, b in zip(cli_fit, cli_pred)], same, "CLI reported sum"))
        rows.append((f"{name} CLI processes", [a + b for a, b in zip(py_fit, py_pred)],
                     cli_wall, same, "CLI train+eval wall"))

    if "dsift" in parts:
        ds = cc.DenseSIFT(image_shape=(28, 28), step=2, bin_size=5, root_sift=True, upscale=2,
                          pad=8).fit(Xds)
        params = json.dumps(ds._sift_params())
        np.save(tmp / "dsift.npy", Xds)
        out = ds.transform(Xds)  # warm-up
        py_t, rs_t = [], []
        same = True
        for r in range(args.rounds):
            for side in (("py", "rs") if r % 2 == 0 else ("rs", "py")):
                if side == "py":
                    t = time.perf_counter()
                    out = ds.transform(Xds)
                    py_t.append(time.perf_counter() - t)
                else:
                    res, _ = run_json([dsift_bin, tmp / "dsift.npy", 28, 28, params, 1,
                                       args.threads])
                    rs_t.append(res["seconds"][0])
            digest = hashlib.sha256(np.ascontiguousarray(out, "<f4").tobytes()).hexdigest()
            same &= digest == res["sha256"] and list(out.shape) == res["shape"]
            print(f"dsift round {r + 1}: python {py_t[-1]:.3f} s, rust {rs_t[-1]:.3f} s",
                  flush=True)
        ok &= same
        rows.append((f"DenseSIFT x{args.dsift_images}", py_t, rs_t, same,
                     "dsift_batch in-process"))

    load_after = os.getloadavg()
    print()
    print(f"CPU           {cpu_name()} ({os.cpu_count()} logical cores)")
    print(f"load average  {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print(f"threads       {args.threads} (Python, CLI and example)")
    print(f"data          {len(Xtr)} training, {len(Xte)} test, {len(Xds)} DenseSIFT images; "
          f"medians of {args.rounds} interleaved rounds")
    print(f"{'task':<22}{'python s':>10}{'rust s':>10}{'ratio':>8}  {'same':<6}rust side")
    for task, py, rs, same, what in rows:
        p, q = statistics.median(py), statistics.median(rs)
        print(f"{task:<22}{p:>10.3f}{q:>10.3f}{p / q:>8.3f}  {'yes' if same else 'NO':<6}{what}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
