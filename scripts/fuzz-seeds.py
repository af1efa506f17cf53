#!/usr/bin/env python3
"""Builds the seed corpora of the fuzz targets (fuzz/corpus/<target>/) from the data cache
and the repository, with the Python standard library only.

Usage: scripts/fuzz-seeds.py [CLASSIC_CV_BINARY]

The model seeds are real model files trained by the classic-cv binary (default:
target/release/classic-cv) on a tiny generated data set; without a binary they are skipped.
The corpora are regenerated, not committed (the cascades are third-party files, and the
fuzzer grows the corpora as it runs).
"""
import glob
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("CLASSIC_CV_DATA", os.path.join(ROOT, "data", "cache"))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def npy(shape, descr, payload):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr,
        "".join("%d," % s for s in shape) if len(shape) == 1 else ", ".join(map(str, shape)),
    )
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


def png(width, height, bit_depth, colour, rows):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    raw = b"".join(b"\x00" + r for r in rows)
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def cascades():
    files = sorted(glob.glob(os.path.join(CACHE, "opencv", "*", "*.xml")))
    for f in files:
        # The smaller cascades whole (the fuzzer's inputs stay short), every one's head.
        data = open(f, "rb").read()
        base = os.path.basename(f)
        if len(data) < 120_000:
            put("cascade_xml", base, data)
        put("cascade_xml", "head-" + base, data[:4096])
    put(
        "cascade_xml",
        "old-format.xml",
        b"<?xml version='1.0'?><opencv_storage><c type_id='opencv-haar-classifier'><size>2 2</size>"
        b"<stages><_><trees><_><_><feature><rects><_>0 0 2 1 -1.</_><_>0 1 2 1 1.</_></rects>"
        b"<tilted>0</tilted></feature><threshold>0.</threshold><left_val>-1.</left_val>"
        b"<right_val>1.</right_val></_></_></trees><stage_threshold>-1.</stage_threshold>"
        b"<parent>-1</parent><next>-1</next></_></stages></c></opencv_storage>",
    )


def imglab():
    put(
        "imglab_xml",
        "boxes.xml",
        b"<?xml version='1.0' encoding='ISO-8859-1'?><dataset><name>n</name><comment>c</comment>"
        b"<images><image file='a.png'><box top='1' left='2' width='10' height='12'/>"
        b"<box top='5' left='5' width='3' height='3' ignore='1'><label>face</label></box></image>"
        b"<image file='b.jpg'/></images></dataset>",
    )


def npys():
    put("npy", "f4.npy", npy([2, 3], "<f4", struct.pack("<6f", 0, 1, 2, 3, 4, 5)))
    put("npy", "u4.npy", npy([3], "<u4", struct.pack("<3I", 0, 1, 2)))
    put("npy", "u1.npy", npy([2, 2, 2], "|u1", bytes(range(8))))
    put("npy", "f8.npy", npy([1, 2], "<f8", struct.pack("<2d", 0.5, -1)))


def idx():
    labels = os.path.join(CACHE, "fashion-mnist", "t10k-labels-idx1-ubyte.gz")
    if os.path.exists(labels):
        put("idx", "labels.gz", b"\x00" + open(labels, "rb").read())
    small = struct.pack(">IIII", 0x0803, 2, 3, 3) + bytes(range(18))
    put("idx", "images", b"\x01" + small)
    put("idx", "images.gz", b"\x01" + gzip.compress(small))
    put("idx", "labels", b"\x00" + struct.pack(">II", 0x0801, 4) + bytes([0, 1, 2, 3]))


def images():
    put("image", "gray.pgm", b"P5 4 3 255\n" + bytes(range(12)))
    put("image", "rgb.ppm", b"P6 2 2 255\n" + bytes(range(12)))
    put("image", "gray8.png", png(4, 3, 8, 0, [bytes([r * 4 + c for c in range(4)]) for r in range(3)]))
    put("image", "gray16.png", png(2, 2, 16, 0, [b"\x01\x00\x02\x00", b"\xff\xff\x00\x00"]))
    put("image", "rgb.png", png(2, 1, 8, 2, [bytes(range(6))]))
    for f in sorted(glob.glob(os.path.join(CACHE, "opencv-doc", "left0[1-3].jpg"))):
        put("image", os.path.basename(f), open(f, "rb").read())


def frames():
    pattern = bytes((i * 37) % 251 for i in range(4 * 24 * 24))
    put("frames", "24x24-lbp", struct.pack("<HHB", 23, 23, 0) + pattern)
    put("frames", "24x24-haar", struct.pack("<HHB", 23, 23, 1) + pattern)
    put("frames", "short", struct.pack("<HHB", 31, 15, 0) + pattern[:700])


def configs():
    for f in sorted(glob.glob(os.path.join(ROOT, "examples", "configs", "*.json"))):
        data = open(f, "rb").read()
        sel = b"\x01" if "grid" in os.path.basename(f) else b"\x00"
        put("config", os.path.basename(f), sel + data)
    put("config", "cnn-default.json", b"\x02{}")
    put(
        "config",
        "cnn-layers.json",
        b'\x02{"epochs":2,"layers":[{"conv2d":{"out_channels":4,"kernel":3,"padding":1}},"relu",'
        b'{"max_pool":{"size":2,"stride":2}},{"dense":{"out_features":10}}]}',
    )


KINDS = {"pipeline": 2, "linear-svm": 19, "knn": 14, "softmax": 18, "random-forest": 16, "standardize": 17}


def models(binary):
    if not binary or not os.path.exists(binary):
        print("no classic-cv binary: model seeds skipped", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as d:
        x = struct.pack("<32f", *[((i * 7) % 5) / 4 for i in range(32)])
        open(os.path.join(d, "x.npy"), "wb").write(npy([8, 4], "<f4", x))
        open(os.path.join(d, "y.npy"), "wb").write(npy([8], "<u4", struct.pack("<8I", 0, 1, 2, 0, 1, 2, 0, 1)))
        for clf in ["linear_svm", "knn", "softmax", "random_forest"]:
            cfg = {"features": {"pixels": {}}, "standardize": {}, "classifier": {clf: {}}}
            if clf == "random_forest":
                cfg["classifier"][clf] = {"n_trees": 3}
            open(os.path.join(d, "cfg.json"), "w").write(json.dumps(cfg))
            for ext in ["json", "bin"]:
                out = os.path.join(d, "m." + ext)
                subprocess.run(
                    [binary, "train", "--config", "cfg.json", "--dataset", "npy:x.npy,y.npy", "-o", out],
                    cwd=d, check=True, stdout=subprocess.DEVNULL,
                )
                put("model", "pipeline-%s.%s" % (clf, ext), bytes([KINDS["pipeline"], 0]) + open(out, "rb").read())
            env = json.load(open(os.path.join(d, "m.json")))
            parts = {
                clf.replace("_", "-"): env["model"]["classifier"][clf],
                "standardize": env["model"]["standardize"],
            }
            for kind, body in parts.items():
                sub = {"format": "classic-cv-model", "version": 1, "kind": kind, "model": body}
                put("model", "%s.json" % kind, bytes([KINDS[kind], 0]) + json.dumps(sub).encode())


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release", "classic-cv")
    # The models are trained in a temporary folder: a relative path must not depend on it.
    binary = os.path.abspath(binary)
    cascades()
    imglab()
    npys()
    idx()
    images()
    frames()
    configs()
    models(binary)
    for t in sorted(os.listdir(CORPUS)):
        print("%-12s %3d seeds" % (t, len(os.listdir(os.path.join(CORPUS, t)))))


if __name__ == "__main__":
    main()
