"""collector.cdr against the real serialisers: rclpy (Fast-CDR) for bytes, rosbags for values.

Fast-CDR leaves alignment padding uninitialised (whatever was in memory), so
"byte-identical" is checked on every byte that is not padding: the encoders are
run twice, once with zero padding and once with 0xAA padding, and the bytes that
change are the padding. Everything else must equal rclpy's bytes, and the
lengths must be equal.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from collector import cdr
from collector.cdr import (
    CdrError,
    decode,
    decode_image,
    decode_imus,
    decode_joint_states,
    decode_wrenches,
    encode_image,
    encode_imu,
    encode_joint_state,
    encode_wrench,
    header_stamps,
)
from collector.cdr import encode as cdr_encode
from collector.errors import CollectorError

STAMP_NS = 1_750_000_123 * 1_000_000_000 + 456_789_012
JOINTS_19 = tuple(f"joint_{i:02d}_{'x' * (i % 5)}" for i in range(19))


@pytest.fixture(scope="module")
def ros():
    """rclpy serialisation and the message classes; skips without rclpy."""
    serialization = pytest.importorskip("rclpy.serialization")
    sensor_msgs = pytest.importorskip("sensor_msgs.msg")
    geometry_msgs = pytest.importorskip("geometry_msgs.msg")

    class Ros:
        serialize = staticmethod(lambda msg: bytes(serialization.serialize_message(msg)))
        deserialize = staticmethod(serialization.deserialize_message)
        Image = sensor_msgs.Image
        JointState = sensor_msgs.JointState
        Imu = sensor_msgs.Imu
        WrenchStamped = geometry_msgs.WrenchStamped

    return Ros


@pytest.fixture(scope="module")
def typestore():
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


def with_padding_mask(encode, **kwargs) -> tuple[bytes, np.ndarray]:
    """The encoder's bytes and a mask of its padding bytes (those that follow the pad byte)."""
    plain = encode(**kwargs)
    saved = cdr_encode._PAD_BYTE
    cdr_encode._PAD_BYTE = b"\xaa"
    try:
        marked = encode(**kwargs)
    finally:
        cdr_encode._PAD_BYTE = saved
    assert len(plain) == len(marked)
    return plain, np.frombuffer(plain, np.uint8) != np.frombuffer(marked, np.uint8)


def assert_same_bytes(ours: bytes, padding: np.ndarray, theirs: bytes) -> None:
    assert len(ours) == len(theirs)
    a, b = np.frombuffer(ours, np.uint8), np.frombuffer(theirs, np.uint8)
    differ = np.flatnonzero((a != b) & ~padding)
    assert differ.size == 0, f"bytes differ at {differ[:10]}: ours {ours.hex(' ')}\ntheirs {theirs.hex(' ')}"
    assert not a[padding].any(), "padding must be zeros"


def set_header(msg, stamp_ns: int, frame_id: str) -> None:
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    msg.header.frame_id = frame_id


# ------------------------------------------------------------------ JointState

JOINT_CASES = {
    "19 joints": dict(names=JOINTS_19, arrays=("full", "full", "full")),
    "empty effort": dict(names=JOINTS_19, arrays=("full", "full", "empty")),
    "empty velocity": dict(names=("a", "bb", "ccc"), arrays=("full", "empty", "full")),
    "only position": dict(names=("a",), arrays=("full", "empty", "empty")),
    "all empty": dict(names=("left_gripper",), arrays=("empty", "empty", "empty")),
    "no joints": dict(names=(), arrays=("empty", "empty", "empty")),
    "odd names": dict(names=("a", "bc", "def", "ghij", "klmno", "pqrstu", "vwxyzab"), arrays=("full",) * 3),
}
FRAME_IDS = ("", "b", "ba", "bas", "base", "base_link", "base_linkk_", "torso_imu_link")


def joint_values(names, arrays, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=len(names)) if kind == "full" else np.empty(0) for kind in arrays]


@pytest.mark.parametrize("frame_id", FRAME_IDS)
@pytest.mark.parametrize("case", JOINT_CASES)
def test_joint_state_bytes_match_rclpy(ros, case, frame_id):
    names, arrays = JOINT_CASES[case]["names"], JOINT_CASES[case]["arrays"]
    position, velocity, effort = joint_values(names, arrays)
    ours, padding = with_padding_mask(encode_joint_state, stamp_ns=STAMP_NS, frame_id=frame_id, names=names,
                                      position=position, velocity=velocity, effort=effort)
    msg = ros.JointState(name=list(names), position=position.tolist(), velocity=velocity.tolist(),
                         effort=effort.tolist())
    set_header(msg, STAMP_NS, frame_id)
    assert_same_bytes(ours, padding, ros.serialize(msg))
    assert ros.deserialize(ours, ros.JointState) == msg


