# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Convert one MS2 thermal stereo sequence into a rosbag2 (no ROS install needed).

Uses the `rosbags` library. Topics (one header stamp per frame, shared by all of them):

* ``/thermal/left/image_rect``, ``/thermal/right/image_rect``: sensor_msgs/msg/Image, mono16
* ``/thermal/left/camera_info``, ``/thermal/right/camera_info``: sensor_msgs/msg/CameraInfo,
  rectified (R = I, D = 0, plumb_bob); right P carries Tx = -fx * baseline (ROS convention)
* ``/thermal/left/depth_gt`` (with ``--with-depth-gt``): 32FC1 metres, NaN where unknown

Compatibility: bags are written as rosbag2 metadata version 8. rosbags writes only versions
8 and 9; Humble's rosbag2 (metadata version 5) parses newer files field by field, but reads
``offered_qos_profiles`` as a YAML string, which version 9 turned into a list, so a version-9
bag fails there with a YAML bad-conversion error. Version 8 keeps the string form and is read
by Humble, Iron, Jazzy and later. Humble's default storage is sqlite3; reading ``mcap`` there
needs the separately packaged ``ros-humble-rosbag2-storage-mcap`` (or write
``--storage sqlite3``). Messages are built with the ROS2_HUMBLE typestore: Image,
CameraInfo, Header and Time have identical definitions, CDR layout and RIHS01 type hashes
in the Humble, Jazzy and Kilted stores, and Humble is the oldest distribution we support.
"""

import argparse
import pathlib
import shutil
import sys
import tempfile
from dataclasses import dataclass
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple

import numpy as np
from rosbags.interfaces import (Qos, QosDurability, QosHistory, QosLiveliness, QosReliability,
                                QosTime)
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import get_typestore, Stores
from tqdm import tqdm

from thermostereo_ros.data import ms2

TOPIC_LEFT_IMAGE = '/thermal/left/image_rect'
TOPIC_RIGHT_IMAGE = '/thermal/right/image_rect'
TOPIC_LEFT_INFO = '/thermal/left/camera_info'
TOPIC_RIGHT_INFO = '/thermal/right/camera_info'
TOPIC_DEPTH_GT = '/thermal/left/depth_gt'
IMAGE_TYPE = 'sensor_msgs/msg/Image'
CAMERA_INFO_TYPE = 'sensor_msgs/msg/CameraInfo'

DEFAULT_LEFT_FRAME_ID = 'thermal_left_optical_frame'
DEFAULT_RIGHT_FRAME_ID = 'thermal_right_optical_frame'
DEFAULT_RATE_HZ = 15.0
# Synthetic stamps (sequences without a timestamp file) start here rather than at 0: a zero
# stamp means "latest available" to tf2 and is treated as unset by several ROS tools.
DEFAULT_START_TIME_S = 1_600_000_000.0
STORAGES = ('mcap', 'sqlite3')
BAG_VERSION: Literal[8] = 8
TYPESTORE = 'ROS2_HUMBLE'
# Offered QoS recorded per topic (what `ros2 bag play` adapts its publishers to): reliable,
# volatile, keep-last 10. Durations of 0 mean "unspecified", which every distribution reads.
QOS_DEPTH = 10


class ConversionError(RuntimeError):
    """The sequence cannot be converted (missing input, inconsistent data, bag exists)."""


@dataclass
class ConversionResult:
    """What a conversion wrote."""

    bag_path: pathlib.Path
    storage: str
    frames: int
    depth_frames: int
    messages: int
    start_ns: int
    end_ns: int
    stamp_source: str
    width: int
    height: int


def frame_stamps_ns(count: int, timestamps: Optional[Sequence[float]] = None,
                    rate_hz: float = DEFAULT_RATE_HZ,
                    start_time_s: float = DEFAULT_START_TIME_S) -> np.ndarray:
    """Return int64 nanosecond stamps for `count` frames.

    Uses `timestamps` (seconds, one per frame) when given, else a fixed `rate_hz` grid from
    `start_time_s`. Raises ConversionError if the stamps are not strictly increasing or do
    not match the frame count.
    """
    if timestamps is None:
        if not rate_hz > 0:
            raise ConversionError(f'--rate-hz must be positive, got {rate_hz}')
        # Integer nanosecond arithmetic: no float drift over long sequences.
        period_ns = int(round(1e9 / rate_hz))
        start_ns = int(round(start_time_s * 1e9))
        return start_ns + period_ns * np.arange(count, dtype=np.int64)
    seconds = np.asarray(timestamps, dtype=np.float64)
    if seconds.shape != (count,):
        raise ConversionError(
            f'timestamp file has {seconds.size} entries but the sequence has {count} frames')
    if not np.all(np.isfinite(seconds)) or np.any(seconds < 0):
        raise ConversionError('timestamp file contains negative or non-finite values')
    # Whole seconds and fraction separately, the fraction rounded to the microsecond: a
    # float64 near 1.6e9 s resolves only ~0.24 us, so finer digits are noise, and
    # seconds * 1e9 in float64 would quantise stamps to 256 ns.
    whole = np.floor(seconds)
    micros = np.round((seconds - whole) * 1e6).astype(np.int64)
    stamps = whole.astype(np.int64) * 1_000_000_000 + micros * 1000
    if count > 1 and np.any(np.diff(stamps) <= 0):
        raise ConversionError('timestamps in the timestamp file are not strictly increasing')
    return stamps


def rectified_camera_matrices(k: np.ndarray, baseline_m: float, right: bool
                              ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (K, R, P) of a rectified camera, flattened row-major as CameraInfo wants.

    R is the identity because the images are already rectified. P = [K | t] with
    t = (Tx, 0, 0), Tx = -fx * baseline for the right camera and 0 for the left, so that
    baseline = -P[3] / P[0] as in ROS' stereo_image_proc convention.
    """
    k = np.asarray(k, dtype=np.float64).reshape(3, 3)
    p = np.zeros((3, 4), dtype=np.float64)
    p[:, :3] = k
    if right:
        p[0, 3] = -k[0, 0] * float(baseline_m)
    return k.ravel().copy(), np.eye(3).ravel(), p.ravel()


