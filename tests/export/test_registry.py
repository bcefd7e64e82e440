"""The writer registry: formats by name, clear errors."""

from __future__ import annotations

import pytest

from collector.errors import CollectorError
from collector.export import registry
from collector.export.base import DatasetWriter
from collector.export.errors import ExportError
from collector.export.features import feature_plan
from collector.rig import load_rig


def test_get_shipped_writer():
    writer = registry.get_writer("hdf5")
    assert issubclass(writer, DatasetWriter) and writer.name == "hdf5" and writer.appends
    assert "hdf5" in registry.available_formats()


def test_unknown_format_lists_formats():
    with pytest.raises(ExportError, match=r"unknown export format 'tfrecord' \(formats: .*hdf5") as info:
        registry.get_writer("tfrecord")
    assert isinstance(info.value, CollectorError)


def test_register_and_refuse_overwrite(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "WRITERS", dict(registry.WRITERS))

    @registry.register("dummy")
    class Dummy(DatasetWriter):
        OPTIONS = {"level": 1}

        @classmethod
        def prepare_part(cls, **kwargs):
            return None

        def commit(self, part):
            pass

    assert registry.get_writer("dummy") is Dummy and Dummy.name == "dummy"
    with pytest.raises(ValueError, match="registered already"):
        registry.register("dummy")(type("Other", (Dummy,), {}))
    with pytest.raises(ValueError, match="not a DatasetWriter"):
        registry.register("x")(dict)
    plan = feature_plan(load_rig("baoan_humanoid"))
    with Dummy(tmp_path / "new", plan=plan, fps=30, options={"level": 2}) as writer:
        assert writer.options == {"level": 2}
    assert writer.closed
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "data").write_text("x")
    with pytest.raises(ExportError, match="exists already, not overwriting"):
        Dummy(tmp_path / "old", plan=plan, fps=30)
    with pytest.raises(ExportError, match="unknown option 'lvl'"):
        Dummy(tmp_path / "new", plan=plan, fps=30, options={"lvl": 2})