def reference_joint_state(data: bytes, typestore, ros) -> dict:
    """Values as rosbags reads them; rclpy where rosbags cannot (Fast-CDR's empty float64[])."""
    from rosbags.serde import SerdeError

    try:
        msg = typestore.deserialize_cdr(data, "sensor_msgs/msg/JointState")
        stamp = msg.header.stamp
        return dict(names=tuple(msg.name), stamp_ns=stamp.sec * 1_000_000_000 + stamp.nanosec,
                    position=np.asarray(msg.position), velocity=np.asarray(msg.velocity),
                    effort=np.asarray(msg.effort))
    except SerdeError:
        if ros is None:
            pytest.skip("rosbags cannot read this message and rclpy is missing")
        msg = ros.deserialize(data, ros.JointState)
        stamp = msg.header.stamp
        return dict(names=tuple(msg.name), stamp_ns=stamp.sec * 1_000_000_000 + stamp.nanosec,
                    position=np.asarray(msg.position), velocity=np.asarray(msg.velocity),
                    effort=np.asarray(msg.effort))


@pytest.fixture(scope="module")
def ros_or_none():
    try:
        import rclpy.serialization  # noqa: F401
        import sensor_msgs.msg  # noqa: F401
    except ImportError:
        return None
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import JointState

    class Ros:
        deserialize = staticmethod(deserialize_message)

    Ros.JointState = JointState
    return Ros


@pytest.mark.parametrize("case", JOINT_CASES)
def test_decode_joint_states_agrees_with_reference(case, typestore, ros_or_none):
    names, arrays = JOINT_CASES[case]["names"], JOINT_CASES[case]["arrays"]
    messages = []
    for i in range(7):
        position, velocity, effort = joint_values(names, arrays, seed=i)
        messages.append(encode_joint_state(stamp_ns=STAMP_NS + i * 2_000_000, frame_id="base_link", names=names,
                                           position=position, velocity=velocity, effort=effort))
    decoded = decode_joint_states(messages)
    assert decoded.names == names
    for row, data in enumerate(messages):
        ref = reference_joint_state(data, typestore, ros_or_none)
        assert decoded.stamp_ns[row] == ref["stamp_ns"]
        for field in ("position", "velocity", "effort"):
            got = getattr(decoded, field)[row]
            assert got.shape == (len(names),)
            if ref[field].size:
                np.testing.assert_array_equal(got, ref[field])
            else:
                assert np.isnan(got).all()


def test_joint_states_vectorised_equals_per_message():
    rng = np.random.default_rng(3)
    messages = [
        encode_joint_state(stamp_ns=STAMP_NS + i * 2_000_000, frame_id=("base_link", "base_lynk")[i % 2],
                           names=JOINTS_19, position=rng.normal(size=19), velocity=rng.normal(size=19),
                           effort=rng.normal(size=19))
        for i in range(200)
    ]
    stacked = decode._joint_states_stacked(messages)
    assert stacked is not None, "same length and layout must take the vectorised path"
    each = decode._joint_states_each(messages)
    assert stacked.names == each.names == JOINTS_19
    for field in ("stamp_ns", "position", "velocity", "effort"):
        np.testing.assert_array_equal(getattr(stacked, field), getattr(each, field))
    assert stacked.stamp_ns.dtype == np.int64 and stacked.position.dtype == np.float64
    assert stacked.position.shape == (200, 19)


def test_decode_joint_states_of_rclpy_bytes(ros):
    """Real Fast-CDR bytes: padding holds leftover memory, which must not matter."""
    rng = np.random.default_rng(4)
    messages, expected = [], []
    for i in range(300):
        position, velocity = rng.normal(size=19), rng.normal(size=19)
        msg = ros.JointState(name=list(JOINTS_19), position=position.tolist(), velocity=velocity.tolist())
        set_header(msg, STAMP_NS + i * 2_000_000, "base_link")
        messages.append(ros.serialize(msg))
        expected.append((position, velocity))
    assert decode._joint_states_stacked(messages) is not None
    decoded = decode_joint_states(messages)
    np.testing.assert_array_equal(decoded.position, [p for p, _ in expected])
    np.testing.assert_array_equal(decoded.velocity, [v for _, v in expected])
    assert np.isnan(decoded.effort).all()
    np.testing.assert_array_equal(decoded.stamp_ns, STAMP_NS + np.arange(300) * 2_000_000)


