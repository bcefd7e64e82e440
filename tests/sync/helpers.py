"""In-memory streams with exact ground truth, and a small rig to sync them with."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from collector.rig import Rig, parse_rig
from collector.sync.timeline import StreamTimeline

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
START_NS = 1_700_000_000_000_000_000

RIG_HEAD = """\
rig: test_rig
site: test
fps: 30
robot:
  model: test_bot
  joints:
    left_arm: [j1, j2]
  end_effectors:
    - {name: grip, type: parallel_gripper, side: left, joints: [g1]}
"""

STREAMS = {
    "cam": "{name: cam, topic: /cam, type: sensor_msgs/msg/Image, role: camera, rate_hz: 30, clock: header,"
           " qos: reliable, required: true, width: 8, height: 6, encoding: rgb8%s}",
    "joints": "{name: joints, topic: /joints, type: sensor_msgs/msg/JointState, role: joint_state, rate_hz: 100,"
              " clock: header, qos: reliable, required: true, joints: [j1, j2]%s}",
    "grip": "{name: grip, topic: /grip, type: sensor_msgs/msg/JointState, role: gripper, rate_hz: 50,"
            " clock: header, qos: reliable, required: true, joints: [g1]%s}",
    "imu": "{name: imu, topic: /imu, type: sensor_msgs/msg/Imu, role: imu, rate_hz: 200, clock: header,"
           " qos: reliable, required: false%s}",
    "cmd": "{name: cmd, topic: /cmd, type: sensor_msgs/msg/JointState, role: action, rate_hz: 50,"
           " clock: receive, qos: reliable, required: false, joints: [j1, j2]%s}",
}


def make_rig(names=("cam", "joints"), *, extra: dict[str, str] | None = None, sync: str = "",
             clocks: dict[str, str] | None = None) -> Rig:
    """A rig with the named streams of :data:`STREAMS`; ``extra[name]`` adds YAML flow keys,
    ``clocks[name]`` replaces the stream's clock."""
    extra = extra or {}
    clocks = clocks or {}
    lines = [RIG_HEAD, "streams:"]
    for name in names:
        more = extra.get(name, "")
        template = STREAMS[name]
        if name in clocks:
            template = template.replace("clock: header", f"clock: {clocks[name]}").replace(
                "clock: receive", f"clock: {clocks[name]}")
        lines.append("  - " + template % ((", " + more) if more else ""))
    if sync:
        lines.append(f"sync: {sync}")
    return parse_rig("\n".join(lines) + "\n", source="test_rig.yaml")


@dataclass
class Simulated:
    """A stream with its truth: ``true_ns`` per message (same order as the timeline)."""

    timeline: StreamTimeline
    true_ns: np.ndarray
    seq: np.ndarray


def simulate(name: str, role: str, *, rate_hz: float, seconds: float, seed: int = 0, start_ns: int = START_NS,
             phase_ns: int | None = None, offset_ns: int = 0, drift_ppm: float = 0.0, jitter_ns: float = 0.0,
             drop_rate: float = 0.0, latency_ns: int = 0, tail_ns: float = 200_000.0,
             values=None, keep=None) -> Simulated:
    """A periodic stream: capture ``true = start + phase + seq / rate``, stamps with the
    synthetic driver's fault model, receive = true + latency + exp(tail), in receive order.

    ``values(true_ns) -> dict`` gives per-message values; ``keep(true_ns) -> bool mask``
    removes messages (gaps) on top of random drops.
    """
    rng = np.random.default_rng(seed)
    period = NS_PER_S / rate_hz
    count = int(seconds * rate_hz)
    seq = np.arange(count)
    phase = int(rng.integers(0, period)) if phase_ns is None else phase_ns
    true = start_ns + phase + np.rint(seq * period).astype(np.int64)
    mask = rng.random(count) >= drop_rate
    if keep is not None:
        mask &= keep(true)
    noise = rng.standard_normal(count)
    stamp = true + offset_ns + np.rint((true - start_ns) * drift_ppm * 1e-6).astype(np.int64)
    stamp += np.rint(jitter_ns * noise).astype(np.int64)
    receive = true + latency_ns + np.rint(rng.exponential(tail_ns, count)).astype(np.int64)
    receive = np.maximum.accumulate(receive)  # in order per stream, as over reliable DDS
    true, stamp, receive, seq = true[mask], stamp[mask], receive[mask], seq[mask]
    data = values(true) if values is not None else {}
    timeline = StreamTimeline(name=name, role=role, receive_ns=receive, stamp_ns=stamp, values=data)
    return Simulated(timeline=timeline, true_ns=true, seq=seq)


def sine_joints(true_ns: np.ndarray) -> dict[str, np.ndarray]:
    """Two joints moving smoothly: position sin/cos, velocity their derivatives."""
    t = (true_ns - START_NS) / 1e9
    position = np.stack([np.sin(2 * np.pi * 0.5 * t), 0.3 * np.cos(2 * np.pi * 0.2 * t)], axis=1)
    velocity = np.stack([np.pi * np.cos(2 * np.pi * 0.5 * t), -0.12 * np.pi * np.sin(2 * np.pi * 0.2 * t)], axis=1)
    return {"position": position, "velocity": velocity, "effort": np.full_like(position, np.nan)}


def sine_joints_at(time_ns: np.ndarray) -> np.ndarray:
    return sine_joints(np.asarray(time_ns))["position"]
