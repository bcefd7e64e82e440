"""The one mapping from a rig and a sync result to named per-frame features.

Every writer uses it, so every format names the same data the same way. Keys come
from the rig's stream and joint names, never from ROS topics:

=====================================  ========  =============  ===================================
key                                    dtype     shape          what
=====================================  ========  =============  ===================================
``observation.state``                  float32   (n,)           joint positions: body joints of the
                                                                joint_state streams in robot order,
                                                                then gripper/hand joints
``action``                             float32   (m,)           the action stream(s)' positions
``observation.velocity``               float32   (n,)           velocities of the state joints
``observation.effort``                 float32   (n,)           efforts of the state joints
``observation.imu.orientation``        float32   (4,)           x, y, z, w (one IMU; with several
``observation.imu.angular_velocity``   float32   (3,)           IMUs ``observation.imu.<stream>.*``)
``observation.imu.linear_acceleration`` float32  (3,)
``observation.wrench.<stream>``        float32   (6,)           force xyz (N), torque xyz (N m)
``observation.tactile.<stream>``       float32   (H*W,)         pressure (kPa), row-major taxels
``observation.images.<stream>``        uint8     (H, W, 3)      RGB camera frames (video)
``observation.depth.<stream>``         uint16    (H, W)         16UC1 depth (mm); 32FC1: float32 (m)
``time.<stream>.source_s``             float64   (1,)           source time used, s from the
                                                                episode origin (NaN: no sample)
``time.<stream>.error_ms``             float32   (1,)           alignment error source - frame (ms)
``time.<stream>.valid``                bool      (1,)           optional streams (``required: false``)
                                                                only: the stream's frame was valid
=====================================  ========  =============  ===================================

Numeric values are sync's resampled values: NaN where the stream's frame is invalid.
:func:`frame_table` gives every non-image feature as a (K, ...) array; images come
from :mod:`collector.export.frames`.

**Optional streams.** A stream the rig marks ``required: false`` gets a validity
column ``time.<stream>.valid``, true where its sync alignment was valid on that frame.
In an episode where such a stream published nothing (an IMU not plugged in), its
values and images are zeros and its validity column is false throughout; its
``time.<stream>.*`` columns are NaN (no sample). Statistics of the features read from
that stream alone count only its valid frames (:attr:`FeaturePlan.validity`). An
export can leave such a stream out entirely (``leave_out``: when no episode has it,
:mod:`collector.export.presence`), unless its joints are part of the state or action.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from collector.export.errors import ExportError
from collector.rig import Rig

# Feature kinds; IMAGE_KINDS are fetched from the bag frame by frame, the rest are in frame_table.
JOINT_KINDS = ("state", "action", "velocity", "effort")
IMAGE_KINDS = ("image", "depth")
KINDS = JOINT_KINDS + ("imu", "wrench", "tactile") + IMAGE_KINDS + ("time", "valid")

STATE_ROLES = ("joint_state", "gripper", "hand")  # streams whose positions make observation.state
IMU_FIELDS = {"orientation": ("x", "y", "z", "w"), "angular_velocity": ("x", "y", "z"),
              "linear_acceleration": ("x", "y", "z")}
WRENCH_NAMES = ("force_x", "force_y", "force_z", "torque_x", "torque_y", "torque_z")
DEPTH_DTYPES = {"16UC1": "uint16", "32FC1": "float32"}
NS_PER_S = 1e9
NS_PER_MS = 1e6
NO_TIME = np.iinfo(np.int64).min  # collector.sync.policies.NO_TIME: the stream had no sample


def validity_key(stream: str) -> str:
    """The key of optional stream ``stream``'s validity column."""
    return f"time.{stream}.valid"


@dataclass(frozen=True, kw_only=True)
class Feature:
    """One named per-frame feature.

    Attributes:
        key: dotted name, e.g. ``observation.state``; stream and joint names only.
        kind: one of :data:`KINDS`.
        dtype: numpy dtype name of one frame's value.
        shape: shape of one frame's value.
        names: a name per element of the last axis (joints, xyzw, ...); for images
            the axis names (``height``, ``width``, ``channels``); None for scalars.
        streams: the rig streams it is read from.
        fields: the sync value keys read (``position``, ``force``, ...), for time
            features ``source_time`` / ``alignment_error``, for validity columns ``valid``.
        columns: joint kinds: ``(stream, joint)`` per column, in column order.
        grid_shape: tactile: the sensor's (H, W) before flattening; else None.
    """

    key: str
    kind: str
    dtype: str
    shape: tuple[int, ...]
    names: tuple[str, ...] | None
    streams: tuple[str, ...]
    fields: tuple[str, ...] = ()
    columns: tuple[tuple[str, str], ...] = ()
    grid_shape: tuple[int, ...] | None = None

    @property
    def is_image(self) -> bool:
        """True for camera and depth frames (fetched from the bag, not in :func:`frame_table`)."""
        return self.kind in IMAGE_KINDS

    def to_dict(self) -> dict:
        """``{"dtype", "shape", "names"}`` as LeRobot's ``info.json`` lists features."""
        return {"dtype": self.dtype, "shape": list(self.shape),
                "names": None if self.names is None else list(self.names)}


