"""The provenance manifest of a dataset: what is in it, where it came from, how it was made.

Every export writes the manifest (``provenance.json``; LeRobot: ``meta/provenance.json``)
into its staged dataset version, so it is swapped in with the files it describes, in
the same :class:`~collector.export.transaction.FolderTransaction`: a killed export never
leaves a manifest that disagrees with the files. It holds::

    manifest_version  1
    format            the writer's format name
    created, updated  export times (UTC, ISO 8601) of the first and the last run
    files             [{path, size, sha256}] of every file but the manifest itself, sorted
    episodes          [{dataset_index, episode_id, source, rig, site, operator, run,
                        files: [{path, size, sha256}] of episode.json and the bag files}]
    runs              [{time, software, settings, episodes: [dataset indices]}], oldest first

An append keeps the earlier runs and episodes and adds its own. File hashes stream
(:data:`CHUNK_BYTES` at a time). Files a run did not write are hard links of the
previous version's: their hashes are taken from the previous manifest when the size
agrees (a file damaged since then keeps its recorded hash, and :func:`verify` still
reports it); files hashed where they were made (``known``) are not read again.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from collector import __version__
from collector.episode import EPISODE_FILE, EpisodeInfo
from collector.export.errors import ExportError

MANIFEST_VERSION = 1
CHUNK_BYTES = 1 << 20
LIBRARIES = ("numpy", "pyarrow", "h5py", "av", "pillow", "mcap", "rosbags")


class ProvenanceError(ExportError):
    """A manifest that cannot be read (not JSON, not a manifest)."""


def sha256_file(path: Path) -> tuple[int, str]:
    """(size in bytes, hex SHA-256) of ``path``, read in :data:`CHUNK_BYTES` blocks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb", buffering=0) as file:
        buffer = bytearray(CHUNK_BYTES)
        view = memoryview(buffer)
        while n := file.readinto(buffer):
            digest.update(view[:n])
            size += n
    return size, digest.hexdigest()


def file_entry(path: Path, relative: str) -> dict[str, Any]:
    size, sha = sha256_file(path)
    return {"path": relative, "size": size, "sha256": sha}


def software_versions() -> dict[str, str]:
    """collector, Python and the key libraries' versions (those installed; none imported)."""
    from importlib import metadata

    versions = {"collector": __version__, "python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def source_record(episode_path: Path, info: EpisodeInfo) -> dict[str, Any]:
    """What the manifest says of one source episode: ids, rig, site, operator and the
    size and SHA-256 of its ``episode.json`` and of every bag file in its folder."""
    episode_path = Path(episode_path)
    files = [file_entry(episode_path / EPISODE_FILE, EPISODE_FILE)]
    for path in sorted(episode_path.rglob("*")):
        relative = path.relative_to(episode_path).as_posix()
        if path.is_file() and relative != EPISODE_FILE:
            files.append(file_entry(path, relative))
    return {"episode_id": info.episode_id, "source": str(episode_path), "rig": info.rig, "site": info.site,
            "operator": info.operator, "files": files}


def attach_source(part, episode_path: Path, info: EpisodeInfo):
    """Hash the source episode (where the part is prepared) and keep the record on ``part``."""
    part.provenance = source_record(episode_path, info)
    return part


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest at ``path``.

    Raises:
        ProvenanceError: missing, not JSON, or without ``files``, naming the file.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ProvenanceError(f"{path}: no provenance manifest") from err
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ProvenanceError(f"{path}: unreadable provenance manifest ({err})") from err
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, list) or not all(isinstance(f, dict) and isinstance(f.get("path"), str)
                                              for f in files):
        raise ProvenanceError(f"{path}: not a provenance manifest (no valid 'files' list)")
    return data


def _walk(root: Path, skip: str) -> list[str]:
    """Every file under ``root`` (posix paths relative to it) but ``skip``, sorted."""
    found = []
    for folder, _, names in os.walk(root):
        for name in names:
            relative = (Path(folder) / name).relative_to(root).as_posix()
            if relative != skip:
                found.append(relative)
    return sorted(found)


