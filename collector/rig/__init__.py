"""Rig profiles: which robot, which sensors, which topics, at which rates.

A rig profile is one YAML file in ``datasets/rigs/<rig>.yaml``. It is validated
completely on load; any problem raises :class:`~collector.errors.RigError` with
one line naming the file, the key path and the offending value, e.g.::

    baoan_humanoid.yaml: streams[3].rate_hz: expected a positive number, got 'fast'

Optional sync settings (per-stream ``latency_ms``, ``policy``, ``tolerance_ms``,
``max_gap_ms`` and a rig-level ``sync:`` block of limits, see :class:`SyncLimits`)
tell ``collector.sync`` how to align and when to refuse an episode.

The model (keyword-only, immutable dataclasses and the tables they are checked
against) is in :mod:`collector.rig.model`, the parser in :mod:`collector.rig.parse`;
this package exports both.
"""

from collector.rig.model import (
    CLOCKS,
    DURATION_LIMITS,
    DURATION_MS_MAX,
    END_EFFECTOR_TYPES,
    FPS_MAX,
    IMAGE_ROLES,
    JOINT_GROUPS,
    JOINT_ROLES,
    ON_UNSYNCHRONISED,
    ON_VIOLATION,
    QOS_PRESETS,
    RATE_HZ_RANGE,
    ROLE_ENCODINGS,
    ROLE_SYNC_POLICIES,
    ROLE_TYPES,
    ROLES,
    SYNC_POLICIES,
    Driver,
    EndEffector,
    Rig,
    Robot,
    Stream,
    SyncLimits,
)
from collector.rig.parse import available_rigs, keep_streams, load_rig, parse_rig

__all__ = [
    "CLOCKS", "DURATION_LIMITS", "DURATION_MS_MAX", "END_EFFECTOR_TYPES", "FPS_MAX", "IMAGE_ROLES", "JOINT_GROUPS",
    "JOINT_ROLES", "ON_UNSYNCHRONISED", "ON_VIOLATION", "QOS_PRESETS", "RATE_HZ_RANGE", "ROLE_ENCODINGS",
    "ROLE_SYNC_POLICIES", "ROLE_TYPES", "ROLES", "SYNC_POLICIES", "Driver", "EndEffector", "Rig", "Robot", "Stream",
    "SyncLimits", "available_rigs", "keep_streams", "load_rig", "parse_rig",
]
