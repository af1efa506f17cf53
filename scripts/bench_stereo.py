#!/usr/bin/env python3
"""Ours (classic-cv stereo) against OpenCV's StereoSGBM / StereoBM, side by side.

Each run is a whole process: read the two images, match, write the disparity as float32
.npy (NaN = invalid). Runs are interleaved (ours, OpenCV, ours, ... over every thread
setting in each round, so that both sides see the same machine load) and the median of
`--repeat` rounds is reported, with the ratios ours / OpenCV at the same thread count and
ours / OpenCV with 1 thread, the CPU model and the load average before and after.
Accuracy uses OpenCV's sample-script metric: over the ground-truth pixels (0, NaN, inf =
unknown) bad-N counts invalid pixels as wrong; bad-N where valid, density and MAE over the
valid ones.

  python3 scripts/bench_stereo.py --left L --right R --truth GT.png|GT.npy \
      --max-disparity 224 [--repeat 5] [--threads 1,2] [--methods SGM,BM] [--python PY]
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


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--left", required=True)
    ap.add_argument("--right", required=True)
    ap.add_argument("--truth", required=True)
    ap.add_argument("--max-disparity", type=int, default=224)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--methods", default="SGM,BM")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--bin", default="target/release/classic-cv")
    ap.add_argument("--ours-sgm", default="", help="extra arguments of our SGM run")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    threads = [int(t) for t in args.threads.split(",")]
    load_before = os.getloadavg()
    rows = []
    methods = {"SGM": (["--method", "sgm"] + args.ours_sgm.split(), "sgbm"),
               "BM": (["--method", "bm", "--cost", "ncc"], "bm")}
    med = lambda v: sorted(v)[len(v) // 2]
    for name in args.methods.split(","):
        ours_args, ocv = methods[name]
        times = {(who, t): [] for who in ("ours", "opencv") for t in threads}
        outs = {}
        for _ in range(args.repeat):
            for t in threads:
                o_out = os.path.join(tmp, f"ours_{name}_{t}.npy")
                c_out = os.path.join(tmp, f"ocv_{name}_{t}.npy")
                ours = [args.bin, "stereo", args.left, args.right, "--max-disparity",
                        str(args.max_disparity), "--threads", str(t), "-o", o_out] + ours_args
                theirs = [args.python, "-c", OPENCV, args.left, args.right, c_out,
                          str(args.max_disparity), str(t), ocv]
                times[("ours", t)].append(timed(ours))
                times[("opencv", t)].append(timed(theirs))
                outs[("ours", t)], outs[("opencv", t)] = o_out, c_out
        for t in threads:
            for who in ("ours", "opencv"):
                m = metrics(args.python, outs[(who, t)], args.truth)
                sec = med(times[(who, t)])
                row = {"method": name, "who": who, "threads": t, "seconds": sec,
                       "runs": times[(who, t)], **m}
                if who == "ours":
                    row["ratio_same_threads"] = sec / med(times[("opencv", t)])
                    if ("opencv", 1) in times:
                        row["ratio_vs_opencv_1thread"] = sec / med(times[("opencv", 1)])
                rows.append(row)
    load_after = os.getloadavg()
    print(json.dumps(rows, indent=1))
    print(f"CPU: {cpu_model()} ({os.cpu_count()} logical CPUs); load average (1/5/15 min) "
          f"before {load_before[0]:.1f}/{load_before[1]:.1f}/{load_before[2]:.1f}, "
          f"after {load_after[0]:.1f}/{load_after[1]:.1f}/{load_after[2]:.1f}; "
          f"medians of {args.repeat} interleaved rounds")
    print(f"{'method':6} {'who':7} {'thr':>3} {'bad1':>6} {'bad2':>6} {'bad4':>6} {'b1v':>6} {'b2v':>6} {'b4v':>6} {'dens':>6} {'mae':>6} {'sec':>7} {'/ocv':>6} {'/ocv1':>6}")
    for r in rows:
        same = f"{r['ratio_same_threads']:6.2f}" if "ratio_same_threads" in r else f"{'':6}"
        one = f"{r['ratio_vs_opencv_1thread']:6.2f}" if "ratio_vs_opencv_1thread" in r else f"{'':6}"
        print(f"{r['method']:6} {r['who']:7} {r['threads']:>3} {r['bad1']:6.3f} {r['bad2']:6.3f} {r['bad4']:6.3f} "
              f"{r['bad1_valid']:6.3f} {r['bad2_valid']:6.3f} {r['bad4_valid']:6.3f} {r['density']:6.3f} {r['mae']:6.2f} {r['seconds']:7.3f} {same} {one}")


if __name__ == "__main__":
    main()
