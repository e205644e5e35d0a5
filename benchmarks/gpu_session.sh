#!/usr/bin/env bash
# One GPU session on packed FERPlus, from a bare checkout (no `pip install` of this project):
#   1. `oadn-bench bench`: ResNet-50 last-stride-1, 224 px, batch 128, bf16 + channels_last, eager, compiled, and
#      compiled with CUDA graphs (reduce-overhead);
#   2. OADN and the ResNet-50 GAP baseline trained from scratch on FERPlus (official protocol, majority labels:
#      train FER2013Train, model selection on FER2013Valid) at 112 px for 15 epochs (lr 0.1, /10 at 8 and 12);
#   3. each run evaluated on FER2013Test and on Occlusion-, Pose>30- and Pose>45-FERPlus (RAN lists);
#   4. (phase adaptivity) the robustness-gpu suite: OADN with ResNet-50 at 224 px (14 x 14), trained with pasted
#      occluders and oracle scores, scored on pasted and swapped columns under dlib, oracle and random-drop
#      scores; the report computes the suite's pre-registered endpoints (the suite file holds every setting).
# Everything small goes to $OUT (checkpoints stay in $RUNS). Each phase but adaptivity fits a 10-minute command on
# an H100/H200; adaptivity has run only as the CPU smoke test below: scaled from the 112 px epoch (about 9 s) by
# the pixel count, its 15 epochs at 224 px take about 9 minutes before the 14 columns score, so give it two
# commands (the second call resumes the run from its last epoch and scores what is left).
#
# usage (from anywhere):
#   OUT=/path/out PACK=/path/ferplus.pack benchmarks/gpu_session.sh [all|preflight|bench|train|adaptivity]
#   PACK    the file made by `oadn-bench pack ferplus --size 48` (default: ferplus.pack in the checkout root)
#   EPOCHS, SIZE   override the training length and input size;  PYTHON  the interpreter (default python3)
#   OADN_GPU_SESSION_TINY=1   the same commands with tiny settings on a CPU (a smoke test of this script)
# A phase interrupted by the command limit continues where it stopped when run again (train --resume).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1
PY=${PYTHON:-python3}
PHASE=${1:-all}
OUT=${OUT:-$PWD/gpu-out}
PACK=$(realpath "${PACK:-$PWD/ferplus.pack}")
RUNS=${RUNS:-/tmp/oadn-gpu-runs}
export OADN_CACHE=${OADN_CACHE:-/tmp/oadn-cache}  # where the pack is unpacked, once
mkdir -p "$OUT" "$RUNS"

DATA=(--set data.name=ferplus --set "data.root=$PACK" --set data.val_split=val --set "data.test_splits=[test]")
if [[ "${OADN_GPU_SESSION_TINY:-0}" == 1 ]]; then
  BENCH=(--set model.backbone=cnn-tiny --set data.image_size=32 --set train.batch_size=16 --set train.device=cpu
         --steps 2 --warmup 1 --repeats 2 --loop-steps 3 --no-compile)
  TRAIN=(--set model.backbone=cnn-tiny --set "data.image_size=${SIZE:-32}" --set "train.epochs=${EPOCHS:-1}"
         --set train.batch_size=128 --set "train.lr_milestones=[1]" --set train.device=cpu --set train.compile=false)
  ADAPT=(--set model.backbone=cnn-tiny --set data.image_size=32 --set train.epochs=1 --set "train.lr_milestones=[1]"
         --set data.options.train_limit=256 --set train.device=cpu --set train.compile=false)
else
  BENCH=(--set model.backbone=resnet50 --set data.image_size=224 --set train.batch_size=128
         --steps 20 --warmup 5 --repeats 6 --loop-steps 150 --compile-mode default --compile-mode reduce-overhead)
  TRAIN=(--set model.backbone=resnet50 --set "data.image_size=${SIZE:-112}" --set "train.epochs=${EPOCHS:-15}"
         --set train.batch_size=128 --set train.lr=0.1 --set "train.lr_milestones=[8, 12]" --set train.compile=false)
  ADAPT=()  # the suite file's settings as they are
fi

timed() {  # name, command...: runs it, appends its wall time to $OUT/timings.txt
  local name=$1 started=$SECONDS
  shift
  "$@"
  echo "$name $((SECONDS - started)) s" | tee -a "$OUT/timings.txt"
}

