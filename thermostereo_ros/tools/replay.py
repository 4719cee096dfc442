# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Replay a rosbag2 (or ROS 1 .bag) through rclpy with the bag's timing: `thermostereo replay`.

A stand-in for `ros2 bag play` where rosbag2 is not installed. rosbag2 payloads are the CDR
bytes rmw produced, so they are published as serialised messages without a deserialise /
serialise round trip; ROS 1 bags are converted field by field into the rclpy classes.
Header stamps are never rewritten: a looped bag repeats its stamps.
"""

import argparse
import array
import importlib
import pathlib
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.duration import Duration
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from rosgraph_msgs.msg import Clock as ClockMsg

from thermostereo_ros.bags import reader as bag_reader

NODE_NAME = 'thermostereo_replay'
# Reliable publishers satisfy both kinds of subscriber: the depth node subscribes with the
# sensor-data profile (best effort), which matches a reliable writer, and reliable test or
# recording subscribers get every message. Depth 10 bounds memory at ~0.7 s of 15 Hz frames.
QOS_DEPTH = 10
# Sleep in short slices so Ctrl-C and stop events are honoured promptly.
_SLEEP_SLICE_S = 0.05
ACK_TIMEOUT_S = 5.0  # for the last samples' acknowledgements, all publishers together
# How long the DDS teardown may take after the summary is out (the node's reason, ros/main.py).
SHUTDOWN_GRACE_S = 1.0


@dataclass
class ReplaySummary:
    """What a replay published."""

    published: Dict[str, int] = field(default_factory=dict)
    passes: int = 0
    wall_s: float = 0.0
    bag_span_s: float = 0.0
    max_lag_s: float = 0.0
    interrupted: bool = False
    missing_subscribers: List[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Number of messages published over all topics and passes."""
        return sum(self.published.values())

    def format(self) -> str:
        """Human-readable multi-line summary."""
        lines = [f'replay {"interrupted" if self.interrupted else "done"}: {self.total} '
                 f'messages in {self.wall_s:.2f} s wall ({self.passes} pass(es), bag span '
                 f'{self.bag_span_s:.2f} s, max lag {self.max_lag_s * 1e3:.1f} ms)']
        lines += [f'  {topic}: {count}' for topic, count in sorted(self.published.items())]
        return '\n'.join(lines)


def message_class(msgtype: str) -> type:
    """Import the rclpy message class for a ROS 2 type name such as `sensor_msgs/msg/Image`."""
    parts = msgtype.split('/')
    if len(parts) != 3:
        raise ValueError(f'not a ROS 2 type name: {msgtype!r}')
    package, kind, name = parts
    try:
        return getattr(importlib.import_module(f'{package}.{kind}'), name)
    except (ImportError, AttributeError) as err:
        raise ImportError(f'message type {msgtype} is not importable in this environment '
                          f'(install the {package} Python package)') from err


def _field_names(msg: Any) -> List[str]:
    fields = getattr(msg, '__dataclass_fields__', None)
    return [f for f in fields if not f.startswith('__')] if fields else []


def to_rclpy(msg: Any, cls: Any) -> Any:
    """Copy a rosbags message object into a new instance of the rclpy class `cls`.

    Fields are matched by name, ignoring case (ROS 1 CameraInfo spells K, P, ... in capitals);
    fields the rclpy type lacks (ROS 1 Header.seq) are dropped. Numeric sequences are copied
    as whole buffers, never element by element.
    """
    out = cls()
    source_fields = {name.lower(): name for name in _field_names(msg)}
    for name in cls.get_fields_and_field_types():
        source = name if hasattr(msg, name) else source_fields.get(name.lower())
        if source is None:
            continue
        value, current = getattr(msg, source), getattr(out, name)
        if hasattr(current, 'get_fields_and_field_types'):
            value = to_rclpy(value, type(current))
        elif isinstance(current, array.array):
            converted = array.array(current.typecode)
            converted.frombytes(
                np.ascontiguousarray(value, dtype=np.dtype(current.typecode)).tobytes())
            value = converted
        elif isinstance(current, np.ndarray):
            value = np.asarray(value, dtype=current.dtype)
        elif isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(current, list) and value and hasattr(value[0], '__msgtype__'):
            value = [to_rclpy(item, message_class(item.__msgtype__)) for item in value]
        elif isinstance(value, np.generic):
            value = value.item()
        setattr(out, name, value)
    return out


def parse_remaps(items: Optional[Iterable[str]]) -> Dict[str, str]:
    """Parse `FROM:=TO` strings into a topic mapping."""
    remaps: Dict[str, str] = {}
    for item in items or ():
        source, sep, target = item.partition(':=')
        if not sep or not source or not target:
            raise ValueError(f'remap {item!r} is not of the form FROM:=TO')
        remaps[source] = target
    return remaps


def _sleep_until(deadline: float, stop: Optional[threading.Event]) -> bool:
    """Sleep until monotonic `deadline`; False if `stop` was set meanwhile."""
    while True:
        remaining = deadline - time.monotonic()
        if stop is not None and stop.is_set():
            return False
        if remaining <= 0:
            return True
        time.sleep(min(remaining, _SLEEP_SLICE_S))


