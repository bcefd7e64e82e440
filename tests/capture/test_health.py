"""Stream health from explicit receive/sample times: ok, slow, stale, waiting."""

from __future__ import annotations

from dataclasses import replace

import pytest

from collector.capture.health import LATENCY_SAMPLES_HZ, HealthBoard, StreamHealth, StreamMonitor, problems
from collector.rig import QOS_PRESETS, Stream, SyncLimits, load_rig

NS_PER_S = 1_000_000_000
START_NS = 1_750_000_000 * NS_PER_S + 987_654_321
SAMPLE_EVERY_NS = 100_000_000  # the status timer


def _stream(rate_hz: float, *, name: str = "imu", required: bool = True) -> Stream:
    return Stream(
        name=name,
        topic=f"/test/{name}",
        type="sensor_msgs/msg/Imu",
        role="imu",
        rate_hz=rate_hz,
        clock="header",
        qos=QOS_PRESETS["reliable"],
        required=required,
        frame_id="imu_link",
    )


def _drive(monitor: StreamMonitor, *, start_ns: int, stop_ns: int, publish_hz: float,
           latency_ns: int | None = None) -> list[StreamHealth]:
    """Deliver messages at ``publish_hz`` in [start_ns, stop_ns] and sample every 100 ms up to stop_ns.

    ``publish_hz`` 0 means silence. Messages due at or before a sample time are
    delivered before that sample, as the executor would. ``latency_ns``: each message
    is stamped that long before it is received, and the stamp passed as the recorder
    node passes it (every ``latency_stride``-th message).
    """
    period_ns = NS_PER_S / publish_hz if publish_hz else None
    index = 0
    samples = []
    for now_ns in range(start_ns + SAMPLE_EVERY_NS, stop_ns + 1, SAMPLE_EVERY_NS):
        while period_ns is not None:
            receive_ns = start_ns + round(index * period_ns)
            if receive_ns > min(now_ns, stop_ns):
                break
            if latency_ns is not None and monitor.count % monitor.latency_stride == 0:
                monitor.on_message(receive_ns, receive_ns - latency_ns)
            else:
                monitor.on_message(receive_ns)
            index += 1
        samples.append(monitor.sample(now_ns))
    return samples


RATES = [30.0, 100.0, 200.0, 500.0]  # the range the shipped rigs use


@pytest.mark.parametrize("rate_hz", RATES)
def test_ok_at_nominal_rate(rate_hz):
    monitor = StreamMonitor(_stream(rate_hz))
    samples = _drive(monitor, start_ns=START_NS, stop_ns=START_NS + 3 * NS_PER_S, publish_hz=rate_hz)
    assert [s.state for s in samples] == ["ok"] * len(samples)
    last = samples[-1]
    assert last.rate_hz == pytest.approx(rate_hz, rel=0.05)
    assert last.missing_in_window == 0
    assert last.count == monitor.count == round(3 * rate_hz) + 1
    assert problems(samples) == []


@pytest.mark.parametrize("rate_hz", RATES)
def test_slow_at_half_rate(rate_hz):
    stream = _stream(rate_hz)
    monitor = StreamMonitor(stream)
    samples = _drive(monitor, start_ns=START_NS, stop_ns=START_NS + 2 * NS_PER_S, publish_hz=rate_hz / 2)
    last = samples[-1]
    assert last.state == "slow"
    assert last.rate_hz == pytest.approx(rate_hz / 2, rel=0.05)
    assert last.missing_in_window == pytest.approx(rate_hz / 2, abs=1)
    # half a window is needed before judging the rate: the first samples are not "slow"
    assert samples[0].state == "ok"
    (line,) = problems([last])
    assert stream.name in line and stream.topic in line
    assert f"nominal {rate_hz:g} Hz" in line


