"""Checking parsed YAML documents: typed values out of mappings, one-line errors naming the key path.

A :class:`Checker` pulls values out of a document (``yaml.safe_load``) and raises
the caller's error class with one line naming the source, the key path and the
bad value, e.g. ``baoan_humanoid.yaml: streams[3].rate_hz: expected a positive
number, got 'fast'``. Values are shown through :func:`show`, a bounded repr: a YAML
alias bomb is small as text but huge when repr() expands it.
"""

from __future__ import annotations

import math
import re
import reprlib
from pathlib import Path
from typing import Any

import yaml

from collector.errors import CollectorError

# used with fullmatch: "$" after match() would also accept a trailing newline
NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
_PLAIN_KEY_RE = re.compile(r"[A-Za-z0-9_]+")  # keys shown as they are in messages; others as repr

_REPR = reprlib.Repr()  # keyword arguments need Python 3.12; set the limits one by one
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict = 3, 4, 4
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 60


def show(value: Any) -> str:
    """A bounded repr of ``value`` (at most 60 characters, one line)."""
    text = _REPR.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def one_line(text: Any) -> str:
    """``text`` with its line breaks (PyYAML's messages have several lines) as single spaces."""
    return " ".join(str(text).split())


def join(prefix: str, key: str) -> str:
    """A key path: ``prefix.key`` (``key`` alone at the top level)."""
    return f"{prefix}.{key}" if prefix else key


def load_yaml(text: str, source: str, error: type[CollectorError] = CollectorError) -> Any:
    """``yaml.safe_load(text)``, or one ``error`` line naming ``source`` (and the line) and the reason.

    Safe-loaded, never executed; nesting past the parser's recursion limit and integers
    of more digits than ``int()`` converts are refused too.
    """
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "YAML"
        raise error(f"{source}: {where}: invalid YAML ({one_line(getattr(err, 'problem', None) or err)})") from err
    except RecursionError as err:
        raise error(f"{source}: YAML nested too deeply") from err
    except ValueError as err:  # an integer of more digits than int() converts (4300)
        raise error(f"{source}: invalid YAML ({one_line(err)})") from err


def read_text(path: Path, what: str, error: type[CollectorError] = CollectorError) -> str:
    """The UTF-8 text of the file ``path``, or one ``error`` line: ``<path>: <what> not found``
    or ``<path>: cannot read <what> (<reason>)``."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise error(f"{path}: {what} not found") from err
    except (OSError, UnicodeDecodeError) as err:
        raise error(f"{path}: cannot read {what} ({err})") from err


def key_label(name: Any) -> str:
    """A key as messages show it: plain names as they are, odd ones (newlines, non-strings) as repr."""
    return name if isinstance(name, str) and _PLAIN_KEY_RE.fullmatch(name) else show(name)


class Checker:
    """Pulls typed values out of a parsed document, raising one-line ``error``s.

    ``source`` names the document in every message; ``error`` is the caller's
    error class (``RigError``, ``EpisodeError``, ...).
    """

    def __init__(self, source: str, error: type[CollectorError] = CollectorError):
        self.source = source
        self.error = error

    def fail(self, key: str, message: str) -> CollectorError:
        return self.error(f"{self.source}: {key}: {message}")

    def mapping(self, value: Any, key: str, allowed: set[str] | None, required: set[str]) -> dict:
        """``value`` as a mapping with only ``allowed`` keys (None: any) and every ``required`` one."""
        if not isinstance(value, dict):
            raise self.fail(key or "(top level)", f"expected a mapping, got {show(value)}")
        for name in value if allowed is not None else ():
            if name not in allowed:
                raise self.fail(join(key, key_label(name)), f"unknown key (allowed: {', '.join(sorted(allowed))})")
        for name in sorted(required):
            if name not in value:
                raise self.fail(join(key, name), "missing required field")
        return value

    def text(self, value: Any, key: str) -> str:
        """A one-line, non-empty string (stripped)."""
        if not isinstance(value, str) or not value.strip() or "\n" in value:
            raise self.fail(key, f"expected a one-line, non-empty string, got {show(value)}")
        return value.strip()

    def string(self, value: Any, key: str, *, pattern: re.Pattern | None = None, choices=None) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"expected a non-empty string, got {show(value)}")
        if choices is not None and value not in choices:
            raise self.fail(key, f"{value!r} is not one of {', '.join(choices)}")
        if pattern is not None and not pattern.fullmatch(value):
            raise self.fail(key, f"{value!r} is not a valid name")
        return value

    def number(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
            raise self.fail(key, f"expected a positive number, got {show(value)}")
        return float(value)

    def integer(self, value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.fail(key, f"expected a positive integer, got {show(value)}")
        return value

    def bounded(self, value: float, key: str, low: float, high: float, unit: str) -> float:
        """``value`` (a number already) within [low, high]."""
        if not low <= value <= high:
            raise self.fail(key, f"{show(value)} {unit} is out of range (expected {low:g} to {high:g} {unit})")
        return value

    def non_negative(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
            raise self.fail(key, f"expected a number >= 0, got {show(value)}")
        return float(value)

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {show(value)}")
        return value

    def names(self, value: Any, key: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(key, f"expected a non-empty list of names, got {show(value)}")
        names = tuple(self.string(v, f"{key}[{i}]", pattern=NAME_RE) for i, v in enumerate(value))
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise self.fail(key, f"duplicate name {duplicates[0]!r}")
        return names
