#!/usr/bin/env bash
# Byte-for-byte parity of two classic-cv binaries on the shared anchor inputs.
#
#   scripts/parity.sh OLD_BINARY NEW_BINARY [WORKDIR]
#
# Runs `detect`, `dsift`, `kmeans`, `encode`, `train`/`eval`, `cnn train|eval`, `demo` and
# `bodyparts synth|train|eval` with both binaries on the same inputs and
# compares every output file and stdout byte for byte. Models written by OLD are also
# loaded by NEW (`eval`, `cnn eval`, `bodyparts eval`), which checks
# that model files saved before a change still load after it. Needs `fetch-data` done and
# the anchors (`../shared/anchors`, or `$CLASSIC_CV_SHARED/anchors`). Exits 1 on the first
# difference, naming it.
set -euo pipefail
OLD=$(realpath "$1"); NEW=$(realpath "$2")
cd "$(dirname "$0")/.."
WORK=${3:-$(mktemp -d)}
SHARED=${CLASSIC_CV_SHARED:-../shared}
A=$SHARED/anchors
DATA=${CLASSIC_CV_DATA:-data/cache}
[ -d "$A/vlfeat/out" ] || { echo "anchors not found at $A" >&2; exit 1; }
mkdir -p "$WORK/old" "$WORK/new"
export RAYON_NUM_THREADS=2

# Timings are the only thing allowed to differ: text outputs are compared with every number
# that follows a key or word naming a time or rate replaced by T.
norm() { sed -E 's/("?[A-Za-z_]*(second|secs|_ms|fps|time)[A-Za-z_]*"?[:=]? *)[0-9.eE+-]+/\1T/g; s/[0-9.]+ ?(ms|s|fps)\b/T\1/g' "$1"; }
same() { cmp -s "$1" "$2" || { grep -Iq . "$1" && [ "$(norm "$1")" = "$(norm "$2")" ]; }; }

# run NAME CMD... : runs CMD with BIN set to each binary, in $WORK/{old,new}, stdout kept.
run() {
  local name=$1; shift
  for side in old new; do
    local bin=$OLD; [ $side = new ] && bin=$NEW
    ( cd "$WORK/$side" && BIN=$bin eval "$*" ) > "$WORK/$side/$name.stdout" 2> "$WORK/$side/$name.stderr" \
      || { echo "FAIL: $name ($side) exited non-zero:"; tail -3 "$WORK/$side/$name.stderr"; exit 1; }
  done
}
# cross NAME CMD... : NEW reads what OLD wrote (models saved before load after).
cross() {
  local name=$1; shift
  ( cd "$WORK/old" && BIN=$NEW eval "$*" ) > "$WORK/old/$name.cross" 2>/dev/null \
    || { echo "FAIL: $name: the new binary cannot read the old binary's files"; exit 1; }
  same "$WORK/old/$name.cross" "$WORK/old/$name.stdout" || { echo "DIFF: $name (new binary on old files)"; exit 1; }
}

