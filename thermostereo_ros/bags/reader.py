# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Iterate rosbag2 directories and ROS 1 .bag files without ROS, via rosbags' AnyReader.

`iter_messages` yields deserialised rosbags message objects (for the demo and tests);
`iter_raw_cdr` yields ROS 2 CDR bytes, which rclpy can deserialise directly (for replay).
Message types use ROS 2 names (``sensor_msgs/msg/Image``) for both bag formats.
"""

import pathlib
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, NamedTuple, Optional, Tuple

from rosbags.highlevel import AnyReader
from rosbags.typesys import get_typestore, Stores


class BagMessage(NamedTuple):
    """One message of a bag, in bag (receive-time) order."""

    topic: str
    msgtype: str
    timestamp_ns: int
    msg: Any


class RawMessage(NamedTuple):
    """One message of a bag as ROS 2 CDR bytes (with the 4-byte encapsulation header)."""

    topic: str
    msgtype: str
    timestamp_ns: int
    cdr: bytes


@dataclass
class BagInfo:
    """Summary of a bag: topic -> (msgtype, count) and its time span in nanoseconds.

    `end_ns` is rosbags' end time: the last timestamp for ROS 1 bags, one past it for rosbag2.
    """

    path: pathlib.Path
    is_ros2: bool
    topics: Dict[str, Tuple[str, int]] = field(default_factory=dict)
    start_ns: int = 0
    end_ns: int = 0

    @property
    def message_count(self) -> int:
        """Total number of messages over all topics."""
        return sum(count for _, count in self.topics.values())


def _paths(bag: 'str | pathlib.Path') -> List[pathlib.Path]:
    path = pathlib.Path(bag)
    if not path.exists():
        raise FileNotFoundError(f'bag {path} does not exist')
    return [path]


def _open(bag: 'str | pathlib.Path') -> Any:
    # The default typestore only matters for bags without embedded definitions (old
    # rosbag2 sqlite3 files); recent bags carry their own definitions.
    return AnyReader(_paths(bag), default_typestore=get_typestore(Stores.ROS2_HUMBLE))


def _selected(reader: Any, topics: Optional[Iterable[str]]) -> list:
    if topics is None:
        return list(reader.connections)
    wanted = set(topics)
    missing = wanted - {c.topic for c in reader.connections}
    if missing:
        raise KeyError(f'topics not in bag: {", ".join(sorted(missing))}')
    return [c for c in reader.connections if c.topic in wanted]


def bag_info(bag: 'str | pathlib.Path') -> BagInfo:
    """Read topic names, types, message counts and the time span of a bag."""
    with _open(bag) as reader:
        info = BagInfo(path=pathlib.Path(bag), is_ros2=reader.is2)
        for topic, topic_info in reader.topics.items():
            info.topics[topic] = (topic_info.msgtype or '', topic_info.msgcount)
        if reader.message_count:
            info.start_ns, info.end_ns = reader.start_time, reader.end_time
        return info


def iter_messages(bag: 'str | pathlib.Path', topics: Optional[Iterable[str]] = None
                  ) -> Iterator[BagMessage]:
    """Yield (topic, msgtype, timestamp_ns, message) in timestamp order.

    Messages are rosbags dataclasses (numpy arrays for numeric sequences such as Image.data).
    `topics` limits the output; naming a topic the bag lacks raises KeyError.
    """
    with _open(bag) as reader:
        for conn, timestamp, raw in reader.messages(connections=_selected(reader, topics)):
            yield BagMessage(conn.topic, conn.msgtype, timestamp,
                             reader.deserialize(raw, conn.msgtype))


def iter_raw_cdr(bag: 'str | pathlib.Path', topics: Optional[Iterable[str]] = None
                 ) -> Iterator[RawMessage]:
    """Yield (topic, msgtype, timestamp_ns, ROS 2 CDR bytes) in timestamp order.

    rosbag2 stores exactly what rmw serialised, so its payload is passed through untouched.
    ROS 1 payloads are re-encoded as CDR; for types whose ROS 1 and ROS 2 definitions differ
    (std_msgs/Header has `seq` in ROS 1) that CDR does not match the ROS 2 type, so replay
    converts ROS 1 bags field by field from `iter_messages` instead.
    """
    with _open(bag) as reader:
        for conn, timestamp, raw in reader.messages(connections=_selected(reader, topics)):
            data = raw if reader.is2 else reader.typestore.serialize_cdr(
                reader.deserialize(raw, conn.msgtype), conn.msgtype)
            yield RawMessage(conn.topic, conn.msgtype, timestamp, bytes(data))
