# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Image sizes as cameras are quoted, WIDTHxHEIGHT (640x512), and as arrays hold them, (H, W).

The one parser for every flag and parameter that takes a size (`warmup_size`, `bench
--sizes`, `eval --size`), so that all of them read the same text the same way.
"""

from typing import List, Tuple

Size = Tuple[int, int]  # (height, width)


def parse_size(text: str, name: str = 'size') -> Size:
    """Return (height, width) from 'WIDTHxHEIGHT'; the ValueError names `name` and the text."""
    parts = text.strip().lower().replace(' ', '').split('x')
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f'{name}={text!r} is not WIDTHxHEIGHT with positive integers, '
                         'e.g. 640x512')
    return int(parts[1]), int(parts[0])


def parse_sizes(text: str, name: str = 'sizes') -> List[Size]:
    """Return [(height, width), ...] from comma-separated 'WIDTHxHEIGHT' items."""
    sizes = [parse_size(item, name) for item in text.split(',') if item.strip()]
    if not sizes:
        raise ValueError(f'{name}={text!r}: no sizes given')
    return sizes


def size_label(size: Size) -> str:
    """Return 'WIDTHxHEIGHT' for (height, width)."""
    return f'{size[1]}x{size[0]}'