R=$(realpath .); AR=$(realpath "$A"); DR=$(realpath "$DATA")
export CLASSIC_CV_DATA=$DR
FRAMES=$(ls "$AR"/opencv/frames/*_gray.png | tr "\n" " ")
HAAR=$DR/opencv/haarcascades/haarcascade_frontalface_default.xml
ALT=$DR/opencv/haarcascades/haarcascade_frontalface_alt.xml
LBP=$DR/opencv/lbpcascades/lbpcascade_frontalface_improved.xml

run detect_haar '$BIN --json detect --cascade '$HAAR' '"$FRAMES"
run detect_haar_raw '$BIN --json detect --cascade '$HAAR' --min-neighbors 0 --scale-factor 1.2 '"$FRAMES"
run detect_alt_nms '$BIN --json detect --cascade '$ALT' --nms 0.3 --equalize '"$FRAMES"
run detect_lbp '$BIN --json detect --cascade '$LBP' '"$FRAMES"
run detect_ours '$BIN --json detect --cascade '$R'/data/models/face-cascade.xml --draw drawn '"$FRAMES"
# Raw 8-bit frames on stdin (--raw): the bald_guys anchor frame (f32 gray in [0, 1]) as bytes, 3 times.
python3 -c "import array,sys; a=array.array('f'); a.frombytes(open(sys.argv[1],'rb').read()); sys.stdout.buffer.write(bytes(min(255,max(0,int(v*255+0.5))) for v in a)*3)" "$AR/vlfeat/out/bald_guys_gray_640x480.f32" > "$WORK/frames.raw"
run detect_raw '$BIN detect --cascade '$HAAR' --raw 640x480 < '$WORK/frames.raw
run dsift_flat '$BIN dsift --size 512x512 '$AR'/vlfeat/out/astronaut_gray_512x512.f32 -o astro_flat.npy --keypoints-out astro_flat_frames.npy'
run dsift_gauss '$BIN dsift --window gaussian --size 512x512 '$AR'/vlfeat/out/astronaut_gray_512x512.f32 -o astro_gauss.npy'
run dsift_phow '$BIN dsift --scales 4,6,8 --step 6 '"$(echo $FRAMES | cut -d' ' -f1-3)"' -o phow'
run kmeans_lloyd '$BIN kmeans --dim 128 --clusters 64 --iters 8 '$AR'/vlfeat/out/descriptors_100k.f32 -o km_lloyd.npy'
run kmeans_elkan '$BIN kmeans --dim 128 --clusters 32 --iters 8 --algorithm elkan '$AR'/vlfeat/out/descriptors_100k.f32 -o km_elkan.npy'
run kmeans_mini '$BIN kmeans --dim 128 --clusters 32 --iters 3 --algorithm minibatch '$AR'/vlfeat/out/descriptors_100k.f32 -o km_mini.npy'
run encode_vlad '$BIN encode vlad --codebook km_lloyd.npy astro_flat.npy -o vlad.npy'
run encode_bovw '$BIN encode bovw --codebook km_lloyd.npy astro_flat.npy --keypoints astro_flat_frames.npy -o bovw.npy'
for cfg in knn-k5-l2 linear-svm softmax random-forest-100 fashion-vlad32-pyramid; do
  lim=3000; [ $cfg = fashion-vlad32-pyramid ] && lim=1500
  run train_$cfg '$BIN train --config '$R'/examples/configs/'$cfg'.json --dataset fashion-mnist --train-limit '$lim' -o '$cfg'.bin && $BIN train --config '$R'/examples/configs/'$cfg'.json --dataset fashion-mnist --train-limit 500 -o '$cfg'.json'
  run eval_$cfg '$BIN --json eval '$cfg'.bin --dataset fashion-mnist --limit 1000 --report rep_'$cfg' --predictions pred_'$cfg'.npy'
  cross eval_$cfg '$BIN --json eval '$cfg'.bin --dataset fashion-mnist --limit 1000'
done
run cnn_train '$BIN cnn train --epochs 1 --train-limit 2000 --data-dir '$DR' --dataset fashion-mnist -o cnn.bin'
run cnn_eval '$BIN --json cnn eval cnn.bin --data-dir '$DR' --dataset fashion-mnist'
cross cnn_eval '$BIN --json cnn eval cnn.bin --data-dir '$DR' --dataset fashion-mnist'
run demo '$BIN demo'
run body_synth '$BIN bodyparts synth --seed 3 --count 12 -o body'
run body_train '$BIN bodyparts train body --trees 2 --depth 10 --pixels 100 --candidates 20 -o body.bin'
run body_eval '$BIN --json bodyparts eval body.bin body'
cross body_eval '$BIN --json bodyparts eval body.bin body'

# Every file either side wrote must be identical on the other side.
status=0
while IFS= read -r f; do
  rel=${f#"$WORK/old/"}
  case $rel in *.stderr|*.cross) continue;; esac
  if ! same "$f" "$WORK/new/$rel"; then echo "DIFF: $rel"; status=1; fi
done < <(find "$WORK/old" -type f | sort)
n=$(find "$WORK/old" -type f ! -name '*.stderr' ! -name '*.cross' | wc -l)
[ "$(find "$WORK/new" -type f ! -name '*.stderr' | wc -l)" = "$n" ] || { echo "DIFF: the two sides wrote different sets of files"; status=1; }
[ $status = 0 ] && echo "parity: $n outputs byte-identical (timings aside); models written by the old binary load in the new one"
exit $status