@dataclass(frozen=True, kw_only=True)
class FeaturePlan:
    """The features of one rig, in a fixed order (state, action, velocity, effort, IMU,
    wrench, tactile, images, depth, time). Index by key: ``plan["action"]``."""

    rig: str
    fps: float
    features: tuple[Feature, ...]

    def __post_init__(self) -> None:
        keys = [f.key for f in self.features]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ExportError(f"feature plan of rig {self.rig!r}: duplicate feature key {duplicates[0]!r}")

    def __iter__(self) -> Iterator[Feature]:
        return iter(self.features)

    def __len__(self) -> int:
        return len(self.features)

    def __contains__(self, key: object) -> bool:
        return any(f.key == key for f in self.features)

    def __getitem__(self, key: str) -> Feature:
        for feature in self.features:
            if feature.key == key:
                return feature
        raise KeyError(f"no feature {key!r} in the plan of rig {self.rig!r} (features: {', '.join(self.keys())})")

    def get(self, key: str) -> Feature | None:
        return next((f for f in self.features if f.key == key), None)

    def keys(self) -> list[str]:
        return [f.key for f in self.features]

    def of_kind(self, *kinds: str) -> tuple[Feature, ...]:
        return tuple(f for f in self.features if f.kind in kinds)

    @property
    def images(self) -> tuple[Feature, ...]:
        """Camera and depth features."""
        return tuple(f for f in self.features if f.is_image)

    @property
    def numeric(self) -> tuple[Feature, ...]:
        """Every feature :func:`frame_table` fills."""
        return tuple(f for f in self.features if not f.is_image)

    @property
    def streams(self) -> tuple[str, ...]:
        """Every stream some feature reads, in plan order."""
        seen: dict[str, None] = {}
        for feature in self.features:
            seen.update(dict.fromkeys(feature.streams))
        return tuple(seen)

    @property
    def validity(self) -> dict[str, str]:
        """Feature key -> the validity column that says on which frames it holds data: every
        feature read from one optional stream alone (not its validity column itself, not the
        joint features). Statistics count only the frames where that column is true."""
        gated = {}
        for feature in self.features:
            if feature.kind in JOINT_KINDS + ("valid",) or len(feature.streams) != 1:
                continue
            key = validity_key(feature.streams[0])
            if key in self:
                gated[feature.key] = key
        return gated

    def to_dict(self) -> dict[str, dict]:
        return {f.key: f.to_dict() for f in self.features}


# ----------------------------------------------------------------------------- the plan


def _joint_columns(rig: Rig, roles: Iterable[str], order: Iterable[str] | None) -> tuple[tuple[str, str], ...]:
    """``(stream, joint)`` pairs: the first stream of ``roles`` (rig order) listing each joint.

    ``order``: joint order (None: the streams' own order, streams in rig order).
    """
    owner: dict[str, str] = {}
    for stream in rig.streams:
        if stream.role in roles:
            for joint in stream.joints or ():
                owner.setdefault(joint, stream.name)
    joints = list(owner) if order is None else [j for j in order if j in owner]
    return tuple((owner[j], j) for j in joints)


def _joint_feature(key: str, kind: str, field: str, columns: tuple[tuple[str, str], ...]) -> Feature:
    streams = tuple(dict.fromkeys(stream for stream, _ in columns))
    return Feature(key=key, kind=kind, dtype="float32", shape=(len(columns),), names=tuple(j for _, j in columns),
                   streams=streams, fields=(field,), columns=columns)


def optional_streams(rig: Rig) -> tuple[str, ...]:
    """The streams an export may leave out: ``required: false`` and not part of the state
    or action (their features are theirs alone), in rig order."""
    return tuple(s.name for s in rig.streams if not s.required and s.role not in STATE_ROLES + ("action",))


