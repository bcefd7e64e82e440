"""Per-process LRU of open file handles (video containers, HDF5 files), safe across fork.

A DataLoader worker inherits the parent's handles when it forks. They share file
offsets and FFmpeg state with the parent, so a child never uses them: when
``os.getpid()`` changes, the pool starts empty. The inherited handles are kept
referenced, never closed in the child (closing an FFmpeg decoder whose threads did not
survive the fork can hang). Pickling (spawn workers) sends no handle at all.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from typing import Any


class HandlePool:
    """Opens handles with ``opener(path)`` on first use and keeps ``size`` of them;
    the least recently used one is closed with ``closer``."""

    def __init__(self, opener: Callable[[str], Any], closer: Callable[[Any], None], *, size: int):
        self.opener, self.closer, self.size = opener, closer, size
        self._pid = os.getpid()
        self._open: OrderedDict[str, Any] = OrderedDict()
        self._inherited: list[Any] = []

    def __getstate__(self) -> dict:
        return {"opener": self.opener, "closer": self.closer, "size": self.size}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["opener"], state["closer"], size=state["size"])

    def get(self, path: str):
        """The open handle of ``path`` (opened now if needed; errors of ``opener`` pass through)."""
        if self._pid != os.getpid():
            self._inherited.append(self._open)
            self._open = OrderedDict()
            self._pid = os.getpid()
        handle = self._open.get(path)
        if handle is not None:
            self._open.move_to_end(path)
            return handle
        handle = self.opener(path)
        self._open[path] = handle
        while len(self._open) > self.size:
            _, old = self._open.popitem(last=False)
            self.closer(old)
        return handle

    def close(self) -> None:
        """Close this process's handles."""
        if self._pid == os.getpid():
            while self._open:
                self.closer(self._open.popitem()[1])
