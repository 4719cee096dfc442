# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The node's input subscriptions: two images and two camera_infos, and latched calibrations."""

from __future__ import annotations

from typing import Any, Callable, Dict, List

from rclpy.node import Node
try:
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble's rclpy names the module qos_event
    from rclpy.qos_event import SubscriptionEventCallbacks
from rclpy.qos import (DurabilityPolicy, qos_policy_name_from_kind, qos_profile_sensor_data,
                       QoSProfile, ReliabilityPolicy)
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, Image

from thermostereo_ros.ros.sync import LEFT_IMAGE, LEFT_INFO, RIGHT_IMAGE, RIGHT_INFO

# (stream, message type, topic relative to the node), in the synchroniser's stream names.
INPUTS = ((LEFT_IMAGE, Image, 'left/image_rect'), (RIGHT_IMAGE, Image, 'right/image_rect'),
          (LEFT_INFO, CameraInfo, 'left/camera_info'),
          (RIGHT_INFO, CameraInfo, 'right/camera_info'))

Callback = Callable[[str, Any], None]


def subscribe_inputs(node: Node, on_image: Callback, on_info: Callback,
                     on_incompatible: Callable[[str, str, int], None]) -> Dict[str, Any]:
    """Subscribe to the four inputs (sensor-data QoS, overridable); {stream: subscription}.

    on_incompatible(topic, policy, total): a publisher's QoS cannot reach the subscription.
    """
    overrides = QoSOverridingOptions.with_default_policies()
    subscriptions = {}
    for stream, kind, topic in INPUTS:
        callback = on_image if kind is Image else on_info
        subscriptions[stream] = node.create_subscription(
            kind, topic, lambda m, s=stream, cb=callback: cb(s, m), qos_profile_sensor_data,
            qos_overriding_options=overrides,
            event_callbacks=_qos_events(node, topic, on_incompatible))
    return subscriptions


def subscribe_latched_infos(node: Node, on_info: Callback) -> List[Any]:
    """Subscribe to each camera_info again, transient-local, for calibrations published once.

    Static calibrations are often published once, latched, before the node starts; the
    volatile subscriptions never see them. A volatile publisher simply does not connect to
    these, so their incompatible-QoS events are expected and silenced.
    """
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    quiet = SubscriptionEventCallbacks(incompatible_qos=lambda info: None)
    return [node.create_subscription(CameraInfo, topic, lambda m, s=stream: on_info(s, m),
                                     latched, event_callbacks=quiet)
            for stream, kind, topic in INPUTS if kind is CameraInfo]


def _qos_events(node: Node, topic: str, on_incompatible: Callable[[str, str, int], None]
                ) -> SubscriptionEventCallbacks:
    def incompatible(info: Any) -> None:
        try:
            policy = qos_policy_name_from_kind(info.last_policy_kind)
        except Exception:  # noqa: BLE001 - an unknown kind must not stop the executor
            policy = str(info.last_policy_kind)
        on_incompatible(node.resolve_topic_name(topic), policy, int(info.total_count))
    return SubscriptionEventCallbacks(incompatible_qos=incompatible)
