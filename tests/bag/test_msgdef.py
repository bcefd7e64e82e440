"""ros2msg definitions: byte-exact against rosbag2, equivalent to rosbags' type store."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.bag import msgdef
from collector.bag.msgdef import (
    SEPARATOR,
    definition_has_header,
    has_header,
    message_definition,
    type_hash,
)
from collector.errors import BagError

rosbags_typesys = pytest.importorskip("rosbags.typesys")

SENSOR_TYPES = [
    "sensor_msgs/msg/Image",
    "sensor_msgs/msg/JointState",
    "sensor_msgs/msg/Imu",
    "geometry_msgs/msg/WrenchStamped",
]


def _clear_caches() -> None:
    for function in (msgdef.message_definition, msgdef.find_interface_file, msgdef.has_header, msgdef.type_hash):
        function.cache_clear()


@pytest.fixture
def fake_prefix(tmp_path, monkeypatch):
    """An install prefix of our own, first in AMENT_PREFIX_PATH; caches cleared around the test."""
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path))
    _clear_caches()
    yield tmp_path
    _clear_caches()


def _write_msg(prefix: Path, full_name: str, text: str) -> None:
    package, name = full_name.split("/")
    path = prefix / "share" / package / "msg" / f"{name}.msg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def kilted():
    return rosbags_typesys.get_typestore(rosbags_typesys.Stores.ROS2_KILTED)


@pytest.mark.parametrize("msgtype", SENSOR_TYPES)
def test_rosbags_reads_our_definition_as_the_same_types(msgtype, kilted):
    # Our text keeps the .msg comments verbatim, as rosbag2 stores it, while rosbags'
    # generate_msgdef strips comments and blank lines, so the raw strings differ by design.
    # The strongest equivalence that holds: rosbags parses our text into types whose
    # normalized definition AND RIHS01 type hash equal those of its own Kilted store.
    ours = message_definition(msgtype)
    types = rosbags_typesys.get_types_from_msg(ours, msgtype)
    store = rosbags_typesys.get_typestore(rosbags_typesys.Stores.EMPTY)
    store.register(types)
    assert store.generate_msgdef(msgtype, ros_version=2) == kilted.generate_msgdef(msgtype, ros_version=2)
    assert store.hash_rihs01(msgtype) == kilted.hash_rihs01(msgtype)
    assert type_hash(msgtype) == kilted.hash_rihs01(msgtype)


@pytest.mark.parametrize("msgtype", SENSOR_TYPES)
def test_definition_layout_matches_rosbag2(msgtype):
    text = message_definition(msgtype)
    sections = text.split(f"\n{SEPARATOR}\n")
    assert sections[0].lstrip().startswith(("#", "std_msgs/Header"))
    names = [s.split("\n", 1)[0] for s in sections[1:]]
    assert all(n.startswith("MSG: ") and "/msg/" not in n for n in names)
    assert len(names) == len(set(names)), "each dependency appears once"
    assert "MSG: std_msgs/Header" in names and "MSG: builtin_interfaces/Time" in names


def test_byte_exact_against_a_real_rosbag2_schema(rosbag2_testdata, fake_prefix):
    # cdr_test was recorded by rosbag2 itself: install its .msg texts in a prefix of our
    # own (split out of the stored schema) and regenerate the schema from the files.
    mcap_reader = pytest.importorskip("mcap.reader")
    with open(rosbag2_testdata / "cdr_test" / "cdr_test_0.mcap", "rb") as stream:
        schemas = mcap_reader.make_reader(stream).get_summary().schemas.values()
    stored = {s.name: s.data.decode() for s in schemas}
    arrays = stored["test_msgs/msg/Arrays"]
    sections = arrays.split(f"\n{SEPARATOR}\n")
    _write_msg(fake_prefix, "test_msgs/Arrays", sections[0])
    for section in sections[1:]:
        header, text = section.split("\n", 1)
        _write_msg(fake_prefix, header.removeprefix("MSG: "), text)
    for name, data in stored.items():
        assert message_definition(name) == data


def test_dependency_parsing(fake_prefix):
    thing = (
        "# Thing with every kind of field; words like pkg/Type in comments are ignored\n"
        "int32 FOO=1\n"
        "string BAR=\"x # not a comment\"\n"
        "\n"
        "Header header            # bare Header means std_msgs/Header\n"
        "string<=10 bounded_name\n"
        "Part[] parts\n"
        "Part[3] fixed_parts\n"
        "Part[<=4] bounded_parts\n"
        "geometry_msgs/Vector3 v\n"
        "wstring wide\n"
        "uint8[] data\n"
    )
    part = "float64 x  # metres\nint8 DEFAULT_VALUE=-1\n"
    vector = "float64 x\nfloat64 y\nfloat64 z\n"
    header = "builtin_interfaces/Time stamp\nstring frame_id\n"
    time_msg = "int32 sec\nuint32 nanosec\n"
    _write_msg(fake_prefix, "my_msgs/Thing", thing)
    _write_msg(fake_prefix, "my_msgs/Part", part)
    _write_msg(fake_prefix, "geometry_msgs/Vector3", vector)
    _write_msg(fake_prefix, "std_msgs/Header", header)
    _write_msg(fake_prefix, "builtin_interfaces/Time", time_msg)
    sep = f"\n{SEPARATOR}\n"
    expected = (
        thing
        + sep + "MSG: geometry_msgs/Vector3\n" + vector
        + sep + "MSG: my_msgs/Part\n" + part
        + sep + "MSG: std_msgs/Header\n" + header
        + sep + "MSG: builtin_interfaces/Time\n" + time_msg
    )
    assert message_definition("my_msgs/msg/Thing") == expected
    assert has_header("my_msgs/msg/Thing")  # constants come first but take no bytes
    types = rosbags_typesys.get_types_from_msg(expected, "my_msgs/msg/Thing")
    assert set(types) >= {"my_msgs/msg/Thing", "my_msgs/msg/Part", "std_msgs/msg/Header"}


def test_has_header():
    for msgtype in SENSOR_TYPES:
        assert has_header(msgtype)
    assert not has_header("std_msgs/msg/String")
    assert not has_header("std_msgs/msg/Header")  # its first field is a Time, not a Header
    assert definition_has_header("# c\nint8 A=1\n\nHeader h\n")
    assert not definition_has_header("Header[] headers\n")
    assert not definition_has_header(f"# only constants\nint8 A=1\n{SEPARATOR}\nMSG: std_msgs/Header\nHeader x\n")


def test_fallback_or_files_give_a_usable_definition(kilted):
    # nav_msgs is not installed with the pip ROS wheels here: then the rosbags store
    # answers; on a full ROS install the .msg files do. Either way rosbags can use it.
    text = message_definition("nav_msgs/msg/Odometry")
    types = rosbags_typesys.get_types_from_msg(text, "nav_msgs/msg/Odometry")
    store = rosbags_typesys.get_typestore(rosbags_typesys.Stores.EMPTY)
    store.register(types)
    assert store.hash_rihs01("nav_msgs/msg/Odometry") == kilted.hash_rihs01("nav_msgs/msg/Odometry")


def test_unknown_and_malformed_types_raise():
    with pytest.raises(BagError, match="no_such_msgs/msg/Thing"):
        message_definition("no_such_msgs/msg/Thing")
    with pytest.raises(BagError, match="not of the form"):
        message_definition("Image")
    assert type_hash("no_such_msgs/msg/Thing") == ""
