#!/usr/bin/env python3
"""Ours (classic-cv stereo) against OpenCV's StereoSGBM / StereoBM, side by side.

Each run is a whole process: read the two images, match, write the disparity as float32
.npy (NaN = invalid). Runs are interleaved (ours, OpenCV, ours, ...) and the median of
`--repeat` runs is reported. Accuracy uses OpenCV's sample-script metric: over the
ground-truth pixels (0, NaN, inf = unknown) bad-N counts invalid pixels as wrong;
bad-N where valid, density and MAE over the valid ones.

  python3 scripts/bench_stereo.py --left L --right R --truth GT.png|GT.npy \
      --max-disparity 224 [--repeat 5] [--threads 1,2] [--python /path/to/python]
"""
import argparse, json, os, subprocess, sys, tempfile, time

OPENCV = r'''
import sys, numpy as np, cv2
cv2.setNumThreads(int(sys.argv[5]))
l = cv2.imread(sys.argv[1], 0); r = cv2.imread(sys.argv[2], 0); n = int(sys.argv[4])
if sys.argv[6] == "sgbm":
    m = cv2.StereoSGBM_create(0, n, 5, P1=8 * 25, P2=32 * 25, uniquenessRatio=10,
                              speckleWindowSize=100, speckleRange=2, mode=cv2.STEREO_SGBM_MODE_SGBM)
else:
    m = cv2.StereoBM_create(numDisparities=n, blockSize=15)
d = m.compute(l, r).astype(np.float32) / 16.0
d[d < 0] = np.nan
np.save(sys.argv[3], d)
'''


def metrics(py, disp, truth):
    code = r'''
import sys, json, numpy as np, cv2
d = np.load(sys.argv[1]); t = sys.argv[2]
gt = np.load(t).astype(np.float32) if t.endswith(".npy") else cv2.imread(t, 0).astype(np.float32)
k = np.isfinite(gt) & (gt != 0); v = k & ~np.isnan(d); e = np.abs(d[v] - gt[v])
out = {f"bad{n}": float(((e > n).sum() + (k.sum() - v.sum())) / k.sum()) for n in (1, 2, 4)}
out.update({f"bad{n}_valid": float((e > n).mean()) for n in (1, 2, 4)})
out.update(density=float(v.sum() / k.sum()), mae=float(e.mean()))
print(json.dumps(out))
'''
    return json.loads(subprocess.check_output([py, "-c", code, disp, truth]))


def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--left", required=True)
    ap.add_argument("--right", required=True)
    ap.add_argument("--truth", required=True)
    ap.add_argument("--max-disparity", type=int, default=224)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--bin", default="target/release/classic-cv")
    ap.add_argument("--ours-sgm", default="", help="extra arguments of our SGM run")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    rows = []
    for threads in [int(t) for t in args.threads.split(",")]:
        for name, ours_args, ocv in (("SGM", ["--method", "sgm"] + args.ours_sgm.split(), "sgbm"),
                                     ("BM", ["--method", "bm", "--cost", "ncc"], "bm")):
            o_out, c_out = os.path.join(tmp, f"ours_{name}.npy"), os.path.join(tmp, f"ocv_{name}.npy")
            ours = [args.bin, "stereo", args.left, args.right, "--max-disparity", str(args.max_disparity),
                    "--threads", str(threads), "-o", o_out] + ours_args
            theirs = [args.python, "-c", OPENCV, args.left, args.right, c_out, str(args.max_disparity),
                      str(threads), ocv]
            to, tc = [], []
            for _ in range(args.repeat):
                to.append(timed(ours))
                tc.append(timed(theirs))
            med = lambda v: sorted(v)[len(v) // 2]
            for who, out, t in (("ours", o_out, med(to)), ("opencv", c_out, med(tc))):
                m = metrics(args.python, out, args.truth)
                rows.append({"method": name, "who": who, "threads": threads, "seconds": t, **m})
    print(json.dumps(rows, indent=1))
    print(f"{'method':6} {'who':7} {'thr':>3} {'bad1':>6} {'bad2':>6} {'bad4':>6} {'b1v':>6} {'b2v':>6} {'b4v':>6} {'dens':>6} {'mae':>6} {'sec':>7}")
    for r in rows:
        print(f"{r['method']:6} {r['who']:7} {r['threads']:>3} {r['bad1']:6.3f} {r['bad2']:6.3f} {r['bad4']:6.3f} "
              f"{r['bad1_valid']:6.3f} {r['bad2_valid']:6.3f} {r['bad4_valid']:6.3f} {r['density']:6.3f} {r['mae']:6.2f} {r['seconds']:7.3f}")


if __name__ == "__main__":
    main()
