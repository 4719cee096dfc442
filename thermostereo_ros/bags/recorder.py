# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Record serialized messages, as rclpy receives them, into one MCAP rosbag2 (no rosbag2).

Used by the demo to keep the node's outputs (disparity, points2, ~/status, ~/evaluation).
The bag embeds the definitions of this package's own messages (msg/), so rosbags, ros2 bag
and Foxglove read them back without the package installed.
"""

from __future__ import annotations

import pathlib
import threading
from typing import Any, Dict, Mapping, Optional

from ament_index_python.packages import get_package_share_directory
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import get_types_from_msg, get_typestore, Stores

from thermostereo_ros.bags.ms2_to_bag import BAG_VERSION, TYPESTORE

PACKAGE = 'thermostereo_ros'


def interface_definitions() -> Dict[str, str]:
    """Return {'thermostereo_ros/msg/Name': .msg text} from the source tree or the install."""
    here = pathlib.Path(__file__).resolve()
    candidates = [here.parents[2] / 'msg']  # a source checkout (the pip/editable workflow)
    try:
        candidates.append(pathlib.Path(get_package_share_directory(PACKAGE)) / 'msg')
    except Exception:  # no ament index (pip venv) or not installed there
        pass
    for directory in candidates:
        files = sorted(directory.glob('*.msg')) if directory.is_dir() else []
        if files:
            return {f'{PACKAGE}/msg/{f.stem}': f.read_text() for f in files}
    raise FileNotFoundError(f'no {PACKAGE} .msg definitions in ' + ', '.join(map(str, candidates)))


def typestore_with_interfaces() -> Any:
    """Return a rosbags typestore with the standard types and this package's messages."""
    typestore = get_typestore(getattr(Stores, TYPESTORE))
    types: Dict[str, Any] = {}
    for name, text in interface_definitions().items():
        types.update(get_types_from_msg(text, name))
    typestore.register(types)
    return typestore


class BagRecorder:
    """Thread-safe writer of raw CDR messages to `path` (an MCAP rosbag2 directory)."""

    def __init__(self, path: pathlib.Path, topics: Mapping[str, str]) -> None:
        """Open the bag with one connection per {topic: msgtype}."""
        self._lock = threading.Lock()
        self._writer: Optional[Writer] = Writer(path, version=BAG_VERSION,
                                                storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        typestore = typestore_with_interfaces()
        self._connections = {topic: self._writer.add_connection(topic, msgtype,
                                                                typestore=typestore)
                             for topic, msgtype in topics.items()}
        self.counts = {topic: 0 for topic in topics}

    def write(self, topic: str, stamp_ns: int, cdr: bytes) -> None:
        """Append one serialized message received at `stamp_ns`."""
        with self._lock:
            if self._writer is None:
                return  # closed: late callbacks are dropped
            self._writer.write(self._connections[topic], int(stamp_ns), bytes(cdr))
            self.counts[topic] += 1

    def close(self) -> None:
        """Finish the bag (idempotent)."""
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
