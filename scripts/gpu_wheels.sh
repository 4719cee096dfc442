#!/usr/bin/env bash
# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
#
# Prepare, here (with network access), the wheels that scripts/gpu_check.sh installs on the GPU
# machine for its node check: ROS 2 Kilted's rclpy, the message packages and Fast DDS, built for
# that machine's Python. Its image has torch, onnx, onnxruntime, safetensors, pyyaml, pytest
# and OpenCV but no ROS, and it cannot reach a package index.
#
#   scripts/gpu_wheels.sh            # -> build/gpu_wheels (git-ignored), about 43 MB
#
# then name build/gpu_wheels in the device call's `carry`. The versions are the ones the Kilted
# venv (`make .venv/.installed`) runs the tests with: the runtime closure of the node's ROS
# packages, read from that venv's installed metadata, less the build tools (ament_cmake, empy,
# lark) that only generating interfaces needs.
#
#   GPU_PYTHON_VERSION   the GPU machine's `python3 -V`, major.minor (default 3.12)
#   GPU_CHECK_WHEELS     where the wheels go (default build/gpu_wheels)

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
DEST="${GPU_CHECK_WHEELS:-$REPO/build/gpu_wheels}"
PYVER="${GPU_PYTHON_VERSION:-3.12}"
VENV_PY="$REPO/.venv/bin/python"
[[ -x "$VENV_PY" ]] || {
    echo "gpu_wheels: $VENV_PY missing; run make .venv/.installed" >&2; exit 3; }

mapfile -t PINS < <("$VENV_PY" - <<'PY'
import importlib.metadata as metadata
import re

ROOTS = ('ros-kilted-rclpy', 'ros-kilted-sensor-msgs', 'ros-kilted-stereo-msgs',
         'ros-kilted-diagnostic-msgs', 'ros-kilted-rmw-fastrtps-cpp')
# Build tools: needed to generate interfaces, not to run a node (rclpy imports
# rosidl_generator_py and rosidl_parser, so those stay).
BUILD_ONLY = re.compile(r'ament-cmake|^empy$|^lark')
# Already in the GPU machine's image.
IN_IMAGE = {'numpy', 'pyyaml', 'setuptools', 'typing-extensions'}

pins, stack = {}, list(ROOTS)
while stack:
    name = re.sub(r'[-_.]+', '-', stack.pop()).lower()
    if name in pins or name in IN_IMAGE or BUILD_ONLY.search(name):
        continue
    dist = metadata.distribution(name)
    pins[name] = dist.version
    for requirement in dist.requires or []:
        if 'extra ==' not in requirement:
            stack.append(re.split(r'[ ;<>=!~\[(]', requirement, maxsplit=1)[0])
for name, version in sorted(pins.items()):
    print(f'{name}=={version}')
PY
)
echo "gpu_wheels: ${#PINS[@]} packages for Python $PYVER into $DEST"
rm -rf "$DEST"
mkdir -p "$DEST"
PLATFORMS=()
for tag in manylinux_2_17 manylinux_2_27 manylinux_2_28 manylinux_2_31 manylinux_2_34 \
           manylinux_2_35 manylinux_2_39; do
    PLATFORMS+=(--platform "${tag}_x86_64")
done
"$VENV_PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" \
    --implementation cp "${PLATFORMS[@]}" -d "$DEST" "${PINS[@]}" 2>&1 | grep -v 'is ignored' \
    || true
got=$(find "$DEST" -name '*.whl' | wc -l)
if ((got != ${#PINS[@]})); then
    echo "gpu_wheels: got $got wheels of ${#PINS[@]}" >&2
    exit 1
fi
# What travels to the device: tracked and untracked-not-ignored files plus the carried wheels.
tree=$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- 2>/dev/null \
       | tail -1 | cut -f1)
wheels=$(du -sb "$DEST" | cut -f1)
echo "gpu_wheels: $((wheels / 1048576)) MiB of wheels + $((tree / 1048576)) MiB of working tree" \
     "= $(((wheels + tree) / 1048576)) MiB (the device takes at most 64)"
if ((wheels + tree > 64 * 1048576)); then
    echo "gpu_wheels: too much to travel to the device machine" >&2
    exit 1
fi
