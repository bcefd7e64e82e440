"""``collector sim list|collect|view``: the station replicas.

* ``list [--json]``: stations, their rigs and tasks with instruction templates;
* ``collect --scene S --task T --episodes N --out DIR [--seed S] [--workers N]``:
  lock-step episodes (seed ``S + i`` for episode ``i``), the same raw episodes a
  recording makes; failures are written and labelled ``success: false``;
* ``view --scene S --task T [--seed S] --out FILE.png``: a contact sheet of the
  expert doing the task (head camera and an overview), for people.
"""

from __future__ import annotations

import json
from pathlib import Path

from collector.errors import CollectorError


def add_parser(verbs, name: str):
    parser = verbs.add_parser(name, help="simulated stations: list tasks, collect episodes, view a task",
                              description="MuJoCo replicas of the Bao'an and Longhua stations.")
    sub = parser.add_subparsers(dest="sim_command", metavar="SUBCOMMAND", required=True)
    listing = sub.add_parser("list", help="stations, tasks and instructions")
    listing.add_argument("--json", action="store_true", help="print JSON")
    collect = sub.add_parser("collect", help="collect episodes in lock-step (no ROS)")
    _scene_task(collect)
    collect.add_argument("--episodes", type=int, default=1, help="number of episodes (default 1)")
    collect.add_argument("--out", required=True, type=Path, help="folder for the episodes")
    collect.add_argument("--seed", type=int, default=0, help="seed of the first episode (default 0)")
    collect.add_argument("--workers", type=int, default=1, help="local processes (default 1)")
    collect.add_argument("--camera-size", help="WIDTHxHEIGHT for every camera (default: the rig's, 640x480)")
    collect.add_argument("--language", choices=("en", "zh"), default="en",
                         help="language of the instruction stored as the task (both are kept)")
    collect.add_argument("--json", action="store_true", help="print the episodes as JSON")
    view = sub.add_parser("view", help="render a contact sheet PNG of a task being done")
    _scene_task(view)
    view.add_argument("--seed", type=int, default=0)
    view.add_argument("--out", required=True, type=Path, help="PNG to write")
    view.add_argument("--frames", type=int, default=8, help="pictures on the sheet (default 8)")
    view.add_argument("--quality", choices=("fast", "high"), default="high", help="high: shadows and anti-aliasing")
    return parser


def _scene_task(parser) -> None:
    parser.add_argument("--scene", required=True, help="station, e.g. baoan_assembly (see `collector sim list`)")
    parser.add_argument("--task", required=True, help="task of that station")


def camera_size(text: str | None) -> tuple[int, int] | None:
    """``"320x240"`` -> (320, 240); see :func:`collector.sim.collect.parse_camera_size`."""
    from collector.sim.collect import parse_camera_size

    return parse_camera_size(text)


def run(args) -> int:
    return {"list": _list, "collect": _collect, "view": _view}[args.sim_command](args)


def _list(args) -> int:
    from collector.sim.catalog import list_stations

    stations = list_stations()
    if args.json:
        print(json.dumps([{"station": s.name, "rig": s.rig, "description": s.description,
                           "tasks": {t.name: {"kind": t.kind, "instructions": {k: list(v) for k, v in
                                                                             t.instructions.items()}}
                                     for t in s.tasks.values()}} for s in stations], indent=2, ensure_ascii=False))
        return 0
    for station in stations:
        print(f"{station.name}  (rig {station.rig}): {station.description}")
        for task in station.tasks.values():
            print(f"  {task.name}  [{task.kind}]")
            for language, templates in task.instructions.items():
                more = f"  (+{len(templates) - 1} more)" if len(templates) > 1 else ""
                print(f"    {language}: {templates[0]}{more}")
    return 0


def _collect(args) -> int:
    from collector.sim.runner import collect_episodes

    if args.episodes < 1:
        raise CollectorError(f"--episodes must be >= 1, got {args.episodes}")
    results = collect_episodes(args.scene, args.task, episodes=args.episodes, out=args.out, seed=args.seed,
                               workers=args.workers, camera_size=camera_size(args.camera_size),
                               language=args.language)
    if args.json:
        print(json.dumps([{"episode": str(r.path), "success": r.success, "instruction": r.instruction,
                           "frames": r.frames, "seconds": r.seconds} for r in results], indent=2,
                         ensure_ascii=False))
    else:
        for result in results:
            print(f"{result.path.name}  {'success' if result.success else 'FAILURE'}  {result.instruction}")
        ok = sum(r.success for r in results)
        print(f"{len(results)} episode(s) in {args.out}: {ok} succeeded, {len(results) - ok} labelled failure")
    return 0


def _view(args) -> int:
    from collector.sim.view import contact_sheet

    path = contact_sheet(args.scene, args.task, seed=args.seed, out=args.out, pictures=args.frames,
                         quality=args.quality)
    print(f"contact sheet: {path}")
    return 0
