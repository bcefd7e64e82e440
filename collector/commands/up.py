"""``collector up``: start a rig's nodes as processes, for machines without ``ros2 launch``.

The same :func:`collector.capture.launch_plan.plan_launch` list that the launch files in
``launch/`` hand to ``launch_ros``: the recorder plus the rig's drivers (or the
synthetic robot, a replay, the simulated station). Everything is checked before
anything starts (unknown rig or driver, an external package that is not
installed). Ctrl-C or SIGTERM stops every node with SIGINT, as ``ros2 launch``
does, so the recorder closes a running episode cleanly.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import time
from pathlib import Path

from collector.capture.launch_plan import SOURCES, LaunchPlan, NodeSpec, PlanOptions, plan_launch
from collector.capture.processes import NodeGroup, commands_for, ros_param
from collector.commands import non_negative, positive
from collector.errors import CollectorError
from collector.pseudonym import check_operator_id


def add_parser(verbs, name: str):
    parser = verbs.add_parser(
        name,
        help="start a rig's recorder and drivers as processes (what its launch file starts)",
        description="Start the nodes of a rig's launch plan as processes: the recorder and the drivers "
        "its profile lists, or another source of its topics. Ctrl-C stops them all cleanly.",
    )
    parser.add_argument("--rig", default="", help="rig name or rig YAML path (with --source sim: the scene's rig)")
    parser.add_argument("--source", choices=SOURCES, default="rig",
                        help="who publishes the rig's topics: its drivers (default), the synthetic robot, "
                        "a replayed episode, the simulated station, or nodes started elsewhere (external: "
                        "only the recorder)")
    parser.add_argument("--out", default="~/collector_data", help="episode folder for the recorder")
    parser.add_argument("--task", default="", help="initial task instruction")
    parser.add_argument("--operator", default="", help="pseudonymous operator id")
    parser.add_argument("--episode", default="", help="with --source replay: the raw episode to play")
    parser.add_argument("--rate", type=positive, default=1.0, help="with --source replay: speed factor")
    parser.add_argument("--scene", default="", help="with --source sim: the station (see `collector sim list`)")
    parser.add_argument("--sim-task", default="", help="with --source sim: the task")
    parser.add_argument("--seed", type=int, default=0, help="with --source sim: the seed")
    parser.add_argument("--camera-size", default="", help="with --source sim: WIDTHxHEIGHT of every camera")
    parser.add_argument("--skip", action="append", default=[], metavar="DRIVER",
                        help="do not start this driver (repeatable), e.g. a camera that is not plugged in")
    parser.add_argument("--autostart", action="store_true", help="start an episode as soon as the recorder is up")
    parser.add_argument("--log-dir", type=Path, help="node logs (default: <out>/logs/up_<time>)")
    parser.add_argument("--duration", type=non_negative, default=0.0,
                        help="stop everything after S seconds (0: until Ctrl-C)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and the commands, start nothing")
    return parser


def _argv(node: NodeSpec, command: list[str] | None) -> str:
    program = command or [sys.executable, "-m", str(node.module)]
    argv = [*program, "--ros-args", "-r", f"__node:={node.name}"]
    argv += [item for src, dst in node.remappings for item in ("-r", f"{src}:={dst}")]
    argv += [item for key, value in node.parameters.items() for item in ("-p", f"{key}:={ros_param(value)}")]
    return shlex.join(argv)


def run(args) -> int:
    from rich.console import Console

    console = Console(stderr=True)
    options = PlanOptions(
        source=args.source, out=args.out, task=args.task, operator=args.operator, episode=args.episode,
        rate=args.rate, scene=args.scene, sim_task=args.sim_task, seed=args.seed, camera_size=args.camera_size,
        skip=tuple(args.skip), autostart=args.autostart,
    )
    check_operator_id(args.operator)
    if not args.rig and args.source != "sim":
        raise CollectorError("--rig is required (or --source sim --scene SCENE, which brings its rig)")
    rig = args.rig
    if not rig:  # a simulated station brings its own rig
        from collector.sim.catalog import load_station

        rig = load_station(args.scene).rig
    plan = plan_launch(rig, options)
    commands = commands_for(plan)
    console.print(f"[bold]{plan.rig.rig}[/bold] ({plan.rig.site}), source {options.source}:")
    for line in plan.describe():
        console.print(f"  {line}")
    if args.dry_run:
        for node in plan.nodes:
            print(_argv(node, commands[node.name]))
        return 0
    if args.duration < 0:
        raise CollectorError(f"--duration {args.duration} must be >= 0")
    return _run_plan(plan, commands, args, console)


def _run_plan(plan: LaunchPlan, commands, args, console) -> int:
    out = Path(os.path.expanduser(plan.options.out))
    logs = args.log_dir or out / "logs" / time.strftime("up_%Y%m%d_%H%M%S")
    stopping = {"signal": None}

    def on_signal(signum, _frame):
        stopping["signal"] = signum

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    group = None
    code = 0
    reported: set[str] = set()
    try:
        group = NodeGroup(plan, logs, commands=commands)
        console.print(f"up: {len(group)} nodes running (logs in {logs}); Ctrl-C stops them")
        deadline = time.monotonic() + args.duration if args.duration else None
        while stopping["signal"] is None and (deadline is None or time.monotonic() < deadline):
            finished = None
            for process in group:
                if process.name in reported or process.alive():
                    continue
                reported.add(process.name)
                exit_code = process.process.returncode
                if process.name == "replay" and exit_code == 0:
                    finished = "the replay is done"
                    continue
                console.print(f"[red]{process.name} exited with code {exit_code}[/red]\n{process.log_tail(5)}")
                # Without the recorder, or the replay it records, nothing is collected; code 2
                # is a node refusing its parameters: a setup error, not worth running on with.
                if process.name in ("recorder", "replay") or exit_code == 2:
                    code = 1
            if code or finished:
                if finished:
                    console.print(finished)
                break
            time.sleep(0.2)
    finally:
        if group is not None:
            for name, exit_code in group.stop(timeout_s=15.0).items():
                if exit_code not in (0, -signal.SIGINT, 130) and name not in reported:
                    console.print(f"[yellow]{name} stopped with code {exit_code}[/yellow]")
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print("down: every node stopped")
    return code
