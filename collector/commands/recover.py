"""``collector recover EPISODE_DIR``: rebuild a bag cut short by a crash or kill -9."""

from __future__ import annotations

from pathlib import Path

from collector.capture.recovery import recover_episode


def add_parser(verbs, name: str):
    parser = verbs.add_parser(
        name,
        help="rebuild index and metadata.yaml of an episode after a crash",
        description="Rebuild a valid rosbag2 bag (MCAP index, metadata.yaml) from an episode whose "
        "recorder was killed, keeping every message up to the last complete chunk. The original "
        "MCAP file is kept beside it as *.orig; nothing is deleted.",
    )
    parser.add_argument("episode", type=Path, help="episode (bag) directory")
    return parser


def run(args) -> int:
    result = recover_episode(args.episode)
    print(result.describe())
    return 0
