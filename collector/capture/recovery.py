"""Recover an episode after a crash: rebuild the bag, then bring episode.json up to date."""

from __future__ import annotations

from pathlib import Path

from collector.bag.msgdef import definition_has_header
from collector.bag.reader import open_bag
from collector.bag.recover import RecoverResult, recover_bag
from collector.cdr.header import header_stamp_ns
from collector.episode import EPISODE_FILE, StreamStats, read_episode_info, stored_rig, write_episode_info
from collector.errors import EpisodeError, RigError


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
    last_ns = info.start_ns
    with open_bag(path) as bag:
        stamped = {t.name: definition_has_header(t.msgdef) for t in bag.topics}
        try:
            rig = stored_rig(bag, path)
        except RigError:  # unreadable: recount all the same, without latency
            rig = None
        # Recount from what the bag now holds (with the latency of header-clock streams, as the
        # recorder measures it); transport drops cannot be recounted, keep them.
        by_topic = {}
        for name, old in info.streams.items():
            stream = next((s for s in rig.streams if s.name == name and s.topic == old.topic), None) if rig else None
            fresh = (StreamStats.for_stream(stream, rig.sync) if stream is not None else
                     StreamStats(topic=old.topic, type=old.type, role=old.role, nominal_rate_hz=old.nominal_rate_hz))
            fresh.drops = old.drops
            info.streams[name] = by_topic[old.topic] = fresh
        for message in bag.messages():
            stats = by_topic.get(message.topic)
            if stats is not None:
                stamp = header_stamp_ns(message.data) if stamped.get(message.topic) else None
                stats.add(message.log_time_ns, len(message.data), stamp)
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

