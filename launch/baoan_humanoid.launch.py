"""Bao'an base, upper-body humanoid: the recorder plus the rig's camera drivers.

    ros2 launch collector baoan_humanoid.launch.py out:=/data/episodes operator:=op_17
    ros2 launch collector baoan_humanoid.launch.py source:=synthetic   # no hardware
"""

from collector.ros.launch_actions import rig_launch_description


def generate_launch_description():
    return rig_launch_description("baoan_humanoid")
