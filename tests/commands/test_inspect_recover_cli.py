"""``collector inspect`` / ``collector recover`` from the command line, on real rosbag2 bags and bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from collector.cli import main

TESTDATA = Path(os.environ.get("COLLECTOR_TESTDATA", Path(__file__).resolve().parents[3] / "shared" / "testdata"))
BAGS = TESTDATA / "rosbag2"


def needs_testdata():
    if not BAGS.is_dir():
        pytest.skip(f"real rosbag2 test bags not found at {BAGS}; "
                    "set COLLECTOR_TESTDATA to the folder holding rosbag2/")


@pytest.mark.parametrize("bag", ["talker", "cdr_test", "wbag"])
def test_inspect_json_matches_rosbag2_metadata(bag, capsys):
    needs_testdata()
    assert main(["inspect", str(BAGS / bag), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    meta = yaml.safe_load((BAGS / bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    expected = {t["topic_metadata"]["name"]: t["message_count"] for t in meta["topics_with_message_count"]}
    counts = {t["name"]: t["count"] for t in report["bag"]["topics"]}
    assert {k: v for k, v in expected.items() if v} == {k: v for k, v in counts.items() if v}
    assert report["episode"] is None


def test_inspect_text_of_split_bag_lists_every_file(capsys):
    needs_testdata()
    assert main(["inspect", str(BAGS / "wbag")]) == 0
    text = capsys.readouterr().out
    assert "5 (" in text and "wbag_4.mcap" in text and "6074" in text


@pytest.mark.parametrize("verb", ["inspect", "recover"])
def test_missing_path_is_one_line_error(verb, tmp_path, capsys):
    missing = tmp_path / "nope"
    assert main([verb, str(missing)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and str(missing) in err[0]


def test_inspect_refuses_folder_without_bags(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["inspect", str(tmp_path)]) == 1
    assert "neither a bag" in capsys.readouterr().err


def test_headless_record_needs_counts(tmp_path, capsys):
    assert main(["record", "--rig", "baoan_humanoid", "--out", str(tmp_path), "--headless"]) == 1
    assert "--episodes" in capsys.readouterr().err
