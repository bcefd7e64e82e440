"""One recording session: episodes written as rosbag2 bags, off the subscription hot path.

No rclpy here: the ROS node (``collector.ros.recorder_node``) hands raw CDR
bytes to :meth:`Recorder.submit` from its callbacks; a single writer thread
drains them into a :class:`~collector.bag.writer.BagWriter`. Keeping this
apart lets tests drive a full episode without DDS, and keeps the callback to
an append.

Lifecycle per episode: :meth:`Recorder.start` creates the bag directory and
``episode.json`` (``status: recording``); :meth:`Recorder.stop` drains what was
received, closes the bag (index + ``metadata.yaml``) and rewrites
``episode.json`` with the per-stream statistics.
"""

from __future__ import annotations

import errno
import os
import shutil
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from collector.bag.writer import BagWriter
from collector.cdr.header import header_stamp_ns
from collector.episode import (
    EpisodeInfo,
    StreamStats,
    gaps_on_stamp,
    new_episode_dir,
    open_episode,
    read_episode_info,
    write_episode_info,
)
from collector.errors import CollectorError, DiskSpaceError, EpisodeError
from collector.pseudonym import check_operator_id
from collector.rig import Rig

# How often the writer thread wakes when idle, and checks the disk (seconds).
_IDLE_SLEEP_S = 0.005
_DISK_CHECK_S = 0.5
_BATCH = 256


