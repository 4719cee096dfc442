# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""BagRecorder: raw rclpy messages into an MCAP rosbag2 that rosbags reads back."""

import pytest

pytestmark = pytest.mark.ros


def test_custom_and_standard_messages_round_trip(tmp_path):
    pytest.importorskip('rosbags')
    from thermostereo_ros.ros import status
    if not status.AVAILABLE:
        pytest.skip('thermostereo_ros.msg is not built')
    from rclpy.serialization import serialize_message
    from rosbags.highlevel import AnyReader
    from std_msgs.msg import Header

    from thermostereo_ros.bags.recorder import BagRecorder, typestore_with_interfaces

    bag = tmp_path / 'bag'
    recorder = BagRecorder(bag, {'/t/status': 'thermostereo_ros/msg/StereoStatus',
                                 '/t/header': 'std_msgs/msg/Header'})
    sent = status.StereoStatus(valid_fraction=0.25, drop_reason='stale', model_id='abcd',
                               pairs_in=7)
    sent.header.frame_id = 'left'
    recorder.write('/t/status', 10, serialize_message(sent))
    recorder.write('/t/header', 11, serialize_message(Header(frame_id='h')))
    recorder.close()
    recorder.write('/t/status', 12, serialize_message(sent))  # after close: dropped
    for typestore in (None, typestore_with_interfaces()):
        kwargs = {} if typestore is None else {'default_typestore': typestore}
        with AnyReader([bag], **kwargs) as reader:
            got = [(c.topic, t, reader.deserialize(raw, c.msgtype))
                   for c, t, raw in reader.messages()]
        assert [(topic, t) for topic, t, _ in got] == [('/t/status', 10), ('/t/header', 11)]
        msg = got[0][2]
        assert (msg.valid_fraction, msg.drop_reason, msg.model_id, msg.pairs_in,
                msg.header.frame_id) == (0.25, 'stale', 'abcd', 7, 'left')
        assert got[1][2].frame_id == 'h'
