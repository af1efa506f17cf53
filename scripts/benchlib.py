"""Helpers shared by the benchmark scripts: Fashion-MNIST IDX files and the CPU's name."""

import gzip
import pathlib
import platform

import numpy as np


def load_idx(path):
    """An IDX file of the Fashion-MNIST distribution as a uint8 array."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def cpu_name():
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
