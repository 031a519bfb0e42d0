#!/usr/bin/env bash
# The GPU path, run on a GPU: one script, under 5 minutes on an H100/H200-class machine.
#
#   benchmarks/gpu_check.sh                        # needs a CUDA GPU; stops at once without one
#   benchmarks/gpu_check.sh --allow-cpu --quick    # smoke run of this script on a CPU (minutes)
#
# (a) the device tests for real: tests/test_device.py (mocked accelerators), the CUDA paths that
#     it only mocks (benchmarks/gpu_device_tests.py), and the tests whose code picks the best
#     device by itself (tests/test_torch_train.py, tests/test_demos.py: on the GPU there);
# (b) notebook 08's recipe (RECIPES["modern"]) trained on the GPU with the data on the device,
#     fp32 and bf16 autocast, channels_last off and on, plus a CUDA-graph run: epoch ms, images/s,
#     test accuracy, seconds to 99% (benchmarks/gpu_epoch.py). Targets: epoch < 50 ms, 99% < 1 s;
# (c) 08's solution notebook run headless in a fresh kernel (autograder.notebooks.execute) on a
#     scratch copy, and its accuracy test cell (hidden part included) must pass.
#
# Options: --allow-cpu  run without a CUDA GPU (everything on the CPU: a test of the script);
#          --quick      smaller runs (fewer tests, 4,096 training digits, 1 seed) for a smoke run;
#          --skip-notebook  leave out (c).
# Environment: PYTHON (default .venv/bin/python if present, else python3; a CUDA build of torch
# 2.13 with numpy, pytest, nbclient, ipykernel, matplotlib, tqdm), GPU_CHECK_OUT (default
# artifacts/gpu_check): the logs, gpu_epoch.json and the executed notebook go there. Nothing else
# is written in the repository: pytest's cache and bytecode are off, and scratch files (pytest's
# tmp, Jupyter's runtime files, the notebook's copy and its checkpoint) live in a mktemp folder
# that is removed at the end. MNIST must be in the cache (python -m lenet_kit.data fetch) or
# reachable. Exit status: 0 if every step passed, 1 if one failed, 2 if no GPU (and no --allow-cpu).
set -uo pipefail

ALLOW_CPU=0
QUICK=0
NOTEBOOK=1
for arg in "$@"; do
    case "$arg" in
        --allow-cpu) ALLOW_CPU=1 ;;
        --quick) QUICK=1 ;;
        --skip-notebook) NOTEBOOK=0 ;;
        -h | --help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "gpu_check.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
    esac
done

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO" || exit 2
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
OUT_DIR="${GPU_CHECK_OUT:-artifacts/gpu_check}"
mkdir -p "$OUT_DIR" || exit 2
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")" || exit 2
trap 'rm -rf "$SCRATCH"' EXIT

export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MPLBACKEND=Agg
export MPLCONFIGDIR="$SCRATCH/mpl" IPYTHONDIR="$SCRATCH/ipython"
export JUPYTER_RUNTIME_DIR="$SCRATCH/jupyter-runtime"
unset LENET_DEVICE

START=$(date +%s)
declare -a SUMMARY=()
FAILED=0
step() {  # step NAME COMMAND...: run, log to $OUT_DIR/NAME.log, record PASS/FAIL and seconds
    local name=$1
    shift
    local t0
    t0=$(date +%s)
    echo
    echo "=== $name: $*"
    "$@" 2>&1 | tee "$OUT_DIR/$name.log"
    local rc=${PIPESTATUS[0]}
    local took=$(($(date +%s) - t0))
    if [[ $rc -eq 0 ]]; then
        SUMMARY+=("PASS  $name (${took} s)")
    else
        SUMMARY+=("FAIL  $name (${took} s, exit $rc; log: $OUT_DIR/$name.log)")
        FAILED=1
    fi
}

echo "=== environment"
echo "repository $REPO; python $PYTHON; results in $OUT_DIR; load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
fi
"$PYTHON" - <<'EOF'
import sys

import torch

print(f"torch {torch.__version__}, CUDA build {torch.version.cuda}, "
      f"cuda available: {torch.cuda.is_available()}, devices: {torch.cuda.device_count()}")
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"GPU 0: {p.name}, {p.total_memory / 2**30:.0f} GiB, compute capability {p.major}.{p.minor}")
sys.exit(0 if torch.cuda.is_available() else 3)
EOF
case $? in
    0) DEVICE=cuda ;;
    3)
        if [[ $ALLOW_CPU -eq 0 ]]; then
            echo
            echo "gpu_check.sh: NO CUDA GPU. This check needs a machine with an NVIDIA GPU and a CUDA"
            echo "build of torch (this one says cuda available: False). Nothing was run. For a smoke"
            echo "run of the script itself on a CPU, pass --allow-cpu (and --quick)."
            exit 2
        fi
        DEVICE=cpu
        echo "no CUDA GPU: --allow-cpu given, so everything runs on the CPU (a smoke run; the figures say nothing about a GPU)"
        ;;
    *) echo "gpu_check.sh: $PYTHON cannot import torch"; exit 2 ;;
