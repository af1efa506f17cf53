#!/usr/bin/env python3
"""Warping side by side with OpenCV: parity and speed of `classic-cv undistort` / `warp`
against cv2.undistort / cv2.remap / cv2.warpPerspective on OpenCV's own sample photos.

    python scripts/bench_warp.py [--bin target/release/classic-cv] [--rounds 7] [--reps 51]

Needs numpy + opencv-python (4.14 for the parity figures) and `classic-cv fetch-data`
(data/cache/opencv-doc: left01.jpg, graf1.png, graf3.png, H1to3p.xml). Uses the camera that
OpenCV calibrates from left01..14 (the figures of the shared geometry anchor). Both sides
run one thread; ours and OpenCV's runs are interleaved, each round reports a median of
`--reps` applications, and the table shows the median of the rounds. JPEGs are decoded once
by OpenCV and handed to both sides as PNG, so both see the same pixels.
"""
import argparse, json, os, subprocess, sys, tempfile, time
import numpy as np, cv2

ap = argparse.ArgumentParser()
ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "classic-cv"))
ap.add_argument("--data", default=os.environ.get("CLASSIC_CV_DATA", "data/cache"))
ap.add_argument("--rounds", type=int, default=7)
ap.add_argument("--reps", type=int, default=51)
a = ap.parse_args()
cv2.setNumThreads(1)
D = os.path.join(a.data, "opencv-doc")
for f in ("left01.jpg", "graf1.png", "graf3.png", "H1to3p.xml"):
    if not os.path.exists(os.path.join(D, f)):
        sys.exit(f"{D}/{f} missing: run `classic-cv fetch-data` first")
tmp = tempfile.mkdtemp(prefix="bench-warp-")
K = np.array([[536.073433176482, 0, 342.3704732649948], [0, 536.016341419138, 235.53687503436012], [0, 0, 1]])
dist = np.array([-0.26509008977827, -0.04674442089289589, 0.0018330264080566958, -0.0003146928071326722, 0.25231620083623646])
cam = os.path.join(tmp, "camera.json")
json.dump({"format": "classic-cv-model", "version": 1, "kind": "camera", "model": {
    "intrinsics": {"fx": K[0, 0], "fy": K[1, 1], "cx": K[0, 2], "cy": K[1, 2], "skew": 0.0},
    "distortion": dict(zip(["k1", "k2", "p1", "p2", "k3"], dist.tolist())), "image_size": [640, 480]}}, open(cam, "w"))


def ours(*args):
    out = subprocess.run([a.bin, "--threads", "1", "--json", *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"classic-cv {' '.join(args)} failed: {out.stderr.strip()}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def stats(mine, theirs):
    d = np.abs(mine.astype(int) - theirs.astype(int))
    return {"equal": float((d == 0).mean()), "within_1": float((d <= 1).mean()), "max": int(d.max())}


def median_time(f, reps):
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return 1e3 * float(np.median(ts))


rows = {}
# --- undistortion of left01 (gray and colour)
gray = cv2.imread(os.path.join(D, "left01.jpg"), cv2.IMREAD_GRAYSCALE)
colour = cv2.imread(os.path.join(D, "left01.jpg"), cv2.IMREAD_COLOR)
gp, cp = os.path.join(tmp, "left01_gray.png"), os.path.join(tmp, "left01_rgb.png")
cv2.imwrite(gp, gray); cv2.imwrite(cp, colour)
for name, src, path in (("undistort gray", gray, gp), ("undistort colour", colour, cp)):
    ref = cv2.undistort(src, K, dist)
    for interp in ("opencv", "bilinear"):
        o = os.path.join(tmp, f"u_{interp}.png")
        ours("undistort", "--camera", cam, path, "-o", o, "--interpolation", interp)
        mine = cv2.imread(o, cv2.IMREAD_UNCHANGED)
        rows[f"{name} ({interp})"] = stats(mine, ref)
# --- warpPerspective graf1 -> graf3 frame with the ground truth H1to3p
g1 = cv2.imread(os.path.join(D, "graf1.png"), cv2.IMREAD_GRAYSCALE)
g3 = cv2.imread(os.path.join(D, "graf3.png"), cv2.IMREAD_GRAYSCALE)
xml = open(os.path.join(D, "H1to3p.xml")).read()
H = np.array(xml.split("<data>")[1].split("</data>")[0].split(), dtype=np.float64).reshape(3, 3)
hp = os.path.join(tmp, "H.json")
json.dump({"H": H.tolist()}, open(hp, "w"))
g1p = os.path.join(tmp, "graf1.png"); cv2.imwrite(g1p, g1)
size = (g3.shape[1], g3.shape[0])
ref = cv2.warpPerspective(g1, H, size)
for interp in ("opencv", "bilinear"):
    o = os.path.join(tmp, f"w_{interp}.png")
    ours("warp", "--homography", hp, g1p, "-o", o, "--size", f"{size[0]}x{size[1]}", "--interpolation", interp)
    rows[f"warpPerspective graf1 ({interp})"] = stats(cv2.imread(o, cv2.IMREAD_UNCHANGED), ref)
print(f"{'parity vs OpenCV ' + cv2.__version__:44s} {'equal':>8s} {'<=1':>8s} {'max':>4s}")
for k, v in rows.items():
    print(f"{k:44s} {100 * v['equal']:7.3f}% {100 * v['within_1']:7.3f}% {v['max']:4d}")

# --- speed: one 640x480 gray frame, the undistortion map applied (map built once)
m32, _ = cv2.initUndistortRectifyMap(K, dist, None, K, (640, 480), cv2.CV_32FC2)
m16a, m16b = cv2.initUndistortRectifyMap(K, dist, None, K, (640, 480), cv2.CV_16SC2)
out = os.path.join(tmp, "speed.png")
t_ours, t_f32, t_16, t_wo, t_wcv = [], [], [], [], []
for _ in range(a.rounds):
    t_ours.append(ours("undistort", "--camera", cam, gp, "-o", out, "--repeat", str(a.reps))["apply_ms_median"])
    t_f32.append(median_time(lambda: cv2.remap(gray, m32, None, cv2.INTER_LINEAR), a.reps))
    t_16.append(median_time(lambda: cv2.remap(gray, m16a, m16b, cv2.INTER_LINEAR), a.reps))
    t_wo.append(ours("warp", "--homography", hp, g1p, "-o", out, "--size", f"{size[0]}x{size[1]}", "--repeat", str(a.reps))["warp_ms_median"])
    t_wcv.append(median_time(lambda: cv2.warpPerspective(g1, H, size), a.reps))
med = lambda v: float(np.median(v))
print(f"\nspeed, 1 thread each, median of {a.rounds} interleaved rounds (each a median of {a.reps})")
print(f"undistort map applied, 640x480 gray: classic-cv {med(t_ours):.3f} ms | cv2.remap CV_32FC2 {med(t_f32):.3f} ms "
      f"(ratio {med(t_ours) / med(t_f32):.2f}x) | cv2.remap CV_16SC2 {med(t_16):.3f} ms (ratio {med(t_ours) / med(t_16):.2f}x)")
print(f"warpPerspective graf1 {size[0]}x{size[1]} (map + warp): classic-cv {med(t_wo):.3f} ms | cv2 {med(t_wcv):.3f} ms "
      f"(ratio {med(t_wo) / med(t_wcv):.2f}x)")