def test_joint_states_mixed_layouts_fall_back():
    messages = [
        encode_joint_state(stamp_ns=1, frame_id="a", names=("j1", "j2"), position=[1, 2], velocity=[3, 4],
                           effort=[5, 6]),
        encode_joint_state(stamp_ns=2, frame_id="abcdefghij", names=("j1", "j2"), position=[7, 8], velocity=[],
                           effort=[9, 10]),
    ]
    assert decode._joint_states_stacked(messages) is None
    decoded = decode_joint_states(messages)
    np.testing.assert_array_equal(decoded.stamp_ns, [1, 2])
    np.testing.assert_array_equal(decoded.position, [[1, 2], [7, 8]])
    np.testing.assert_array_equal(decoded.velocity, [[3, 4], [np.nan, np.nan]])
    np.testing.assert_array_equal(decoded.effort, [[5, 6], [9, 10]])


@pytest.mark.parametrize("other", [("j1", "j3"), ("j1",), ("j1", "j2", "j3")])
def test_joint_states_names_must_match(other):
    messages = [encode_joint_state(stamp_ns=i, frame_id="base", names=("j1", "j2"), position=[0, 0], velocity=[],
                                   effort=[]) for i in range(3)]
    messages.append(encode_joint_state(stamp_ns=9, frame_id="base", names=other, position=[0] * len(other),
                                       velocity=[], effort=[]))
    with pytest.raises(CdrError, match=r"message 3: joint names"):
        decode_joint_states(messages)


def test_decode_joint_states_empty_input():
    decoded = decode_joint_states([])
    assert decoded.names == () and decoded.position.shape == (0, 0) and decoded.stamp_ns.shape == (0,)


def test_encode_joint_state_rejects_bad_values():
    with pytest.raises(CdrError, match="effort has 1 values for 2 joint names"):
        encode_joint_state(stamp_ns=0, frame_id="", names=("a", "b"), position=[], velocity=[], effort=[1.0])
    with pytest.raises(CdrError, match=r"names\[1\]"):
        encode_joint_state(stamp_ns=0, frame_id="", names=("a", 7), position=[], velocity=[], effort=[])
    with pytest.raises(CdrError, match="stamp_ns=1.5"):
        encode_joint_state(stamp_ns=1.5, frame_id="", names=(), position=[], velocity=[], effort=[])


# ------------------------------------------------------------------ Image

IMAGE_CASES = {  # encoding: (dtype, channels)
    "rgb8": ("u1", 3), "bgr8": ("u1", 3), "mono8": ("u1", 1), "16UC1": ("<u2", 1), "32FC1": ("<f4", 1),
}


def image_pixels(encoding: str, height: int = 3, width: int = 5, seed: int = 0) -> np.ndarray:
    dtype, channels = IMAGE_CASES[encoding]
    shape = (height, width) if channels == 1 else (height, width, channels)
    rng = np.random.default_rng(seed)
    if dtype == "<f4":
        return rng.normal(size=shape).astype(dtype)
    return rng.integers(0, np.iinfo(np.dtype(dtype)).max, size=shape).astype(dtype)


@pytest.mark.parametrize("frame_id", ("c", "cam", "camera_optical_frame"))
@pytest.mark.parametrize("encoding", IMAGE_CASES)
def test_image_bytes_match_rclpy(ros, encoding, frame_id):
    pixels = image_pixels(encoding)
    height, width = pixels.shape[:2]
    ours, padding = with_padding_mask(encode_image, stamp_ns=STAMP_NS, frame_id=frame_id, height=height,
                                      width=width, encoding=encoding, data=pixels)
    msg = ros.Image(height=height, width=width, encoding=encoding, is_bigendian=0, step=pixels.nbytes // height,
                    data=pixels.tobytes())
    set_header(msg, STAMP_NS, frame_id)
    assert_same_bytes(ours, padding, ros.serialize(msg))
    assert encode_image(stamp_ns=STAMP_NS, frame_id=frame_id, height=height, width=width, encoding=encoding,
                        data=pixels.tobytes()) == ours


