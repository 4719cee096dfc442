# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""`thermostereo replay`: a bag published through rclpy/DDS reaches a real subscriber intact."""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip('rclpy')

from rclpy.context import Context  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from rclpy.serialization import deserialize_message  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from thermostereo_ros.bags import ms2_to_bag as m2b  # noqa: E402
from thermostereo_ros.bags import reader as bag_reader  # noqa: E402
from thermostereo_ros.tools import replay  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAMES, HEIGHT, WIDTH, BASELINE = 5, 32, 64, 0.3
K = np.array([[50.0, 0.0, 31.5], [0.0, 50.0, 15.5], [0.0, 0.0, 1.0]])
PERIOD_NS = 66_666_667
START_NS = 1_600_000_000_000_000_000
TOPICS = {m2b.TOPIC_LEFT_IMAGE: Image, m2b.TOPIC_RIGHT_IMAGE: Image,
          m2b.TOPIC_LEFT_INFO: CameraInfo, m2b.TOPIC_RIGHT_INFO: CameraInfo}


def _frames():
    rng = np.random.default_rng(7)
    return [(rng.integers(0, 2**16, (HEIGHT, WIDTH), dtype=np.uint16),
             rng.integers(0, 2**16, (HEIGHT, WIDTH), dtype=np.uint16)) for _ in range(FRAMES)]


def _messages(typestore):
    """Yield (topic, msgtype, stamp, rosbags message) for a small stereo bag."""
    for i, (left, right) in enumerate(_frames()):
        stamp = START_NS + i * PERIOD_NS
        yield (m2b.TOPIC_LEFT_IMAGE, m2b.IMAGE_TYPE, stamp,
               m2b.make_image(typestore, left, stamp, 'l'))
        yield (m2b.TOPIC_RIGHT_IMAGE, m2b.IMAGE_TYPE, stamp,
               m2b.make_image(typestore, right, stamp, 'r'))
        for topic, right_cam in ((m2b.TOPIC_LEFT_INFO, False), (m2b.TOPIC_RIGHT_INFO, True)):
            yield (topic, m2b.CAMERA_INFO_TYPE, stamp,
                   m2b.make_camera_info(typestore, K, BASELINE, right_cam, WIDTH, HEIGHT, stamp,
                                        'r' if right_cam else 'l'))


