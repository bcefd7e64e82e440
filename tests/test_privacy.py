"""Privacy: operators are pseudonymous ids everywhere, no pickle in data paths, data never names paths."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from collector.capture.recording import RecorderConfig
from collector.episode import new_episode_dir
from collector.errors import CollectorError
from collector.pseudonym import PseudonymError, check_operator_id, derive_id
from collector.rig import load_rig

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("good", ["", "op_17", "baoan-07", "A.b_c-9", "x" * 32])
def test_pseudonymous_ids_pass(good):
    assert check_operator_id(good) == good


@pytest.mark.parametrize("bad", ["Zhang Wei", "张伟", "wei.zhang@example.com", "x" * 33, "_op", "op/17", "op\n1"])
def test_names_are_refused_in_one_line(bad):
    with pytest.raises(PseudonymError, match="not a pseudonymous id") as info:
        check_operator_id(bad)
    assert "\n" not in str(info.value).replace(repr(bad), "")


def test_derived_ids_are_stable_per_site_secret():
    one = derive_id("张伟", "baoan-secret")
    assert one == derive_id("张伟 ", "baoan-secret") and re.fullmatch(r"op_[0-9a-f]{10}", one)
    assert one != derive_id("张伟", "longhua-secret")
    check_operator_id(one)
    with pytest.raises(PseudonymError):
        derive_id("张伟", "")


def test_recorder_and_episode_writers_refuse_names(tmp_path):
    with pytest.raises(CollectorError, match="'Zhang Wei' is not a pseudonymous id"):
        RecorderConfig(rig=load_rig("baoan_humanoid"), out=tmp_path, operator="Zhang Wei")
    from collector.drivers.synthetic_episode import write_synthetic_episode

    with pytest.raises(CollectorError, match="not a pseudonymous id"):
        write_synthetic_episode(tmp_path, load_rig("baoan_humanoid"), seconds=0.2, operator="Zhang Wei",
                                streams=["imu"])


@pytest.mark.parametrize("verb", [["record", "--rig", "baoan_humanoid", "--synthetic", "--headless", "--episodes",
                                   "1", "--episode-seconds", "1"], ["up", "--rig", "baoan_humanoid", "--dry-run"]])
def test_cli_refuses_a_name_before_starting_anything(verb, tmp_path):
    result = subprocess.run([sys.executable, "-m", "collector", *verb, "--out", str(tmp_path / "out"),
                             "--operator", "Zhang Wei"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: operator 'Zhang Wei' is not a pseudonymous id (1-32 of A-Z a-z 0-9 _ . -, e.g. op_17): "
        "record people under ids, never names"]
    assert not (tmp_path / "out" / "logs").exists()


def test_no_pickle_in_any_data_path():
    """Nothing in the package can unpickle data: no pickle, no allow_pickle, no torch.load."""
    pattern = re.compile(r"\bimport pickle\b|\bpickle\.load|allow_pickle\s*=\s*True|\btorch\.load\(|\bdill\b"
                         r"|\bcloudpickle\b|\bjoblib\.load")
    offenders = [f"{path.relative_to(REPO)}:{n}" for path in (REPO / "collector").rglob("*.py")
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert offenders == []


@pytest.mark.parametrize("rig_name", ["../../etc", "a/b", "..", "rig\x00x", "机器人"])
def test_episode_names_from_data_stay_inside_the_folder(tmp_path, rig_name):
    path = new_episode_dir(tmp_path, rig_name, now_ns=1_790_000_000_000_000_000)
    assert path.parent == tmp_path and ".." not in path.name and "/" not in path.name
