#!/usr/bin/env python3
"""Camera calibration from chessboard corners, side by side: `classic-cv calibrate` against a
Python script doing the same with OpenCV (`cv2.calibrateCamera`, 5 distortion coefficients,
no flags), on the same corners, in one run, interleaved.

The corners are OpenCV's sub-pixel corners of the 13 left views of OpenCV's sample
chessboards (left01..14 without 10; 9x6 inner corners, 25 mm squares, 640x480), read from the
shared anchor `geometry/corners_opencv.npz`; corner detection is not timed here. Both sides
are timed as whole processes (start, reading the corners, calibrating, printing, exit); the
OpenCV script also reports the time of its `calibrateCamera` call alone. Prints the medians,
the ratio ours / OpenCV, and both calibrations (RMS, fx, fy, cx, cy).

    python scripts/bench_calibrate.py [--reps 7] [--npz PATH]

Run it with a Python that has numpy and opencv-python (4.x). The npz is found in
$CLASSIC_CV_SHARED/anchors/geometry, else in shared/anchors/geometry beside the checkout or
one of its parents. The binary is $CARGO_TARGET_DIR/release/classic-cv (else
target/release/classic-cv); build it first with `cargo build --release`.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

OPENCV_SCRIPT = r"""
import json, sys, time
import cv2, numpy as np
cv2.setNumThreads(1)
z = np.load(sys.argv[1])
names = sorted(k for k in z.files if k.startswith("left"))
objp = np.zeros((54, 3), np.float32)
objp[:, :2] = np.mgrid[0:9, 0:6].T.reshape(-1, 2) * 0.025
t = time.perf_counter()
rms, K, d, _, _ = cv2.calibrateCamera([objp] * len(names), [z[k] for k in names], (640, 480), None, None)
t = time.perf_counter() - t
print(json.dumps({"rms": rms, "K": K.tolist(), "dist": d.ravel().tolist(), "opencv_s": t}))
"""


def find_npz():
    shared = os.environ.get("CLASSIC_CV_SHARED")
    bases = [shared] if shared else []
    d = ROOT
    while True:
        bases.append(os.path.join(os.path.dirname(d), "shared"))
        if os.path.dirname(d) == d:
            break
        d = os.path.dirname(d)
    for b in bases:
        p = os.path.join(b, "anchors", "geometry", "corners_opencv.npz")
        if os.path.exists(p):
            return p
    sys.exit("corners_opencv.npz not found: set CLASSIC_CV_SHARED to the shared directory")


def timed(cmd):
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - t, json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--npz", default=None)
    a = ap.parse_args()
    npz = a.npz or find_npz()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    binary = os.path.join(target, "release", "classic-cv")
    if not os.path.exists(binary):
        sys.exit(f"{binary} not found: build it with `cargo build --release`")
    z = np.load(npz)
    names = sorted(k for k in z.files if k.startswith("left"))
    with tempfile.TemporaryDirectory() as tmp:
        corners = os.path.join(tmp, "corners.jsonl")
        with open(corners, "w") as f:
            for k in names:
                rec = {"image": k, "found": True, "corners": z[k].astype(float).tolist()}
                f.write(json.dumps(rec) + "\n")
        script = os.path.join(tmp, "ocv.py")
        with open(script, "w") as f:
            f.write(OPENCV_SCRIPT)
        ours_cmd = [binary, "--json", "--threads", "1", "calibrate", "--board", "9x6",
                    "--square", "0.025", "--image-size", "640x480", "--corners", corners]
        ocv_cmd = [sys.executable, script, npz]
        ours, ocv, ocv_call = [], [], []
        for _ in range(a.reps):
            t, r_ours = timed(ours_cmd)
            ours.append(t)
            t, r_ocv = timed(ocv_cmd)
            ocv.append(t)
            ocv_call.append(r_ocv["opencv_s"])
    mo, mc = statistics.median(ours), statistics.median(ocv)
    print(f"views: {len(names)} (9x6, 640x480), {a.reps} runs each, interleaved, medians")
    print(f"classic-cv calibrate (whole process)   {mo * 1e3:8.1f} ms")
    print(f"OpenCV script (whole process)          {mc * 1e3:8.1f} ms"
          f"   (calibrateCamera call alone {statistics.median(ocv_call) * 1e3:.1f} ms)")
    print(f"ratio ours / OpenCV (whole process)    {mo / mc:8.3f}")
    k = r_ours["camera_matrix"]
    print(f"ours:   rms {r_ours['rms']:.6f}  fx {k[0][0]:.4f}  fy {k[1][1]:.4f}  "
          f"cx {k[0][2]:.4f}  cy {k[1][2]:.4f}  iterations {r_ours['iterations']}")
    k = r_ocv["K"]
    print(f"OpenCV: rms {r_ocv['rms']:.6f}  fx {k[0][0]:.4f}  fy {k[1][1]:.4f}  "
          f"cx {k[0][2]:.4f}  cy {k[1][2]:.4f}")


if __name__ == "__main__":
    main()
