"""A contact sheet of a task being done: the head camera and an overview, over time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from collector.sim.catalog import load_station
from collector.sim.collect import CONTROL_HZ, HOLD_AFTER_S
from collector.sim.tasks import make_task
from collector.sim.world import SimWorld

TILE = (240, 320)  # height, width of one picture


def contact_sheet(station_name: str, task_name: str, *, seed: int, out: Path, pictures: int = 8,
                  quality: str = "high") -> Path:
    """Run the expert once and write a PNG: per moment, the overview above the head camera.

    Raises:
        SimError: unknown station/task, MuJoCo missing.
    """
    from PIL import Image, ImageDraw

    from collector.sim.collect import sim_rig

    station = load_station(station_name)
    spec = station.task(task_name)
    world = SimWorld(station.mjcf, sim_rig(station), cameras=station.cameras, imu_sensors=station.imu,
                     wrench_sensors=station.wrench)
    mujoco, model = world.mujoco, world.model
    if quality == "high":
        model.vis.quality.offsamples = 4
        model.light_castshadow[:] = 1
    try:
        task = make_task(station, spec, world, seed)
        task.setup()
        duration = task.expert_duration_s + HOLD_AFTER_S
        times = list(np.linspace(0.0, duration, max(2, pictures)))
        renderer = mujoco.Renderer(model, height=TILE[0], width=TILE[1])
        overview = mujoco.MjvCamera()
        view = station.doc.get("overview", {})
        overview.lookat[:] = view.get("lookat", model.stat.center)
        overview.distance = view.get("distance", 1.5 * model.stat.extent)
        overview.azimuth, overview.elevation = view.get("azimuth", 155.0), view.get("elevation", -30.0)
        head = station.cameras.get("head_rgb")
        tiles = []
        steps_per_control = max(1, round(1.0 / CONTROL_HZ / model.opt.timestep))
        step, start = 0, world.data.time
        while times:
            t = world.data.time - start
            if t >= times[0] - 1e-9:
                times.pop(0)
                renderer.update_scene(world.data, overview)
                top = renderer.render()
                renderer.update_scene(world.data, head)
                bottom = renderer.render()
                tile = Image.fromarray(np.concatenate([top, bottom], axis=0))
                ImageDraw.Draw(tile).text((6, 4), f"t={t:4.1f} s", fill=(255, 255, 255))
                tiles.append(np.asarray(tile))
            if step % steps_per_control == 0:
                world.command(task.targets(t))
            world.step(1)
            task.update_success(float(model.opt.timestep))
            step += 1
        renderer.close()
        columns = min(4, len(tiles))
        rows = [np.concatenate(tiles[i:i + columns] + [np.zeros_like(tiles[0])] * (columns - len(tiles[i:i + columns])),
                               axis=1) for i in range(0, len(tiles), columns)]
        sheet = Image.fromarray(np.concatenate(rows, axis=0))
        caption = Image.new("RGB", (sheet.width, 28), (20, 20, 20))
        verdict = "success" if task.succeeded else "FAILURE"
        ImageDraw.Draw(caption).text((8, 8), f"{station.name}/{spec.name} seed {seed}: {task.instruction('en')} "
                                     f"-> {verdict}", fill=(255, 255, 255))
        full = Image.new("RGB", (sheet.width, sheet.height + caption.height))
        full.paste(caption, (0, 0))
        full.paste(sheet, (0, caption.height))
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        full.save(out)
        return out
    finally:
        world.close()
