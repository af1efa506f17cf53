#!/usr/bin/env python3
"""Latency of `classic-cv serve`'s POST /detect under concurrent clients.

Starts each given binary as `serve` on a free loopback port, sends REQUESTS requests from
CLIENTS threads (each posting the sample photos in turn: data/cache/faces/*.jpg and the
scikit-image astronaut, as tests/it/serve.rs does) and prints the client-side latency
percentiles. Several binaries (or one binary with several option sets) are measured in
alternation, ROUNDS times each, so that they share the machine's conditions; the load
average is printed with each run.

    scripts/bench_serve_load.py [--requests 1000] [--clients 8] [--rounds 3] \
        'target/release/classic-cv' 'target/release/classic-cv --concurrency 1' ...
"""

import argparse
import http.client
import os
import shlex
import statistics
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def data_dir():
    env = os.environ.get("CLASSIC_CV_DATA")
    return Path(env) if env else ROOT / "data" / "cache"


def photos():
    cache = data_dir()
    v = sorted((cache / "faces").glob("*.jpg")) + [cache / "skimage" / "astronaut.png"]
    missing = [p for p in v if not p.is_file()]
    if missing or len(v) < 2:
        raise SystemExit(f"sample photos missing ({missing}): run `classic-cv fetch-data`")
    return [p.read_bytes() for p in v]


def start(cmd):
    cascade = data_dir() / "opencv/haarcascades/haarcascade_frontalface_default.xml"
    argv = shlex.split(cmd)
    proc = subprocess.Popen(
        [argv[0], "serve", "--addr", "127.0.0.1:0", "--cascade", str(cascade), *argv[1:]],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = proc.stderr.readline()
    if "http://" not in first:
        proc.kill()
        raise SystemExit(f"{cmd}: no address in {first!r}")
    host, port = first.split("http://")[1].split("/")[0].rsplit(":", 1)
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    return proc, host, int(port)


def load(host, port, bodies, requests, clients):
    per_client = -(-requests // clients)
    lat, statuses, lock = [], {}, threading.Lock()

    def client(c):
        mine, seen = [], {}
        for k in range(per_client):
            body = bodies[(c + k) % len(bodies)]
            t = time.perf_counter()
            conn = http.client.HTTPConnection(host, port, timeout=120)
            conn.request("POST", "/detect", body=body, headers={"Connection": "close"})
            r = conn.getresponse()
            r.read()
            conn.close()
            mine.append((time.perf_counter() - t) * 1e3)
            seen[r.status] = seen.get(r.status, 0) + 1
        with lock:
            lat.extend(mine)
            for s, n in seen.items():
                statuses[s] = statuses.get(s, 0) + n

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(lat), time.perf_counter() - t0, statuses


def rank(lat, q):
    return lat[max(0, -(-len(lat) * q // 100) - 1)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("commands", nargs="+", help="binary and extra serve options, quoted")
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    bodies = photos()
    results = {c: [] for c in a.commands}
    for r in range(a.rounds):
        for cmd in a.commands:
            proc, host, port = start(cmd)
            try:
                load(host, port, bodies, 2 * a.clients, a.clients)  # warm-up
                lat, secs, statuses = load(host, port, bodies, a.requests, a.clients)
            finally:
                proc.kill()
                proc.wait()
            p50, p99 = rank(lat, 50), rank(lat, 99)
            results[cmd].append((p50, p99))
            print(
                f"round {r + 1} {cmd!r}: {len(lat)} requests in {secs:.1f} s, "
                f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, p99/p50 {p99 / p50:.2f}, "
                f"max {lat[-1]:.1f} ms, statuses {statuses}, "
                f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
                flush=True,
            )
    for cmd, rs in results.items():
        p50 = statistics.median(x for x, _ in rs)
        p99 = statistics.median(y for _, y in rs)
        print(f"median of {len(rs)}: {cmd!r}: p50 {p50:.1f} ms, p99 {p99:.1f} ms")


if __name__ == "__main__":
    main()
