"""ROS 2 driver nodes: the synthetic humanoid, cameras, replay.

Each driver keeps its hardware-free logic (content, scheduling, fault models) in a
module without rclpy, next to a thin ``*_node.py`` that publishes it; only the node
modules import rclpy.
"""
