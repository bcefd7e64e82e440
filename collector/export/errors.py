"""The export package's error."""

from collector.errors import CollectorError


class ExportError(CollectorError):
    """An episode cannot be exported: unknown format or option, an episode that does not
    match the feature plan, a dataset that would be overwritten, a missing library."""
