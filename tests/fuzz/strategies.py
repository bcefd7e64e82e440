"""Hypothesis strategies shared by the fuzz tests: odd YAML values, edits of bytes and of documents."""

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


@st.composite
def mutated_document(draw, doc: Any) -> Any:
    """``doc`` with one to four structural edits: drop, replace, rename, duplicate, nest deep."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(paths(doc)))
        action = draw(st.sampled_from(["replace", "drop", "rename", "duplicate", "deep", "add"]))
        if not where:
            if action == "replace":
                doc = draw(odd_values)
            continue
        parent = doc
        for step in where[:-1]:
            parent = parent[step]
        last = where[-1]
        if action == "replace":
            parent[last] = draw(odd_values)
        elif action == "drop":
            del parent[last]
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.one_of(st.text(max_size=10), st.integers(), st.sampled_from(["a\nb", "x: y"])))] = \
                parent.pop(last)
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(last, copy.deepcopy(parent[last]))
        elif action == "deep":
            parent[last] = deep(draw(st.integers(20, 200)), draw(st.sampled_from(["list", "dict"])))
        elif action == "add" and isinstance(parent[last], dict):
            parent[last][draw(st.text(max_size=10))] = draw(odd_values)
        elif action == "add" and isinstance(parent[last], list):
            parent[last].append(draw(odd_values))
        paths_left = paths(doc)
        if not paths_left:
            break
    return doc


@st.composite
def byte_edits(draw, data: bytes, max_edits: int = 4) -> bytes:
    """``data`` with flips, cuts, inserted garbage and zeroed ranges at random offsets."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, max_edits))):
        size = len(out)
        offset = draw(st.integers(0, max(0, size - 1)))
        action = draw(st.sampled_from(["flip", "truncate", "insert", "zero", "delete", "byte"]))
        if action == "flip" and size:
            out[offset] ^= 1 << draw(st.integers(0, 7))
        elif action == "byte" and size:
            out[offset] = draw(st.integers(0, 255))
        elif action == "truncate":
            del out[offset:]
        elif action == "insert":
            out[offset:offset] = draw(st.binary(min_size=1, max_size=64))
        elif action == "zero":
            length = draw(st.integers(1, 256))
            out[offset:offset + length] = bytes(len(out[offset:offset + length]))
        elif action == "delete":
            del out[offset:offset + draw(st.integers(1, 64))]
    return bytes(out)


def alias_bomb(levels: int, width: int) -> str:
    """A "billion laughs" YAML value: ``width ** levels`` leaves, a few hundred bytes of text."""
    lines = ["a0: &a0 [lol]"]
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines), f"*a{levels}"
