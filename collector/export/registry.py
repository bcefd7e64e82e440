"""Dataset formats by name: one :class:`Format` entry per format in :data:`FORMATS` names
the module of its writer and the module of its validator.

Both modules are imported on first use (their libraries are heavy). The writer module
registers its :class:`DatasetWriter` subclass with ``@register("name")``; the validator
module has ``detect(path) -> bool`` (is ``path`` a dataset of this format? cheap, no
format library) and ``check(path) -> (problems, summary)`` (see
:mod:`collector.export.validate`). A new format is one module (or two: writer and
validator) plus one line in :data:`FORMATS`; a writer alone can also be added with a
``register`` call in any imported module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from collector.export.base import DatasetWriter
from collector.export.errors import ExportError


@dataclass(frozen=True)
class Format:
    """One dataset format: ``name`` (``--format``, the writer's ``name``), ``writer`` (the
    module registering its writer) and ``validator`` (the module with ``detect`` and ``check``)."""

    name: str
    writer: str
    validator: str

    def detect(self, path: Path) -> bool:
        """Whether ``path`` holds a dataset of this format (its validator's ``detect``)."""
        return importlib.import_module(self.validator).detect(Path(path))

    def check(self, path: Path) -> tuple[list, dict]:
        """Every problem of the dataset at ``path`` and a summary of counts (its validator's ``check``)."""
        return importlib.import_module(self.validator).check(Path(path))


# the formats shipped with collector; detect_format tries them in this order
FORMATS: dict[str, Format] = {fmt.name: fmt for fmt in (
    Format("lerobot", writer="collector.export.lerobot.writer", validator="collector.export.lerobot.validate"),
    Format("hdf5", writer="collector.export.hdf5", validator="collector.export.hdf5_validate"),
)}

WRITERS: dict[str, type[DatasetWriter]] = {}


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
            raise ValueError(f"export format {name!r} is registered already "
                             f"({existing.__module__}.{existing.__name__})")
        cls.name = name
        WRITERS[name] = cls
        return cls

    return decorate


def available_formats() -> list[str]:
    """Names of every registered or shipped format, sorted."""
    return sorted(set(WRITERS) | set(FORMATS))


def get_writer(name: str) -> type[DatasetWriter]:
    """The writer class of format ``name``, importing a shipped format on first use.

    Raises:
        ExportError: an unknown format (the message lists the formats).
    """
    if name not in WRITERS and name in FORMATS:
        importlib.import_module(FORMATS[name].writer)
    try:
        return WRITERS[name]
    except (KeyError, TypeError):
        raise ExportError(f"unknown export format {name!r} (formats: {', '.join(available_formats())})") from None


def detect_format(path: Path) -> str | None:
    """The name of the first format in :data:`FORMATS` whose validator recognises the
    dataset at ``path``, or None (no such path, or no dataset of a known format)."""
    return next((fmt.name for fmt in FORMATS.values() if fmt.detect(path)), None)
