"""Salvage the complete records of an MCAP file whose writer died mid-write.

:class:`Salvager` streams through every record that is complete, keeps schemas,
channels, attachments, metadata and the messages of every chunk whose framing and CRC
check out, and writes them to a new complete MCAP under a temporary name in the same
directory. :func:`collector.bag.recover.recover_bag` decides which files need this
and moves the results into place.

A chunk that fails its CRC but is framed correctly is skipped and reading goes on; a
framing error (unknown opcode, length past the end, inconsistent record) ends the scan:
everything from there on counts as the dropped tail.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from mcap.data_stream import ReadDataStream
from mcap.records import Attachment, Channel, Message, Metadata, Schema
from mcap.writer import CompressionType, Writer

from collector import __version__
from collector.bag.mcap_records import MAGIC
from collector.errors import BagError
from collector.fs import create_temp_file

_RECORD_HEAD = struct.Struct("<BQ")
_CHUNK_HEAD = struct.Struct("<QQQII")  # start, end, uncompressed size, crc, compression length
_OP_HEADER, _OP_FOOTER, _OP_SCHEMA, _OP_CHANNEL, _OP_MESSAGE, _OP_CHUNK = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
_OP_ATTACHMENT, _OP_METADATA, _OP_DATA_END = 0x09, 0x0C, 0x0F
_SKIPPED_OPS = {0x07, 0x08, 0x0A, 0x0B, 0x0D, 0x0E}  # indexes / summary records: rebuilt anyway
_KNOWN_OPS = {_OP_HEADER, _OP_FOOTER, _OP_SCHEMA, _OP_CHANNEL, _OP_MESSAGE, _OP_CHUNK,
              _OP_ATTACHMENT, _OP_METADATA, _OP_DATA_END} | _SKIPPED_OPS
_COMPRESSION_TYPES = {"": CompressionType.NONE, "zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4}


@dataclass
class FileStats:
    """Topics, counts and time span of one file, complete or salvaged."""

    topics: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)  # topic -> (type, meta)
    counts: dict[str, int] = field(default_factory=dict)
    start_ns: int | None = None
    end_ns: int | None = None

    def add_time(self, log_time: int) -> None:
        if self.start_ns is None or log_time < self.start_ns:
            self.start_ns = log_time
        if self.end_ns is None or log_time > self.end_ns:
            self.end_ns = log_time

    @property
    def message_count(self) -> int:
        return sum(self.counts.values())


class _Damaged(Exception):
    """A record's content is bad (raised and handled inside this module only)."""


class _FramingError(_Damaged):
    """A record's lengths are inconsistent: where the next record starts is unknown."""


def _parse(body: bytes, reader: Callable[[ReadDataStream], Any]) -> Any:
    stream = ReadDataStream(io.BytesIO(body))
    try:
        record = reader(stream)
    except Exception as err:  # any parse failure of untrusted bytes means damage
        raise _Damaged(str(err)) from err
    if stream.count != len(body):
        raise _Damaged("record length does not match its content")
    return record


def _decompress(compression: str, data: bytes, size: int) -> bytes:
    if compression == "":
        return data
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().decompress(data, max_output_size=size)
    if compression == "lz4":
        import lz4.frame

        return lz4.frame.decompress(data)
    raise BagError(f"chunk compression {compression!r} is not supported; cannot recover")


def _chunk_records(body: bytes) -> tuple[str, list[Any]]:
    """Compression and inner records of a chunk body; raises _Damaged on any inconsistency."""
    if len(body) < _CHUNK_HEAD.size:
        raise _FramingError("chunk header cut")
    _start, _end, size, crc, name_length = _CHUNK_HEAD.unpack_from(body, 0)
    offset = _CHUNK_HEAD.size
    if offset + name_length + 8 > len(body):
        raise _FramingError("chunk compression name cut")
    try:
        compression = body[offset:offset + name_length].decode("utf-8")
    except UnicodeDecodeError as err:
        raise _Damaged("chunk compression name is not text") from err
    offset += name_length
    (data_length,) = struct.unpack_from("<Q", body, offset)
    offset += 8
    if offset + data_length != len(body):
        raise _FramingError("chunk data length does not match the record length")
    if compression not in _COMPRESSION_TYPES:
        raise BagError(f"chunk compression {compression!r} is not supported; cannot recover")
    try:
        data = _decompress(compression, body[offset:], size)
    except BagError:
        raise
    except Exception as err:
        raise _Damaged(f"chunk does not decompress: {err}") from err
    if len(data) != size:
        raise _Damaged("chunk uncompressed size mismatch")
    if crc != 0 and zlib.crc32(data) != crc:
        raise _Damaged("chunk CRC mismatch")
    records: list[Any] = []
    position = 0
    while position < len(data):
        if position + 9 > len(data):
            raise _Damaged("record header cut inside chunk")
        opcode, length = _RECORD_HEAD.unpack_from(data, position)
        position += 9
        if position + length > len(data):
            raise _Damaged("record cut inside chunk")
        inner = data[position:position + length]
        position += length
        if opcode == _OP_MESSAGE:
            if length < 22:
                raise _Damaged("message record too short")
            channel_id, sequence, log_time, publish_time = struct.unpack_from("<HIQQ", inner, 0)
            records.append(Message(channel_id=channel_id, sequence=sequence, log_time=log_time,
                                   publish_time=publish_time, data=inner[22:]))
        elif opcode == _OP_SCHEMA:
            records.append(_parse(inner, Schema.read))
        elif opcode == _OP_CHANNEL:
            records.append(_parse(inner, Channel.read))
        else:
            raise _Damaged(f"unexpected record opcode {opcode:#x} inside chunk")
    return compression, records


