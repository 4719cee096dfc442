# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""A small least-recently-used cache of per-input-size runtime objects (sessions, graphs)."""

from collections import OrderedDict
from typing import Callable, Generic, Hashable, TypeVar

Value = TypeVar('Value')

# Sizes kept per runner. A camera sends one size; a few more cover a live resolution change
# without re-exporting, and bound memory when sizes keep changing (each ONNX session holds
# about 20 MB; a CUDA graph slot holds its static buffers).
DEFAULT_CAPACITY = 4


class SizeCache(Generic[Value]):
    """Values keyed by input size, the least recently used evicted beyond `capacity`.

    functools.lru_cache caches a function's results for the process lifetime; this cache
    belongs to one runner and evicts objects that hold memory, so it is an OrderedDict.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        """Keep at most `capacity` (>= 1) values."""
        if capacity < 1:
            raise ValueError(f'capacity must be >= 1, got {capacity}')
        self.capacity = capacity
        self._items: 'OrderedDict[Hashable, Value]' = OrderedDict()

    def get(self, key: Hashable, create: Callable[[], Value]) -> Value:
        """Return the value for `key`, creating it (and evicting the oldest) if absent."""
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = create()
        self._items[key] = value
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return value

    def __contains__(self, key: Hashable) -> bool:
        """Return True if `key` is cached (without touching its recency)."""
        return key in self._items

    def __len__(self) -> int:
        """Return the number of cached values."""
        return len(self._items)
