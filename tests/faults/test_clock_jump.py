"""The clock jumps back mid-episode (a simulation-time reset): the real synthetic robot's header
stamps step back by 3 s while the real recorder records. Every message is kept; sync finds the jump."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from collector.cdr.header import header_stamp_ns
from collector.drivers.synthetic import read_truth
from collector.episode import StreamStats, read_episode_info
from collector.rig import load_rig
from collector.sync import SyncError, synchronize
from tests.faults.helpers import digest, light_rig, read_back, recorded_window, start_pair

pytest.importorskip("rosbags", reason="rosbags (the independent reader) is not installed")

JUMP_AFTER_S = 8.0
JUMP_MS = -3001.3  # not a whole number of periods of any stream: stamps stay unique
NS_PER_MS = 1_000_000


def test_stream_stats_judge_gaps_again_after_the_clock_went_back():
    """Before the fix a clock that went back hid every hole until it caught up again (never,
    for a reset to simulation time 0)."""
    period = 10_000_000
    stats = StreamStats(topic="/g", type="sensor_msgs/msg/JointState", role="gripper", nominal_rate_hz=100.0)
    receive = 1_750_000_000_000_000_000
    stamps = [receive + k * period for k in range(100)]  # 1 s
    stamps += [1_000_000 + k * period for k in range(100)]  # reset to sim time ~0
    stamps += [1_000_000 + k * period for k in range(150, 200)]  # then a 0.5 s hole
    for k, stamp in enumerate(stamps):
        stats.add(receive + k * period, 64, stamp)
    assert stats.clock_resets == 1
    assert stats.gaps == 1 and stats.missing == 50 and stats.largest_gap_ns == 51 * period
    late = StreamStats(topic="/g", type="sensor_msgs/msg/JointState", role="gripper", nominal_rate_hz=100.0)
    for k, stamp in enumerate([0, 1, 3, 2, 4, 5]):  # one message late by a period: no reset, no gap
        late.add(receive + k * period, 64, receive + stamp * period)
    assert (late.clock_resets, late.gaps, late.count) == (0, 0, 6)


class _JumpWatch:
    """Watches one topic's stamps (raw CDR, in the test process) for the step back."""

    def __init__(self, node, topic: str):
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import JointState

        self.jumped = threading.Event()
        self.previous: int | None = None
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.subscription = node.create_subscription(JointState, topic, self._on_message, qos, raw=True)

    def _on_message(self, data: bytes) -> None:
        stamp = header_stamp_ns(data)
        if self.previous is not None and stamp < self.previous - 1_000_000_000:
            self.jumped.set()
        self.previous = stamp


@pytest.mark.ros
@pytest.mark.slow
def test_clock_jumps_back_mid_episode(nodes, client, tmp_path):
    rig_file = light_rig(tmp_path)
    rig = load_rig(rig_file)
    faults = f"{{'*': {{jump_after_s: {JUMP_AFTER_S}, jump_ms: {JUMP_MS}}}}}"
    watch = _JumpWatch(client.node, rig.stream("left_gripper").topic)
    synthetic, _recorder, truth_path = start_pair(nodes, client, tmp_path, rig_file, seed=4, faults=faults)
    episode = Path(client.start())
    assert not watch.jumped.is_set(), "the clock jumped before the episode started (machine too slow?)"
    assert watch.jumped.wait(JUMP_AFTER_S + 30), "the synthetic robot's clock never jumped"
    time.sleep(2.0)
    status = client.status
    assert Path(client.stop()) == episode
    assert all(x["state"] == "ok" for x in status["streams"]), "a clock step is not silence"
    synthetic.stop()
    client.node.destroy_subscription(watch.subscription)

    info = read_episode_info(episode)
    recorded = read_back(episode)
    truth = read_truth(truth_path)
    cuts = {}
    for stream in rig.streams:
        rows = recorded[stream.topic]
        stamps = [stamp for _, stamp, _ in rows]
        # every message published from the first to the last recorded one is there, in publish order
        recorded_window(rows, truth, stream.name)
        back = np.flatnonzero(np.diff(stamps) < -1_000_000_000) + 1
        assert len(back) == 1, f"{stream.name}: expected one step back, found {len(back)}"
        cuts[stream.name] = int(back[0])
        step = stamps[cuts[stream.name]] - stamps[cuts[stream.name] - 1]
        assert abs(step - (JUMP_MS * NS_PER_MS + stream.period_ns)) < stream.period_ns, stream.name
        stats = info.streams[stream.name]
        assert stats.count == len(rows) and stats.drops == 0, stream.name
        assert stats.clock_resets == 1 and stats.gaps == 0, f"{stream.name}: {stats.to_dict()}"

    before = digest(episode)
    kept = synchronize(episode, keep=True)
    origin_ns = kept.origin_ns
    for stream in rig.streams:
        rows = recorded[stream.topic]
        fit = kept.clocks[stream.name]
        assert len(fit.jumps) == 1 and len(fit.segments) == 2, f"{stream.name}: {fit.to_dict()['jumps']}"
        jump = fit.jumps[0]
        assert jump.index == cuts[stream.name], stream.name
        assert jump.time_ns == rows[jump.index][0], "the jump is dated by the receive time of its first message"
        assert abs(jump.step_ns - JUMP_MS * NS_PER_MS) < 20 * NS_PER_MS, (stream.name, jump.step_ns)
        warned = [w for w in kept.warnings if w.stream == stream.name and w.code == "clock_jump"]
        assert len(warned) == 1 and warned[0].time_ns == jump.time_ns
        # after the jump, sync's capture times continue on the receive clock: no hole, no overlap
        steps = np.diff(kept.streams[stream.name].message_time_ns)
        assert steps.min() > 0, stream.name
        assert abs(steps[jump.index - 1] - stream.period_ns) < 5 * NS_PER_MS, (stream.name, steps[jump.index - 1])
        assert np.delete(steps, jump.index - 1).max() < 2.5 * stream.period_ns, stream.name
        assert kept.streams[stream.name].summary.reordered == 0, "a clock step is not reordering"

    with pytest.raises(SyncError) as refused:
        synchronize(episode)
    err = refused.value
    jump = kept.clocks[err.stream].jumps[0]
    assert err.stream in {s.name for s in rig.streams if s.required}
    assert "after the clock jumped by -300" in str(err), str(err)
    assert abs(err.time_s - (jump.time_ns - origin_ns) / 1e9) < 0.1, str(err)
    assert len(str(err).splitlines()) == 1
    assert digest(episode) == before, "sync changed the recorded episode"
