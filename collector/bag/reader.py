"""Read rosbag2 bags with MCAP storage, or bare MCAP files, without ROS.

:func:`open_bag` accepts a rosbag2 directory with ``metadata.yaml`` (one or several
``.mcap`` files, as listed in ``relative_file_paths``), a directory of ``.mcap`` files
without ``metadata.yaml``, or a single ``.mcap`` file. Messages come back as raw CDR
bytes with their receive (log) and publish times, in log-time order across files.
"""

from __future__ import annotations

import heapq
import re
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, NamedTuple

from mcap.reader import SeekingReader
from mcap.summary import Summary

from collector.bag.metadata import METADATA_FILENAME, BagMetadata, parse_qos_profiles, read_metadata
from collector.errors import BagError


class BagMessage(NamedTuple):
    """One recorded message: topic, receive time and sender time (int ns), CDR bytes."""

    topic: str
    log_time_ns: int
    publish_time_ns: int
    data: bytes


@dataclass(frozen=True, kw_only=True)
class TopicInfo:
    """A topic of a bag.

    Attributes:
        name: topic name.
        msgtype: ROS type, e.g. ``sensor_msgs/msg/Image``.
        count: number of messages in the bag.
        qos: offered QoS profiles, normalized to rosbag2 v9 dicts.
        msgdef: message definition text stored in the bag (``""`` if none).
        msgdef_encoding: schema encoding, normally ``ros2msg``.
        serialization_format: message encoding, normally ``cdr``.
    """

    name: str
    msgtype: str
    count: int
    qos: list[dict[str, Any]] = field(default_factory=list)
    msgdef: str = ""
    msgdef_encoding: str = ""
    serialization_format: str = "cdr"


class BagAttachment(NamedTuple):
    """An MCAP attachment: name, media type, bytes and its times (int ns)."""

    name: str
    media_type: str
    data: bytes
    log_time_ns: int
    create_time_ns: int


def _recover_hint(path: Path) -> str:
    bag_dir = path.parent
    return f"run `collector recover {bag_dir}` to rebuild it"


