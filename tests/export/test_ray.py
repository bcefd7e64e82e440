"""``--ray``: the per-episode work as Ray tasks on a local Ray instance, merged on the driver."""

from __future__ import annotations

import shutil

import pyarrow.parquet as pq
import pytest

from collector.export.lerobot import layout
from collector.export.run import export_episodes

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install ray)")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sources(tmp_path_factory, baoan, baoan_second):
    folder = tmp_path_factory.mktemp("ray_sources")
    for i, episode in enumerate((baoan, baoan_second)):
        shutil.copytree(episode.path, folder / f"ep{i}")
    return folder


@pytest.mark.parametrize("fmt", ["lerobot", "hdf5"])
def test_ray_export_equals_the_local_one(sources, tmp_path, fmt):
    local = export_episodes([sources], fmt=fmt, out=tmp_path / "local")
    try:
        remote = export_episodes([sources], fmt=fmt, out=tmp_path / "ray", ray_address="local")
    finally:
        ray.shutdown()
    assert remote.exported == local.exported and remote.frames == local.frames and not remote.failed
    if fmt == "lerobot":
        for folder in ("data", "meta/episodes"):
            left = [pq.read_table(p).to_pylist() for p in layout.parquet_files(tmp_path / "local" / folder)]
            right = [pq.read_table(p).to_pylist() for p in layout.parquet_files(tmp_path / "ray" / folder)]
            assert left == right
    else:
        import h5py

        for name in ("episode_0.hdf5", "episode_1.hdf5"):
            with h5py.File(tmp_path / "local" / name) as a, h5py.File(tmp_path / "ray" / name) as b:
                assert (a["/observations/qpos"][()] == b["/observations/qpos"][()]).all()
                assert (a["/observations/images/head_rgb"][()] == b["/observations/images/head_rgb"][()]).all()
