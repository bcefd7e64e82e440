"""``collector inspect PATH``: per-stream summary of any rosbag2 MCAP bag or episode folder."""

from __future__ import annotations

import json
from pathlib import Path

from collector.bag.inspect import format_summary, inspect_bag
from collector.commands import positive
from collector.episode import EPISODE_FILE, find_episodes, read_episode_info
from collector.errors import CollectorError


def add_parser(verbs, name: str):
    parser = verbs.add_parser(
        name,
        help="summarise a bag or episode (counts, rates, gaps, header-vs-receive skew)",
        description="Per stream: message count, rate, first/last receive time, largest gap and "
        "header-vs-receive skew. PATH is a rosbag2 directory (split bags too), a single .mcap "
        "file, or a folder of collector episodes.",
    )
    parser.add_argument("path", type=Path, help="bag directory, .mcap file or folder of episodes")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--sync", action="store_true",
                        help="also align the episode's streams on one grid and report offsets, drift, jitter, "
                        "gaps and alignment error (exit code 2 when export would refuse it)")
    parser.add_argument("--plot", type=Path, metavar="FILE.png", help="with --sync: write a picture of the sync")
    parser.add_argument("--fps", type=positive, help="with --sync: grid rate (default: the rig's fps)")
    return parser


def _targets(path: Path) -> list[Path]:
    if not path.exists():
        raise CollectorError(f"{path}: no such file or directory")
    if path.is_dir() and not (path / "metadata.yaml").exists() and not list(path.glob("*.mcap")):
        episodes = find_episodes(path)
        if not episodes:
            raise CollectorError(f"{path}: neither a bag (no metadata.yaml or .mcap) nor a folder of episodes")
        return episodes
    return [path]


def _episode_header(path: Path) -> dict | None:
    if not (path.is_dir() and (path / EPISODE_FILE).is_file()):
        return None
    info = read_episode_info(path)
    return {
        "episode_id": info.episode_id,
        "rig": info.rig,
        "site": info.site,
        "task": info.task,
        "operator": info.operator,
        "success": info.success,
        "status": info.status,
        "end_reason": info.end_reason,
        "duration_s": round(info.duration_s, 3),
    }


def _sync(target: Path, args):
    from collector.sync import synchronize

    result = synchronize(target, fps=args.fps, keep=True)
    if args.plot:
        from collector.sync.plot import plot_sync

        plot_path = args.plot
        if len(args.targets) > 1:
            plot_path = args.plot.with_name(f"{args.plot.stem}_{target.name}{args.plot.suffix or '.png'}")
        args.plots_written.append(plot_sync(result, plot_path))
    return result


def run(args) -> int:
    if (args.plot or args.fps) and not args.sync:
        raise CollectorError("--plot and --fps need --sync")
    args.targets = _targets(args.path)
    args.plots_written = []
    reports = []
    for target in args.targets:
        summary = inspect_bag(target)
        synced = _sync(target, args) if args.sync else None
        reports.append((target, _episode_header(target), summary, synced))
    refused = any(synced is not None and synced.violations for *_, synced in reports)
    if args.json:
        payload = [{"path": str(t), "episode": e, "bag": s.to_dict(),
                    **({"sync": y.to_dict()} if y is not None else {})} for t, e, s, y in reports]
        print(json.dumps(payload[0] if len(payload) == 1 else payload, indent=2, ensure_ascii=False))
        return 2 if refused else 0
    for _target, episode, summary, synced in reports:
        if episode:
            label = {True: "success", False: "failure", None: "unlabelled"}[episode["success"]]
            print(f"episode {episode['episode_id']}  [{episode['status']}, {label}]  "
                  f"rig {episode['rig']} @ {episode['site']}  operator {episode['operator'] or '-'}")
            print(f"task: {episode['task'] or '-'}")
        print(format_summary(summary))
        print()
        if synced is not None:
            from collector.sync.report import format_sync_report

            print(format_sync_report(synced))
            print()
    for plot_path in args.plots_written:
        print(f"plot: {plot_path}")
    return 2 if refused else 0
