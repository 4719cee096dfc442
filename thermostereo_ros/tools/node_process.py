# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The thermostereo node as a child process, for the tools that drive it (demo, benchmark).

Output goes to a log file, not a pipe: nobody reads the node's output while it runs, and a
full pipe would block the node. Stopping is SIGINT first, as `ros2 run` and launch do.
"""

import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Type

NODE_MODULE = 'thermostereo_ros.ros.main'


# Run in the child before it becomes the node: on Linux, ask for SIGTERM when the tool that
# started it dies, even by SIGKILL or a test timeout, so that no orphan node keeps publishing
# /diagnostics into the next run; the setting survives exec. The parent's pid guards against
# the race where the parent is already gone before prctl runs.
_ORPHAN_GUARD = (
    'import ctypes, os, signal, sys\n'
    'if sys.platform.startswith("linux"):\n'
    '    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)\n'
    '    if os.getppid() != int(sys.argv[1]):\n'
    '        sys.exit("the tool that started this node has already exited")\n'
    'os.execv(sys.executable, [sys.executable] + sys.argv[2:])\n')


def node_command(ros_args: List[str], module: str = NODE_MODULE) -> List[str]:
    """Command line that runs `module` (the node by default) with `--ros-args ros_args`.

    The node ends with the process that runs this command line (see _ORPHAN_GUARD).
    """
    return [sys.executable, '-c', _ORPHAN_GUARD, str(os.getpid()), '-m', module,
            '--ros-args', *ros_args]


class NodeProcess:
    """A running node process with its output in `log_path`."""

    def __init__(self, command: List[str], log_path: Optional[pathlib.Path] = None,
                 env: Optional[Dict[str, str]] = None) -> None:
        """Start `command`; a temporary log file is used when `log_path` is None."""
        if log_path is None:
            log_path = pathlib.Path(tempfile.mkdtemp(prefix='thermostereo_node_')) / 'node.log'
        self.log_path = pathlib.Path(log_path)
        self._log = open(self.log_path, 'w')
        env = {**(os.environ if env is None else env), 'PYTHONUNBUFFERED': '1'}
        self.proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env)

    def tail(self, lines: int = 20) -> str:
        """Return the last `lines` non-empty lines of the node's output (for error messages)."""
        self._log.flush()
        text = self.log_path.read_text(errors='replace').splitlines()
        kept = [line.rstrip() for line in text if line.strip()]
        return '\n'.join(kept[-lines:]) if kept else '(no output)'

    def last_line(self) -> str:
        """Return the node's last non-empty output line."""
        return self.tail(1)

    def alive(self) -> bool:
        """Return True while the process runs."""
        return self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> Optional[int]:
        """SIGINT, wait; escalate to SIGTERM and SIGKILL only if it hangs. Returns the code."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.terminate()
                    try:
                        self.proc.wait(5.0)
                    except subprocess.TimeoutExpired:
                        self.proc.kill()
                        self.proc.wait()
            return self.proc.returncode
        finally:
            self._log.close()


def wait_until(predicate: Callable[[], Any], timeout: float, node: NodeProcess, what: str,
               error: Type[Exception] = RuntimeError, poll_s: float = 0.02,
               tail_lines: int = 20) -> None:
    """Poll `predicate` until true; raise `error` if the node dies or `timeout` passes.

    The error quotes the last `tail_lines` lines of the node's output.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if not node.alive():
            raise error(f'the node exited during {what}: {node.tail(tail_lines)}')
        if time.monotonic() > deadline:
            raise error(f'timed out after {timeout:g} s waiting for {what}; node log '
                        f'{node.log_path}: {node.tail(tail_lines)}')
        time.sleep(poll_s)
