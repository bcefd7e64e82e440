"""The mp4 files of a LeRobot dataset against its episodes table (part of
:mod:`collector.export.lerobot.validate`).

For each video key and episode, the mp4 it points at must hold, in
``[from_timestamp, from_timestamp + length / fps)``, exactly ``length`` frames whose pts
are ``from_timestamp + i / fps`` (within 1e-4 s, LeRobot's tolerance); each mp4 must
hold as many frames as the episodes pointing at it. Read with
:func:`~collector.export.lerobot.video.probe_video` (packets, no decoding).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from collector.export.errors import ExportError

TIME_TOLERANCE_S = 1e-4


def check_videos(root: Path, pattern: str, keys: list[str], episodes: list[dict],
                 fps: float) -> tuple[list[tuple[str, str]], int]:
    """``(where, message)`` per problem and the number of mp4 files the episodes point at.

    ``pattern`` is info.json ``video_path``; ``episodes`` are episodes-table rows with
    ``episode_index``, ``length`` and ``videos/<key>/{chunk_index,file_index,from_timestamp}``.
    """
    from collector.export.lerobot.video import probe_video

    files: dict[str, list[tuple[int, int, float]]] = {}  # mp4 -> (episode, length, from_timestamp)
    for key in keys:
        for row in episodes:
            name = pattern.format(video_key=key, chunk_index=row[f"videos/{key}/chunk_index"],
                                  file_index=row[f"videos/{key}/file_index"])
            files.setdefault(name, []).append((row["episode_index"], int(row["length"]),
                                               float(row[f"videos/{key}/from_timestamp"])))
    found = []
    for name, parts in files.items():
        numbers = ", ".join(str(number) for number, _, _ in parts)
        path = Path(root) / name
        if not path.is_file():
            found.append((name, f"missing (episodes {numbers} point at it)"))
            continue
        try:
            probe = probe_video(path)
        except ExportError as err:
            found.append((name, str(err).removeprefix(f"{path}: ")))
            continue
        expected = sum(length for _, length, _ in parts)
        if probe["frames"] != expected:
            found.append((name, f"holds {probe['frames']} frames, episodes {numbers} pointing at it have {expected}"))
        pts = np.asarray(probe["pts_s"], dtype=np.float64)
        found += [(name, message) for part in parts if (message := _episode(pts, *part, fps))]
    return found, len(files)


def _episode(pts: np.ndarray, number: int, length: int, start: float, fps: float) -> str | None:
    end = start + length / fps
    inside = pts[(pts >= start - TIME_TOLERANCE_S) & (pts < end - TIME_TOLERANCE_S)]
    if len(inside) != length:
        return f"episode {number}: {len(inside)} frames in [{start:.4f}, {end:.4f}) s, expected {length}"
    off = np.abs(inside - (start + np.arange(length) / fps))
    if off.max(initial=0.0) >= TIME_TOLERANCE_S:
        k = int(np.argmax(off >= TIME_TOLERANCE_S))
        return (f"episode {number}: frame {k} at pts {inside[k]:.6f} s is {off[k] * 1e3:.3f} ms off "
                f"from_timestamp + {k} / fps")
    return None
