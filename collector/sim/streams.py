"""Rig streams from a simulated world: one producer per stream, CDR bytes out.

The lock-step collector writes these bytes to a bag; the ROS bridge publishes the
same bytes on the rig's topics. Units are the rig's: rad, m, N, N m, kPa; depth in
mm (16UC1); images rgb8.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from collector.cdr import encode_image, encode_imu, encode_joint_state, encode_wrench
from collector.sim.catalog import Station
from collector.sim.errors import SimError
from collector.sim.world import SimWorld

PIPELINE_NS = {"camera": 2_000_000, "depth": 2_000_000, "tactile": 500_000}
DEFAULT_PIPELINE_NS = 200_000
IMU_COVARIANCE = {"orientation_covariance": np.diag([4e-4] * 3).reshape(-1),
                  "angular_velocity_covariance": np.diag([1e-5] * 3).reshape(-1),
                  "linear_acceleration_covariance": np.diag([1e-3] * 3).reshape(-1)}
TAXEL_AREA_M2 = 1e-5  # one taxel of a fingertip array


class StreamProducer:
    """Makes one rig stream's messages (CDR bytes) from the world's current state.

    ``period_ns`` / ``next_ns`` schedule it on sim time; ``delay_ns`` is its pipeline
    delay (what a lock-step episode adds to get the receive time).
    """

    def __init__(self, stream, world: SimWorld, station: Station):
        self.stream = stream
        self.world = world
        self.station = station
        self.period_ns = round(1e9 / stream.rate_hz)
        self.next_ns = 0
        self.delay_ns = PIPELINE_NS.get(stream.role, DEFAULT_PIPELINE_NS)
        self.previous_command: np.ndarray | None = None
        make = {"joint_state": self._joints, "gripper": self._joints, "hand": self._joints, "action": self._action,
                "imu": self._imu, "wrench": self._wrench, "camera": self._image, "depth": self._image,
                "tactile": self._tactile}
        if stream.role not in make:
            raise SimError(f"stream {stream.name!r}: role {stream.role!r} has no simulated source")
        self.make: Callable[[int], bytes] = make[stream.role]

    def _joints(self, stamp_ns: int) -> bytes:
        names = self.stream.joints
        world = self.world
        return encode_joint_state(stamp_ns=stamp_ns, frame_id=self.stream.frame_id, names=names,
                                  position=world.positions(names), velocity=world.velocities(names),
                                  effort=world.efforts(names))

    def _action(self, stamp_ns: int) -> bytes:
        names = self.stream.joints
        command = self.world.commanded(names)
        previous = command if self.previous_command is None else self.previous_command
        velocity = (command - previous) * self.stream.rate_hz
        self.previous_command = command
        return encode_joint_state(stamp_ns=stamp_ns, frame_id=self.stream.frame_id, names=names,
                                  position=command, velocity=velocity, effort=())

    def _imu(self, stamp_ns: int) -> bytes:
        orientation, gyro, accel = self.world.imu_reading()
        return encode_imu(stamp_ns=stamp_ns, frame_id=self.stream.frame_id, orientation=orientation,
                          angular_velocity=gyro, linear_acceleration=accel, **IMU_COVARIANCE)

    def _wrench(self, stamp_ns: int) -> bytes:
        force, torque = self.world.wrench_reading(self.stream.name)
        return encode_wrench(stamp_ns=stamp_ns, frame_id=self.stream.frame_id, force=force, torque=torque)

    def _image(self, stamp_ns: int) -> bytes:
        pixels = self.world.render(self.stream)
        return encode_image(stamp_ns=stamp_ns, frame_id=self.stream.frame_id, height=pixels.shape[0],
                            width=pixels.shape[1], encoding=self.stream.encoding, data=pixels)

    def _tactile(self, stamp_ns: int) -> bytes:
        sensors = self.station.tactile.get(self.stream.name)
        if not sensors:
            raise SimError(f"{self.station.source}: no tactile sensors for stream {self.stream.name!r}")
        height, width = self.stream.height, self.stream.width
        forces = np.array([self.world.touch(name) for name in sensors])[:height]
        # a fingertip's normal force spread evenly over its row of taxels, as pressure (kPa)
        pressure = np.repeat((forces / (width * TAXEL_AREA_M2) / 1000.0)[:, None], width, axis=1)
        pixels = np.zeros((height, width), np.float32)
        pixels[: len(pressure)] = pressure
        return encode_image(stamp_ns=stamp_ns, frame_id=self.stream.frame_id, height=height, width=width,
                            encoding=self.stream.encoding, data=pixels)
