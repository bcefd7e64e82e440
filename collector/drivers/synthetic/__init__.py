"""The synthetic humanoid without ROS: content, fault models, schedule, ground truth.

Everything a message carries is a pure function of its TRUE capture time (int ns,
system clock) and its sequence number, so later stages can be checked against
known values:

* joints: per joint two sinusoids around the middle of its limits (a slow
  square-ish open/close cycle for parallel grippers), velocity and acceleration
  analytic, effort ``inertia * acc + damping * vel + gravity * sin(q)``;
* action: the same trajectory evaluated ``lead_ns`` later (teleop leads the arm);
* IMU: rotation about a fixed tilted axis by a smooth angle, angular velocity its
  exact derivative, linear acceleration gravity seen from the body frame;
* wrench and tactile: smooth sinusoids, moving Gaussian pressure blobs (kPa);
* images: a scrolling pattern with the sequence number drawn in digits, depth a
  smooth surface (mm) with a moving bump; every image carries its sequence number
  losslessly in its first :data:`SEQ_BYTES` bytes (see :func:`read_seq`).

Every sinusoid has a whole number of cycles in :data:`PERIOD_NS`, so phases are
computed from ``time_ns % PERIOD_NS`` exactly and the content repeats every 10 min.

:class:`Schedule` turns rig streams and :class:`StreamFaults` into the ordered
publish events (with clock offset, drift, jitter, latency, drop-outs and dead
publishers applied); :class:`TruthWriter` records one line per message.
"""

from collector.drivers.synthetic.base import NS_PER_MS, NS_PER_S, SyntheticError
from collector.drivers.synthetic.config import SyntheticConfig
from collector.drivers.synthetic.faults import ALL_STREAMS, StreamFaults, parse_faults
from collector.drivers.synthetic.images import (
    SEQ_BYTES,
    DepthSource,
    ImageSource,
    counter_scale,
    draw_number,
    read_number,
    read_seq,
    write_seq,
)
from collector.drivers.synthetic.motion import DEFAULT_LIMITS, JointSample, JointSource, TrajectoryModel
from collector.drivers.synthetic.schedule import Event, Schedule
from collector.drivers.synthetic.sensors import (
    GRAVITY,
    ImuSample,
    ImuSource,
    TactileSource,
    WrenchSample,
    WrenchSource,
)
from collector.drivers.synthetic.signals import PERIOD_NS, Harmonics
from collector.drivers.synthetic.sources import DEFAULT_LEAD_NS, SOURCES, make_source
from collector.drivers.synthetic.truth import TruthWriter, read_truth

__all__ = [
    "ALL_STREAMS",
    "DEFAULT_LEAD_NS",
    "DEFAULT_LIMITS",
    "GRAVITY",
    "NS_PER_MS",
    "NS_PER_S",
    "PERIOD_NS",
    "SEQ_BYTES",
    "SOURCES",
    "DepthSource",
    "Event",
    "Harmonics",
    "ImageSource",
    "ImuSample",
    "ImuSource",
    "JointSample",
    "JointSource",
    "Schedule",
    "StreamFaults",
    "SyntheticConfig",
    "SyntheticError",
    "TactileSource",
    "TrajectoryModel",
    "TruthWriter",
    "WrenchSample",
    "WrenchSource",
    "counter_scale",
    "draw_number",
    "make_source",
    "parse_faults",
    "read_number",
    "read_seq",
    "read_truth",
    "write_seq",
]
