"""Recover an episode after a crash: rebuild the bag, then bring episode.json up to date."""

from __future__ import annotations

from pathlib import Path

from collector.bag.inspect import header_stamp_ns
from collector.bag.msgdef import definition_has_header
from collector.bag.reader import open_bag
from collector.bag.recover import RecoverResult, recover_bag
from collector.episode import EPISODE_FILE, read_episode_info, write_episode_info
from collector.errors import EpisodeError


def recover_episode(path: Path) -> RecoverResult:
    """Make the episode at ``path`` a valid bag again and mark it ``recovered``.

    The bag is rebuilt by :func:`collector.bag.recover.recover_bag` (the
    original MCAP is kept as ``*.orig``). When ``episode.json`` exists and the
    episode had not ended cleanly, its per-stream counts and stop time are
    recomputed from what the bag now holds.

    Raises:
        BagError: the directory holds no readable bag.
        EpisodeError: episode.json exists but is unreadable.
    """
    path = Path(path)
    result = recover_bag(path)
    if not (path / EPISODE_FILE).is_file():
        return result
    info = read_episode_info(path)
    if info.status not in ("recording", "interrupted") and result.already_complete:
        return result
    counts: dict[str, int] = {}
    last_ns = info.start_ns
    with open_bag(path) as bag:
        by_topic = {stats.topic: stats for stats in info.streams.values()}
        stamped = {t.name: definition_has_header(t.msgdef) for t in bag.topics}
        for stats in by_topic.values():
            stats.count = 0
            stats.bytes = 0
            stats.first_receive_ns = stats.last_receive_ns = None
            stats.largest_gap_ns = stats.gaps = stats.missing = 0
            stats.last_time_ns = None
        for message in bag.messages():
            stats = by_topic.get(message.topic)
            if stats is not None:
                stamp = header_stamp_ns(message.data) if stamped.get(message.topic) else None
                stats.add(message.log_time_ns, len(message.data), stamp)
            counts[message.topic] = counts.get(message.topic, 0) + 1
            last_ns = max(last_ns, message.log_time_ns)
    if info.stop_ns is None:
        info.stop_ns = last_ns
    info.status = "recovered"
    info.end_reason = "recovered"
    info.notes.append(f"recovered by collector recover: {result.message_count} messages kept")
    try:
        write_episode_info(path, info)
    except OSError as err:
        raise EpisodeError(f"{path / EPISODE_FILE}: cannot update ({err})") from err
    return result
