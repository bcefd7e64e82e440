"""Smooth periodic signals: seeded generators and sums of whole-cycle sinusoids."""

from __future__ import annotations

import math
import zlib

import numpy as np

from collector.drivers.synthetic.base import NS_PER_S, SyntheticError

PERIOD_NS = 600 * NS_PER_S


def _rng(seed: int, name: str, salt: int = 0) -> np.random.Generator:
    """A generator that depends only on the seed and a name (streams stay independent)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode()), salt])


class Harmonics:
    """``n`` channels, each ``center + sum_k amplitude_k * sin(2 pi cycles_k t / PERIOD + phase_k)``.

    ``cycles`` are whole numbers of cycles per :data:`PERIOD_NS` (600 s), so the
    phase is exact for any epoch time. Arrays are ``(n,)`` and ``(n, K)``.
    """

    def __init__(self, *, center, amplitude, cycles, phase):
        self._center = np.asarray(center, dtype=float)
        self._amplitude = np.asarray(amplitude, dtype=float)
        self._cycles = np.asarray(cycles, dtype=float)
        if self._cycles.shape != self._amplitude.shape or np.any(self._cycles != np.round(self._cycles)):
            raise SyntheticError(f"Harmonics: cycles must be whole numbers shaped like amplitude, got {cycles!r}")
        self._phase = np.asarray(phase, dtype=float)
        omega = self._cycles * (2 * math.pi * NS_PER_S / PERIOD_NS)  # rad/s
        self._amp_omega = self._amplitude * omega
        self._amp_omega2 = self._amplitude * omega * omega

    @property
    def bound(self) -> np.ndarray:
        """Largest possible ``|value - center|`` per channel."""
        return np.abs(self._amplitude).sum(axis=1)

    def at(self, time_ns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Value, first and second time derivative (per second) at ``time_ns``."""
        angle = self._cycles * ((int(time_ns) % PERIOD_NS) * (2 * math.pi / PERIOD_NS)) + self._phase
        sin = np.sin(angle)
        cos = np.cos(angle)
        value = self._center + (self._amplitude * sin).sum(axis=1)
        return value, (self._amp_omega * cos).sum(axis=1), -(self._amp_omega2 * sin).sum(axis=1)


def _harmonics(rng: np.random.Generator, center, amplitude, cycles_low: int, cycles_high: int) -> Harmonics:
    """Two-component harmonics; ``amplitude`` (n, 2); cycles drawn per 600 s in [low, high)."""
    amplitude = np.asarray(amplitude, dtype=float)
    return Harmonics(
        center=center,
        amplitude=amplitude,
        cycles=rng.integers(cycles_low, cycles_high, size=amplitude.shape),
        phase=rng.uniform(0, 2 * math.pi, size=amplitude.shape),
    )
