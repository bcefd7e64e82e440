"""Ground truth: one JSON line per message, published or dropped."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from collector.drivers.synthetic.schedule import Event
from collector.errors import CollectorError


class TruthWriter:
    """Ground truth as JSON lines, one per message (published or dropped).

    Each line: ``{"stream", "seq", "true_time_ns", "stamp_ns", "published"}``, and
    ``"corrupt"`` (``nan``, ``inf``, ``bad_step``) for a message a fault corrupted.
    Written to ``<path>.partial`` and renamed to ``path`` on :meth:`close`.

    Raises:
        CollectorError: when ``path`` exists already (not overwriting) or cannot be written.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.exists():
            raise CollectorError(f"{self.path}: exists already, not overwriting")
        self._partial = self.path.with_name(self.path.name + ".partial")
        try:
            self._file = open(self._partial, "w", encoding="utf-8")
        except OSError as err:
            raise CollectorError(f"{self.path}: cannot write ground truth ({err.strerror or err})") from err

    def write(self, event: Event) -> None:
        corrupt = f', "corrupt": "{event.corrupt}"' if event.corrupt else ""
        self._file.write(
            f'{{"stream": "{event.stream.name}", "seq": {event.seq}, "true_time_ns": {event.true_ns}, '
            f'"stamp_ns": {event.stamp_ns}, "published": {"true" if event.published else "false"}{corrupt}}}\n'
        )

    def close(self) -> None:
        """Flush and move the file to its final name (idempotent)."""
        if not self._file.closed:
            self._file.close()
            os.replace(self._partial, self.path)

    def __enter__(self) -> TruthWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def read_truth(path: str | Path) -> list[dict[str, Any]]:
    """The records a :class:`TruthWriter` wrote, in order."""
    with open(path, encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]