def _wait_for_subscribers(publishers: Dict[str, Any], count: int, timeout_s: float,
                          stop: Optional[threading.Event]) -> List[str]:
    """Wait until every publisher has `count` subscribers; return the topics still short."""
    deadline = time.monotonic() + timeout_s
    while True:
        short = [topic for topic, pub in publishers.items()
                 if pub.get_subscription_count() < count]
        if not short or time.monotonic() >= deadline:
            return short
        if not _sleep_until(min(deadline, time.monotonic() + _SLEEP_SLICE_S), stop):
            return short


def _wait_acked(publishers: list, timeout_s: float, stop: Optional[threading.Event]) -> bool:
    """Wait until every publisher's samples are acknowledged; False on timeout or stop.

    Polls instead of one blocking wait_for_all_acked: that call keeps the GIL, and in the demo
    it froze the collector thread of the same process for the 2-3 s the last acks took, so the
    last output of each bag was received (and timed) that much late.
    """
    deadline = time.monotonic() + timeout_s
    pending = list(publishers)
    while pending:
        pending = [p for p in pending if not p.wait_for_all_acked(Duration(nanoseconds=0))]
        if not pending:
            return True
        if time.monotonic() >= deadline or not _sleep_until(
                min(deadline, time.monotonic() + 0.01), stop):
            return False
    return True


def replay_bag(bag: 'str | pathlib.Path', node: Any, rate: float = 1.0, loop: bool = False,
               remaps: Optional[Dict[str, str]] = None, start_delay_s: float = 0.0,
               wait_for_subscribers: int = 0, wait_timeout_s: float = 10.0,
               topics: Optional[Sequence[str]] = None, max_passes: Optional[int] = None,
               stop: Optional[threading.Event] = None, log: Any = None,
               clock: bool = False) -> ReplaySummary:
    """Publish `bag` on `node` with the bag's timing scaled by `rate` (2.0 = twice as fast).

    Timing follows the bag (receive-time) timestamps; message contents are untouched.
    `clock`: also publish /clock (rosgraph_msgs/Clock) with each message's bag time before
    it, as `ros2 bag play --clock` does, for nodes running with use_sim_time.
    Runs until the bag ends, `max_passes` passes when looping, or `stop` is set. Does not
    spin `node`; publishing needs no executor. Publishers are destroyed before returning.
    """
    if not rate > 0:
        raise ValueError(f'rate must be positive, got {rate}')
    remaps = dict(remaps or {})
    info = bag_reader.bag_info(bag)
    selected = list(topics) if topics is not None else sorted(info.topics)
    unknown = [t for t in selected if t not in info.topics]
    if unknown:
        raise KeyError(f'topics not in bag: {", ".join(unknown)}')
    unused = [t for t in remaps if t not in info.topics]
    if unused and log is not None:
        log(f'warning: remapped topics not in bag: {", ".join(unused)}')

    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=QOS_DEPTH,
                     reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.VOLATILE)
    classes = {t: message_class(info.topics[t][0]) for t in selected}
    publishers = {t: node.create_publisher(classes[t], remaps.get(t, t), qos) for t in selected}
    clock_pub = node.create_publisher(ClockMsg, '/clock', QoSProfile(depth=1)) if clock else None
    summary = ReplaySummary(published={remaps.get(t, t): 0 for t in selected},
                            bag_span_s=max(0, info.end_ns - info.start_ns) / 1e9)
    ros2 = info.is_ros2
    started = time.monotonic()
    try:
        if wait_for_subscribers > 0:
            summary.missing_subscribers = _wait_for_subscribers(
                publishers, wait_for_subscribers, wait_timeout_s, stop)
            if summary.missing_subscribers and log is not None:
                log(f'warning: fewer than {wait_for_subscribers} subscriber(s) after '
                    f'{wait_timeout_s:g} s on: {", ".join(summary.missing_subscribers)}')
        if not _sleep_until(time.monotonic() + start_delay_s, stop):
            summary.interrupted = True
            return summary
        while not summary.interrupted:
            messages = (bag_reader.iter_raw_cdr(bag, selected) if ros2
                        else bag_reader.iter_messages(bag, selected))
            _one_pass(messages, publishers, classes, clock_pub, remaps, rate, ros2, stop,
                      summary)
            if summary.interrupted or not loop or (
                    max_passes is not None and summary.passes >= max_passes):
                break
        # Reliable delivery of the last messages before the publishers go away.
        _wait_acked(list(publishers.values()), ACK_TIMEOUT_S, stop)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        summary.wall_s = time.monotonic() - started
        for pub in list(publishers.values()) + ([clock_pub] if clock_pub else []):
            node.destroy_publisher(pub)
    return summary


