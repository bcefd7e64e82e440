"""Every verb of ``collector`` with bad input, as a user would type it: a non-zero exit, one
``error:`` line naming the path or value and the reason, no traceback, and no input file changed.

A new verb or a new fault belongs in :data:`CASES`; a traceback for any of these is a bug.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# (argv with {tmp} for the folder of bad inputs, expected exit code, words the error line holds)
CASES = {
    "inspect: not an MCAP file": (["inspect", "{tmp}/garbage.mcap"], 1, "{tmp}/garbage.mcap is not an MCAP file"),
    "inspect: no such path": (["inspect", "{tmp}/missing"], 1, "{tmp}/missing: no such file or directory"),
    "inspect: an empty folder": (["inspect", "{tmp}/empty"], 1, "{tmp}/empty: neither a bag"),
    "inspect --sync: episode without a bag": (["inspect", "{tmp}/bad_json", "--sync"], 1, "{tmp}/bad_json"),
    "inspect --sync --fps 0": (["inspect", "{tmp}/empty", "--sync", "--fps", "0"], 2, "argument --fps: '0' is not > 0"),
    "recover: no such path": (["recover", "{tmp}/missing"], 1, "{tmp}/missing does not exist"),
    "recover: a plain file": (["recover", "{tmp}/notes.txt"], 1, "{tmp}/notes.txt is not a bag directory"),
    "export: no such source": (["export", "{tmp}/missing", "--format", "lerobot", "--out", "{tmp}/out"], 1,
                               "no such episode or folder"),
    "export: no episode in a folder": (["export", "{tmp}/empty", "--format", "hdf5", "--out", "{tmp}/out"], 1,
                                       "{tmp}/empty: no episode here"),
    "export --fps nan": (["export", "{tmp}/empty", "--format", "lerobot", "--out", "{tmp}/out", "--fps", "nan"], 2,
                         "argument --fps: 'nan' is not a finite number"),
    "validate: not a dataset": (["validate", "{tmp}/empty"], 1, "{tmp}/empty: not a dataset"),
    "validate: no such path": (["validate", "{tmp}/missing"], 1, "{tmp}/missing: no such file or directory"),
    "review: unreadable episode.json": (["review", "{tmp}/bad_json"], 1, "{tmp}/bad_json/episode.json: cannot read"),
    "review: no such folder": (["review", "{tmp}/missing"], 1, "{tmp}/missing: no such folder"),
    "record: rig YAML that does not parse": (["record", "--rig", "{tmp}/bad_rig.yaml", "--out", "{tmp}/rec",
                                              "--synthetic", "--headless", "--episodes", "1",
                                              "--episode-seconds", "1"], 1, "{tmp}/bad_rig.yaml: line 2: invalid YAML"),
    "record: unknown rig": (["record", "--rig", "no_such_rig", "--out", "{tmp}/rec", "--synthetic", "--headless",
                             "--episodes", "1", "--episode-seconds", "1"], 1, "unknown rig 'no_such_rig'"),
    "record: --out is a file": (["record", "--rig", "baoan_humanoid", "--out", "{tmp}/notes.txt", "--synthetic",
                                 "--headless", "--episodes", "1", "--episode-seconds", "1"], 1,
                                "{tmp}/notes.txt: File exists"),
    "record: a name as operator": (["record", "--rig", "baoan_humanoid", "--out", "{tmp}/rec", "--synthetic",
                                    "--headless", "--episodes", "1", "--episode-seconds", "1", "--operator",
                                    "Zhang San"], 1, "operator 'Zhang San' is not a pseudonymous id"),
    "record --episodes -1": (["record", "--rig", "baoan_humanoid", "--out", "{tmp}/rec", "--episodes", "-1"], 2,
                             "argument --episodes: '-1' is negative"),
    "up: rig YAML that does not parse": (["up", "--rig", "{tmp}/bad_rig.yaml", "--out", "{tmp}/up"], 1,
                                         "{tmp}/bad_rig.yaml: line 2: invalid YAML"),
    "up --rate 0": (["up", "--rig", "baoan_humanoid", "--rate", "0", "--dry-run"], 2,
                    "argument --rate: '0' is not > 0"),
    "sim: unknown station": (["sim", "collect", "--scene", "no_such_station", "--task", "x", "--out", "{tmp}/sim"],
                             1, "unknown station 'no_such_station'"),
    "sim: unknown task": (["sim", "view", "--scene", "baoan_assembly", "--task", "no_such_task", "--out",
                           "{tmp}/view.png"], 1, "station 'baoan_assembly' has no task 'no_such_task'"),
}


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> Path:
    """A folder of bad inputs: garbage, empty folders, unparsable files."""
    folder = tmp_path_factory.mktemp("bad")
    (folder / "garbage.mcap").write_bytes(b"this is not an MCAP file\n" * 40)
    (folder / "empty").mkdir()
    (folder / "notes.txt").write_text("an operator's notes\n")
    (folder / "bad_json").mkdir()
    (folder / "bad_json" / "episode.json").write_text('{"episode_id": "ep_0", ')
    (folder / "bad_rig.yaml").write_text("rig: [baoan\n")
    return folder


def digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def run(argv: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    return subprocess.run([sys.executable, "-m", "collector", *argv], capture_output=True, text=True, timeout=120,
                          env=env, cwd=REPO, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("case", CASES)
def test_bad_input_gets_one_error_line_and_no_traceback(case, bad):
    template, code, words = CASES[case]
    argv = [part.replace("{tmp}", str(bad)) for part in template]
    words = words.replace("{tmp}", str(bad))
    before = digest(bad)
    proc = run(argv)
    assert proc.returncode == code, f"{case}: exit {proc.returncode}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error: " in line]
    assert len(errors) == 1, proc.stderr
    assert words in errors[0], f"{case}: {errors[0]!r} lacks {words!r}"
    if code == 1:  # ours (argparse's usage lines come with code 2)
        assert proc.stderr.strip() == errors[0], proc.stderr
    after = digest(bad)
    assert {k: v for k, v in after.items() if k in before} == before, f"{case}: an input file changed"


def test_a_replay_of_a_missing_episode_stops_collector_up(bad, tmp_path):
    """`up` must not sit recording nothing when its source fails to start."""
    proc = run(["up", "--rig", "baoan_humanoid", "--source", "replay", "--episode", str(bad / "missing"),
                "--out", str(tmp_path / "up"), "--duration", "60"])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    output = proc.stdout + proc.stderr
    assert "replay exited with code 2" in output and f"{bad / 'missing'}" in output
    assert "Traceback" not in output
    logs = list((tmp_path / "up" / "logs").glob("*/*.log"))
    assert logs and not any("Traceback" in log.read_text() for log in logs), "a node died with a traceback"
