"""Parsing one message field by field, with errors that name the message and field."""

from __future__ import annotations

import numpy as np

from collector.cdr._common import _STAMP, _U32, ENCAPSULATION, NS_PER_S, Buffer, CdrError


class _Reader:
    """Walks one message; positions are absolute offsets into it (alignment counts from 4)."""

    __slots__ = ("data", "pos", "msgtype", "index")

    def __init__(self, data: Buffer, msgtype: str, index: int) -> None:
        self.data = data
        self.msgtype = msgtype
        self.index = index
        if len(data) < 4:
            raise self.error(f"{len(data)} bytes, too short for the encapsulation header")
        if bytes(data[:2]) != ENCAPSULATION[:2]:
            raise self.error(f"encapsulation {bytes(data[:4]).hex(' ')} is not plain little-endian CDR (00 01)")
        self.pos = 4

    def error(self, what: str) -> CdrError:
        return CdrError(f"{self.msgtype} message {self.index}: {what}")

    def need(self, size: int, what: str) -> None:
        if self.pos + size > len(self.data):
            raise self.error(f"truncated in {what}: needs {size} bytes at offset {self.pos}, "
                             f"message has {len(self.data)}")

    def align(self, alignment: int) -> None:
        self.pos += -(self.pos - 4) % alignment

    def u32(self, what: str) -> int:
        self.align(4)
        self.need(4, what)
        (value,) = _U32.unpack_from(self.data, self.pos)
        self.pos += 4
        return value

    def u8(self, what: str) -> int:
        self.need(1, what)
        value = self.data[self.pos]
        self.pos += 1
        return value

    def string(self, what: str) -> str:
        size = self.u32(what)
        if size == 0:
            raise self.error(f"{what}: string length 0 (must count its NUL)")
        self.need(size, what)
        raw = bytes(self.data[self.pos : self.pos + size])
        if raw[-1] != 0:
            raise self.error(f"{what}: string of {size} bytes does not end in NUL")
        self.pos += size
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError as err:
            raise self.error(f"{what}: not UTF-8 ({err.reason})") from err

    def header(self) -> tuple[int, str]:
        self.need(8, "header.stamp")
        sec, nanosec = _STAMP.unpack_from(self.data, self.pos)
        self.pos += 8
        return sec * NS_PER_S + nanosec, self.string("header.frame_id")

    def doubles(self, count: int, what: str) -> np.ndarray:
        """``count`` float64 values (aligned to 8 first), as a read-only view."""
        self.align(8)
        self.need(8 * count, what)
        values = np.frombuffer(self.data, dtype="<f8", count=count, offset=self.pos)
        self.pos += 8 * count
        return values

    def double_sequence(self, what: str) -> tuple[int, np.ndarray]:
        """Offset and values of a ``float64[]`` (offset -1 when empty)."""
        count = self.u32(f"{what} length")
        if count == 0:
            return -1, _EMPTY
        values = self.doubles(count, what)
        return self.pos - 8 * count, values


_EMPTY = np.empty(0)
