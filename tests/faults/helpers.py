"""What the fault tests share: a light rig file, real nodes, reading a bag back with rosbags."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path

import yaml

from collector.rig import load_rig

SYNTHETIC = "collector.drivers.synthetic_node"
RECORDER = "collector.ros.recorder_node"
# Small images keep the real-DDS tests light on a shared two-core machine; every
# stream, rate and clock of the Bao'an rig stays as it is.
IMAGE_SIZE = (160, 120)


def light_rig(folder: Path, name: str = "baoan_humanoid") -> Path:
    """The shipped rig with IMAGE_SIZE images, written to ``folder``; returns the file."""
    doc = yaml.safe_load(load_rig(name).text)
    for stream in doc["streams"]:
        if stream["role"] in ("camera", "depth"):
            stream["width"], stream["height"] = IMAGE_SIZE
    doc.pop("drivers", None)
    path = Path(folder) / f"{name}_light.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def wait_ready(client, recorder, timeout_s: float = 60.0) -> dict:
    """Block until the recorder answers and every required stream is ``ok``; returns that status."""
    client.wait_for_recorder(timeout_s, alive=recorder.alive)
    ready = client.wait_status(lambda s: all(x["state"] == "ok" for x in s["streams"] if x["required"]), timeout_s)
    assert ready is not None, f"streams never healthy: {(client.status or {}).get('problems')}"
    return ready


def digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (to show nothing recorded was changed)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def read_back(episode: Path) -> dict[str, list[tuple[int, int, object]]]:
    """Per topic, in bag (receive) order: (receive time, header stamp, message), via rosbags only."""
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_typestore

    typestore = get_typestore(Stores.ROS2_KILTED)
    out: dict[str, list] = defaultdict(list)
    with Reader(episode) as reader:
        for connection, log_time, raw in reader.messages():
            msg = typestore.deserialize_cdr(raw, connection.msgtype)
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            out[connection.topic].append((log_time, stamp, msg))
    return out


def published(truth: list[dict], stream: str) -> list[dict]:
    """The truth rows of ``stream`` that were published, in publish order."""
    return [row for row in truth if row["stream"] == stream and row["published"]]


def contiguous_run(recorded_stamps: list[int], rows: list[dict]) -> list[dict]:
    """The rows (publish order) from the first to the last recorded stamp; asserts each stamp is published once."""
    position = {row["stamp_ns"]: i for i, row in enumerate(rows)}
    assert len(position) == len(rows), "stamps repeat: the test cannot tell the messages apart"
    missing = [s for s in recorded_stamps if s not in position]
    assert not missing, f"{len(missing)} recorded stamps were never published"
    where = [position[s] for s in recorded_stamps]
    return rows[min(where): max(where) + 1]


def start_pair(nodes, client, tmp_path: Path, rig_file: Path, *, seed: int, faults: str = ""):
    """The real synthetic robot (``faults``, ground truth to ``tmp_path/truth.jsonl``) and the real
    recorder (into ``tmp_path/episodes``), both up and every required stream ``ok``.

    Returns (synthetic process, recorder process, truth path).
    """
    truth_path = tmp_path / "truth.jsonl"
    synthetic = nodes("synthetic_robot", SYNTHETIC, {"rig": str(rig_file), "seed": seed, "faults": faults,
                                                     "truth_out": str(truth_path)})
    recorder = nodes("recorder", RECORDER, {"rig": str(rig_file), "out": str(tmp_path / "episodes"),
                                            "disk_reserve_mb": 1})
    wait_ready(client, recorder)
    return synthetic, recorder, truth_path


def recorded_window(rows: list, truth: list[dict], stream: str) -> list[dict]:
    """The truth rows of ``stream`` from its first to its last recorded message; asserts none
    in between is missing from ``rows`` (read_back's rows of its topic) or out of publish order."""
    stamps = [stamp for _, stamp, _ in rows]
    window = contiguous_run(stamps, published(truth, stream))
    assert [row["stamp_ns"] for row in window] == stamps, f"{stream}: messages lost or reordered"
    return window
