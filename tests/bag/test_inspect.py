"""inspect_bag on real rosbag2 bags and on a bag with known stamps, gaps and skews."""

from __future__ import annotations

import json
import struct

import pytest

from collector.bag.inspect import format_summary, inspect_bag
from collector.bag.metadata import read_metadata
from collector.bag.writer import BagWriter
from collector.cdr.header import header_stamp_ns
from collector.errors import BagError

MS = 1_000_000


@pytest.mark.parametrize("name", ["talker", "cdr_test", "wbag"])
def test_counts_match_real_metadata(rosbag2_testdata, name):
    summary = inspect_bag(rosbag2_testdata / name)
    metadata = read_metadata(rosbag2_testdata / name)
    assert {t.name: t.count for t in summary.topics} == metadata.topic_counts()
    assert summary.message_count == metadata.message_count
    assert len(summary.files) == len(metadata.relative_file_paths)
    for topic in summary.topics:
        assert not topic.has_header  # String, Log, ParameterEvent, test_msgs: no Header first
        assert topic.header_skew_median_ns is None and topic.header_skew_max_ns is None
        if topic.count > 1:
            assert topic.first_receive_ns <= topic.last_receive_ns
            assert topic.max_gap_ns >= 0 and topic.rate_hz > 0
    text = format_summary(summary)
    for topic in summary.topics:
        assert topic.name in text and topic.msgtype in text
    json.dumps(summary.to_dict())


def test_talker_details(rosbag2_testdata):
    summary = inspect_bag(rosbag2_testdata / "talker")
    topic = summary.topic("/topic")
    assert topic.msgtype == "std_msgs/msg/String"
    assert topic.rate_hz == pytest.approx(2.0, rel=0.05)  # talker publishes at 2 Hz
    assert topic.max_gap_ns == pytest.approx(500 * MS, rel=0.1)
    assert summary.topic("/parameter_events").count == 0
    assert summary.topic("/parameter_events").rate_hz is None
    with pytest.raises(BagError, match="/nope"):
        summary.topic("/nope")


def test_wbag_tiny_fake_times_stay_visible(rosbag2_testdata):
    summary = inspect_bag(rosbag2_testdata / "wbag")
    assert summary.start_ns == 1000 and summary.end_ns < 10_000
    text = format_summary(summary)
    assert "0.000001998" in text  # duration 1998 ns printed with ns precision


def test_known_stamps_skew_gap_and_zero_stamps(tmp_path, make_wrench):
    start = 1_700_000_000 * 1_000_000_000
    period = 10 * MS
    expected_skews = []
    with BagWriter(tmp_path / "known") as writer:
        ft = writer.add_topic("/ft", "geometry_msgs/msg/WrenchStamped")
        for i in range(100):
            if i == 50:
                continue  # one dropped message: the largest gap is two periods
            receive = start + i * period
            if i in (10, 20, 30):
                stamp = 0  # driver forgot to stamp
            else:
                skew = 8 * MS if i == 77 else -3 * MS if i == 78 else 5 * MS
                stamp = receive - skew
                expected_skews.append(skew)
            writer.write(ft, make_wrench(stamp // 1_000_000_000, stamp % 1_000_000_000, "ft"), receive, receive)
    summary = inspect_bag(tmp_path / "known")
    topic = summary.topic("/ft")
    assert topic.has_header
    assert topic.count == 99
    assert topic.first_receive_ns == start and topic.last_receive_ns == start + 99 * period
    assert topic.max_gap_ns == 2 * period
    assert topic.rate_hz == pytest.approx(98 / 0.99)
    assert topic.zero_stamps == 3
    assert topic.header_skew_median_ns == 5 * MS
    assert topic.header_skew_max_ns == 8 * MS
    assert summary.duration_ns == 99 * period
    text = format_summary(summary)
    assert "+0.005000" in text and "+0.008000" in text and "0.020000" in text


def test_header_stamp_from_cdr_bytes(make_wrench):
    little = make_wrench(12, 345, "f")
    assert header_stamp_ns(little) == 12_000_000_345
    big = b"\x00\x00\x00\x00" + struct.pack(">iI", 7, 9) + b"\x00" * 8
    assert header_stamp_ns(big) == 7_000_000_009
    negative = b"\x00\x01\x00\x00" + struct.pack("<iI", -1, 500) + b"\x00" * 4
    assert header_stamp_ns(negative) == -999_999_500
    assert header_stamp_ns(b"\x00\x01\x00") is None
    assert header_stamp_ns(b"\x00\x03\x00\x00" + b"\x00" * 12) is None  # parameter-list CDR


def test_inspect_refuses_non_bags(tmp_path):
    with pytest.raises(BagError):
        inspect_bag(tmp_path / "missing")
