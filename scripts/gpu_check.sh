#!/usr/bin/env bash
# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
#
# GPU check: the CUDA part of `thermostereo bench` and the CUDA tests, in one go (< 8 min on
# an H100). Run from anywhere: `scripts/gpu_check.sh`; results go to $OUT/gpu_bench.json
# (and the working files to bench_out/gpu_check/ in the repository).
#
#   - model latency at 640x256 and 640x512: torch fp32, fp16, fp16 + CUDA graphs, and
#     TensorRT fp16 when `import tensorrt` works;
#   - the node end to end through DDS at 30 Hz (640x512, fp16) when rclpy and the ROS message
#     packages are importable, otherwise skipped with the reason;
#   - `pytest -m cuda` (fp16 vs fp32 agreement, CUDA graphs vs eager).
#
# It installs nothing from the network and writes nothing outside the repository except
# under $OUT: temporary files, caches (pip, CUDA JIT, torch inductor/triton, ROS logs) and
# the optional venv all live in bench_out/gpu_check/.
#
# Python: $GPU_CHECK_PYTHON (default python3) with torch+CUDA. The lent H100/H200 machines'
# python3 (3.12) has torch, onnx, onnxruntime, safetensors, pyyaml, pytest and OpenCV, but
# no ROS. When rclpy and the message packages (or a required module) are missing and
# $GPU_CHECK_WHEELS (default build/gpu_wheels, git-ignored) holds wheels, a venv in
# bench_out/gpu_check/venv gets them, from those local files only. Prepare them here, with
# network access: `scripts/gpu_wheels.sh` (the ROS 2 Kilted runtime for Python 3.12, about
# 42 MiB; it checks that they and the working tree fit the 64 MiB a device call carries).
# Then the whole check is one device call:
#
#   run(command="scripts/gpu_check.sh", carry=["build/gpu_wheels"], timeout_s=560)
#
# Without the wheels the node part is skipped, with the reason in gpu_bench.json; without a
# required module the script stops and lists what is missing. TensorRT (over 1 GB of
# wheels) cannot travel: its rows are skipped unless the image has it.
#
# Environment:
#   OUT                     where gpu_bench.json goes (default: bench_out/gpu_check)
#   GPU_CHECK_CHECKPOINT    weights to time (default: shipped weights, else random weights
#                           of the default architecture, labelled as such)
#   GPU_CHECK_RUNS          timed runs per configuration (default 100)
#   GPU_CHECK_ACCURACY_PAIRS  held-out pairs per condition (default 0 = skip)
#   GPU_CHECK_DRY_RUN=1     the same steps on CPU with tiny sizes (no GPU needed)

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
WORK="$REPO/bench_out/gpu_check"
RESULTS="${OUT:-$WORK}"
DRY_RUN="${GPU_CHECK_DRY_RUN:-0}"
PYTHON="${GPU_CHECK_PYTHON:-python3}"
WHEELS="${GPU_CHECK_WHEELS:-$REPO/build/gpu_wheels}"
START=$(date +%s)

mkdir -p "$WORK/tmp" "$WORK/cache" "$WORK/ros_log" "$RESULTS"
# Keep every cache and temporary file inside the work folder.
export TMPDIR="$WORK/tmp"
export XDG_CACHE_HOME="$WORK/cache"
export PIP_NO_CACHE_DIR=1 PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1
export CUDA_CACHE_PATH="$WORK/cache/nv"
export TORCHINDUCTOR_CACHE_DIR="$WORK/cache/inductor" TRITON_CACHE_DIR="$WORK/cache/triton"
export ROS_LOG_DIR="$WORK/ros_log" ROS_HOME="$WORK/ros_home"
export PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
# DDS on loopback only, in a domain of our own.
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_LOCALHOST_ONLY=0
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$((RANDOM % 100 + 1))}"

log() { echo "[gpu_check $(($(date +%s) - START))s] $*"; }

if [[ "$DRY_RUN" == 1 ]]; then
    log "DRY RUN: same steps on CPU with tiny sizes"
    DEVICE=cpu SIZES=256x64,320x64 RUNS=3 WARMUP=1 NODE_SIZE=256x64 NODE_PAIRS=30
    NODE_PRECISION=fp32 BENCH_TIMEOUT=300 INTERLEAVED_S=0
