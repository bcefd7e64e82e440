"""Face blurring at export (``--blur-faces``) on a real face photo.

scikit-image's astronaut photo (Eileen Collins) is pasted into the synthetic robot's
head camera; the episode is exported with and without blurring in both formats, the
exported frames are decoded again and searched with the same detector.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import yaml

cv2 = pytest.importorskip("cv2")
skimage_data = pytest.importorskip("skimage.data")

from collector.cli import main  # noqa: E402
from collector.drivers import synthetic_episode  # noqa: E402
from collector.export.privacy import FaceBlurError, FaceBlurrer, FaceBlurSettings  # noqa: E402
from collector.rig import load_rig, parse_rig  # noqa: E402
from tests.export.conftest import LATENCY_MS, START_NS  # noqa: E402

if not hasattr(cv2, "CascadeClassifier"):
    pytest.skip(f"OpenCV {cv2.__version__} has no Haar cascades (needs opencv-python-headless<5)",
                allow_module_level=True)

HEAD = "head_rgb"
WIDTH, HEIGHT = 320, 240
FACE_AT = (30, 70)  # row, column of the pasted photo in the head camera
PHOTO_SIDE = 180


def photo() -> np.ndarray:
    """The astronaut's head and shoulders, PHOTO_SIDE px square (the face ~85 px)."""
    crop = skimage_data.astronaut()[20:220, 130:330]
    return cv2.resize(crop, (PHOTO_SIDE, PHOTO_SIDE), interpolation=cv2.INTER_AREA)


def face_rig():
    """Bao'an with a 320x240 head camera, the other images 64x48."""
    doc = yaml.safe_load(load_rig("baoan_humanoid").text)
    for stream in doc["streams"]:
        if stream["role"] in ("camera", "depth"):
            stream["width"], stream["height"] = (WIDTH, HEIGHT) if stream["name"] == HEAD else (64, 48)
        stream["latency_ms"] = LATENCY_MS.get(stream["role"], 0.3)
    return parse_rig(yaml.safe_dump(doc, sort_keys=False), source="baoan_face.yaml")


@pytest.fixture(scope="module")
def face_episode(tmp_path_factory):
    """A 1 s episode whose head camera shows the photo over the synthetic pattern."""
    original = synthetic_episode.MESSAGES["camera"]
    pasted = photo()

    def with_face(stream, source, event):
        if stream.name != HEAD:
            return original(stream, source, event)
        pixels = np.array(source.render(event.true_ns, event.seq), copy=True)
        row, col = FACE_AT
        pixels[row:row + PHOTO_SIDE, col:col + PHOTO_SIDE] = pasted if stream.encoding == "rgb8" else pasted[..., ::-1]
        return synthetic_episode.encode_image(stamp_ns=event.stamp_ns, frame_id=stream.frame_id, height=HEIGHT,
                                              width=WIDTH, encoding=stream.encoding, data=pixels)

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(synthetic_episode.MESSAGES, "camera", with_face)
        episode = synthetic_episode.write_synthetic_episode(tmp_path_factory.mktemp("faces"), face_rig(), seconds=1.0,
                                                            seed=11, start_ns=START_NS + 11, task="wave")
    return episode.path


def export(tmp_path_factory, episode, fmt: str, blur: bool):
    out = tmp_path_factory.mktemp(f"{fmt}{'-blur' if blur else ''}") / "dataset"
    args = ["export", str(episode), "--format", fmt, "--out", str(out)] + (["--blur-faces"] if blur else [])
    if fmt == "lerobot":
        args += ["--vcodec", "h264", "-o", "crf=18"]  # fast to encode, close to the source
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def exports(tmp_path_factory, face_episode):
    return {(fmt, blur): export(tmp_path_factory, face_episode, fmt, blur)
            for fmt in ("lerobot", "hdf5") for blur in (False, True)}


