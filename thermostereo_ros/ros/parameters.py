# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The node's parameters: one spec per parameter, its ROS descriptor, and validation.

The specs are the single source of the names, defaults and ranges; config/thermostereo.yaml,
the launch file and the README list the same names (test_launch_config checks the YAML).
"""

from __future__ import annotations

from dataclasses import dataclass
import importlib.util
import pathlib
from typing import Any, Dict, Iterable, List, Mapping, Optional, Set, Tuple

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

from thermostereo_ros.geometry import image_size
from thermostereo_ros.inference.checkpoint import check_model_file, CheckpointError
from thermostereo_ros.inference import backends

Config = Dict[str, Any]


@dataclass(frozen=True)
class ParameterSpec:
    """One declared parameter: default, meaning and allowed values."""

    name: str
    default: Any
    description: str
    int_range: Optional[tuple] = None  # (from, to, step)
    float_range: Optional[tuple] = None  # (from, to)
    choices: Optional[tuple] = None
    read_only: bool = False


PARAMETERS = (
    ParameterSpec('model_path', '', 'ThermoStereoRT .safetensors checkpoint (or an exported '
                  '.onnx/.engine); empty = the weights shipped with the package'),
    ParameterSpec('max_disparity', 192, 'Largest disparity searched, in pixels (a multiple of '
                  '4: the cost volume is built at 1/4 resolution)', int_range=(4, 1024, 4)),
    ParameterSpec('device', 'auto', 'Inference device', choices=('auto', 'cuda', 'cpu')),
    ParameterSpec('precision', 'auto', 'Inference precision: auto = bf16 in the hourglass and '
                  'refinement on CPUs with AMX or AVX512_BF16, else fp32; fp16 needs CUDA',
                  choices=('auto', 'fp32', 'fp16', 'bf16')),
    ParameterSpec('backend', 'auto', 'Inference runtime: auto = torch on CUDA, openvino on '
                  'the CPU when installed, else torch',
                  choices=('auto',) + backends.backend_names()),
    ParameterSpec('approximate_sync', False, 'Pair left/right by nearest stamp within '
                  'approximate_sync_tolerance_seconds instead of identical stamps'),
    ParameterSpec('approximate_sync_tolerance_seconds', 0.01, 'Largest left/right stamp '
                  'difference accepted with approximate_sync', float_range=(0.0, 1.0)),
    ParameterSpec('queue_size', 5, 'Messages kept per input while waiting for a partner',
                  int_range=(1, 100, 1)),
    ParameterSpec('cache_camera_info', True, 'Use the latest camera_info of each side instead '
                  'of requiring one with the same stamp as each image'),
    ParameterSpec('publish_pointcloud', True, 'Publish points2 (only while subscribed)'),
    ParameterSpec('publish_depth', True, 'Publish depth, 32FC1 metres (only while subscribed)'),
    ParameterSpec('publish_confidence', True, 'Publish confidence, 32FC1 in [0, 1] (only '
                  'while subscribed)'),
    ParameterSpec('confidence_threshold', 0.0, 'Pixels with lower confidence are invalid',
                  float_range=(0.0, 1.0)),
    ParameterSpec('lr_check', False, 'Left-right consistency check: also estimate the right '
                  'view\'s disparity (the mirrored pair, batched with the left one under '
                  'torch) and invalidate pixels where the two disagree by more than '
                  'lr_check_tolerance: occlusions, sky, wrong matches. Costs about 1.8-2x one '
                  'inference on CPUs (docs/PERFORMANCE.md)'),
    ParameterSpec('lr_check_tolerance', 1.0, 'Largest left-right disagreement kept by '
                  'lr_check (px); stereo_image_proc\'s disp12_max_diff',
                  float_range=(0.0, 64.0)),
    ParameterSpec('min_depth', 0.0, 'Nearer points are dropped from points2 and depth (m)',
                  float_range=(0.0, 1000.0)),
    ParameterSpec('max_depth', 100.0, 'Farther points are dropped from points2 and depth (m)',
                  float_range=(0.0, 10000.0)),
    ParameterSpec('pointcloud_decimation', 1, 'Keep every n-th row and column in points2',
                  int_range=(1, 16, 1)),
    ParameterSpec('min_contrast', 7.0, 'A frame whose intensity spread is below this many '
                  'times its pixel noise (a shutter/FFC frame, a lens cap) is published '
                  'all-invalid; 0 = never', float_range=(0.0, 1000.0)),
    ParameterSpec('min_baseline', 0.01, 'Smallest stereo baseline accepted from camera_info '
                  '(m); a smaller one is rejected as a calibration error',
                  float_range=(0.0, 100.0)),
    ParameterSpec('max_baseline', 5.0, 'Largest stereo baseline accepted from camera_info (m); '
                  'catches P[3] given in millimetres', float_range=(0.0, 1000.0)),
    ParameterSpec('max_image_pixels', 1310720, 'Images with more pixels are rejected as bad '
                  'input (protects memory and latency). The default, 1280x1024, is the largest '
                  'size whose points2 fits the shipped DDS profile\'s 32 MiB segment',
                  int_range=(1, 268435456, 1)),
    ParameterSpec('evaluate_against', False, 'Subscribe to left/depth_gt (32FC1 m or 16UC1 mm, '
                  'NaN/0 = missing) and report running EPE/D1 in /diagnostics; set at start-up',
                  read_only=True),
    ParameterSpec('warmup_size', '', 'WIDTHxHEIGHT (e.g. 640x512) to warm the engine up for '
                  'before subscribing, so that the first pair is as fast as the others; empty: '
                  'the size this node (by its full name) ran at last (with export_cache), and '
                  'the size '
                  'the first camera_info announces', read_only=True),
    ParameterSpec('export_cache', True, 'Keep ONNX exports, OpenVINO compiled models and '
                  'TensorRT engines in $XDG_CACHE_HOME/thermostereo/exports '
                  '(~/.cache/thermostereo/exports), so that a restart at a size seen before '
                  'skips them'),
)
DEFAULTS: Config = {spec.name: spec.default for spec in PARAMETERS}

# stereo_image_proc's disparity_node / point_cloud_node parameters that this node does not
# have, and what to use instead (the README's "Coming from stereo_image_proc" table): one WARN
# line at start-up instead of silence when a params file or -p still sets them.
STEREO_IMAGE_PROC_EQUIVALENTS: Dict[str, str] = {
    'disparity_range': 'max_disparity (the search is 0 to max_disparity)',
    'min_disparity': 'none: the search starts at 0 (verged rigs are not supported)',
    **dict.fromkeys(('prefilter_size', 'prefilter_cap', 'correlation_window_size', 'P1', 'P2',
                     'full_dp', 'stereo_algorithm', 'sgbm_mode'),
                    'none: the network learned its matching'),
    **dict.fromkeys(('uniqueness_ratio', 'texture_threshold', 'speckle_size',
                     'speckle_range'),
                    'confidence_threshold (ambiguous pixels), min_contrast (textureless '
                    'frames), min_depth / max_depth (the cloud)'),
    'disp12_max_diff': 'lr_check with lr_check_tolerance (px)',
    'use_color': 'none: points2 carries the raw thermal intensity',
    'avoid_point_cloud_padding': 'none: points2 has no padding (16 bytes a point)',
    'use_system_default_qos': 'the qos_overrides parameters of each topic',
}


def stereo_image_proc_warnings(names: Iterable[str]) -> List[str]:
    """Return one line per stereo_image_proc parameter in `names`, naming our equivalent."""
    return [f'parameter {name!r} is stereo_image_proc\'s and is ignored here; use '
            f'{STEREO_IMAGE_PROC_EQUIVALENTS[name]}'
            for name in sorted(set(names)) if name in STEREO_IMAGE_PROC_EQUIVALENTS]


# Parameters whose change rebuilds the engine (on the worker) or reconfigures the synchroniser.
ENGINE_PARAMETERS = frozenset(('model_path', 'device', 'precision', 'backend', 'max_disparity',
                               'export_cache'))
SYNC_PARAMETERS = frozenset(('approximate_sync', 'approximate_sync_tolerance_seconds',
                             'queue_size', 'cache_camera_info'))


def descriptor(spec: ParameterSpec) -> ParameterDescriptor:
    """Return the ParameterDescriptor that makes rclpy enforce `spec`'s range and document it."""
    result = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
    if spec.int_range:
        low, high, step = spec.int_range
        result.integer_range = [IntegerRange(from_value=low, to_value=high, step=step)]
    if spec.float_range:
        low, high = spec.float_range
        result.floating_point_range = [FloatingPointRange(from_value=low, to_value=high,
                                                          step=0.0)]
    if spec.choices:
        result.additional_constraints = 'one of: ' + ', '.join(spec.choices)
    return result


