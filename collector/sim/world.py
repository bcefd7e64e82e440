"""A station replica running in MuJoCo, seen through the rig profile's eyes.

:class:`SimWorld` loads a station's MJCF (``sim/stations/<station>.xml``), binds
every stream of the rig to what the model has (joints by their rig names, grippers
to the tendon of the same name, cameras, the IMU site, the wrist force-torque
sites) and gives per-stream readings in the units the rig's messages use. It steps
physics and renders cameras offscreen (``MUJOCO_GL=egl`` when no display is set).

No ROS here: the lock-step collector (:mod:`collector.sim.collect`) and the ROS
bridge node use the same readings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from collector.rig import Rig, Stream
from collector.sim.errors import SimError

DEPTH_UNIT_M = 0.001  # 16UC1 depth in mm
DEPTH_MAX_MM = 65535


def _mujoco():
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless offscreen rendering (GLFW needs a display)
    try:
        import mujoco
    except ImportError as err:
        raise SimError("the simulator needs MuJoCo (pip install mujoco)") from err
    return mujoco


@dataclass(frozen=True)
class JointBinding:
    """How one rig joint is read and commanded: a hinge/slide joint or a fixed tendon."""

    name: str
    qpos: int | None  # qpos address (joints)
    dof: int | None  # dof address (joints)
    tendon: int | None  # tendon id (grippers: opening width)
    actuator: int | None


class SimWorld:
    """One MuJoCo model and its data, bound to a rig.

    Args:
        mjcf: path of the station MJCF.
        rig: the rig profile whose streams the world produces.
        cameras: rig camera/depth stream -> MJCF camera name.
        imu_sensors: the three sensor names (orientation, gyro, accelerometer).
        wrench_sensors: rig wrench stream -> (force sensor, torque sensor).

    Raises:
        SimError: MuJoCo missing, a model that does not load, or a rig joint, camera
            or sensor the model does not have (named).
    """

    def __init__(self, mjcf: Path, rig: Rig, *, cameras: dict[str, str], imu_sensors: tuple[str, str, str] | None,
                 wrench_sensors: dict[str, tuple[str, str]]):
        mujoco = self.mujoco = _mujoco()
        try:
            self.model = mujoco.MjModel.from_xml_path(str(mjcf))
        except ValueError as err:
            raise SimError(f"{mjcf}: {err}") from err
        self.data = mujoco.MjData(self.model)
        self.rig = rig
        self.mjcf = Path(mjcf)
        self.joints = {j: self._bind(j) for j in rig.robot.all_joints}
        self.cameras = {}
        for stream, camera in cameras.items():
            camera_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
            if camera_id < 0:
                raise SimError(f"{mjcf}: no camera {camera!r} for stream {stream!r}")
            self.cameras[stream] = camera_id
        self.imu = tuple(self._sensor(name) for name in imu_sensors) if imu_sensors else None
        self.wrench = {s: (self._sensor(f), self._sensor(t)) for s, (f, t) in wrench_sensors.items()}
        self._renderers: dict[tuple[int, int], object] = {}
        self._depth_renderers: dict[tuple[int, int], object] = {}
        self.home = self.model.qpos0.copy()

    # -- binding -----------------------------------------------------------------------

    def _bind(self, name: str) -> JointBinding:
        mujoco, model = self.mujoco, self.model
        actuator = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, name)
        joint = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
        if joint >= 0:
            return JointBinding(name, int(model.jnt_qposadr[joint]), int(model.jnt_dofadr[joint]), None,
                                actuator if actuator >= 0 else None)
        tendon = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_TENDON, name)
        if tendon >= 0:
            return JointBinding(name, None, None, tendon, actuator if actuator >= 0 else None)
        raise SimError(f"{self.mjcf}: rig joint {name!r} is neither a joint nor a tendon of the model")

    def _sensor(self, name: str) -> slice:
        mujoco = self.mujoco
        sensor = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SENSOR, name)
        if sensor < 0:
            raise SimError(f"{self.mjcf}: no sensor {name!r}")
        start = int(self.model.sensor_adr[sensor])
        return slice(start, start + int(self.model.sensor_dim[sensor]))

    def joint_limits(self, name: str) -> tuple[float, float]:
        """The model's range of rig joint ``name`` (tendon range for grippers)."""
        binding = self.joints[name]
        if binding.tendon is not None:
            return tuple(float(v) for v in self.model.tendon_range[binding.tendon])
        joint = self.mujoco.mj_name2id(self.model, self.mujoco.mjtObj.mjOBJ_JOINT, name)
        return tuple(float(v) for v in self.model.jnt_range[joint])

    # -- time ----------------------------------------------------------------------------

    @property
    def timestep_ns(self) -> int:
        return round(float(self.model.opt.timestep) * 1e9)

    @property
    def time_ns(self) -> int:
        """Sim time since reset (int ns)."""
        return round(float(self.data.time) * 1e9)

    def reset(self) -> None:
        self.mujoco.mj_resetData(self.model, self.data)
        self.data.ctrl[:] = 0
        self.mujoco.mj_forward(self.model, self.data)

    def forward(self) -> None:
        self.mujoco.mj_forward(self.model, self.data)

    def step(self, steps: int = 1) -> None:
        self.mujoco.mj_step(self.model, self.data, nstep=steps)

    # -- state of rig joints -------------------------------------------------------------

    def positions(self, names) -> np.ndarray:
        """Positions of rig joints (rad, m; grippers: opening width in m)."""
        data = self.data
        out = np.empty(len(names))
        for i, name in enumerate(names):
            b = self.joints[name]
            out[i] = data.ten_length[b.tendon] if b.tendon is not None else data.qpos[b.qpos]
        return out

    def velocities(self, names) -> np.ndarray:
        data = self.data
        out = np.empty(len(names))
        for i, name in enumerate(names):
            b = self.joints[name]
            out[i] = data.ten_velocity[b.tendon] if b.tendon is not None else data.qvel[b.dof]
        return out

    def efforts(self, names) -> np.ndarray:
        """Actuator forces (N m, N); 0 for unactuated joints."""
        data = self.data
        return np.array([data.actuator_force[self.joints[n].actuator] if self.joints[n].actuator is not None
                         else 0.0 for n in names])

    def command(self, targets: dict[str, float]) -> None:
        """Set position targets of rig joints (clipped to the actuators' ranges)."""
        model, data = self.model, self.data
        for name, value in targets.items():
            actuator = self.joints[name].actuator
            if actuator is None:
                raise SimError(f"rig joint {name!r} has no actuator in {self.mjcf.name}")
            low, high = model.actuator_ctrlrange[actuator]
            data.ctrl[actuator] = min(max(float(value), low), high)

    def commanded(self, names) -> np.ndarray:
        """The current position targets of rig joints."""
        return np.array([self.data.ctrl[self.joints[n].actuator] for n in names])

    def set_positions(self, values: dict[str, float]) -> None:
        """Put rig joints (hinges and slides only) at ``values`` and hold them there."""
        for name, value in values.items():
            b = self.joints[name]
            if b.qpos is not None:
                self.data.qpos[b.qpos] = value
        self.command({n: v for n, v in values.items() if self.joints[n].actuator is not None})
        self.forward()

    # -- sensors -------------------------------------------------------------------------

    def imu_reading(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(orientation x, y, z, w; angular velocity rad/s; linear acceleration m/s^2)."""
        if self.imu is None:
            raise SimError(f"{self.mjcf.name} has no IMU sensors")
        quat_wxyz = self.data.sensordata[self.imu[0]]
        return (np.array([quat_wxyz[1], quat_wxyz[2], quat_wxyz[3], quat_wxyz[0]]),
                self.data.sensordata[self.imu[1]].copy(), self.data.sensordata[self.imu[2]].copy())

    def wrench_reading(self, stream: str) -> tuple[np.ndarray, np.ndarray]:
        force, torque = self.wrench[stream]
        return self.data.sensordata[force].copy(), self.data.sensordata[torque].copy()

    def touch(self, sensor: str) -> float:
        """A touch sensor's normal force (N)."""
        return float(self.data.sensordata[self._sensor(sensor)][0])

    # -- cameras -------------------------------------------------------------------------

    def _renderer(self, width: int, height: int, depth: bool):
        pool = self._depth_renderers if depth else self._renderers
        key = (width, height)
        if key not in pool:
            if width > self.model.vis.global_.offwidth or height > self.model.vis.global_.offheight:
                raise SimError(f"{self.mjcf.name}: {width}x{height} is larger than the offscreen buffer "
                               f"{self.model.vis.global_.offwidth}x{self.model.vis.global_.offheight}")
            renderer = self.mujoco.Renderer(self.model, height=height, width=width)
            if depth:
                renderer.enable_depth_rendering()
            pool[key] = renderer
        return pool[key]

    def render(self, stream: Stream) -> np.ndarray:
        """The current image of a camera or depth stream at the stream's size:
        ``(H, W, 3)`` uint8 RGB, or ``(H, W)`` uint16 depth in mm (0: nothing within range)."""
        camera = self.cameras[stream.name]
        depth = stream.role == "depth"
        renderer = self._renderer(stream.width, stream.height, depth)
        renderer.update_scene(self.data, camera=camera)
        image = renderer.render()
        if not depth:
            return image
        millimetres = np.round(image / DEPTH_UNIT_M)
        millimetres[(image <= 0) | (image >= self.model.vis.map.zfar * self.model.stat.extent)] = 0
        return np.clip(millimetres, 0, DEPTH_MAX_MM).astype(np.uint16)

    def close(self) -> None:
        for renderer in (*self._renderers.values(), *self._depth_renderers.values()):
            renderer.close()
        self._renderers.clear()
        self._depth_renderers.clear()
