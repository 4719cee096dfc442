#!/usr/bin/env bash
# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
#
# Build msg/ for a pip venv of PyPI ROS wheels (what `make setup` does; colcon users do not
# need this). Usage: scripts/build_interfaces.sh VENV BUILD_DIR
#
# CMake (the package's own CMakeLists.txt) generates the interfaces in BUILD_DIR; then
#   - the typesupport libraries go to VENV/lib, which the ROS wheels put on LD_LIBRARY_PATH;
#   - the generated Python (thermostereo_ros/msg and its extension modules) goes to
#     VENV/lib/thermostereo_ros_interfaces/thermostereo_ros, which thermostereo_ros/__init__.py
#     adds to the package's __path__. Per venv, because each distro builds its own binaries.
set -euo pipefail
venv="$(cd "$1" && pwd)"
mkdir -p "$2"
build="$(cd "$2" && pwd)"
repo="$(cd "$(dirname "$0")/.." && pwd)"
export AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv" PATH="$venv/bin:$PATH"
# Configure a copy of the interface sources: CMake refuses exported include directories inside
# the source tree, and a venv made in the repository (.venv) is inside it.
source="$build/src"
rm -rf "$source"
mkdir -p "$source"
cp -r "$repo/CMakeLists.txt" "$repo/package.xml" "$repo/msg" "$repo/cmake" "$source/"
cmake -S "$source" -B "$build/cmake" -DPython3_EXECUTABLE="$venv/bin/python" \
  -DCMAKE_INSTALL_PREFIX="$build/install" -DBUILD_TESTING=OFF > "$build/configure.log" 2>&1 \
  || { tail -30 "$build/configure.log"; exit 1; }
cmake --build "$build/cmake" -j "$(nproc)" > "$build/build.log" 2>&1 \
  || { tail -30 "$build/build.log"; exit 1; }
cp "$build"/cmake/libthermostereo_ros__*.so "$venv/lib/"
target="$venv/lib/thermostereo_ros_interfaces/thermostereo_ros"
rm -rf "$target"
mkdir -p "$target"
cp -r "$build/cmake/rosidl_generator_py/thermostereo_ros/msg" "$target/"
cp "$build"/cmake/rosidl_generator_py/thermostereo_ros/*.so "$target/"
echo "interfaces built for $venv"
