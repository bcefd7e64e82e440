"""``header.stamp`` of one message, read straight from its CDR bytes, in either byte order.

After the 4-byte encapsulation header come ``int32 sec`` and ``uint32 nanosec`` of
``header.stamp`` when the first field of the type is a ``std_msgs/Header``. The
encapsulation kind's low bit gives the byte order (odd: little endian). This is the
recorder's hot path (one call per message), so it is a struct unpack, no more;
:func:`collector.cdr.decode.header_stamps` reads a whole stream at once.
"""

from __future__ import annotations

import struct

from collector.cdr._common import NS_PER_S

_STAMP_LE = struct.Struct("<iI")
_STAMP_BE = struct.Struct(">iI")
# Plain (non-delimited, non-parameter-list) encapsulations: CDR_BE/LE, CDR2_BE/LE.
_PLAIN_CDR = {0x00: _STAMP_BE, 0x01: _STAMP_LE, 0x06: _STAMP_BE, 0x07: _STAMP_LE}


def header_stamp_ns(data: bytes) -> int | None:
    """``header.stamp`` of a CDR message whose first field is a std_msgs/Header, in ns.

    Returns None when the bytes are too short or use an encapsulation whose layout
    is not plain CDR (the stamp would not sit at offset 4).
    """
    if len(data) < 12 or data[0] != 0:
        return None
    unpack = _PLAIN_CDR.get(data[1])
    if unpack is None:
        return None
    sec, nanosec = unpack.unpack_from(data, 4)
    return sec * NS_PER_S + nanosec
