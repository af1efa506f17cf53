#!/usr/bin/env bash
# Random forest, side by side: scikit-learn RandomForestClassifier(100, n_jobs=2) and
# classic-cv RandomForestParams::default() (100 trees, 2 threads) on Fashion-MNIST raw
# pixels (u8/255), 60k train / 10k test, back to back in one run. Prints both and the ratios.
#   scripts/forest_sidebyside.sh [N_TRAIN] [N_TREES]
set -euo pipefail
cd "$(dirname "$0")/.."
N_TRAIN="${1:-60000}"
N_TREES="${2:-100}"
if [ ! -x /tmp/anchors/venv/bin/python ]; then
  cp -r ../shared/anchors /tmp/anchors && /tmp/anchors/setup.sh
fi
PY=/tmp/anchors/venv/bin/python
FM="$(pwd)/data/cache/fashion-mnist"
cargo build --release --quiet --example forest_fashion_mnist
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
PEER=$("$PY" - "$FM" "$N_TRAIN" "$N_TREES" <<'PYEOF'
import gzip, json, sys, time
import numpy as np
from sklearn.ensemble import RandomForestClassifier
d, n, t = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def imgs(p): return np.frombuffer(gzip.open(f"{d}/{p}").read(), np.uint8, offset=16).reshape(-1, 784).astype(np.float32) / 255
def labs(p): return np.frombuffer(gzip.open(f"{d}/{p}").read(), np.uint8, offset=8)
X, y = imgs("train-images-idx3-ubyte.gz")[:n], labs("train-labels-idx1-ubyte.gz")[:n]
Xt, yt = imgs("t10k-images-idx3-ubyte.gz"), labs("t10k-labels-idx1-ubyte.gz")
m = RandomForestClassifier(n_estimators=t, n_jobs=2, random_state=0)
t0 = time.perf_counter(); m.fit(X, y); fit = time.perf_counter() - t0
t0 = time.perf_counter(); p = m.predict(Xt); pred = time.perf_counter() - t0
print(json.dumps(dict(fit_s=round(fit, 3), predict_s=round(pred, 3), accuracy=float((p == yt).mean()))))
PYEOF
)
OURS=$(./target/release/examples/forest_fashion_mnist "$N_TRAIN" "$N_TREES" 2)
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "sklearn    : $PEER"
echo "classic-cv : $OURS"
"$PY" - "$PEER" "$OURS" <<'PYEOF'
import json, sys
p, o = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"fit time ratio (ours/sklearn): {o['fit_s'] / p['fit_s']:.3f}  (target <= 1.0)")
print(f"predict time ratio           : {o['predict_s'] / p['predict_s']:.3f}")
print(f"accuracy: ours {o['accuracy']:.4f} sklearn {p['accuracy']:.4f} diff {o['accuracy'] - p['accuracy']:+.4f}  (target >= -0.005)")
PYEOF
