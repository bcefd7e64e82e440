"""The provenance manifest of every export, and ``collector validate --verify`` against it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("h5py")
pytest.importorskip("pyarrow")

from collector import __version__  # noqa: E402
from collector.cli import main  # noqa: E402
from collector.export import provenance  # noqa: E402
from collector.export.run import export_episodes  # noqa: E402
from collector.export.transaction import FolderTransaction  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
MANIFEST = {"lerobot": "meta/provenance.json", "hdf5": "provenance.json"}
# a file of each kind to damage: (format, path in the dataset)
DAMAGE = [("lerobot", "videos/observation.images.head_rgb/chunk-000/file-000.mp4"),
          ("lerobot", "data/chunk-000/file-000.parquet"),
          ("lerobot", "meta/info.json"),
          ("hdf5", "episode_1.hdf5")]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def on_disk(root: Path, skip: str) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha(p) for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).as_posix() != skip}


def manifest_of(root: Path, fmt: str) -> dict:
    return json.loads((root / MANIFEST[fmt]).read_text())


def verify_cli(capsys, root: Path) -> tuple[int, list[str]]:
    code = main(["validate", str(root), "--verify"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out.splitlines()


@pytest.fixture(scope="module", params=["lerobot", "hdf5"])
def appended(request, tmp_path_factory, baoan, baoan_second):
    """A dataset of each format made by two export runs (the second appends)."""
    fmt = request.param
    root = tmp_path_factory.mktemp(f"prov-{fmt}") / "ds"
    export_episodes([baoan.path], fmt=fmt, out=root, options={"vcodec": "h264"} if fmt == "lerobot" else None)
    first = manifest_of(root, fmt)
    export_episodes([baoan_second.path], fmt=fmt, out=root,
                    options={"vcodec": "h264"} if fmt == "lerobot" else None)
    return fmt, root, first


def test_manifest_lists_every_file_with_its_hash(appended):
    fmt, root, _ = appended
    manifest = manifest_of(root, fmt)
    listed = {f["path"]: f for f in manifest["files"]}
    assert {k: v["sha256"] for k, v in listed.items()} == on_disk(root, MANIFEST[fmt])
    assert all(listed[k]["size"] == (root / k).stat().st_size for k in listed)
    assert manifest["format"] == fmt and manifest["manifest_version"] == 1


def test_sources_settings_software_and_runs(appended, baoan, baoan_second):
    fmt, root, first = appended
    manifest = manifest_of(root, fmt)
    # the append kept the first run's episode and added its own
    assert first["episodes"] == manifest["episodes"][:1]
    assert [e["dataset_index"] for e in manifest["episodes"]] == [0, 1]
    assert [e["run"] for e in manifest["episodes"]] == [0, 1]
    assert [r["episodes"] for r in manifest["runs"]] == [[0], [1]]
    assert manifest["created"] == first["created"] == first["updated"]
    for entry, episode in zip(manifest["episodes"], (baoan, baoan_second)):
        assert entry["episode_id"] == episode.info.episode_id and entry["operator"] == "op7"
        assert entry["rig"] == episode.info.rig and entry["site"] == episode.info.site
        assert entry["source"] == str(episode.path.resolve())
        files = {f["path"]: f["sha256"] for f in entry["files"]}
        assert files == {p.relative_to(episode.path).as_posix(): sha(p)
                         for p in episode.path.rglob("*") if p.is_file()}
        assert "episode.json" in files and any(name.endswith(".mcap") for name in files)
    run = manifest["runs"][-1]
    assert run["software"]["collector"] == __version__ and run["software"]["python"]
    assert run["software"]["numpy"] and run["software"]["h5py"]
    assert run["settings"]["format"] == fmt and run["settings"]["fps"] == baoan.rig.fps
    assert run["settings"]["rig"] == baoan.rig.rig and "observation.state" in run["settings"]["features"]
    if fmt == "lerobot":
        assert run["settings"]["options"]["vcodec"] == "h264" and run["settings"]["options"]["crf"] == 30
    else:
        options = run["settings"]["options"]
        assert {k: options[k] for k in ("compress", "jpeg_quality", "invalid")} == \
            {"compress": False, "jpeg_quality": 50, "invalid": "drop"}


def test_clean_dataset_verifies(appended, capsys):
    fmt, root, _ = appended
    code, lines = verify_cli(capsys, root)
    count = len(manifest_of(root, fmt)["files"])
    assert code == 0, lines
    assert lines[-2] == f"{count} file(s) verified against {MANIFEST[fmt]}" and lines[-1].endswith(": OK")
    assert main(["validate", str(root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["provenance"] == MANIFEST[fmt]


@pytest.mark.parametrize("fmt, name", DAMAGE)
def test_flipped_byte_is_named(fmt, name, appended, tmp_path, capsys):
    if appended[0] != fmt:
        pytest.skip("other format")
    root = shutil.copytree(appended[1], tmp_path / "ds")
    path = root / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    code, lines = verify_cli(capsys, root)
    assert code == 1
    assert any(line.startswith(f"{name}: sha256 ") and "the manifest says" in line for line in lines), lines


def test_missing_extra_and_resized_files(appended, tmp_path, capsys):
    fmt, source, _ = appended
    root = shutil.copytree(source, tmp_path / "ds")
    victim = "meta/stats.json" if fmt == "lerobot" else "episode_0.hdf5"
    (root / victim).unlink()
    (root / "notes.txt").write_text("stray")
    grown = "meta/tasks.parquet" if fmt == "lerobot" else "episode_1.hdf5"
    with open(root / grown, "ab") as file:
        file.write(b"\0")
    code, lines = verify_cli(capsys, root)
    assert code == 1
    assert f"{victim}: missing: listed in the provenance manifest" in lines
    assert "notes.txt: not in the provenance manifest" in lines
    assert any(line.startswith(f"{grown}: size ") for line in lines), lines


@pytest.mark.parametrize("damage", ["missing", "garbage", "no files"])
def test_bad_manifest_is_one_line(damage, appended, tmp_path, capsys):
    fmt, source, _ = appended
    root = shutil.copytree(source, tmp_path / "ds")
    manifest = root / MANIFEST[fmt]
    if damage == "missing":
        manifest.unlink()
    else:
        manifest.write_text("{not json" if damage == "garbage" else '{"files": 3}')
    code, lines = verify_cli(capsys, root)
    assert code == 1
    problems = [line for line in lines if line.startswith(f"{MANIFEST[fmt]}: ")]
    assert len(problems) == 1, lines
    assert {"missing": "no provenance manifest", "garbage": "unreadable",
            "no files": "not a provenance manifest"}[damage] in problems[0]
    if damage == "missing":  # plain validate still passes: the layout is fine
        assert main(["validate", str(root)]) == 0
        capsys.readouterr()


@pytest.mark.parametrize("fmt", ["lerobot", "hdf5"])
def test_failed_swap_keeps_manifest_and_files_consistent(fmt, baoan, baoan_second, tmp_path, monkeypatch, capsys):
    """An export that dies after writing its manifest, before the swap: the old version
    (files and manifest) is what stays, and it verifies."""
    root = tmp_path / "ds"
    export_episodes([baoan.path], fmt=fmt, out=root)
    before = on_disk(root, "")

    def die(self):
        assert (self.path / MANIFEST[fmt]).is_file()  # the new manifest is staged, not visible
        raise KeyboardInterrupt

    monkeypatch.setattr(FolderTransaction, "commit", die)
    with pytest.raises(KeyboardInterrupt):
        export_episodes([baoan_second.path], fmt=fmt, out=root)
    monkeypatch.undo()
    assert on_disk(root, "") == before
    assert verify_cli(capsys, root)[0] == 0


def test_dataset_without_manifest_gets_one_on_append(baoan, baoan_second, tmp_path, capsys):
    root = tmp_path / "ds"
    export_episodes([baoan.path], fmt="hdf5", out=root)
    (root / MANIFEST["hdf5"]).unlink()  # as written before manifests existed
    export_episodes([baoan_second.path], fmt="hdf5", out=root)
    manifest = manifest_of(root, "hdf5")
    assert [e["dataset_index"] for e in manifest["episodes"]] == [1]
    assert {f["path"] for f in manifest["files"]} == {"episode_0.hdf5", "episode_1.hdf5"}
    assert verify_cli(capsys, root)[0] == 0


def test_hash_streams_in_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(provenance, "CHUNK_BYTES", 7)
    path = tmp_path / "blob"
    path.write_bytes(os.urandom(1000))
    assert provenance.sha256_file(path) == (1000, sha(path))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["lerobot", "hdf5"])
def test_sigkilled_append_leaves_a_verifying_dataset(fmt, baoan, baoan_second, tmp_path, capsys):
    root = tmp_path / "ds"
    export_episodes([baoan.path], fmt=fmt, out=root)
    before = on_disk(root, "")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for delay in (0.8, 1.6, 2.4):
        proc = subprocess.Popen([sys.executable, "-m", "collector.cli", "export", str(baoan_second.path),
                                 "--format", fmt, "--out", str(root)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env, cwd=REPO, start_new_session=True)
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        after = on_disk(root, "")
        assert after == before or len(manifest_of(root, fmt)["episodes"]) == 2  # old version or complete new
        assert verify_cli(capsys, root)[0] == 0
        if after != before:
            break