@pytest.mark.parametrize("encoding", IMAGE_CASES)
def test_decode_image_agrees_with_rosbags(typestore, encoding):
    pixels = image_pixels(encoding, height=4, width=7, seed=2)
    data = encode_image(stamp_ns=STAMP_NS, frame_id="head_camera", height=4, width=7, encoding=encoding,
                        data=pixels)
    ref = typestore.deserialize_cdr(data, "sensor_msgs/msg/Image")
    image = decode_image(data)
    assert image.stamp_ns == ref.header.stamp.sec * 1_000_000_000 + ref.header.stamp.nanosec == STAMP_NS
    assert (image.frame_id, image.height, image.width, image.encoding, image.step) == (
        ref.header.frame_id, ref.height, ref.width, ref.encoding, ref.step)
    assert image.data.shape == pixels.shape and image.data.dtype == pixels.dtype
    np.testing.assert_array_equal(image.data, pixels)
    assert image.data.tobytes() == ref.data.tobytes()
    assert np.shares_memory(image.data, np.frombuffer(data, np.uint8)), "data must be a view, not a copy"


def test_decode_image_view_writes_through_and_padded_rows():
    pixels = image_pixels("rgb8", height=2, width=3)
    padded = np.zeros((2, 12), np.uint8)
    padded[:, :9] = pixels.reshape(2, 9)
    buffer = bytearray(encode_image(stamp_ns=5, frame_id="x", height=2, width=3, encoding="rgb8", data=padded,
                                    step=12))
    image = decode_image(buffer)
    assert image.step == 12
    np.testing.assert_array_equal(image.data, pixels)
    image.data[0, 0, 0] = 42
    assert decode_image(buffer).data[0, 0, 0] == 42


def test_decode_image_big_endian_and_empty():
    pixels = np.arange(6, dtype=">u2").reshape(2, 3)
    data = encode_image(stamp_ns=1, frame_id="d", height=2, width=3, encoding="16UC1", data=pixels, is_bigendian=1)
    np.testing.assert_array_equal(decode_image(data).data, pixels)
    empty = decode_image(encode_image(stamp_ns=1, frame_id="d", height=0, width=0, encoding="mono8", data=b""))
    assert empty.data.shape == (0, 0)


def test_image_inconsistent_sizes():
    with pytest.raises(CdrError, match="image data has 5 bytes, expected step"):
        encode_image(stamp_ns=0, frame_id="c", height=2, width=2, encoding="mono8", data=b"12345", step=2)
    good = encode_image(stamp_ns=0, frame_id="c", height=2, width=2, encoding="mono8", data=b"1234")
    # patch step (the uint32 before the data length) to 3: 3 * 2 != 4
    step_at = len(good) - 4 - 4 - 4
    assert struct.unpack_from("<I", good, step_at) == (2,)
    with pytest.raises(CdrError, match=r"Image message 0: data has 4 bytes, expected step \* height = 3"):
        decode_image(good[:step_at] + struct.pack("<I", 3) + good[step_at + 4 :])
    short_step = encode_image(stamp_ns=0, frame_id="c", height=2, width=2, encoding="rgb8", data=b"123456", step=3)
    with pytest.raises(CdrError, match="step 3 is shorter than a row"):
        decode_image(short_step)
    odd = encode_image(stamp_ns=0, frame_id="c", height=1, width=1, encoding="yuv422", data=b"12")
    with pytest.raises(CdrError, match="encoding 'yuv422' is not one of"):
        decode_image(odd, index=7)


# ------------------------------------------------------------------ Imu and WrenchStamped

IMU_VALUES = dict(orientation=(0.1, -0.2, 0.3, 0.9), angular_velocity=(0.01, 0.02, -0.03),
                  linear_acceleration=(0.5, -0.4, 9.81))


@pytest.mark.parametrize("frame_id", FRAME_IDS)
@pytest.mark.parametrize("covariance", (False, True))
def test_imu_bytes_match_rclpy(ros, frame_id, covariance):
    extra = {}
    if covariance:
        extra = {f"{name}_covariance": np.diag([k + 1.0, k + 2.0, k + 3.0]).reshape(-1)
                 for k, name in enumerate(("orientation", "angular_velocity", "linear_acceleration"))}
    ours, padding = with_padding_mask(encode_imu, stamp_ns=STAMP_NS, frame_id=frame_id, **IMU_VALUES, **extra)
    msg = ros.Imu()
    set_header(msg, STAMP_NS, frame_id)
    for name in ("orientation", "angular_velocity", "linear_acceleration"):
        for axis, value in zip("xyzw", IMU_VALUES[name]):
            setattr(getattr(msg, name), axis, value)
        if covariance:
            setattr(msg, f"{name}_covariance", extra[f"{name}_covariance"])
    assert_same_bytes(ours, padding, ros.serialize(msg))


