"""IMU, wrist wrench and tactile content."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from collector.drivers.synthetic.signals import _harmonics, _rng
from collector.rig import Stream

GRAVITY = 9.80665  # m/s^2


class ImuSample(NamedTuple):
    """Orientation quaternion (x, y, z, w), angular velocity (rad/s), linear acceleration (m/s^2)."""

    orientation: tuple[float, float, float, float]
    angular_velocity: tuple[float, float, float]
    linear_acceleration: tuple[float, float, float]


class ImuSource:
    """A torso swaying about a fixed, slightly tilted axis; the IMU sees gravity only."""

    def __init__(self, stream: Stream, seed: int = 0):
        self.stream = stream
        rng = _rng(seed, stream.name)
        axis = np.array([rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3), 1.0])
        self.axis = tuple(float(v) for v in axis / np.linalg.norm(axis))
        self._angle = _harmonics(rng, [0.0], [[0.25, 0.06]], 20, 90)

    def sample(self, true_ns: int, seq: int = 0) -> ImuSample:
        """The IMU reading at capture time ``true_ns``."""
        value, rate, _ = self._angle.at(true_ns)
        angle, rate = float(value[0]), float(rate[0])
        ux, uy, uz = self.axis
        half_sin = math.sin(angle / 2)
        # specific force = R^T (0, 0, g): Rodrigues rotation of g by -angle about the axis
        cos, sin = math.cos(angle), math.sin(angle)
        along = uz * GRAVITY * (1 - cos)
        return ImuSample(
            (ux * half_sin, uy * half_sin, uz * half_sin, math.cos(angle / 2)),
            (ux * rate, uy * rate, uz * rate),
            (-uy * GRAVITY * sin + ux * along, ux * GRAVITY * sin + uy * along, GRAVITY * cos + uz * along),
        )


class WrenchSample(NamedTuple):
    """Force (N) and torque (Nm) in the sensor frame."""

    force: np.ndarray
    torque: np.ndarray


class WrenchSource:
    """A wrist force-torque sensor: tool weight plus smooth contact forces."""

    def __init__(self, stream: Stream, seed: int = 0):
        self.stream = stream
        rng = _rng(seed, stream.name)
        center = [0.0, 0.0, -rng.uniform(3.0, 8.0), 0.0, 0.0, 0.0]
        amplitude = np.concatenate([rng.uniform(1.0, 4.0, (3, 2)), rng.uniform(0.05, 0.4, (3, 2))])
        self._signal = _harmonics(rng, center, amplitude, 30, 300)

    def sample(self, true_ns: int, seq: int = 0) -> WrenchSample:
        """The wrench at capture time ``true_ns``."""
        value = self._signal.at(true_ns)[0]
        return WrenchSample(value[:3], value[3:])


class TactileSource:
    """A ``height x width`` taxel grid (32FC1, kPa) with two moving pressure blobs."""

    BLOBS = 2

    def __init__(self, stream: Stream, seed: int = 0):
        self.stream = stream
        self.shape = (stream.height, stream.width)
        rng = _rng(seed, stream.name)
        height, width = self.shape
        n = self.BLOBS
        centre = [(width - 1) / 2] * n + [(height - 1) / 2] * n + [40.0] * n
        amplitude = [[0.4 * (width - 1), 0.1 * (width - 1)]] * n + [[0.4 * (height - 1), 0.1 * (height - 1)]] * n
        amplitude += [[20.0, 5.0]] * n
        self._motion = _harmonics(rng, centre, amplitude, 60, 300)
        self._x = np.arange(width, dtype=float)
        self._y = np.arange(height, dtype=float)
        self._inv_two_sigma2 = 1.0 / (2 * max(0.8, min(height, width) / 4) ** 2)

    def render(self, true_ns: int, seq: int = 0, out: np.ndarray | None = None) -> np.ndarray:
        """Pressures (kPa, float32, ``shape``) at ``true_ns``, written into ``out`` if given."""
        value = self._motion.at(true_ns)[0]
        n = self.BLOBS
        cx, cy, pressure = value[:n], value[n : 2 * n], value[2 * n :]
        gx = np.exp(-((self._x - cx[:, None]) ** 2) * self._inv_two_sigma2)
        gy = np.exp(-((self._y - cy[:, None]) ** 2) * self._inv_two_sigma2) * pressure[:, None]
        if out is None:
            out = np.empty(self.shape, dtype=np.float32)
        out[...] = gy.T @ gx
        return out
