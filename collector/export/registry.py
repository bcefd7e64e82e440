"""Export formats by name: ``@register("name")`` on a :class:`DatasetWriter` subclass.

The formats shipped with collector are imported on first use (their libraries are
heavy); a new format is one module plus one line in :data:`BUILTIN_FORMATS`, or a
``register`` call in any imported module.
"""

from __future__ import annotations

import importlib
from typing import Callable

from collector.export.base import DatasetWriter
from collector.export.errors import ExportError

WRITERS: dict[str, type[DatasetWriter]] = {}

# format name -> module that registers it when imported
BUILTIN_FORMATS: dict[str, str] = {
    "hdf5": "collector.export.hdf5",
    "lerobot": "collector.export.lerobot.writer",
}


def register(name: str) -> Callable[[type[DatasetWriter]], type[DatasetWriter]]:
    """Class decorator adding a writer to :data:`WRITERS` under ``name`` (sets ``cls.name``).

    Raises:
        ValueError: ``name`` is taken by another class, or the class is not a DatasetWriter.
    """
    def decorate(cls: type[DatasetWriter]) -> type[DatasetWriter]:
        if not (isinstance(cls, type) and issubclass(cls, DatasetWriter)):
            raise ValueError(f"register({name!r}): {cls!r} is not a DatasetWriter subclass")
        existing = WRITERS.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise ValueError(f"export format {name!r} is registered already ({existing.__module__}.{existing.__name__})")
        cls.name = name
        WRITERS[name] = cls
        return cls

    return decorate


def available_formats() -> list[str]:
    """Names of every registered or shipped format, sorted."""
    return sorted(set(WRITERS) | set(BUILTIN_FORMATS))


def get_writer(name: str) -> type[DatasetWriter]:
    """The writer class of format ``name``, importing a shipped format on first use.

    Raises:
        ExportError: an unknown format (the message lists the formats).
    """
    if name not in WRITERS and name in BUILTIN_FORMATS:
        importlib.import_module(BUILTIN_FORMATS[name])
    try:
        return WRITERS[name]
    except (KeyError, TypeError):
        raise ExportError(f"unknown export format {name!r} (formats: {', '.join(available_formats())})") from None
