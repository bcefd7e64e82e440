"""Hypothesis strategies shared by the fuzz tests: odd YAML and JSON values, edits of bytes and of documents."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

HUGE = [2**63, -(2**63) - 1, 10**400, 1e308, float("inf"), float("-inf"), float("nan"), -0.0, 0, -1]
odd_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from(HUGE), st.floats(),
    st.text(max_size=20), st.sampled_from(["", " ", "\n", "a\n", "imu\n", "/t\n", "\x00", "é", "把", "\ud7ff",
                                           "yes", "no", "~", "1e3", "0x10", ".inf", "&a", "*a", "- x", "{", "["]),
    st.binary(max_size=8),
)
odd_values = st.recursive(
    odd_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=4)),
    max_leaves=12,
)
# What JSON can hold (no bytes, string keys); json.dumps writes NaN and Infinity, json.loads reads them
odd_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from(HUGE + [2**64, 10**30]), st.floats(),
    st.text(max_size=20), st.sampled_from(["", " ", "\n", "a\n", "complete\n", "\x00", "\u2028", "把", "é"]),
)
odd_json_values = st.recursive(
    odd_json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
json_keys = st.one_of(st.text(max_size=10), st.sampled_from(["a\nb", "rate_hz", "schema_version", "__class__"]))
yaml_keys = st.one_of(st.text(max_size=10), st.integers(), st.sampled_from(["a\nb", "x: y"]))


def deep(depth: int, kind: str) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


def paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys / indexes) into a parsed YAML document, the root included."""
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += paths(value, prefix + (key,))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            out += paths(value, prefix + (index,))
    return out


ODD_TEXT = ["", " ", "\n", "a\nb", "\r", "\t", "\x00", "\u2028", "\x85", "é", "把", "../x", "/", "a" * 300,
            "~", "null", "1e3", "-", "/a//b"]
ODD_INTS = [0, -1, 1, 2, 2**31 - 1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, -(2**63), 2**63, 2**64, -(2**64)]
ODD_FLOATS = [0.0, -0.0, 5e-324, 1e-300, 1e-9, 0.5, 1e9, 1e300, 1.7976931348623157e308]


def _same_type(value: Any):
    """A strategy of odd values of ``value``'s type (bool, int, float, str; else anything)."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.one_of(st.sampled_from(ODD_INTS), st.integers(), st.builds(lambda d: value + d, st.integers(-3, 3)))
    if isinstance(value, float):
        return st.one_of(st.sampled_from(ODD_FLOATS), st.floats(allow_nan=False, allow_infinity=False),
                         st.builds(lambda v: -v, st.sampled_from(ODD_FLOATS)))
    if isinstance(value, str):
        return st.one_of(st.sampled_from(ODD_TEXT), st.text(max_size=12),
                         st.builds(lambda t: value + t, st.sampled_from(["\n", " ", "_", "x", "\x00"])))
    return st.one_of(st.none(), st.integers(), st.text(max_size=4))


@st.composite
def tweaked_document(draw, doc: Any) -> Any:
    """``doc`` with one to four leaves replaced by odd values of the same type: it gets past
    the type checks, to the checks of ranges and of how values fit together."""
    doc = copy.deepcopy(doc)
    leaves = [p for p in paths(doc) if p and not isinstance(_at(doc, p), (dict, list))]
    if not leaves:
        return doc
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(leaves))
        parent = _at(doc, where[:-1])
        parent[where[-1]] = draw(_same_type(parent[where[-1]]))
    return doc


def _at(doc: Any, where: tuple) -> Any:
    for step in where:
        doc = doc[step]
    return doc


@st.composite
def mutated_document(draw, doc: Any, values=odd_values, keys=yaml_keys) -> Any:
    """``doc`` with one to four structural edits: drop, replace, rename, duplicate, nest deep.

    ``values`` and ``keys`` give the new values and key names (YAML's by default).
    """
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(paths(doc)))
        action = draw(st.sampled_from(["replace", "drop", "rename", "duplicate", "deep", "add"]))
        if not where:
            if action == "replace":
                doc = draw(values)
            continue
        parent = doc
        for step in where[:-1]:
            parent = parent[step]
        last = where[-1]
        if action == "replace":
            parent[last] = draw(values)
        elif action == "drop":
            del parent[last]
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(keys)] = parent.pop(last)
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(last, copy.deepcopy(parent[last]))
        elif action == "deep":
            parent[last] = deep(draw(st.integers(20, 200)), draw(st.sampled_from(["list", "dict"])))
        elif action == "add" and isinstance(parent[last], dict):
            parent[last][draw(keys)] = draw(values)
        elif action == "add" and isinstance(parent[last], list):
            parent[last].append(draw(values))
        paths_left = paths(doc)
        if not paths_left:
            break
    return doc


class Damaged(bytes):
    """Edited bytes that print as the list of edits (hypothesis prints every draw of a
    failing example; the whole 100 kB of a damaged bag would bury the report)."""

    edits: tuple = ()

    def __repr__(self) -> str:
        return f"<{len(self)} bytes after {', '.join(self.edits)}>"


def special(data: bytes, what: str) -> Damaged:
    """Hand-made bytes that print as ``what``."""
    out = Damaged(data)
    out.edits = (what,)
    return out


@st.composite
def byte_edits(draw, data: bytes, max_edits: int = 4, hotspots: list[int] | None = None) -> Damaged:
    """``data`` with flips, cuts, inserted garbage and zeroed ranges at random offsets.

    ``hotspots`` are offsets worth aiming at (record boundaries of a binary format): half
    of the edits land within a few bytes of one of them.
    """
    out = bytearray(data)
    edits = []
    for _ in range(draw(st.integers(1, max_edits))):
        size = len(out)
        if hotspots and draw(st.booleans()):
            offset = draw(st.sampled_from(hotspots)) + draw(st.integers(-8, 40))
            offset = min(max(0, offset), max(0, size - 1))
        else:
            offset = draw(st.integers(0, max(0, size - 1)))
        action = draw(st.sampled_from(["flip", "truncate", "insert", "zero", "delete", "byte"]))
        if action == "flip" and size:
            bit = draw(st.integers(0, 7))
            out[offset] ^= 1 << bit
            edits.append(f"flip bit {bit} @{offset}")
        elif action == "byte" and size:
            value = draw(st.integers(0, 255))
            out[offset] = value
            edits.append(f"byte {value:#04x} @{offset}")
        elif action == "truncate":
            del out[offset:]
            edits.append(f"cut @{offset}")
        elif action == "insert":
            garbage = draw(st.one_of(st.binary(min_size=1, max_size=64),
                                     st.sampled_from([b"\xff" * 8, b"\x00" * 8, b"\n", b"\r\n"])))
            out[offset:offset] = garbage
            edits.append(f"insert {garbage!r} @{offset}")
        elif action == "zero":
            length = draw(st.integers(1, 256))
            out[offset:offset + length] = bytes(len(out[offset:offset + length]))
            edits.append(f"zero {length} @{offset}")
        elif action == "delete":
            length = draw(st.integers(1, 64))
            del out[offset:offset + length]
            edits.append(f"delete {length} @{offset}")
    damaged = Damaged(out)
    damaged.edits = tuple(edits) or ("no edit",)
    return damaged


def alias_bomb(levels: int, width: int) -> str:
    """A "billion laughs" YAML value: ``width ** levels`` leaves, a few hundred bytes of text."""
    lines = ["a0: &a0 [lol]"]
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines), f"*a{levels}"
