"""MuJoCo replicas of the collection stations: a simulated humanoid with the real rig's streams.

* :mod:`collector.sim.catalog`: stations and tasks (``sim/tasks/<station>.yaml``);
* :mod:`collector.sim.world`: the MuJoCo model bound to the rig (readings, commands, cameras);
* :mod:`collector.sim.ik`, :mod:`collector.sim.expert`: scripted experts (damped least
  squares on MuJoCo Jacobians, waypoints, grasp logic);
* :mod:`collector.sim.tasks`: task setup, randomisation and success predicates (a registry);
* :mod:`collector.sim.collect`: lock-step collection into raw episodes, as recorded.

MuJoCo is imported when a world is built, never by ``import collector.sim``.
"""
