"""Simulated collection: the MuJoCo replica of a station publishes the rig's topics, the recorder records.

    ros2 launch collector sim_collection.launch.py scene:=baoan_assembly sim_task:=part_to_bin seed:=3
The rig is the one the scene replicates (``rig:=`` overrides it).
"""

from collector.ros.launch_actions import rig_launch_description
from collector.sim.catalog import load_station


def generate_launch_description():
    return rig_launch_description("", scene_rig=lambda scene: load_station(scene).rig, source="sim",
                                  scene="baoan_assembly")
