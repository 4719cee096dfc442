# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The `thermostereo_node` executable: start the node, spin it, stop it cleanly and fast."""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Optional

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.signals import SignalHandlerOptions

from thermostereo_ros.ros.engine_loader import EngineFactory
from thermostereo_ros.ros.node import NODE_NAME, ThermoStereoNode

# How long the DDS teardown may take before the process exits anyway. In two CI runs of the full
# suite (Jazzy, not reproduced alone) SIGINT under load took 3.0 s, the time going into the
# teardown; the likely cause is reliable writers waiting for acknowledgements from a reader of
# an earlier test whose process ended without leaving DDS. A supervisor needs a prompt exit
# (launch escalates to SIGTERM after 5 s) more than a tidy goodbye: main() exits right after.
SHUTDOWN_GRACE_S = 1.0


def run(args: Optional[list] = None, engine_factory: Optional[EngineFactory] = None) -> int:
    """Run the node until SIGINT/SIGTERM; 0 on a clean exit, 1 if it cannot start."""
    # Our own handlers, not rclpy's: rclpy's raises KeyboardInterrupt wherever the main thread
    # happens to be, which can leave a lock held and stall the shutdown (seen under load). A
    # flag, polled between callbacks, ends the spin at a point of our choosing.
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, lambda *_: stop.set())
    node, code = None, 0
    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
        executor = SingleThreadedExecutor()
        node = ThermoStereoNode(engine_factory=engine_factory)
        executor.add_node(node)
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except Exception as exc:  # one readable line instead of a traceback wall
        if not stop.is_set():
            # rcl appends the C source location of its errors: not for the user.
            text = str(exc).split(', at /')[0]
            print(f'[{NODE_NAME}] error: {text}', file=sys.stderr, flush=True)
            code = 1
    _shutdown(node, SHUTDOWN_GRACE_S)
    return code


def _shutdown(node: Optional[ThermoStereoNode], grace_s: float) -> None:
    """Stop the worker and tear DDS down, waiting at most `grace_s` for it."""
    def work() -> None:
        if node is not None:
            node.stop_worker()
        rclpy.try_shutdown()

    thread = threading.Thread(target=work, name='thermostereo_shutdown', daemon=True)
    thread.start()
    thread.join(grace_s)
    if thread.is_alive():
        print(f'[{NODE_NAME}] DDS teardown took longer than {grace_s:g} s; exiting anyway',
              file=sys.stderr, flush=True)


def main(args: Optional[list] = None) -> None:
    """Console entry point: run the node, then end the process with run()'s exit code."""
    code = run(args)
    sys.stdout.flush()
    sys.stderr.flush()
    # Exiting without interpreter teardown skips the C++ static destructors of the DDS and
    # torch thread pools, which occasionally crashed after a clean shutdown (SIGSEGV after
    # SIGINT): a launch file or supervisor must see the real exit code, not a crash.
    os._exit(code)


if __name__ == '__main__':
    main()