@pytest.fixture(scope='module')
def bag(tmp_path_factory):
    """A 5-frame rosbag2 (mcap) written with the converter's message builders."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore
    typestore = get_typestore(Stores.ROS2_HUMBLE)
    path = tmp_path_factory.mktemp('replay') / 'stereo_bag'
    with Writer(path, version=m2b.BAG_VERSION, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {}
        for topic, msgtype, stamp, msg in _messages(typestore):
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msgtype, typestore=typestore)
            writer.write(conns[topic], stamp, typestore.serialize_cdr(msg, msgtype))
    return path


def _as_ros1(msg, typestore, seq):
    """Rebuild a rosbags ROS 2 message with the ROS 1 types (Header.seq, CameraInfo.K ...)."""
    cls = typestore.types[msg.__msgtype__]
    names = {n.lower(): n for n in cls.__dataclass_fields__ if not n.startswith('__')}
    kwargs = {names[n.lower()]: getattr(msg, n) for n in msg.__dataclass_fields__
              if not n.startswith('__')}
    kwargs = {n: _as_ros1(v, typestore, seq) if hasattr(v, '__msgtype__') else v
              for n, v in kwargs.items()}
    if 'seq' in names:
        kwargs['seq'] = seq
    return cls(**kwargs)


@pytest.fixture(scope='module')
def ros1_bag(tmp_path_factory):
    """The same frames as a ROS 1 bag (Header with seq), for the field-by-field path."""
    from rosbags.rosbag1 import Writer
    from rosbags.typesys import Stores, get_typestore
    typestore = get_typestore(Stores.ROS1_NOETIC)
    path = tmp_path_factory.mktemp('replay1') / 'stereo.bag'
    with Writer(path) as writer:
        conns = {}
        for seq, (topic, msgtype, stamp, msg) in enumerate(
                _messages(get_typestore(Stores.ROS2_HUMBLE))):
            msg = _as_ros1(msg, typestore, seq)
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msgtype, typestore=typestore)
            writer.write(conns[topic], stamp, typestore.serialize_ros1(msg, msgtype))
    return path


class Receiver:
    """Reliable keep-all subscriptions on their own context, spun in a background thread."""

    def __init__(self, topics):
        self.context = Context()
        rclpy.init(args=[], context=self.context)
        self.node = rclpy.create_node('replay_test_receiver', context=self.context)
        self.received = []
        self.lock = threading.Lock()
        qos = QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE)
        for topic, cls in topics.items():
            self.node.create_subscription(cls, topic, self._callback(topic), qos)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _callback(self, topic):
        def callback(msg):
            with self.lock:
                self.received.append((topic, msg))
        return callback

    def wait_for(self, count, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    break
            time.sleep(0.01)
        with self.lock:
            return list(self.received)

    def close(self):
        self.executor.shutdown()
        self.thread.join(timeout=5)
        self.node.destroy_node()
        self.context.try_shutdown()


@pytest.fixture
def publisher_node():
    context = Context()
    rclpy.init(args=[], context=context)
    node = rclpy.create_node('replay_test_player', context=context)
    yield node
    node.destroy_node()
    context.try_shutdown()


def _check_received(received, topic_map=None):
    """Every frame arrived once per topic, pixel- and stamp-identical, in stamp order."""
    topic_map = topic_map or {t: t for t in TOPICS}
    frames = _frames()
    by_topic = {}
    for topic, msg in received:
        by_topic.setdefault(topic, []).append(msg)
    assert sorted(by_topic) == sorted(topic_map.values())
    for source, topic in topic_map.items():
        msgs = by_topic[topic]
        assert len(msgs) == FRAMES, topic
        stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in msgs]
        assert stamps == [START_NS + i * PERIOD_NS for i in range(FRAMES)]
        for i, msg in enumerate(msgs):
            if source in (m2b.TOPIC_LEFT_IMAGE, m2b.TOPIC_RIGHT_IMAGE):
                assert (msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian) == (
                    'mono16', HEIGHT, WIDTH, 2 * WIDTH, 0)
                pixels = np.frombuffer(bytes(msg.data), '<u2').reshape(HEIGHT, WIDTH)
                expected = frames[i][0 if source == m2b.TOPIC_LEFT_IMAGE else 1]
                np.testing.assert_array_equal(pixels, expected)
            else:
                np.testing.assert_array_equal(np.reshape(msg.k, (3, 3)), K)
                assert msg.distortion_model == 'plumb_bob'
                tx = -50.0 * BASELINE if source == m2b.TOPIC_RIGHT_INFO else 0.0
                assert msg.p[3] == pytest.approx(tx)


def test_message_class_and_remaps():
    assert replay.message_class('sensor_msgs/msg/Image') is Image
    with pytest.raises(ImportError, match='not importable'):
        replay.message_class('no_such_pkg/msg/Thing')
    with pytest.raises(ValueError):
        replay.message_class('sensor_msgs/Image')
    assert replay.parse_remaps(['/a:=/b', 'c:=/d']) == {'/a': '/b', 'c': '/d'}
    with pytest.raises(ValueError, match='FROM:=TO'):
        replay.parse_remaps(['/a=/b'])


def test_field_copy_matches_cdr_deserialisation(bag):
    """The ROS 1 fallback (field copy) builds the same rclpy message as rmw's CDR decoder."""
    raws = list(bag_reader.iter_raw_cdr(bag))
    objects = list(bag_reader.iter_messages(bag))
    assert [r[:3] for r in raws] == [o[:3] for o in objects]
    for raw, obj in zip(raws, objects):
        cls = replay.message_class(raw.msgtype)
        assert replay.to_rclpy(obj.msg, cls) == deserialize_message(raw.cdr, cls)


def test_replay_in_process_delivers_everything(bag, publisher_node):
    receiver = Receiver(TOPICS)
    try:
        summary = replay.replay_bag(bag, publisher_node, rate=2.0, wait_for_subscribers=1,
                                    wait_timeout_s=10.0)
        received = receiver.wait_for(FRAMES * len(TOPICS))
    finally:
        receiver.close()
    assert not summary.interrupted and not summary.missing_subscribers
    assert summary.passes == 1 and summary.total == FRAMES * len(TOPICS)
    # Original timing at rate 2: the four frame periods take about 2 * 66.7 ms of wall time.
    assert summary.wall_s >= 0.9 * (FRAMES - 1) * PERIOD_NS / 1e9 / 2.0
    _check_received(received)


