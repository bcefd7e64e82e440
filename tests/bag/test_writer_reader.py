"""BagWriter round trips, checked with independent readers (rosbags, mcap) and ours."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from collector.bag.metadata import (
    BagMetadata,
    QosProfile,
    parse_metadata,
    parse_qos_profiles,
    read_metadata,
    write_metadata,
)
from collector.bag.msgdef import message_definition
from collector.bag.reader import open_bag
from collector.bag.writer import BagWriter
from collector.errors import BagError, CollectorError

rosbags_rosbag2 = pytest.importorskip("rosbags.rosbag2")
rosbags_typesys = pytest.importorskip("rosbags.typesys")
mcap_reader = pytest.importorskip("mcap.reader")

QOS = {
    "/camera/image_raw": QosProfile(reliability="best_effort", depth=1),
    "/joint_states": QosProfile(),
    "/imu": QosProfile(history="keep_all", depth=0),
    "/ft": QosProfile(durability="transient_local", depth=5),
}


def _write(path: Path, ros_messages, **kwargs) -> list[tuple[str, int, int, bytes]]:
    """Write the messages with log times going back and forth across topics; returns them."""
    written = []
    with BagWriter(path, **kwargs) as writer:
        channels = {}
        for topic, msgtype, _cdr, _msg in ros_messages:
            if topic not in channels:
                channels[topic] = writer.add_topic(topic, msgtype, qos=QOS[topic])
        writer.add_attachment("rig.yaml", b"rig: bao_an_1\n", "application/yaml")
        writer.add_metadata("episode", {"task": "pick cup", "operator": "op-17"})
        for index, (topic, _msgtype, cdr, _msg) in enumerate(ros_messages):
            # Receive times are not monotonic across topics (like real callbacks).
            log_time = 1_700_000_000_000_000_000 + index * 1_000_000 - (index % 4) * 300_000
            publish_time = log_time - 250_000 - index
            writer.write(channels[topic], cdr, log_time, publish_time)
            written.append((topic, log_time, publish_time, cdr))
        assert writer.message_counts == {t: sum(1 for w in written if w[0] == t) for t in channels}
        assert writer.bytes_written == sum(len(w[3]) for w in written)
    return written


@pytest.fixture(params=["none", "zstd", "lz4"])
def written_bag(request, tmp_path, ros_messages):
    path = tmp_path / "episode_0001"
    written = _write(path, ros_messages, compression=request.param, chunk_size=2048)
    return path, written


def _in_log_order(written):
    return sorted(written, key=lambda w: w[1])


def test_rosbags_reads_every_message(written_bag, ros_messages):
    path, written = written_bag
    store = rosbags_typesys.get_typestore(rosbags_typesys.Stores.ROS2_KILTED)
    originals = {cdr: msg for _t, _m, cdr, msg in ros_messages}
    with rosbags_rosbag2.Reader(path) as reader:
        assert reader.message_count == len(written)
        assert {c.topic: c.msgtype for c in reader.connections} == {t: m for t, m, _c, _x in ros_messages}
        assert {c.topic: c.msgcount for c in reader.connections} == {
            t: sum(1 for w in written if w[0] == t) for t in QOS
        }
        for connection in reader.connections:
            qos = connection.ext.offered_qos_profiles[0]
            assert qos.depth == QOS[connection.topic].depth
            assert qos.reliability.name.lower() == QOS[connection.topic].reliability
        got = [(c.topic, t, bytes(raw)) for c, t, raw in reader.messages()]
        assert got == [(w[0], w[1], w[3]) for w in _in_log_order(written)]
        for connection, _t, raw in reader.messages():
            decoded = store.deserialize_cdr(raw, connection.msgtype)
            original = originals[bytes(raw)]
            if connection.msgtype == "sensor_msgs/msg/Image":
                assert bytes(decoded.data) == bytes(original.data)
                assert decoded.header.stamp.sec == original.header.stamp.sec
                assert decoded.header.frame_id == original.header.frame_id
            elif connection.msgtype == "sensor_msgs/msg/JointState":
                assert list(decoded.name) == list(original.name)
                assert list(decoded.position) == list(original.position)
            elif connection.msgtype == "sensor_msgs/msg/Imu":
                assert decoded.linear_acceleration.z == original.linear_acceleration.z
            else:
                assert decoded.wrench.force.x == original.wrench.force.x


def test_mcap_reader_sees_rosbag2_layout(written_bag):
    path, written = written_bag
    mcap_file = path / f"{path.name}_0.mcap"
    assert sorted(p.name for p in path.iterdir()) == sorted([mcap_file.name, "metadata.yaml"])
    with open(mcap_file, "rb") as stream:
        reader = mcap_reader.make_reader(stream, validate_crcs=True)
        header = reader.get_header()
        assert header.profile == "ros2" and "collector" in header.library
        summary = reader.get_summary()
        assert {s.name: (s.encoding, s.data.decode()) for s in summary.schemas.values()} == {
            m: ("ros2msg", message_definition(m)) for m in {"sensor_msgs/msg/Image", "sensor_msgs/msg/JointState",
                                                          "sensor_msgs/msg/Imu", "geometry_msgs/msg/WrenchStamped"}
        }
        for channel in summary.channels.values():
            assert channel.message_encoding == "cdr"
            assert parse_qos_profiles(channel.metadata["offered_qos_profiles"]) == [QOS[channel.topic].to_metadata()]
            assert channel.metadata["topic_type_hash"].startswith("RIHS01_")
        assert summary.statistics.message_count == len(written)
        got = [(c.topic, m.log_time, m.publish_time, m.data) for _s, c, m in reader.iter_messages()]
        assert got == _in_log_order(written)
        records = {m.name: m.metadata for m in reader.iter_metadata()}
        assert records["episode"] == {"task": "pick cup", "operator": "op-17"}
        from_record = yaml.safe_load(records["rosbag2"]["serialized_metadata"])
        from_file = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
        assert from_record == from_file
        attachments = list(reader.iter_attachments())
        assert [(a.name, a.media_type, a.data) for a in attachments] == [
            ("rig.yaml", "application/yaml", b"rig: bao_an_1\n")
        ]


def test_metadata_yaml_fields(written_bag):
    path, written = written_bag
    raw = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    store = rosbags_typesys.get_typestore(rosbags_typesys.Stores.ROS2_KILTED)
    assert raw["version"] == 9
    assert raw["storage_identifier"] == "mcap"
    start = min(w[1] for w in written)
    end = max(w[1] for w in written)
    assert raw["starting_time"] == {"nanoseconds_since_epoch": start}
    assert raw["duration"] == {"nanoseconds": end - start}
    assert raw["message_count"] == len(written)
    assert raw["relative_file_paths"] == [f"{path.name}_0.mcap"]
    assert raw["files"] == [{
        "path": f"{path.name}_0.mcap",
        "starting_time": {"nanoseconds_since_epoch": start},
        "duration": {"nanoseconds": end - start},
        "message_count": len(written),
    }]
    assert raw["compression_format"] == "" and raw["compression_mode"] == ""
    assert "custom_data" in raw and "ros_distro" in raw
    for entry in raw["topics_with_message_count"]:
        meta = entry["topic_metadata"]
        assert entry["message_count"] == sum(1 for w in written if w[0] == meta["name"])
        assert meta["serialization_format"] == "cdr"
        assert meta["offered_qos_profiles"] == [QOS[meta["name"]].to_metadata()]
        assert meta["type_description_hash"] == store.hash_rihs01(meta["type"])


def test_our_reader_round_trip(written_bag):
    path, written = written_bag
    with open_bag(path) as reader:
        assert reader.metadata is not None and reader.metadata.version == 9
        topics = {t.name: t for t in reader.topics}
        assert set(topics) == set(QOS)
        for name, info in topics.items():
            assert info.count == sum(1 for w in written if w[0] == name)
            assert info.qos == [QOS[name].to_metadata()]
            assert info.msgdef == message_definition(info.msgtype)
        got = [tuple(m) for m in reader.messages()]
        assert got == _in_log_order(written)
        only = [m.topic for m in reader.messages(topics=["/imu"])]
        assert only and set(only) == {"/imu"}
        assert reader.mcap_metadata()["episode"]["task"] == "pick cup"
        assert [a.name for a in reader.attachments()] == ["rig.yaml"]
    # the same file opened alone, and its directory without metadata.yaml
    with open_bag(path / f"{path.name}_0.mcap") as reader:
        assert reader.metadata is None and reader.message_count == len(written)


def test_refuses_to_overwrite(tmp_path):
    existing = tmp_path / "bag"
    existing.mkdir()
    with pytest.raises(BagError, match="exists already, not overwriting"):
        BagWriter(existing)
    as_file = tmp_path / "file_bag"
    as_file.write_bytes(b"keep me")
    with pytest.raises(BagError, match="exists already"):
        BagWriter(as_file)
    assert as_file.read_bytes() == b"keep me"
    (tmp_path / "metadata.yaml").write_text("keep")
    with pytest.raises(BagError, match="exists already"):
        write_metadata(tmp_path, BagMetadata())
    assert (tmp_path / "metadata.yaml").read_text() == "keep"


def test_writer_misuse_is_reported(tmp_path, make_wrench):
    with pytest.raises(BagError, match="compression='brotli'"):
        BagWriter(tmp_path / "a", compression="brotli")
    with pytest.raises(BagError, match="chunk_size=0"):
        BagWriter(tmp_path / "b", chunk_size=0)
    writer = BagWriter(tmp_path / "c")
    channel = writer.add_topic("/ft", "geometry_msgs/msg/WrenchStamped")
    with pytest.raises(BagError, match="registered already"):
        writer.add_topic("/ft", "geometry_msgs/msg/WrenchStamped")
    with pytest.raises(BagError, match="no_such_msgs"):
        writer.add_topic("/x", "no_such_msgs/msg/Thing")
    with pytest.raises(BagError, match="channel id 99"):
        writer.write(99, b"", 1, 1)
    with pytest.raises(BagError, match="reserved"):
        writer.add_metadata("rosbag2", {})
    with pytest.raises(BagError, match="not str"):
        writer.add_metadata("bad", {"k": 1})
    with pytest.raises(BagError, match="log_time_ns=-1"):
        writer.write(channel, make_wrench(1, 2, "ft"), -1, 9)
    with pytest.raises(BagError, match="publish_time_ns=9.5"):
        writer.write(channel, make_wrench(1, 2, "ft"), 10, 9.5)
    writer.write(channel, make_wrench(1, 2, "ft"), 10, 9)
    writer.close()
    writer.close()  # idempotent
    with pytest.raises(BagError, match="closed"):
        writer.write(channel, make_wrench(1, 2, "ft"), 11, 9)
    assert read_metadata(tmp_path / "c").message_count == 1


def test_close_on_exception_keeps_data(tmp_path, make_wrench):
    with pytest.raises(RuntimeError):
        with BagWriter(tmp_path / "bag") as writer:
            channel = writer.add_topic("/ft", "geometry_msgs/msg/WrenchStamped")
            writer.write(channel, make_wrench(1, 2, "ft"), 10, 9)
            raise RuntimeError("operator pressed stop badly")
    with open_bag(tmp_path / "bag") as reader:
        assert [m.log_time_ns for m in reader.messages()] == [10]


def test_empty_bag_is_valid(tmp_path):
    with BagWriter(tmp_path / "empty") as writer:
        writer.add_topic("/ft", "geometry_msgs/msg/WrenchStamped")
    with rosbags_rosbag2.Reader(tmp_path / "empty") as reader:
        assert reader.message_count == 0 and [c.topic for c in reader.connections] == ["/ft"]
    with open_bag(tmp_path / "empty") as reader:
        assert [(t.name, t.count) for t in reader.topics] == [("/ft", 0)]


def test_qos_profile_validation_and_forms():
    with pytest.raises(BagError, match="reliability='sometimes'"):
        QosProfile(reliability="sometimes")
    with pytest.raises(BagError, match="depth=-1"):
        QosProfile(depth=-1)
    with pytest.raises(TypeError):
        QosProfile("reliable")  # keyword-only
    profile = QosProfile(reliability="best_effort", durability="transient_local", depth=3)
    assert yaml.safe_load(profile.to_yaml()) == [profile.to_metadata()]
    assert QosProfile.from_metadata(profile.to_metadata()) == profile
    # the v8 integer form of the same profile
    v8 = "- history: 1\n  depth: 3\n  reliability: 2\n  durability: 1\n  deadline:\n    sec: 0\n    nsec: 0\n" \
         "  lifespan:\n    sec: 0\n    nsec: 0\n  liveliness: 1\n  liveliness_lease_duration:\n    sec: 0\n" \
         "    nsec: 0\n  avoid_ros_namespace_conventions: false"
    assert QosProfile.from_metadata(parse_qos_profiles(v8)[0]) == profile
    with pytest.raises(BagError, match="history='unknown'"):
        QosProfile.from_metadata({"history": 3, "reliability": 1, "durability": 2, "depth": 0})


def test_reads_real_metadata_versions(rosbag2_testdata):
    talker = read_metadata(rosbag2_testdata / "talker")
    assert talker.version == 4
    assert talker.topic_counts() == {"/topic": 10, "/rosout": 10, "/parameter_events": 0}
    rosout = next(t for t in talker.topics if t.name == "/rosout")
    assert rosout.offered_qos_profiles[0]["durability"] == "transient_local"
    assert rosout.offered_qos_profiles[0]["lifespan"] == {"sec": 10, "nsec": 0}
    cdr = read_metadata(rosbag2_testdata / "cdr_test" / "metadata.yaml")
    assert cdr.version == 7 and cdr.files[0].message_count == 7 and cdr.custom_data is None
    wbag = read_metadata(rosbag2_testdata / "wbag")
    assert len(wbag.relative_file_paths) == 5 and wbag.topics[0].offered_qos_profiles == []


def test_metadata_round_trip_and_errors(tmp_path, rosbag2_testdata):
    original = read_metadata(rosbag2_testdata / "talker")
    write_metadata(tmp_path, original)
    again = read_metadata(tmp_path)
    assert again.version == 9
    assert again.topics == original.topics and again.starting_time_ns == original.starting_time_ns
    assert parse_metadata(yaml.safe_load(original.serialized())) == again
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "metadata.yaml").write_text("rosbag2_bagfile_information:\n  version: 3\n")
    with pytest.raises(BagError, match="version=3"):
        read_metadata(bad)
    (bad / "metadata.yaml").write_text("rosbag2_bagfile_information:\n  version: 9\n  storage_identifier: mcap\n")
    with pytest.raises(BagError, match="metadata.yaml: key '.*' is missing"):
        read_metadata(bad)
    assert issubclass(BagError, CollectorError)


def _metadata_with(**changes) -> bytes:
    data = BagMetadata(relative_file_paths=["b_0.mcap"]).to_dict()
    data.update(changes)
    return yaml.safe_dump({"rosbag2_bagfile_information": data}).encode()


# found by tests/fuzz: each used to raise TypeError / ValueError / UnicodeDecodeError /
# RecursionError, or a BagError of several lines (PyYAML's own message)
BAD_METADATA = [
    pytest.param(b"rosbag2_bagfile_information: [\n\x1f", "not valid YAML", id="multi-line-yaml-error"),
    pytest.param(b"\xff\xfe", "not UTF-8", id="not-utf8"),
    pytest.param(b"[" * 5000, "nested too deeply", id="nested-too-deeply"),
    pytest.param(b"rosbag2_bagfile_information: " + b"9" * 5000, "4300", id="integer-too-long"),
    pytest.param(_metadata_with(message_count="many"), "message_count='many'", id="count-not-int"),
    pytest.param(_metadata_with(duration={"nanoseconds": float("inf")}), "duration", id="duration-inf"),
    pytest.param(_metadata_with(files=[5]), "files[0]", id="file-entry-not-mapping"),
    pytest.param(_metadata_with(files={"a": 1}), "files=", id="files-not-list"),
    pytest.param(_metadata_with(ros_distro=["kilted"]), "ros_distro", id="string-field-is-list"),
    pytest.param(_metadata_with(topics_with_message_count=[{"topic_metadata": {
        "name": "/t", "type": "x/msg/Y", "offered_qos_profiles": [{"depth": "ten"}]}}]), "depth", id="qos-depth"),
]


@pytest.mark.parametrize(("text", "fragment"), BAD_METADATA)
def test_bad_metadata_yaml_fails_on_one_line(tmp_path, text, fragment):
    (tmp_path / "metadata.yaml").write_bytes(text)
    with pytest.raises(BagError) as excinfo:
        read_metadata(tmp_path)
    message = str(excinfo.value)
    assert message.splitlines() == [message] and str(tmp_path / "metadata.yaml") in message
    assert fragment in message


def test_listed_file_name_with_a_newline_is_refused_on_one_line(tmp_path):
    (tmp_path / "metadata.yaml").write_bytes(_metadata_with(relative_file_paths=["a\nb.mcap"]))
    with pytest.raises(BagError) as excinfo:
        open_bag(tmp_path)
    assert str(excinfo.value).splitlines() == [str(excinfo.value)] and "'a\\nb.mcap'" in str(excinfo.value)


def test_reader_on_split_bag_and_errors(rosbag2_testdata, tmp_path):
    with open_bag(rosbag2_testdata / "wbag") as reader:
        assert len(reader.files) == 5
        times = [m.log_time_ns for m in reader.messages()]
        assert len(times) == 6074 and times == sorted(times)
        assert {t.name: t.count for t in reader.topics} == reader.metadata.topic_counts()
    copy = tmp_path / "wbag"
    shutil.copytree(rosbag2_testdata / "wbag", copy)
    (copy / "wbag_3.mcap").unlink()
    with pytest.raises(BagError, match="wbag_3.mcap is listed in .*metadata.yaml but missing"):
        open_bag(copy)
    (copy / "metadata.yaml").unlink()
    with open_bag(copy) as reader:  # a directory of .mcap files without metadata.yaml
        assert [p.name for p in reader.files] == ["wbag_0.mcap", "wbag_1.mcap", "wbag_2.mcap", "wbag_4.mcap"]
    data = (copy / "wbag_0.mcap").read_bytes()
    (copy / "wbag_0.mcap").write_bytes(data[: len(data) // 2])
    with pytest.raises(BagError, match=r"wbag_0.mcap is truncated.*collector recover"):
        open_bag(copy)
    with pytest.raises(BagError, match="does not exist"):
        open_bag(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(BagError, match="not a bag"):
        open_bag(tmp_path / "plain")


def test_unindexed_mcap_is_refused(tmp_path):
    from mcap.writer import IndexType, Writer

    bag = tmp_path / "unindexed"
    bag.mkdir()
    with open(bag / "unindexed_0.mcap", "wb") as stream:
        writer = Writer(stream, use_chunking=False, index_types=IndexType.NONE, use_statistics=False,
                        repeat_channels=False, repeat_schemas=False, use_summary_offsets=False)
        writer.start("ros2", "test")
        writer.finish()
    with pytest.raises(BagError, match="unindexed.*collector recover"):
        open_bag(bag)


def test_summary_is_json_ready(written_bag):
    path, _ = written_bag
    json.dumps(read_metadata(path).to_dict())
