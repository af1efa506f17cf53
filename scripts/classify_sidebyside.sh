#!/usr/bin/env bash
# Side by side with scikit-learn on Fashion-MNIST (pixels in [0,1], 2 threads), peer and
# ours back to back in one run; prints a ratio table (ours / scikit-learn, lower is faster).
#
#   scripts/classify_sidebyside.sh                 all stages (~10 min on a quiet 2-core machine)
#   STAGES="knn svm" scripts/classify_sidebyside.sh
#
# Stages:
#   knn     KNeighborsClassifier(5, algorithm="brute", n_jobs=2) vs `classic-cv` kNN k=5 L2
#           (tie_break lowest_label, scikit-learn's vote rule): 60k train, 10k test; prediction
#           time; every disagreement is checked for an exact distance tie at the 5th neighbour
#           (integer pixel arithmetic).
#   select  GridSearchCV(k in {1,3,5,7,9} x p in {1,2}, StratifiedKFold(3), n_jobs=2,
#           refit=False) vs `classic-cv select` on the first 10k training images.
#   svm     LinearSVC(C, tol=1e-4) vs `classic-cv` linear SVM (dual CD, squared hinge): C in
#           {0.001, 0.01, 0.1, 1} chosen on train[:10k] -> train[50k:60k] by each side, then the
#           chosen C fitted on all 60k (timed) and tested on the 10k test images.
# Output: target/sidebyside/ (predictions, models, results.json).
set -euo pipefail
cd "$(dirname "$0")/.."
ANCHORS=${ANCHORS:-/tmp/anchors}
if [ ! -x "$ANCHORS/venv/bin/python" ]; then
  cp -r ../shared/anchors "$ANCHORS" && "$ANCHORS/setup.sh"
fi
PY="$ANCHORS/venv/bin/python"
STAGES=${STAGES:-"knn select svm"}
OUT=target/sidebyside
mkdir -p "$OUT"
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
cargo build --release --quiet
BIN="target/release/classic-cv --threads 2"
FM=data/cache/fashion-mnist
RES="$OUT/results.jsonl"
: > "$RES"

cat > "$OUT/peer.py" <<'PYEOF'
import gzip, json, sys, time, warnings
import numpy as np
FM, OUT = sys.argv[2], sys.argv[3]
def idx(p, off):
    with gzip.open(f"{FM}/{p}") as f:
        return np.frombuffer(f.read(), np.uint8, offset=off)
def load():
    xtr = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784)
    ytr = idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64)
    xte = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784)
    yte = idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64)
    return xtr, ytr, xte, yte
def f32(x):
    return x.astype(np.float32) / np.float32(255)
def emit(d):
    with open(f"{OUT}/results.jsonl", "a") as f:
        f.write(json.dumps(d) + "\n")
stage = sys.argv[1]
xtr, ytr, xte, yte = load()
if stage == "knn":
    from sklearn.neighbors import KNeighborsClassifier
    clf = KNeighborsClassifier(5, algorithm="brute", n_jobs=2).fit(f32(xtr), ytr)
    t = time.perf_counter(); pred = clf.predict(f32(xte)); s = time.perf_counter() - t
    np.save(f"{OUT}/knn_sklearn.npy", pred.astype(np.uint32))
    emit({"stage": "knn", "side": "sklearn", "seconds": s, "accuracy": float((pred == yte).mean())})
elif stage == "knn_compare":
    ours = np.load(f"{OUT}/knn_ours.npy").astype(np.int64)
    theirs = np.load(f"{OUT}/knn_sklearn.npy").astype(np.int64)
    diff = np.flatnonzero(ours != theirs)
    a = xtr.astype(np.int32); an = (a * a).sum(1)
    ties = 0
    for i in diff:
        q = xte[i].astype(np.int32)
        d = an - 2 * (a @ q) + (q * q).sum()
        s = np.sort(d)
        ties += int(s[4] == s[5])
    emit({"stage": "knn", "side": "compare", "disagreements": int(len(diff)), "explained_by_distance_ties": ties})