def feature_plan(rig: Rig, *, streams: Iterable[str] | None = None, leave_out: Iterable[str] = ()) -> FeaturePlan:
    """The features an export of ``rig``'s episodes has (see the module doc).

    Args:
        rig: the rig profile (use the episode's own: ``collector.sync.episode_rig``).
        streams: only these streams (as when sync ran on a subset); default all.
        leave_out: optional streams (:func:`optional_streams`) whose features are left
            out; the other features keep the keys they have with them.

    Raises:
        RigError: ``streams`` or ``leave_out`` names a stream the rig does not have.
        ExportError: ``leave_out`` names a stream that is required or part of the state
            or action; two features would get the same key.
    """
    if streams is not None:
        wanted = {rig.stream(name).name for name in streams}
        chosen = tuple(s for s in rig.streams if s.name in wanted)
    else:
        chosen = rig.streams
    view = Rig(rig=rig.rig, site=rig.site, robot=rig.robot, fps=rig.fps, streams=chosen, sync=rig.sync,
               description=rig.description, source=rig.source)
    dropped = {rig.stream(name).name for name in leave_out}
    droppable = optional_streams(rig)
    if dropped - set(droppable):
        raise ExportError(f"rig {rig.rig!r}: stream {sorted(dropped - set(droppable))[0]!r} cannot be left out of an "
                          f"export (only optional streams outside the state and action: "
                          f"{', '.join(droppable) or 'none'})")
    features: list[Feature] = []
    state = _joint_columns(view, STATE_ROLES, view.robot.all_joints)
    action = _joint_columns(view, ("action",), None)
    if state:
        features.append(_joint_feature("observation.state", "state", "position", state))
    if action:
        features.append(_joint_feature("action", "action", "position", action))
    if state:
        features.append(_joint_feature("observation.velocity", "velocity", "velocity", state))
        features.append(_joint_feature("observation.effort", "effort", "effort", state))

    imus = view.streams_by_role("imu")
    for stream in imus:
        prefix = "observation.imu" if len(imus) == 1 else f"observation.imu.{stream.name}"
        for field, names in IMU_FIELDS.items():
            features.append(Feature(key=f"{prefix}.{field}", kind="imu", dtype="float32", shape=(len(names),),
                                    names=names, streams=(stream.name,), fields=(field,)))
    for stream in view.streams_by_role("wrench"):
        features.append(Feature(key=f"observation.wrench.{stream.name}", kind="wrench", dtype="float32",
                                shape=(6,), names=WRENCH_NAMES, streams=(stream.name,), fields=("force", "torque")))
    for stream in view.streams_by_role("tactile"):
        height, width = stream.height, stream.width
        names = tuple(f"taxel_{row}_{col}" for row in range(height) for col in range(width))
        features.append(Feature(key=f"observation.tactile.{stream.name}", kind="tactile", dtype="float32",
                                shape=(height * width,), names=names, streams=(stream.name,), fields=("pressure",),
                                grid_shape=(height, width)))
    for stream in view.streams_by_role("camera"):
        features.append(Feature(key=f"observation.images.{stream.name}", kind="image", dtype="uint8",
                                shape=(stream.height, stream.width, 3), names=("height", "width", "channels"),
                                streams=(stream.name,)))
    for stream in view.streams_by_role("depth"):
        features.append(Feature(key=f"observation.depth.{stream.name}", kind="depth",
                                dtype=DEPTH_DTYPES[stream.encoding], shape=(stream.height, stream.width),
                                names=("height", "width"), streams=(stream.name,)))
    for stream in view.streams:
        features.append(Feature(key=f"time.{stream.name}.source_s", kind="time", dtype="float64", shape=(1,),
                                names=None, streams=(stream.name,), fields=("source_time",)))
        features.append(Feature(key=f"time.{stream.name}.error_ms", kind="time", dtype="float32", shape=(1,),
                                names=None, streams=(stream.name,), fields=("alignment_error",)))
        if not stream.required:
            features.append(Feature(key=validity_key(stream.name), kind="valid", dtype="bool", shape=(1,),
                                    names=None, streams=(stream.name,), fields=("valid",)))
    features = [f for f in features if not set(f.streams) & dropped]
    return FeaturePlan(rig=rig.rig, fps=float(rig.fps), features=tuple(features))


# ----------------------------------------------------------------------------- values per frame


def _alignment(sync, feature: Feature, stream: str):
    try:
        return sync.streams[stream]
    except KeyError:
        raise ExportError(f"{feature.key}: stream {stream!r} is not in the sync result of {sync.episode or 'episode'} "
                          f"(synced streams: {', '.join(sync.streams)})") from None


