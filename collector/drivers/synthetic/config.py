"""Settings of the synthetic robot node."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from collector.drivers.synthetic.base import NS_PER_MS, SyntheticError, _number
from collector.drivers.synthetic.faults import StreamFaults, parse_faults


@dataclass(frozen=True, kw_only=True)
class SyntheticConfig:
    """Settings of the synthetic robot node (its ROS parameters).

    Attributes:
        rig: rig name (``baoan_humanoid``) or path to a rig YAML.
        faults: fault specification as YAML text or a path to a YAML file ("" = none).
        seed: seeds content, phases, drops and jitter (int >= 0).
        camera_rate_scale: factor on the rate of camera and depth streams (> 0).
        duration_s: stop after this many seconds (s, >= 0; 0 = run until stopped).
        truth_out: path of the ground-truth JSON lines file ("" = none).
        action_lead_ms: how far the teleop command leads the measured joints (ms, >= 0).

    Raises:
        SyntheticError: on construction, naming the field and the bad value.
    """

    rig: str = "baoan_humanoid"
    faults: str = ""
    seed: int = 0
    camera_rate_scale: float = 1.0
    duration_s: float = 0.0
    truth_out: str = ""
    action_lead_ms: float = 50.0

    def __post_init__(self) -> None:
        for name in ("rig", "faults", "truth_out"):
            if not isinstance(getattr(self, name), str):
                raise SyntheticError(f"{name}: expected a string, got {getattr(self, name)!r}")
        if not self.rig:
            raise SyntheticError("rig: expected a rig name or path, got ''")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SyntheticError(f"seed: expected an integer >= 0, got {self.seed!r}")
        if not _number(self.camera_rate_scale, "camera_rate_scale") > 0:
            raise SyntheticError(f"camera_rate_scale: expected a positive number, got {self.camera_rate_scale!r}")
        for name in ("duration_s", "action_lead_ms"):
            if _number(getattr(self, name), name) < 0:
                raise SyntheticError(f"{name}: expected a number >= 0, got {getattr(self, name)!r}")

    @property
    def rate_scale(self) -> dict[str, float]:
        """Per-role rate factors for :class:`Schedule`."""
        return {"camera": self.camera_rate_scale, "depth": self.camera_rate_scale}

    @property
    def lead_ns(self) -> int:
        return round(self.action_lead_ms * NS_PER_MS)

    def load_faults(self, stream_names: Iterable[str]) -> dict[str, StreamFaults]:
        """Parse :attr:`faults` (text, or a file when it names one) for these streams.

        Raises:
            SyntheticError: when a named ``.yaml``/``.yml`` file is missing or the
                specification is invalid (see :func:`parse_faults`).
        """
        text = self.faults
        candidate = Path(text) if text and "\n" not in text and len(text) < 4096 else None
        try:
            is_file = candidate is not None and candidate.is_file()
        except OSError:  # e.g. YAML text too long for a file name
            is_file = False
        if is_file:
            try:
                text = candidate.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as err:
                raise SyntheticError(f"faults: cannot read {candidate} ({err})") from err
        elif candidate is not None and candidate.suffix in (".yaml", ".yml", ".json"):
            raise SyntheticError(f"faults: file {text!r} not found")
        return parse_faults(text, stream_names)
