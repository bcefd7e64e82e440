"""Launch plans per rig, and a static check of the launch files against the real executables."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from collector.capture.launch_plan import EXECUTABLES, PlanError, PlanOptions, plan_launch
from collector.errors import CollectorError, RigError
from collector.rig import load_rig, parse_rig

REPO = Path(__file__).resolve().parents[2]
LAUNCH_FILES = sorted((REPO / "launch").glob("*.launch.py"))


def _console_scripts() -> dict[str, str]:
    """name -> module, as setup.py declares them for `ros2 run collector <name>`."""
    text = (REPO / "setup.py").read_text()
    return dict(re.findall(r'"(\w+) = ([\w.]+):main"', text))


def test_every_executable_is_a_console_script_with_a_main():
    scripts = _console_scripts()
    for name, module in EXECUTABLES.items():
        assert scripts.get(name) == module, f"setup.py console_scripts lacks {name} = {module}:main"


@pytest.mark.parametrize("rig", ["baoan_humanoid", "longhua_humanoid"])
def test_rig_plan_starts_recorder_and_the_profiles_drivers(rig):
    plan = plan_launch(rig)
    names = [n.name for n in plan.nodes]
    assert names == ["recorder", "head_camera", "left_wrist_camera", "right_wrist_camera"]
    recorder = plan.nodes[0]
    assert recorder.namespace == "/collector" and recorder.parameters["rig"] == rig
    profile = load_rig(rig)
    for node in plan.nodes[2:]:  # collector's camera driver: everything from its stream
        stream = profile.stream(node.streams[0])
        assert node.parameters["topic"] == stream.topic
        assert node.parameters["frame_id"] == stream.frame_id
        assert (node.parameters["width"], node.parameters["height"]) == (stream.width, stream.height)
        assert node.parameters["encoding"] == stream.encoding and node.parameters["fps"] == stream.rate_hz
        assert node.parameters["source"].startswith("/dev/video")
    head = plan.nodes[1]
    assert head.module is None and head.package == "realsense2_camera"
    published = {s for n in plan.nodes for s in n.streams}
    assert set(plan.external_streams) == {s.name for s in profile.streams} - published
    assert "joint_states" in plan.external_streams


@pytest.mark.parametrize("source, executable", [("synthetic", "synthetic_robot"), ("replay", "replay"),
                                                ("sim", "sim_robot")])
def test_other_sources_replace_the_drivers(source, executable, tmp_path):
    options = PlanOptions(source=source, episode=str(tmp_path / "ep"), scene="baoan_assembly", rate=2.0,
                          out=str(tmp_path))
    plan = plan_launch("baoan_humanoid", options)
    assert [n.executable for n in plan.nodes] == ["recorder", executable]
    assert plan.external_streams == ()
    if source == "replay":
        assert plan.nodes[1].parameters == {"episode": str(tmp_path / "ep"), "rate": 2.0,
                                            "wait_for_subscribers_s": 15.0}


def test_the_caller_resolves_a_scenes_rig(capsys):
    """The plan (core) never reaches into the simulation: `collector up` resolves the station's rig."""
    from collector.cli import main

    with pytest.raises(PlanError, match="no rig given"):
        plan_launch("", PlanOptions(source="sim", scene="longhua_sorting"))
    assert main(["up", "--source", "sim", "--scene", "longhua_sorting", "--dry-run"]) == 0
    assert "longhua_humanoid" in capsys.readouterr().err


def test_skip_and_bad_choices_are_one_line_errors():
    plan = plan_launch("baoan_humanoid", PlanOptions(skip=("head_camera",)))
    assert "head_camera" not in [n.name for n in plan.nodes]
    assert {"head_rgb", "head_depth"} <= set(plan.external_streams)
    for options, message in [(dict(skip=("nope",)), "no driver named 'nope'"),
                             (dict(source="bus"), "source 'bus'"),
                             (dict(source="replay"), "needs an episode"),
                             (dict(source="sim"), "needs a scene"),
                             (dict(rate=0.0), "rate 0.0")]:
        with pytest.raises(CollectorError, match=message) as info:
            plan_launch("baoan_humanoid", PlanOptions(**options))
        assert "\n" not in str(info.value)


