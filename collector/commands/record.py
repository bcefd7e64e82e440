"""``collector record``: run the recorder (and optionally the synthetic or simulated robot) and drive it.

Interactive (default): a live table of stream health and single keys to
start/stop, discard and label episodes. ``--headless --episodes N
--episode-seconds S`` records unattended, for scripts and tests. The nodes come
from the same launch plan as ``collector up`` and the launch files (source
``synthetic``, ``sim``, or ``external``: only the recorder, the rig's drivers run
elsewhere) and run as separate processes, exactly as on a rig; this command
talks to them over ROS services and the status topic.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from collector.capture.launch_plan import LaunchPlan, PlanOptions, plan_launch
from collector.commands import count, non_negative
from collector.episode import EPISODE_FILE, read_episode_info
from collector.errors import CollectorError
from collector.pseudonym import check_operator_id
from collector.rig import Rig, load_rig


def add_parser(verbs, name: str):
    parser = verbs.add_parser(
        name,
        help="record episodes from a rig (or the synthetic robot)",
        description="Record episodes as rosbag2 (MCAP) directories with episode.json. Keys: "
        "space start/stop, d discard, y success, n failure, q quit.",
    )
    parser.add_argument("--rig", help="rig name (datasets/rigs/<rig>.yaml) or path to a rig YAML "
                        "(with --sim: the station's rig)")
    parser.add_argument("--out", required=True, type=Path, help="folder for the episodes")
    parser.add_argument("--synthetic", action="store_true", help="also run the synthetic robot for this rig")
    parser.add_argument("--sim", metavar="SCENE", help="also run the simulated robot in this station (see "
                        "`collector sim list`); each episode is one task attempt by the scripted expert, "
                        "labelled by the task's success predicate")
    parser.add_argument("--sim-task", help="with --sim: the task (default: the station's first)")
    parser.add_argument("--seed", type=int, default=0, help="with --sim: seed of the first episode (default 0)")
    parser.add_argument("--camera-size", help="with --sim: WIDTHxHEIGHT of every camera (default: the rig's); "
                        "the recorder gets the same rig, saved in the episodes")
    parser.add_argument("--faults", default="", help="synthetic robot faults (YAML text or file), e.g. "
                        "'{head_rgb: {offset_ms: 35, drop_rate: 0.01}}'")
    parser.add_argument("--task", default="", help="task instruction for the episodes (instead of the rig's "
                        "task catalogue)")
    parser.add_argument("--task-id", default="", help="start with this task of the rig's catalogue "
                        "(datasets/tasks/<rig>.yaml); keys t / 1-9 switch tasks between takes")
    parser.add_argument("--language", choices=("en", "zh", "both"), default="en",
                        help="which instruction of a catalogue task the episodes get (default en)")
    parser.add_argument("--countdown", type=non_negative, default=3.0, help="seconds from the start key to recording "
                        "(default 3; 0: at once)")
    parser.add_argument("--reset-seconds", type=non_negative, default=0.0,
                        help="reset phase after each take, shown with a timer (default 0: none)")
    parser.add_argument("--operator", default="", help="pseudonymous operator id")
    parser.add_argument("--episodes", type=count, default=0, help="stop after N kept episodes (0: until quit)")
    parser.add_argument("--episode-seconds", type=non_negative, default=0.0, help="end each episode after S seconds")
    parser.add_argument("--headless", action="store_true", help="no keys, no table: record unattended")
    parser.add_argument("--disk-reserve-mb", type=count, default=1024, help="free-disk reserve (default 1024)")
    parser.add_argument("--wait-streams", type=non_negative, default=30.0,
                        help="seconds to wait for every required stream before recording (default 30)")
    return parser


@dataclass(frozen=True, kw_only=True)
class RecordOptions:
    """What a session runs with, resolved once from the arguments (never changed after).

    ``rig`` is the profile loaded (for ``--sim`` the station's, resized by
    ``--camera-size``); ``plan`` the nodes to start; ``tasks`` the catalogue tasks
    offered (none with ``--task`` or ``--sim``) and ``task_index`` the first one;
    ``task`` the initial instruction; ``episode_seconds`` the take length (with
    ``--sim --headless``: an upper bound of 60 s unless given, as a sim take ends
    when the expert is done).
    """

    rig: Rig
    plan: LaunchPlan
    out: Path
    task: str
    tasks: tuple = ()
    task_index: int = 0
    sim: str = ""
    episodes: int = 0
    episode_seconds: float = 0.0
    headless: bool = False
    wait_streams: float = 30.0
    language: str = "en"
    countdown: float = 3.0
    reset_seconds: float = 0.0
    operator: str = ""


def _check_args(args) -> None:
    if args.sim and args.synthetic:
        raise CollectorError("--sim and --synthetic are two robots: choose one")
    if args.rig is None and not args.sim:
        raise CollectorError("--rig is required (or --sim SCENE, which brings its rig)")
    if args.episodes < 0:
        raise CollectorError(f"--episodes must be >= 0, got {args.episodes}")
    if args.episode_seconds < 0:
        raise CollectorError(f"--episode-seconds must be >= 0, got {args.episode_seconds}")
    if args.countdown < 0 or args.reset_seconds < 0:
        raise CollectorError("--countdown and --reset-seconds must be >= 0")
    check_operator_id(args.operator)
    if args.task and args.task_id:
        raise CollectorError("--task and --task-id both set the instruction: choose one")
    if args.camera_size and not args.sim:
        raise CollectorError("--camera-size needs --sim")
    sim_bound = bool(args.sim and args.episodes > 0)  # a sim take ends when the expert is done
    if args.headless and (args.episodes <= 0 or (args.episode_seconds <= 0 and not sim_bound)):
        raise CollectorError("--headless needs --episodes N and --episode-seconds S (both > 0)")
    if not args.headless and not sys.stdin.isatty():
        raise CollectorError("standard input is not a terminal; use --headless --episodes N --episode-seconds S")


def _session_rig(args) -> tuple[str | Path, str]:
    """The rig to record (a name or a profile path) and the sim task; checked before anything starts."""
    if not args.sim:
        return args.rig, ""
    from collector.sim.catalog import load_station

    station = load_station(args.sim)
    sim_task = args.sim_task or next(iter(station.tasks))
    station.task(sim_task)
    if args.rig not in (None, station.rig):
        raise CollectorError(f"--rig {args.rig} does not match station {args.sim}'s rig {station.rig}")
    if not args.camera_size:
        return station.rig, sim_task
    from collector.sim.collect import parse_camera_size, sim_rig

    resized = sim_rig(station, parse_camera_size(args.camera_size))
    rig_file = args.out.expanduser().resolve() / "logs" / f"{station.rig}_{args.camera_size}.yaml"
    rig_file.parent.mkdir(parents=True, exist_ok=True)
    rig_file.write_text(resized.text, encoding="utf-8")
    return rig_file, sim_task


def record_options(args) -> RecordOptions:
    """Check the arguments and resolve everything the session needs (nothing starts here).

    Raises:
        CollectorError: bad arguments, an unknown rig, station, task or catalogue task.
    """
    _check_args(args)
    rig_ref, sim_task = _session_rig(args)
    rig = load_rig(rig_ref)
    tasks = _catalogue_tasks(args, rig)
    task, task_index = args.task, 0
    if tasks and not args.task and not args.sim:
        task_index = next((i for i, t in enumerate(tasks) if t.id == args.task_id), 0)
        task = tasks[task_index].instruction(args.language)
    out = args.out.expanduser().resolve()
    source = "sim" if args.sim else "synthetic" if args.synthetic else "external"
    plan = plan_launch(rig, PlanOptions(
        source=source, out=str(out), task=task, operator=args.operator, scene=args.sim or "", sim_task=sim_task,
        seed=args.seed, camera_size=args.camera_size or "", faults=args.faults if args.synthetic else "",
        disk_reserve_mb=args.disk_reserve_mb))
    episode_seconds = args.episode_seconds or (60.0 if args.sim and args.headless else 0.0)
    return RecordOptions(rig=rig, plan=plan, out=out, task=task, tasks=tasks, task_index=task_index,
                         sim=args.sim or "", episodes=args.episodes, episode_seconds=episode_seconds,
                         headless=args.headless, wait_streams=args.wait_streams, language=args.language,
                         countdown=args.countdown, reset_seconds=args.reset_seconds, operator=args.operator)


def run(args) -> int:
    options = record_options(args)  # fail early, before any process starts
    try:
        from collector.ros.control import RecorderClient, ros_session
    except ImportError as err:
        raise CollectorError(
            "ROS 2 Python (rclpy) is not available: pip install 'collector[ros]', "
            "or source /opt/ros/<distro>/setup.bash"
        ) from err
    if options.plan.options.source in ("synthetic", "sim"):
        # A demo robot must not leak onto (or hear) the site network.
        os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    from collector.capture.processes import NodeGroup
    from collector.ros.dds import apply_transport_defaults

    apply_transport_defaults()  # this process and the nodes it starts
    options.out.mkdir(parents=True, exist_ok=True)
    episodes: list[Path] = []
    group = NodeGroup(options.plan, options.out / "logs")
    try:
        recorder = group["recorder"]
        with ros_session(), RecorderClient() as client:
            try:
                client.wait_for_recorder(30.0, alive=recorder.alive)
            except CollectorError as err:
                raise CollectorError(f"{err}\n{recorder.log_tail()}") from err
            sim = None
            if options.sim:
                from collector.ros.control import SimClient

                sim = SimClient(client)
                robot = group["sim_robot"]
                try:
                    sim.wait_ready(60.0, alive=robot.alive)
                except CollectorError as err:
                    raise CollectorError(f"{err}\n{robot.log_tail()}") from err
            if options.headless:
                episodes = _headless(client, options, recorder, sim)
            else:
                episodes = _interactive(client, options, recorder)
    finally:
        codes = group.stop()
    _print_summary(episodes, options.out)
    if codes.get("recorder", 0) not in (0, -2):
        print(f"warning: recorder exited with code {codes['recorder']}; log: {recorder.log_path}", file=sys.stderr)
    return 0


def _catalogue_tasks(args, rig) -> tuple:
    """The rig's catalogue tasks the session offers (none with --task or --sim)."""
    from collector.tasks import TaskCatalogueError, load_catalogue

    if args.task or args.sim:
        return ()
    try:
        catalogue = load_catalogue(rig.rig)
    except TaskCatalogueError:
        if args.task_id:
            raise
        return ()
    if args.task_id:
        catalogue.get(args.task_id)  # a one-line error listing the ids
    return catalogue.tasks