else
    DEVICE=cuda SIZES=640x256,640x512 RUNS="${GPU_CHECK_RUNS:-100}" WARMUP=10
    NODE_SIZE=640x512 NODE_PAIRS=150 NODE_PRECISION=fp16 BENCH_TIMEOUT=330
    INTERLEAVED_S=5  # the CUDA network against SGBM on the CPU, alternated: 10 s of 330
fi
ACCURACY_PAIRS="${GPU_CHECK_ACCURACY_PAIRS:-0}"

# --- Python and dependencies ----------------------------------------------------------------
command -v "$PYTHON" >/dev/null || { echo "gpu_check: $PYTHON not found" >&2; exit 3; }
REQUIRED=(numpy torch safetensors yaml onnx onnxruntime pytest)
OPTIONAL=(cv2 rclpy sensor_msgs stereo_msgs diagnostic_msgs tensorrt)
# What carried wheels can supply (TensorRT is too big to carry).
FROM_WHEELS=(rclpy sensor_msgs stereo_msgs diagnostic_msgs)
declare -A PIP_NAME=([yaml]=pyyaml [cv2]=opencv-python-headless [rclpy]=ros-kilted-rclpy
                     [sensor_msgs]=ros-kilted-sensor-msgs [stereo_msgs]=ros-kilted-stereo-msgs
                     [diagnostic_msgs]=ros-kilted-diagnostic-msgs)

missing() {  # prints the modules of "$@" that $PY cannot import
    "$PY" - "$@" <<'EOF'
import importlib, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception:
        print(name)
EOF
}

# A venv in the work folder that sees everything $PYTHON sees, plus the carried wheels. ROS
# wheels find their libraries through sys.prefix, so they need a prefix of their own; and the
# GPU machine's python3 is itself a venv, so a venv made from it would see the base
# interpreter's packages, not torch: a .pth file adds $PYTHON's site folders.
wheel_venv() {
    local venv="$WORK/venv" sites site_dir
    if [[ ! -x "$venv/bin/python" ]]; then
        "$PYTHON" -m venv --system-site-packages --without-pip "$venv"
        sites=$("$PYTHON" -c 'import site; print(site.getsitepackages())')
        site_dir=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
        echo "import site; list(map(site.addsitedir, $sites))" \
            > "$site_dir/zz_gpu_check_parent.pth"
        # The venv has no pip of its own; --prefix installs into its layout with $PYTHON's.
        "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --prefix "$venv" \
            "$WHEELS"/*.whl
    fi
    PY="$venv/bin/python"
}