@pytest.mark.parametrize("frame_id", FRAME_IDS)
def test_wrench_bytes_match_rclpy(ros, frame_id):
    force, torque = (1.5, -2.5, 3.5), (0.1, 0.2, -0.3)
    ours, padding = with_padding_mask(encode_wrench, stamp_ns=STAMP_NS, frame_id=frame_id, force=force,
                                      torque=torque)
    msg = ros.WrenchStamped()
    set_header(msg, STAMP_NS, frame_id)
    msg.wrench.force.x, msg.wrench.force.y, msg.wrench.force.z = force
    msg.wrench.torque.x, msg.wrench.torque.y, msg.wrench.torque.z = torque
    assert_same_bytes(ours, padding, ros.serialize(msg))


def make_imus(count: int, frame_ids=("torso_imu_link",)) -> tuple[list[bytes], np.ndarray]:
    rng = np.random.default_rng(5)
    values = rng.normal(size=(count, 10))
    messages = [
        encode_imu(stamp_ns=STAMP_NS + i * 5_000_000, frame_id=frame_ids[i % len(frame_ids)],
                   orientation=values[i, :4], angular_velocity=values[i, 4:7], linear_acceleration=values[i, 7:])
        for i in range(count)
    ]
    return messages, values


def make_wrenches(count: int, frame_ids=("left_ft_sensor_link",)) -> tuple[list[bytes], np.ndarray]:
    rng = np.random.default_rng(6)
    values = rng.normal(size=(count, 6))
    messages = [
        encode_wrench(stamp_ns=STAMP_NS + i * 2_000_000, frame_id=frame_ids[i % len(frame_ids)],
                      force=values[i, :3], torque=values[i, 3:])
        for i in range(count)
    ]
    return messages, values


@pytest.mark.parametrize("frame_ids", [("torso_imu_link",), ("imu", "imu_12"), ("a", "abcdefghijklmnop")])
def test_decode_imus_agrees_with_rosbags(typestore, frame_ids):
    messages, values = make_imus(50, frame_ids)
    decoded = decode_imus(messages)
    stacked = decode._fixed_stacked(messages, cdr.IMU, decode._IMU_DOUBLES)
    assert (stacked is not None) == (len({len(m) for m in messages}) == 1)
    each = decode._fixed_each(messages, cdr.IMU, decode._IMU_DOUBLES)
    np.testing.assert_array_equal(decoded.stamp_ns, each[0])
    np.testing.assert_array_equal(decoded.orientation, each[1][:, :4])
    for row, data in enumerate(messages):
        ref = typestore.deserialize_cdr(data, "sensor_msgs/msg/Imu")
        assert decoded.stamp_ns[row] == ref.header.stamp.sec * 1_000_000_000 + ref.header.stamp.nanosec
        o, w, a = ref.orientation, ref.angular_velocity, ref.linear_acceleration
        np.testing.assert_array_equal(decoded.orientation[row], [o.x, o.y, o.z, o.w])
        np.testing.assert_array_equal(decoded.angular_velocity[row], [w.x, w.y, w.z])
        np.testing.assert_array_equal(decoded.linear_acceleration[row], [a.x, a.y, a.z])
    np.testing.assert_array_equal(decoded.orientation, values[:, :4])


@pytest.mark.parametrize("frame_ids", [("left_ft_sensor_link",), ("ft", "ft1"), ("f", "ft_sensor_long_name")])
def test_decode_wrenches_agrees_with_rosbags(typestore, frame_ids):
    messages, values = make_wrenches(50, frame_ids)
    decoded = decode_wrenches(messages)
    stacked = decode._fixed_stacked(messages, cdr.WRENCH, decode._WRENCH_DOUBLES)
    each = decode._fixed_each(messages, cdr.WRENCH, decode._WRENCH_DOUBLES)
    assert (stacked is not None) == (len({len(m) for m in messages}) == 1)
    np.testing.assert_array_equal(np.hstack([decoded.force, decoded.torque]), each[1])
    for row, data in enumerate(messages):
        ref = typestore.deserialize_cdr(data, "geometry_msgs/msg/WrenchStamped")
        f, t = ref.wrench.force, ref.wrench.torque
        np.testing.assert_array_equal(decoded.force[row], [f.x, f.y, f.z])
        np.testing.assert_array_equal(decoded.torque[row], [t.x, t.y, t.z])
        assert decoded.stamp_ns[row] == ref.header.stamp.sec * 1_000_000_000 + ref.header.stamp.nanosec
    np.testing.assert_array_equal(decoded.force, values[:, :3])


