"""Crash-safe rosbag2 bag writer with MCAP storage.

A bag is a directory ``<name>/`` holding ``<name>_0.mcap`` and, once closed,
``metadata.yaml``, laid out as ``ros2 bag record -s mcap`` writes it. Messages are
grouped in MCAP chunks; a chunk is finalized, written and flushed to the OS as soon as
it is older than ``flush_interval_ns`` (by log time or by wall clock) or larger than
``chunk_size``. A writer killed with SIGKILL therefore leaves every completed chunk on
disk, and :func:`collector.bag.recover.recover_bag` turns that into a complete bag.

Uncompressed chunks (the default) are written by
:class:`~collector.bag.mcap_records.UncompressedMcapWriter`, which never copies a message
payload; compressed ones by ``mcap.writer.Writer``. Both produce the same MCAP layout.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mcap.writer import CompressionType, Writer

from collector import __version__
from collector.bag.mcap_records import UncompressedMcapWriter
from collector.bag.metadata import (
    BagMetadata,
    FileRecord,
    QosProfile,
    TopicRecord,
    qos_profiles_yaml,
    write_metadata,
)
from collector.bag.msgdef import message_definition, type_hash
from collector.bag.sink import DirectSink, open_direct
from collector.errors import BagError
from collector.fs import fdatasync, fsync_dir

LIBRARY = f"collector {__version__} (mcap-python)"
ROSBAG2_METADATA_NAME = "rosbag2"

# opcode(1) + record length(8) + channel(2) + sequence(4) + log time(8) + publish time(8)
_MESSAGE_OVERHEAD = 31
_NEVER = 1 << 62  # chunk size handed to mcap: we finalize chunks ourselves
_U64 = 1 << 64


@dataclass(frozen=True)
class _Storage:
    """How one chunk compression is written: the file's buffering and its MCAP writer."""

    buffering: int  # for open(): 0 = unbuffered, -1 = default buffer
    make_writer: Callable[..., Any]  # stream[, sink] -> object with mcap Writer's methods
    direct: bool = False  # can write through a DirectSink (O_DIRECT)


def _mcap_writer(compression: CompressionType) -> Callable[[BinaryIO], Writer]:
    def make(stream: BinaryIO) -> Writer:
        return Writer(stream, chunk_size=_NEVER, compression=compression, enable_crcs=True)

    return make


_STORAGE = {
    # O_DIRECT through an aligned buffer where possible, else os.writev of the caller's buffers
    "none": _Storage(buffering=0, make_writer=UncompressedMcapWriter, direct=True),
    "zstd": _Storage(buffering=-1, make_writer=_mcap_writer(CompressionType.ZSTD)),
    "lz4": _Storage(buffering=-1, make_writer=_mcap_writer(CompressionType.LZ4)),
}