class Provenance:
    """Collects one export run's provenance and writes the manifest into a staged version.

    Args:
        fmt: the format name; manifest: its path inside the dataset.
        settings: the export settings (fps, options, rig, features ...), JSON-able.
    """

    def __init__(self, *, fmt: str, manifest: str, settings: Mapping[str, Any]):
        self.fmt, self.manifest = fmt, manifest
        self.settings = dict(settings)
        self.episodes: list[dict[str, Any]] = []
        self.known: dict[str, tuple[int, str]] = {}  # staged relative path -> (size, sha256) hashed already
        self.hash_seconds = 0.0

    def add_episode(self, part, dataset_index: int) -> None:
        """Record a committed part's source (``part.provenance``, see :func:`attach_source`)."""
        record = dict(getattr(part, "provenance", None) or {})
        if not record:
            source = getattr(part, "source", "")
            record = {"episode_id": getattr(part, "episode_id", ""), "source": str(source), "files": []}
        self.episodes.append({"dataset_index": int(dataset_index), **record})

    def add_known(self, relative: str, size: int, sha256: str) -> None:
        self.known[relative] = (int(size), sha256)

    def write(self, txn) -> Path:
        """Hash the staged version of ``txn`` and write the manifest into it (before
        ``txn.commit()``); returns the staged manifest path.

        Raises:
            ProvenanceError: the previous version's manifest exists but cannot be read.
        """
        started = time.monotonic()
        stage = Path(txn.path)
        previous_path = stage / self.manifest
        previous = read_manifest(previous_path) if previous_path.exists() else {}
        recorded = {f["path"]: f for f in previous.get("files", [])}
        written = {Path(p).relative_to(stage).as_posix() for p in txn.written}
        files = []
        for relative in _walk(stage, self.manifest):
            path = stage / relative
            old = recorded.get(relative)
            if relative in self.known:
                size, sha = self.known[relative]
                files.append({"path": relative, "size": size, "sha256": sha})
            elif relative not in written and old is not None and old.get("size") == path.stat().st_size:
                files.append({"path": relative, "size": old["size"], "sha256": old.get("sha256")})
            else:
                files.append(file_entry(path, relative))
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        runs = list(previous.get("runs", []))
        for episode in self.episodes:
            episode["run"] = len(runs)
        runs.append({"time": now, "software": software_versions(), "settings": self.settings,
                     "episodes": [e["dataset_index"] for e in self.episodes]})
        manifest = {"manifest_version": MANIFEST_VERSION, "format": self.fmt,
                    "created": previous.get("created", now), "updated": now,
                    "files": files, "episodes": [*previous.get("episodes", []), *self.episodes], "runs": runs}
        target = txn.new_file(self.manifest)
        target.write_text(json.dumps(manifest, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
        self.hash_seconds += time.monotonic() - started
        return target


def verify(root: Path, manifest: str) -> tuple[list[tuple[str, str]], int]:
    """Recompute every file's hash of the dataset at ``root`` against its manifest.

    Returns:
        (problems as (relative path, message), number of files verified intact).
        Problems: the manifest missing or unreadable, a listed file missing, a file
        not listed, a size or SHA-256 that differs.
    """
    root = Path(root)
    try:
        data = read_manifest(root / manifest)
    except ProvenanceError as err:
        return [(manifest, str(err).removeprefix(f"{root / manifest}: "))], 0
    problems, ok = [], 0
    listed = {}
    for entry in data["files"]:
        listed[entry["path"]] = entry
    for relative, entry in listed.items():
        path = root / relative
        if not path.is_file():
            problems.append((relative, "missing: listed in the provenance manifest"))
            continue
        size, sha = sha256_file(path)
        if size != entry.get("size"):
            problems.append((relative, f"size {size} bytes, the manifest says {entry.get('size')}"))
        elif sha != entry.get("sha256"):
            problems.append((relative, f"sha256 {sha[:16]}..., the manifest says {str(entry.get('sha256'))[:16]}..."))
        else:
            ok += 1
    for relative in _walk(root, manifest):
        if relative not in listed:
            problems.append((relative, "not in the provenance manifest"))
    return problems, ok


def settings_of(writer) -> dict[str, Any]:
    """A writer's export settings: format, fps, rig, features and its options."""
    return {"format": writer.name, "fps": writer.fps, "rig": writer.plan.rig,
            "features": list(writer.plan.keys()), "options": dict(writer.options)}
