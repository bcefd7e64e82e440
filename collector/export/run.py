"""Export raw episodes into a dataset: find them, sync each, convert, append in order.

The heavy half of every episode (sync, image decoding, video encoding) runs here, in
local worker processes (``workers > 1``) or as Ray tasks (``ray_address``); the
dataset writer, in this process, appends the prepared parts in source order, so a
dataset's episode order never depends on which worker finished first. At most
``2 x workers`` parts wait on disk at any time, and every part streams its frames,
so memory stays bounded whatever the episodes' length.

An episode that cannot be exported (sync refuses it, a broken bag, a different
rig) is skipped with one line naming it and the reason, and the others are
exported; ``strict=True`` stops at the first one instead, and nothing of the run
is kept. Episodes an operator discarded are left out on purpose. An optional stream
no episode published is left out of the dataset with a warning
(:mod:`collector.export.presence`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from collector.episode import EPISODE_FILE, EpisodeInfo, find_episodes, read_episode_info
from collector.errors import CollectorError
from collector.export.errors import ExportError
from collector.export.features import FeaturePlan
from collector.export.presence import plan_streams
from collector.export.provenance import attach_source
from collector.export.registry import get_writer

SKIP_STATUSES = {"discarded": "discarded by the operator"}
NEEDS_RECOVER = ("recording", "interrupted")

# (event, episode path, done, total) -> None; events: "start", "frames", "done", "skip"
ProgressFn = Callable[[str, str, int, int], None]


@dataclass(kw_only=True)
class ExportResult:
    """What an export did. Times in seconds."""

    out: Path
    format: str
    exported: list[str] = field(default_factory=list)
    excluded: list[tuple[str, str]] = field(default_factory=list)  # (episode, why): left out on purpose
    failed: list[tuple[str, str]] = field(default_factory=list)  # (episode, error)
    warnings: list[str] = field(default_factory=list)  # one line each, e.g. an optional stream left out
    frames: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "format": self.format, "exported": self.exported,
                "excluded": [{"episode": e, "why": w} for e, w in self.excluded],
                "failed": [{"episode": e, "error": w} for e, w in self.failed], "warnings": self.warnings,
                "frames": self.frames, "seconds": round(self.seconds, 3),
                "frames_per_s": round(self.frames / self.seconds, 2) if self.seconds else None}


def find_sources(sources: Iterable[str | Path]) -> list[Path]:
    """Episode folders from ``sources`` (episodes or folders of them), in order, once each.

    Raises:
        ExportError: a source that does not exist or holds no episode.
    """
    found: dict[Path, None] = {}
    for source in sources:
        path = Path(source)
        if not path.exists():
            raise ExportError(f"{path}: no such episode or folder")
        episodes = find_episodes(path)
        if not episodes:
            raise ExportError(f"{path}: no episode here (no {EPISODE_FILE} in it or in its subfolders)")
        found.update(dict.fromkeys(e.resolve() for e in episodes))
    return list(found)


@dataclass(frozen=True, kw_only=True)
class _Job:
    """Everything a worker needs for one episode (picklable)."""

    position: int
    episode: str
    fmt: str
    plan: FeaturePlan
    fps: float
    options: Mapping[str, Any]
    scratch: str


def prepare(job: _Job, progress: Callable[[int, int], None] | None = None):
    """Sync one episode and prepare its part (runs in workers)."""
    from collector.sync import synchronize

    path = Path(job.episode)
    info = read_episode_info(path)
    sync = synchronize(path, fps=job.fps)
    if sync.rig != job.plan.rig:
        raise ExportError(f"{path}: recorded with rig {sync.rig!r}, the dataset is for rig {job.plan.rig!r}")
    writer_cls = get_writer(job.fmt)
    part = writer_cls.prepare_part(plan=job.plan, fps=job.fps, options=job.options, episode_path=path, sync=sync,
                                   info=info, scratch=Path(job.scratch), progress=progress)
    part = attach_source(part, path, info)  # hashed here: in the worker, beside the sync that read the bag
    if sync.violations:  # the rig's sync.on_violation is "mark": say what was kept, and where
        part.provenance["kept_despite"] = [f"{v.stream}: {v.reason}" for v in sync.violations]
    return part


# -- local worker processes ------------------------------------------------------------

_QUEUE = None


def _init_worker(queue) -> None:
    global _QUEUE
    _QUEUE = queue


def _prepare_in_worker(job: _Job):
    def report(done: int, total: int) -> None:
        _QUEUE.put((job.position, done, total))

    return prepare(job, report if _QUEUE is not None else None)


# -- Ray -------------------------------------------------------------------------------


def _prepare_on_ray(job: _Job):
    """Prepare in the node's own temp folder and send the part's files back (no shared disk needed)."""
    scratch = Path(tempfile.mkdtemp(prefix="collector-part-"))
    try:
        part = prepare(replace(job, scratch=str(scratch)))
        files = {str(p.relative_to(scratch)): p.read_bytes() for p in scratch.rglob("*") if p.is_file()}
        return part, files
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _unpack(result, scratch: str):
    part, files = result
    for name, data in files.items():
        target = Path(scratch) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    part.scratch = scratch
    return part


def _ray(address: str):
    try:
        import ray
    except ImportError as err:
        raise ExportError("--ray needs Ray (pip install 'ray[default]')") from err
    if not ray.is_initialized():
        kwargs = {"address": None if address == "local" else address, "log_to_driver": False,
                  "include_dashboard": False, "ignore_reinit_error": True}
        if address == "local":  # this machine only: bind to loopback, never the site network
            kwargs.update(num_cpus=os.cpu_count() or 1, _node_ip_address="127.0.0.1")
        try:
            ray.init(**kwargs)
        except Exception as err:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ...
            raise ExportError(f"cannot reach the Ray cluster at {address!r}: {err}") from err
    return ray


# -- the export ------------------------------------------------------------------------


def _plan_for(episodes: Mapping[Path, EpisodeInfo], streams: Iterable[str] | None, writer_cls,
              out: Path) -> tuple[FeaturePlan, list[str]]:
    """The plan of the first episode's rig, with the optional streams these episodes (and
    the dataset at ``out``, appending) have; and the warnings for the ones left out."""
    from collector.sync.timeline import episode_rig

    return plan_streams(episode_rig(next(iter(episodes))), list(episodes.values()), streams=streams,
                        existing=writer_cls.existing_features(out), out=out)


def export_episodes(sources: Iterable[str | Path], *, fmt: str, out: str | Path, fps: float | None = None,
                    workers: int = 1, ray_address: str | None = None, options: Mapping[str, Any] | None = None,
                    streams: Iterable[str] | None = None, strict: bool = False,
                    progress: ProgressFn | None = None) -> ExportResult:
    """Export every episode of ``sources`` into the ``fmt`` dataset at ``out`` (appending).

    Args:
        sources: episode folders or folders of episodes.
        fmt: a registered format (``lerobot``, ``hdf5``, ...).
        out: the dataset folder.
        fps: grid rate (default: the rig's ``fps``).
        workers: local processes for the per-episode work (1: this process).
        ray_address: run the per-episode work on this Ray cluster (``local`` starts one here).
        options: format options.
        streams: only these rig streams (default all).
        strict: stop at the first episode that cannot be exported (nothing is kept).
        progress: ``progress(event, episode, done, total)`` as episodes advance.

    Raises:
        ExportError: bad arguments, no source episode, nothing exported, or (strict)
            the first failing episode; other CollectorErrors from the first episode's rig.
    """
    started = time.monotonic()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ExportError(f"workers={workers!r} is not a positive integer")
    result = ExportResult(out=Path(out), format=fmt)
    candidates = find_sources(sources)
    episodes: dict[Path, EpisodeInfo] = {}
    for path in candidates:
        info = read_episode_info(path)
        if info.status in SKIP_STATUSES:
            result.excluded.append((str(path), SKIP_STATUSES[info.status]))
        elif info.status in NEEDS_RECOVER:
            reason = f"status {info.status!r}: the recorder did not finish it; run `collector recover {path}` first"
            if strict:
                raise ExportError(f"{path}: {reason}")
            result.failed.append((str(path), reason))
        else:
            episodes[path] = info
    if not episodes:
        raise ExportError("no episode to export" + (f" ({len(result.excluded)} discarded, {len(result.failed)} "
                                                     "not finished)" if candidates else ""))
    writer_cls = get_writer(fmt)
    plan, result.warnings = _plan_for(episodes, streams, writer_cls, Path(out))
    fps = float(fps if fps is not None else plan.fps)
    notify = progress or (lambda *args: None)
    with writer_cls(Path(out), plan=plan, fps=fps, options=dict(options or {})) as writer:
        jobs = [_Job(position=i, episode=str(p), fmt=fmt, plan=plan, fps=fps, options=dict(writer.options),
                     scratch="") for i, p in enumerate(episodes)]

        def committed(job: _Job, part) -> None:
            writer.commit(part)
            frames = getattr(part, "length", None) or getattr(part, "frames", 0)
            result.exported.append(job.episode)
            result.frames += int(frames)
            notify("done", job.episode, int(frames), int(frames))

        def failed(job: _Job, err: CollectorError) -> None:
            if strict:
                raise (err if job.episode in str(err) else ExportError(f"{job.episode}: {err}")) from err
            # (episode, reason): a reason that names the episode already (SyncError) is not prefixed twice
            result.failed.append((job.episode, str(err).removeprefix(f"{job.episode}: ")))
            notify("skip", job.episode, 0, 0)

        if ray_address:
            _run_ray(jobs, writer, committed, failed, notify, ray_address)
        elif workers > 1 and len(jobs) > 1:
            _run_pool(jobs, writer, committed, failed, notify, workers)
        else:
            for job in jobs:
                job = replace(job, scratch=str(writer.new_scratch()))
                notify("start", job.episode, 0, 0)
                try:
                    part = prepare(job, lambda done, total, e=job.episode: notify("frames", e, done, total))
                except CollectorError as err:
                    shutil.rmtree(job.scratch, ignore_errors=True)
                    failed(job, err)
                    continue
                committed(job, part)
        if not result.exported:
            writer.abort()
            raise ExportError("no episode exported; " + "; ".join(f"{Path(e).name}: {w}" for e, w in result.failed))
    result.seconds = time.monotonic() - started
    return result


def _commit_in_order(jobs, done: dict[int, Any], next_position: int, committed, failed) -> int:
    """Commit (or record as failed) every finished job from ``next_position`` on, in order."""
    while next_position < len(jobs) and next_position in done:
        outcome = done.pop(next_position)
        if isinstance(outcome, CollectorError):
            failed(jobs[next_position], outcome)
        else:
            committed(jobs[next_position], outcome)
        next_position += 1
    return next_position


def _run_pool(jobs: list[_Job], writer, committed, failed, notify, workers: int) -> None:
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # no fork: the parent may hold threads (progress display)
    queue = context.Queue()
    pending: dict[Future, _Job] = {}
    done: dict[int, Any] = {}
    submitted = next_position = 0
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                             initargs=(queue,)) as pool:
        try:
            while next_position < len(jobs):
                while submitted < len(jobs) and len(pending) + len(done) < 2 * workers:
                    job = replace(jobs[submitted], scratch=str(writer.new_scratch()))
                    jobs[submitted] = job
                    pending[pool.submit(_prepare_in_worker, job)] = job
                    notify("start", job.episode, 0, 0)
                    submitted += 1
                finished, _ = wait(list(pending), timeout=0.2, return_when=FIRST_COMPLETED)
                while not queue.empty():
                    position, frames_done, total = queue.get_nowait()
                    notify("frames", jobs[position].episode, frames_done, total)
                for future in finished:
                    job = pending.pop(future)
                    error = future.exception()
                    if error is not None and not isinstance(error, CollectorError):
                        raise error
                    done[job.position] = error if error is not None else future.result()
                    if error is not None:
                        shutil.rmtree(job.scratch, ignore_errors=True)
                next_position = _commit_in_order(jobs, done, next_position, committed, failed)
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def _run_ray(jobs: list[_Job], writer, committed, failed, notify, address: str) -> None:
    ray = _ray(address)
    remote = ray.remote(_prepare_on_ray)
    in_flight = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
    pending: dict[Any, _Job] = {}
    done: dict[int, Any] = {}
    submitted = next_position = 0
    while next_position < len(jobs):
        while submitted < len(jobs) and len(pending) + len(done) < in_flight:
            job = jobs[submitted]
            pending[remote.remote(job)] = job
            notify("start", job.episode, 0, 0)
            submitted += 1
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
        for ref in ready:
            job = pending.pop(ref)
            try:
                outcome = _unpack(ray.get(ref), str(writer.new_scratch()))
            except ray.exceptions.RayTaskError as err:
                cause = getattr(err, "cause", None)
                if not isinstance(cause, CollectorError):
                    raise
                outcome = cause
            done[job.position] = outcome
        next_position = _commit_in_order(jobs, done, next_position, committed, failed)
