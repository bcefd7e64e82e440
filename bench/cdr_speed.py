"""CDR decoding speed: collector's vectorised decoders against rosbags, message by message.

    .venv/bin/python bench/cdr_speed.py [--messages 30000] [--repeats 3] [--quick] [--json-out FILE]

For each message type (``sensor_msgs/msg/JointState`` with the Bao'an rig's 19 joints,
``sensor_msgs/msg/Imu``, ``geometry_msgs/msg/WrenchStamped``) the same messages, encoded
by ``collector.cdr``, are decoded into the same (N, ...) float64 arrays and (N,) stamps:

* ``ours``: ``decode_joint_states`` / ``decode_imus`` / ``decode_wrenches`` on the whole list;
* ``rosbags``: ``Typestore.deserialize_cdr`` on each message, then ``np.array`` over the
  decoded fields (what a reader without our decoder does).

Time is the best of ``--repeats`` runs (wall, one thread); the arrays of both are checked
equal first. ``x faster`` = rosbags' time / ours. This used to be a timed test
(30,000 JointStates within 0.5 s); a time depends on the machine, so it is measured here.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from collector.cdr import (  # noqa: E402
    decode_imus,
    decode_joint_states,
    decode_wrenches,
    encode_imu,
    encode_joint_state,
    encode_wrench,
)

START_NS = 1_750_000_123 * 1_000_000_000
JOINTS = tuple(f"joint_{i:02d}" for i in range(19))
DEFAULT_MESSAGES = 30_000
QUICK_MESSAGES = 3_000


def stamps(msgs) -> np.ndarray:
    """Header stamps (ns) of rosbags-decoded messages."""
    return np.array([m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec for m in msgs], np.int64)


def joint_state_case(count: int, rng: np.random.Generator) -> dict[str, Any]:
    values = rng.normal(size=(count, 3, len(JOINTS)))
    messages = [encode_joint_state(stamp_ns=START_NS + i * 2_000_000, frame_id="base_link", names=JOINTS,
                                   position=values[i, 0], velocity=values[i, 1], effort=values[i, 2])
                for i in range(count)]

    def ours(batch):
        decoded = decode_joint_states(batch)
        return decoded.stamp_ns, decoded.position, decoded.velocity, decoded.effort

    def theirs(msgs):
        return (stamps(msgs),
                np.array([m.position for m in msgs]), np.array([m.velocity for m in msgs]),
                np.array([m.effort for m in msgs]))

    return {"msgtype": "sensor_msgs/msg/JointState", "what": f"JointState, {len(JOINTS)} joints",
            "messages": messages, "ours": ours, "theirs": theirs}


def imu_case(count: int, rng: np.random.Generator) -> dict[str, Any]:
    values = rng.normal(size=(count, 10))
    messages = [encode_imu(stamp_ns=START_NS + i * 5_000_000, frame_id="torso_imu_link", orientation=values[i, :4],
                           angular_velocity=values[i, 4:7], linear_acceleration=values[i, 7:])
                for i in range(count)]

    def ours(batch):
        decoded = decode_imus(batch)
        return decoded.stamp_ns, decoded.orientation, decoded.angular_velocity, decoded.linear_acceleration

    def theirs(msgs):
        return (stamps(msgs),
                np.array([(m.orientation.x, m.orientation.y, m.orientation.z, m.orientation.w) for m in msgs]),
                np.array([(m.angular_velocity.x, m.angular_velocity.y, m.angular_velocity.z) for m in msgs]),
                np.array([(m.linear_acceleration.x, m.linear_acceleration.y, m.linear_acceleration.z)
                          for m in msgs]))

    return {"msgtype": "sensor_msgs/msg/Imu", "what": "Imu", "messages": messages, "ours": ours, "theirs": theirs}


def wrench_case(count: int, rng: np.random.Generator) -> dict[str, Any]:
    values = rng.normal(size=(count, 6))
    messages = [encode_wrench(stamp_ns=START_NS + i * 2_000_000, frame_id="left_ft_sensor_link",
                              force=values[i, :3], torque=values[i, 3:])
                for i in range(count)]

    def ours(batch):
        decoded = decode_wrenches(batch)
        return decoded.stamp_ns, decoded.force, decoded.torque

    def theirs(msgs):
        return (stamps(msgs),
                np.array([(m.wrench.force.x, m.wrench.force.y, m.wrench.force.z) for m in msgs]),
                np.array([(m.wrench.torque.x, m.wrench.torque.y, m.wrench.torque.z) for m in msgs]))

    return {"msgtype": "geometry_msgs/msg/WrenchStamped", "what": "WrenchStamped", "messages": messages,
            "ours": ours, "theirs": theirs}


CASES: tuple[Callable[[int, np.random.Generator], dict[str, Any]], ...] = (joint_state_case, imu_case, wrench_case)


def best_time(run: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Shortest wall time (s) of ``repeats`` runs, and the last run's result."""
    best, result = math.inf, None
    for _ in range(repeats):
        begin = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - begin)
    return best, result


