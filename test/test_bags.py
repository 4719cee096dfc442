# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""MS2 -> rosbag2 conversion and the rosbags-based reader (no ROS needed)."""

import os
import shutil

import numpy as np
import pytest
import yaml

from thermostereo_ros.bags import ms2_to_bag as m2b
from thermostereo_ros.bags import reader as bag_reader
from thermostereo_ros.cli import main as cli
from thermostereo_ros.data import ms2, ms2_writer

pytest.importorskip('rosbags')

FRAMES, HEIGHT, WIDTH = 5, 32, 64
ALL_TOPICS = (m2b.TOPIC_LEFT_IMAGE, m2b.TOPIC_RIGHT_IMAGE, m2b.TOPIC_LEFT_INFO,
              m2b.TOPIC_RIGHT_INFO, m2b.TOPIC_DEPTH_GT)


@pytest.fixture(scope='module')
def ms2_tree(tmp_path_factory):
    """(root, seq): one tiny synthetic sequence in the MS2 layout, with timestamps.txt."""
    root = tmp_path_factory.mktemp('ms2')
    splits = ms2_writer.write_dataset(str(root), 1, FRAMES, height=HEIGHT, width=WIDTH,
                                      max_disparity=16)
    (seq,) = [name for names in splits.values() for name in names]
    return root, seq


@pytest.fixture
def tree_copy(ms2_tree, tmp_path):
    """A private copy of the tree that a test may damage."""
    root, seq = ms2_tree
    copy = tmp_path / 'ms2copy'
    shutil.copytree(root, copy)
    return copy, seq


def _stamp_ns(msg):
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def _by_topic(bag):
    out = {}
    for topic, msgtype, timestamp, msg in bag_reader.iter_messages(bag):
        out.setdefault(topic, []).append((msgtype, timestamp, msg))
    return out


