"""Image comparison for the loader tests (torch imported on use)."""

from __future__ import annotations

import math

BT601 = (0.299, 0.587, 0.114)


def luma_psnr(a, b) -> float:
    """PSNR (dB) of the BT.601 luma of two CHW [0, 1] images: the usual codec metric (RGB
    PSNR is bounded by yuv420p's chroma subsampling on the synthetic colour pattern)."""
    import torch

    weights = torch.tensor(BT601).reshape(3, 1, 1)
    mse = float((((a.float() - b.float()) * weights).sum(dim=0) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)
