# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Header stamps as integer nanoseconds (rclpy and rosbags messages alike), and their order."""

from typing import Any, Dict, Tuple

NS_PER_S = 1_000_000_000


def stamp_ns(header: Any) -> int:
    """Return a std_msgs/Header's stamp in integer nanoseconds."""
    return int(header.stamp.sec) * NS_PER_S + int(header.stamp.nanosec)


def set_stamp(header: Any, nanoseconds: int) -> None:
    """Set a std_msgs/Header's stamp from integer nanoseconds."""
    header.stamp.sec, header.stamp.nanosec = divmod(int(nanoseconds), NS_PER_S)


class StampGuard:
    """Each stream's last accepted stamp, and the timeline that a stamp going back starts.

    A jump back of the input (a looped bag, a restarted simulator) starts a new timeline: the
    first stream that jumps starts it, the others join it when they jump too. Stamps are only
    compared within one timeline, so the new, earlier stamps are not discarded as stale.
    """

    def __init__(self) -> None:
        """Start with no stamps, on timeline 0."""
        self.last: Dict[str, int] = {}
        self.timeline = 0
        self._joined: Dict[str, int] = {}   # the timeline each stream is on
        self._processed = (0, -1)  # (timeline, stamp) of the newest pair processed

    def went_back(self, stream: str, stamp: int) -> Tuple[int, bool]:
        """Return (ns `stamp` is before the stream's last one, whether a timeline started).

        (0, False) when not before. A stamp that went back is accepted from now on; the first
        stream to jump starts a new timeline, later ones join it.
        """
        last = self.last.get(stream)
        if last is None or stamp >= last:
            return 0, False
        self.last[stream] = stamp
        started = self._joined.get(stream, 0) == self.timeline
        if started:
            self.timeline += 1
        self._joined[stream] = self.timeline
        return last - stamp, started

    def accept(self, stream: str, stamp: int) -> None:
        """Record a message of `stream` that was accepted."""
        self.last[stream] = stamp

    def older_than_processed(self, timeline: int, stamp: int) -> bool:
        """Return True if a newer pair of the same timeline was already processed."""
        return timeline == self._processed[0] and stamp < self._processed[1]

    def processed(self, timeline: int, stamp: int) -> None:
        """Record that the pair with this stamp was processed."""
        self._processed = (timeline, stamp)