elif stage == "select":
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.neighbors import KNeighborsClassifier
    gs = GridSearchCV(KNeighborsClassifier(algorithm="brute"), {"n_neighbors": [1, 3, 5, 7, 9], "p": [1, 2]},
                      cv=StratifiedKFold(3), n_jobs=2, refit=False)
    t = time.perf_counter(); gs.fit(f32(xtr[:10000]), ytr[:10000]); s = time.perf_counter() - t
    bp = gs.best_params_
    emit({"stage": "select", "side": "sklearn", "seconds": s,
          "best": f"k={bp['n_neighbors']} metric=l{bp['p']}", "best_score": float(gs.best_score_),
          "mean_scores": [float(v) for v in gs.cv_results_["mean_test_score"]]})
elif stage == "svm":
    from sklearn.svm import LinearSVC
    np.save(f"{OUT}/val_x.npy", f32(xtr[50000:60000]))
    np.save(f"{OUT}/val_y.npy", ytr[50000:60000].astype(np.uint32))
    warnings.simplefilter("ignore")
    scores = {}
    t0 = time.perf_counter()
    for C in [0.001, 0.01, 0.1, 1.0]:
        clf = LinearSVC(C=C, tol=1e-4, max_iter=1000).fit(f32(xtr[:10000]), ytr[:10000])
        scores[C] = float((clf.predict(f32(xtr[50000:60000])) == ytr[50000:60000]).mean())
    sel = time.perf_counter() - t0
    best = max(scores, key=lambda c: (scores[c], -c))
    t = time.perf_counter(); clf = LinearSVC(C=best, tol=1e-4, max_iter=1000).fit(f32(xtr), ytr); s = time.perf_counter() - t
    acc = float((clf.predict(f32(xte)) == yte).mean())
    emit({"stage": "svm", "side": "sklearn", "seconds": s, "selection_seconds": sel, "c": best,
          "val_scores": {str(k): v for k, v in scores.items()}, "accuracy": acc})
elif stage == "svm_same_c":
    from sklearn.svm import LinearSVC
    C = float(sys.argv[4])
    warnings.simplefilter("ignore")
    t = time.perf_counter(); clf = LinearSVC(C=C, tol=1e-4, max_iter=1000).fit(f32(xtr), ytr); s = time.perf_counter() - t
    emit({"stage": "svm_same_c", "side": "sklearn", "c": C, "seconds": s, "accuracy": float((clf.predict(f32(xte)) == yte).mean())})
PYEOF
peer() { "$PY" "$OUT/peer.py" "$1" "$FM" "$OUT" "${2:-}"; }
ours_json() { echo "$1" >> "$RES"; }

