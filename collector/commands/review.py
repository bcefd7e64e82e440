"""``collector review DIR``: list episodes, relabel, re-instruct, discard or restore them.

Without an action it lists every episode (task, duration, label, health). Each action
names one or more episodes (directory names under DIR) and changes only their
``episode.json``, recording the change in its review log; data is never deleted.
"""

from __future__ import annotations

import json
from pathlib import Path

from collector.capture import review
from collector.errors import CollectorError
from collector.pseudonym import check_operator_id


def add_parser(verbs, name: str):
    parser = verbs.add_parser(
        name,
        help="list recorded episodes; relabel, re-instruct, discard or restore them",
        description="List the episodes under DIR with task, duration, label and health, or change them. "
        "Changes go to episode.json with a review log entry; nothing is ever deleted.",
    )
    parser.add_argument("dir", type=Path, help="folder of episodes (or one episode)")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--success", nargs="+", metavar="EPISODE", help="label these episodes successful")
    action.add_argument("--failure", nargs="+", metavar="EPISODE", help="label these episodes failed")
    action.add_argument("--unlabel", nargs="+", metavar="EPISODE", help="remove the success/failure label")
    action.add_argument("--instruction", nargs="+", metavar=("TEXT", "EPISODE"),
                        help="set the task instruction: TEXT then the episodes")
    action.add_argument("--discard", nargs="+", metavar="EPISODE", help="mark discarded (export skips them)")
    action.add_argument("--restore", nargs="+", metavar="EPISODE", help="take back a discard")
    parser.add_argument("--reviewer", default="", help="pseudonymous id of who reviews (kept in the log)")
    parser.add_argument("--reason", default="", help="why (kept in the log)")
    parser.add_argument("--json", action="store_true", help="print the list as JSON")
    return parser


def _act(args) -> list[str]:
    who = {"reviewer": args.reviewer, "reason": args.reason}
    if args.success or args.failure or args.unlabel:
        names, value = ((args.success, True) if args.success else (args.failure, False) if args.failure
                        else (args.unlabel, None))
        return [_apply(args.dir, n, lambda p: review.set_label(p, value, **who),
                       f"labelled {review.label_text(value)}") for n in names]
    if args.instruction:
        if len(args.instruction) < 2:
            raise CollectorError("--instruction takes the text, then one or more episodes")
        text, names = args.instruction[0], args.instruction[1:]
        return [_apply(args.dir, n, lambda p: review.set_instruction(p, text, **who), f"instruction {text!r}")
                for n in names]
    if args.discard:
        return [_apply(args.dir, n, lambda p: review.discard(p, **who), "discarded (data kept)")
                for n in args.discard]
    if args.restore:
        return [_apply(args.dir, n, lambda p: review.restore(p, **who), "restored") for n in args.restore]
    return []


def _apply(root: Path, name: str, change, done: str) -> str:
    # Resolve every name first would be nicer for typos; one by one keeps each change atomic and reported.
    path = review.resolve(root, name)
    change(path)
    return f"{path.name}: {done}"


def run(args) -> int:
    check_operator_id(args.reviewer, what="reviewer")
    if not args.dir.exists():
        raise CollectorError(f"{args.dir}: no such folder")
    if any((args.success, args.failure, args.unlabel, args.instruction, args.discard, args.restore)):
        # Check every name before changing anything, so a typo changes nothing.
        names = (args.success or args.failure or args.unlabel or args.discard or args.restore
                 or (args.instruction or [])[1:])
        for name in names:
            review.resolve(args.dir, name)
        for line in _act(args):
            print(line)
        return 0
    rows = review.list_episodes(args.dir)
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], indent=2, ensure_ascii=False))
        return 0
    _print_table(rows)
    return 0


def _print_table(rows) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} episodes", show_edge=False)
    for column, justify in (("episode", "left"), ("status", "left"), ("task", "left"), ("s", "right"),
                            ("label", "left"), ("operator", "left"), ("health", "left")):
        table.add_column(column, justify=justify)
    styles = {"success": "green", "failure": "red"}
    for row in rows:
        info = row.info
        label = review.label_text(info.success)
        table.add_row(info.episode_id, info.status, info.task or "-", f"{info.duration_s:.1f}",
                      f"[{styles.get(label, 'dim')}]{label}[/]", info.operator or "-",
                      row.health if row.health == "ok" else f"[yellow]{row.health}[/]")
    kept = [r for r in rows if r.info.status == "complete"]
    minutes = sum(r.info.duration_s for r in kept) / 60
    Console().print(table)
    Console().print(f"kept {len(kept)} episodes, {minutes:.1f} min; "
                    f"{sum(1 for r in kept if r.info.success)} labelled success")
