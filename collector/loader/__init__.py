"""The researchers' torch loader over exported datasets (LeRobot v3.0, ALOHA-layout HDF5).

::

    from collector.loader import CollectorDataset
    ds = CollectorDataset("datasets/out/pick", action_horizon=50, split="train", normalize="mean_std")
    loader = torch.utils.data.DataLoader(ds, batch_size=32, shuffle=True, num_workers=4)

``import collector.loader`` needs neither torch nor ROS: torch is imported when
:class:`CollectorDataset` or :func:`open_dataset` is first used.
"""

from __future__ import annotations

from typing import Any

from collector.loader.config import LoaderConfig
from collector.loader.errors import LoaderError, VideoDecodeError
from collector.loader.select import Episode, split_episodes

__all__ = ["CollectorDataset", "Episode", "LoaderConfig", "LoaderError", "VideoDecodeError", "open_dataset",
           "split_episodes"]


def open_dataset(path, config: LoaderConfig | None = None, **options: Any):
    """A :class:`~collector.loader.dataset.CollectorDataset` over ``path`` (see
    :class:`LoaderConfig` for the options)."""
    from collector.loader.dataset import CollectorDataset

    return CollectorDataset(path, config, **options)


def __getattr__(name: str):
    if name == "CollectorDataset":
        from collector.loader.dataset import CollectorDataset

        return CollectorDataset
    raise AttributeError(f"module 'collector.loader' has no attribute {name!r}")
