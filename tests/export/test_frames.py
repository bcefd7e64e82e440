"""Frames streamed from the bag are exactly the messages sync picked."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from collector.bag.reader import open_bag
from collector.cdr import decode_image
from collector.drivers.synthetic import read_seq
from collector.export import frames as frames_module
from collector.export.errors import ExportError
from collector.export.frames import iter_frames, iter_images


@pytest.mark.parametrize("stream", ["head_rgb", "right_wrist_rgb", "head_depth"])
def test_frames_carry_the_seq_sync_picked(baoan, stream):
    sync = baoan.sync
    images = list(iter_images(baoan.path, sync, stream))
    assert len(images) == sync.frames
    expected = baoan.seqs[stream][sync.streams[stream].i0]
    assert [read_seq(image) for image in images] == expected.tolist()
    first = images[0]
    if stream == "head_depth":
        assert first.shape == (48, 64) and first.dtype == np.uint16
    else:
        assert first.shape == (48, 64, 3) and first.dtype == np.uint8
    assert not first.flags.writeable


def _messages(path, topic) -> list[bytes]:
    with open_bag(path) as bag:
        return [m.data for m in bag.messages([topic])]


def test_frames_are_the_decoded_pixels_bgr_reversed(baoan):
    sync = baoan.sync
    stream = baoan.rig.stream("left_wrist_rgb")
    assert stream.encoding == "bgr8"
    messages = _messages(baoan.path, stream.topic)
    head = baoan.rig.stream("head_depth")
    depth_messages = _messages(baoan.path, head.topic)
    both = iter_frames(baoan.path, sync, ["left_wrist_rgb", "head_depth"])
    for k, frames in enumerate(both):
        raw = decode_image(messages[sync.streams["left_wrist_rgb"].i0[k]]).data
        np.testing.assert_array_equal(frames["left_wrist_rgb"], raw[..., ::-1])
        depth = decode_image(depth_messages[sync.streams["head_depth"].i0[k]]).data
        np.testing.assert_array_equal(frames["head_depth"], depth)  # bit-exact


def test_subset_of_frames(baoan):
    sync = baoan.sync
    rows = np.arange(0, sync.frames, 7)
    seqs = [read_seq(f) for f in iter_images(baoan.path, sync, "head_rgb", frames=rows)]
    assert seqs == baoan.seqs["head_rgb"][sync.streams["head_rgb"].i0[rows]].tolist()


def test_out_of_order_indices_and_missing_samples(baoan, monkeypatch):
    """Sync may pick messages out of bag order (reordered stamps); -1 means no message."""
    sync = baoan.sync
    alignment = sync.streams["head_rgb"]
    i0 = alignment.i0[::-1].copy()
    i0[3] = -1
    shuffled = replace(sync, streams={**sync.streams, "head_rgb": replace(alignment, i0=i0, i1=i0)})
    cached = []
    original = frames_module._StreamFrames.take

    def spy(self, position):
        cached.append(len(self.cache))
        return original(self, position)

    monkeypatch.setattr(frames_module._StreamFrames, "take", spy)
    images = list(iter_images(baoan.path, shuffled, "head_rgb"))
    assert not images[3].any()
    expected = baoan.seqs["head_rgb"][i0]
    assert [read_seq(im) for k, im in enumerate(images) if k != 3] == np.delete(expected, 3).tolist()
    assert max(cached) >= sync.frames // 2  # reversed order has to hold frames...
    cached.clear()
    list(iter_images(baoan.path, sync, "head_rgb"))
    assert max(cached) <= 2  # ...in bag order it holds next to none


def test_bad_streams(baoan):
    with pytest.raises(ExportError, match="role 'joint_state'"):
        next(iter_images(baoan.path, baoan.sync, "joint_states"))
    with pytest.raises(ExportError, match="no stream named 'nope'"):
        next(iter_images(baoan.path, baoan.sync, "nope"))
    with pytest.raises(ExportError, match="ascending"):
        next(iter_images(baoan.path, baoan.sync, "head_rgb", frames=[3, 1]))
