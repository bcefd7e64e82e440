"""The ``collector`` command: thin verbs over the library.

Each verb lives in ``collector/commands/<verb>.py`` and provides ``add_parser``
and ``run(args) -> int``; adding a verb is one module plus one line in
:data:`COMMANDS`. :class:`~collector.errors.CollectorError` and :class:`OSError`
(a path that is a file, a folder without write permission, a full disk: the
machine's faults, not ours) are caught here and printed as one ``error: ...``
line with exit code 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from collector import __version__
from collector.errors import CollectorError

COMMANDS = {
    "record": "collector.commands.record",
    "inspect": "collector.commands.inspect",
    "recover": "collector.commands.recover",
    "export": "collector.commands.export",
    "validate": "collector.commands.validate",
    "sim": "collector.commands.sim",
    "up": "collector.commands.up",
    "review": "collector.commands.review",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="collector",
        description="Record, inspect, recover and export humanoid-robot demonstration episodes.",
    )
    parser.add_argument("--version", action="version", version=f"collector {__version__}")
    verbs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = module.add_parser(verbs, name)
        sub.set_defaults(run=module.run)
    return parser


def os_error(err: OSError) -> str:
    """``path: reason`` for an OSError (both paths for a rename), one line."""
    paths = [str(p) for p in (err.filename, err.filename2) if p is not None]
    reason = err.strerror or str(err)
    return f"{' -> '.join(paths)}: {reason}" if paths else reason


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except CollectorError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"error: {os_error(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
