"""``collector export SRC... --format FMT --out DIR``: raw episodes to a training dataset.

Progress: one bar for the whole export and one per episode in work (frames). Exit
code 0 when every episode was exported, 2 when some were skipped (each named on one
line with the reason), 1 on an error that stopped the export (nothing of it kept).
An optional stream left out of the dataset (no episode published it) is one
``warning:`` line on stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from collector.commands import positive
from collector.export.errors import ExportError
from collector.export.registry import available_formats


def add_parser(verbs, name: str):
    parser = verbs.add_parser(
        name,
        help="export raw episodes to a LeRobot v3.0 or ALOHA/ACT HDF5 dataset",
        description="Synchronise each episode on the rig's grid and write it to a training dataset. "
        "Exporting into an existing dataset appends to it; a killed export leaves it as it was.",
    )
    parser.add_argument("sources", nargs="+", type=Path, metavar="SRC", help="episode folder or folder of episodes")
    parser.add_argument("--format", required=True, dest="fmt",
                        help=f"dataset format ({', '.join(available_formats())})")
    parser.add_argument("--out", required=True, type=Path, help="dataset folder (created, or appended to)")
    parser.add_argument("--fps", type=positive, help="grid rate, frames/s (default: the rig's fps)")
    parser.add_argument("--workers", type=int, default=1, help="local processes for the per-episode work (default 1)")
    parser.add_argument("--ray", metavar="ADDRESS", help="run the per-episode work on this Ray cluster "
                        "('auto': the running one, 'local': start one here)")
    parser.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                        help="format option, e.g. -o vcodec=h264 -o crf=23 (lerobot), -o compress=true (hdf5)")
    parser.add_argument("--vcodec", choices=("av1", "h264"), help="lerobot: video codec (default av1)")
    parser.add_argument("--blur-faces", action="store_true",
                        help="blur faces in the camera streams (OpenCV's Haar face detector; recorded in the dataset)")
    parser.add_argument("--streams", help="only these rig streams, comma-separated (default: all)")
    parser.add_argument("--strict", action="store_true", help="stop at the first episode that cannot be exported")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def parse_options(pairs: list[str]) -> dict:
    """``KEY=VALUE`` strings to options; values are YAML scalars (``true``, ``23``, ``h264``).

    Raises:
        ExportError: an item without ``=``.
    """
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ExportError(f"--option {pair!r} is not KEY=VALUE")
        try:
            options[key.strip()] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            options[key.strip()] = value
    return options


class _Bars:
    """Rich progress: the whole export and each episode in work."""

    def __init__(self, count: int):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.console = Console(stderr=True)
        self.live = self.console.is_terminal
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), console=self.console, disable=not self.live)
        self.total = self.progress.add_task("episodes", total=count)
        self.tasks: dict[str, int] = {}

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def __call__(self, event: str, episode: str, done: int, total: int) -> None:
        name = Path(episode).name
        if event == "start" and episode not in self.tasks:
            self.tasks[episode] = self.progress.add_task(f"  {name}", total=None)
        elif event == "frames" and episode in self.tasks:
            self.progress.update(self.tasks[episode], completed=done, total=total)
        elif event in ("done", "skip"):
            if episode in self.tasks:
                self.progress.remove_task(self.tasks.pop(episode))
            self.progress.advance(self.total)
            if not self.live and event == "done":  # a log line per episode; skips are listed with reasons at the end
                self.console.print(f"exported {name} ({done} frames)", highlight=False)


def run(args) -> int:
    from collector.export.run import export_episodes, find_sources

    options = parse_options(args.option)
    if args.vcodec:
        options["vcodec"] = args.vcodec
    if args.blur_faces:
        from collector.export.privacy import require_opencv

        require_opencv()  # before anything is written or any episode is read
        options["blur_faces"] = True
    streams = [s.strip() for s in args.streams.split(",") if s.strip()] if args.streams else None
    with _Bars(len(find_sources(args.sources))) as bars:
        result = export_episodes(args.sources, fmt=args.fmt, out=args.out, fps=args.fps, workers=args.workers,
                                 ray_address=args.ray, options=options, streams=streams, strict=args.strict,
                                 progress=bars)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        for episode, why in result.excluded:
            print(f"left out {Path(episode).name}: {why}")
        for episode, error in result.failed:
            print(f"skipped {episode}: {error}", file=sys.stderr)
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        rate = f", {result.frames / result.seconds:.1f} frames/s" if result.seconds else ""
        print(f"exported {len(result.exported)} episode(s), {result.frames} frames to {result.out} "
              f"({args.fmt}) in {result.seconds:.1f} s{rate}")
    return 2 if result.failed else 0
