#!/usr/bin/env python3
"""`classic-cv detect --video` against OpenCV's CascadeClassifier on the same decoded frames.

Both sides decode the video with the same ffmpeg command (gray, every frame once), so they
see identical pixels:
    ffmpeg -i VIDEO -map 0:v:0 -fps_mode passthrough -f rawvideo -pix_fmt gray -
OpenCV runs detectMultiScale(frame, scaleFactor, minNeighbors, minSize=(S, S)) on each frame;
classic-cv runs `detect --video VIDEO` with the same options. The script checks that the boxes
of every frame are identical (as sorted lists) and prints the frames per second of both
(OpenCV's detection loop alone; classic-cv's whole command, decoding included, and its own
detection rate as printed on stderr), median of --reps runs, interleaved.

    python3 scripts/bench_video.py [--video data/cache/opencv-doc/Megamind.avi]
        [--cascade XML] [--bin target/release/classic-cv] [--reps 3] [--threads N]
Needs a Python with opencv-python-headless and numpy, and ffmpeg. Exit status 1 if any
frame differs.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("CLASSIC_CV_DATA", os.path.join(ROOT, "data", "cache"))


def decode(video):
    """Every frame as gray uint8, through the same ffmpeg command `detect --video` uses."""
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info", "-i", video,
           "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "gray", "-"]
    p = subprocess.run(cmd, capture_output=True, check=True)
    err = p.stderr.decode(errors="replace")
    out = err[err.index("Output #0"):]
    m = re.search(r"Video: .*?, (\d+)x(\d+)", out)
    w, h = int(m.group(1)), int(m.group(2))
    n = len(p.stdout) // (w * h)
    assert n * w * h == len(p.stdout), "ffmpeg gave a partial frame"
    return np.frombuffer(p.stdout, np.uint8).reshape(n, h, w)


def opencv(frames, cascade, scale, neighbors, min_size):
    c = cv2.CascadeClassifier(cascade)
    assert not c.empty(), cascade
    t = time.perf_counter()
    boxes = [c.detectMultiScale(f, scale, neighbors, minSize=(min_size, min_size)) for f in frames]
    secs = time.perf_counter() - t
    return [sorted([int(v) for v in r] for r in b) for b in boxes], secs


def ours(binary, video, cascade, scale, neighbors, min_size, threads):
    cmd = [binary, "detect", "--video", video, "--cascade", cascade, "--scale-factor", str(scale),
           "--min-neighbors", str(neighbors), "--min-size", str(min_size)]
    if threads:
        cmd[1:1] = ["--threads", str(threads)]
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, check=True)
    secs = time.perf_counter() - t
    lines = [json.loads(l) for l in p.stdout.decode().splitlines()]
    assert [l["frame"] for l in lines] == list(range(len(lines)))
    m = re.search(r"([0-9.]+) fps", p.stderr.decode().strip().splitlines()[-1])
    return [sorted(l["boxes"]) for l in lines], secs, float(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=os.path.join(CACHE, "opencv-doc", "Megamind.avi"))
    ap.add_argument("--cascade", default=os.path.join(
        CACHE, "opencv", "haarcascades", "haarcascade_frontalface_default.xml"))
    ap.add_argument("--bin", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "classic-cv"))
    ap.add_argument("--scale-factor", type=float, default=1.1)
    ap.add_argument("--min-neighbors", type=int, default=3)
    ap.add_argument("--min-size", type=int, default=24)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="both sides (0: all cores)")
    a = ap.parse_args()
    if a.threads:
        cv2.setNumThreads(a.threads)
    frames = decode(a.video)
    n, h, w = frames.shape
    print(f"{a.video}: {n} frames of {w}x{h}; OpenCV {cv2.__version__}, "
          f"{cv2.getNumThreads()} thread(s); load average {os.getloadavg()[0]:.2f}")
    cv_secs, our_secs, our_rates = [], [], []
    for _ in range(a.reps):
        cv_boxes, s = opencv(frames, a.cascade, a.scale_factor, a.min_neighbors, a.min_size)
        cv_secs.append(s)
        our_boxes, s, rate = ours(a.bin, a.video, a.cascade, a.scale_factor, a.min_neighbors,
                                  a.min_size, a.threads)
        our_secs.append(s)
        our_rates.append(rate)
    if len(our_boxes) != n:
        print(f"FAIL: classic-cv gave {len(our_boxes)} frames, ffmpeg decoded {n}")
        return 1
    bad = [i for i in range(n) if our_boxes[i] != cv_boxes[i]]
    total = sum(len(b) for b in cv_boxes)
    with_faces = sum(1 for b in cv_boxes if b)
    print(f"boxes: {n - len(bad)}/{n} frames identical ({total} boxes, {with_faces} frames "
          f"with a box)")
    for i in bad[:5]:
        print(f"  frame {i}: OpenCV {cv_boxes[i]} classic-cv {our_boxes[i]}")
    cv_fps = n / statistics.median(cv_secs)
    print(f"OpenCV detectMultiScale: {cv_fps:.1f} fps (detection only, frames in memory)")
    print(f"classic-cv detect --video: {n / statistics.median(our_secs):.1f} fps whole command "
          f"(ffmpeg decoding included), {statistics.median(our_rates):.1f} fps as it reports")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
