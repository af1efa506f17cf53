"""classic_cv.dask on a 2-worker LocalCluster (processes, one thread each) gives the
single-process codebook and encodings bit for bit, and each worker decodes the model once."""

import os
import struct
import zlib

import numpy as np
import pytest

import classic_cv as cc

distributed = pytest.importorskip("distributed", reason="pip install 'dask[distributed]'")
cdask = pytest.importorskip("classic_cv.dask")


def write_png(path, gray):
    """A minimal 8-bit gray PNG writer (no imaging library needed)."""
    h, w = gray.shape
    raw = b"".join(b"\x00" + gray[y].tobytes() for y in range(h))

    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    path.write_bytes(png)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:40, 0:40]
    paths = []
    for i in range(30):
        f = rng.uniform(0.2, 0.9)
        img = 0.5 + 0.3 * np.sin((xx if i % 2 else yy) * f) + rng.normal(0, 0.1, (40, 40))
        p = d / f"img{i:03d}.png"
        write_png(p, np.clip(np.round(img * 255), 0, 255).astype(np.uint8))
        paths.append(str(p))
    return paths


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


@pytest.mark.parametrize("cls", [cc.VLAD, cc.BoVW, cc.FisherVector])
def test_distributed_equals_single_process(client, images, cls):
    params = dict(n_clusters=3, pyramid=(1, 2), step=4, bin_size=4, codebook_images=17,
                  codebook_descriptors=400, max_iter=5, random_state=5)
    X = np.stack([cc.load_image(p).ravel() for p in images])
    single = cls(image_shape=(40, 40), **params).fit(X)
    want = single.transform_files(images)
    np.testing.assert_array_equal(want, single.transform(X))

    dist = cdask.fit_encoder(client, cls(**params), images, partition_size=4)
    assert dist._model.to_bytes() == single._model.to_bytes()
    got = cdask.encode(client, dist, images, partition_size=6)
    assert got.numblocks == (5, 1)
    out = got.compute()
    assert out.dtype == np.float32 and out.tobytes() == want.tobytes()
    folder = cdask.encode(client, dist, os.path.dirname(images[0]))
    assert folder.compute().tobytes() == want.tobytes()
    from_files = cls(**params).fit_files(images)
    assert from_files._model.to_bytes() == single._model.to_bytes()


def test_each_worker_decodes_the_model_once(client, images):
    enc = cc.BoVW(n_clusters=2, step=4, bin_size=4, codebook_images=10,
                  codebook_descriptors=100, max_iter=3)
    enc = cdask.fit_encoder(client, enc, images)
    before = client.run(lambda: __import__("classic_cv.dask").dask._DECODES)
    cdask.encode(client, enc, images, partition_size=2).compute()
    after = client.run(lambda: __import__("classic_cv.dask").dask._DECODES)
    new = {w: after[w] - before[w] for w in after}
    assert all(v <= 1 for v in new.values()) and sum(new.values()) >= 1, new


def test_workers_size_the_thread_pool_to_their_threads(client, images):
    """Each worker process runs the crate on its own thread count (1 here), not one thread
    per core, unless RAYON_NUM_THREADS was set for it (then that wins)."""
    enc = cc.BoVW(n_clusters=2, step=4, bin_size=4, codebook_images=10,
                  codebook_descriptors=100, max_iter=3)
    enc = cdask.fit_encoder(client, enc, images, partition_size=2)
    cdask.encode(client, enc, images, partition_size=2).compute()
    pools = client.run(lambda: __import__("os").environ.get("RAYON_NUM_THREADS"))
    assert len(pools) == 2
    assert set(pools.values()) == {os.environ.get("RAYON_NUM_THREADS", "1")}, pools


def test_encoding_again_with_the_same_model(client, images):
    """Each encode scatters the model under a key of its own: a second call while the first
    call's futures are being released keeps its data (no "lost dependencies")."""
    enc = cc.BoVW(n_clusters=2, step=4, bin_size=4, codebook_images=10,
                  codebook_descriptors=100, max_iter=3).fit_files(images)
    want = enc.transform_files(images)
    for _ in range(8):
        # With content-hashed keys this sometimes hung or lost the model's data.
        codes = cdask.encode(client, enc, images, partition_size=3)
        assert client.compute(codes).result(timeout=120).tobytes() == want.tobytes()
