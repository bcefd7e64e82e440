"""Uncompressed, chunked MCAP written straight to a file descriptor, payloads never copied.

``mcap.writer.Writer`` copies every message into a ``BytesIO``, copies the chunk out of
it and again into the chunk record before writing it: four copies of each camera image.
:class:`UncompressedMcapWriter` keeps an open chunk as a list of pieces instead (a
31-byte packed header per message followed by the caller's payload object itself),
computes the chunk CRC piece by piece and hands the pieces to a sink
(:mod:`collector.bag.sink`): ``os.writev`` with no copy, or one copy into an aligned
buffer written with ``O_DIRECT``.

For the same sequence of calls the file is byte for byte what
``Writer(stream, compression=CompressionType.NONE, enable_crcs=True)`` writes when its
chunks are finished by ``flush()``: schema and channel records inside the next chunk that
holds messages, message indexes after each chunk, chunk CRCs, data section CRC 0, and a
summary (schemas, channels, statistics, chunk / attachment / metadata indexes, summary
offsets) with its CRC. Records written once per file reuse mcap's record classes; the
per-message and per-chunk records are packed here (layouts: https://mcap.dev/spec).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from typing import Any, BinaryIO

from mcap.data_stream import RecordBuilder
from mcap.opcode import Opcode
from mcap.records import (
    Attachment,
    AttachmentIndex,
    Channel,
    DataEnd,
    Header,
    McapRecord,
    Metadata,
    MetadataIndex,
    Schema,
    Statistics,
    SummaryOffset,
)

from collector.bag.sink import DirectSink, PlainSink

Payload = bytes | bytearray | memoryview

MAGIC = b"\x89MCAP0\r\n"
# opcode, record length, then the Message fields: channel id, sequence, log time, publish time
_MESSAGE_HEAD = struct.Struct("<BQHIQQ")
_MESSAGE_FIELDS = _MESSAGE_HEAD.size - 9
# opcode, record length, then the Chunk fields up to the records: message start / end time,
# uncompressed size, uncompressed CRC, compression (an empty string: its length 0), records length
_CHUNK_HEAD = struct.Struct("<BQQQQIIQ")
_CHUNK_FIELDS = _CHUNK_HEAD.size - 9
# opcode, record length, summary start, summary offset start: the CRC'd part of the Footer
_FOOTER_HEAD = struct.Struct("<BQQQ")
_FOOTER_FIELDS = 8 + 8 + 4


def _byte_view(data: Any) -> memoryview:
    """A flat byte view of ``data`` (no copy), so that ``len`` counts bytes."""
    try:
        return memoryview(data).cast("B")
    except TypeError as err:
        raise TypeError(f"message data of type {type(data).__name__} is not a contiguous byte buffer") from err


def _packed(record: McapRecord) -> bytes:
    builder = RecordBuilder()
    record.write(builder)
    return builder.end()


def _message_index(channel_id: int, entries: list[int]) -> bytes:
    """MessageIndex record; ``entries`` is flat: log time, offset, log time, offset..."""
    count = len(entries)
    return struct.pack(f"<BQHI{count}Q", Opcode.MESSAGE_INDEX, 6 + 8 * count, channel_id, 8 * count, *entries)


def _chunk_index(
    start_ns: int, end_ns: int, chunk_offset: int, chunk_length: int,
    index_offsets: list[int], index_length: int, records_size: int,
) -> bytes:
    """ChunkIndex record of an uncompressed chunk; ``index_offsets`` is flat: channel id, offset..."""
    pairs = len(index_offsets) // 2
    return struct.pack(
        f"<BQQQQQI{'HQ' * pairs}QIQQ",
        Opcode.CHUNK_INDEX, 64 + 10 * pairs,
        start_ns, end_ns, chunk_offset, chunk_length, 10 * pairs, *index_offsets,
        index_length, 0, records_size, records_size,  # compression "", compressed == uncompressed size
    )


class _OpenChunk:
    """Records of the chunk being built, as pieces, and its message index entries."""

    __slots__ = ("pieces", "size", "messages", "start_ns", "end_ns", "indexes")

    def __init__(self) -> None:
        self.pieces: list[Payload] = []
        self.size = 0  # bytes of the records so far
        self.messages = 0
        self.start_ns = 0
        self.end_ns = 0
        self.indexes: dict[int, list[int]] = {}  # channel id -> [log time, offset, ...]

    def add_record(self, record: bytes) -> None:
        self.pieces.append(record)
        self.size += len(record)


class UncompressedMcapWriter:
    """MCAP writer with uncompressed chunks that references message payloads, never copies them.

    Same methods and output as the matching subset of ``mcap.writer.Writer``. A chunk is
    written only by :meth:`flush` and :meth:`finish`: the caller decides its size and age.
    ``add_message`` keeps a reference to ``data`` until then, so a mutable buffer must
    not change before the next :meth:`flush`.

    Args:
        stream: an unbuffered binary file (``open(path, "xb", buffering=0)``), positioned
            where the MCAP file starts. It is written through its file descriptor and is
            not closed here.
        sink: how the bytes reach the file (default: ``PlainSink`` on ``stream``'s
            descriptor, ``writev`` with no copy). A :class:`~collector.bag.sink.DirectSink`
            copies them once into its aligned buffer and writes ``O_DIRECT``.

    Raises:
        ValueError: ``stream`` is buffered (its buffer would be bypassed).
    """

    def __init__(self, stream: BinaryIO, sink: DirectSink | PlainSink | None = None) -> None:
        if hasattr(stream, "raw"):
            raise ValueError(f"{stream!r} is buffered: open it with buffering=0")
        if sink is None:
            sink = PlainSink(stream.fileno())
        self._sink = sink
        self._offset = sink.position()  # where the next record starts
        self._chunk = _OpenChunk()
        self._schemas: list[bytes] = []  # packed records, for the summary
        self._channels: list[bytes] = []
        self._chunk_indexes: list[bytes] = []
        self._attachment_indexes: list[AttachmentIndex] = []
        self._metadata_indexes: list[MetadataIndex] = []
        self._channel_message_counts: dict[int, int] = {}  # in order of first message
        self._message_count = 0
        self._start_ns = 0
        self._end_ns = 0
        self._metadata_count = 0

    # -- output ----------------------------------------------------------------------
    def _write(self, pieces: Sequence[Payload], size: int) -> None:
        """Write ``pieces`` (``size`` bytes) and commit them to the file."""
        sink = self._sink
        try:
            sink.write(pieces)
            sink.commit()
        except OSError:
            self._offset = sink.position()  # keep later offsets true
            raise
        self._offset += size

    def _write_records(self, *records: bytes) -> int:
        """Write whole records; returns the offset of the first."""
        offset = self._offset
        self._write(records, sum(len(r) for r in records))
        return offset

    # -- records ---------------------------------------------------------------------
    def start(self, profile: str = "", library: str = "") -> None:
        """Write the magic bytes and the Header record."""
        self._write_records(MAGIC, _packed(Header(profile=profile, library=library)))

    def register_schema(self, name: str, encoding: str, data: bytes) -> int:
        """Register a schema (written into the next chunk and the summary); returns its id (1, 2...)."""
        schema_id = len(self._schemas) + 1
        record = _packed(Schema(id=schema_id, name=name, encoding=encoding, data=data))
        self._schemas.append(record)
        self._chunk.add_record(record)
        return schema_id

    def register_channel(
        self, topic: str, message_encoding: str, schema_id: int, metadata: dict[str, str] | None = None
    ) -> int:
        """Register a channel (written into the next chunk and the summary); returns its id (1, 2...)."""
        channel_id = len(self._channels) + 1
        record = _packed(Channel(
            id=channel_id, topic=topic, message_encoding=message_encoding,
            schema_id=schema_id, metadata=dict(metadata or {}),
        ))
        self._channels.append(record)
        self._chunk.add_record(record)
        return channel_id

    def add_attachment(self, create_time: int, log_time: int, name: str, media_type: str, data: bytes) -> None:
        """Write an Attachment record now (outside any chunk) and index it.

        Raises:
            OSError: the write failed.
        """
        record = _packed(Attachment(
            create_time=create_time, log_time=log_time, name=name, media_type=media_type, data=data
        ))
        offset = self._write_records(record)
        self._attachment_indexes.append(AttachmentIndex(
            offset=offset, length=len(record), log_time=log_time, create_time=create_time,
            data_size=len(data), name=name, media_type=media_type,
        ))

    def add_metadata(self, name: str, data: dict[str, str]) -> None:
        """Write a Metadata record now (outside any chunk) and index it.

        Raises:
            OSError: the write failed.
        """
        record = _packed(Metadata(name=name, metadata=data))
        offset = self._write_records(record)
        self._metadata_count += 1
        self._metadata_indexes.append(MetadataIndex(offset=offset, length=len(record), name=name))

    def add_message(self, channel_id: int, log_time: int, data: Payload, publish_time: int, sequence: int = 0) -> None:
        """Append a message to the open chunk; ``data`` is referenced, not copied.

        Args:
            channel_id: an id from :meth:`register_channel` (not checked).
            log_time: receive time, int ns in [0, 2**64).
            data: the payload, any C-contiguous buffer; must not change until :meth:`flush`.
            publish_time: sender's time, int ns in [0, 2**64).
            sequence: publisher's message counter, uint32.

        Raises:
            struct.error: a field is out of range (nothing is added).
            TypeError: ``data`` is not a contiguous buffer (nothing is added).
        """
        if type(data) is not bytes:
            data = _byte_view(data)
        size = len(data)
        head = _MESSAGE_HEAD.pack(Opcode.MESSAGE, _MESSAGE_FIELDS + size, channel_id, sequence, log_time, publish_time)
        chunk = self._chunk
        offset = chunk.size
        chunk.pieces.append(head)
        if size:
            chunk.pieces.append(data)
        chunk.size = offset + _MESSAGE_HEAD.size + size
        entries = chunk.indexes.get(channel_id)
        if entries is None:
            chunk.indexes[channel_id] = [log_time, offset]
        else:
            entries += (log_time, offset)
        if chunk.messages == 0:
            chunk.start_ns = chunk.end_ns = log_time
        elif log_time < chunk.start_ns:
            chunk.start_ns = log_time
        elif log_time > chunk.end_ns:
            chunk.end_ns = log_time
        chunk.messages += 1
        counts = self._channel_message_counts
        counts[channel_id] = counts.get(channel_id, 0) + 1
        if self._message_count == 0:
            self._start_ns = self._end_ns = log_time
        elif log_time < self._start_ns:
            self._start_ns = log_time
        elif log_time > self._end_ns:
            self._end_ns = log_time
        self._message_count += 1

    def flush(self) -> None:
        """Write the open chunk and its message indexes, if it holds a message.

        Schema and channel records registered since the last chunk wait for the next
        chunk with messages, as with mcap's writer. Does not fsync.

        Raises:
            OSError: the write failed; the chunk stays open.
        """
        chunk = self._chunk
        if chunk.messages == 0:
            return
        crc = 0
        for piece in chunk.pieces:
            crc = zlib.crc32(piece, crc)
        size = chunk.size
        head = _CHUNK_HEAD.pack(Opcode.CHUNK, _CHUNK_FIELDS + size, chunk.start_ns, chunk.end_ns, size, crc, 0, size)
        chunk_offset = self._offset
        chunk_length = len(head) + size
        position = chunk_offset + chunk_length
        index_offsets: list[int] = []
        index_records: list[bytes] = []
        for channel_id, entries in chunk.indexes.items():
            record = _message_index(channel_id, entries)
            index_offsets += (channel_id, position)
            index_records.append(record)
            position += len(record)
        index_length = position - chunk_offset - chunk_length
        pieces = [head]
        pieces += chunk.pieces
        pieces += index_records
        self._write(pieces, chunk_length + index_length)
        self._chunk_indexes.append(_chunk_index(
            chunk.start_ns, chunk.end_ns, chunk_offset, chunk_length, index_offsets, index_length, size
        ))
        self._chunk = _OpenChunk()

    def finish(self) -> None:
        """Write the open chunk, DataEnd, the summary, the Footer and the closing magic.

        The sink is closed (a direct one cuts the file to its length), the stream is
        not; nothing may be added afterwards.

        Raises:
            OSError: the write failed.
        """
        self.flush()
        data_end = _packed(DataEnd(data_section_crc=0))  # data section CRCs off, as mcap's default
        summary_start = self._offset + len(data_end)
        statistics = Statistics(
            message_count=self._message_count,
            schema_count=len(self._schemas),
            channel_count=len(self._channels),
            attachment_count=len(self._attachment_indexes),
            metadata_count=self._metadata_count,
            chunk_count=len(self._chunk_indexes),
            message_start_time=self._start_ns,
            message_end_time=self._end_ns,
            channel_message_counts=self._channel_message_counts,
        )
        groups = [
            (Opcode.SCHEMA, self._schemas),
            (Opcode.CHANNEL, self._channels),
            (Opcode.STATISTICS, [_packed(statistics)]),
            (Opcode.CHUNK_INDEX, self._chunk_indexes),
            (Opcode.ATTACHMENT_INDEX, [_packed(i) for i in self._attachment_indexes]),
            (Opcode.METADATA_INDEX, [_packed(i) for i in self._metadata_indexes]),
        ]
        summary: list[bytes] = []
        offsets: list[bytes] = []
        position = summary_start
        for opcode, records in groups:
            length = sum(len(r) for r in records)
            summary += records
            offsets.append(_packed(SummaryOffset(group_opcode=opcode, group_start=position, group_length=length)))
            position += length
        summary_offset_start = position
        summary += offsets
        footer_head = _FOOTER_HEAD.pack(Opcode.FOOTER, _FOOTER_FIELDS, summary_start, summary_offset_start)
        crc = 0
        for record in summary:
            crc = zlib.crc32(record, crc)
        crc = zlib.crc32(footer_head, crc)
        self._write_records(data_end, *summary, footer_head, struct.pack("<I", crc), MAGIC)
        self._sink.close()