def _stamp(typestore: Any, stamp_ns: int) -> Any:
    time_cls = typestore.types['builtin_interfaces/msg/Time']
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return time_cls(sec=sec, nanosec=nanosec)


def _header(typestore: Any, stamp_ns: int, frame_id: str) -> Any:
    header_cls = typestore.types['std_msgs/msg/Header']
    return header_cls(stamp=_stamp(typestore, stamp_ns), frame_id=frame_id)


def make_image(typestore: Any, array: np.ndarray, stamp_ns: int, frame_id: str) -> Any:
    """Build a rosbags sensor_msgs/msg/Image from a uint16 (mono16) or float32 (32FC1) array.

    Data is written little-endian (is_bigendian = 0) whatever the host byte order.
    """
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f'expected a single-channel 2-D image, got shape {array.shape}')
    if array.dtype == np.uint16:
        encoding, data = 'mono16', np.ascontiguousarray(array, dtype='<u2')
    elif array.dtype == np.float32:
        encoding, data = '32FC1', np.ascontiguousarray(array, dtype='<f4')
    else:
        raise ValueError(f'unsupported image dtype {array.dtype} (uint16 or float32)')
    height, width = array.shape
    image_cls = typestore.types[IMAGE_TYPE]
    return image_cls(header=_header(typestore, stamp_ns, frame_id), height=height, width=width,
                     encoding=encoding, is_bigendian=0, step=width * data.itemsize,
                     data=data.reshape(-1).view(np.uint8))


def make_camera_info(typestore: Any, k: np.ndarray, baseline_m: float, right: bool,
                     width: int, height: int, stamp_ns: int, frame_id: str) -> Any:
    """Build a rosbags sensor_msgs/msg/CameraInfo for a rectified thermal camera."""
    k_flat, r_flat, p_flat = rectified_camera_matrices(k, baseline_m, right)
    info_cls = typestore.types[CAMERA_INFO_TYPE]
    roi_cls = typestore.types['sensor_msgs/msg/RegionOfInterest']
    return info_cls(
        header=_header(typestore, stamp_ns, frame_id), height=int(height), width=int(width),
        distortion_model='plumb_bob', d=np.zeros(5, dtype=np.float64), k=k_flat, r=r_flat,
        p=p_flat, binning_x=0, binning_y=0,
        roi=roi_cls(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))


def _depth_for_message(depth: np.ndarray) -> np.ndarray:
    # MS2 marks unknown depth with 0; REP 118 depth images mark it with NaN.
    depth = np.asarray(depth, dtype=np.float32)
    return np.where(np.isfinite(depth) & (depth > 0), depth, np.float32(np.nan)).astype(
        np.float32)


def _looks_like_bag(path: pathlib.Path) -> bool:
    if (path / 'metadata.yaml').is_file():
        return True
    return any(p.suffix in ('.mcap', '.db3') for p in path.iterdir())


def _check_output(out: pathlib.Path, force: bool) -> None:
    if not out.exists():
        return
    if not force:
        raise ConversionError(f'{out} already exists; pass --force to overwrite it')
    # --force replaces a bag, never an arbitrary folder or file named by mistake.
    if not out.is_dir() or not (_looks_like_bag(out) or not any(out.iterdir())):
        raise ConversionError(
            f'{out} exists and is not a rosbag2 directory; refusing to delete it even with '
            '--force')


