"""Per-stream sync settings, resolved from the rig profile with defaults per role."""

from __future__ import annotations

from dataclasses import dataclass

from collector.rig import CLOCKS, ROLES, Stream
from collector.sync.policies import POLICIES, ROLE_POLICIES

NS_PER_MS = 1_000_000


@dataclass(frozen=True, kw_only=True)
class StreamSyncConfig:
    """How sync treats one stream.

    Attributes:
        name, role, clock, required: from the rig stream.
        period_ns: nominal period (ns) from ``rate_hz``.
        policy: resampling policy name (a key of ``POLICIES``).
        limit_ns: the policy's limit (ns): tolerance for ``nearest``, largest
            bracket for ``linear``/``slerp``, largest age for ``hold``.
        latency_ns: known constant minimum receive latency (ns, >= 0).

    Raises:
        ValueError: on construction, naming the stream, field and value.
    """

    name: str
    role: str
    clock: str
    required: bool
    period_ns: int
    policy: str
    limit_ns: int
    latency_ns: int = 0

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"{self.name}: role {self.role!r} is not one of {', '.join(ROLES)}")
        if self.clock not in CLOCKS:
            raise ValueError(f"{self.name}: clock {self.clock!r} is not one of {', '.join(CLOCKS)}")
        if self.policy not in POLICIES:
            raise ValueError(f"{self.name}: policy {self.policy!r} is not one of {', '.join(POLICIES)}")
        for field in ("period_ns", "limit_ns"):
            if getattr(self, field) <= 0:
                raise ValueError(f"{self.name}: {field}={getattr(self, field)!r} is not positive")
        if self.latency_ns < 0:
            raise ValueError(f"{self.name}: latency_ns={self.latency_ns!r} is negative")


def stream_config(stream: Stream) -> StreamSyncConfig:
    """Resolve ``stream``'s policy, limit and latency: rig values first, else role defaults."""
    policy = stream.policy or ROLE_POLICIES[stream.role]
    if policy == "nearest" or policy == "hold":
        explicit = stream.tolerance_ms
    else:
        explicit = stream.max_gap_ms
    limit = (round(explicit * NS_PER_MS) if explicit is not None
             else POLICIES[policy].default_limit_ns(role=stream.role, period_ns=stream.period_ns))
    return StreamSyncConfig(name=stream.name, role=stream.role, clock=stream.clock, required=stream.required,
                            period_ns=stream.period_ns, policy=policy, limit_ns=limit,
                            latency_ns=round(stream.latency_ms * NS_PER_MS))
