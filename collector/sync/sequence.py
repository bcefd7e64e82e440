"""Capture numbers of a periodic sensor, recovered from its (noisy) times.

Sensors capture every ``period``; a message's capture number ``seq`` makes its
time ``phase + seq * period`` exact up to noise. Rounding is only trusted when
the residuals are small against the period, so a wrong slot is (nearly) never
chosen: see :data:`MAX_SEQUENCE_SIGMA` and :data:`MAX_AMBIGUOUS_SHARE`.
"""

from __future__ import annotations

import numpy as np

from collector.sync.robust import duplicated, fit_line, robust_sigma

MIN_MESSAGES = 5
# A regular fit is trusted when the rounding residual is this small (fraction of a
# period) and at most this share of messages is ambiguous.
MAX_SEQUENCE_SIGMA = 0.1
MAX_AMBIGUOUS_SHARE = 0.02
AMBIGUOUS_RESIDUAL = 0.4  # of a period: farther than this from its slot = ambiguous


def recover_sequence(times: np.ndarray) -> tuple[np.ndarray, float, float, float, np.ndarray] | None:
    """Recover capture numbers from times (float ns, message order) of a periodic source.

    Returns ``(seq, phase, period, sigma, ambiguous)`` (``times ~ phase + seq *
    period``), or None when the times are too noisy for rounding to be safe.
    """
    n = len(times)
    if n < MIN_MESSAGES:
        return None
    ordered = np.sort(times)
    steps = np.diff(ordered)
    positive = steps[steps > 0]
    if len(positive) < n // 2:
        return None
    period = float(np.median(positive))
    if not period > 0:
        return None
    seq = np.empty(n)
    order = np.argsort(times, kind="stable")
    seq[order] = np.concatenate([[0.0], np.cumsum(np.rint(steps / period))])
    phase = float(ordered[0])
    for _ in range(4):
        phase, period, _keep = fit_line(seq, times)
        if not period > 0:
            return None
        seq = np.rint((times - phase) / period)
    sigma = robust_sigma(times - (phase + seq * period))
    seq, ambiguous = ambiguous_slots(times, phase, period)
    if sigma > MAX_SEQUENCE_SIGMA * period or ambiguous.mean() > MAX_AMBIGUOUS_SHARE:
        return None
    seq -= seq[~ambiguous].min() if (~ambiguous).any() else 0
    phase, period, _ = fit_line(seq[~ambiguous], times[~ambiguous])
    return seq, phase, period, sigma, ambiguous


def ambiguous_slots(times: np.ndarray, phase: float, period: float) -> tuple[np.ndarray, np.ndarray]:
    """``(seq, ambiguous)`` of ``times`` on the line ``phase + seq * period``."""
    seq = np.rint((times - phase) / period)
    residual = times - (phase + seq * period)
    return seq, (np.abs(residual) > AMBIGUOUS_RESIDUAL * period) | duplicated(seq)
