"""The dataset card: README.md with the YAML front matter the Hugging Face Hub reads.

Front matter: license, task category, tags (LeRobot, robot, rig, sites), size
category and the parquet ``configs`` the Hub's viewer uses. Body: what the data is,
counts per task and label, fps, every feature with its names, how time was aligned
(the ``time.*`` columns), face blurring when it was done, and info.json.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from collector.export.lerobot import layout


def _size_category(frames: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if frames < limit:
            return name
    return "n>10M"


def episode_rows(root: Path) -> list[dict]:
    """Every episodes-table row (without the stats columns)."""
    rows = []
    for table in layout.read_tables(root / "meta" / "episodes"):
        keep = [n for n in table.column_names if not n.startswith("stats/")]
        rows.extend(table.select(keep).to_pylist())
    return rows


def card_text(info: Mapping[str, Any], rows: list[dict], options: Mapping[str, Any]) -> str:
    """The README.md of a dataset with ``info`` and episodes ``rows``."""
    extra = info.get("collector", {})
    tags = ["LeRobot", "robotics", "humanoid", "collector", str(info.get("robot_type", ""))]
    tags += [f"rig:{r}" for r in extra.get("rigs", [])] + [f"site:{s}" for s in extra.get("sites", [])]
    front = {
        "license": options.get("license") or extra.get("license") or "apache-2.0",
        "task_categories": ["robotics"],
        "tags": [t for t in dict.fromkeys(tags) if t],
        "size_categories": [_size_category(int(info["total_frames"]))],
        "configs": [{"config_name": "default", "data_files": "data/*/*.parquet"}],
    }
    tasks = Counter(task for row in rows for task in row.get("tasks") or [])
    labels = Counter({True: "success", False: "failure", None: "unlabelled"}[row.get("success")] for row in rows)
    name = options.get("repo_id") or f"{info.get('robot_type')} demonstrations"
    lines = [
        "---", yaml.safe_dump(front, sort_keys=False, allow_unicode=True).strip(), "---", "",
        f"# {name}", "",
        f"Demonstrations recorded on the **{info.get('robot_type')}** humanoid "
        f"(rig{'s' if len(extra.get('rigs', [])) > 1 else ''} {', '.join(extra.get('rigs', [])) or '?'}, "
        f"site{'s' if len(extra.get('sites', [])) > 1 else ''} {', '.join(extra.get('sites', [])) or '?'}) "
        "with collector and exported in the LeRobot v3.0 format "
        "(`LeRobotDataset(repo_id, root=...)` loads it).", "",
        "| | |", "|---|---|",
        f"| episodes | {info['total_episodes']} |",
        f"| frames | {info['total_frames']} |",
        f"| fps | {info['fps']} |",
        f"| tasks | {info['total_tasks']} |",
        f"| labels | {', '.join(f'{n} {k}' for k, n in sorted(labels.items())) or 'none'} |",
        f"| video | {extra.get('vcodec', '?')} (crf {extra.get('crf', '?')}, keyframe every {extra.get('gop', '?')}); "
        "depth: 16-bit PNG, lossless |",
        f"| exported by | collector {extra.get('version', '?')} |", "",
        "## Tasks", "", "| task | episodes |", "|---|---|",
        *[f"| {task} | {count} |" for task, count in tasks.most_common()], "",
        "## Features", "", "| feature | dtype | shape | names |", "|---|---|---|---|",
    ]
    for key, feature in info["features"].items():
        names = feature.get("names")
        shown = ", ".join(map(str, names[:8])) + (f", ... ({len(names)})" if len(names) > 8 else "") if names else ""
        lines.append(f"| `{key}` | {feature['dtype']} | {feature['shape']} | {shown} |")
    lines += privacy_lines(info.get("privacy"))
    lines += [
        "", "## Time", "",
        "**Reference clock: the recording host's clock**, on which the recorder took every message's "
        "receive time. Every stream was aligned on the grid `timestamp = frame_index / fps` (frame 0 at "
        "the first time every required stream had data). A stream whose `header.stamp` is on the host's "
        "clock or a synchronised one (PTP, chrony; `clock: header` in the rig profile) was used at its "
        "stamp exactly: its transport latency was measured, never applied. A sensor's own clock "
        "(`clock: device`, or a header clock whose stamps proved it unsynchronised) was mapped onto the "
        "host's clock by an offset and drift fitted per episode; a stream without a usable stamp "
        "(`clock: receive`) was timed by its receive time less the rig's known latency. "
        "`time.<stream>.source_s` is the capture time, on the reference clock, of the sample actually "
        "used (s from the episode's first capture; for a trusted stamp, the stamp itself; for an "
        "interpolated stream, the frame time) and `time.<stream>.error_ms` its signed distance from the "
        "frame time (source - frame, ms); `time.valid` is false where a required stream had no sample "
        "within its tolerance. The episodes table keeps each episode's `success` label, `site`, "
        "`rig`, `operator` (a pseudonymous id) and source `episode_id`.", "",
        *validity_lines(extra.get("validity") or {}),
        "## meta/info.json", "", "```json", json.dumps(info, indent=2, ensure_ascii=False), "```", "",
    ]
    return "\n".join(lines)


def validity_lines(validity: Mapping[str, str]) -> list[str]:
    """The card's paragraph on the optional streams' validity columns (none without any)."""
    columns = sorted(set(validity.values()))
    if not columns:
        return []
    return [
        "Optional sensors have a validity column (" + ", ".join(f"`{c}`" for c in columns) + "): true where "
        "that stream had a sample within its tolerance on the frame. In an episode where the sensor "
        "published nothing (not plugged in) it is false throughout and the sensor's features hold zeros "
        "(black frames for a camera); elsewhere a false row may hold NaN. Mask those rows, do not learn "
        "from them: `meta/stats.json` counts only the rows where the column is true.", "",
    ]


def privacy_lines(privacy: Mapping[str, Any] | None) -> list[str]:
    """The card's face-blurring section (none without ``privacy`` in info.json)."""
    if not privacy or not privacy.get("face_blurring"):
        return []
    counts = privacy.get("counts", {})
    settings = ", ".join(f"{k}={v}" for k, v in (privacy.get("settings") or {}).items())
    return [
        "", "## Privacy", "",
        "Faces were blurred in every camera video (`collector export --blur-faces`) before encoding: "
        f"detector {privacy.get('detector')} (`{privacy.get('model')}`, OpenCV {privacy.get('opencv')}), "
        f"settings {settings}. Depth and other streams are unchanged. A frontal-face detector misses "
        "faces in profile, small or occluded: check before publishing.", "",
        f"| camera frames with faces | {counts.get('frames_with_faces', '?')} |", "|---|---|",
        f"| faces blurred | {counts.get('faces_blurred', '?')} |",
        f"| streams | {', '.join(privacy.get('streams', [])) or 'none'} |",
    ]


def write_card(path: Path, root: Path, info: Mapping[str, Any], options: Mapping[str, Any]) -> None:
    """Write the card of the dataset staged in ``root`` to ``path``."""
    path.write_text(card_text(info, episode_rows(root), options), encoding="utf-8")
