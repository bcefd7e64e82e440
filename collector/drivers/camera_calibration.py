"""Camera calibration: a ROS ``camera_info`` YAML file as ``sensor_msgs/CameraInfo`` fields."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from collector.drivers.camera import CameraError


@dataclass(frozen=True, kw_only=True)
class Calibration:
    """A camera's intrinsics as ``sensor_msgs/CameraInfo`` carries them (row-major tuples).

    ``k`` is 3x3, ``r`` 3x3, ``p`` 3x4, ``d`` the distortion coefficients; sizes in pixels.
    """

    width: int
    height: int
    camera_name: str
    distortion_model: str
    d: tuple[float, ...]
    k: tuple[float, ...]
    r: tuple[float, ...]
    p: tuple[float, ...]


_MATRICES = {"camera_matrix": ("k", 3, 3), "rectification_matrix": ("r", 3, 3), "projection_matrix": ("p", 3, 4)}


def _matrix(path: Path, doc: dict, key: str, shape: tuple[int, int] | None) -> tuple[float, ...]:
    block = doc.get(key)
    where = f"calibration {path}: {key}"
    if not isinstance(block, dict) or not {"rows", "cols", "data"} <= set(block):
        raise CameraError(f"{where}: expected a mapping with rows, cols and data, got {block!r}")
    rows, cols, data = block["rows"], block["cols"], block["data"]
    if shape is not None and (rows, cols) != shape:
        raise CameraError(f"{where}: expected {shape[0]}x{shape[1]}, got {rows}x{cols}")
    if not isinstance(data, list) or not isinstance(rows, int) or not isinstance(cols, int) or len(data) != rows * cols:
        raise CameraError(f"{where}: expected {rows}x{cols} numbers in data, got {data!r}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in data):
        raise CameraError(f"{where}: expected numbers in data, got {data!r}")
    return tuple(float(v) for v in data)


def load_calibration(path: str | os.PathLike) -> Calibration:
    """Read a ROS ``camera_info`` YAML file (what ``camera_calibration`` writes).

    Keys: ``image_width``, ``image_height``, ``camera_matrix``, ``distortion_model``,
    ``distortion_coefficients``, ``rectification_matrix``, ``projection_matrix``
    (each matrix ``{rows, cols, data}``) and optionally ``camera_name``.

    Raises:
        CameraError: the file is missing or unreadable, or a key is missing or malformed
            (the message names the file and the key).
    """
    import yaml

    path = Path(path).expanduser()
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise CameraError(f"calibration {path}: no such file") from err
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise CameraError(f"calibration {path}: cannot read: {str(err).splitlines()[0]}") from err
    if not isinstance(doc, dict):
        raise CameraError(f"calibration {path}: expected a YAML mapping, got {type(doc).__name__}")
    size = {}
    for key in ("image_width", "image_height"):
        value = doc.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise CameraError(f"calibration {path}: {key}: expected a positive integer, got {value!r}")
        size[key] = value
    model = doc.get("distortion_model")
    if not isinstance(model, str) or not model:
        raise CameraError(f"calibration {path}: distortion_model: expected a name like plumb_bob, got {model!r}")
    name = doc.get("camera_name", "")
    matrices = {field: _matrix(path, doc, key, (rows, cols)) for key, (field, rows, cols) in _MATRICES.items()}
    distortion = _matrix(path, doc, "distortion_coefficients", None)
    return Calibration(width=size["image_width"], height=size["image_height"], camera_name=str(name or ""),
                       distortion_model=model, d=distortion, **matrices)