def test_header_stamps_every_type():
    stamps = [STAMP_NS, 0, 5, -1_500_000_000, STAMP_NS + 999_999_999]
    messages = [
        encode_image(stamp_ns=stamps[0], frame_id="c", height=1, width=1, encoding="mono8", data=b"\x01"),
        encode_joint_state(stamp_ns=stamps[1], frame_id="b", names=("a",), position=[1], velocity=[], effort=[]),
        encode_imu(stamp_ns=stamps[2], frame_id="i", **IMU_VALUES),
        encode_wrench(stamp_ns=stamps[3], frame_id="w", force=(0, 0, 0), torque=(0, 0, 0)),
        memoryview(encode_wrench(stamp_ns=stamps[4], frame_id="w", force=(0, 0, 0), torque=(0, 0, 0))),
    ]
    result = header_stamps(messages)
    assert result.dtype == np.int64
    np.testing.assert_array_equal(result, stamps)
    assert header_stamps([]).shape == (0,)


# ------------------------------------------------------------------ malformed bytes


def sample_messages() -> dict[str, bytes]:
    return {
        "image": encode_image(stamp_ns=STAMP_NS, frame_id="cam", height=2, width=2, encoding="rgb8",
                              data=bytes(range(12))),
        "joints": encode_joint_state(stamp_ns=STAMP_NS, frame_id="base", names=("a", "bc"), position=[1, 2],
                                     velocity=[3, 4], effort=[5, 6]),
        "imu": encode_imu(stamp_ns=STAMP_NS, frame_id="imu", **IMU_VALUES),
        "wrench": encode_wrench(stamp_ns=STAMP_NS, frame_id="ft", force=(1, 2, 3), torque=(4, 5, 6)),
    }


DECODERS = {
    "image": lambda data: decode_image(data),
    "joints": lambda data: decode_joint_states([data]),
    "imu": lambda data: decode_imus([data]),
    "wrench": lambda data: decode_wrenches([data]),
}


@pytest.mark.parametrize("kind", DECODERS)
def test_truncated_messages_raise_cdr_error(kind):
    data = sample_messages()[kind]
    DECODERS[kind](data)  # the whole message decodes
    for length in range(len(data)):
        with pytest.raises(CdrError, match="message 0"):
            DECODERS[kind](data[:length])


@pytest.mark.parametrize("kind", DECODERS)
def test_wrong_encapsulation_raises(kind):
    data = bytearray(sample_messages()[kind])
    data[1] = 0x00  # big-endian CDR: not supported
    with pytest.raises(CdrError, match="not plain little-endian CDR"):
        DECODERS[kind](bytes(data))
    with pytest.raises(CdrError, match="message 0: encapsulation 00 00"):
        header_stamps([bytes(data)])


def test_malformed_fields_raise_cdr_error():
    joints = bytearray(sample_messages()["joints"])
    no_nul = bytearray(joints)
    no_nul[16 + 4] = ord("x")  # the NUL of frame_id "base" (its length is at 12, after the stamp)
    with pytest.raises(CdrError, match="frame_id: string of 5 bytes does not end in NUL"):
        decode_joint_states([bytes(no_nul)])
    huge = bytearray(joints)
    struct.pack_into("<I", huge, 24, 1 << 30)  # name count
    with pytest.raises(CdrError, match="name length 1073741824 exceeds"):
        decode_joint_states([bytes(huge)])
    zero = bytearray(joints)
    struct.pack_into("<I", zero, 12, 0)  # frame_id length 0 (CDR counts the NUL)
    with pytest.raises(CdrError, match="string length 0"):
        decode_joint_states([bytes(zero)])
    # a good stream with one broken message: the error names its index
    messages, _ = make_wrenches(10)
    messages[6] = messages[6][:40]
    with pytest.raises(CdrError, match="WrenchStamped message 6: truncated"):
        decode_wrenches(messages)
    with pytest.raises(CdrError, match="message 2: 3 bytes"):
        header_stamps([messages[0], messages[1], b"\x00\x01\x00"])
    with pytest.raises(CdrError, match="one message's bytes"):
        decode_wrenches(messages[0])
    assert issubclass(CdrError, CollectorError)


def test_cdr_imports_no_ros():
    import subprocess
    import sys

    code = "import sys, collector.cdr; print([m for m in sys.modules if m.startswith(('rclpy', 'rosbags'))])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
