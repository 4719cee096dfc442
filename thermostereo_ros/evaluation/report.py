# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Helpers every report shares: percentiles of a sample, and strict-JSON-safe values."""

import math
from typing import Any, Dict, Iterable, Sequence

import numpy as np


def percentiles(values: Iterable[float], qs: Sequence[int] = (50, 95)) -> Dict[str, float]:
    """Return {'p50': ..., 'p95': ...} (NaN without samples)."""
    array = np.fromiter(values, float)
    if array.size == 0:
        return {f'p{q}': math.nan for q in qs}
    return {f'p{q}': float(v) for q, v in zip(qs, np.percentile(array, qs))}


def json_safe(value: Any) -> Any:
    """Return `value` with NaN/inf as None and numpy scalars as Python ones (strict JSON)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
