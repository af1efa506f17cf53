"""Dense SIFT and encodings of image files on a Dask ``distributed`` cluster.

How the work is split, and what crosses the network:

* ``fit_encoder(client, estimator, paths)`` learns the codebook of a ``BoVW``, ``VLAD`` or
  ``FisherVector`` estimator. The client draws the seeded sample of training images (paths
  only), workers run dense SIFT on their partitions of that sample and keep the descriptors
  in their memory, sending back only the descriptor count of each image; the client draws
  the seeded sample of pooled descriptors from those counts, each worker sends back only
  its chosen rows (at most ``codebook_descriptors`` x 128 floats in all), and the client
  fits the codebook on them.
* ``encode(client, estimator, paths)`` scatters the fitted model's bytes to every worker
  once (each worker process decodes them once and keeps the model), then each partition of
  paths is decoded, described and encoded where it runs; only the paths go out and only
  the encodings (``n x dim`` float32) come back, as blocks of a Dask array.

Threads: each worker process runs the crate's native calls on as many threads as the worker
has (``nthreads``, e.g. ``LocalCluster(threads_per_worker=1)``), not one per core, so ``n``
single-thread workers on ``n`` cores run ``n`` threads, not ``n x n`` (the crate's thread
pool is sized once per process, from ``RAYON_NUM_THREADS`` before its first native call; a
``RAYON_NUM_THREADS`` already in the worker's environment wins).

Both steps draw the same seeded samples and run the same code as ``estimator.fit`` and
``estimator.transform_files`` in one process, so the results are bit-identical to the
single-process run whatever the number of workers or partitions. Workers read the image
files themselves: the paths must be valid on every worker (a shared file system).
"""

import hashlib
import json
import multiprocessing
import os
import pathlib

import numpy as np

from . import _native

__all__ = ["encode", "fit_encoder", "image_files"]

# Per worker process: decoded models by the sha256 of their bytes, and how many decodes ran.
_MODELS = {}
_DECODES = 0


def image_files(folder):
    """The image files under ``folder`` (the crate's extensions), sorted by path."""
    exts = {"." + e for e in _native.IMAGE_EXTENSIONS}
    return sorted(str(p) for p in pathlib.Path(folder).rglob("*") if p.suffix.lower() in exts)


def _paths(paths):
    if isinstance(paths, (str, pathlib.Path)):
        return image_files(paths)
    return [str(p) for p in paths]


def _chunks(seq, size):
    if size < 1:
        raise ValueError(f"partition_size must be at least 1, got {size}")
    return [seq[i : i + size] for i in range(0, len(seq), size)]


def _size_thread_pool():
    """In a worker process, sizes the crate's thread pool to the worker's ``nthreads`` before
    the first native call of the process: rayon starts one thread per core otherwise, so
    every worker would use every core. Workers running in the client's process
    (``processes=False``) share its pool and are left alone, as is an explicit
    ``RAYON_NUM_THREADS``."""
    if "RAYON_NUM_THREADS" in os.environ or multiprocessing.parent_process() is None:
        return
    try:
        from distributed import get_worker

        nthreads = get_worker().state.nthreads
    except (ImportError, ValueError, AttributeError):
        return
    os.environ["RAYON_NUM_THREADS"] = str(max(1, int(nthreads)))


def _sift_part(params, paths):
    _size_thread_pool()
    return _native.dense_sift_files(params, paths)


def _counts(descriptors):
    return [d.shape[0] for d in descriptors]


def _select(descriptors, rows):
    if len(rows) == 0:
        return np.empty((0, 128), np.float32)
    return np.concatenate(descriptors)[rows]


def fit_encoder(client, estimator, paths, partition_size=64):
    """Fits ``estimator`` (``BoVW``, ``VLAD`` or ``FisherVector``) on image files (a list
    of paths or a folder) with the work spread over ``client``'s workers; returns it."""
    paths = _paths(paths)
    if not paths:
        raise ValueError("no image files to fit on")
    params = json.dumps(estimator._native_params())
    sampled = [paths[i] for i in _native.codebook_sample(params, len(paths))]
    parts = _chunks(sampled, partition_size)
    feats = client.map(_sift_part, [params] * len(parts), parts, pure=False)
    counts = client.gather(client.map(_counts, feats))
    sizes = [sum(c) for c in counts]
    chosen = np.asarray(_native.codebook_descriptor_sample(params, sum(sizes)), np.int64)
    starts = np.cumsum([0] + sizes)
    rows = [chosen[(chosen >= a) & (chosen < b)] - a for a, b in zip(starts[:-1], starts[1:])]
    picked = client.gather(client.map(_select, feats, rows))
    del feats
    X = np.ascontiguousarray(np.concatenate(picked), dtype=np.float32)
    estimator._model = _native.fit_encoder_descriptors(params, X)
    estimator._shape = None
    estimator.n_features_out_ = estimator._model.output_dim()
    estimator.n_iter_ = estimator._model.n_iter()
    return estimator


def _encode_part(kind, data, paths):
    global _DECODES
    _size_thread_pool()
    key = hashlib.sha256(data).hexdigest()
    model = _MODELS.get(key)
    if model is None:
        model = _native.Model.from_bytes(kind, data)
        _MODELS[key] = model
        _DECODES += 1
    return model.transform_files(paths)


def encode(client, estimator, paths, partition_size=64):
    """Encodes image files (a list of paths or a folder) with a fitted encoder estimator
    on ``client``'s workers: a lazy ``n x dim`` float32 Dask array, one block per
    partition (``.compute()`` runs it)."""
    import dask
    import dask.array as da

    paths = _paths(paths)
    if not paths:
        raise ValueError("no image files to encode")
    data = estimator._model.to_bytes()
    # A key of its own per call (hash=False): with content-hashed keys, a second encode of
    # the same model re-scatters under the key the first call's futures are releasing, and
    # the workers may drop the new copy ("lost dependencies"). Workers still decode each
    # model once (_MODELS is keyed by the bytes' sha256).
    [model] = client.scatter([data], broadcast=True, hash=False)
    dim = estimator.n_features_out_
    blocks = [
        da.from_delayed(
            dask.delayed(_encode_part, pure=True)(estimator._kind, model, part),
            shape=(len(part), dim),
            dtype=np.float32,
        )
        for part in _chunks(paths, partition_size)
    ]
    return da.concatenate(blocks, axis=0)
