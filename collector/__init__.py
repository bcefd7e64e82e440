"""collector: data collection toolkit for humanoid-robot demonstrations.

Importing the package is cheap on purpose: nothing here pulls in rclpy, torch,
mujoco or video codecs. Those are imported lazily by the modules that need them.
"""

__version__ = "0.1.0"