def decoded_frames(root, fmt: str) -> np.ndarray:
    """(K, H, W, 3) RGB head camera frames as a reader of the dataset sees them."""
    if fmt == "hdf5":
        import h5py

        with h5py.File(root / "episode_0.hdf5", "r") as f:
            return f[f"observations/images/{HEAD}"][()]
    import av

    video = next((root / "videos" / f"observation.images.{HEAD}").rglob("*.mp4"))
    with av.open(str(video)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def face_box(blurrer: FaceBlurrer, margin: float) -> tuple[slice, slice]:
    x, y, w, h = blurrer.detect(photo())[0]
    row, col = FACE_AT
    grow = round(w * margin)
    return (slice(row + y - grow, row + y + h + grow), slice(col + x - grow, col + x + w + grow))


# ----------------------------------------------------------------------------- unit


def test_blurrer_hides_the_face_and_nothing_else():
    blurrer = FaceBlurrer()
    image = skimage_data.astronaut()
    boxes = blurrer.detect(image)
    assert len(boxes) == 1
    blurred, faces = blurrer.blur(image)
    assert faces == 1 and blurred is not image and blurred.shape == image.shape
    assert blurrer.detect(blurred) == []
    x, y, w, h = boxes[0]
    grow = round(w * blurrer.settings.margin)
    outside = np.ones(image.shape[:2], bool)
    outside[max(0, y - grow):y + h + grow, max(0, x - grow):x + w + grow] = False
    np.testing.assert_array_equal(blurred[outside], image[outside])
    inside = ~outside
    assert np.abs(blurred[inside].astype(int) - image[inside]).mean() > 15
    assert blurrer.blur_and_count(image) is not image and blurrer.counts.to_dict() == {
        "frames": 1, "frames_with_faces": 1, "faces_blurred": 1}
    plain = np.full((48, 64, 3), 128, np.uint8)
    assert blurrer.blur(plain) == (plain, 0)  # nothing found: the frame itself, not a copy


def test_pixelate_hides_the_face_too():
    blurrer = FaceBlurrer(FaceBlurSettings(method="pixelate", strength=0.2))
    blurred, faces = blurrer.blur(skimage_data.astronaut())
    assert faces == 1 and blurrer.detect(blurred) == []


@pytest.mark.parametrize("setting", [{"scale_factor": 1.0}, {"min_neighbors": -1}, {"min_face_px": 4},
                                     {"margin": -0.1}, {"detect_width": 10}, {"method": "paint"},
                                     {"strength": 0}, {"min_neighbors": True}])
def test_settings_are_validated(setting):
    with pytest.raises(FaceBlurError, match=next(iter(setting))):
        FaceBlurSettings(**setting)


# ----------------------------------------------------------------------------- export


@pytest.mark.parametrize("fmt", ["lerobot", "hdf5"])
def test_export_blurs_the_face_and_keeps_the_rest(exports, fmt):
    plain, blurred = decoded_frames(exports[(fmt, False)], fmt), decoded_frames(exports[(fmt, True)], fmt)
    assert plain.shape == blurred.shape and plain.shape[1:] == (HEIGHT, WIDTH, 3)
    detector = FaceBlurrer()
    assert all(detector.detect(frame) for frame in plain), "the face must be found in the plain export"
    assert not any(detector.detect(frame) for frame in blurred), "a face is left in the blurred export"
    rows, cols = face_box(detector, detector.settings.margin)
    face = np.zeros((HEIGHT, WIDTH), bool)
    face[rows, cols] = True
    difference = np.abs(plain.astype(np.float64) - blurred)
    assert difference[:, face].mean() > 15
    # away from the face (and the codec's blocks around it) the frames stay as they were
    near = np.zeros_like(face)
    near[max(0, rows.start - 16):rows.stop + 16, max(0, cols.start - 16):cols.stop + 16] = True
    assert difference[:, ~near].mean() < 2.0


def test_lerobot_records_the_blurring(exports):
    root = exports[("lerobot", True)]
    info = json.loads((root / "meta" / "info.json").read_text())
    privacy = info["privacy"]
    assert privacy["face_blurring"] is True and privacy["detector"] == "opencv-haar-frontalface-default"
    assert privacy["opencv"] == cv2.__version__ and privacy["settings"]["method"] == "gaussian"
    assert privacy["streams"] == ["observation.images.head_rgb", "observation.images.left_wrist_rgb",
                                  "observation.images.right_wrist_rgb"]
    frames = info["total_frames"]
    assert privacy["counts"]["frames_with_faces"] >= frames  # every head frame has the face
    assert privacy["counts"]["faces_blurred"] >= privacy["counts"]["frames_with_faces"]
    card = (root / "README.md").read_text()
    assert "## Privacy" in card and "Faces were blurred" in card and f"OpenCV {cv2.__version__}" in card
    import pyarrow.parquet as pq

    row = pq.read_table(next((root / "meta" / "episodes").rglob("*.parquet"))).to_pylist()[0]
    assert row["privacy/frames_with_faces"] == privacy["counts"]["frames_with_faces"]
    plain = exports[("lerobot", False)]
    assert "privacy" not in json.loads((plain / "meta" / "info.json").read_text())
    assert "## Privacy" not in (plain / "README.md").read_text()


def test_hdf5_records_the_blurring(exports):
    import h5py

    with h5py.File(exports[("hdf5", True)] / "episode_0.hdf5", "r") as f:
        assert f.attrs["faces_blurred"]
        privacy = json.loads(f.attrs["privacy"])
        assert privacy["detector"] == "opencv-haar-frontalface-default" and privacy["opencv"] == cv2.__version__
        assert privacy["counts"]["frames_with_faces"] >= f.attrs["frames"]
    with h5py.File(exports[("hdf5", False)] / "episode_0.hdf5", "r") as f:
        assert not f.attrs["faces_blurred"] and "privacy" not in f.attrs


@pytest.mark.parametrize("fmt", ["lerobot", "hdf5"])
def test_blurred_export_validates(exports, fmt):
    assert main(["validate", str(exports[(fmt, True)])]) == 0


def test_appending_without_blurring_to_a_blurred_dataset_is_refused(exports, face_episode, capsys):
    root = exports[("lerobot", True)]
    before = (root / "meta" / "info.json").read_text()
    assert main(["export", str(face_episode), "--format", "lerobot", "--out", str(root), "--vcodec", "h264"]) == 1
    assert "blurred" in capsys.readouterr().err
    assert (root / "meta" / "info.json").read_text() == before


def test_missing_opencv_is_one_line_and_writes_nothing(face_episode, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 raises ImportError
    out = tmp_path / "dataset"
    assert main(["export", str(face_episode), "--format", "hdf5", "--out", str(out), "--blur-faces"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "opencv-python-headless" in err and "python3-opencv" in err
    assert not out.exists()


def test_lerobot_loads_the_privacy_entry(exports, tmp_path):
    from tests.export.test_lerobot_oracle_env import ORACLE_PYTHON, load_with_lerobot

    if not ORACLE_PYTHON.exists():
        pytest.skip("LeRobot oracle venv .venv-lerobot is missing: run `bash scripts/lerobot_env.sh`")
    result = load_with_lerobot(exports[("lerobot", True)], timeout=600)
    assert result["ok"]
