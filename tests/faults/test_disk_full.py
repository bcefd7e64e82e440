"""The disk really fills up mid-episode: a small tmpfs volume, the real recorder, no reserve to save it."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from collector.bag.reader import open_bag
from collector.bag.recover import recover_bag
from collector.episode import read_episode_info

pytestmark = [pytest.mark.ros, pytest.mark.slow]
VOLUME_MB = 160


@pytest.fixture
def small_volume(tmp_path):
    """A VOLUME_MB tmpfs mounted for the test (needs root; skipped where mounting is not allowed)."""
    mount = tmp_path / "volume"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={VOLUME_MB}m", "tmpfs", str(mount)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({result.stderr.strip() or 'mount failed'}): "
                    "the disk-full fault needs root or CAP_SYS_ADMIN")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_disk_full_mid_episode_ends_it_marked_and_keeps_the_earlier_one(nodes, client, small_volume, tmp_path):
    out = small_volume / "episodes"
    nodes("synthetic_robot", "collector.drivers.synthetic_node", {"rig": "baoan_humanoid", "seed": 5})
    recorder = nodes("recorder", "collector.ros.recorder_node",
                     {"rig": "baoan_humanoid", "out": str(out), "disk_reserve_mb": 0})
    client.wait_for_recorder(40.0, alive=recorder.alive)
    assert client.wait_status(lambda s: all(x["state"] == "ok" for x in s["streams"] if x["required"]), 40.0)

    first = Path(client.start())
    time.sleep(0.3)
    assert Path(client.stop()) == first
    before = _digest(first)
    assert read_episode_info(first).status == "complete"

    second = Path(client.start())  # ~100 MB/s of images: the volume is full within about a second
    ended = client.wait_status(lambda s: not s["recording"] and s["last_episode"] == str(second), 30.0)
    assert ended is not None, "the recorder never ended the episode on a full disk"

    assert ended["last_stop_reason"] == "disk_low"  # what the operator screen shows
    assert recorder.alive(), "the recorder died on a full disk"

    assert _digest(first) == before, "the earlier episode was touched"
    info = read_episode_info(second)
    assert info.end_reason == "disk_low" and info.status in ("interrupted", "complete")
    assert any("No space left" in note or "write failed" in note for note in info.notes), info.notes
    # What reached the disk is a bag collector recover rebuilds (on a copy: the volume is full).
    copy = tmp_path / "copy" / second.name
    shutil.copytree(second, copy)
    result = recover_bag(copy) if info.status == "interrupted" else None
    with open_bag(copy) as bag:
        counts = bag.counts_by_topic() if hasattr(bag, "counts_by_topic") else None
        messages = sum(1 for _ in bag.messages())
    assert messages > 100 and (result is None or result.messages_recovered == messages), counts
    recorder.stop()
