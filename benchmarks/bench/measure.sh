#!/usr/bin/env bash
# The data path's figures on a CPU machine: `oadn-bench bench` on the demo's synthetic faces (64 px) and on the
# robustness suites' occluded FERPlus (72 and 96 px; from the prepared cache and from a pack), each scoring a
# pasted ("eyes 30%") and a swapped ("swap-eyes") column; RAN and gACNN against their backbone at 96 px. One JSON
# per configuration into $OUT. Run it on idle cores: nothing else on the machine.
#
#   FERPLUS=/path/ferplus CACHE=/path/cache PACK=/path/ferplus.pack OUT=/path/out benchmarks/bench/measure.sh
#   PYTHON   the interpreter (default python3)
#   SRC      the checkout to measure (default this one); its own benchmarks/bench/robustness.yaml is read
set -euo pipefail
cd "${SRC:-$(dirname "$0")/../..}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
OUT=${OUT:?where the JSON files go}
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1
EYES='{name: eyes 30%, options: {base: ferplus, kind: eyes, area: 0.3, probability: 1.0, scores: oracle}}'
SWAP='{name: swap-eyes, options: {base: ferplus, kind: swap-eyes, probability: 1.0, scores: oracle}}'
COMMON=(--no-compile --steps 10 --repeats 4 --loop-steps 100 --cost-batches 8)

bench() {  # name, arguments...
  local name=$1
  shift
  local started=$SECONDS
  "$PY" -m oadn bench "$@" "${COMMON[@]}" --json "$OUT/$name.json" > "$OUT/$name.txt" 2>&1
  echo "$name $((SECONDS - started)) s" | tee -a "$OUT/timings.txt"
}

bench synthetic-64 --set data.name=synthetic --set "data.options={train_size: 4200, test_size: 1400, train_occlusion: 0.5}" \
  --set data.image_size=64 --set model.backbone=cnn-tiny --set train.batch_size=64 \
  --set "data.test_splits=[test_clean, test_occluded]" --set data.val_fraction=0.1
for size in 72 96; do
  extra=()
  [[ $size == 96 ]] && extra=(--method ran --method gacnn)
  bench "prepared-$size" -c benchmarks/bench/robustness.yaml --set "data.root=${FERPLUS:?}" --set "data.image_size=$size" \
    --cache-dir "${CACHE:?}" --column "$EYES" --column "$SWAP" ${extra[@]+"${extra[@]}"}
  bench "pack-$size" -c benchmarks/bench/robustness.yaml --set "data.root=${PACK:?}" --set "data.image_size=$size" \
    --cache-dir "$CACHE" --column "$EYES" --column "$SWAP"
done
