"""Translate the rig profile's QoS into rclpy QoS profiles (one place, both directions)."""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from collector.bag.metadata import QosProfile

_RELIABILITY = {"reliable": ReliabilityPolicy.RELIABLE, "best_effort": ReliabilityPolicy.BEST_EFFORT}
_DURABILITY = {"volatile": DurabilityPolicy.VOLATILE, "transient_local": DurabilityPolicy.TRANSIENT_LOCAL}
_HISTORY = {"keep_last": HistoryPolicy.KEEP_LAST, "keep_all": HistoryPolicy.KEEP_ALL}


def to_rclpy(qos: QosProfile) -> QoSProfile:
    """The rclpy profile for a rig stream's :class:`QosProfile`."""
    return QoSProfile(
        reliability=_RELIABILITY[qos.reliability],
        durability=_DURABILITY[qos.durability],
        history=_HISTORY[qos.history],
        depth=qos.depth,
    )
