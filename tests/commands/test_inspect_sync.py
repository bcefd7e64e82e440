"""``collector inspect EPISODE --sync [--json] [--plot]`` on episodes with known faults."""

from __future__ import annotations

import json

import pytest

from collector.cli import main
from collector.drivers.synthetic_episode import write_synthetic_episode
from collector.rig import load_rig

RIG = load_rig("baoan_humanoid")
CAMERA_FAULT = {"offset_ms": 35, "drift_ppm": 200, "jitter_ms": 3, "drop_rate": 0.01}


@pytest.fixture(scope="module")
def faulty_episode(tmp_path_factory):
    return write_synthetic_episode(tmp_path_factory.mktemp("ep"), RIG, seconds=6, seed=5,
                                   faults={"head_rgb": CAMERA_FAULT}).path


def test_sync_report_json_carries_clock_fit(faulty_episode, capsys):
    assert main(["inspect", str(faulty_episode), "--sync", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    sync = report["sync"]
    assert sync["fps"] == 30 and sync["frames"] > 150
    head = sync["streams"]["head_rgb"]["summary"]
    # The synthetic camera publishes 8 ms after capture (undeclared in the rig), so 35 - 8 ms shows.
    assert head["offset_ms"] == pytest.approx(27, abs=1.5)
    assert head["jitter_ms"] == pytest.approx(3, abs=1)
    # stamped 35 ms ahead of their receive times: the declared header clock proves unsynchronised
    assert (head["declared_clock"], head["clock"]) == ("header", "device")
    assert "later than their receive time" in sync["streams"]["head_rgb"]["clock"]["evidence"]
    clean = sync["streams"]["left_wrist_rgb"]["summary"]
    # on the host clock: trusted, not fitted; the synthetic driver's 8 ms + exp(1 ms) latency measured
    assert clean["clock"] == "header" and clean["drift_ppm"] == 0 and clean["jitter_ms"] == 0
    latency = clean["latency"]
    assert latency["measured"] and 8.0 <= latency["min_ms"] < 8.2 and 8.4 < latency["median_ms"] < 9.0
    assert latency["min_ms"] <= latency["median_ms"] <= latency["p99_ms"] <= latency["max_ms"]
    for name, entry in sync["streams"].items():
        summary = entry["summary"]
        if entry["policy"] == "nearest":  # an image is never taken from outside the tolerance
            assert summary["error_max_ms"] <= entry["limit_ms"] + 1e-9, name


def test_sync_text_and_plot(faulty_episode, tmp_path, capsys):
    plot = tmp_path / "sync.png"
    assert main(["inspect", str(faulty_episode), "--sync", "--plot", str(plot)]) == 0
    text = capsys.readouterr().out
    assert "offset ms" in text and "head_rgb" in text and "REFUSED" not in text
    assert "lat med" in text and "header->device" in text and "reference clock: the recording host's clock" in text
    assert f"plot: {plot}" in text
    data = plot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_refused_episode_exits_2_and_says_why(tmp_path, capsys):
    episode = write_synthetic_episode(tmp_path, RIG, seconds=4, seed=2,
                                      faults={"joint_states": {"silent_after_s": 1.5}}).path
    assert main(["inspect", str(episode), "--sync"]) == 2
    text = capsys.readouterr().out
    assert "REFUSED for export: joint_states" in text


def test_plot_needs_sync(faulty_episode, tmp_path, capsys):
    assert main(["inspect", str(faulty_episode), "--plot", str(tmp_path / "x.png")]) == 1
    assert "--plot and --fps need --sync" in capsys.readouterr().err


def test_folder_of_episodes_gets_one_plot_each(tmp_path, capsys):
    folder = tmp_path / "session"
    episodes = [write_synthetic_episode(folder, RIG, seconds=2, seed=seed).path for seed in (1, 2)]
    plot = tmp_path / "sync.png"
    assert main(["inspect", str(folder), "--sync", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert not plot.exists()
    for episode in episodes:
        expected = tmp_path / f"sync_{episode.name}.png"
        assert expected.is_file() and f"plot: {expected}" in out


def test_a_sync_error_in_a_folder_names_the_episode(tmp_path, capsys):
    good = write_synthetic_episode(tmp_path, RIG, seconds=2, seed=3).path
    silent = write_synthetic_episode(tmp_path, RIG, seconds=2, seed=4,
                                     faults={"joint_states": {"silent_after_s": 0}}).path
    assert good != silent
    assert main(["inspect", str(tmp_path), "--sync"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {silent}: joint_states: "), lines
