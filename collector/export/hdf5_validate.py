"""Checks of a folder of ALOHA/ACT ``episode_<i>.hdf5`` files (layout: :mod:`collector.export.hdf5`).

Per file: it opens with h5py; root attrs ``sim`` and ``compress`` are there;
``/observations/qpos``, ``/observations/qvel``, ``/observations/effort`` and ``/action``
are there, two-dimensional, with one first dimension K; every camera under
``/observations/images`` has K frames (``compress``: ``/compress_len`` is
``(cameras, K)``); ``/timestamp`` has K values equal to ``frame_index / fps`` within
1e-4 s (``/frame_index``, else 0..K-1; root attr ``fps``); qpos and action hold no
NaN or inf; a dataset's ``valid`` attr (an optional stream's feature) names a bool
dataset of K values. Over the folder: the episodes are numbered 0..n-1 without a hole.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from collector.export.validate import Problem

EPISODE_GLOB = "episode_*.hdf5"
TIME_TOLERANCE_S = 1e-4
REQUIRED_ATTRS = ("sim", "compress")
JOINT_PATHS = ("observations/qpos", "observations/qvel", "observations/effort", "action")
FINITE_PATHS = ("observations/qpos", "action")


def _episodes(path: Path) -> dict[int, Path]:
    from collector.export.hdf5 import EPISODE_RE

    found = {}
    if path.is_dir():
        for file in path.glob(EPISODE_GLOB):
            match = EPISODE_RE.match(file.name)
            if match:
                found[int(match.group(1))] = file
    return dict(sorted(found.items()))


def detect(path: Path) -> bool:
    """A folder holding at least one ``episode_<i>.hdf5``."""
    return bool(_episodes(Path(path)))


def check(root: Path) -> tuple[list[Problem], dict]:
    """Every problem of the episodes in ``root`` (module doc) and a summary of counts."""
    episodes = _episodes(Path(root))
    holes = sorted(set(range(max(episodes) + 1)) - set(episodes))
    problems = [Problem(f"episode_{i}.hdf5", f"missing: the episodes are numbered 0..{max(episodes)} with "
                                             f"{len(holes)} hole(s)") for i in holes]
    frames, cameras = 0, set()
    for file in episodes.values():
        found, k, names = _check_file(file)
        problems += [Problem(file.name, message) for message in found]
        frames += k
        cameras |= names
    summary = {"episodes": len(episodes), "frames": frames, "cameras": sorted(cameras)}
    return problems, summary


def _check_file(file: Path) -> tuple[list[str], int, set[str]]:
    """Problem messages of one episode file, its frame count K and its camera names."""
    import h5py

    try:
        root = h5py.File(file, "r")
    except OSError as err:
        return [f"does not open with h5py ({err})"], 0, set()
    with root:
        found = [f"root attr {name!r} missing" for name in REQUIRED_ATTRS if name not in root.attrs]
        lengths = {}
        for name in JOINT_PATHS:
            dataset = root.get(name)
            if not isinstance(dataset, h5py.Dataset):
                found.append(f"/{name} missing")
            elif dataset.ndim != 2:
                found.append(f"/{name} has shape {dataset.shape}, expected (K, joints)")
            else:
                lengths[name] = dataset.shape[0]
        if len(set(lengths.values())) > 1:
            found.append("first dimensions differ: " + ", ".join(f"/{n} {k}" for n, k in lengths.items()))
        k = max(lengths.values(), default=0)
        for name in FINITE_PATHS:
            if name in lengths:
                values = root[name][()]
                bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
                if len(bad):
                    found.append(f"/{name} holds NaN or inf in {len(bad)} frame(s) (first at row {int(bad[0])})")
        cameras = _check_images(root, k, found)
        _check_time(root, k, found)
        _check_validity(root, k, found)
    return found, k, cameras


def _check_images(root, k: int, found: list[str]) -> set[str]:
    import h5py

    images = root.get("observations/images")
    names = sorted(images) if isinstance(images, h5py.Group) else []
    for name in names:
        frames = images[name].shape[0] if isinstance(images[name], h5py.Dataset) else None
        if frames != k:
            found.append(f"/observations/images/{name} has {frames} frames, the joints {k}")
    if bool(root.attrs.get("compress", False)) and names:
        lengths = root.get("compress_len")
        if not isinstance(lengths, h5py.Dataset):
            found.append("/compress_len missing (compress is true)")
        elif lengths.shape != (len(names), k):
            found.append(f"/compress_len has shape {lengths.shape}, expected ({len(names)}, {k}) "
                         "(cameras, frames)")
    return set(names)


def _check_validity(root, k: int, found: list[str]) -> None:
    """Each dataset's ``valid`` attr names a (K,) bool dataset (its stream's validity flags)."""
    import h5py

    def visit(name: str, item) -> None:
        gate = item.attrs.get("valid") if isinstance(item, h5py.Dataset) else None
        if gate is None:
            return
        flags = root.get(str(gate))
        if not isinstance(flags, h5py.Dataset) or flags.dtype != np.bool_ or flags.shape != (k,):
            shown = "missing" if not isinstance(flags, h5py.Dataset) else f"{flags.dtype} {flags.shape}"
            found.append(f"/{name}: its validity flags {gate} are {shown}, expected ({k},) bool")

    root.visititems(visit)


def _check_time(root, k: int, found: list[str]) -> None:
    import h5py

    fps = root.attrs.get("fps")
    stamps = root.get("timestamp")
    if not isinstance(stamps, h5py.Dataset):
        found.append("/timestamp missing")
        return
    if fps is None or not float(fps) > 0:
        found.append(f"root attr fps is {fps!r}, not a positive number")
        return
    stamps = np.asarray(stamps[()], dtype=np.float64).reshape(-1)
    index = root.get("frame_index")
    frame = np.asarray(index[()]).reshape(-1) if isinstance(index, h5py.Dataset) else np.arange(len(stamps))
    if len(stamps) != k or len(frame) != k:
        found.append(f"/timestamp has {len(stamps)} and /frame_index {len(frame)} values, the joints {k} frames")
        return
    off = np.abs(stamps - frame / float(fps))
    bad = np.flatnonzero(~(off < TIME_TOLERANCE_S))
    if len(bad):
        i = int(bad[0])
        found.append(f"/timestamp {stamps[i]:.6f} s at row {i} is {off[i] * 1e3:.3f} ms off frame_index / fps "
                     f"(frame {int(frame[i])} at {float(fps):g} fps, limit 0.1 ms); {len(bad)} row(s)")
