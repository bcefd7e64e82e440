"""Station catalogues are checked by the shared schema checker: one line naming the file and the key."""

from __future__ import annotations

import pytest
import yaml

from collector.paths import data_path
from collector.sim import catalog
from collector.sim.errors import SimError


def _broken(tmp_path, monkeypatch, edit) -> str:
    doc = yaml.safe_load(data_path("sim", "tasks", "baoan_assembly.yaml").read_text(encoding="utf-8"))
    edit(doc)
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "baoan_assembly.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    monkeypatch.setattr(catalog, "_sim_root", lambda: tmp_path)
    with pytest.raises(SimError) as refused:
        catalog.load_station("baoan_assembly")
    text = str(refused.value)
    assert len(text.splitlines()) == 1 and text.startswith(str(tmp_path / "tasks" / "baoan_assembly.yaml")), text
    return text


@pytest.mark.parametrize(("edit", "fragment"), [
    (lambda doc: doc.pop("rig"), ": rig: missing required field"),
    (lambda doc: doc["tasks"]["part_to_bin"].pop("kind"), ": tasks.part_to_bin.kind: missing required field"),
    (lambda doc: doc["tasks"]["part_to_bin"]["instructions"].update(zh="x"),
     ": tasks.part_to_bin.instructions.zh: expected a list of strings, got 'x'"),
    (lambda doc: doc.update(station="longhua_sorting"), ": station: 'longhua_sorting' does not match the file name"),
])
def test_broken_station_is_one_line_naming_the_key(tmp_path, monkeypatch, edit, fragment):
    assert fragment in _broken(tmp_path, monkeypatch, edit)