def validate(config: Config) -> str:
    """Return why `config` is unacceptable, or '' (ranges are checked by rclpy too)."""
    for spec in PARAMETERS:
        value = config[spec.name]
        if spec.choices and value not in spec.choices:
            return (f'{spec.name}={value!r} is not allowed; expected one of '
                    f'{", ".join(spec.choices)}')
        if spec.int_range and not spec.int_range[0] <= value <= spec.int_range[1]:
            return f'{spec.name}={value} is outside [{spec.int_range[0]}, {spec.int_range[1]}]'
        if spec.float_range and not spec.float_range[0] <= value <= spec.float_range[1]:
            return (f'{spec.name}={value} is outside [{spec.float_range[0]}, '
                    f'{spec.float_range[1]}]')
    for low, high in (('min_depth', 'max_depth'), ('min_baseline', 'max_baseline')):
        if config[low] >= config[high]:
            return f'{low} ({config[low]}) must be smaller than {high} ({config[high]})'
    if config['max_disparity'] % 4:
        return f'max_disparity={config["max_disparity"]} is not a multiple of 4'
    try:
        size = parse_size(config['warmup_size'])
    except ValueError as exc:
        return str(exc)
    if size and size[0] * size[1] > config['max_image_pixels']:
        return (f'warmup_size={config["warmup_size"]} has more pixels than max_image_pixels='
                f'{config["max_image_pixels"]}')
    return ''