for stage in $STAGES; do
  echo "== $stage ($(date +%H:%M:%S), load $(cut -d' ' -f1 /proc/loadavg))" >&2
  case $stage in
    knn)
      peer knn
      cat > "$OUT/knn-k5-l2-sklearn-votes.json" <<'J'
{"features": {"pixels": {}}, "classifier": {"knn": {"k": 5, "metric": "l2", "tie_break": "lowest_label"}}}
J
      $BIN train --config "$OUT/knn-k5-l2-sklearn-votes.json" --dataset fashion-mnist -o "$OUT/knn.bin" >/dev/null
      r=$($BIN --json eval "$OUT/knn.bin" --dataset fashion-mnist --predictions "$OUT/knn_ours.npy")
      ours_json "$(echo "$r" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"stage":"knn","side":"ours","seconds":d["predict_seconds"],"accuracy":d["accuracy"]}))')"
      peer knn_compare
      ;;
    select)
      peer select
      r=$($BIN --json select --grid examples/configs/knn-grid.json --dataset fashion-mnist --train-limit 10000 --folds 3 -o "$OUT/best-knn.json")
      ours_json "$(echo "$r" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"stage":"select","side":"ours","seconds":d["seconds"],"best":d["best_name"],"best_score":d["scores"][d["best"]]["mean"],"mean_scores":[s["mean"] for s in d["scores"]]}))')"
      ;;
    svm)
      peer svm
      best_c=""; best_acc=-1; t0=$(date +%s.%N)
      for c in 0.001 0.01 0.1 1; do
        sed "s/\"c\": 0.01/\"c\": $c/" examples/configs/linear-svm.json > "$OUT/svm-c$c.json"
        $BIN train --config "$OUT/svm-c$c.json" --dataset fashion-mnist --train-limit 10000 -o "$OUT/svm-c$c.model.json" >/dev/null
        acc=$($BIN --json eval "$OUT/svm-c$c.model.json" --dataset "npy:$OUT/val_x.npy,$OUT/val_y.npy" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])')
        echo "  ours C=$c validation accuracy $acc" >&2
        if "$PY" -c "import sys; sys.exit(0 if $acc > $best_acc else 1)"; then best_acc=$acc; best_c=$c; fi
      done
      sel=$(echo "$(date +%s.%N) - $t0" | bc)
      r=$($BIN --json train --config "$OUT/svm-c$best_c.json" --dataset fashion-mnist -o "$OUT/svm.model.json")
      fit=$(echo "$r" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["fit_seconds"])')
      acc=$($BIN --json eval "$OUT/svm.model.json" --dataset fashion-mnist | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])')
      ours_json "{\"stage\":\"svm\",\"side\":\"ours\",\"seconds\":$fit,\"selection_seconds\":$sel,\"c\":$best_c,\"accuracy\":$acc}"
      sk_c=$("$PY" -c "import json; print([json.loads(l) for l in open('$RES') if '\"svm\"' in l and 'sklearn' in l][-1]['c'])")
      if [ "$sk_c" != "$best_c" ] && [ "$sk_c" != "${best_c}.0" ]; then peer svm_same_c "$best_c"; fi
      ;;
  esac
done

"$PY" - "$RES" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def get(stage, side):
    r = [x for x in rows if x["stage"] == stage and x["side"] == side]
    return r[-1] if r else None
print()
print(f"{'stage':<34} {'scikit-learn':>13} {'ours':>9} {'ratio':>7}  check")
k, ko, kc = get("knn", "sklearn"), get("knn", "ours"), get("knn", "compare")
if k and ko:
    print(f"{'kNN k=5 L2 predict 10k (60k train)':<34} {k['seconds']:>12.2f}s {ko['seconds']:>8.2f}s {ko['seconds']/k['seconds']:>7.3f}  "
          f"acc {k['accuracy']:.4f} vs {ko['accuracy']:.4f}; {kc['disagreements']} different predictions, {kc['explained_by_distance_ties']} at exact distance ties")
s, so = get("select", "sklearn"), get("select", "ours")
if s and so:
    print(f"{'kNN select 10 cand x 3 folds (10k)':<34} {s['seconds']:>12.2f}s {so['seconds']:>8.2f}s {so['seconds']/s['seconds']:>7.3f}  "
          f"choice {s['best']} ({s['best_score']:.4f}) vs {so['best']} ({so['best_score']:.4f})")
v, vo, vs = get("svm", "sklearn"), get("svm", "ours"), get("svm_same_c", "sklearn")
if v and vo:
    ref = vs if vs else v
    print(f"{'LinearSVC fit 60k, C on validation':<34} {ref['seconds']:>12.2f}s {vo['seconds']:>8.2f}s {vo['seconds']/ref['seconds']:>7.3f}  "
          f"C {v['c']} vs {vo['c']}; test acc (same C={ref['c']}) {ref['accuracy']:.4f} vs {vo['accuracy']:.4f}")
    print(f"{'  C selection (4 fits on 10k)':<34} {v['selection_seconds']:>12.2f}s {vo['selection_seconds']:>8.2f}s {vo['selection_seconds']/v['selection_seconds']:>7.3f}")
PYEOF