def _qos_profiles() -> list:
    zero = QosTime(sec=0, nsec=0)
    return [Qos(history=QosHistory.KEEP_LAST, depth=QOS_DEPTH,
                reliability=QosReliability.RELIABLE, durability=QosDurability.VOLATILE,
                deadline=zero, lifespan=zero, liveliness=QosLiveliness.AUTOMATIC,
                liveliness_lease_duration=zero, avoid_ros_namespace_conventions=False)]


def _check_sequence(root: pathlib.Path, seq: str) -> None:
    if not root.is_dir():
        raise ConversionError(f'MS2 root {root} is not a directory')
    if not (root / 'sync_data' / seq).is_dir():
        available = sorted(p.name for p in (root / 'sync_data').glob('*') if p.is_dir())
        raise ConversionError(
            f'sequence {seq!r} not found under {root / "sync_data"} '
            f'(available: {", ".join(available) or "none"})')


_READ_ERRORS = (ms2.MS2FormatError, OSError, KeyError, ValueError)


def _read_sequence(root: pathlib.Path, seq: str) -> Tuple[Any, List[str], Optional[List[float]]]:
    """Return (calibration, frame names, timestamps or None); ConversionError if unreadable."""
    try:
        calib = ms2.read_calibration(str(root), seq)
    except _READ_ERRORS as err:
        raise ConversionError(f'cannot read the calibration of sequence {seq!r}: {err}') from err
    if not float(calib.baseline_m) > 0:
        raise ConversionError(f'calibration baseline must be positive, got {calib.baseline_m}')
    try:
        frames = list(ms2.list_frames(str(root), seq))
        timestamps = ms2.read_timestamps(str(root), seq)
    except _READ_ERRORS as err:
        raise ConversionError(f'cannot read sequence {seq!r}: {err}') from err
    if not frames:
        raise ConversionError(f'sequence {seq!r} has no thermal frames')
    return calib, frames, timestamps


def _read_frame(root: pathlib.Path, seq: str, frame: str, with_depth_gt: bool
                ) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """Return one frame's (left, right, depth or None); ConversionError if unreadable."""
    try:
        left_path, right_path = ms2.thermal_paths(str(root), seq, frame)
        left, right = ms2.load_thermal(left_path), ms2.load_thermal(right_path)
        depth = ms2.load_depth(str(root), seq, frame) if with_depth_gt else None
    except _READ_ERRORS as err:
        raise ConversionError(f'frame {frame} of {seq!r}: {err}') from err
    if left.shape != right.shape:
        raise ConversionError(f'frame {frame}: left {left.shape} and right {right.shape} differ')
    return left, right, depth


def _connections(writer: Any, typestore: Any, with_depth_gt: bool) -> Dict[str, Any]:
    """Add the bag's connections: images, camera_infos and optionally depth GT."""
    topics = [(TOPIC_LEFT_IMAGE, IMAGE_TYPE), (TOPIC_RIGHT_IMAGE, IMAGE_TYPE),
              (TOPIC_LEFT_INFO, CAMERA_INFO_TYPE), (TOPIC_RIGHT_INFO, CAMERA_INFO_TYPE)]
    if with_depth_gt:
        topics.append((TOPIC_DEPTH_GT, IMAGE_TYPE))
    qos = _qos_profiles()
    return {topic: writer.add_connection(topic, msgtype, typestore=typestore,
                                         offered_qos_profiles=qos)
            for topic, msgtype in topics}