def natural_key(path: Path) -> list[Any]:
    """Sort key for file names with numbers in numeric order (``bag_2.mcap`` before ``bag_10.mcap``)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


class McapFile:
    """One open MCAP file with its summary.

    Raises:
        BagError: the file cannot be opened, is not MCAP, or has no valid summary
            (truncated, damaged or unindexed; the message suggests ``collector recover``).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.stream: IO[bytes] = open(path, "rb")
        except OSError as err:
            raise BagError(f"cannot open {path}: {err.strerror or err}") from err
        try:
            # chunk CRCs checked as in file order (_file_order): damage is an error, never data
            self.reader = SeekingReader(self.stream, validate_crcs=True)
        except Exception as err:  # invalid magic, empty file
            self.stream.close()
            raise BagError(f"{path} is not an MCAP file (bad or missing magic bytes)") from err
        try:
            summary = self.reader.get_summary()
        except Exception as err:  # parsing untrusted bytes: any failure means damage
            self.stream.close()
            raise BagError(
                f"{path} is truncated or damaged (no valid MCAP footer / summary); {_recover_hint(path)}"
            ) from err
        if summary is None or (summary.statistics is None and not summary.chunk_indexes):
            self.stream.close()
            raise BagError(f"{path} is unindexed (MCAP without summary); {_recover_hint(path)}")
        self.summary: Summary = summary

    def counts_by_topic(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        stats = self.summary.statistics
        if stats is None:
            return counts
        for channel_id, count in stats.channel_message_counts.items():
            channel = self.summary.channels.get(channel_id)
            if channel is not None:
                counts[channel.topic] = counts.get(channel.topic, 0) + count
        return counts

    def _expected_count(self, topics: list[str] | None) -> int | None:
        """Messages the summary's statistics count on ``topics`` (all: None); None without statistics."""
        stats = self.summary.statistics
        if stats is None:
            return None
        if topics is None:
            return stats.message_count
        channels = self.summary.channels
        return sum(count for channel_id, count in stats.channel_message_counts.items()
                   if channel_id in channels and channels[channel_id].topic in topics)

    def messages(self, topics: list[str] | None, ordered: bool) -> Iterator[BagMessage]:
        count = 0
        try:
            if ordered or not self.summary.chunk_indexes:
                for _schema, channel, message in self.reader.iter_messages(
                    topics=topics, log_time_order=ordered
                ):
                    count += 1
                    yield BagMessage(channel.topic, message.log_time, message.publish_time, message.data)
            else:
                for message in self._file_order(topics):
                    count += 1
                    yield message
        except BagError:
            raise
        except Exception as err:  # damaged chunk inside an indexed file
            raise BagError(f"cannot read messages from {self.path}: {err}; {_recover_hint(self.path)}") from err
        expected = self._expected_count(topics)
        if expected is not None and count != expected:
            # a chunk whose header was zeroed parses as an empty chunk (CRC 0: unchecked)
            raise BagError(f"{self.path} holds {count} messages where its summary counts {expected}: damaged; "
                           f"{_recover_hint(self.path)}")

    def _file_order(self, topics: list[str] | None) -> Iterator[BagMessage]:
        """Messages chunk by chunk in file order, one chunk in memory at a time. (mcap's
        unordered iteration decompresses every chunk before it yields the first message.)"""
        from mcap.reader import breakup_chunk
        from mcap.records import Chunk, Message
        from mcap.stream_reader import ReadDataStream

        channels = self.summary.channels
        wanted = None if topics is None else {i for i, c in channels.items() if c.topic in topics}
        for index in sorted(self.summary.chunk_indexes, key=lambda c: c.chunk_start_offset):
            if wanted is not None and not wanted & set(index.message_index_offsets):
                continue
            self.stream.seek(index.chunk_start_offset + 1 + 8)
            chunk = Chunk.read(ReadDataStream(self.stream))
            for record in breakup_chunk(chunk, validate_crc=True):
                if isinstance(record, Message) and (wanted is None or record.channel_id in wanted):
                    yield BagMessage(channels[record.channel_id].topic, record.log_time, record.publish_time,
                                     record.data)

    def attachments(self) -> Iterator[BagAttachment]:
        """The file's attachments, each checked against its CRC (mcap's reader skips it)."""
        try:
            for index in self.summary.attachment_indexes:
                self.stream.seek(index.offset)
                raw = self.stream.read(index.length)
                (crc,) = struct.unpack_from("<I", raw, len(raw) - 4)  # the record's last field
                if crc != 0 and zlib.crc32(raw[9:-4]) != crc:
                    raise BagError(f"attachment {index.name!r} in {self.path} fails its CRC; "
                                   f"{_recover_hint(self.path)}")
            for item in self.reader.iter_attachments():
                yield BagAttachment(item.name, item.media_type, item.data, item.log_time, item.create_time)
        except BagError:
            raise
        except Exception as err:
            raise BagError(f"cannot read attachments from {self.path}: {err}; {_recover_hint(self.path)}") from err

    def metadata_records(self) -> Iterator[tuple[str, dict[str, str]]]:
        try:
            for item in self.reader.iter_metadata():
                yield item.name, dict(item.metadata)
        except Exception as err:
            raise BagError(f"cannot read metadata records from {self.path}: {err}; "
                           f"{_recover_hint(self.path)}") from err

    def check(self) -> None:
        """Read everything (messages in file order, attachments, metadata records).

        Raises:
            BagError: some part is damaged.
        """
        for _ in self.messages(None, ordered=False):
            pass
        for _ in self.attachments():
            pass
        for _ in self.metadata_records():
            pass

    def close(self) -> None:
        self.stream.close()


class BagReader:
    """Reader over one bag; see :func:`open_bag`. Use as a context manager."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._metadata: BagMetadata | None = None
        self._files: list[McapFile] = []
        paths = self._storage_paths()
        try:
            for file_path in paths:
                self._files.append(McapFile(file_path))
        except BagError:
            self.close()
            raise
        self._topics = self._collect_topics()

    def _storage_paths(self) -> list[Path]:
        path = self._path
        if path.is_file():
            if path.name == METADATA_FILENAME:
                self._path = path = path.parent
            else:
                return [path]
        if not path.is_dir():
            raise BagError(f"{path} does not exist" if not path.exists() else f"{path} is not a bag")
        if (path / METADATA_FILENAME).is_file():
            self._metadata = read_metadata(path)
            if self._metadata.storage_identifier != "mcap":
                raise BagError(
                    f"{path}: storage_identifier={self._metadata.storage_identifier!r}, "
                    "only 'mcap' bags are supported"
                )
            names = [Path(name).name for name in self._metadata.relative_file_paths]
            for name in names:
                if not name.isprintable() or name in ("", ".", ".."):  # a newline would break the message
                    raise BagError(f"{path / METADATA_FILENAME}: relative_file_paths holds {name!r}, not a file name")
            paths = [path / name for name in names]
            missing = [p for p in paths if not p.is_file()]
            if missing:
                raise BagError(f"{missing[0]} is listed in {path / METADATA_FILENAME} but missing")
            if not paths:
                raise BagError(f"{path / METADATA_FILENAME} lists no storage files")
            return paths
        paths = sorted(path.glob("*.mcap"), key=natural_key)
        if not paths:
            raise BagError(f"{path} holds neither {METADATA_FILENAME} nor .mcap files: not a bag")
        return paths

    def _collect_topics(self) -> list[TopicInfo]:
        counts: dict[str, int] = {}
        found: dict[str, TopicInfo] = {}
        for file in self._files:
            for topic, count in file.counts_by_topic().items():
                counts[topic] = counts.get(topic, 0) + count
            for channel in file.summary.channels.values():
                if channel.topic in found:
                    continue
                schema = file.summary.schemas.get(channel.schema_id)
                try:
                    qos = parse_qos_profiles(channel.metadata.get("offered_qos_profiles"))
                except BagError:
                    qos = []
                found[channel.topic] = TopicInfo(
                    name=channel.topic,
                    msgtype=schema.name if schema else "",
                    count=0,
                    qos=qos,
                    msgdef=schema.data.decode("utf-8", "replace") if schema else "",
                    msgdef_encoding=schema.encoding if schema else "",
                    serialization_format=channel.message_encoding,
                )
        if self._metadata is not None:
            for record in self._metadata.topics:
                info = found.get(record.name)
                if info is None:
                    found[record.name] = TopicInfo(
                        name=record.name,
                        msgtype=record.msgtype,
                        count=0,
                        qos=list(record.offered_qos_profiles),
                        serialization_format=record.serialization_format,
                    )
                elif not info.qos and record.offered_qos_profiles:
                    found[record.name] = replace(info, qos=list(record.offered_qos_profiles))
        return [
replace(info, count=counts.get(name, 0)) for name, info in found.items()
        ]

    # -- API -------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        """The bag directory, or the MCAP file when opened as a single file."""
        return self._path

    @property
    def files(self) -> list[Path]:
        """Storage files in reading order."""
        return [f.path for f in self._files]

    @property
    def metadata(self) -> BagMetadata | None:
        """Parsed ``metadata.yaml``, or None when the bag has none."""
        return self._metadata

    @property
    def topics(self) -> list[TopicInfo]:
        """Topics in the bag (also those listed in ``metadata.yaml`` with no message)."""
        return list(self._topics)

    @property
    def message_count(self) -> int:
        """Total number of messages."""
        return sum(t.count for t in self._topics)

    def messages(self, topics: Iterable[str] | None = None, *, ordered: bool = True) -> Iterator[BagMessage]:
        """Iterate messages, in log-time order across files (``ordered=False``: file order, faster).

        Args:
            topics: topic names to read; None reads all.

        Raises:
            BagError: a storage file turns out damaged while reading (names the file).
        """
        wanted = None if topics is None else list(topics)
        iterators = [f.messages(wanted, ordered) for f in self._files]
        if len(iterators) == 1 or not ordered:
            for iterator in iterators:
                yield from iterator
            return
        yield from heapq.merge(*iterators, key=lambda m: m.log_time_ns)

    def attachments(self) -> Iterator[BagAttachment]:
        """Iterate MCAP attachments of all files.

        Raises:
            BagError: an attachment record is damaged or fails its CRC.
        """
        for file in self._files:
            yield from file.attachments()

    def mcap_metadata(self) -> dict[str, dict[str, str]]:
        """MCAP metadata records by name (later files win), including ``rosbag2``.

        Raises:
            BagError: a metadata record is damaged.
        """
        records: dict[str, dict[str, str]] = {}
        for file in self._files:
            records.update(file.metadata_records())
        return records

    def close(self) -> None:
        """Close the storage files. Idempotent."""
        for file in self._files:
            file.close()
        self._files = []

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_bag(path: Path) -> BagReader:
    """Open a bag directory, a directory of ``.mcap`` files, or one ``.mcap`` file.

    Raises:
        BagError: the path is not a bag; a file listed in ``metadata.yaml`` is missing;
            ``metadata.yaml`` is malformed; an MCAP file is truncated, unindexed or not
            MCAP (the message names the file and suggests ``collector recover``).
    """
    return BagReader(Path(path))
