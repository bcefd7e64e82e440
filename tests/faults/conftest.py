"""Faults injected for real: the real-DDS fixtures of tests/ros (own ROS domain, localhost only)."""

from tests.ros.conftest import client, nodes, ros_context  # noqa: F401
