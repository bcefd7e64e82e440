"""Messages arrive out of order: the real synthetic robot publishes some messages late (their
stamps unchanged), so the real recorder receives them after newer ones. Nothing is lost; sync
places them by their stamps and says how many there were."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from collector.drivers.synthetic import read_truth
from collector.episode import read_episode_info
from collector.rig import load_rig
from collector.sync import synchronize
from collector.sync.timeline import read_timelines
from tests.faults.helpers import digest, light_rig, published, read_back, recorded_window, start_pair

pytest.importorskip("rosbags", reason="rosbags (the independent reader) is not installed")

# Late by less than 1.5 periods: a late message is overtaken by the next one or two, and
# the stream's own clock never shows a hole (so episode.json has no false gaps).
FAULTS = "{joint_states: {late_rate: 0.05, late_ms: 2.5}, head_rgb: {late_rate: 0.1, late_ms: 45}}"
LATE = ("joint_states", "head_rgb")


@pytest.mark.ros
@pytest.mark.slow
def test_late_messages_are_kept_and_placed_by_their_stamps(nodes, client, tmp_path):
    rig_file = light_rig(tmp_path)
    rig = load_rig(rig_file)
    synthetic, _recorder, truth_path = start_pair(nodes, client, tmp_path, rig_file, seed=6, faults=FAULTS)
    episode = Path(client.start())
    time.sleep(4.0)
    assert Path(client.stop()) == episode
    synthetic.stop()

    info = read_episode_info(episode)
    recorded = read_back(episode)
    truth = read_truth(truth_path)
    reordered, absent = {}, {}
    for stream in rig.streams:
        stamps = [stamp for _, stamp, _ in recorded[stream.topic]]
        # arrival order is publish order, late messages included: every one is in the bag
        recorded_window(recorded[stream.topic], truth, stream.name)
        stats = info.streams[stream.name]
        assert (stats.count, stats.drops, stats.gaps) == (len(stamps), 0, 0), f"{stream.name}: {stats.to_dict()}"
        reordered[stream.name] = int((np.diff(stamps) < 0).sum())
        # at the episode's edges a late message and the one that overtook it can fall on either
        # side of start or stop: such a capture is absent from the bag although none was lost
        inside = {row["stamp_ns"] for row in published(truth, stream.name)
                  if min(stamps) <= row["stamp_ns"] <= max(stamps)}
        absent[stream.name] = len(inside - set(stamps))
        assert absent[stream.name] <= 2, f"{stream.name}: {absent[stream.name]} captures absent"
    for name in LATE:
        assert reordered[name] > 0, f"{name}: no message arrived out of order (fault not applied?)"
    assert sum(reordered[s.name] for s in rig.streams if s.name not in LATE) == 0

    before = digest(episode)
    result = synchronize(episode)  # late messages are no reason to refuse the episode
    timelines = read_timelines(episode, rig, streams=LATE)
    for name in LATE:
        aligned, stamps = result.streams[name], timelines[name].stamp_ns
        assert aligned.summary.reordered == reordered[name]
        warned = [w for w in result.warnings if w.stream == name]
        assert [w.code for w in warned] == ["reordered"], [w.message for w in warned]
        assert str(reordered[name]) in warned[0].message
        assert aligned.message_used.all() and aligned.summary.missing == absent[name]
        # capture times follow the stamps, not the arrival
        rank = np.empty(len(stamps), dtype=np.int64)
        rank[np.argsort(stamps, kind="stable")] = np.arange(len(stamps))
        assert np.array_equal(np.argsort(aligned.message_time_ns, kind="stable"), np.argsort(stamps, kind="stable"))
        valid = aligned.valid
        assert valid.mean() > 0.98
        if aligned.policy == "linear":
            # each frame interpolates between neighbours in capture order, never across a late message
            gap = rank[aligned.i1[valid]] - rank[aligned.i0[valid]]
            assert np.isin(gap, (0, 1)).all()
        else:
            # each frame shows the image captured nearest to it, late images at their own time
            times = aligned.message_time_ns
            nearest = np.abs(times[None, :] - result.grid_ns[valid][:, None]).argmin(axis=1)
            assert np.array_equal(aligned.i0[valid], nearest)
            late = np.flatnonzero(np.diff(stamps) < 0) + 1  # arrived after a newer image
            assert np.isin(late, aligned.i0[valid]).mean() > 0.9
            assert np.abs(aligned.alignment_error_ns[valid]).max() <= aligned.limit_ns
    assert digest(episode) == before
