"""The loader's errors: one-line messages naming the file, key or episode."""

from collector.errors import CollectorError


class LoaderError(CollectorError):
    """A dataset cannot be opened or an item cannot be read: missing or malformed metadata,
    a bad option, a selection that keeps no episode."""


class VideoDecodeError(LoaderError):
    """A video file cannot be opened or holds no frame at the asked time."""