def test_replay_clock_publishes_the_bag_time(bag, publisher_node):
    from rosgraph_msgs.msg import Clock
    receiver = Receiver({'/clock': Clock})
    try:
        summary = replay.replay_bag(bag, publisher_node, rate=4.0, clock=True,
                                    start_delay_s=0.5)
        received = receiver.wait_for(FRAMES * len(TOPICS))
    finally:
        receiver.close()
    ticks = [msg.clock.sec * 10 ** 9 + msg.clock.nanosec for _, msg in received]
    assert summary.total == FRAMES * len(TOPICS) and len(ticks) == summary.total
    stamps = sorted(t for _, _, t, _ in bag_reader.iter_raw_cdr(bag))
    assert ticks == stamps    # each message's bag time, in order


def test_replay_ros1_bag(ros1_bag, publisher_node):
    receiver = Receiver(TOPICS)
    try:
        summary = replay.replay_bag(ros1_bag, publisher_node, rate=4.0, wait_for_subscribers=1)
        received = receiver.wait_for(FRAMES * len(TOPICS))
    finally:
        receiver.close()
    assert summary.total == FRAMES * len(TOPICS)
    _check_received(received)
    # The raw iterator re-encodes ROS 1 payloads as (ROS 1-typed) CDR.
    raws = list(bag_reader.iter_raw_cdr(ros1_bag))
    assert len(raws) == FRAMES * len(TOPICS) and raws[0].cdr[:4] == b'\x00\x01\x00\x00'


def test_replay_loop_stops_after_max_passes(bag, publisher_node):
    summary = replay.replay_bag(bag, publisher_node, rate=20.0, loop=True, max_passes=2,
                                topics=[m2b.TOPIC_LEFT_INFO])
    assert summary.passes == 2 and summary.published == {m2b.TOPIC_LEFT_INFO: 2 * FRAMES}
    with pytest.raises(KeyError):
        replay.replay_bag(bag, publisher_node, topics=['/not/there'])
    with pytest.raises(ValueError):
        replay.replay_bag(bag, publisher_node, rate=0.0)


def _cli(*args):
    return [sys.executable, '-m', 'thermostereo_ros.cli.main', 'replay', *args]


def test_replay_cli_with_remap(bag):
    """The CLI in its own process (real inter-process DDS), publishing under remapped names."""
    topic_map = {t: '/remapped' + t for t in TOPICS}
    receiver = Receiver({topic_map[t]: cls for t, cls in TOPICS.items()})
    try:
        result = subprocess.run(
            _cli(str(bag), '--rate', '2.0', '--wait-for-subscribers', '1', '--wait-timeout',
                 '15', '--remap', *[f'{s}:={t}' for s, t in topic_map.items()]),
            cwd=ROOT, capture_output=True, text=True, timeout=60)
        received = receiver.wait_for(FRAMES * len(TOPICS))
    finally:
        receiver.close()
    assert result.returncode == 0, result.stderr
    assert 'replay done: 20 messages' in result.stdout
    _check_received(received, topic_map)


def test_replay_cli_errors(bag, tmp_path):
    result = subprocess.run(_cli(str(tmp_path / 'missing')), cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1 and 'does not exist' in result.stderr
    result = subprocess.run(_cli(str(bag), '--remap', 'nonsense'), cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and 'FROM:=TO' in result.stderr


@pytest.mark.parametrize('number', [signal.SIGINT, signal.SIGTERM])
def test_replay_cli_ctrl_c_is_clean(bag, number):
    """SIGINT or SIGTERM during a looping replay: summary printed, exit 0, no traceback."""
    receiver = Receiver({m2b.TOPIC_LEFT_INFO: CameraInfo})
    proc = subprocess.Popen(_cli(str(bag), '--loop', '--topics', m2b.TOPIC_LEFT_INFO),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        # Interrupt only once messages flow, i.e. inside the publishing loop.
        assert receiver.wait_for(1, timeout=30), 'no message from the replay process'
        proc.send_signal(number)
        stdout, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        receiver.close()
    assert proc.returncode == 0, stderr
    assert 'Traceback' not in stderr
    assert 'replay interrupted' in stdout
