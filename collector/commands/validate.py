"""``collector validate DATASET``: check an exported dataset (LeRobot v3.0 or ALOHA/ACT HDF5)."""

from __future__ import annotations

import json
from pathlib import Path

from collector.export.validate import ValidationReport, validate_dataset


def add_parser(verbs, name: str):
    parser = verbs.add_parser(
        name,
        help="check an exported dataset: layout, counts, time grid, videos, stats, NaN and alignment error",
        description="Check a LeRobot v3.0 dataset folder or a folder of ALOHA/ACT episode_<i>.hdf5 files. "
        "Prints one line per problem (<where>: <message>) and a summary line; exit code 1 when any "
        "problem is found, 0 when none. --verify also checks every file against the dataset's provenance "
        "manifest (meta/provenance.json or provenance.json: SHA-256 of each file, written by every export).",
    )
    parser.add_argument("dataset", type=Path, metavar="DATASET", help="the dataset folder")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--verify", action="store_true",
                        help="also recompute every file's SHA-256 against the dataset's provenance manifest "
                        "(missing, extra, changed files are problems)")
    return parser


def summary_line(report: ValidationReport) -> str:
    """``<format> dataset <path>: <counts>: OK`` or ``...: <n> problem(s)``."""
    counts = ", ".join(f"{value} {name.replace('_', ' ')}" for name, value in report.summary.items()
                       if isinstance(value, int) and not isinstance(value, bool))
    verdict = "OK" if report.ok else f"{len(report.problems)} problem(s)"
    return f"{report.format} dataset {report.path}: {counts or 'nothing readable'}: {verdict}"


def run(args) -> int:
    report = validate_dataset(args.dataset, verify=args.verify)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        for problem in report.problems:
            print(problem)
        if args.verify:
            manifest = report.summary["provenance"] or "the provenance manifest (missing)"
            print(f"{report.summary['verified_files']} file(s) verified against {manifest}")
        print(summary_line(report))
    return 0 if report.ok else 1