def convert_sequence(root: 'str | pathlib.Path', seq: str, out: 'str | pathlib.Path',
                     storage: str = 'mcap', with_depth_gt: bool = False,
                     left_frame_id: str = DEFAULT_LEFT_FRAME_ID,
                     right_frame_id: str = DEFAULT_RIGHT_FRAME_ID,
                     rate_hz: float = DEFAULT_RATE_HZ, force: bool = False,
                     progress: bool = True,
                     start_time_s: float = DEFAULT_START_TIME_S) -> ConversionResult:
    """Write MS2 sequence `seq` under `root` as a rosbag2 directory `out`.

    The bag is written into a temporary sibling folder and moved into place only when
    complete, so a failed or interrupted run never leaves a half bag, and `force` replaces
    an existing bag only after the new one is finished.
    """
    root, out = pathlib.Path(root), pathlib.Path(out)
    if storage not in STORAGES:
        raise ConversionError(f'storage must be one of {STORAGES}, got {storage!r}')
    _check_output(out, force)
    _check_sequence(root, seq)
    calib, frames, timestamps = _read_sequence(root, seq)
    stamps = frame_stamps_ns(len(frames), timestamps, rate_hz, start_time_s)

    typestore = get_typestore(getattr(Stores, TYPESTORE))
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f'.{out.name}.', dir=out.parent))
    # The storage file is named after its folder, so the staged bag keeps the final name.
    staged_bag = staging / out.name
    plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
    counts = {'messages': 0, 'depth': 0}
    shape: Optional[Tuple[int, int]] = None
    try:
        with Writer(staged_bag, version=BAG_VERSION, storage_plugin=plugin) as writer:
            conns = _connections(writer, typestore, with_depth_gt)

            def put(topic: str, msg: Any, msgtype: str, stamp: int) -> None:
                writer.write(conns[topic], stamp, typestore.serialize_cdr(msg, msgtype))
                counts['messages'] += 1

            for frame, stamp in tqdm(list(zip(frames, stamps.tolist())), unit='frame',
                                     desc=f'ms2-to-bag {seq}', disable=not progress):
                left, right, depth = _read_frame(root, seq, frame, with_depth_gt)
                if shape is None:
                    shape = left.shape
                elif left.shape != shape:
                    raise ConversionError(f'frame {frame}: size {left.shape} != {shape}')
                height, width = shape
                put(TOPIC_LEFT_IMAGE, make_image(typestore, left, stamp, left_frame_id),
                    IMAGE_TYPE, stamp)
                put(TOPIC_RIGHT_IMAGE, make_image(typestore, right, stamp, right_frame_id),
                    IMAGE_TYPE, stamp)
                put(TOPIC_LEFT_INFO,
                    make_camera_info(typestore, calib.K_left, calib.baseline_m, False,
                                     width, height, stamp, left_frame_id),
                    CAMERA_INFO_TYPE, stamp)
                put(TOPIC_RIGHT_INFO,
                    make_camera_info(typestore, calib.K_right, calib.baseline_m, True,
                                     width, height, stamp, right_frame_id),
                    CAMERA_INFO_TYPE, stamp)
                # Frames without a ground-truth file are skipped, not sent as all-NaN.
                if depth is not None:
                    put(TOPIC_DEPTH_GT,
                        make_image(typestore, _depth_for_message(depth), stamp, left_frame_id),
                        IMAGE_TYPE, stamp)
                    counts['depth'] += 1
        if out.exists():
            shutil.rmtree(out)
        staged_bag.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    assert shape is not None
    return ConversionResult(
        bag_path=out, storage=storage, frames=len(frames), depth_frames=counts['depth'],
        messages=counts['messages'], start_ns=int(stamps[0]), end_ns=int(stamps[-1]),
        stamp_source='timestamp file' if timestamps is not None else f'{rate_hz:g} Hz grid',
        width=int(shape[1]), height=int(shape[0]))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the `thermostereo ms2-to-bag` options."""
    parser.add_argument('--root', required=True, help='MS2 dataset root (holds sync_data/)')
    parser.add_argument('--seq', required=True, help='sequence name, e.g. _2021-08-06-11-23-45')
    parser.add_argument('--out', required=True, help='rosbag2 directory to create')
    parser.add_argument('--storage', choices=STORAGES, default='mcap',
                        help='storage plugin (default mcap; Humble reads mcap only with '
                        'ros-humble-rosbag2-storage-mcap installed, sqlite3 always)')
    parser.add_argument('--with-depth-gt', action='store_true',
                        help=f'also write {TOPIC_DEPTH_GT} (32FC1 metres, NaN unknown)')
    parser.add_argument('--left-frame-id', default=DEFAULT_LEFT_FRAME_ID)
    parser.add_argument('--right-frame-id', default=DEFAULT_RIGHT_FRAME_ID)
    parser.add_argument('--rate-hz', type=float, default=DEFAULT_RATE_HZ,
                        help='frame rate used when the sequence has no timestamp file')
    parser.add_argument('--force', action='store_true', help='replace an existing bag')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')


def run(args: argparse.Namespace) -> int:
    """Run the conversion; returns 0 on success, 1 with a one-line message on failure."""
    try:
        result = convert_sequence(
            args.root, args.seq, args.out, storage=args.storage,
            with_depth_gt=args.with_depth_gt, left_frame_id=args.left_frame_id,
            right_frame_id=args.right_frame_id, rate_hz=args.rate_hz, force=args.force,
            progress=not args.no_progress)
    except ConversionError as err:
        print(f'ms2-to-bag: error: {err}', file=sys.stderr)
        return 1
    duration = (result.end_ns - result.start_ns) / 1e9
    depth = f', {result.depth_frames} depth frames' if args.with_depth_gt else ''
    print(f'wrote {result.bag_path} ({result.storage}, rosbag2 v{BAG_VERSION}): '
          f'{result.frames} frames {result.width}x{result.height}{depth}, '
          f'{result.messages} messages, {duration:.3f} s, stamps from {result.stamp_source}')
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Stand-alone entry point (`python -m thermostereo_ros.bags.ms2_to_bag`)."""
    parser = argparse.ArgumentParser(prog='ms2-to-bag', description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == '__main__':
    raise SystemExit(main())
