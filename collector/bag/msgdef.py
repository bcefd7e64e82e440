"""ROS 2 message definitions in the ``ros2msg`` form rosbag2 stores as MCAP schema data.

rosbag2 (``LocalMessageDefinitionSource``) stores the verbatim ``.msg`` text of a type,
then, depth first and each type once, every dependency preceded by a line of 80 ``=``
and a line ``MSG: <pkg>/<Type>``; dependencies of one file are visited in sorted order.
We reproduce that byte for byte from the ``.msg`` files installed with the message
packages, so bags we write carry the same schemas as ``ros2 bag record``.

``.msg`` files are looked up as ``<prefix>/share/<pkg>/msg/<Type>.msg`` for each prefix
in ``AMENT_PREFIX_PATH``, then ``sys.prefix`` (pip ROS wheels), then the prefix of the
importable Python package of that name (apt installs under ``/opt/ros/<distro>``). When
no ``.msg`` file is found, the ``rosbags`` type store is used if it is installed.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import sys
from pathlib import Path

from collector.errors import BagError

SEPARATOR = "=" * 80

# Same pattern as rosbag2's MSG_FIELD_TYPE_REGEX: the type token at the start of a line,
# optionally followed by an array suffix. Comment lines never match ('#' is not allowed).
_FIELD_TYPE = re.compile(r"(?:^|\n)\s*([a-zA-Z0-9_/]+)(?:\[[^\]]*\])?\s+")

# rosbag2's list plus wstring, which rosbag2 would wrongly chase as a message type.
PRIMITIVE_TYPES = frozenset(
    {
        "bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16",
        "int32", "uint32", "int64", "uint64", "string", "wstring",
    }
)

_NAME = r"[a-zA-Z][a-zA-Z0-9_]*"
_TYPE_NAME = re.compile(rf"({_NAME})/(?:({_NAME})/)?({_NAME})")  # fullmatch: "$" accepts a trailing newline
_MAX_DEPTH = 50
_HEADER_NAMES = frozenset({"std_msgs/Header", "std_msgs/msg/Header", "Header"})


def split_type(msgtype: str) -> tuple[str, str, str]:
    """Split ``pkg/msg/Type`` or ``pkg/Type`` into ``(pkg, "msg", Type)``.

    Raises:
        BagError: the name is not a ROS 2 interface type name.
    """
    match = _TYPE_NAME.fullmatch(msgtype) if isinstance(msgtype, str) else None
    if match is None:
        raise BagError(f"message type {msgtype!r} is not of the form 'pkg/msg/Type'")
    package, namespace, name = match.groups()
    return package, namespace or "msg", name


def _search_prefixes(package: str) -> list[Path]:
    prefixes = [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    prefixes.append(Path(sys.prefix))
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin:
        # <prefix>/lib/pythonX.Y/site-packages/<pkg>/__init__.py: any parent may be <prefix>.
        prefixes.extend(Path(spec.origin).resolve().parents)
    return prefixes


@functools.cache
def find_interface_file(package: str, namespace: str, name: str, suffix: str = ".msg") -> Path | None:
    """Path of ``share/<package>/<namespace>/<name><suffix>`` under the search prefixes, or None."""
    relative = Path("share", package, namespace, name + suffix)
    for prefix in _search_prefixes(package):
        candidate = prefix / relative
        if candidate.is_file():
            return candidate
    return None


def _dependencies(text: str, package: str) -> list[str]:
    deps = set()
    for match in _FIELD_TYPE.finditer(text):
        field_type = match.group(1)
        if field_type in PRIMITIVE_TYPES:
            continue
        if "/" in field_type:
            deps.add(field_type)
        elif field_type == "Header":
            # rosidl maps the bare name Header to std_msgs/Header.
            deps.add("std_msgs/Header")
        else:
            deps.add(f"{package}/{field_type}")
    return sorted(deps)


def _msg_text(type_name: str) -> str:
    package, namespace, name = split_type(type_name)
    path = find_interface_file(package, namespace, name)
    if path is None:
        raise FileNotFoundError(type_name)
    return path.read_text(encoding="utf-8")


def _definition_from_msg_files(msgtype: str) -> str:
    seen: set[str] = set()

    def append_recursive(type_name: str, depth: int) -> str:
        if depth <= 0:
            raise BagError(f"message definition of {msgtype!r} nests deeper than {_MAX_DEPTH}")
        text = _msg_text(type_name)
        package = split_type(type_name)[0]
        result = text
        for dep in _dependencies(text, package):
            if dep not in seen:
                seen.add(dep)
                result += f"\n{SEPARATOR}\nMSG: {dep}\n" + append_recursive(dep, depth - 1)
        return result

    return append_recursive(msgtype, _MAX_DEPTH)


def _rosbags_store():
    from rosbags.typesys import Stores, get_typestore  # optional dependency

    return get_typestore(getattr(Stores, "ROS2_KILTED", Stores.LATEST))


def _full_name(msgtype: str) -> str:
    package, namespace, name = split_type(msgtype)
    return f"{package}/{namespace}/{name}"


@functools.cache
def message_definition(msgtype: str) -> str:
    """Concatenated ``ros2msg`` definition of ``msgtype`` (e.g. ``"sensor_msgs/msg/Image"``).

    Returns the text rosbag2 stores as MCAP schema data (encoding ``ros2msg``).

    Raises:
        BagError: the type name is malformed, or neither ``.msg`` files nor the
            ``rosbags`` type store know the type (or one of its field types).
    """
    split_type(msgtype)
    try:
        return _definition_from_msg_files(msgtype)
    except FileNotFoundError as err:
        missing = str(err)
    try:
        store = _rosbags_store()
        return store.generate_msgdef(_full_name(msgtype), ros_version=2)[0]
    except ImportError:
        hint = "rosbags is not installed"
    except Exception as err:  # rosbags raises its own error types for unknown types
        hint = f"rosbags does not know it either ({err})"
    package = split_type(missing)[0]
    raise BagError(
        f"no message definition for {msgtype!r}: {missing}.msg not found under "
        f"share/{package}/msg in AMENT_PREFIX_PATH, {sys.prefix} or next to the "
        f"{package!r} Python package; {hint}"
    )


@functools.cache
def type_hash(msgtype: str) -> str:
    """RIHS01 type description hash of ``msgtype``, or ``""`` when it cannot be found.

    Read from the ``<Type>.json`` file rosidl (Iron and later) installs beside the ``.msg``
    file; when no ``.msg`` file is installed either, computed by ``rosbags`` if available.
    Never raises for unknown types.
    """
    try:
        package, namespace, name = split_type(msgtype)
    except BagError:
        return ""
    full = f"{package}/{namespace}/{name}"
    path = find_interface_file(package, namespace, name, ".json")
    if path is not None:
        try:
            for entry in json.loads(path.read_text(encoding="utf-8")).get("type_hashes", []):
                if entry.get("type_name") == full:
                    return str(entry["hash_string"])
        except (OSError, ValueError, KeyError, AttributeError):
            pass
    if find_interface_file(package, namespace, name) is not None:
        return ""  # installed .msg without hashes (pre-Iron distro): a Kilted hash could be wrong
    try:
        return str(_rosbags_store().hash_rihs01(full))
    except Exception:  # optional source: absent library or unknown type means "no hash"
        return ""


def definition_has_header(definition: str) -> bool:
    """True when the first field of the root type in a ``ros2msg`` text is a std_msgs/Header.

    Constants take no bytes in CDR, so they are skipped; only the first real field counts.
    """
    for raw in definition.split("\n"):
        if raw.rstrip() == SEPARATOR:
            return False  # reached the dependencies without finding a field
        line = raw.split("#", 1)[0].strip()
        parts = line.split(None, 1)
        if len(parts) < 2 or "=" in parts[1]:
            continue  # blank, comment or constant (TYPE NAME=value)
        return parts[0] in _HEADER_NAMES
    return False


@functools.cache
def has_header(msgtype: str) -> bool:
    """True when the first field of ``msgtype`` is a ``std_msgs/Header``.

    Raises:
        BagError: the definition of ``msgtype`` cannot be found (see :func:`message_definition`).
    """
    return definition_has_header(message_definition(msgtype))