@pytest.mark.parametrize(
    ("rate_hz", "stale_after_ns"),
    [
        (1.0, 5 * NS_PER_S),  # five periods dominate
        (10.0, 500_000_000),
        (30.0, 300_000_000),  # the 0.3 s floor dominates
        (500.0, 300_000_000),
    ],
)
def test_stale_after_threshold_not_before(rate_hz, stale_after_ns):
    stream = _stream(rate_hz)
    monitor = StreamMonitor(stream)
    assert monitor.stale_after_ns() == stale_after_ns
    _drive(monitor, start_ns=START_NS, stop_ns=START_NS + 5 * NS_PER_S, publish_hz=rate_hz)
    last_ns = monitor.last_receive_ns
    assert last_ns is not None

    at_threshold = monitor.sample(last_ns + stale_after_ns)
    assert at_threshold.state != "stale"
    assert not any("silent" in line for line in problems([at_threshold]))

    past = monitor.sample(last_ns + stale_after_ns + 1)
    assert past.state == "stale"
    assert past.silent_s == pytest.approx(stale_after_ns / 1e9)
    (line,) = problems([past])
    assert stream.name in line and stream.topic in line and "silent" in line


def test_stale_stream_recovers_when_messages_resume():
    monitor = StreamMonitor(_stream(100.0))
    _drive(monitor, start_ns=START_NS, stop_ns=START_NS + NS_PER_S, publish_hz=100.0)
    resume_ns = START_NS + 3 * NS_PER_S
    assert monitor.sample(resume_ns).state == "stale"
    samples = _drive(monitor, start_ns=resume_ns, stop_ns=resume_ns + 2 * NS_PER_S, publish_hz=100.0)
    assert samples[-1].state == "ok"


@pytest.mark.parametrize("required", [True, False])
def test_waiting_before_first_message(required):
    stream = _stream(30.0, required=required)
    monitor = StreamMonitor(stream)
    samples = _drive(monitor, start_ns=START_NS, stop_ns=START_NS + 10 * NS_PER_S, publish_hz=0)
    assert {s.state for s in samples} == {"waiting"}
    last = samples[-1]
    assert (last.count, last.rate_hz, last.silent_s) == (0, 0.0, None)
    assert last.to_dict()["silent_s"] is None
    lines = problems([last])
    if required:
        assert lines == [f"{stream.name} ({stream.topic}) has sent nothing yet"]
    else:
        assert lines == []

    # once it starts, it leaves "waiting" at once and is "ok" after a full window at nominal rate
    first_ns = START_NS + 10 * NS_PER_S + 1
    samples = _drive(monitor, start_ns=first_ns, stop_ns=first_ns + 2 * NS_PER_S, publish_hz=30.0)
    assert samples[0].state in ("ok", "slow") and samples[0].silent_s is not None
    assert samples[-1].state == "ok"


def test_board_reports_each_unhealthy_stream_once():
    rig = load_rig("baoan_humanoid")
    names = ("head_rgb", "joint_states", "left_wrench", "left_gripper", "imu")
    board = HealthBoard(tuple(rig.stream(n) for n in names))
    stop_ns = START_NS + 2 * NS_PER_S
    monitors = board.monitors
    _drive(monitors["head_rgb"], start_ns=START_NS, stop_ns=stop_ns, publish_hz=30.0)
    _drive(monitors["joint_states"], start_ns=START_NS, stop_ns=stop_ns, publish_hz=250.0)
    _drive(monitors["left_wrench"], start_ns=START_NS, stop_ns=START_NS + NS_PER_S, publish_hz=500.0)
    # left_gripper (required) and imu (optional) never publish

    health = board.snapshot(stop_ns)
    states = {h.name: h.state for h in health}
    assert states == {
        "head_rgb": "ok",
        "joint_states": "slow",
        "left_wrench": "stale",
        "left_gripper": "waiting",
        "imu": "waiting",
    }
    lines = problems(health)
    assert len(lines) == 3
    for name in ("joint_states", "left_wrench", "left_gripper"):
        (line,) = [line for line in lines if line.startswith(f"{name} ")]
        assert f"({rig.stream(name).topic})" in line
    assert not any(rig.stream("imu").topic in line for line in lines)


MS = 1_000_000


