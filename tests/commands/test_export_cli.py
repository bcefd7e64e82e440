"""``collector export`` as a user runs it: exit codes, one-line errors, skipped episodes,
appending, workers, and exports killed with SIGKILL at random moments."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from collector.cli import main
from collector.episode import read_episode_info, write_episode_info
from collector.export.lerobot import layout
from tests.export.conftest import Synced, baoan, baoan_second, longhua  # noqa: F401 (fixtures)

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "collector.cli", *args], capture_output=True, text=True,
                          timeout=300, env=env, cwd=REPO)


def digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def sources(tmp_path_factory, baoan, baoan_second) -> Path:
    """A folder of four Bao'an episodes (two more written here)."""
    folder = tmp_path_factory.mktemp("sources")
    for i, episode in enumerate((baoan, baoan_second)):
        shutil.copytree(episode.path, folder / f"ep{i}")
    for i, seed in enumerate((7, 8), start=2):
        extra = Synced(tmp_path_factory.mktemp(f"extra{seed}"), baoan.rig, seconds=1.5, seed=seed)
        shutil.copytree(extra.path, folder / f"ep{i}")
    return folder


def test_export_then_append_then_json(sources, tmp_path, capsys):
    episodes = sorted(sources.iterdir())
    out = tmp_path / "ds"
    assert main(["export", *map(str, episodes[:2]), "--format", "lerobot", "--out", str(out)]) == 0
    assert "exported 2 episode(s)" in capsys.readouterr().out
    assert main(["export", *map(str, episodes[2:]), "--format", "lerobot", "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["exported"]) == 2 and result["failed"] == [] and result["frames"] > 0
    info = json.loads((out / layout.INFO_PATH).read_text())
    assert info["total_episodes"] == 4


def test_workers_give_the_same_dataset(sources, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["export", str(sources), "--format", "lerobot", "--out", str(one)]) == 0
    proc = cli("export", str(sources), "--format", "lerobot", "--out", str(two), "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    for folder in ("data", "meta/episodes"):
        left = [pq.read_table(p) for p in layout.parquet_files(one / folder)]
        right = [pq.read_table(p) for p in layout.parquet_files(two / folder)]
        assert [t.to_pylist() for t in left] == [t.to_pylist() for t in right]
    assert (one / layout.STATS_PATH).read_text() == (two / layout.STATS_PATH).read_text()


def test_bad_episode_is_skipped_with_one_line(sources, longhua, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(next(iter(sorted(sources.iterdir()))), broken)
    mcap = next(broken.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[:2000])
    discarded = tmp_path / "discarded"
    shutil.copytree(sorted(sources.iterdir())[1], discarded)
    info = read_episode_info(discarded)
    info.status = "discarded"
    write_episode_info(discarded, info)
    good = sorted(sources.iterdir())[2]
    out = tmp_path / "ds"
    proc = cli("export", str(good), str(broken), str(longhua.path), str(discarded), "--format", "hdf5",
               "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("skipped ")]
    assert len(errors) == 2 and "Traceback" not in proc.stderr
    assert any(str(broken) in line for line in errors)
    assert any(str(longhua.path) in line and "rig 'longhua_humanoid'" in line for line in errors)
    assert f"left out {discarded.name}: discarded by the operator" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["episode_0.hdf5", "provenance.json"]

    strict = cli("export", str(good), str(broken), "--format", "lerobot", "--out", str(tmp_path / "strict"),
                 "--strict")
    errors = [line for line in strict.stderr.splitlines() if line.startswith("error: ")]
    assert strict.returncode == 1 and len(errors) == 1 and str(broken) in errors[0], strict.stderr
    assert "Traceback" not in strict.stderr
    assert not (tmp_path / "strict").exists()


@pytest.mark.parametrize("args, message", [
    (["--format", "parquet"], "unknown export format 'parquet'"),
    (["--format", "lerobot", "-o", "crf=99"], "crf=99"),
    (["--format", "lerobot", "-o", "quality=3"], "unknown option 'quality'"),
    (["--format", "lerobot", "--workers", "0"], "workers=0"),
])
def test_bad_arguments_are_one_line(sources, tmp_path, args, message):
    proc = cli("export", str(sources), "--out", str(tmp_path / "ds"), *args)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and message in proc.stderr
    missing = cli("export", str(tmp_path / "nothing"), "--format", "lerobot", "--out", str(tmp_path / "x"))
    assert missing.returncode == 1 and "no such episode or folder" in missing.stderr


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.mark.parametrize("fmt", ["lerobot", "hdf5"])
@pytest.mark.parametrize("target", ["a file", "someone's folder"])
def test_export_target_that_is_not_a_dataset_is_left_alone(sources, tmp_path, fmt, target):
    out = tmp_path / "target"
    if target == "a file":
        out.write_text("my notes\n")
    else:
        out.mkdir()
        (out / "notes.txt").write_text("my notes\n")
    before = digest(tmp_path)
    line = one_line_error(cli("export", str(sorted(sources.iterdir())[0]), "--format", fmt, "--out", str(out)))
    assert str(out) in line and "not overwriting" in line
    lock = f".{out.name}.lock"  # an export's lock file (empty; kept, as flock files are)
    assert {k: v for k, v in digest(tmp_path).items() if k != lock} == before


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:5000])


@pytest.mark.parametrize("damage, words", [
    (Path.unlink, "missing, the episodes table points at it"),
    (truncate, "5000 bytes, the provenance manifest says"),
])
def test_append_to_a_dataset_with_a_damaged_video_is_refused(sources, tmp_path, damage, words):
    """Appending would bury the damage, and a new episode's video could take a missing one's name."""
    episodes = sorted(sources.iterdir())
    out = tmp_path / "ds"
    assert cli("export", str(episodes[0]), "--format", "lerobot", "--out", str(out)).returncode == 0
    video = sorted(out.glob("videos/*/chunk-*/file-*.mp4"))[0]
    damage(video)
    before = digest(out)
    line = one_line_error(cli("export", str(episodes[1]), "--format", "lerobot", "--out", str(out)))
    assert str(video) in line and words in line and "collector validate" in line
    assert digest(out) == before


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["lerobot", "hdf5"])
def test_export_killed_at_random_moments_keeps_the_dataset(sources, tmp_path, fmt):
    episodes = sorted(sources.iterdir())
    out = tmp_path / "ds"
    assert main(["export", str(episodes[0]), "--format", fmt, "--out", str(out)]) == 0
    before = digest(out)
    started = time.monotonic()
    assert cli("export", *map(str, episodes[1:]), "--format", fmt, "--out", str(tmp_path / "timing")).returncode == 0
    full = time.monotonic() - started
    rng = random.Random(4)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for trial in range(5):
        proc = subprocess.Popen([sys.executable, "-m", "collector.cli", "export", *map(str, episodes[1:]),
                                 "--format", fmt, "--out", str(out), "--workers", str(1 + trial % 2)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=REPO,
                                start_new_session=True)
        time.sleep(rng.uniform(0.3, 0.9) * full)
        os.killpg(proc.pid, signal.SIGKILL)  # the workers too
        proc.wait()
        assert digest(out) == before, f"trial {trial}: the dataset changed"
    # the next export cleans up what the killed ones left and appends
    assert main(["export", *map(str, episodes[1:]), "--format", fmt, "--out", str(out)]) == 0
    after = digest(out)
    rewritten = ("meta/", "README", "provenance.json")  # rewritten by an append
    assert {k: v for k, v in after.items() if k in before and not k.startswith(rewritten)} == \
        {k: v for k, v in before.items() if not k.startswith(rewritten)}
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".ds.") and not p.name.endswith(".lock")]
    assert leftovers == [] and not list(out.glob(".*"))
    if fmt == "lerobot":
        info = json.loads((out / layout.INFO_PATH).read_text())
        assert info["total_episodes"] == len(episodes)
        index = np.concatenate([pq.read_table(p, columns=["index"])["index"].to_numpy()
                                for p in layout.parquet_files(out / "data")])
        np.testing.assert_array_equal(index, np.arange(info["total_frames"]))
    else:
        assert sorted(p.name for p in out.glob("episode_*.hdf5")) == [f"episode_{i}.hdf5" for i in range(4)]


@pytest.mark.slow
def test_memory_stays_bounded_whatever_the_episode_length(tmp_path):
    """Peak RSS of an export does not grow with the episode: frames stream through the encoders,
    image stats keep a fixed-size sample (both lengths are past its 100 frames)."""
    from tests.export.test_lerobot_loads import Episode, vga_rig

    rig = vga_rig()
    peaks = {}
    for seconds in (4.0, 12.0):
        episode = Episode(tmp_path / f"raw{seconds:g}", rig, seconds=seconds, seed=30, task="t")
        code = ("import resource, sys; from collector.cli import main; rc = main(sys.argv[1:]); "
                "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)")
        proc = subprocess.run([sys.executable, "-c", code, "export", str(episode.path), "--format", "lerobot",
                               "--out", str(tmp_path / f"ds{seconds:g}")], capture_output=True, text=True,
                              timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO)
        assert proc.returncode == 0, proc.stderr[-2000:]
        peaks[seconds] = int(proc.stdout.strip().splitlines()[-1]) / 1024  # MB
    raw_mb = 12.0 * 30 * 4 * 640 * 480 * 3 / 1e6  # what holding the 12 s episode's frames would take
    assert peaks[12.0] - peaks[4.0] < 100, peaks
    assert peaks[12.0] < raw_mb, (peaks, raw_mb)


@pytest.mark.parametrize("policy", ["refuse", "mark"])
def test_export_follows_the_rigs_policy_for_a_broken_limit(tmp_path, policy):
    """A required camera dropping 15% of its frames (the rig allows 2% invalid): refused, or
    kept with exactly those frames marked invalid, as the rig's ``sync.on_violation`` says."""
    import yaml

    from collector.drivers.synthetic_episode import write_synthetic_episode
    from collector.rig import parse_rig
    from tests.export.conftest import START_NS, small_rig

    doc = yaml.safe_load(small_rig("baoan_humanoid").text)
    doc.setdefault("sync", {})["on_violation"] = policy
    rig = parse_rig(yaml.safe_dump(doc, sort_keys=False), source="baoan_policy.yaml")
    episode = write_synthetic_episode(tmp_path / "episodes", rig, seconds=2.0, seed=11, start_ns=START_NS,
                                      faults={"head_rgb": {"drop_rate": 0.15}}, task="t").path
    out = tmp_path / "ds"
    proc = cli("export", str(episode), "--format", "lerobot", "--out", str(out))
    if policy == "refuse":
        assert proc.returncode == 1 and "head_rgb" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert not out.exists()
        return
    assert proc.returncode == 0, proc.stderr
    valid = pq.read_table(sorted(out.glob("data/*/*.parquet"))[0])["time.valid"].to_numpy()
    assert 0 < (~valid).sum() < len(valid)  # the dropped camera frames, and only those
    (source,) = json.loads((out / "meta" / "provenance.json").read_text())["episodes"]
    assert any(line.startswith("head_rgb: ") for line in source["kept_despite"]), source
    assert cli("validate", str(out)).returncode == 0
