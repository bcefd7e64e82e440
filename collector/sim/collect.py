"""Lock-step collection: step physics, render, and write raw episodes in process.

One episode: the task sets the station up from the seed (randomised), the scripted
expert drives the robot, and every rig stream is produced at its nominal rate from
the state at that sim time: joint states, grippers/hands, IMU, wrench, tactile and
the commanded action from the physics, camera and depth frames rendered from it.
Messages are serialised with :mod:`collector.cdr` and written by the same bag
writer and ``episode.json`` the recorder uses, so sync and export treat a sim
episode exactly like a recorded one.

Times: ``header.stamp`` = ``start_ns`` + the sim time of the state the message was
made from (for images: the state they were rendered from); the MCAP log time
(receive time) adds a fixed pipeline delay per role
(:data:`collector.sim.streams.PIPELINE_NS`). Given
the seed and ``start_ns`` an episode is byte-for-byte reproducible.

``episode.json`` ``extra.sim`` keeps what replays it: station, task, seed, every
drawn randomisation value, the instruction in both languages, the initial
``qpos`` after setup, and the success predicate's verdict (also the episode's
``success`` label: failures are labelled, never dropped).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from collector.bag.writer import BagWriter
from collector.episode import new_episode_dir, open_episode, write_episode_info
from collector.rig import Rig, load_rig, parse_rig
from collector.sim.catalog import Station, load_station
from collector.sim.errors import SimError
from collector.sim.streams import StreamProducer
from collector.sim.tasks import make_task
from collector.sim.world import SimWorld

CONTROL_HZ = 100
HOLD_AFTER_S = 1.0  # keep recording after the expert's last waypoint: the success must hold


@dataclass(frozen=True)
class SimEpisode:
    """A written sim episode."""

    path: Path
    success: bool
    instruction: str
    frames: int  # head-camera frames
    seconds: float  # sim time recorded


def parse_camera_size(text: str | None) -> tuple[int, int] | None:
    """``"320x240"`` -> (320, 240); None stays None.

    Raises:
        SimError: not ``WIDTHxHEIGHT`` with even sizes from 16x16 up to 640x480.
    """
    if text is None or text == "":
        return None
    try:
        width, height = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise SimError(f"camera size {text!r} is not WIDTHxHEIGHT, e.g. 320x240") from None
    if not (16 <= width <= 640 and 16 <= height <= 480) or width % 2 or height % 2:
        raise SimError(f"camera size {text!r}: even sizes from 16x16 up to 640x480")
    return width, height


def sim_rig(station: Station, camera_size: tuple[int, int] | None = None) -> Rig:
    """The station's rig profile, with every camera and depth stream at ``camera_size``
    (width, height) when given (the stored copy in the episode says so)."""
    rig = load_rig(station.rig)
    if camera_size is None:
        return rig
    width, height = camera_size
    doc = yaml.safe_load(rig.text)
    for stream in doc["streams"]:
        if stream["role"] in ("camera", "depth"):
            stream["width"], stream["height"] = int(width), int(height)
    return parse_rig(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True),
                     source=f"{station.rig}@{width}x{height}")


def collect_episode(station: Station | str, task_name: str, *, out: Path, seed: int = 0,
                    start_ns: int | None = None, camera_size: tuple[int, int] | None = None,
                    operator: str = "sim_expert", language: str = "en",
                    progress: Callable[[float, float], None] | None = None) -> SimEpisode:
    """Simulate and write one episode into a new folder under ``out``.

    Args:
        station: a :class:`Station` or its name; task_name: one of its tasks.
        out: folder of episodes (created). seed: episode seed (int >= 0).
        start_ns: wall-clock origin of the stamps (default: now).
        camera_size: (width, height) for every camera and depth stream (default: the rig's).
        operator: stored as the operator id. language: ``en`` or ``zh``: the instruction
            that becomes the episode's task (both are kept in ``extra.sim``).
        progress: ``progress(sim_seconds_done, sim_seconds_total)``.

    Raises:
        SimError: an unknown station/task/language, a bad seed, MuJoCo missing.
        BagError: the bag cannot be written.
    """
    station = load_station(station) if isinstance(station, str) else station
    spec = station.task(task_name)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SimError(f"seed={seed!r} is not an integer >= 0")
    if language not in spec.instructions:
        raise SimError(f"language {language!r} is not one of {', '.join(spec.instructions)}")
    rig = sim_rig(station, camera_size)
    world = SimWorld(station.mjcf, rig, cameras=station.cameras, imu_sensors=station.imu,
                     wrench_sensors=station.wrench)
    try:
        task = make_task(station, spec, world, seed)
        task.setup()
        instructions = {lang: task.instruction(lang) for lang in spec.instructions}
        initial_qpos = world.data.qpos.copy()
        sim_start_ns = world.time_ns
        duration_s = task.expert_duration_s + HOLD_AFTER_S
        start_ns = time.time_ns() if start_ns is None else int(start_ns)
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        path = new_episode_dir(out, rig.rig, now_ns=start_ns)
        streams = tuple(rig.streams)
        producers = [StreamProducer(s, world, station) for s in streams]
        with BagWriter(path) as writer:
            channels, info = open_episode(writer, rig, streams, task=instructions[language], operator=operator,
                                          start_ns=start_ns)
            stats = [info.streams[s.name] for s in streams]
            write_episode_info(path, info)
            try:
                frames = _run(world, task, producers, channels, stats, writer, start_ns, sim_start_ns,
                              duration_s, progress)
            except BaseException as err:
                info.status, info.end_reason = "interrupted", "error"
                info.notes.append(f"simulation stopped by {type(err).__name__}: {err}")
                write_episode_info(path, info)
                raise
        info.success = bool(task.succeeded)
        info.status, info.end_reason = "complete", "duration"
        info.stop_ns = start_ns + round(duration_s * 1e9) + max(p.delay_ns for p in producers) + 1
        info.notes.append("simulated episode written in lock-step (collector.sim.collect)")
        info.extra["sim"] = {
            "station": station.name, "task": spec.name, "kind": spec.kind, "seed": seed, "language": language,
            "instructions": instructions, "drawn": task.drawn, "success": bool(task.succeeded),
            "mjcf": station.mjcf.name, "timestep_s": float(world.model.opt.timestep),
            "control_hz": CONTROL_HZ, "expert_duration_s": round(task.expert_duration_s, 6),
            "initial_qpos": [round(float(v), 9) for v in initial_qpos],
        }
        write_episode_info(path, info)
        return SimEpisode(path=path, success=bool(task.succeeded), instruction=instructions[language],
                          frames=frames, seconds=duration_s)
    finally:
        world.close()


def _run(world: SimWorld, task, producers: list[StreamProducer], channels: list[int], stats, writer, start_ns: int,
         sim_start_ns: int, duration_s: float, progress) -> int:
    """The lock-step loop; returns the number of frames of the first camera stream."""
    dt_ns = world.timestep_ns
    dt_s = dt_ns / 1e9
    control_every = max(1, round(1e9 / CONTROL_HZ / dt_ns))
    end_ns = round(duration_s * 1e9)
    pending: list[tuple[int, int, int, bytes]] = []  # (receive_ns, order, producer, data)
    order = 0
    frames = 0
    step = 0
    camera = next((i for i, p in enumerate(producers) if p.stream.role == "camera"), None)
    world.command(task.targets(0.0))
    t_ns = 0
    while t_ns <= end_ns:
        # messages of the state at t_ns
        stamp_ns = start_ns + t_ns
        for index, producer in enumerate(producers):
            if producer.next_ns <= t_ns:
                producer.next_ns += producer.period_ns
                data = producer.make(stamp_ns)
                heapq.heappush(pending, (stamp_ns + producer.delay_ns, order, index, data))
                order += 1
                frames += index == camera
        while pending and pending[0][0] <= stamp_ns:
            _deliver(heapq.heappop(pending), producers, channels, stats, writer)
        # advance: control at CONTROL_HZ, physics one step
        step += 1
        if step % control_every == 0:
            world.command(task.targets(t_ns / 1e9))
        world.step(1)
        task.update_success(dt_s)
        t_ns = world.time_ns - sim_start_ns
        if progress is not None and step % 500 == 0:
            progress(t_ns / 1e9, duration_s)
    while pending:
        _deliver(heapq.heappop(pending), producers, channels, stats, writer)
    return frames


def _deliver(item, producers, channels, stats, writer) -> None:
    receive_ns, _, index, data = item
    producer = producers[index]
    stamp_ns = receive_ns - producer.delay_ns
    writer.write(channels[index], data, receive_ns, stamp_ns)
    stats[index].add(receive_ns, len(data), stamp_ns)
