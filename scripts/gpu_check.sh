#!/usr/bin/env bash
# The GPU path measured on one CUDA GPU in at most 8 minutes, offline, from a fresh checkout:
#
#     scripts/gpu_check.sh [DATA_PATH]        (default: ../shared/datasets/cifar10-subset.npz)
#
#   1. make install          (offline: pip installs from its cache, or set PIP_FIND_LINKS to a wheelhouse)
#   2. pytest -m cuda        ResNet-18 on the CIFAR-10 subset, kill and resume, bf16, compile -> tests.xml
#   3. make bench            small_cnn and resnet18, 4 runs sharing the GPU -> <model>/bench.{md,csv}
#   4. make plan PROFILE=full                                                 -> plan.txt
#   5. python -m sgdtricks.bench.gpu_report                                         -> README.md
#
# Everything lands in reports/gpu/ (and each step's output in <step>.log there). Every step has its own time
# limit (together 7.5 minutes, plus the install when .venv is not there yet); a step that fails or runs out
# of time is recorded in steps.tsv and on the page, and the later steps still run. Exit code: 0 when every
# step succeeded, 1 when one did not, 2 when there is no GPU or no data to measure with.
set -uo pipefail
cd "$(dirname "$0")/.."
DATA_PATH=${1:-${DATA_PATH:-../shared/datasets/cifar10-subset.npz}}
OUT=reports/gpu
PY=.venv/bin/python
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's code, whatever the venv points at
export WANDB_MODE=offline SGDTRICKS_DATASETS="$(dirname "$DATA_PATH")"

fail() { echo "error: $*" >&2; exit 2; }
nvidia-smi -L >/dev/null 2>&1 || fail "no NVIDIA GPU here (nvidia-smi -L lists none); this check measures one"
[[ -f $DATA_PATH ]] || fail "$DATA_PATH not found; pass the CIFAR-10 subset .npz: scripts/gpu_check.sh FILE"
[[ $(basename "$DATA_PATH") == cifar10-subset.npz ]] || fail "the CUDA tests read cifar10-subset.npz; got $DATA_PATH"

rm -rf "$OUT" && mkdir -p "$OUT"
failed=0
step() {  # step NAME LIMIT_S COMMAND...: run it under a time limit, output to OUT/NAME.log, result to steps.tsv
  local name=$1 limit=$2 t0=$SECONDS code
  shift 2
  echo "== $name (at most ${limit} s)"
  timeout --kill-after=15 "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
  code=${PIPESTATUS[0]}
  printf '%s\t%s\t%s\n' "$name" "$code" "$((SECONDS - t0))" >> "$OUT/steps.tsv"
  [[ $code == 0 ]] || failed=1
}

step install 300 make install
$PY -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' \
  || fail "nvidia-smi sees a GPU but torch does not (torch.cuda.is_available() is False): install a CUDA build of torch"
step cuda_tests 180 $PY -m pytest -m cuda tests/test_cuda.py -q -rs --junitxml="$OUT/tests.xml"
step bench_small_cnn 45 make bench DATA=npz DATA_PATH="$DATA_PATH" \
  ARGS="model=small_cnn --out $OUT/small_cnn --repeats 3 --share 4 --run-epochs 1"
step bench_resnet18 105 make bench DATA=npz DATA_PATH="$DATA_PATH" \
  ARGS="model=resnet18 --out $OUT/resnet18 --batches 10 --repeats 3 --share 4 --run-epochs 1"
step plan 120 make plan PROFILE=full
cp "$OUT/plan.log" "$OUT/plan.txt"
$PY -m sgdtricks.bench.gpu_report "$OUT" || failed=1
exit $failed
