#!/usr/bin/env python3
"""Homography from two photos, side by side: `classic-cv homography A B` against a Python
script doing the same with OpenCV (SIFT_create().detectAndCompute, BFMatcher.knnMatch k=2,
Lowe's ratio 0.8, findHomography RANSAC 3 px), in one run, interleaved.

Both are timed as whole processes (start, image decoding, everything, exit); the OpenCV
script also reports the time of its OpenCV calls alone. Prints the medians, the ratio
ours / OpenCV, matches, inliers and the mean distance to the ground truth over a 20-pixel
grid of A (when a ground-truth matrix is given).

    python scripts/bench_homography.py [--reps 7] [--threads 1] [A B [H_TRUE.xml]]

Defaults: OpenCV's graf1.png -> graf3.png and H1to3p.xml from the data cache
($CLASSIC_CV_DATA, else data/cache). Run it with a Python that has numpy and
opencv-python (4.x). The binary is $CARGO_TARGET_DIR/release/classic-cv (else
target/release/classic-cv); build it first with `cargo build --release`.
"""
import argparse, json, os, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("CLASSIC_CV_DATA", os.path.join(ROOT, "data", "cache"))

OPENCV_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import cv2, numpy as np
cv2.setNumThreads(int(sys.argv[3]))
t1 = time.perf_counter()
a = cv2.imread(sys.argv[1], cv2.IMREAD_GRAYSCALE); b = cv2.imread(sys.argv[2], cv2.IMREAD_GRAYSCALE)
s = cv2.SIFT_create()
ka, da = s.detectAndCompute(a, None); kb, db = s.detectAndCompute(b, None)
m = cv2.BFMatcher().knnMatch(da, db, k=2)
good = [p[0] for p in m if len(p) == 2 and p[0].distance < 0.8 * p[1].distance]
src = np.float32([ka[g.queryIdx].pt for g in good]); dst = np.float32([kb[g.trainIdx].pt for g in good])
H, inl = cv2.findHomography(src, dst, cv2.RANSAC, 3.0)
t2 = time.perf_counter()
print(json.dumps({"H": H.tolist(), "matches": len(good), "inliers": int(inl.sum()), "opencv_s": t2 - t1}))
"""


def read_opencv_matrix(path):
    import re
    text = open(path).read()
    data = re.search(r"<data>(.*?)</data>", text, re.S).group(1).split()
    v = [float(t) for t in data]
    return [v[0:3], v[3:6], v[6:9]]


def grid_error(h, g, w, hh):
    import numpy as np
    pts = np.array([[x, y, 1.0] for y in range(0, hh, 20) for x in range(0, w, 20)]).T
    def proj(m):
        p = np.asarray(m) @ pts
        return p[:2] / p[2]
    return float(np.linalg.norm(proj(h) - proj(g), axis=0).mean())


def run(cmd):
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - t, json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="*", help="A B [H_TRUE.xml]")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    doc = os.path.join(CACHE, "opencv-doc")
    a, b, gt = (args.images + [None] * 3)[:3] if args.images else (
        os.path.join(doc, "graf1.png"), os.path.join(doc, "graf3.png"), os.path.join(doc, "H1to3p.xml"))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    binary = os.path.join(target, "release", "classic-cv")
    ours_cmd = [binary, "--threads", str(args.threads), "--json", "homography", a, b]
    ocv_cmd = [sys.executable, "-c", OPENCV_SCRIPT, a, b, str(args.threads)]
    times = {"ours": [], "opencv": [], "opencv_calls": []}
    for _ in range(args.reps):
        t, ours = run(ours_cmd)
        times["ours"].append(t)
        t, ocv = run(ocv_cmd)
        times["opencv"].append(t)
        times["opencv_calls"].append(ocv["opencv_s"])
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{os.path.basename(a)} -> {os.path.basename(b)}, {args.threads} thread(s), median of {args.reps} interleaved runs")
    print(f"  classic-cv homography (whole process): {med['ours']:.3f} s")
    print(f"  OpenCV script (whole process):         {med['opencv']:.3f} s  (OpenCV calls alone {med['opencv_calls']:.3f} s)")
    print(f"  ratio ours / OpenCV: {med['ours'] / med['opencv']:.2f} (whole processes), "
          f"{med['ours'] / med['opencv_calls']:.2f} (against OpenCV's calls alone)")
    print(f"  matches / inliers: ours {ours['matches']} / {ours['inliers']}, OpenCV {ocv['matches']} / {ocv['inliers']}")
    if gt:
        import cv2
        h, w = cv2.imread(a, cv2.IMREAD_GRAYSCALE).shape
        g = read_opencv_matrix(gt)
        print(f"  mean grid error vs ground truth: ours {grid_error(ours['H'], g, w, h):.3f} px, "
              f"OpenCV {grid_error(ocv['H'], g, w, h):.3f} px")


if __name__ == "__main__":
    main()