# A writer with O_DIRECT (collector.bag.sink) pads its last block with zeros.
_PAD_BLOCK = 4096


class Salvager:
    """Streams one incomplete MCAP file into a new complete one (temporary name)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stats = FileStats()
        self.chunks_kept = 0
        self.chunks_damaged = 0
        self.orphans = 0
        self.tail_dropped = 0
        self.messages = 0
        self._profile = "ros2"
        self._library = ""
        self._pending: list[tuple[int, Any]] = []  # records seen before the writer exists
        self._writer: Writer | None = None
        self._out: BinaryIO | None = None
        self.tmp_path: Path | None = None
        self._data_ended = False
        self._schemas: dict[int, Schema] = {}
        self._new_schema: dict[int, int] = {}
        self._channels: dict[int, Channel] = {}
        self._new_channel: dict[int, int] = {}

    # -- output ----------------------------------------------------------------------
    def _open_writer(self, compression: str) -> Writer:
        fd, self.tmp_path = create_temp_file(self.path.parent, f".{self.path.name}.", ".recovering")
        self._out = os.fdopen(fd, "wb")
        writer = Writer(self._out, compression=_COMPRESSION_TYPES[compression], enable_crcs=True)
        library = f"{self._library}; recovered by collector {__version__}".lstrip("; ")
        writer.start(profile=self._profile, library=library)
        self._writer = writer
        for opcode, record in self._pending:
            self._emit(opcode, record)
        self._pending = []
        return writer

    def _emit(self, opcode: int, record: Any) -> None:
        if self._writer is None:
            self._pending.append((opcode, record))
            return
        if opcode == _OP_SCHEMA:
            self._add_schema(record)
        elif opcode == _OP_CHANNEL:
            self._add_channel(record)
        elif opcode == _OP_MESSAGE:
            self._add_message(record)
        elif opcode == _OP_ATTACHMENT:
            self._writer.add_attachment(record.create_time, record.log_time, record.name,
                                        record.media_type, record.data)
        elif opcode == _OP_METADATA:
            self._writer.add_metadata(record.name, record.metadata)

    def _add_schema(self, schema: Schema) -> None:
        if schema.id in self._schemas or schema.id == 0:
            return
        self._schemas[schema.id] = schema
        self._new_schema[schema.id] = self._writer.register_schema(schema.name, schema.encoding, schema.data)

    def _add_channel(self, channel: Channel) -> None:
        if channel.id in self._channels:
            return
        if channel.schema_id != 0 and channel.schema_id not in self._schemas:
            return  # its schema was lost: messages on it become orphans
        self._channels[channel.id] = channel
        schema = self._schemas.get(channel.schema_id)
        self._new_channel[channel.id] = self._writer.register_channel(
            channel.topic, channel.message_encoding, self._new_schema.get(channel.schema_id, 0),
            dict(channel.metadata),
        )
        self.stats.topics.setdefault(channel.topic, (schema.name if schema else "", dict(channel.metadata)))
        self.stats.counts.setdefault(channel.topic, 0)

    def _add_message(self, message: Message) -> None:
        new_id = self._new_channel.get(message.channel_id)
        if new_id is None:
            self.orphans += 1
            return
        self._writer.add_message(new_id, message.log_time, message.data, message.publish_time, message.sequence)
        topic = self._channels[message.channel_id].topic
        self.stats.counts[topic] += 1
        self.stats.add_time(message.log_time)
        self.messages += 1

    # -- input -----------------------------------------------------------------------
    def scan(self) -> None:
        """Read every complete record; raises BagError when there is no readable MCAP header."""
        size = self.path.stat().st_size
        with open(self.path, "rb") as stream:
            if stream.read(8) != MAGIC:
                raise BagError(f"{self.path} holds no readable MCAP header (bad magic bytes); not recoverable")
            position = 8
            head = stream.read(9)
            if len(head) < 9 or head[0] != _OP_HEADER:
                raise BagError(f"{self.path} holds no readable MCAP header record; not recoverable")
            _, length = _RECORD_HEAD.unpack(head)
            body = stream.read(length) if length <= size else b""
            if len(body) != length:
                raise BagError(f"{self.path} holds no readable MCAP header record (cut); not recoverable")
            try:
                self._profile, self._library = self._read_header(body)
            except _Damaged as err:
                raise BagError(f"{self.path} holds no readable MCAP header record ({err}); not recoverable") from err
            position += 9 + length
            good_end = position
            while True:
                head = stream.read(9)
                if len(head) < 9:
                    break
                opcode, length = _RECORD_HEAD.unpack(head)
                if opcode not in _KNOWN_OPS or position + 9 + length > size:
                    break
                body = stream.read(length)
                if len(body) != length:
                    break
                position += 9 + length
                try:
                    done = self._record(opcode, body)
                except _Damaged as err:
                    if opcode != _OP_CHUNK or isinstance(err, _FramingError):
                        position -= 9 + length
                        break
                    # Framed correctly but bad content (CRC): skip only this chunk.
                    self.chunks_damaged += 1
                    done = False
                good_end = position
                if done:
                    break
            tail = size - good_end if not self._data_ended else 0
            if 0 < tail < _PAD_BLOCK:
                stream.seek(good_end)
                if not any(stream.read(tail)):
                    tail = 0  # the zero padding of an O_DIRECT writer's last block, not data
            self.tail_dropped = tail
        if self._writer is None:
            self._open_writer("")

    @staticmethod
    def _read_header(body: bytes) -> tuple[str, str]:
        stream = ReadDataStream(io.BytesIO(body))
        try:
            profile = stream.read_prefixed_string()
            library = stream.read_prefixed_string()
        except Exception as err:
            raise _Damaged(str(err)) from err
        return profile, library

    def _record(self, opcode: int, body: bytes) -> bool:
        """Handle one top-level record; True when the data section is over."""
        if opcode == _OP_CHUNK:
            compression, records = _chunk_records(body)
            if self._writer is None:
                self._open_writer(compression)
            self.chunks_kept += 1
            for record in records:
                kind = (_OP_MESSAGE if isinstance(record, Message) else
                        _OP_SCHEMA if isinstance(record, Schema) else _OP_CHANNEL)
                self._emit(kind, record)
            return False
        if opcode == _OP_MESSAGE:
            if len(body) < 22:
                raise _Damaged("message record too short")
            channel_id, sequence, log_time, publish_time = struct.unpack_from("<HIQQ", body, 0)
            self._emit(opcode, Message(channel_id=channel_id, sequence=sequence, log_time=log_time,
                                       publish_time=publish_time, data=body[22:]))
        elif opcode == _OP_SCHEMA:
            self._emit(opcode, _parse(body, Schema.read))
        elif opcode == _OP_CHANNEL:
            self._emit(opcode, _parse(body, Channel.read))
        elif opcode == _OP_ATTACHMENT:
            attachment = _parse(body, Attachment.read)
            (crc,) = struct.unpack_from("<I", body, len(body) - 4)
            if crc != 0 and zlib.crc32(body[:-4]) != crc:
                raise _Damaged("attachment CRC mismatch")
            self._emit(opcode, attachment)
        elif opcode == _OP_METADATA:
            metadata = _parse(body, Metadata.read)
            if metadata.name != "rosbag2":  # rewritten with the recovered counts
                self._emit(opcode, metadata)
        elif opcode in (_OP_DATA_END, _OP_FOOTER):
            if len(body) != (4 if opcode == _OP_DATA_END else 20):
                raise _Damaged("data end / footer record of the wrong size")
            self._data_ended = True
            return True
        elif opcode == _OP_HEADER:
            raise _Damaged("second header record")
        return False

    def finish(self, rosbag2_metadata: str) -> None:
        """Write the rosbag2 record, summary and footer; fsync and close the temporary file."""
        assert self._writer is not None and self._out is not None
        self._writer.add_metadata("rosbag2", {"serialized_metadata": rosbag2_metadata})
        self._writer.finish()
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()

    def abort(self) -> None:
        """Remove the temporary output (our own file; the recording is untouched)."""
        if self._out is not None and not self._out.closed:
            self._out.close()
        if self.tmp_path is not None:
            self.tmp_path.unlink(missing_ok=True)
