#!/usr/bin/env bash
# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
#
# GPU training in one command, for the H200 machine that is sometimes lent (16 cores, torch
# with CUDA, opencv, safetensors and pyyaml in its image; nothing from the network):
#
#   1. render a renderer-v2 training cache on every core (GPU_TRAIN_PAIRS pairs, 640x256);
#   2. train the 3-D group-wise teacher (config/train/teacher_gwc3d.yaml) on dense GT, AMP,
#      for GPU_TRAIN_TEACHER_S seconds;
#   3. train the student with the shipped recipe (config/train/student_v2.yaml: dense GT +
#      distribution loss + EMA), AMP, for GPU_TRAIN_STUDENT_S seconds; with
#      GPU_TRAIN_DISTIL=1 it also distils from the teacher of step 2;
#   4. export both to $OUT (teacher.safetensors about 12.5 MB, student.safetensors about
#      4.8 MB, under the 16 MB a returned file may have) with their learning curves.
#
# The defaults fit one 10-minute command: ~2 min cache, 3.5 min teacher, 3 min student.
# Then, on the development machine: compare $OUT/student.safetensors with the shipped weights
# on validation seeds (never the held-out set) and ship it only if it wins.
#
#   GPU_TRAIN_DRY_RUN=1   the same steps on CPU with tiny sizes (what the test runs)
#   OUT                   where the weights and curves go (default bench_out/gpu_train)

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
WORK="$REPO/bench_out/gpu_train"
RESULTS="${OUT:-$WORK/out}"
DRY_RUN="${GPU_TRAIN_DRY_RUN:-0}"
PY="${GPU_TRAIN_PYTHON:-python3}"
START=$(date +%s)
mkdir -p "$WORK/tmp" "$RESULTS"
export TMPDIR="$WORK/tmp" XDG_CACHE_HOME="$WORK/cache" PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

log() { echo "[gpu_train $(($(date +%s) - START))s] $*"; }

if [[ "$DRY_RUN" == 1 ]]; then
    log "DRY RUN: same steps on CPU with tiny sizes"
    DEVICE=cpu PAIRS=8 H=64 W=160 CROP="[64, 128]" MAXD=48 TEACHER_S=20 STUDENT_S=20
    TEACHER_STEPS=2 STUDENT_STEPS=2 TEACHER_BATCH=1 STUDENT_BATCH=2 WORKERS=1 VAL=1
    TEACHER_MODEL="{base_channels: 8, feature_channels: 16, groups: 4, concat_channels: 4,
                    volume_channels: 8, refinement_channels: 8}"
else
    DEVICE=cuda PAIRS="${GPU_TRAIN_PAIRS:-4000}" H=256 W=640 CROP="[256, 512]" MAXD=192
    TEACHER_S="${GPU_TRAIN_TEACHER_S:-210}" STUDENT_S="${GPU_TRAIN_STUDENT_S:-180}"
    TEACHER_STEPS=20000 STUDENT_STEPS=16000 TEACHER_BATCH=8 STUDENT_BATCH=16 WORKERS=6 VAL=24
    TEACHER_MODEL="{}"
    "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' || {
        echo "gpu_train: torch.cuda.is_available() is False (GPU_TRAIN_DRY_RUN=1 checks the" \
             "script on CPU)" >&2; exit 4; }
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total \
        --format=csv,noheader || true
fi
"$PY" -c 'import cv2, safetensors, yaml, torch' || {
    echo "gpu_train: needs opencv, safetensors, pyyaml and torch in $PY" >&2; exit 3; }

CACHE="$WORK/cache_v2_${H}x${W}"
log "cache: $PAIRS pairs into $CACHE"
"$PY" -m thermostereo_ros.cli.main synth --cache "$CACHE" --pairs "$PAIRS" --height "$H" \
    --width "$W" --max-disparity "$MAXD" >/dev/null 2>&1

# Configs for this run: the repository's recipes with this machine's sizes and folders.
cat > "$WORK/teacher.yaml" <<YAML
arch: teacher
model: $TEACHER_MODEL
max_disparity: $MAXD
device: $DEVICE
supervision: dense
data: {kind: cache, root: $CACHE, height: $H, width: $W, crop: $CROP, num_workers: $WORKERS}
optim: {steps: $TEACHER_STEPS, batch_size: $TEACHER_BATCH, lr: 1.0e-3, warmup_steps: 200,
        ema_decay: 0.998}
log: {out_dir: $WORK/teacher, checkpoint_every: 500, image_every: 1000000, val_pairs: $VAL,
      state_moments: bf16}
YAML
cat > "$WORK/student.yaml" <<YAML
arch: thermostereo_rt
model: {normalize_features: true}
max_disparity: $MAXD
device: $DEVICE
supervision: dense
data: {kind: cache, root: $CACHE, height: $H, width: $W, crop: $CROP, num_workers: $WORKERS}
loss: {distribution_weight: 1.0, distribution_temperature: 0.5}
optim: {steps: $STUDENT_STEPS, batch_size: $STUDENT_BATCH, lr: 1.0e-3, warmup_steps: 200,
        ema_decay: 0.998}
log: {out_dir: $WORK/student, checkpoint_every: 500, image_every: 1000000, val_pairs: $VAL,
      state_moments: bf16}
YAML

train() {  # name seconds steps [extra train args]
    local name=$1 seconds=$2 steps=$3
    shift 3
    log "$name: up to ${seconds}s"
    "$PY" -m thermostereo_ros.cli.main train --config "$WORK/$name.yaml" --no-progress \
        --state "$WORK/$name.state.safetensors" --time-budget "$seconds" --stop-at "$steps" "$@"
    "$PY" -m thermostereo_ros.cli.main train --state "$WORK/$name.state.safetensors" \
        --export "$RESULTS/$name.safetensors"
    cp "$WORK/$name/curve.json" "$RESULTS/$name.curve.json" 2>/dev/null || true
}

train teacher "$TEACHER_S" "$TEACHER_STEPS"
if [[ "${GPU_TRAIN_DISTIL:-0}" == 1 ]]; then
    train student "$STUDENT_S" "$STUDENT_STEPS" --teacher "$RESULTS/teacher.safetensors"
else
    train student "$STUDENT_S" "$STUDENT_STEPS"
fi
log "done: $(ls "$RESULTS" | tr '\n' ' ')"
