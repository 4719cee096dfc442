# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The demo's files: frames read back from the bags, the disparity strip and a point cloud."""

import pathlib
from typing import Any, Dict, Iterator, List, Tuple

import cv2
import numpy as np

from thermostereo_ros.bags import ms2_to_bag as m2b
from thermostereo_ros.bags.reader import iter_messages
from thermostereo_ros.data.normalization import normalize_pair
from thermostereo_ros.geometry import StereoCamera
from thermostereo_ros.ros.conversions import pointcloud_to_numpy
from thermostereo_ros.ros.stamps import stamp_ns
from thermostereo_ros.tools.demo_common import DemoError


def _bag_image(msg: Any) -> np.ndarray:
    """Return a rosbags mono16 / 32FC1 Image as a numpy array."""
    dtype = np.dtype('<u2') if msg.encoding == 'mono16' else np.dtype('<f4')
    rows = np.frombuffer(np.asarray(msg.data, np.uint8).tobytes(), np.uint8)
    rows = rows.reshape(msg.height, msg.step)[:, :msg.width * dtype.itemsize]
    return rows.view(dtype).reshape(msg.height, msg.width).astype(dtype.newbyteorder('='))


def iter_bag_frames(bag: pathlib.Path) -> Iterator[Tuple[int, Any, Any, Any, Any]]:
    """Yield (stamp_ns, left, right, depth_gt, StereoCamera) per complete frame of a bag."""
    parts: Dict[int, Dict[str, Any]] = {}
    names = {m2b.TOPIC_LEFT_IMAGE: 'left', m2b.TOPIC_RIGHT_IMAGE: 'right',
             m2b.TOPIC_DEPTH_GT: 'depth', m2b.TOPIC_LEFT_INFO: 'left_info',
             m2b.TOPIC_RIGHT_INFO: 'right_info'}
    for topic, _, _, msg in iter_messages(bag, list(names)):
        stamp = stamp_ns(msg.header)
        frame = parts.setdefault(stamp, {})
        frame[names[topic]] = msg if topic.endswith('camera_info') else _bag_image(msg)
        if len(frame) == len(names):
            del parts[stamp]
            camera = StereoCamera.from_projection(frame['left_info'].p, frame['right_info'].p)
            yield stamp, frame['left'], frame['right'], frame['depth'], camera


def gt_disparity(depth: np.ndarray, camera: Any) -> np.ndarray:
    """Return ground-truth (principal-point adjusted) disparity from depth; 0 = unknown."""
    known = np.isfinite(depth) & (depth > 0)
    safe = np.where(known, depth, 1.0)
    return np.where(known, np.float32(camera.focal_baseline) / safe, 0.0).astype(np.float32)


def colourise(disparity: np.ndarray, valid: np.ndarray, vmax: float) -> np.ndarray:
    """TURBO colour map over [0, vmax] px (near = red), invalid pixels black; BGR uint8."""
    scaled = np.clip(disparity / max(vmax, 1e-6), 0.0, 1.0) * 255.0
    colour = cv2.applyColorMap(np.rint(scaled).astype(np.uint8), cv2.COLORMAP_TURBO)
    colour[~valid] = 0
    return colour


def _labelled(panel: np.ndarray, text: str) -> np.ndarray:
    """Panel with a black title bar; the font scales with the panel width."""
    width = panel.shape[1]
    scale = max(0.3, min(0.55, width / 1100.0))
    bar = np.zeros((int(40 * scale) + 6, width, 3), np.uint8)
    cv2.putText(bar, text, (4, bar.shape[0] - 7), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), 1, cv2.LINE_AA)
    return np.vstack([bar, panel])


def write_strip(path: pathlib.Path, rows: List[Dict[str, Any]]) -> None:
    """Thermal input | network disparity | SGBM disparity, one row per selected frame.

    Pixels a method left invalid are drawn black (the scores use the filled maps).
    """
    images = []
    for row in rows:
        left, _ = normalize_pair(row['left'], row['right'], mode='joint')
        grey = cv2.cvtColor(np.rint(left * 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
        gt = row['gt']
        # One colour scale per row, from the ground truth, so both methods are comparable.
        vmax = float(np.percentile(gt[gt > 0], 99)) * 1.1 if np.any(gt > 0) else 64.0
        net_valid = row['network_valid']
        panels = [
            _labelled(grey, f'thermal left, {row["condition"]} #{row["index"]}'),
            _labelled(colourise(row['network'], net_valid, vmax),
                      f'ThermoStereoRT  EPE {row["network_epe"]:.2f} px'),
            _labelled(colourise(row['sgbm'], row['sgbm_valid'], vmax),
                      f'SGBM  EPE {row["sgbm_epe"]:.2f} px  (0-{vmax:.0f} px)'),
        ]
        images.append(np.hstack(panels))
    if not cv2.imwrite(str(path), np.vstack(images)):
        raise DemoError(f'could not write {path}')


def write_ply(path: pathlib.Path, cloud_msg: Any) -> int:
    """Binary little-endian PLY (float x y z intensity) of a cloud's finite points."""
    cloud = pointcloud_to_numpy(cloud_msg).reshape(-1)
    finite = np.isfinite(cloud['x']) & np.isfinite(cloud['y']) & np.isfinite(cloud['z'])
    vertices = np.empty(int(finite.sum()), dtype=[('x', '<f4'), ('y', '<f4'), ('z', '<f4'),
                                                  ('intensity', '<f4')])
    for name in ('x', 'y', 'z', 'intensity'):
        vertices[name] = cloud[name][finite]
    header = ('ply\nformat binary_little_endian 1.0\n'
              f'comment thermostereo demo, frame {cloud_msg.header.frame_id} stamp '
              f'{stamp_ns(cloud_msg.header)} ns, optical frame (x right, y down, z forward)\n'
              f'element vertex {vertices.size}\n'
              'property float x\nproperty float y\nproperty float z\nproperty float intensity\n'
              'end_header\n')
    with open(path, 'wb') as f:
        f.write(header.encode('ascii'))
        f.write(vertices.tobytes())
    return int(vertices.size)
