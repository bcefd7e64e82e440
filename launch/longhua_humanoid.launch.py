"""Longhua base, full-body humanoid with dexterous hands: the recorder plus the rig's camera drivers.

    ros2 launch collector longhua_humanoid.launch.py out:=/data/episodes operator:=op_03
    ros2 launch collector longhua_humanoid.launch.py source:=replay episode:=/data/episodes/<episode>
"""

from collector.ros.launch_actions import rig_launch_description


def generate_launch_description():
    return rig_launch_description("longhua_humanoid")
