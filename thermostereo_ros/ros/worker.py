# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""A newest-wins slot and the one thread that empties it: how pairs reach the network.

No rclpy: the node hands jobs in from its callbacks, the thread calls `process` (inference,
post-processing, publishing) and, when asked, `rebuild` (a new engine after a parameter
change) between two jobs. A job overwritten before the thread takes it is stale: the robot
wants the newest depth, not a queue of old ones.
"""

from __future__ import annotations

from collections import deque
import threading
import time
from typing import Callable, Deque, Generic, Optional, TypeVar

Job = TypeVar('Job')


class LatestJobWorker(Generic[Job]):
    """One slot (newest wins) and one thread that processes what is in it."""

    def __init__(self, process: Callable[[Job, float], None], rebuild: Callable[[], None],
                 on_error: Callable[[BaseException], bool], name: str) -> None:
        """Start the thread.

        process(job, waited_ms) handles one job; rebuild() runs between jobs when requested;
        on_error(exc) is told about an exception from either and returns False to stop.
        """
        self._process, self._rebuild, self._on_error = process, rebuild, on_error
        self._cond = threading.Condition()
        self._slot: Optional[Job] = None
        self._offered = 0.0
        self._rebuild_requested = False
        self._tasks: Deque[Callable[[], None]] = deque()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def offer(self, job: Job) -> Optional[Job]:
        """Put `job` in the slot; return the job it replaced (stale), or None."""
        with self._cond:
            replaced, self._slot, self._offered = self._slot, job, time.perf_counter()
            self._cond.notify()
        return replaced

    def request_rebuild(self) -> None:
        """Ask the thread to call rebuild() before its next job."""
        with self._cond:
            self._rebuild_requested = True
            self._cond.notify()

    def submit(self, task: Callable[[], None]) -> None:
        """Run task() on the thread before its next job (e.g. a warm-up); errors go to on_error."""
        with self._cond:
            self._tasks.append(task)
            self._cond.notify()

    def stop(self, timeout: float = 1.0) -> bool:
        """Let the current job finish, end the thread; True if it ended within `timeout`."""
        with self._cond:
            self._stop = True
            self._slot = None
            self._cond.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stop or self._slot is not None
                                    or self._rebuild_requested or bool(self._tasks))
                if self._stop:
                    return
                job, self._slot = self._slot, None
                rebuild, self._rebuild_requested = self._rebuild_requested, False
                tasks, self._tasks = list(self._tasks), deque()
                waited_ms = (time.perf_counter() - self._offered) * 1e3
            try:
                if rebuild:
                    self._rebuild()
                for task in tasks:
                    task()
                if job is not None:
                    self._process(job, waited_ms)
            except Exception as exc:  # a frame must never take the node down
                if not self._on_error(exc):
                    return