def measure(case: dict[str, Any], typestore, repeats: int) -> dict[str, Any]:
    """Both decoders on the case's messages; raises AssertionError when their arrays differ."""
    messages, msgtype = case["messages"], case["msgtype"]
    ours_s, ours = best_time(lambda: case["ours"](messages), repeats)

    def rosbags():
        return case["theirs"]([typestore.deserialize_cdr(m, msgtype) for m in messages])

    theirs_s, theirs = best_time(rosbags, repeats)
    for mine, other in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(mine, other)
    count = len(messages)
    return {"msgtype": msgtype, "what": case["what"], "messages": count,
            "bytes_per_message": len(messages[0]),
            "ours_ms": round(ours_s * 1e3, 2), "rosbags_ms": round(theirs_s * 1e3, 2),
            "ours_us_per_message": round(ours_s * 1e6 / count, 3),
            "rosbags_us_per_message": round(theirs_s * 1e6 / count, 3),
            "x_faster": round(theirs_s / ours_s, 1) if ours_s else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=None,
                        help=f"messages per type (default {DEFAULT_MESSAGES:,}; --quick: {QUICK_MESSAGES:,})")
    parser.add_argument("--repeats", type=int, default=3, help="runs per decoder; the best counts (default 3)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_MESSAGES:,} messages per type: a smoke run")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    count = args.messages or (QUICK_MESSAGES if args.quick else DEFAULT_MESSAGES)
    if count < 1 or args.repeats < 1:
        parser.error("--messages and --repeats must be at least 1")
    try:
        from rosbags.typesys import Stores, get_typestore
    except ImportError:
        print("error: rosbags is not installed (pip install -e '.[test]')", file=sys.stderr)
        return 2
    typestore = get_typestore(Stores.ROS2_KILTED)
    console = Console(width=None if sys.stdout.isatty() else 120)  # piped: one line per row
    rng = np.random.default_rng(0)
    rows = []
    with console.status("decoding") as status:
        for make in CASES:
            case = make(count, rng)
            status.update(f"decoding {count:,} {case['what']} messages")
            rows.append(measure(case, typestore, args.repeats))
    table = Table(title=f"CDR decoding: {count:,} messages per type, best of {args.repeats}, "
                        f"Python {platform.python_version()}, {os.cpu_count()} CPUs")
    for column in ("message", "bytes", "ours ms", "rosbags ms", "ours µs/msg", "rosbags µs/msg", "x faster"):
        table.add_column(column, justify="left" if column == "message" else "right")
    for row in rows:
        table.add_row(row["what"], f"{row['bytes_per_message']}", f"{row['ours_ms']:,.1f}",
                      f"{row['rosbags_ms']:,.1f}", f"{row['ours_us_per_message']:.2f}",
                      f"{row['rosbags_us_per_message']:.2f}", f"{row['x_faster']:.1f}")
    console.print(table)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps({
            "bench": "cdr_speed", "messages": count, "repeats": args.repeats,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
                        "rosbags": metadata.version("rosbags")},
            "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