preflight() {
  { date -u; nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"; nproc; "$PY" --version; } > "$OUT/env.txt"
  "$PY" - <<'EOF' | tee -a "$OUT/env.txt"
import importlib, sys
needed = ["torch", "torchvision", "timm", "numpy", "PIL", "pandas", "pyarrow", "sklearn", "scipy", "yaml", "typer", "rich"]
missing = [name for name in needed if importlib.util.find_spec(name) is None]
if missing:
    sys.exit(f"missing Python modules: {', '.join(missing)}")
import torch
import oadn.cli, oadn.engine.train, oadn.engine.evaluate, oadn.engine.bench  # noqa: F401
blocked = [name for name in ("facenet_pytorch", "dlib") if name in sys.modules]
if blocked:
    sys.exit(f"imported at module level, but not needed here: {blocked}")
print(f"torch {torch.__version__}, cuda {torch.cuda.is_available()}", torch.cuda.get_device_name() if torch.cuda.is_available() else "")
EOF
  [[ -f "$PACK" ]] || { echo "no pack file at $PACK (make it with: oadn-bench pack ferplus --size 48 ...)"; exit 1; }
}

bench() {
  timed bench "$PY" -m oadn bench "${DATA[@]}" "${BENCH[@]}" --json "$OUT/bench.json" --profile "$OUT/profile" 2>&1 \
    | tee "$OUT/bench.txt"
}

train_and_evaluate() {
  local method=$1 run=$RUNS/$1
  if [[ -f "$run/config.yaml" ]]; then
    timed "train-$method" "$PY" -m oadn train --resume "$run" --no-progress
  else
    timed "train-$method" "$PY" -m oadn train "${DATA[@]}" "${TRAIN[@]}" --set "model.name=$method" \
      --set "name=ferplus-$method" --run-dir "$run" --no-progress
  fi
  for subset in occlusion-ferplus pose30-ferplus pose45-ferplus; do
    timed "evaluate-$method-$subset" "$PY" -m oadn evaluate "$run" --data "$subset" --root "$PACK" --no-progress
  done
  mkdir -p "$OUT/runs/$method"
  (cd "$run" && cp -r config.yaml history.jsonl metrics.json predictions evaluations "$OUT/runs/$method/")
}

summary() {
  "$PY" - "$OUT" <<'EOF' | tee "$OUT/summary.md"
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
print("| method | val acc % | FER2013Test acc % | mean-class % | Occlusion-FERPlus % | Pose>30 % | Pose>45 % | epochs |")
print("|---|---|---|---|---|---|---|---|")
for method in ("oadn", "baseline"):
    run = out / "runs" / method
    if not (run / "metrics.json").is_file():
        continue
    metrics = json.loads((run / "metrics.json").read_text())
    test = metrics["splits"]["test"]["prediction"]
    subsets = [json.loads((run / "evaluations" / s / "metrics.json").read_text())["test"]["prediction"]["accuracy"]
               for s in ("occlusion-ferplus", "pose30-ferplus", "pose45-ferplus")]
    val = metrics["splits"].get("val", {}).get("prediction", {}).get("accuracy", float("nan"))
    cells = [100 * val, 100 * test["accuracy"], 100 * test["mean_class_accuracy"], *(100 * s for s in subsets)]
    print(f"| {method} | " + " | ".join(f"{c:.2f}" for c in cells) + f" | {metrics['epochs']} (selected {metrics['selected_epoch']}) |")
EOF
}

adaptivity() {  # the suite resumes an interrupted run and reuses a finished one when called again
  timed adaptivity "$PY" -m oadn run --suite robustness-gpu --root "ferplus=$PACK" --runs-root "$RUNS/suites" \
    --report-dir "$OUT/robustness-gpu" --no-progress ${ADAPT[@]+"${ADAPT[@]}"}
}

case "$PHASE" in
  preflight) preflight ;;
  bench) preflight; bench ;;
  train) preflight; train_and_evaluate oadn; train_and_evaluate baseline; summary ;;
  adaptivity) preflight; adaptivity ;;
  all) preflight; bench; train_and_evaluate oadn; train_and_evaluate baseline; summary; adaptivity ;;
  *) echo "unknown phase $PHASE (all|preflight|bench|train|adaptivity)"; exit 2 ;;
esac
