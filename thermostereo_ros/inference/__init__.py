# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Inference: safetensors checkpoints and the StereoEngine (torch, onnxruntime, OpenVINO, TRT)."""

from thermostereo_ros.inference.checkpoint import (
    build_from_checkpoint, CheckpointError, load_checkpoint, save_checkpoint)
from thermostereo_ros.inference.engine import default_checkpoint, StereoEngine, StereoResult

__all__ = ['CheckpointError', 'StereoEngine', 'StereoResult', 'build_from_checkpoint',
           'default_checkpoint', 'load_checkpoint', 'save_checkpoint']