def _rig_with(drivers_yaml: str) -> str:
    text = (REPO / "datasets" / "rigs" / "baoan_humanoid.yaml").read_text()
    return text[: text.index("\ndrivers:")] + "\ndrivers:\n" + drivers_yaml


@pytest.mark.parametrize("drivers, message", [
    ("  - {name: cam, executable: camera, streams: [nope]}\n", r"drivers\[0\].streams\[0\]: no stream named 'nope'"),
    ("  - {name: a, executable: camera, streams: [imu]}\n  - {name: b, executable: camera, streams: [imu]}\n",
     "published by 'a' already"),
    ("  - {name: cam, executable: camera, colour: red}\n", r"drivers\[0\].colour: unknown key"),
    ("  - {name: cam, executable: camera, parameters: {fps: {x: 1}}}\n", r"drivers\[0\].parameters.fps"),
    ("  - {name: Cam, executable: camera}\n", r"drivers\[0\].name"),
])
def test_bad_driver_entries_name_the_key(drivers, message):
    with pytest.raises(RigError, match=message):
        parse_rig(_rig_with(drivers), source="rig.yaml")


def test_plan_refuses_an_unknown_collector_executable():
    rig = parse_rig(_rig_with("  - {name: cam, executable: webcam, streams: [head_rgb]}\n"), source="rig.yaml")
    with pytest.raises(CollectorError, match="collector has no executable 'webcam'"):
        plan_launch(rig)


def _plans_of(launch_file: Path) -> list:
    """The plans a launch file produces: it calls rig_launch_description(RIG, **defaults)."""
    tree = ast.parse(launch_file.read_text())
    calls = [n for n in ast.walk(tree)
             if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "rig_launch_description"]
    assert len(calls) == 1, f"{launch_file.name} must call rig_launch_description once"
    rig = ast.literal_eval(calls[0].args[0])
    defaults = {k.arg: ast.literal_eval(k.value) for k in calls[0].keywords if k.arg != "scene_rig"}
    funcs = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in funcs
    options = PlanOptions(**defaults)
    if not rig:  # the sim launch file resolves the station's rig (scene_rig=...), as collector up does
        from collector.sim.catalog import load_station

        assert any(k.arg == "scene_rig" for k in calls[0].keywords), f"{launch_file.name}: no rig and no scene_rig"
        rig = load_station(options.scene).rig
    plans = [plan_launch(rig, options)]
    if options.source == "rig":
        plans += [plan_launch(rig, PlanOptions(source=s, episode="/x", scene="baoan_assembly"))
                  for s in ("synthetic", "replay", "sim")]
    return plans


@pytest.mark.parametrize("launch_file", LAUNCH_FILES, ids=[p.name for p in LAUNCH_FILES])
def test_launch_file_names_only_real_executables_and_parameters(launch_file):
    pytest.importorskip("rclpy", reason="the node modules need rclpy")
    scripts = _console_scripts()
    for plan in _plans_of(launch_file):
        for node in plan.nodes:
            if node.module is None:
                continue  # an external package: checked on the rig by ros2 launch itself
            assert node.executable in scripts, f"{launch_file.name}: no console script {node.executable}"
            declared = importlib.import_module(node.module).parameter_names()
            unknown = set(node.parameters) - declared
            assert not unknown, f"{launch_file.name}: {node.name} has no parameters {sorted(unknown)}"


def test_there_is_a_launch_file_per_rig_and_one_for_simulation():
    assert {p.name for p in LAUNCH_FILES} == {"baoan_humanoid.launch.py", "longhua_humanoid.launch.py",
                                              "sim_collection.launch.py"}


def test_keep_streams_trims_the_drivers_too():
    import yaml

    from collector.rig import keep_streams

    doc = keep_streams(yaml.safe_load(load_rig("baoan_humanoid").text), ["head_rgb", "left_wrist_rgb", "imu"])
    rig = parse_rig(yaml.safe_dump(doc, sort_keys=False), source="cut.yaml")
    assert [s.name for s in rig.streams] == ["head_rgb", "left_wrist_rgb", "imu"]
    assert [(d.name, d.streams) for d in rig.drivers] == [("head_camera", ("head_rgb",)),
                                                          ("left_wrist_camera", ("left_wrist_rgb",))]
