# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Load the node's inference engine from a parameter snapshot, with one readable error."""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

from thermostereo_ros.inference import StereoEngine
from thermostereo_ros.inference.checkpoint import CheckpointError
from thermostereo_ros.inference.engine import (
    DisparityEngine, FixedMaxDisparityError, resolve_checkpoint)
from thermostereo_ros.inference.export_cache import default_cache_dir
from thermostereo_ros.ros.status import model_id

EngineFactory = Callable[[Dict[str, Any]], DisparityEngine]


class EngineLoadError(RuntimeError):
    """The model could not be loaded; the message names the path and the reason."""


def model_label(path: str) -> str:
    """Return how logs and diagnostics name a model_path ('' is the shipped weights)."""
    return path if path else '<default weights>'


def default_engine_factory(config: Dict[str, Any]) -> DisparityEngine:
    """Load a StereoEngine; weights that fix max_disparity load as trained (the node caps)."""
    kwargs = dict(device=config['device'], precision=config['precision'],
                  backend=config['backend'],
                  export_cache_dir=default_cache_dir() if config['export_cache'] else None)
    try:
        return StereoEngine.from_checkpoint(config['model_path'] or None,
                                            max_disparity=config['max_disparity'], **kwargs)
    except FixedMaxDisparityError:
        return StereoEngine.from_checkpoint(config['model_path'] or None, **kwargs)


def load_engine(factory: EngineFactory, config: Dict[str, Any]) -> DisparityEngine:
    """Return factory(config), or EngineLoadError saying which model failed and why."""
    try:
        return factory(config)
    except Exception as exc:  # any failure to load is reported the same way
        reason = str(exc) or type(exc).__name__
        prefix = f'{config["model_path"]}: '  # checkpoint errors begin with the path
        if config['model_path'] and reason.startswith(prefix):
            reason = reason[len(prefix):]
        raise EngineLoadError(f'cannot load model {model_label(config["model_path"])}: '
                              f'{reason}') from exc


def _model_id(model_path: str) -> str:
    try:
        return model_id(resolve_checkpoint(model_path))
    except CheckpointError:
        return ''


class ActiveEngine:
    """The engine in use, the parameters it was built from, and the reload failures.

    Only the worker thread rebuilds or warms it; callbacks only read.
    """

    def __init__(self, factory: EngineFactory, config: Dict[str, Any]) -> None:
        """Load the first engine (EngineLoadError if it fails)."""
        self.factory = factory
        self.engine = load_engine(factory, config)
        self.config = dict(config)
        # A failed reload keeps the previous engine running: the node's state is that engine's,
        # and the failure stays in a counter and the last error, not in the status level.
        self.reload_failures = 0
        self.last_reload_error = ''
        self.warm_size: Tuple[int, int] = (0, 0)
        self.model_id = _model_id(config['model_path'])

    def describe(self) -> Dict[str, Any]:
        """Return what runs: max_disparity cap, backend, device, precision, model path and id."""
        return dict(max_disparity=self.disparity_cap(), backend=str(self.engine.backend),
                    device=str(self.engine.device), precision=str(self.engine.precision),
                    model_path=model_label(self.config['model_path']), model_id=self.model_id)

    def summary(self) -> str:
        """Return one line for the log: model, cap, device, backend, precision."""
        return (f'model {model_label(self.config["model_path"])}, max_disparity '
                f'{self.disparity_cap():g}, on {self.engine.device} ({self.engine.backend}, '
                f'{self.engine.precision})')

    def cap_warning(self) -> str:
        """Return a warning if the network cannot reach the max_disparity asked for, else ''."""
        native, wanted = self.engine.trained_range, self.config['max_disparity']
        if native >= wanted:
            return ''
        return (f'the model was trained with max_disparity={native}; '
                f'disparities are capped at {native} px')

    def disparity_cap(self) -> float:
        """Return the cap in use: the parameter, never above the network's trained range.

        Three meanings, three names: the parameter `max_disparity` (what the user asks for),
        the engine's `trained_range` (what the weights were trained to output) and this.
        """
        return float(min(self.config['max_disparity'], self.engine.trained_range))

    def differs(self, config: Dict[str, Any], names: Iterable[str]) -> Dict[str, Any]:
        """Return {name: value in use} for the `names` whose value in `config` differs."""
        return {k: self.config[k] for k in names if config[k] != self.config[k]}

    def rebuild(self, config: Dict[str, Any], names: Iterable[str]) -> Dict[str, Any]:
        """Load an engine for `config`; on failure keep the old one and count the failure.

        Returns the {name: value in use} to set the parameters back to (empty on success).
        """
        try:
            engine = load_engine(self.factory, config)
        except EngineLoadError as exc:
            self.reload_failures += 1
            self.last_reload_error = f'{exc}; still running the previous model'
            return self.differs(config, names)
        self.engine, self.config = engine, dict(config)
        self.model_id = _model_id(config['model_path'])
        return {}

    def remembered_size(self, owner: str) -> Optional[Tuple[int, int]]:
        """Return the (height, width) node `owner` last warmed this model up for, or None.

        Per node: another node's last camera size says nothing about this node's camera.
        """
        recall = getattr(self.engine, 'remembered_size', None)
        size = recall(owner) if recall is not None else None
        return (int(size[0]), int(size[1])) if size else None

    def remember_size(self, owner: str) -> None:
        """Record `warm_size` as what node `owner` runs at (for its next start)."""
        record = getattr(self.engine, 'remember_size', None)
        if record is not None and self.warm_size[0] > 0:
            record(owner, *self.warm_size)

    def new_size(self, size: Tuple[int, int], max_pixels: int) -> bool:
        """Make a plausible (height, width) from a camera_info the warm-up size; True if new."""
        if size == self.warm_size or min(size) <= 0 or size[0] * size[1] > max_pixels:
            return False
        self.warm_size = size
        return True

    def warm_up(self) -> float:
        """Run the engine once at `warm_size` (allocations, autotuning); return the seconds."""
        height, width = self.warm_size
        if height == 0 or not hasattr(self.engine, 'warmup'):
            return 0.0
        started = time.perf_counter()
        self.engine.warmup(height, width)
        return time.perf_counter() - started
