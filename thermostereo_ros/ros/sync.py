# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""A small stereo pair synchroniser (exact or approximate time), replacing message_filters.

Pure Python, no rclpy: messages are opaque objects keyed by an integer stamp in nanoseconds.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
import threading
from typing import Any, Deque, Dict, List, Optional

LEFT_IMAGE = 'left_image'
RIGHT_IMAGE = 'right_image'
LEFT_INFO = 'left_info'
RIGHT_INFO = 'right_info'
STREAMS = (LEFT_IMAGE, RIGHT_IMAGE, LEFT_INFO, RIGHT_INFO)


@dataclass
class SyncedPair:
    """Two images and their camera_infos judged to belong to one exposure."""

    stamp_ns: int
    left_image: Any
    right_image: Any
    left_info: Any
    right_info: Any


def options(config: Dict[str, Any]) -> Dict[str, Any]:
    """Return the PairSynchronizer keyword arguments from the node's parameters."""
    return dict(approximate_sync=config['approximate_sync'],
                tolerance_seconds=config['approximate_sync_tolerance_seconds'],
                queue_size=config['queue_size'], cache_camera_info=config['cache_camera_info'])


class PairSynchronizer:
    """Match left/right images (and camera_infos) by header stamp.

    Exact mode (the default) needs identical stamps; approximate mode accepts stamps within
    `tolerance_seconds` of the left image's, choosing the nearest queued message. With
    `cache_camera_info` the latest camera_info of each side is used instead of matching one per
    frame (drivers often publish calibration at a lower rate). Each stream keeps at most
    `queue_size` messages; anything evicted or skipped over without being matched is counted
    in `dropped`. A matched set consumes every older message, so pairs come out in stamp order.
    Thread-safe: every public method holds one lock.
    """

    def __init__(self, *, approximate_sync: bool = False, tolerance_seconds: float = 0.0,
                 queue_size: int = 5, cache_camera_info: bool = True) -> None:
        """Configure the policy; see the class docstring."""
        self._lock = threading.Lock()
        self._queues: Dict[str, List[tuple]] = {name: [] for name in STREAMS}
        self._latest_info: Dict[str, Any] = {LEFT_INFO: None, RIGHT_INFO: None}
        self.dropped = 0
        self.matched = 0
        # |left - right| stamp gaps (ns) of recent images to the nearest queued image of the
        # other side, whether or not they pair: what a tolerance would have to cover.
        self._gaps: Deque[int] = deque(maxlen=64)
        self.configure(approximate_sync=approximate_sync, tolerance_seconds=tolerance_seconds,
                       queue_size=queue_size, cache_camera_info=cache_camera_info)

    def configure(self, *, approximate_sync: bool, tolerance_seconds: float, queue_size: int,
                  cache_camera_info: bool) -> None:
        """Change the policy in place, keeping queued messages and the cached camera_infos.

        A live parameter change must not forget calibration: many drivers publish camera_info
        once, and a synchroniser rebuilt from scratch would then never pair again.
        """
        if queue_size < 1:
            raise ValueError(f'queue_size must be >= 1, got {queue_size}')
        if tolerance_seconds < 0.0:
            raise ValueError(f'tolerance_seconds must be >= 0, got {tolerance_seconds}')
        with self._lock:
            self.approximate_sync = bool(approximate_sync)
            self.tolerance_ns = int(round(tolerance_seconds * 1e9)) if approximate_sync else 0
            self.queue_size = int(queue_size)
            self.cache_camera_info = bool(cache_camera_info)
            if self.cache_camera_info:
                # Cached infos are not queued (the newest is in _latest_info): not drops.
                self._queues[LEFT_INFO].clear()
                self._queues[RIGHT_INFO].clear()
            for queue in self._queues.values():
                while len(queue) > self.queue_size:
                    queue.pop(0)
                    self.dropped += 1

    # Public API -------------------------------------------------------------------------------

    def add(self, stream: str, stamp_ns: int, msg: Any) -> Optional[SyncedPair]:
        """Queue `msg` on `stream`; return the newest complete set it made possible, if any."""
        if stream not in self._queues:
            raise ValueError(f'unknown stream {stream!r}; expected one of {STREAMS}')
        with self._lock:
            if stream in (LEFT_INFO, RIGHT_INFO):
                # Kept in per-frame mode too, so that switching to the cache loses nothing.
                self._latest_info[stream] = msg
            if stream in (LEFT_IMAGE, RIGHT_IMAGE):
                other = self._queues[RIGHT_IMAGE if stream == LEFT_IMAGE else LEFT_IMAGE]
                if other:
                    self._gaps.append(min(abs(o - int(stamp_ns)) for o, _ in other))
            if not (self.cache_camera_info and stream in (LEFT_INFO, RIGHT_INFO)):
                queue = self._queues[stream]
                queue.append((int(stamp_ns), msg))
                queue.sort(key=lambda item: item[0])
                while len(queue) > self.queue_size:
                    queue.pop(0)
                    self.dropped += 1
            return self._try_match()

    def reset(self, stream: Optional[str] = None) -> None:
        """Forget queued messages of `stream` (all streams if None); cached infos stay.

        Used when a stream's time jumps backwards: its queued messages belong to the old
        timeline. Forgotten messages count as dropped.
        """
        with self._lock:
            for name, queue in self._queues.items():
                if stream is None or name == stream:
                    self.dropped += len(queue)
                    queue.clear()

    def stamp_gaps_ns(self) -> List[int]:
        """Return recent left/right image stamp gaps (ns), oldest first."""
        with self._lock:
            return list(self._gaps)

    def has_camera_info(self, stream: str) -> bool:
        """Return True if a camera_info of `stream` (LEFT_INFO or RIGHT_INFO) is available."""
        with self._lock:
            return self._latest_info[stream] is not None

    def pending(self) -> Dict[str, int]:
        """Return the number of queued messages per stream (for diagnostics and tests)."""
        with self._lock:
            return {name: len(queue) for name, queue in self._queues.items()}

    # Matching ---------------------------------------------------------------------------------

    def _partners(self) -> tuple:
        if self.cache_camera_info:
            return (RIGHT_IMAGE,)
        return (RIGHT_IMAGE, LEFT_INFO, RIGHT_INFO)

    def _nearest(self, stream: str, stamp: int) -> Optional[int]:
        best, best_gap = None, None
        for index, (other, _) in enumerate(self._queues[stream]):
            gap = abs(other - stamp)
            if gap <= self.tolerance_ns and (best_gap is None or gap < best_gap):
                best, best_gap = index, gap
        return best

    def _try_match(self) -> Optional[SyncedPair]:
        if self.cache_camera_info and (self._latest_info[LEFT_INFO] is None
                                       or self._latest_info[RIGHT_INFO] is None):
            return None
        lefts = self._queues[LEFT_IMAGE]
        # Newest left image first: downstream keeps only the latest pair anyway, and older
        # matchable lefts are superseded (and counted) rather than processed late.
        for left_index in range(len(lefts) - 1, -1, -1):
            stamp, left_msg = lefts[left_index]
            found = {}
            for stream in self._partners():
                index = self._nearest(stream, stamp)
                if index is None:
                    break
                found[stream] = index
            else:
                picked = {LEFT_IMAGE: left_index, **found}
                msgs = {}
                for stream, index in picked.items():
                    queue = self._queues[stream]
                    msgs[stream] = queue[index][1]
                    # Everything up to and including the match is consumed; only the unmatched
                    # older messages count as drops.
                    self.dropped += index
                    del queue[:index + 1]
                self.matched += 1
                if self.cache_camera_info:
                    left_info = self._latest_info[LEFT_INFO]
                    right_info = self._latest_info[RIGHT_INFO]
                else:
                    left_info, right_info = msgs[LEFT_INFO], msgs[RIGHT_INFO]
                return SyncedPair(stamp, left_msg, msgs[RIGHT_IMAGE], left_info, right_info)
        return None
