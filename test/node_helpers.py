# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures for the node tests: a real rclpy context, a driver node, tiny weights."""

from __future__ import annotations

import itertools
import pathlib
import queue
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np

HEIGHT, WIDTH = 48, 80
FX, CX_LEFT, CX_RIGHT, CY, BASELINE = 60.0, 41.0, 39.0, 23.5, 0.25
PLANE_PIXEL_DISPARITY = 12  # x_left - x_right, includes cx_left - cx_right
_NAMESPACES = itertools.count()


def tiny_checkpoint(directory: pathlib.Path, max_disparity: int = 32) -> pathlib.Path:
    """Write a small random-weight ThermoStereoRT checkpoint (deliberately untrained)."""
    import torch

    from thermostereo_ros.inference import save_checkpoint
    from thermostereo_ros.model import build_model

    torch.manual_seed(0)
    model = build_model('thermostereo_rt', dict(
        max_disparity=max_disparity, base_channels=4, feature_channels=8,
        aggregation_channels=8, refinement_channels=4))
    return save_checkpoint(directory / 'tiny.safetensors', model, 'thermostereo_rt',
                           model.config, {'mode': 'joint', 'low': 1, 'high': 99},
                           {'purpose': 'random weights for tests'})


class OracleEngine:
    """Returns a fixed disparity map: lets tests check geometry against known ground truth."""

    device, backend, precision = 'cpu', 'oracle', 'fp32'

    def __init__(self, disparity: float = PLANE_PIXEL_DISPARITY, max_disparity: int = 32,
                 delay: float = 0.0) -> None:
        self.disparity, self.trained_range, self.delay = disparity, max_disparity, delay

    def infer(self, left: np.ndarray, right: np.ndarray) -> Any:
        time.sleep(self.delay)

        class Result:
            pass
        result = Result()
        result.disparity = np.full(left.shape, self.disparity, np.float32)
        result.confidence = np.ones(left.shape, np.float32)
        return result


def plane_images(seed: int = 0):
    """Left/right uint16 for a fronto-parallel plane: right(x) = left(x + d)."""
    from thermostereo_ros.inference.shifted_texture import synthetic_pair
    return synthetic_pair(HEIGHT, WIDTH, PLANE_PIXEL_DISPARITY, seed)


def plane_depth() -> float:
    """Depth of the plane the images show."""
    return FX * BASELINE / (PLANE_PIXEL_DISPARITY - (CX_LEFT - CX_RIGHT))


