"""What the station tests share: a world for a station, and one expert run judged like an episode."""

from __future__ import annotations

from collector.rig import load_rig
from collector.sim.tasks import make_task
from collector.sim.world import SimWorld

START_NS = 1_780_000_000_000_000_000


def world_for(station) -> SimWorld:
    return SimWorld(station.mjcf, load_rig(station.rig), cameras=station.cameras, imu_sensors=station.imu,
                    wrench_sensors=station.wrench)


def run_expert(station, task_name: str, seed: int, *, watch=None):
    """Run the expert (100 Hz control) and 1 s more; ``watch(task, t)`` is called every 10 ms.
    Returns (succeeded, task)."""
    world = world_for(station)
    task = make_task(station, station.task(task_name), world, seed)
    task.setup()
    dt = world.model.opt.timestep
    steps_per_control = round(0.01 / dt)
    for step in range(round((task.expert_duration_s + 1.0) / dt)):
        if step % steps_per_control == 0:
            world.command(task.targets(step * dt))
            if watch is not None:
                watch(task, step * dt)
        world.step(1)
        task.update_success(dt)
    return task.succeeded, task
