#!/usr/bin/env python3
"""An undistortion map applied to a 640x480 frame: classic-cv against cv2.remap (INTER_LINEAR),
side by side, gray and colour, one thread each and each side's default threads.

    python scripts/bench_remap.py [--bin target/release/classic-cv] [--rounds 7] [--reps 201]

Needs numpy + opencv-python and `classic-cv fetch-data` (data/cache/opencv-doc/left01.jpg).
The camera is the one OpenCV calibrates from left01..14. Both sides build the map once and
then only apply it: ours is `classic-cv undistort --repeat N` (the median time of
`WarpMap::apply_u8_into` over N applications), OpenCV's is `cv2.remap` on the map of
`cv2.initUndistortRectifyMap` (CV_32FC2, as ours; CV_16SC2, OpenCV's own fixed-point form,
is shown too), the median of N calls. Ours and OpenCV's rounds are interleaved; the table
shows the median of the rounds' medians and the ratio ours / OpenCV. The outputs are first
compared with cv2.undistort's (equal byte for byte) and cv2.remap's.
"""
import argparse, json, os, subprocess, sys, tempfile, time
import numpy as np, cv2

ap = argparse.ArgumentParser()
ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "classic-cv"))
ap.add_argument("--data", default=os.environ.get("CLASSIC_CV_DATA", "data/cache"))
ap.add_argument("--rounds", type=int, default=7)
ap.add_argument("--reps", type=int, default=201)
a = ap.parse_args()
D = os.path.join(a.data, "opencv-doc")
if not os.path.exists(os.path.join(D, "left01.jpg")):
    sys.exit(f"{D}/left01.jpg missing: run `classic-cv fetch-data` first")
tmp = tempfile.mkdtemp(prefix="bench-remap-")
K = np.array([[536.073433176482, 0, 342.3704732649948], [0, 536.016341419138, 235.53687503436012], [0, 0, 1]])
dist = np.array([-0.26509008977827, -0.04674442089289589, 0.0018330264080566958, -0.0003146928071326722, 0.25231620083623646])
cam = os.path.join(tmp, "camera.json")
json.dump({"format": "classic-cv-model", "version": 1, "kind": "camera", "model": {
    "intrinsics": {"fx": K[0, 0], "fy": K[1, 1], "cx": K[0, 2], "cy": K[1, 2], "skew": 0.0},
    "distortion": dict(zip(["k1", "k2", "p1", "p2", "k3"], dist.tolist())), "image_size": [640, 480]}}, open(cam, "w"))
default_threads = cv2.getNumThreads()


def ours(threads, *args):
    cmd = [a.bin, "--json", *(["--threads", str(threads)] if threads else []), *args]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"classic-cv {' '.join(args)} failed: {out.stderr.strip()}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_time(f, reps):
    f()
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return 1e3 * float(np.median(ts))


bgr = cv2.imread(os.path.join(D, "left01.jpg"), cv2.IMREAD_COLOR)
frames = {"gray": cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), "colour": bgr}
paths = {}
for name, img in frames.items():
    paths[name] = os.path.join(tmp, f"left01_{name}.png")
    cv2.imwrite(paths[name], img)
m32, _ = cv2.initUndistortRectifyMap(K, dist, None, K, (640, 480), cv2.CV_32FC2)
m16a, m16b = cv2.initUndistortRectifyMap(K, dist, None, K, (640, 480), cv2.CV_16SC2)
out = os.path.join(tmp, "out.png")
for name, img in frames.items():
    ours(1, "undistort", "--camera", cam, paths[name], "-o", out)
    mine = cv2.imread(out, cv2.IMREAD_UNCHANGED)
    same = float((mine == cv2.undistort(img, K, dist)).mean())
    # cv2.remap reads the positions rounded to float32 first: a few land on the other
    # 1/32-pixel step.
    near = float((mine == cv2.remap(img, m32, None, cv2.INTER_LINEAR)).mean())
    print(f"{name}: classic-cv equals cv2.undistort on {100 * same:.3f} % of values, "
          f"cv2.remap of the float32 map on {100 * near:.3f} %")

load = os.getloadavg()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
res = {}
for _ in range(a.rounds):
    for threads in (1, default_threads):
        cv2.setNumThreads(threads)
        for name, img in frames.items():
            r = ours(threads, "undistort", "--camera", cam, paths[name], "-o", out, "--repeat", str(a.reps))
            res.setdefault((threads, name, "ours"), []).append(r["apply_ms_median"])
            res.setdefault((threads, name, "32f"), []).append(
                median_time(lambda: cv2.remap(img, m32, None, cv2.INTER_LINEAR), a.reps))
            res.setdefault((threads, name, "16s"), []).append(
                median_time(lambda: cv2.remap(img, m16a, m16b, cv2.INTER_LINEAR), a.reps))
cv2.setNumThreads(default_threads)
load_after = os.getloadavg()
med = lambda v: float(np.median(v))
print(f"\n{cpu}, {os.cpu_count()} CPUs, OpenCV {cv2.__version__}; load average {load[0]:.2f} before, "
      f"{load_after[0]:.2f} after; median of {a.rounds} interleaved rounds, each a median of {a.reps}")
print(f"{'640x480 undistortion map applied':34s} {'classic-cv':>11s} {'cv2 32FC2':>10s} {'ratio':>6s} {'cv2 16SC2':>10s} {'ratio':>6s}")
for threads in (1, default_threads):
    for name in frames:
        o, f, s = (med(res[(threads, name, k)]) for k in ("ours", "32f", "16s"))
        label = f"{name}, {threads} thread{'s' if threads > 1 else ''}"
        print(f"{label:34s} {o:9.3f}ms {f:8.3f}ms {o / f:5.2f}x {s:8.3f}ms {o / s:5.2f}x")