class BagWriter:
    """Write one rosbag2 bag directory (MCAP storage); use as a context manager.

    Args:
        path: bag directory to create; it must not exist. The MCAP file is
            ``path/<path.name>_0.mcap``.
        chunk_size: finalize a chunk once its messages exceed this many bytes.
        flush_interval_ns: finalize a chunk once it spans this many nanoseconds of log
            time, or has been open this long by the wall clock (checked on each write and
            in :meth:`flush_if_due`). Bounds what a SIGKILL can lose.
        compression: chunk compression, ``"none"`` (fastest), ``"zstd"`` or ``"lz4"``.
        fsync: ``os.fdatasync`` on :meth:`flush`, on close, and at most once per
            ``flush_interval_ns`` on automatic chunk flushes, so data also survives power loss.
        direct_io: write uncompressed bags with ``O_DIRECT`` where the file system allows
            it (:mod:`collector.bag.sink`): a fraction of the CPU of buffered writes and no
            page cache filled by the recording. Same file content either way.

    Raises:
        BagError: ``path`` exists already, an argument is invalid, or the files cannot
            be created.
    """

    def __init__(
        self,
        path: Path,
        *,
        chunk_size: int = 4 * 1024 * 1024,
        flush_interval_ns: int = 500_000_000,
        compression: str = "none",
        fsync: bool = True,
        direct_io: bool = True,
    ) -> None:
        if compression not in _STORAGE:
            raise BagError(f"compression={compression!r} is not one of {', '.join(_STORAGE)}")
        if not isinstance(chunk_size, int) or chunk_size <= 0:
            raise BagError(f"chunk_size={chunk_size!r} is not a positive int (bytes)")
        if not isinstance(flush_interval_ns, int) or flush_interval_ns <= 0:
            raise BagError(f"flush_interval_ns={flush_interval_ns!r} is not a positive int (ns)")
        self._path = Path(path)
        if self._path.exists():
            raise BagError(f"{self._path} exists already, not overwriting")
        self._chunk_size = chunk_size
        self._flush_interval_ns = flush_interval_ns
        self._fsync = fsync
        self._compression = compression
        storage = _STORAGE[compression]
        self._mcap_path = self._path / f"{self._path.name}_0.mcap"
        sink = None
        try:
            self._path.mkdir(parents=True)
            fd = open_direct(self._mcap_path) if direct_io and storage.direct else None
            if fd is None:
                self._stream = open(self._mcap_path, "xb", buffering=storage.buffering)
            else:
                self._stream = open(fd, "wb", buffering=0)
                sink = DirectSink(fd)
        except OSError as err:
            raise BagError(f"cannot create bag {self._path}: {err.strerror or err}") from err
        self.direct_io = sink is not None
        try:
            self._mcap = storage.make_writer(self._stream, sink) if sink else storage.make_writer(self._stream)
        except Exception as err:  # mcap raises UnsupportedCompressionError for missing codecs
            self._stream.close()
            raise BagError(f"cannot write {compression} chunks: {err}") from err
        self._mcap.start(profile="ros2", library=LIBRARY)
        self._stream.flush()
        fsync_dir(self._path.parent)
        fsync_dir(self._path)
        self._closed = False
        self._schemas: dict[str, int] = {}
        self._topics: dict[str, TopicRecord] = {}
        self._topic_of_channel: dict[int, str] = {}
        self._counts: dict[int, int] = {}
        self._bytes = 0
        self._start_ns: int | None = None
        self._end_ns: int | None = None
        # Open chunk state; _chunk_first_log_ns is None while the chunk holds no message.
        self._chunk_bytes = 0
        self._chunk_first_log_ns: int | None = None
        self._chunk_opened_wall_ns = 0
        self._last_sync_wall_ns = time.monotonic_ns()

    # -- context manager -------------------------------------------------------------
    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- properties ------------------------------------------------------------------
    @property
    def path(self) -> Path:
        """The bag directory."""
        return self._path

    @property
    def mcap_path(self) -> Path:
        """The MCAP storage file inside the bag directory."""
        return self._mcap_path

    @property
    def message_counts(self) -> dict[str, int]:
        """Messages written so far, per topic name (topics without messages included)."""
        return {self._topic_of_channel[cid]: n for cid, n in self._counts.items()}

    @property
    def bytes_written(self) -> int:
        """Payload bytes passed to :meth:`write` so far (the MCAP file is slightly larger)."""
        return self._bytes

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    # -- registration ----------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise BagError(f"bag {self._path} is closed")

    def add_topic(self, name: str, msgtype: str, *, qos: QosProfile | None = None) -> int:
        """Register a topic; returns the channel id to pass to :meth:`write`.

        The schema is the ``ros2msg`` definition of ``msgtype`` (registered once per type),
        the channel carries ``offered_qos_profiles`` and ``topic_type_hash`` metadata,
        as rosbag2 does. ``qos`` defaults to ``QosProfile()`` (reliable, volatile, keep_last 10).

        Raises:
            BagError: the topic is registered already, the writer is closed, or the
                message definition of ``msgtype`` cannot be found.
        """
        self._check_open()
        if not name:
            raise BagError("topic name is empty")
        if name in self._topics:
            raise BagError(f"topic {name!r} is registered already in {self._path}")
        qos = qos if qos is not None else QosProfile()
        profiles = [qos.to_metadata()]
        digest = type_hash(msgtype)
        schema_id = self._schemas.get(msgtype)
        if schema_id is None:
            definition = message_definition(msgtype)
            schema_id = self._mcap.register_schema(msgtype, "ros2msg", definition.encode("utf-8"))
            self._schemas[msgtype] = schema_id
        channel_id = self._mcap.register_channel(
            name,
            "cdr",
            schema_id,
            {"offered_qos_profiles": qos_profiles_yaml(profiles), "topic_type_hash": digest},
        )
        self._topics[name] = TopicRecord(
            name=name, msgtype=msgtype, offered_qos_profiles=profiles, type_description_hash=digest
        )
        self._topic_of_channel[channel_id] = name
        self._counts[channel_id] = 0
        return channel_id

    def add_attachment(self, name: str, data: bytes, media_type: str) -> None:
        """Store a file (rig profile, calibration, URDF...) as an MCAP attachment.

        Raises:
            BagError: the writer is closed or ``data`` is not bytes.
        """
        self._check_open()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise BagError(f"attachment {name!r}: data is {type(data).__name__}, not bytes")
        now = time.time_ns()
        self._mcap.add_attachment(
            create_time=now, log_time=now, name=name, media_type=media_type, data=bytes(data)
        )

    def add_metadata(self, name: str, data: Mapping[str, str]) -> None:
        """Store a string-to-string MCAP metadata record.

        Raises:
            BagError: the writer is closed, ``name`` is the reserved ``"rosbag2"`` (written
                at close) or a key / value is not a str.
        """
        self._check_open()
        if name == ROSBAG2_METADATA_NAME:
            raise BagError(f"metadata name {name!r} is reserved for the rosbag2 record written at close")
        bad = [(k, v) for k, v in data.items() if not isinstance(k, str) or not isinstance(v, str)]
        if bad:
            raise BagError(f"metadata {name!r}: entry {bad[0]!r} is not str -> str")
        self._mcap.add_metadata(name, dict(data))

    # -- hot path --------------------------------------------------------------------
    def write(self, channel_id: int, data: bytes, log_time_ns: int, publish_time_ns: int) -> None:
        """Append one serialized (CDR) message.

        Args:
            channel_id: id returned by :meth:`add_topic`.
            data: serialized message bytes (or a contiguous byte buffer). Uncompressed
                chunks keep a reference to it, not a copy, until the chunk is written:
                do not change a mutable buffer before the next :meth:`flush` or :meth:`close`.
            log_time_ns: receive time (MCAP log time), int ns since the epoch.
            publish_time_ns: sender's time (MCAP publish time), int ns since the epoch.

        Raises:
            BagError: unknown channel id, times that are not int ns in [0, 2**64), or the
                writer is closed.
        """
        counts = self._counts
        if channel_id not in counts or self._closed:
            self._check_open()
            raise BagError(f"channel id {channel_id!r} was not returned by add_topic on {self._path}")
        # mcap would fail half-way through the record and leave a corrupt chunk behind.
        if not (type(log_time_ns) is int and type(publish_time_ns) is int
                and 0 <= log_time_ns < _U64 and 0 <= publish_time_ns < _U64):
            raise BagError(
                f"log_time_ns={log_time_ns!r} / publish_time_ns={publish_time_ns!r}: "
                "times must be int nanoseconds in [0, 2**64)"
            )
        self._mcap.add_message(channel_id, log_time_ns, data, publish_time_ns)
        counts[channel_id] += 1
        size = len(data)
        self._bytes += size
        if self._start_ns is None:
            self._start_ns = self._end_ns = log_time_ns
        elif log_time_ns < self._start_ns:
            self._start_ns = log_time_ns
        elif log_time_ns > self._end_ns:
            self._end_ns = log_time_ns
        self._chunk_bytes += size + _MESSAGE_OVERHEAD
        first = self._chunk_first_log_ns
        if first is None:
            self._chunk_first_log_ns = log_time_ns
            self._chunk_opened_wall_ns = time.monotonic_ns()
            if self._chunk_bytes > self._chunk_size:
                self._finish_chunk()
        elif (
            self._chunk_bytes > self._chunk_size
            or log_time_ns - first >= self._flush_interval_ns
            or time.monotonic_ns() - self._chunk_opened_wall_ns >= self._flush_interval_ns
        ):
            self._finish_chunk()

    def _finish_chunk(self) -> None:
        """Write the open chunk to the OS; fdatasync at most once per flush interval."""
        self._mcap.flush()
        self._chunk_bytes = 0
        self._chunk_first_log_ns = None
        if self._fsync:
            now = time.monotonic_ns()
            if now - self._last_sync_wall_ns >= self._flush_interval_ns:
                fdatasync(self._stream.fileno())
                self._last_sync_wall_ns = now

    def flush_if_due(self) -> bool:
        """Finish the open chunk if it is older than the flush interval (wall clock).

        Call from a timer when messages may stop arriving, so that an idle writer
        does not keep its last chunk in memory. Returns True when a chunk was written.
        """
        if self._closed or self._chunk_first_log_ns is None:
            return False
        if time.monotonic_ns() - self._chunk_opened_wall_ns < self._flush_interval_ns:
            return False
        self._finish_chunk()
        return True

    def flush(self) -> None:
        """Finish the open chunk, write it, flush the stream and fdatasync (when ``fsync``).

        Raises:
            BagError: the writer is closed.
        """
        self._check_open()
        self._mcap.flush()
        self._chunk_bytes = 0
        self._chunk_first_log_ns = None
        if self._fsync:
            fdatasync(self._stream.fileno())
            self._last_sync_wall_ns = time.monotonic_ns()

    # -- close -----------------------------------------------------------------------
    def bag_metadata(self) -> BagMetadata:
        """rosbag2 metadata describing what has been written so far."""
        start = self._start_ns or 0
        duration = (self._end_ns - start) if self._end_ns is not None else 0
        total = sum(self._counts.values())
        counts = self.message_counts
        topics = [
            TopicRecord(
                name=t.name,
                msgtype=t.msgtype,
                message_count=counts.get(t.name, 0),
                offered_qos_profiles=t.offered_qos_profiles,
                type_description_hash=t.type_description_hash,
            )
            for t in self._topics.values()
        ]
        file_name = self._mcap_path.name
        return BagMetadata(
            starting_time_ns=start,
            duration_ns=duration,
            message_count=total,
            topics=topics,
            relative_file_paths=[file_name],
            files=[
                FileRecord(path=file_name, starting_time_ns=start, duration_ns=duration, message_count=total)
            ],
            ros_distro=os.environ.get("ROS_DISTRO", ""),
        )

    def close(self) -> None:
        """Finish the MCAP file (rosbag2 metadata record, summary, indexes) and write
        ``metadata.yaml``. Idempotent.

        Raises:
            BagError: the files cannot be written (e.g. disk full).
        """
        if self._closed:
            return
        self._closed = True
        metadata = self.bag_metadata()
        try:
            self._mcap.flush()
            self._mcap.add_metadata(ROSBAG2_METADATA_NAME, {"serialized_metadata": metadata.serialized()})
            self._mcap.finish()
            self._stream.flush()
            if self._fsync:
                os.fsync(self._stream.fileno())
        except OSError as err:
            raise BagError(f"cannot finish {self._mcap_path}: {err.strerror or err}") from err
        finally:
            self._stream.close()
        write_metadata(self._path, metadata)
