"""Robust statistics for the clock fits: sigma from the MAD, lines that ignore outliers."""

from __future__ import annotations

import numpy as np


def robust_sigma(values: np.ndarray) -> float:
    """1.4826 x the median absolute deviation: the std of Gaussian data, robust to outliers."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def fit_line(x: np.ndarray, y: np.ndarray, *, iterations: int = 3, k: float = 4.0) -> tuple[float, float, np.ndarray]:
    """Least-squares ``y = a + b x`` with iterative rejection beyond ``k`` robust sigmas.

    Returns ``(a, b, inliers)``; x is centred internally for conditioning.
    """
    keep = np.ones(len(x), dtype=bool)
    a = b = 0.0
    for _ in range(iterations):
        xm, ym = x[keep].mean(), y[keep].mean()
        dx = x[keep] - xm
        denom = float(dx @ dx)
        b = float(dx @ (y[keep] - ym)) / denom if denom > 0 else 0.0
        a = float(ym - b * xm)
        residual = y - (a + b * x)
        sigma = robust_sigma(residual[keep])
        new = np.abs(residual) <= k * sigma + 1e-9 * (1 + np.abs(y))
        if new.sum() < 2 or np.array_equal(new, keep):
            break
        keep = new
    return a, b, keep


def theil_sen(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Median-of-slopes line ``y = a + b x`` (at most ~400 points are paired)."""
    if len(x) > 400:
        keep = np.linspace(0, len(x) - 1, 400).astype(np.int64)
        x, y = x[keep], y[keep]
    i, j = np.triu_indices(len(x), k=1)
    dx = x[j] - x[i]
    ok = dx != 0
    b = float(np.median((y[j] - y[i])[ok] / dx[ok])) if ok.any() else 0.0
    return float(np.median(y - b * x)), b


# Two-sided 99.9% quantiles of Student's t by degrees of freedom (interpolated between
# rows): a slope is only believed when it stands this many standard errors from zero.
_T_999 = ((1, 636.6), (2, 31.6), (3, 12.9), (4, 8.61), (5, 6.87), (6, 5.96), (7, 5.41), (8, 5.04),
          (9, 4.78), (10, 4.59), (12, 4.32), (15, 4.07), (20, 3.85), (30, 3.65), (60, 3.46), (120, 3.37),
          (100_000, 3.29))
RESIDUAL_FLOOR_NS = 1e3  # 1 us: exact synthetic data has a residual sigma of 0


def t_critical(dof: int) -> float:
    """The 99.9% two-sided Student-t quantile for ``dof`` degrees of freedom (>= 1)."""
    dofs, values = zip(*_T_999)
    return float(np.interp(max(dof, 1), dofs, values))


def envelope_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Theil-Sen start, least squares on its inliers; a constant when too few points.

    Returns ``(a, b, b_sigma)``: the line ``y = a + b x`` and the standard error of
    its slope (least-squares standard error over the inliers; inf when it cannot
    be told). The slope is kept only when the data support it: when
    it stands out from zero by more than the 99.9% Student-t quantile of that
    error. Otherwise the line is the constant through the inliers' median: latency
    spread over a short episode must not be reported as clock drift.
    """
    if len(x) < 3:
        return float(np.median(y)), 0.0, float("inf")
    a, b = theil_sen(x, y)
    residual = y - (a + b * x)
    sigma = robust_sigma(residual)
    keep = np.abs(residual) <= 3.0 * sigma + RESIDUAL_FLOOR_NS
    if keep.sum() >= 3:
        a, b, _ = fit_line(x[keep], y[keep], iterations=1)
    xs, ys = x[keep], y[keep]
    if len(xs) < 3:
        return float(np.median(y)), 0.0, float("inf")
    spread = float(np.sqrt(np.sum((xs - xs.mean()) ** 2)))
    residual = ys - (a + b * xs)
    # the least-squares standard error (outliers are gone): what Student's t is calibrated for;
    # a MAD over a handful of windows can come out far too small by chance
    sigma = max(float(np.sqrt(residual @ residual / (len(xs) - 2))) if len(xs) > 2 else 0.0, RESIDUAL_FLOOR_NS)
    b_sigma = sigma / spread if spread > 0 else float("inf")
    if spread == 0 or abs(b) <= t_critical(len(xs) - 2) * b_sigma:
        return float(np.median(ys)), 0.0, b_sigma
    return a, b, b_sigma


def slope_sigma(x: np.ndarray, residual: np.ndarray) -> float:
    """Standard error of a least-squares slope over ``x`` with these residuals (robust sigma)."""
    x = np.asarray(x, dtype=np.float64)
    spread = float(np.sqrt(np.sum((x - x.mean()) ** 2)))
    return robust_sigma(residual) / spread if spread > 0 else float("inf")


def envelope(x: np.ndarray, y: np.ndarray, window_ns: float, statistic: str) -> tuple[np.ndarray, np.ndarray]:
    """Per window of ``x``: the point with the largest ``y`` (``max``) or the median point."""
    bins = np.floor((x - x.min()) / window_ns).astype(np.int64)
    order = np.lexsort((y, bins))
    bins_sorted = bins[order]
    starts = np.flatnonzero(np.concatenate([[True], bins_sorted[1:] != bins_sorted[:-1]]))
    ends = np.concatenate([starts[1:], [len(order)]])
    if statistic == "max":
        pick = order[ends - 1]
    else:
        pick = order[(starts + ends - 1) // 2]
    return x[pick], y[pick]


def duplicated(values: np.ndarray) -> np.ndarray:
    """True for every element whose value occurs more than once."""
    if len(values) < 2:
        return np.zeros(len(values), dtype=bool)
    order = np.argsort(values, kind="stable")
    same = values[order][1:] == values[order][:-1]
    flag = np.zeros(len(values), dtype=bool)
    flag[order[1:][same]] = True
    flag[order[:-1][same]] = True
    return flag