@dataclass(frozen=True, kw_only=True)
class RecorderConfig:
    """Settings of a recording session; validated on construction.

    ``disk_reserve_bytes``: refuse to start, and end an episode cleanly, when
    free space on ``out`` falls below this. ``max_episode_s``: end episodes
    automatically after this long (0 = only on request). ``flush_interval_s``
    bounds what a crash can lose.
    """

    rig: Rig
    out: Path
    task: str = ""
    operator: str = ""
    disk_reserve_bytes: int = 1 << 30
    chunk_size: int = 4 << 20
    flush_interval_s: float = 0.5
    max_episode_s: float = 0.0
    fsync: bool = True
    max_backlog_bytes: int = 0  # 0: a quarter of physical memory, at least 1 GiB

    def __post_init__(self) -> None:
        check_operator_id(self.operator)
        if self.disk_reserve_bytes < 0:
            raise CollectorError(f"disk_reserve_bytes must be >= 0, got {self.disk_reserve_bytes}")
        if self.chunk_size < 1024:
            raise CollectorError(f"chunk_size must be >= 1024 bytes, got {self.chunk_size}")
        if not 0.01 <= self.flush_interval_s <= 10:
            raise CollectorError(f"flush_interval_s must be within [0.01, 10], got {self.flush_interval_s}")
        if self.max_episode_s < 0:
            raise CollectorError(f"max_episode_s must be >= 0, got {self.max_episode_s}")
        if self.max_backlog_bytes < 0:
            raise CollectorError(f"max_backlog_bytes must be >= 0, got {self.max_backlog_bytes}")

    @property
    def backlog_limit_bytes(self) -> int:
        """Received-but-unwritten bytes at which an episode is ended rather than risk memory."""
        if self.max_backlog_bytes:
            return self.max_backlog_bytes
        try:
            physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            physical = 4 << 30
        return max(1 << 30, physical // 4)


@dataclass
class _Episode:
    """State of the episode being written; touched by the writer thread under the lock."""

    path: Path
    info: EpisodeInfo
    writer: BagWriter
    channels: list[int]
    stats: list[StreamStats]
    queue: deque = field(default_factory=deque)
    sequences: dict = field(default_factory=dict)
    transport_drops: list[int] = field(default_factory=list)
    stamped: list[bool] = field(default_factory=list)  # judge gaps on header.stamp
    submitted_bytes: int = 0  # touched only by the subscription thread
    overflowed: bool = False  # set by the subscription thread when the backlog limit is hit
    written_bytes: int = 0  # touched only by the writer


class Recorder:
    """Writes episodes of one rig. Thread-safe: callbacks, services and timers may call in.

    Usage::

        with Recorder(config) as recorder:
            recorder.start()
            recorder.submit(stream_index, cdr_bytes, receive_ns, publish_ns)
            info = recorder.stop()
    """

    def __init__(self, config: RecorderConfig):
        self.config = config
        self.rig = config.rig
        self.task = config.task
        self.operator = config.operator
        self.last_episode: Path | None = None
        self.last_stop_reason = ""
        self.bytes_written_total = 0
        self.free_disk_bytes = self._free_disk()
        self._backlog_limit = config.backlog_limit_bytes
        self._episode: _Episode | None = None
        self._lock = threading.RLock()
        self._closing = False
        self._thread = threading.Thread(target=self._write_loop, name="collector-writer", daemon=True)
        self._thread.start()

    # -- context manager -------------------------------------------------
    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- state -----------------------------------------------------------
    @property
    def recording(self) -> bool:
        """True while an episode is open; waits for a stop in progress to finish."""
        with self._lock:
            return self._episode is not None

    @property
    def episode_path(self) -> Path | None:
        episode = self._episode
        return episode.path if episode else None

    @property
    def episode_started_ns(self) -> int | None:
        episode = self._episode
        return episode.info.start_ns if episode else None

    def backlog(self) -> int:
        """Messages received but not yet written (grows only if the disk cannot keep up)."""
        episode = self._episode
        return len(episode.queue) if episode else 0

    def episode_bytes(self) -> int:
        episode = self._episode
        return sum(s.bytes for s in episode.stats) if episode else 0

    # -- control ---------------------------------------------------------
    def start(self, *, task: str | None = None, operator: str | None = None) -> EpisodeInfo:
        """Begin a new episode; returns its (initial) info.

        Raises:
            EpisodeError: when an episode is already being recorded.
            DiskSpaceError: when free space is below the reserve.
        """
        with self._lock:
            if self._closing:
                raise EpisodeError("recorder is shutting down")
            if self._episode is not None:
                raise EpisodeError(f"already recording {self._episode.path.name}; stop it first")
            if task is not None:
                self.task = task
            if operator is not None:
                self.operator = check_operator_id(operator)
            out = Path(self.config.out)
            out.mkdir(parents=True, exist_ok=True)
            free = self._free_disk()
            if free < self.config.disk_reserve_bytes:
                raise DiskSpaceError(
                    f"{out}: only {free / 1e9:.2f} GB free, below the reserve of "
                    f"{self.config.disk_reserve_bytes / 1e9:.2f} GB; not starting"
                )
            path = new_episode_dir(out, self.rig.rig)
            writer = BagWriter(
                path,
                chunk_size=self.config.chunk_size,
                flush_interval_ns=int(self.config.flush_interval_s * 1e9),
                fsync=self.config.fsync,
            )
            try:
                channels, info = open_episode(writer, self.rig, self.rig.streams, task=self.task,
                                              operator=self.operator, start_ns=time.time_ns())
                write_episode_info(path, info)
            except BaseException:
                writer.close()
                raise
            self._episode = _Episode(
                path=path, info=info, writer=writer, channels=channels, stats=list(info.streams.values()),
                transport_drops=[0] * len(channels),
                stamped=[gaps_on_stamp(s) for s in self.rig.streams],
            )
            return info

    def submit(self, stream_index: int, data: bytes, receive_ns: int, publish_ns: int,
               publisher: bytes = b"", sequence: int | None = None) -> None:
        """Hot path: queue one received message for the current episode (no-op when idle).

        ``publisher`` (the DDS writer's gid) and ``sequence`` (its publication
        sequence number) let the writer count messages lost in transport
        exactly, per publisher, and the publishers of each stream.
        """
        episode = self._episode
        if episode is None or episode.overflowed:
            return
        if episode.submitted_bytes - episode.written_bytes > self._backlog_limit:
            # The disk cannot keep up: stop taking data for this episode (memory stays
            # bounded); the writer saves what was queued and ends the episode as "backlog".
            episode.overflowed = True
            return
        episode.submitted_bytes += len(data)
        episode.queue.append((stream_index, data, receive_ns, publish_ns, publisher, sequence))

    def stop(self, *, reason: str = "operator", discard: bool = False) -> EpisodeInfo:
        """End the current episode: drain, close the bag, finalise episode.json.

        ``discard`` keeps every byte on disk but marks the episode
        ``discarded`` so review and export skip it.

        Raises:
            EpisodeError: when no episode is being recorded.
        """
        with self._lock:
            episode = self._episode
            if episode is None:
                raise EpisodeError("not recording")
            self._episode = None
            info = episode.info
            info.stop_ns = time.time_ns()
            info.end_reason = reason
            try:
                self._drain(episode)
                episode.writer.close()
                info.status = "discarded" if discard else "complete"
            except OSError as err:
                # Disk full or I/O error while closing: the chunks already on disk stay;
                # `collector recover` rebuilds the index from them.
                info.status = "interrupted"
                info.end_reason = "disk_low" if reason == "disk_low" else "error"
                info.notes.append(f"bag not closed cleanly ({err}); run: collector recover {episode.path}")
            for name, drops in zip(info.streams, episode.transport_drops):
                info.streams[name].drops += drops
            self.bytes_written_total += sum(s.bytes for s in episode.stats)
            try:
                write_episode_info(episode.path, info)
            except OSError as err:
                info.notes.append(f"episode.json not updated: {err}")
            # reason first: a status read between the two lines must not pair the new
            # episode with the previous reason
            self.last_stop_reason = info.end_reason
            self.last_episode = episode.path
            return info

    def label(self, success: bool) -> Path:
        """Set the success label of the current episode, or else of the last one; returns its path.

        Raises:
            EpisodeError: when there is no episode to label.
        """
        with self._lock:
            if self._episode is not None:
                self._episode.info.success = success
                write_episode_info(self._episode.path, self._episode.info)
                return self._episode.path
            if self.last_episode is None:
                raise EpisodeError("no episode recorded yet to label")
            info = read_episode_info(self.last_episode)
            info.success = success
            write_episode_info(self.last_episode, info)
            return self.last_episode

    def set_task(self, task: str) -> None:
        """Set the task instruction for the current (if any) and the following episodes."""
        with self._lock:
            self.task = task
            if self._episode is not None:
                self._episode.info.task = task
                write_episode_info(self._episode.path, self._episode.info)

    def close(self) -> None:
        """Stop a running episode (reason ``shutdown``) and end the writer thread."""
        with self._lock:
            self._closing = True
            if self._episode is not None:
                self.stop(reason="shutdown")
        self._thread.join(timeout=10)

    # -- writer thread ---------------------------------------------------
    def _free_disk(self) -> int:
        target = Path(self.config.out)
        while not target.exists() and target != target.parent:
            target = target.parent
        return shutil.disk_usage(target).free

    def _drain(self, episode: _Episode, limit: int | None = None) -> None:
        """Write queued messages (at most ``limit``; all when None) into the bag."""
        queue = episode.queue
        writer = episode.writer
        channels = episode.channels
        stats = episode.stats
        sequences = episode.sequences
        drops = episode.transport_drops
        stamped = episode.stamped
        budget = len(queue) if limit is None else min(limit, len(queue))
        for _ in range(budget):
            index, data, receive_ns, publish_ns, publisher, sequence = queue.popleft()
            writer.write(channels[index], data, receive_ns, publish_ns)
            episode.written_bytes += len(data)
            stats[index].add(receive_ns, len(data), header_stamp_ns(data) if stamped[index] else None)
            if sequence is not None:
                # Sequence numbers count per publisher: a restarted driver is a new
                # publisher starting again at 1, not messages lost.
                key = (index, publisher)
                previous = sequences.get(key)
                if previous is None:
                    if publisher:
                        stats[index].publishers += 1
                elif sequence > previous + 1:
                    drops[index] += sequence - previous - 1
                sequences[key] = sequence

    def _write_loop(self) -> None:
        next_disk_check = 0.0
        while not self._closing:
            episode = self._episode
            if episode is None or not episode.queue:
                if episode is not None:
                    with self._lock:
                        if self._episode is episode:
                            episode.writer.flush_if_due()
                time.sleep(_IDLE_SLEEP_S)
            else:
                with self._lock:
                    if self._episode is episode:
                        try:
                            # Bounded batches: services and status must not wait long for the lock.
                            self._drain(episode, limit=_BATCH)
                        except OSError as err:
                            episode.info.notes.append(f"write failed: {err}")
                            self.stop(reason="disk_low" if err.errno == errno.ENOSPC else "error")
                            continue
                        except Exception as err:  # a bug must not silently stop the writes
                            episode.info.notes.append(f"writer error: {err!r}")
                            self.stop(reason="error")
                            raise
                        if episode.overflowed and not episode.queue:
                            episode.info.notes.append(
                                f"ended: more than {self._backlog_limit / 1e9:.2f} GB received but not yet "
                                "written; the disk cannot keep up (messages after that point not recorded)"
                            )
                            self.stop(reason="backlog")
            now = time.monotonic()
            if now >= next_disk_check:
                next_disk_check = now + _DISK_CHECK_S
                self._check_limits()

    def _check_limits(self) -> None:
        self.free_disk_bytes = self._free_disk()
        episode = self._episode
        if episode is None:
            return
        with self._lock:
            if self._episode is not episode:
                return
            if self.free_disk_bytes < self.config.disk_reserve_bytes:
                episode.info.notes.append(
                    f"ended: free disk {self.free_disk_bytes / 1e9:.2f} GB below reserve "
                    f"{self.config.disk_reserve_bytes / 1e9:.2f} GB"
                )
                self.stop(reason="disk_low")
            elif (self.config.max_episode_s
                  and (time.time_ns() - episode.info.start_ns) >= self.config.max_episode_s * 1e9):
                self.stop(reason="duration")
