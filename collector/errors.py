"""Exception hierarchy shared by every collector module.

The CLI catches :class:`CollectorError` (and only it), prints ``error: <message>``
on one line and exits non-zero. Anything else is a bug and keeps its traceback.
"""


class CollectorError(Exception):
    """Base class of every error collector raises on purpose."""


class RigError(CollectorError):
    """A rig profile is missing, malformed or inconsistent."""


class BagError(CollectorError):
    """A rosbag2 / MCAP bag cannot be read, written or recovered."""


class EpisodeError(CollectorError):
    """An episode directory is missing, incomplete or would be overwritten."""


class DiskSpaceError(CollectorError):
    """Free disk space is below the configured reserve."""
