"""MuJoCo replicas of the collection stations: a simulated humanoid with the real rig's streams.

* :mod:`collector.sim.catalog`: stations and tasks (``sim/tasks/<station>.yaml``);
* :mod:`collector.sim.world`: the MuJoCo model bound to the rig (readings, commands, cameras);
* :mod:`collector.sim.ik`, :mod:`collector.sim.expert`: scripted experts (damped least
  squares on MuJoCo Jacobians, waypoints, grasp logic);
* :mod:`collector.sim.tasks` (and :mod:`collector.sim.tasks_sorting`): task setup,
  randomisation and success predicates, kinds in a registry;
* :mod:`collector.sim.streams`: the rig's streams made from the world (CDR bytes);
* :mod:`collector.sim.collect`, :mod:`collector.sim.runner`: lock-step collection into raw
  episodes, as recorded, in one or several processes;
* :mod:`collector.sim.view`: contact sheets;
* :mod:`collector.sim.bridge_node`: the ``sim_robot`` ROS 2 node (the only rclpy module here).

MuJoCo is imported when a world is built, never by ``import collector.sim``.
"""
