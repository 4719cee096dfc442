# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Rectified stereo pairs out of a bag: left and right images matched by header stamp."""

from __future__ import annotations

import pathlib
from typing import Dict, Iterator, NamedTuple, Optional

import numpy as np

from thermostereo_ros.bags.image_codec import image_to_numpy, InputError
from thermostereo_ros.bags.ms2_to_bag import TOPIC_LEFT_IMAGE, TOPIC_RIGHT_IMAGE
from thermostereo_ros.bags.reader import iter_messages

# The image topics of the bags `thermostereo ms2-to-bag` writes.
DEFAULT_LEFT_TOPIC = TOPIC_LEFT_IMAGE
DEFAULT_RIGHT_TOPIC = TOPIC_RIGHT_IMAGE
# Images kept per side while waiting for the other side's image of the same stamp.
_PENDING = 32


class StereoFrame(NamedTuple):
    """One pair of a bag: the left image's header stamp and both images."""

    stamp_ns: int
    left: np.ndarray
    right: np.ndarray


def iter_pairs(bag: 'str | pathlib.Path', left_topic: str = DEFAULT_LEFT_TOPIC,
               right_topic: str = DEFAULT_RIGHT_TOPIC, max_pairs: Optional[int] = None
               ) -> Iterator[StereoFrame]:
    """Yield the pairs whose two images carry the same header stamp, in bag order.

    An image whose partner never comes is skipped; a malformed image raises
    image_codec.InputError naming the topic and what is wrong.
    """
    pending: Dict[str, Dict[int, np.ndarray]] = {left_topic: {}, right_topic: {}}
    other = {left_topic: right_topic, right_topic: left_topic}
    count = 0
    for record in iter_messages(bag, (left_topic, right_topic)):
        stamp = record.msg.header.stamp
        stamp_ns = int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)
        try:
            image = image_to_numpy(record.msg)
        except InputError as exc:
            raise InputError(exc.reason, f'{record.topic} at {stamp_ns} ns: {exc}') from exc
        partner = pending[other[record.topic]].pop(stamp_ns, None)
        if partner is None:
            waiting = pending[record.topic]
            waiting[stamp_ns] = image
            if len(waiting) > _PENDING:
                waiting.pop(next(iter(waiting)))
            continue
        left, right = (image, partner) if record.topic == left_topic else (partner, image)
        yield StereoFrame(stamp_ns, left, right)
        count += 1
        if max_pairs is not None and count >= max_pairs:
            return
