"""ROS message classes by type name (``sensor_msgs/msg/Image``), for raw subscriptions and publishers."""

from __future__ import annotations

import importlib

from collector.errors import CollectorError


def message_class(msgtype: str):
    """Import the Python class of ``pkg/msg/Type``.

    Raises:
        CollectorError: the message package is not installed (or has no such type).
    """
    package, _, name = msgtype.split("/")
    try:
        return getattr(importlib.import_module(f"{package}.msg"), name)
    except (ImportError, AttributeError) as err:
        raise CollectorError(f"message type {msgtype!r} is not installed ({err})") from err