def parse_size(text: str) -> Optional[Tuple[int, int]]:
    """Return warmup_size as (height, width), None for ''; ValueError names the problem."""
    return image_size.parse_size(text, 'warmup_size') if text.strip() else None


def apply(config: Config, updates: Mapping[str, Any]) -> Tuple[Config, Set[str], str]:
    """Return (config with `updates`, names whose value changed, why it is refused or '')."""
    new = {**config, **{k: v for k, v in updates.items() if k in DEFAULTS}}
    changed = {k for k in new if new[k] != config[k]}
    return new, changed, validate(new) or engine_problem(new, changed)


def startup_problem(config: Config) -> str:
    """Return why the node cannot start with `config`, or ''.

    Device, precision and backend are left to the engine's own load, whose error says more.
    """
    return validate(config) or engine_problem(
        config, ENGINE_PARAMETERS - {'device', 'precision', 'backend'})


def engine_problem(config: Config, changed: Iterable[str]) -> str:
    """Return why the engine parameters in `changed` cannot work here, or '' if they may.

    The checks that are cheap enough for a parameter callback: the backend's package can be
    imported, a requested CUDA device exists, reduced precision has CUDA, the model file is a
    readable checkpoint header. Whatever passes is loaded on the worker; a failure there is
    reported and the parameters are set back.
    """
    changed = set(changed)
    backend, device, precision = config['backend'], config['device'], config['precision']
    missing = [m for m in (backends.spec(backend).modules if backend != 'auto' else ())
               if importlib.util.find_spec(m) is None]
    if 'backend' in changed and missing:
        return f'backend={backend!r}: the Python package {missing[0]!r} is not installed'
    if changed & {'device', 'precision', 'backend', 'model_path'}:
        path = pathlib.Path(config['model_path']) if config['model_path'] else None
        try:  # the engine's own rules, for what 'auto' will resolve to
            backends.plan(device, backend, precision, path, cuda_available=_cuda_available())
        except ValueError as exc:
            return str(exc)
    if 'model_path' in changed and config['model_path']:
        try:
            check_model_file(config['model_path'])
        except CheckpointError as exc:
            return f'model_path: {exc}'
    return ''


def _cuda_available() -> bool:
    try:  # a node on OpenVINO or onnxruntime runs without torch
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())