def _annotate(path: Path, task) -> None:
    """Put the catalogue task (id, both instructions) into the episode's episode.json."""
    from collector.episode import write_episode_info

    if task is None:
        return
    info = read_episode_info(path)
    info.extra["task"] = {"id": task.id, "en": task.en, "zh": task.zh}
    write_episode_info(path, info)


def _wait_streams(client, options: RecordOptions) -> None:
    def ready(status):
        return all(s["state"] == "ok" for s in status["streams"] if s["required"])

    if client.wait_status(ready, options.wait_streams) is None:
        lines = "; ".join((client.status or {}).get("problems", [])) or "no status"
        raise CollectorError(f"required streams of rig {options.rig.rig} not healthy after "
                             f"{options.wait_streams:.0f} s: {lines}")


def _headless(client, options: RecordOptions, recorder, sim=None) -> list[Path]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    _wait_streams(client, options)
    episodes = []
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"),
                  TimeRemainingColumn(), transient=False) as progress:
        overall = progress.add_task("episodes", total=options.episodes, detail="")
        for index in range(options.episodes):
            if sim is not None:
                state = sim.reset()  # the next task attempt; its instruction reaches the recorder
                client.wait_status(lambda s, t=state["instructions"]["en"]: s.get("task") == t, 5.0)
            path = Path(client.start())
            bar = progress.add_task(f"  {path.name}", total=options.episode_seconds, detail="")
            started = time.monotonic()
            while (elapsed := time.monotonic() - started) < options.episode_seconds:
                if not recorder.alive():
                    raise CollectorError(f"the recorder died during {path.name}\n{recorder.log_tail()}")
                if sim is not None and (sim.state or {}).get("expert_done"):
                    break
                status = client.status or {}
                if status.get("recording") is False and status.get("last_episode") == str(path):
                    break  # ended by the recorder itself (disk reserve)
                problems = status.get("problems", [])
                progress.update(bar, completed=elapsed, detail=problems[0] if problems else "streams ok")
                time.sleep(0.1)
            try:
                client.stop()
            except CollectorError:
                reason = (client.status or {}).get("last_stop_reason", "")
                if reason != "disk_low":
                    raise
                progress.update(bar, detail="ended: free disk below the reserve")
                episodes.append(path)
                raise CollectorError(f"{path.name}: ended early, free disk below the reserve") from None
            if sim is not None:
                client.label(bool((sim.state or {}).get("success")))
            progress.update(bar, completed=options.episode_seconds)
            progress.update(overall, completed=index + 1)
            episodes.append(path)
    return episodes


