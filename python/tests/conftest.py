"""Shared locations: the repository root, the data cache and the shared anchors."""

import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CACHE = ROOT / "data" / "cache"


def shared_dir():
    env = os.environ.get("CLASSIC_CV_SHARED")
    return pathlib.Path(env) if env else ROOT.parent / "shared"


def anchors(sub):
    """An anchor folder; missing anchors fail with how to get them (as the Rust tests do)."""
    for base in (shared_dir() / "anchors", ROOT.parent.parent / "shared" / "anchors"):
        if (base / sub).is_dir():
            return base / sub
    pytest.fail(f"anchors/{sub} not found: set CLASSIC_CV_SHARED to the shared directory")


def cache(path):
    """A file of the data cache; missing data fails with how to fetch it."""
    p = CACHE / path
    if not p.exists():
        pytest.fail(f"{p} is missing: run `cargo run --release -- fetch-data` first")
    return p


def cli_binary():
    """The release CLI (built by `cargo test --release` / `cargo build --release`)."""
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    exe = target / "release" / "classic-cv"
    if not exe.exists():
        subprocess.run(["cargo", "build", "--release", "--bin", "classic-cv"], cwd=ROOT,
                       check=True)
    return exe


@pytest.fixture(scope="session")
def cli():
    exe = cli_binary()

    def run(*args):
        out = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True)
        assert out.returncode == 0, f"classic-cv {' '.join(map(str, args))}: {out.stderr}"
        return out.stdout

    return run
