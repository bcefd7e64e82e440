"""Time alignment of raw episodes: clocks, resampling onto one grid, alignment report.

Pure numpy, no ROS. The entry point is :func:`synchronize`::

    from collector.sync import synchronize
    result = synchronize("episodes/baoan_humanoid_20250101_120000_000")
    result.grid_ns                        # (K,) frame times, reference clock, int ns
    result.streams["head_rgb"].i0         # message index of the image used per frame
    result.streams["joint_states"].values["position"]   # (K, J) at the frame times
    result.to_dict()                      # JSON report

See ``collector/sync/align.py`` for the steps, ``clock.py`` for the clock model
and ``policies.py`` for the resampling policies.
"""

from collector.sync.align import synchronize
from collector.sync.clock import ClockFit, ClockJump, ClockSegment, fit_clock
from collector.sync.errors import SyncError, SyncViolation, SyncWarning
from collector.sync.policies import POLICIES, ROLE_POLICIES, Alignment, Policy
from collector.sync.result import StreamAlignment, StreamSummary, SyncResult
from collector.sync.timeline import StreamTimeline, episode_rig, read_timelines

__all__ = [
    "Alignment", "ClockFit", "ClockJump", "ClockSegment", "POLICIES", "Policy", "ROLE_POLICIES",
    "StreamAlignment", "StreamSummary", "StreamTimeline", "SyncError", "SyncResult", "SyncViolation",
    "SyncWarning", "episode_rig", "fit_clock", "read_timelines", "synchronize",
]