def _interactive(client, options: RecordOptions, recorder) -> list[Path]:
    from rich.live import Live

    from collector.capture.operator_session import OperatorSession
    from collector.commands.record_ui import KeyReader, status_table

    session = OperatorSession(tasks=options.tasks, language=options.language, countdown_s=options.countdown,
                              reset_s=options.reset_seconds, episode_s=options.episode_seconds,
                              free_task=options.task if not options.tasks else "", task_index=options.task_index)
    episodes: list[Path] = []
    seen_last = None
    quitting = False

    def perform(actions) -> None:
        nonlocal quitting
        for action in actions:
            if action.kind == "task":
                client.set_task(action.value)
            elif action.kind == "start":
                client.start()
            elif action.kind in ("stop", "discard"):
                path = Path(client.stop() if action.kind == "stop" else client.discard())
                if path not in episodes:
                    episodes.append(path)
                _annotate(path, session.task)
            elif action.kind == "discard_last" and episodes:
                from collector.capture.review import discard

                discard(episodes[-1], reviewer=options.operator, reason="re-recorded by the operator")
            elif action.kind == "label":
                session.message = f"labelled {client.label(action.value)}"
            elif action.kind == "quit":
                quitting = True

    statuses = _StatusCache()
    perform(session.begin())
    with KeyReader() as keys, Live(status_table(None, kept=0, target=options.episodes), refresh_per_second=8,
                                   screen=False) as live:
        while not quitting:
            if not recorder.alive():
                raise CollectorError(f"the recorder exited\n{recorder.log_tail()}")
            status = client.status
            last = status.get("last_episode") if status else None
            if last and last != seen_last:
                seen_last = last
                if Path(last) not in episodes:  # ended by the recorder itself (disk reserve, time limit)
                    episodes.append(Path(last))
                    session.ended_by_recorder(time.monotonic())
                    _annotate(Path(last), session.task)
            ended_names = {p.name for p in episodes}
            if (status and status["recording"] and session.phase in ("idle", "reset")
                    and status.get("episode") not in ended_names):  # not a stale status of our own take
                session.started_elsewhere(time.monotonic())
            elif status and not status["recording"] and session.phase == "recording" and not quitting:
                # stopped or discarded by a service call from elsewhere
                ended = status.get("last_episode")
                if ended and Path(ended) not in episodes:
                    episodes.append(Path(ended))
                    _annotate(Path(ended), session.task)
                    session.ended_by_recorder(time.monotonic())
            kept = sum(1 for p in episodes if statuses.status(p) == "complete")
            if options.episodes and kept >= options.episodes and session.phase != "recording":
                break
            key = keys.get(0.1)
            try:
                now = time.monotonic()
                perform((session.on_key(key, now) if key else []) + session.tick(now))
            except CollectorError as err:
                session.message = f"error: {err}"
            live.update(status_table(client.status, kept=kept, target=options.episodes, message=session.message,
                                     session=session))
    return episodes


