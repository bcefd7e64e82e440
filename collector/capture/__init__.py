"""Capture: recording sessions and what serves them, without ROS.

The episode lifecycle and writer thread (:mod:`.recording`), live stream health
(:mod:`.health`), the operator's session (:mod:`.operator_session`), review of
recorded episodes (:mod:`.review`), recovery after a crash (:mod:`.recovery`),
launch plans from a rig profile (:mod:`.launch_plan`) and the node processes that
run them (:mod:`.processes`). ``collector.ros`` wraps them in rclpy nodes.
"""