def _joint_values(feature: Feature, sync) -> np.ndarray:
    frames = sync.frames
    out = np.full((frames, len(feature.columns)), np.nan, dtype=np.float64)
    field = feature.fields[0]
    for stream in feature.streams:
        alignment = _alignment(sync, feature, stream)
        values = alignment.values.get(field)
        if values is None or values.ndim != 2:
            continue  # no such messages: NaN, as sync writes for data that is not there
        column_of = {name: i for i, name in enumerate(alignment.names)}
        for out_col, (owner, joint) in enumerate(feature.columns):
            if owner != stream:
                continue
            if joint not in column_of:
                raise ExportError(f"{feature.key}: joint {joint!r} is not in the messages of stream {stream!r} "
                                  f"(they name: {', '.join(alignment.names) or 'no joints'})")
            out[:, out_col] = values[:, column_of[joint]]
    return out


def _stacked_values(feature: Feature, sync) -> np.ndarray:
    alignment = _alignment(sync, feature, feature.streams[0])
    if len(alignment.message_time_ns) == 0:  # published nothing here (optional, not plugged in): zeros
        return np.zeros((sync.frames,) + feature.shape, dtype=np.float64)
    parts = []
    for field in feature.fields:
        if field not in alignment.values:
            raise ExportError(f"{feature.key}: stream {feature.streams[0]!r} has no {field!r} values "
                              "in the sync result")
        parts.append(np.asarray(alignment.values[field], dtype=np.float64).reshape(sync.frames, -1))
    out = np.concatenate(parts, axis=1)
    if out.shape[1:] != feature.shape:
        raise ExportError(f"{feature.key}: stream {feature.streams[0]!r} has {out.shape[1]} values per frame, "
                          f"the rig declares {feature.shape[0]}")
    return out


def _time_values(feature: Feature, sync) -> np.ndarray:
    alignment = _alignment(sync, feature, feature.streams[0])
    source = np.asarray(alignment.source_time_ns, dtype=np.int64)
    missing = source == NO_TIME
    if feature.fields[0] == "source_time":
        values = (source - np.int64(sync.origin_ns)).astype(np.float64) / NS_PER_S
    else:
        values = np.asarray(alignment.alignment_error_ns, dtype=np.float64) / NS_PER_MS
    values[missing] = np.nan
    return values.reshape(sync.frames, 1)


def _valid_values(feature: Feature, sync) -> np.ndarray:
    alignment = _alignment(sync, feature, feature.streams[0])
    return np.asarray(alignment.valid, dtype=bool).astype(np.float64).reshape(sync.frames, 1)


_VALUES = {"state": _joint_values, "action": _joint_values, "velocity": _joint_values, "effort": _joint_values,
           "imu": _stacked_values, "wrench": _stacked_values, "tactile": _stacked_values, "time": _time_values,
           "valid": _valid_values}


def feature_values(feature: Feature, sync) -> np.ndarray:
    """One non-image feature for every grid frame, ``(K,) + feature.shape`` float64 (not yet cast).

    Writers that store float64 (HDF5's qpos/action) take these to keep full precision.

    Raises:
        ExportError: an image feature, a stream missing from ``sync``, or messages
            that lack a joint or value the plan expects.
    """
    if feature.is_image:
        raise ExportError(f"{feature.key}: image features come from collector.export.frames, not the frame table")
    return _VALUES[feature.kind](feature, sync)


def frame_table(plan: FeaturePlan, sync) -> dict[str, np.ndarray]:
    """Every non-image feature of ``plan`` for the K grid frames of ``sync``.

    Returns:
        ``{key: array (K,) + feature.shape of feature.dtype}`` in plan order; NaN
        where the source stream's frame is invalid (values) or had no sample (time);
        zeros for the values of an optional stream that published nothing in the episode.

    Raises:
        ExportError: see :func:`feature_values`.
    """
    return {f.key: feature_values(f, sync).astype(f.dtype) for f in plan.numeric}


def episode_valid_mask(sync, plan: FeaturePlan | None = None) -> np.ndarray:
    """(K,) True where every required stream is valid (``sync.valid``) and, with ``plan``,
    every stream of its state and action features too (so those rows hold no NaN)."""
    valid = np.array(sync.valid, dtype=bool, copy=True)
    if plan is not None:
        for feature in plan.of_kind("state", "action"):
            for stream in feature.streams:
                valid &= _alignment(sync, feature, stream).valid
    return valid