def _one_pass(messages: Iterable[Any], publishers: Dict[str, Any], classes: Dict[str, Any],
              clock_pub: Any, remaps: Dict[str, str], rate: float, ros2: bool,
              stop: Optional[threading.Event], summary: 'ReplaySummary') -> None:
    """Publish one pass over the bag with its timing; count it unless interrupted."""
    wall_zero: Optional[float] = None
    bag_zero = 0
    for topic, _, timestamp, payload in messages:
        if wall_zero is None:
            wall_zero, bag_zero = time.monotonic(), timestamp
        deadline = wall_zero + (timestamp - bag_zero) / 1e9 / rate
        if not _sleep_until(deadline, stop):
            summary.interrupted = True
            return
        summary.max_lag_s = max(summary.max_lag_s, time.monotonic() - deadline)
        if clock_pub is not None:
            tick = ClockMsg()
            tick.clock.sec, tick.clock.nanosec = divmod(int(timestamp), 1_000_000_000)
            clock_pub.publish(tick)
        # rclpy publishes `bytes` as an already serialised message (publish_raw).
        publishers[topic].publish(payload if ros2 else to_rclpy(payload, classes[topic]))
        summary.published[remaps.get(topic, topic)] += 1
    summary.passes += 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the `thermostereo replay` options."""
    parser.add_argument('bag', help='rosbag2 directory (or ROS 1 .bag file)')
    parser.add_argument('--rate', type=float, default=1.0,
                        help='playback speed factor (2.0 = twice as fast)')
    parser.add_argument('--loop', action='store_true', help='replay until interrupted')
    parser.add_argument('--clock', action='store_true',
                        help='also publish /clock from the bag\'s time (for use_sim_time)')
    parser.add_argument('--remap', nargs='+', action='extend', default=[],
                        metavar='FROM:=TO',
                        help='publish topic FROM under the name TO (give BAG first)')
    parser.add_argument('--topics', nargs='+', default=None, help='only these bag topics')
    parser.add_argument('--start-delay', type=float, default=0.0, metavar='S',
                        help='seconds to wait (after subscribers) before the first message')
    parser.add_argument('--wait-for-subscribers', type=int, default=0, metavar='N',
                        help='wait until every topic has N subscribers (see --wait-timeout)')
    parser.add_argument('--wait-timeout', type=float, default=10.0, metavar='S',
                        help='give up waiting for subscribers after S seconds, then play')


def run(args: argparse.Namespace) -> int:
    """Replay a bag; 0 when done or interrupted with Ctrl-C, 1 on a usage or bag error."""
    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    try:
        remaps = parse_remaps(args.remap)
        if not args.rate > 0:
            raise ValueError(f'--rate must be positive, got {args.rate}')
        if not pathlib.Path(args.bag).exists():
            raise FileNotFoundError(f'bag {args.bag} does not exist')
    except (ValueError, FileNotFoundError) as err:
        log(f'replay: error: {err}')
        return 1

    # Our own SIGINT/SIGTERM handlers: with a private context rclpy installs none, so Python's
    # default would raise KeyboardInterrupt wherever the main thread is, e.g. inside rclpy
    # holding a lock, and the teardown then waited forever (seen once under load). A flag,
    # polled between messages, ends the replay at a point of our choosing.
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGINT, signal.SIGTERM):
            previous[number] = signal.signal(number, lambda *_: stop.set())
    # A private context: shutting it down cannot disturb other rclpy users in the process.
    context = Context()
    node = None
    try:
        # args=[]: our CLI arguments (FROM:=TO remaps) must not be parsed as rcl arguments.
        rclpy.init(args=[], context=context, signal_handler_options=SignalHandlerOptions.NO)
        node = rclpy.create_node(NODE_NAME, context=context)
        summary = replay_bag(
            args.bag, node, rate=args.rate, loop=args.loop, remaps=remaps,
            start_delay_s=args.start_delay, wait_for_subscribers=args.wait_for_subscribers,
            wait_timeout_s=args.wait_timeout, topics=args.topics, stop=stop, log=log,
            clock=args.clock)
        print(summary.format(), flush=True)  # before the teardown, which may be slow
    except (KeyError, ImportError, ValueError, OSError) as err:
        log(f'replay: error: {err}')
        return 1
    finally:
        _shutdown(node, context, SHUTDOWN_GRACE_S, log)
        for number, handler in previous.items():
            signal.signal(number, handler)
    return 0


def _shutdown(node: Any, context: Any, grace_s: float, log: Any) -> None:
    """Destroy the node and shut the context down, waiting at most `grace_s` for DDS."""
    def work() -> None:
        if node is not None and context.ok():
            node.destroy_node()
        context.try_shutdown()

    thread = threading.Thread(target=work, name='thermostereo_replay_shutdown', daemon=True)
    thread.start()
    thread.join(grace_s)
    if thread.is_alive():
        log(f'replay: DDS teardown took longer than {grace_s:g} s; going on without it')


def main(argv: Optional[List[str]] = None) -> int:
    """Stand-alone entry point (`python -m thermostereo_ros.tools.replay`)."""
    parser = argparse.ArgumentParser(prog='replay', description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
