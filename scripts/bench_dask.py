"""Throughput of classic_cv.dask's feature extraction: 1 worker x 1 thread vs 2 workers x 1
thread on LocalClusters (processes), with the same fitted encoder.

    python scripts/bench_dask.py                 # 10,000 Fashion-MNIST PNGs, 3 rounds
    python scripts/bench_dask.py --n 500 --rounds 1   # a quick check

N images (the Fashion-MNIST test set first, then the training set) are written once as
8-bit PNG files into --folder (default: a folder under the system temp dir, reused by
later runs). The encoder has the dense SIFT of `fashion-best.json` (2x upscale, 8 px
padding, step 2, 5 px bins, RootSIFT) and a 1x1 + 2x2 pyramid; by default BoVW with 64 words
(320 floats per image, so that the run measures extraction rather than shipping results),
or with --encoding vlad that config's VLAD with 32 words (20,480 floats per image: 0.8 GB
of results per run at 10,000 images). It is fitted once, in this process. Each round times `classic_cv.dask.encode(...)` computed on each cluster
(interleaved, the order alternating between rounds), from the call to the gathered
`n x dim` array, after one warm-up run per cluster (worker start, imports, the model's
first decode). Every result must be byte-identical to the single-process
`transform_files`; the script exits 1 otherwise. Prints the medians, throughput and the
speedup of 2 workers over 1.

Run it on an otherwise idle machine with at least 2 cores. Each worker sizes the crate's
thread pool to its own thread count (classic_cv.dask does it); setting RAYON_NUM_THREADS in
this script's environment overrides that in every worker (e.g. RAYON_NUM_THREADS=2 shows
what oversubscription costs).
"""

import argparse
import logging
import os
import pathlib
import statistics
import struct
import sys
import tempfile
import time
import zlib

import numpy as np

from benchlib import cpu_name, load_idx

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "cache" / "fashion-mnist"
IDX = ["t10k-images-idx3-ubyte.gz", "train-images-idx3-ubyte.gz"]


def png_gray(pixels):
    """An 8-bit gray PNG of a 2-D uint8 array (no filter, zlib level 6)."""
    h, w = pixels.shape

    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def image_folder(folder, n):
    """Writes the first n Fashion-MNIST images (test set, then training set) as PNGs into
    folder once; returns their paths in order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{i:06d}.png" for i in range(n)]
    done = folder / f"complete-{n}"
    if done.exists():
        return [str(p) for p in paths]
    missing = [name for name in IDX if not (DATA / name).exists()]
    if missing:
        sys.exit(f"error: {DATA / missing[0]} is missing: run `classic-cv fetch-data` first")
    images = np.concatenate([load_idx(DATA / name) for name in IDX])
    if n > len(images):
        sys.exit(f"error: --n {n} is more than the {len(images)} Fashion-MNIST images")
    for p, im in zip(paths, images[:n]):
        p.write_bytes(png_gray(im))
    done.write_text("")
    return [str(p) for p in paths]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="number of images")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds per cluster")
    ap.add_argument("--partition-size", type=int, default=64, help="images per Dask task")
    ap.add_argument("--folder", type=pathlib.Path, help="where the PNGs are written once")
    ap.add_argument("--encoding", choices=["bovw", "vlad"], default="bovw")
    args = ap.parse_args()
    if args.n < 1 or args.rounds < 1:
        sys.exit("error: --n and --rounds must be at least 1")

    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.ERROR)

    import classic_cv as cc
    import classic_cv.dask as ccd

    folder = args.folder or pathlib.Path(tempfile.gettempdir()) / f"classic-cv-bench-dask-{args.n}"
    paths = image_folder(folder, args.n)
    encoder, words = (cc.VLAD, 32) if args.encoding == "vlad" else (cc.BoVW, 64)
    enc = encoder(n_clusters=words, pyramid=(1, 2), power=0.5, cell_l2=True, step=2,
                  bin_size=5, root_sift=True, upscale=2, pad=8, codebook_images=2000,
                  random_state=0)
    enc.fit_files(paths[: min(len(paths), 10_000)])
    t = time.perf_counter()
    reference = enc.transform_files(paths)
    t_single = time.perf_counter() - t

    clusters = {}
    for workers in (1, 2):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        clusters[workers] = (cluster, Client(cluster, set_as_default=False))

    def run(client, subset):
        t = time.perf_counter()
        codes = ccd.encode(client, enc, subset, partition_size=args.partition_size)
        out = client.compute(codes, sync=True)
        return time.perf_counter() - t, out

    warm = paths[: 4 * args.partition_size]
    for workers, (_, client) in clusters.items():
        run(client, warm)
    pools = {w: sorted(c.run(lambda: os.environ.get("RAYON_NUM_THREADS")).values(), key=str)
             for w, (_, c) in clusters.items()}

    load_before = os.getloadavg()
    times = {1: [], 2: []}
    identical = True
    for r in range(args.rounds):
        for workers in ((1, 2) if r % 2 == 0 else (2, 1)):
            dt, out = run(clusters[workers][1], paths)
            times[workers].append(dt)
            same = out.dtype == reference.dtype and out.shape == reference.shape and \
                out.tobytes() == reference.tobytes()
            identical &= same
            print(f"round {r + 1}: {workers} worker{'s' if workers > 1 else ' '} {dt:8.2f} s  "
                  f"{'identical' if same else 'DIFFERENT'}", flush=True)
    load_after = os.getloadavg()
    for cluster, client in clusters.values():
        client.close()
        cluster.close()

    med = {w: statistics.median(t) for w, t in times.items()}
    print()
    print(f"CPU                {cpu_name()} ({os.cpu_count()} logical cores)")
    print(f"load average       {load_before[0]:.2f} before, {load_after[0]:.2f} after the rounds")
    print(f"images             {args.n} PNGs in {folder}, {args.partition_size} per task, "
          f"{args.encoding} encodings of {reference.shape[1]} floats")
    print(f"worker pools       RAYON_NUM_THREADS per worker: "
          f"1 worker {pools[1]}, 2 workers {pools[2]}")
    print(f"single process     {t_single:.2f} s ({args.n / t_single:.0f} images/s, all cores; "
          "the reference)")
    print(f"{'cluster':<24}{'median s':>10}{'images/s':>10}   rounds (s)")
    for w in (1, 2):
        label = f"{w} worker{'s' if w > 1 else ''} x 1 thread"
        print(f"{label:<24}{med[w]:>10.2f}{args.n / med[w]:>10.0f}   "
              + " ".join(f"{t:.2f}" for t in times[w]))
    print(f"speedup            {med[1] / med[2]:.2f}x (2 workers over 1; medians of "
          f"{args.rounds})")
    print(f"encodings          {'identical to one process' if identical else 'DIFFERENT'}")
    sys.exit(0 if identical else 1)


if __name__ == "__main__":
    main()