class _StatusCache:
    """Episode statuses for the live table, re-read only when an episode.json changed
    (the loop ticks at 10 Hz; a day's session holds hundreds of episodes)."""

    def __init__(self):
        self._seen: dict[Path, tuple[int, str]] = {}

    def status(self, path: Path) -> str:
        try:
            mtime = (path / EPISODE_FILE).stat().st_mtime_ns
        except OSError:
            return "missing"
        cached = self._seen.get(path)
        if cached is None or cached[0] != mtime:
            try:
                cached = (mtime, read_episode_info(path).status)
            except CollectorError:
                cached = (mtime, "unreadable")
            self._seen[path] = cached
        return cached[1]


def _print_summary(episodes: list[Path], out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not episodes:
        console.print(f"no episodes recorded into {out}")
        return
    table = Table(title=f"session summary: {out}")
    for column in ("episode", "status", "label", "seconds", "messages", "task"):
        table.add_column(column)
    total_s = 0.0
    for path in episodes:
        try:
            info = read_episode_info(path)
        except CollectorError as err:
            table.add_row(path.name, f"unreadable: {err}", "", "", "", "")
            continue
        label = {True: "success", False: "failure", None: "-"}[info.success]
        messages = sum(s.count for s in info.streams.values())
        if info.status == "complete":
            total_s += info.duration_s
        table.add_row(path.name, info.status, label, f"{info.duration_s:.1f}", str(messages), info.task or "-")
    console.print(table)
    console.print(f"kept: {sum(1 for p in episodes if read_episode_info(p).status == 'complete')} episodes, "
                  f"{total_s / 60:.1f} min")
    per_task: dict[str, list[float]] = {}
    for path in episodes:
        info = read_episode_info(path)
        if info.status == "complete":
            per_task.setdefault(info.extra.get("task", {}).get("id") or info.task or "-", []).append(info.duration_s)
    for task, seconds in per_task.items():
        console.print(f"  {task}: {len(seconds)} kept, {sum(seconds) / 60:.1f} min")
