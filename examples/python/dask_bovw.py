"""BoVW encodings of a folder of images on a Dask cluster, checked against one process.

    python examples/python/dask_bovw.py                      # a 2-worker LocalCluster
    python examples/python/dask_bovw.py --scheduler tcp://scheduler:8786 --folder /shared/imgs

The same code runs on a LocalCluster and on a real scheduler: only the Client changes.
Workers read the image files themselves, so the folder must be visible to every worker.
The codebook is learnt from dense SIFT of a seeded sample of the images (computed on the
workers; only the chosen descriptor rows come back), then every partition of files is
encoded where it runs and the encodings are collected as a Dask array. With --check, the
single-process result is computed too and compared byte for byte.
"""

import argparse
import pathlib
import time

from distributed import Client, LocalCluster

import classic_cv as cc
import classic_cv.dask as ccd

ROOT = pathlib.Path(__file__).resolve().parents[2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scheduler", help="address of a running scheduler (default: LocalCluster)")
    ap.add_argument("--folder", default=str(ROOT / "data" / "cache" / "opencv-doc"))
    ap.add_argument("--workers", type=int, default=2, help="LocalCluster workers")
    ap.add_argument("--partition-size", type=int, default=8)
    ap.add_argument("--check", action="store_true", help="compare with one process")
    args = ap.parse_args()

    if args.scheduler:
        client = Client(args.scheduler)
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    paths = ccd.image_files(args.folder)
    print(f"{len(paths)} images in {args.folder}; {client}")

    def make():
        # The ImageNet recipe's shape at a small scale: dense SIFT at 3 scales, BoVW with a
        # 2-level spatial pyramid.
        return cc.BoVW(n_clusters=64, pyramid=(1, 2), step=8, bin_size=8,
                       sift_params={"scales": [4, 6, 8]}, codebook_images=1000,
                       codebook_descriptors=50_000, max_iter=10, random_state=0)

    t = time.perf_counter()
    enc = ccd.fit_encoder(client, make(), paths, partition_size=args.partition_size)
    t_fit = time.perf_counter() - t
    t = time.perf_counter()
    codes = ccd.encode(client, enc, paths, partition_size=args.partition_size)
    out = codes.compute()
    t_enc = time.perf_counter() - t
    print(f"codebook {t_fit:.1f} s, encodings {out.shape} in {t_enc:.1f} s "
          f"({codes.numblocks[0]} partitions)")

    if args.check:
        single = make().fit_files(paths)
        want = single.transform_files(paths)
        print(f"codebook identical: {single._model.to_bytes() == enc._model.to_bytes()}; "
              f"encodings identical: {want.tobytes() == out.tobytes()}")
    client.close()


if __name__ == "__main__":
    main()
