"""Short synthetic episodes (2-3 s, small images) of both shipped rigs, synchronised."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
import yaml

from collector.drivers.synthetic_episode import write_synthetic_episode
from collector.episode import read_episode_info
from collector.rig import Rig, load_rig, parse_rig
from collector.sync import synchronize

START_NS = 1_750_000_000_000_000_000
LATENCY_MS = {"camera": 8.0, "depth": 8.0}


def small_rig(name: str, *, encodings: dict[str, str] | None = None) -> Rig:
    """A shipped rig with 64x48 images, the synthetic writer's latencies declared, and
    ``encodings`` overriding stream encodings (e.g. a bgr8 camera)."""
    doc = yaml.safe_load(load_rig(name).text)
    for stream in doc["streams"]:
        if stream["role"] in ("camera", "depth"):
            stream["width"], stream["height"] = 64, 48
        stream["latency_ms"] = LATENCY_MS.get(stream["role"], 0.3)
        if encodings and stream["name"] in encodings:
            stream["encoding"] = encodings[stream["name"]]
    return parse_rig(yaml.safe_dump(doc, sort_keys=False), source=f"{name}_small.yaml")


def truth_seqs(episode) -> dict[str, np.ndarray]:
    """Per stream, the seq of each published message in bag (receive) order."""
    rows = defaultdict(list)
    for record in episode.truth:
        if record["published"]:
            rows[record["stream"]].append((record["receive_ns"], record["seq"]))
    return {name: np.array([seq for _, seq in sorted(pairs)]) for name, pairs in rows.items()}


class Synced:
    """An episode on disk with its rig, sync result, info and truth."""

    def __init__(self, out, rig: Rig, seconds: float, seed: int, task: str = "pick the part"):
        self.rig = rig
        self.episode = write_synthetic_episode(out, rig, seconds=seconds, seed=seed, start_ns=START_NS + seed,
                                               task=task, operator="op7", camera_rate_scale=1.0)
        self.path = self.episode.path
        self.sync = synchronize(self.path)
        self.info = read_episode_info(self.path)
        self.seqs = truth_seqs(self.episode)


@pytest.fixture(scope="session")
def baoan(tmp_path_factory) -> Synced:
    rig = small_rig("baoan_humanoid", encodings={"left_wrist_rgb": "bgr8"})
    return Synced(tmp_path_factory.mktemp("baoan"), rig, seconds=2.5, seed=3)


@pytest.fixture(scope="session")
def baoan_second(tmp_path_factory, baoan) -> Synced:
    return Synced(tmp_path_factory.mktemp("baoan2"), baoan.rig, seconds=2.0, seed=4, task="place the part")


@pytest.fixture(scope="session")
def longhua(tmp_path_factory) -> Synced:
    return Synced(tmp_path_factory.mktemp("longhua"), small_rig("longhua_humanoid"), seconds=2.0, seed=5)
