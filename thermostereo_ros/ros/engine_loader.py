# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Load the node's inference engine from a parameter snapshot, with one readable error."""

from __future__ import annotations

from typing import Any, Callable, Dict

from thermostereo_ros.inference.engine import DisparityEngine, FixedMaxDisparityError

EngineFactory = Callable[[Dict[str, Any]], DisparityEngine]


class EngineLoadError(RuntimeError):
    """The model could not be loaded; the message names the path and the reason."""


def model_label(path: str) -> str:
    """Return how logs and diagnostics name a model_path ('' is the shipped weights)."""
    return path if path else '<default weights>'


def default_engine_factory(config: Dict[str, Any]) -> DisparityEngine:
    """Load a StereoEngine; weights that fix max_disparity load as trained (the node caps)."""
    from thermostereo_ros.inference import StereoEngine

    kwargs = dict(device=config['device'], precision=config['precision'],
                  backend=config['backend'])
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