@pytest.mark.parametrize("rate_hz", RATES)
def test_latency_doubling_is_shown_within_a_second_and_warned_above_the_limit(rate_hz):
    stream = _stream(rate_hz)
    monitor = StreamMonitor(stream, SyncLimits(max_latency_ms=12.0))
    assert monitor.measures_latency
    assert rate_hz / monitor.latency_stride >= LATENCY_SAMPLES_HZ / 2 or monitor.latency_stride == 1
    samples = _drive(monitor, start_ns=START_NS, stop_ns=START_NS + 2 * NS_PER_S, publish_hz=rate_hz,
                     latency_ns=8 * MS)
    assert {(s.latency_ms, s.latency_state) for s in samples} == {(8.0, "ok")}
    assert problems(samples) == []
    assert samples[-1].to_dict()["latency_ms"] == 8.0

    change_ns = START_NS + 2 * NS_PER_S
    samples = _drive(monitor, start_ns=change_ns, stop_ns=change_ns + 2 * NS_PER_S, publish_hz=rate_hz,
                     latency_ns=16 * MS)
    after_a_second = [s for t, s in zip(range(1, 21), samples) if t >= 10]
    assert {(s.latency_ms, s.latency_state) for s in after_a_second} == {(16.0, "high")}
    (line,) = problems([samples[-1]])
    assert stream.name in line and stream.topic in line
    assert "latency 16.0 ms" in line and "sync.max_latency_ms 12 ms" in line
    assert samples[-1].to_dict()["latency_state"] == "high"


def test_stamps_ahead_of_receive_beyond_tolerance_warned():
    monitor = StreamMonitor(_stream(100.0), SyncLimits(clock_tolerance_ms=5.0))
    samples = _drive(monitor, start_ns=START_NS, stop_ns=START_NS + NS_PER_S, publish_hz=100.0, latency_ns=-4 * MS)
    assert (samples[-1].latency_ms, samples[-1].latency_state) == (-4.0, "ok")  # within the tolerance
    samples = _drive(monitor, start_ns=START_NS + NS_PER_S, stop_ns=START_NS + 3 * NS_PER_S, publish_hz=100.0,
                     latency_ns=-250 * MS)
    assert samples[-1].latency_state == "ahead"
    (line,) = problems([samples[-1]])
    assert "header.stamp 250.0 ms ahead" in line and "not synchronised" in line


def test_stale_stream_gets_no_latency_line():
    monitor = StreamMonitor(_stream(100.0), SyncLimits(max_latency_ms=1.0))
    _drive(monitor, start_ns=START_NS, stop_ns=START_NS + NS_PER_S, publish_hz=100.0, latency_ns=8 * MS)
    stale = monitor.sample(START_NS + 3 * NS_PER_S)
    assert (stale.state, stale.latency_state) == ("stale", "high")
    (line,) = problems([stale])
    assert "silent" in line


@pytest.mark.parametrize("change", [{"clock": "receive"}, {"clock": "device"}, {"type": "std_msgs/msg/String"}])
def test_streams_off_a_synchronised_header_clock_show_no_latency(change):
    monitor = StreamMonitor(replace(_stream(100.0), **change))
    assert not monitor.measures_latency
    samples = _drive(monitor, start_ns=START_NS, stop_ns=START_NS + NS_PER_S, publish_hz=100.0)
    assert (samples[-1].latency_ms, samples[-1].latency_state) == (None, "")
    assert samples[-1].to_dict()["latency_ms"] is None


def test_board_takes_the_rigs_limits():
    rig = load_rig("baoan_humanoid")
    board = HealthBoard(rig.streams, SyncLimits(max_latency_ms=10.0))
    _drive(board.monitors["head_rgb"], start_ns=START_NS, stop_ns=START_NS + NS_PER_S, publish_hz=30.0,
           latency_ns=20 * MS)
    health = {h.name: h for h in board.snapshot(START_NS + NS_PER_S)}
    assert (health["head_rgb"].latency_ms, health["head_rgb"].latency_state) == (20.0, "high")
    assert health["imu"].latency_ms is None
    assert any(line.startswith("head_rgb ") and "latency 20.0 ms" in line for line in problems(list(health.values())))
