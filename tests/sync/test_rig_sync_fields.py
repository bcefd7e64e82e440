"""The rig profile's optional sync settings: per-stream fields and the ``sync:`` block."""

from __future__ import annotations

import pytest

from collector.errors import RigError
from collector.rig import SyncLimits, load_rig
from collector.sync.config import stream_config
from tests.sync.helpers import make_rig


def test_defaults_when_absent():
    rig = load_rig("baoan_humanoid")
    assert rig.sync == SyncLimits()
    assert rig.sync.max_gap_ms == 200 and rig.sync.max_skew_ms == 100 and rig.sync.max_invalid_fraction == 0.02
    camera = rig.stream("head_rgb")
    assert (camera.latency_ms, camera.policy, camera.tolerance_ms, camera.max_gap_ms) == (0.0, None, None, None)


def test_role_defaults_resolved():
    rig = make_rig(("cam", "joints", "grip", "imu", "cmd"))
    configs = {s.name: stream_config(s) for s in rig.streams}
    assert {n: c.policy for n, c in configs.items()} == {
        "cam": "nearest", "joints": "linear", "grip": "hold", "imu": "slerp", "cmd": "hold"}
    assert configs["cam"].limit_ns == round(1e9 / 30) // 2
    assert configs["joints"].limit_ns == 3 * 10_000_000
    assert configs["grip"].limit_ns == 3 * 20_000_000
    assert configs["cmd"].limit_ns == 500_000_000


def test_fields_parsed_and_used():
    rig = make_rig(("cam", "joints"), extra={"cam": "latency_ms: 8, tolerance_ms: 5",
                                              "joints": "policy: nearest, max_gap_ms: 50, tolerance_ms: 2.5"},
                   sync="{max_gap_ms: 300, max_skew_ms: 40, max_invalid_fraction: 0.1, regularize: false}")
    cam, joints = rig.stream("cam"), rig.stream("joints")
    assert cam.latency_ms == 8.0 and cam.tolerance_ms == 5.0
    assert stream_config(cam).latency_ns == 8_000_000 and stream_config(cam).limit_ns == 5_000_000
    assert joints.policy == "nearest" and stream_config(joints).limit_ns == 2_500_000  # nearest uses tolerance
    assert rig.sync == SyncLimits(max_gap_ms=300, max_skew_ms=40, max_invalid_fraction=0.1, regularize=False)


@pytest.mark.parametrize("extra, fragment", [
    ({"cam": "policy: linear"}, "streams[0](cam).policy: 'linear' is not one of nearest, hold"),
    ({"cam": "policy: cubic"}, "streams[0](cam).policy"),
    ({"cam": "latency_ms: -1"}, "streams[0](cam).latency_ms: expected a number >= 0, got -1"),
    ({"cam": "tolerance_ms: 0"}, "streams[0](cam).tolerance_ms: expected a positive number, got 0"),
    ({"joints": "max_gap_ms: fast"}, "streams[1](joints).max_gap_ms: expected a positive number, got 'fast'"),
])
def test_bad_stream_fields_fail_on_one_line(extra, fragment):
    with pytest.raises(RigError) as err:
        make_rig(("cam", "joints"), extra=extra)
    assert fragment in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("sync, fragment", [
    ("{max_gap_ms: 0}", "sync.max_gap_ms: expected a positive number, got 0"),
    ("{max_invalid_fraction: 1.5}", "sync.max_invalid_fraction: expected a number in [0, 1], got 1.5"),
    ("{regularize: 1}", "sync.regularize: expected true or false, got 1"),
    ("{max_lag_ms: 3}", "sync.max_lag_ms: unknown key"),
    ("[1, 2]", "sync: expected a mapping"),
])
def test_bad_sync_block_fails_on_one_line(sync, fragment):
    with pytest.raises(RigError) as err:
        make_rig(("cam",), sync=sync)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_sync_limits_validate_on_construction():
    with pytest.raises(RigError, match="sync.max_skew_ms"):
        SyncLimits(max_skew_ms=-1)
    with pytest.raises(RigError, match="max_invalid_fraction"):
        SyncLimits(max_invalid_fraction=2)