class Harness:
    """A driver node and the node under test spun by one executor on a background thread."""

    def __init__(self, overrides: Optional[Dict[str, Any]] = None,
                 engine_factory: Optional[Callable] = None,
                 namespace: Optional[str] = None) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.parameter import Parameter

        from thermostereo_ros.ros.node import ThermoStereoNode

        self.namespace = namespace or f'/ts{next(_NAMESPACES)}'
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        params = [Parameter(k, value=v) for k, v in (overrides or {}).items()]
        self.node = ThermoStereoNode(engine_factory=engine_factory, context=self.context,
                                     namespace=self.namespace, parameter_overrides=params)
        self.driver = rclpy.create_node('driver', namespace=self.namespace,
                                        context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.driver)
        self._spin = threading.Thread(target=self._spin_forever, daemon=True)
        self._spin.start()
        self.received: Dict[str, queue.Queue] = {}
        self._pubs: Dict[str, Any] = {}
        self._frame = 0

    def _spin_forever(self) -> None:
        from rclpy.executors import ExternalShutdownException
        try:
            self.executor.spin()
        except ExternalShutdownException:
            pass

    def subscribe(self, topic: str, msg_type: Any) -> queue.Queue:
        """Collect messages of `topic` (relative to the namespace) into a queue."""
        box: queue.Queue = queue.Queue()
        self.driver.create_subscription(msg_type, topic, box.put, 10)
        self.received[topic] = box
        return box

    def publisher(self, topic: str, msg_type: Any) -> Any:
        """Return a reliable publisher, created once per topic."""
        if topic not in self._pubs:
            self._pubs[topic] = self.driver.create_publisher(msg_type, topic, 10)
        return self._pubs[topic]

    def wait_connected(self, timeout: float = 10.0) -> None:
        """Wait for discovery both ways: inputs reach the node, outputs reach the driver."""
        pubs = list(self._pubs.values())
        wait_for(lambda: all(p.get_subscription_count() > 0 for p in pubs), timeout,
                 'inputs not matched')
        outputs = self.node._outputs
        wanted = [outputs[t] for t in self.received if t in outputs]
        wait_for(lambda: all(p.get_subscription_count() > 0 for p in wanted), timeout,
                 'outputs not matched')

    def close(self) -> None:
        """Destroy everything and shut the context down (once; later calls do nothing)."""
        import rclpy
        if getattr(self, '_closed', False):
            return
        self._closed = True
        self.node.destroy_node()
        self.driver.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self.executor.shutdown(timeout_sec=2.0)
        self._spin.join(2.0)


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, what: str = '') -> None:
    """Poll `predicate` until it holds; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out: {what}')
        time.sleep(0.01)


def get(box: queue.Queue, timeout: float = 10.0) -> Any:
    """Return the next message from a subscription queue, failing after `timeout`."""
    try:
        return box.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError('no message within timeout') from None


def drain(box: queue.Queue) -> List[Any]:
    """Everything received so far."""
    out = []
    while True:
        try:
            out.append(box.get_nowait())
        except queue.Empty:
            return out


def stamp_header(stamp_ns: int, frame_id: str) -> Any:
    """A std_msgs/Header with the given stamp and frame."""
    from std_msgs.msg import Header
    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return header


def camera_infos(fx: float = FX, baseline: float = BASELINE, left_frame: str = 'left_optical',
                 right_frame: str = 'right_optical', stamp_ns: int = 0):
    """Rectified left/right CameraInfo with the test calibration."""
    from sensor_msgs.msg import CameraInfo
    infos = []
    for frame, cx, tx in ((left_frame, CX_LEFT, 0.0), (right_frame, CX_RIGHT, -fx * baseline)):
        info = CameraInfo(header=stamp_header(stamp_ns, frame), height=HEIGHT, width=WIDTH)
        info.distortion_model = 'plumb_bob'
        info.d = [0.0] * 5
        info.k = [fx, 0.0, cx, 0.0, fx, CY, 0.0, 0.0, 1.0]
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.p = [fx, 0.0, cx, tx, 0.0, fx, CY, 0.0, 0.0, 0.0, 1.0, 0.0]
        infos.append(info)
    return infos


def edited_infos(infos, side: str, **fields):
    """Return copies of (left, right) infos with `fields` set on one side; pN edits P[N]."""
    import copy
    infos = [copy.deepcopy(info) for info in infos]
    info = infos[0 if side == 'left' else 1]
    for key, value in fields.items():
        if key[0] == 'p' and key[1:].isdigit():
            p = list(info.p)
            p[int(key[1:])] = value
            info.p = p
        else:
            setattr(info, key, value)
    return infos


def q_from_infos(left_info: Any, right_info: Any) -> np.ndarray:
    """Independent Q (cv2.stereoRectify layout) straight from the CameraInfo P matrices."""
    pl, pr = np.reshape(left_info.p, (3, 4)), np.reshape(right_info.p, (3, 4))
    tx = pr[0, 3] / pr[0, 0]  # = -baseline
    return np.array([[1, 0, 0, -pl[0, 2]], [0, 1, 0, -pl[1, 2]], [0, 0, 0, pl[0, 0]],
                     [0, 0, -1 / tx, (pl[0, 2] - pr[0, 2]) / tx]], dtype=np.float64)
