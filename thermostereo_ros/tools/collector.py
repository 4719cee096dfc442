# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""What a node reported about itself, collected from its /diagnostics and typed ~/status.

Shared by the demo and the node benchmark, whose collectors differ only in what they keep of
the outputs themselves (arrays and clouds for the demo, receipt times for the benchmark).
"""

from __future__ import annotations

from dataclasses import dataclass
import math
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from thermostereo_ros.ros.stamps import stamp_ns


@dataclass(frozen=True)
class StatusRecord:
    """One StereoStatus, reduced to what the reports use."""

    stamp: int
    outcome: str  # 'published' or the drop reason
    valid_fraction: float
    inference_ms: float
    end_to_end_ms: float
    queue_wait_ms: float = math.nan
    postprocess_ms: float = math.nan


class NodeReports:
    """Diagnostics of one node (by status name), its statuses and evaluations; thread-safe."""

    def __init__(self, is_ours: Callable[[str], bool]) -> None:
        """Collect the DiagnosticStatus entries whose name `is_ours` accepts."""
        self.lock = threading.Lock()
        self._is_ours = is_ours
        self.diagnostics: List[Tuple[float, Dict[str, str]]] = []  # (monotonic, key-values)
        self.statuses: List[StatusRecord] = []
        self.evaluations: List[Tuple[int, float, float, int]] = []  # stamp, EPE, D1, pixels

    def on_diagnostics(self, msg: Any) -> None:
        """Subscription callback for diagnostic_msgs/DiagnosticArray."""
        now = time.monotonic()
        for status in msg.status:
            if self._is_ours(status.name):
                with self.lock:
                    self.diagnostics.append((now, {kv.key: kv.value for kv in status.values}))

    def on_status(self, msg: Any) -> None:
        """Subscription callback for thermostereo_ros/StereoStatus."""
        record = StatusRecord(stamp_ns(msg.header), msg.drop_reason or 'published',
                              msg.valid_fraction, msg.inference_ms, msg.end_to_end_ms,
                              msg.queue_wait_ms, msg.postprocess_ms)
        with self.lock:
            self.statuses.append(record)

    def on_evaluation(self, msg: Any) -> None:
        """Subscription callback for thermostereo_ros/StereoEvaluation."""
        with self.lock:
            self.evaluations.append((stamp_ns(msg.header), msg.epe_px, msg.d1_percent,
                                     msg.pixels))

    def latest_diagnostics(self, after: float = -math.inf) -> Optional[Dict[str, str]]:
        """Return the newest diagnostics received after `after` (monotonic s), or None."""
        with self.lock:
            for received, values in reversed(self.diagnostics):
                if received > after:
                    return values
        return None

    def last_diagnostics_time(self) -> float:
        """Return when the newest diagnostics arrived (monotonic s; -inf before any)."""
        with self.lock:
            return self.diagnostics[-1][0] if self.diagnostics else -math.inf

    def clear_frames(self) -> None:
        """Forget the per-frame records (statuses, evaluations), e.g. after a warm-up."""
        with self.lock:
            self.statuses.clear()
            self.evaluations.clear()
