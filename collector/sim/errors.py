"""The simulator's error."""

from collector.errors import CollectorError


class SimError(CollectorError):
    """A station, task or simulation setting is unknown or broken, or MuJoCo is missing."""