PY="$PYTHON"
mapfile -t MISSING < <(missing "${REQUIRED[@]}" "${FROM_WHEELS[@]}")
if ((${#MISSING[@]})) && compgen -G "$WHEELS/*.whl" >/dev/null; then
    log "missing with $PYTHON: ${MISSING[*]}; a venv with the wheels of $WHEELS"
    wheel_venv
fi
mapfile -t MISSING < <(missing "${REQUIRED[@]}")
if ((${#MISSING[@]})); then
    echo "gpu_check: cannot run, these Python modules are missing: ${MISSING[*]}" >&2
    names=()
    for m in "${MISSING[@]}"; do names+=("${PIP_NAME[$m]:-$m}"); done
    echo "gpu_check: put their wheels in $WHEELS (see the header of this script):" >&2
    echo "  python3 -m pip download -d build/gpu_wheels --no-deps --only-binary=:all:" \
         "--python-version $("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
         "--platform manylinux2014_x86_64 ${names[*]}" >&2
    exit 3
fi
mapfile -t OPT_MISSING < <(missing "${OPTIONAL[@]}")
log "python: $PY ($("$PY" -V 2>&1)); optional modules missing: ${OPT_MISSING[*]:-none}"

if [[ "$DRY_RUN" != 1 ]]; then
    "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' || {
        echo "gpu_check: torch.cuda.is_available() is False (set GPU_CHECK_DRY_RUN=1 to" \
             "check the script on CPU)" >&2; exit 4; }
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total \
        --format=csv,noheader || true
fi

# --- Benchmark -------------------------------------------------------------------------------
CHECKPOINT_ARGS=(--random-weights)
if [[ -n "${GPU_CHECK_CHECKPOINT:-}" ]]; then
    CHECKPOINT_ARGS=(--checkpoint "$GPU_CHECK_CHECKPOINT")
fi
NODE_ARGS=(--node-rate 30 --node-pairs "$NODE_PAIRS" --node-size "$NODE_SIZE"
           --node-precision "$NODE_PRECISION")
if ! "$PY" -c 'import rclpy, sensor_msgs.msg, stereo_msgs.msg, diagnostic_msgs.msg' \
        >/dev/null 2>&1; then
    NODE_SKIP="rclpy or the ROS message packages are not importable with $PY"
    log "node end to end skipped: $NODE_SKIP"
    NODE_ARGS=(--skip-node)
fi

# --lr-check: whether the left-right check is cheap enough on CUDA to be on by default there.
log "bench: $DEVICE, sizes $SIZES, $RUNS runs"
set +e
timeout --signal=INT --kill-after=20 "$BENCH_TIMEOUT" \
    "$PY" -m thermostereo_ros.cli.main bench "${CHECKPOINT_ARGS[@]}" --device "$DEVICE" \
    --sizes "$SIZES" --runs "$RUNS" --warmup "$WARMUP" \
    --interleaved-seconds "$INTERLEAVED_S" --accuracy-pairs "$ACCURACY_PAIRS" \
    --accuracy-size "${SIZES%%,*}" --lr-check "${NODE_ARGS[@]}" --out "$WORK/bench"
BENCH_RC=$?
set -e
log "bench exit code $BENCH_RC"

# --- CUDA tests ------------------------------------------------------------------------------
log "pytest -m cuda"
set +e
timeout --kill-after=10 150 "$PY" -m pytest -q -rs -m cuda -p no:cacheprovider \
    --junitxml="$WORK/cuda_tests.xml" test/test_cuda.py
TESTS_RC=$?
set -e
log "pytest exit code $TESTS_RC"

# --- Result ----------------------------------------------------------------------------------
"$PY" - "$WORK" "$RESULTS/gpu_bench.json" "$BENCH_RC" "$TESTS_RC" "$DRY_RUN" \
    "${NODE_SKIP:-}" "$(($(date +%s) - START))" <<'EOF'
import json, pathlib, sys
import xml.etree.ElementTree as ET

work, out, bench_rc, tests_rc, dry, node_skip, seconds = sys.argv[1:8]
work = pathlib.Path(work)
bench_file = work / 'bench' / 'bench.json'
bench = json.loads(bench_file.read_text()) if bench_file.is_file() else None
tests = {'exit_code': int(tests_rc)}
junit = work / 'cuda_tests.xml'
if junit.is_file():
    root = ET.parse(junit).getroot()
    suite = root if root.tag == 'testsuite' else root.find('testsuite')
    tests.update({k: int(suite.get(k, 0)) for k in ('tests', 'failures', 'errors', 'skipped')})
    tests['cases'] = [
        {'name': case.get('name'), 'seconds': float(case.get('time', 0)),
         'outcome': ('failed' if case.find('failure') is not None or case.find('error')
                     is not None else 'skipped' if case.find('skipped') is not None
                     else 'passed'),
         'reason': next((c.get('message') for c in case if c.tag in ('skipped', 'failure',
                                                                     'error')), None)}
        for case in suite.iter('testcase')]
result = {'dry_run': dry == '1', 'seconds': int(seconds), 'bench_exit_code': int(bench_rc),
          'bench': bench, 'cuda_tests': tests}
if node_skip:
    result['node_skipped'] = node_skip
pathlib.Path(out).write_text(json.dumps(result, indent=2) + '\n')
print(f'\nwrote {out}')
if bench:
    print((work / 'bench' / 'bench.md').read_text())
print(f"cuda tests: {tests}" if 'cases' not in tests else
      'cuda tests: ' + ', '.join(f"{c['name']}: {c['outcome']}" for c in tests['cases']))
EOF
log "done"
# Without CUDA the test module skips at collection, which pytest reports as 5 (nothing ran):
# expected in a dry run, a failure on the GPU machine.
if [[ "$DRY_RUN" == 1 && "$TESTS_RC" == 5 ]]; then TESTS_RC=0; fi
[[ "$BENCH_RC" == 0 && "$TESTS_RC" == 0 ]] || exit 1