esac
export GPU_CHECK_DEVICE=$DEVICE

if ! "$PYTHON" -c "from lenet_kit.data import load_mnist; load_mnist('train'); load_mnist('test')"; then
    echo "gpu_check.sh: MNIST is not available (run: $PYTHON -m lenet_kit.data fetch)"
    exit 2
fi

# (a) device tests
PYTEST=("$PYTHON" -m pytest -q -p no:cacheprovider --basetemp="$SCRATCH/pytest" -rs)
if [[ $QUICK -eq 1 ]]; then
    step a_device_tests "${PYTEST[@]}" tests/test_device.py benchmarks/gpu_device_tests.py
else
    step a_device_tests "${PYTEST[@]}" tests/test_device.py benchmarks/gpu_device_tests.py \
        tests/test_torch_train.py tests/test_demos.py
fi

# (b) 08's recipe on the device: fp32/bf16 x channels_last off/on, and CUDA graphs
if [[ $QUICK -eq 1 ]]; then
    EPOCH_ARGS=(--seeds 1 --train-size 4096)
else
    EPOCH_ARGS=(--seeds 3 --graphs)
fi
[[ $DEVICE == cpu ]] && EPOCH_ARGS+=(--allow-cpu)
step b_gpu_epoch "$PYTHON" benchmarks/gpu_epoch.py "${EPOCH_ARGS[@]}" --json "$OUT_DIR/gpu_epoch.json"

# (c) notebook 08 headless in a fresh kernel, on a scratch copy; its accuracy test must pass
if [[ $NOTEBOOK -eq 1 ]]; then
    step c_notebook_08 "$PYTHON" - "$SCRATCH" "$OUT_DIR" "$DEVICE" <<'EOF'
import shutil
import sys
import time
from pathlib import Path

import nbformat

from autograder.notebooks import errors, execute, grade_id, is_test

scratch, out, device = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
source = Path("solutions/08_gpu_training")
folder = scratch / "08_gpu_training"
shutil.copytree(source, folder)  # the notebook writes its checkpoint here, never in solutions/
nb = nbformat.read(folder / "08_gpu_training.ipynb", as_version=4)
start = time.perf_counter()
execute(nb, folder, timeout=600, allow_errors=True)
seconds = time.perf_counter() - start
nbformat.write(nb, out / "08_gpu_training.executed.ipynb")


def text(cell):
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


by_id = {grade_id(c): c for c in nb.cells if grade_id(c)}
for cell in nb.cells:  # what the notebook says about its device and its training
    said = text(cell)
    if cell.cell_type == "code" and ("Training on" in said or "No GPU found" in said or "epoch " in said):
        print(said.rstrip())
failed = {e.grade_id or f"cell {e.index}": f"{e.ename}: {e.evalue}".splitlines()[0] for e in errors(nb)}
tests = [grade_id(c) for c in nb.cells if is_test(c)]
for name in tests:
    print(f"  {'FAIL' if name in failed else 'pass'}  {name}" + (f"  ({failed[name]})" if name in failed else ""))
accuracy = by_id.get("test_accuracy")
ran = accuracy is not None and accuracy.get("execution_count") is not None
passed = ran and "test_accuracy" not in failed and "All visible tests passed." in text(accuracy)
on_device = any(f"Training on {device}" in text(c) for c in nb.cells) if device == "cuda" else True
print(f"notebook 08 ran in {seconds:.0f} s (kernel start included); its accuracy test "
      f"{'PASSED' if passed else 'FAILED'} (hidden part included)"
      + ("" if on_device else f"; but it did not say 'Training on {device}'"))
if failed:
    print(f"cells with errors: {failed}")
sys.exit(0 if passed and on_device and not failed else 1)
EOF
fi

echo
echo "=== summary ($DEVICE, $(($(date +%s) - START)) s in all; target on an H100/H200: under 300 s)"
printf '%s\n' "${SUMMARY[@]}"
[[ -f "$OUT_DIR/gpu_epoch.json" ]] && echo "figures: $OUT_DIR/gpu_epoch.json; logs: $OUT_DIR/*.log"
exit $FAILED
