"""Bad data inside messages: what makes a recorded message unusable for a dataset.

The recorder keeps every byte it receives and never looks inside; sync is where a
message's content is first read, so it is where content is judged. A message is
unusable when

* an image (camera, depth, tactile) cannot be decoded (its data is not
  ``step * height`` bytes, an unknown encoding, truncated), or its encoding or size
  is not the one the rig declares for the stream;
* a numeric message holds a non-finite value: NaN or inf in a joint position, inf
  anywhere, or NaN in only some joints of a velocity or effort (the decoder reports
  an array a message left empty as all-NaN, which is not an error); any NaN or inf
  in an IMU, wrench or tactile message.

Unusable messages are left out of the timeline like stale ones; the frames that
would have used them are marked and, for a required stream, refuse the episode
(``kind="content"``) unless sync is told to keep it. See
:func:`collector.sync.limits.check_content`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from collector.errors import CollectorError
from collector.rig import Stream

IMAGE_HEADER_ROLES = ("camera", "depth", "tactile")
# Encodings that name the same pixel layout as the rig's.
SAME_ENCODING = {"mono8": ("mono8", "8UC1"), "16UC1": ("16UC1", "mono16")}
JOINT_VALUE_KEYS = ("velocity", "effort")  # optional arrays: all-NaN = left empty
COMPONENTS = {"orientation": ("x", "y", "z", "w"), "angular_velocity": ("x", "y", "z"),
              "linear_acceleration": ("x", "y", "z"), "force": ("x", "y", "z"), "torque": ("x", "y", "z")}


def image_problem(data, stream: Stream, index: int) -> str | None:
    """What is wrong with image message ``index`` of ``stream`` (``data``: its CDR bytes), or None."""
    from collector.cdr import decode_image

    try:
        image = decode_image(data, index=index)
    except CollectorError as err:
        reason = str(err)
        prefix = f"message {index}: "
        return reason.split(prefix, 1)[1] if prefix in reason else reason
    declared = stream.encoding
    if declared and image.encoding not in SAME_ENCODING.get(declared, (declared,)):
        return f"encoding {image.encoding!r}, the rig declares {declared!r}"
    if stream.width and stream.height and (image.width, image.height) != (stream.width, stream.height):
        return f"{image.width}x{image.height} px, the rig declares {stream.width}x{stream.height}"
    return None


def _describe(key: str, values: np.ndarray, row: int, names: tuple[str, ...]) -> str:
    sample = values[row].reshape(-1)
    bad = np.flatnonzero(~np.isfinite(sample))
    what = "NaN" if np.isnan(sample[bad[0]]) else "inf"
    column = int(bad[0])
    where = names[column] if column < len(names) else f"element {column}"  # tactile: row-major taxel
    more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
    return f"{key} has {what} at {where}{more}"


def value_problems(role: str, values: Mapping[str, np.ndarray], names: tuple[str, ...] = ()) -> dict[int, str]:
    """Per message position, what is non-finite in the decoded ``values`` of a stream of ``role``."""
    problems: dict[int, str] = {}
    for key, array in values.items():
        array = np.asarray(array)
        if array.ndim == 0 or len(array) == 0 or not np.issubdtype(array.dtype, np.floating):
            continue
        flat = array.reshape(len(array), -1)
        finite = np.isfinite(flat)
        if role in ("joint_state", "gripper", "hand", "action") and key in JOINT_VALUE_KEYS:
            # all-NaN: the message left this optional array empty
            absent = np.isnan(flat).all(axis=1)
            rows = np.flatnonzero(~finite.all(axis=1) & ~absent)
        else:
            rows = np.flatnonzero(~finite.all(axis=1))
        for row in rows.tolist():
            if row not in problems:
                problems[row] = _describe(key, flat, row, COMPONENTS.get(key, names if key != "pressure" else ()))
    return problems


def bad_mask(count: int, problems: Mapping[int, str]) -> np.ndarray:
    """(count,) bool: True at the message positions in ``problems``."""
    mask = np.zeros(count, dtype=bool)
    if problems:
        mask[np.fromiter(problems, dtype=np.int64, count=len(problems))] = True
    return mask