@pytest.mark.parametrize('storage', m2b.STORAGES)
def test_round_trip(ms2_tree, tmp_path, storage):
    root, seq = ms2_tree
    out = tmp_path / 'bag'
    result = m2b.convert_sequence(root, seq, out, storage=storage, with_depth_gt=True,
                                  progress=False)
    assert (result.frames, result.width, result.height) == (FRAMES, WIDTH, HEIGHT)
    assert result.stamp_source == 'timestamp file'
    calib = ms2.read_calibration(str(root), seq)
    frames = ms2.list_frames(str(root), seq)

    topics = _by_topic(out)
    assert sorted(topics) == sorted(ALL_TOPICS)
    for topic in ALL_TOPICS:
        expected_type = m2b.CAMERA_INFO_TYPE if 'camera_info' in topic else m2b.IMAGE_TYPE
        assert [t for t, _, _ in topics[topic]] == [expected_type] * FRAMES, topic
        # Bag (receive) time equals the header stamp.
        assert all(ts == _stamp_ns(m) for _, ts, m in topics[topic])

    # One stamp per frame shared by every topic; from timestamps.txt; strictly increasing.
    stamps = [_stamp_ns(m) for _, _, m in topics[m2b.TOPIC_LEFT_IMAGE]]
    for topic in ALL_TOPICS:
        assert [_stamp_ns(m) for _, _, m in topics[topic]] == stamps, topic
    assert np.all(np.diff(stamps) > 0)
    file_stamps = ms2.read_timestamps(str(root), seq)
    np.testing.assert_allclose(np.array(stamps) / 1e9, file_stamps, rtol=0, atol=1e-6)

    for side, topic, frame_id in ((0, m2b.TOPIC_LEFT_IMAGE, m2b.DEFAULT_LEFT_FRAME_ID),
                                  (1, m2b.TOPIC_RIGHT_IMAGE, m2b.DEFAULT_RIGHT_FRAME_ID)):
        for frame, (_, _, msg) in zip(frames, topics[topic]):
            assert (msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian) == (
                'mono16', HEIGHT, WIDTH, 2 * WIDTH, 0)
            assert msg.header.frame_id == frame_id
            pixels = np.frombuffer(msg.data.tobytes(), '<u2').reshape(HEIGHT, WIDTH)
            expected = ms2.load_thermal(ms2.thermal_paths(str(root), seq, frame)[side])
            np.testing.assert_array_equal(pixels, expected)

    for topic, k, right in ((m2b.TOPIC_LEFT_INFO, calib.K_left, False),
                            (m2b.TOPIC_RIGHT_INFO, calib.K_right, True)):
        for _, _, info in topics[topic]:
            assert (info.width, info.height, info.distortion_model) == (
                WIDTH, HEIGHT, 'plumb_bob')
            np.testing.assert_array_equal(info.d, np.zeros(5))
            np.testing.assert_array_equal(info.k.reshape(3, 3), k)
            np.testing.assert_array_equal(info.r.reshape(3, 3), np.eye(3))
            p = info.p.reshape(3, 4)
            np.testing.assert_array_equal(p[:, :3], k)
            if right:
                assert -p[0, 3] / p[0, 0] == pytest.approx(calib.baseline_m, rel=1e-12)
            else:
                assert p[0, 3] == 0.0

    for frame, (_, _, msg) in zip(frames, topics[m2b.TOPIC_DEPTH_GT]):
        assert (msg.encoding, msg.step, msg.is_bigendian) == ('32FC1', 4 * WIDTH, 0)
        assert msg.header.frame_id == m2b.DEFAULT_LEFT_FRAME_ID
        depth = np.frombuffer(msg.data.tobytes(), '<f4').reshape(HEIGHT, WIDTH)
        expected = ms2.load_depth(str(root), seq, frame)
        valid = expected > 0
        assert valid.any() and not valid.all()
        np.testing.assert_array_equal(depth[valid], expected[valid])
        assert np.isnan(depth[~valid]).all()

    # What Humble's rosbag2 needs from metadata.yaml (see the module docstring).
    meta = yaml.safe_load((out / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    assert meta['version'] == m2b.BAG_VERSION == 8
    assert meta['storage_identifier'] == storage
    for entry in meta['topics_with_message_count']:
        assert isinstance(entry['topic_metadata']['offered_qos_profiles'], str)
    suffix = '.mcap' if storage == 'mcap' else '.db3'
    assert meta['relative_file_paths'] == ['bag' + suffix]
    assert sorted(p.name for p in out.iterdir()) == ['bag' + suffix, 'metadata.yaml']
    info = bag_reader.bag_info(out)
    assert info.is_ros2 and info.message_count == 5 * FRAMES == result.messages
    assert info.start_ns == stamps[0]


def test_fallback_rate_without_timestamp_file(tree_copy, tmp_path):
    root, seq = tree_copy
    os.remove(root / 'sync_data' / seq / 'thr' / 'timestamps.txt')
    assert ms2.read_timestamps(str(root), seq) is None
    out = tmp_path / 'bag15'
    result = m2b.convert_sequence(root, seq, out, progress=False)
    assert result.stamp_source == '15 Hz grid' and result.depth_frames == 0
    stamps = [ts for _, _, ts, _ in bag_reader.iter_messages(out, [m2b.TOPIC_RIGHT_INFO])]
    start = int(m2b.DEFAULT_START_TIME_S * 1e9)
    assert stamps == [start + i * 66_666_667 for i in range(FRAMES)]
    assert m2b.TOPIC_DEPTH_GT not in bag_reader.bag_info(out).topics
    m2b.convert_sequence(root, seq, out, rate_hz=30.0, force=True, progress=False)
    stamps = [ts for _, _, ts, _ in bag_reader.iter_messages(out, [m2b.TOPIC_LEFT_IMAGE])]
    assert np.all(np.diff(stamps) == 33_333_333)


def test_frame_stamps_validation():
    assert m2b.frame_stamps_ns(3, [1.5, 2.0, 2.25]).tolist() == [
        1_500_000_000, 2_000_000_000, 2_250_000_000]
    # Microsecond rounding keeps real-world epoch stamps clean (no float64 256 ns steps).
    assert m2b.frame_stamps_ns(1, [1628870400.1])[0] == 1_628_870_400_100_000_000
    with pytest.raises(m2b.ConversionError, match='3 frames'):
        m2b.frame_stamps_ns(3, [1.0, 2.0])
    with pytest.raises(m2b.ConversionError, match='strictly increasing'):
        m2b.frame_stamps_ns(3, [1.0, 2.0, 2.0])
    with pytest.raises(m2b.ConversionError, match='positive'):
        m2b.frame_stamps_ns(3, None, rate_hz=0.0)


def test_camera_matrices_follow_ros_convention():
    k = np.array([[400.0, 0, 320], [0, 401.0, 128], [0, 0, 1]])
    k_flat, r_flat, p_flat = m2b.rectified_camera_matrices(k, 0.25, right=True)
    assert p_flat[3] == -100.0 and p_flat[7] == 0.0 and p_flat[11] == 0.0
    assert -p_flat[3] / p_flat[0] == 0.25
    np.testing.assert_array_equal(r_flat, np.eye(3).ravel())
    assert m2b.rectified_camera_matrices(k, 0.25, right=False)[2][3] == 0.0


def test_force_and_overwrite_protection(ms2_tree, tmp_path):
    root, seq = ms2_tree
    out = tmp_path / 'bag'
    m2b.convert_sequence(root, seq, out, storage='sqlite3', progress=False)
    with pytest.raises(m2b.ConversionError, match='already exists.*--force'):
        m2b.convert_sequence(root, seq, out, storage='mcap', progress=False)
    assert (out / 'bag.db3').is_file()
    m2b.convert_sequence(root, seq, out, storage='mcap', with_depth_gt=True, force=True,
                         progress=False)
    assert sorted(p.name for p in out.iterdir()) == ['bag.mcap', 'metadata.yaml']
    assert m2b.TOPIC_DEPTH_GT in bag_reader.bag_info(out).topics
    # --force replaces bags only, never an unrelated folder or file.
    precious = tmp_path / 'precious'
    precious.mkdir()
    (precious / 'thesis.tex').write_text('keep me')
    with pytest.raises(m2b.ConversionError, match='not a rosbag2 directory'):
        m2b.convert_sequence(root, seq, precious, force=True, progress=False)
    assert (precious / 'thesis.tex').read_text() == 'keep me'
    # No staging folders are left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ['bag', 'precious']


def test_clear_errors(tree_copy, tmp_path):
    root, seq = tree_copy
    with pytest.raises(m2b.ConversionError, match=f"'nope' not found.*available: {seq}"):
        m2b.convert_sequence(root, 'nope', tmp_path / 'a', progress=False)
    with pytest.raises(m2b.ConversionError, match='not a directory'):
        m2b.convert_sequence(tmp_path / 'no_root', seq, tmp_path / 'a', progress=False)
    with pytest.raises(m2b.ConversionError, match='storage'):
        m2b.convert_sequence(root, seq, tmp_path / 'a', storage='rosbag1', progress=False)
    # A corrupt frame mid-sequence: clear error and no half-written bag.
    (root / 'sync_data' / seq / 'thr' / 'img_right' / '000003.png').write_bytes(b'junk')
    with pytest.raises(m2b.ConversionError, match='frame 000003'):
        m2b.convert_sequence(root, seq, tmp_path / 'a', progress=False)
    os.remove(root / 'sync_data' / seq / 'calib.npy')
    with pytest.raises(m2b.ConversionError, match='calibration'):
        m2b.convert_sequence(root, seq, tmp_path / 'a', progress=False)
    assert not any(p.name.startswith(('a', '.a')) for p in tmp_path.iterdir())


def test_cli(ms2_tree, tmp_path, capsys):
    root, seq = ms2_tree
    out = tmp_path / 'clibag'
    args = ['ms2-to-bag', '--root', str(root), '--seq', seq, '--out', str(out),
            '--storage', 'sqlite3', '--with-depth-gt', '--left-frame-id', 'L',
            '--right-frame-id', 'R', '--no-progress']
    assert cli.main(args) == 0
    assert 'wrote' in capsys.readouterr().out
    frame_ids = {t: m.header.frame_id for t, _, _, m in bag_reader.iter_messages(out)}
    assert frame_ids == {m2b.TOPIC_LEFT_IMAGE: 'L', m2b.TOPIC_RIGHT_IMAGE: 'R',
                         m2b.TOPIC_LEFT_INFO: 'L', m2b.TOPIC_RIGHT_INFO: 'R',
                         m2b.TOPIC_DEPTH_GT: 'L'}
    assert cli.main(args) == 1
    assert 'already exists' in capsys.readouterr().err
    assert cli.main(args + ['--force']) == 0


def test_reader_topic_filter(ms2_tree, tmp_path):
    root, seq = ms2_tree
    out = tmp_path / 'bag'
    m2b.convert_sequence(root, seq, out, progress=False)
    raws = list(bag_reader.iter_raw_cdr(out, [m2b.TOPIC_LEFT_INFO]))
    assert len(raws) == FRAMES and all(r.cdr[:4] == b'\x00\x01\x00\x00' for r in raws)
    with pytest.raises(KeyError, match='/missing'):
        list(bag_reader.iter_messages(out, ['/missing']))
    with pytest.raises(FileNotFoundError):
        bag_reader.bag_info(tmp_path / 'absent')


def test_humble_and_jazzy_typestores_agree():
    """Why ROS2_HUMBLE is safe for Jazzy/Kilted users too: same definitions and type hashes."""
    from rosbags.typesys import Stores, get_typestore
    stores = [get_typestore(s) for s in (Stores.ROS2_HUMBLE, Stores.ROS2_JAZZY,
                                         Stores.ROS2_KILTED)]
    for msgtype in (m2b.IMAGE_TYPE, m2b.CAMERA_INFO_TYPE):
        assert len({s.generate_msgdef(msgtype, ros_version=2)[0] for s in stores}) == 1
        assert len({s.hash_rihs01(msgtype) for s in stores}) == 1
