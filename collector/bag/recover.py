"""Make a bag whose writer died mid-write (SIGKILL, power loss, full disk) complete again.

Such a bag has an MCAP file without summary and footer, maybe a cut last chunk, and no
``metadata.yaml``. :func:`recover_bag` looks at each ``.mcap`` file of the directory
in name order: a file that ends in the MCAP magic, has summary statistics and reads
whole (:class:`~collector.bag.reader.McapFile`) is complete and left alone; every other
file is rebuilt by :class:`~collector.bag.salvage.Salvager` from its complete records
into a new file under a temporary name. Only when every file has been read are the originals
kept as ``<file>.orig`` (recorded data is never deleted), the rebuilt files moved into
place and a new ``metadata.yaml`` written from the counts of all files (an existing
one is kept as ``metadata.yaml.orig``). A bag whose files are all complete and whose
``metadata.yaml`` lists exactly those files is not changed at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from collector.bag.mcap_records import MAGIC
from collector.bag.metadata import (
    METADATA_FILENAME,
    BagMetadata,
    FileRecord,
    TopicRecord,
    parse_qos_profiles,
    read_metadata,
    write_metadata,
)
from collector.bag.reader import McapFile, natural_key
from collector.bag.salvage import FileStats, Salvager
from collector.errors import BagError
from collector.fs import fsync_dir

ORIG_SUFFIX = ".orig"


@dataclass(frozen=True, kw_only=True)
class FileRecovery:
    """What happened to one MCAP file of the bag.

    Attributes:
        path: the MCAP file (after recovery: the rebuilt, complete file).
        original: where the original bytes were kept (``<file>.orig``); None if untouched.
        complete: the file was complete already and was left alone.
        messages: messages in the file after recovery.
        chunks_kept: complete chunks salvaged.
        chunks_damaged: framed chunks skipped because their CRC or content was bad.
        orphan_messages: messages dropped because their channel record was lost.
        tail_bytes_dropped: bytes from the first unreadable record to the end of file.
    """

    path: Path
    original: Path | None
    complete: bool
    messages: int
    chunks_kept: int = 0
    chunks_damaged: int = 0
    orphan_messages: int = 0
    tail_bytes_dropped: int = 0


@dataclass(frozen=True, kw_only=True)
class RecoverResult:
    """Outcome of :func:`recover_bag`.

    Attributes:
        path: the bag directory.
        already_complete: nothing needed doing; nothing was changed.
        metadata_written: a new ``metadata.yaml`` was written.
        files: per MCAP file details.
        topic_counts: messages per topic in the bag after recovery.
        messages_recovered: messages salvaged from incomplete files.
        tail_bytes_dropped: bytes of cut / unreadable tails dropped, over all files.
    """

    path: Path
    already_complete: bool
    metadata_written: bool
    files: list[FileRecovery] = field(default_factory=list)
    topic_counts: dict[str, int] = field(default_factory=dict)
    messages_recovered: int = 0
    tail_bytes_dropped: int = 0

    @property
    def message_count(self) -> int:
        """Messages in the bag after recovery."""
        return sum(self.topic_counts.values())

    def describe(self) -> str:
        """One short human-readable report (what ``collector recover`` prints)."""
        if self.already_complete:
            return f"{self.path}: bag is complete already ({self.message_count} messages); nothing changed"
        lines = [f"{self.path}: {self.message_count} messages in the bag after recovery"]
        for item in self.files:
            if item.complete:
                lines.append(f"  {item.path.name}: complete, left unchanged ({item.messages} messages)")
                continue
            lines.append(
                f"  {item.path.name}: recovered {item.messages} messages from {item.chunks_kept} chunks; "
                f"dropped {item.tail_bytes_dropped} tail bytes, {item.chunks_damaged} damaged chunks, "
                f"{item.orphan_messages} orphan messages; "
                f"original kept as {item.original.name if item.original else '-'}"
            )
        if self.metadata_written:
            lines.append(f"  wrote {METADATA_FILENAME}")
        return "\n".join(lines)



def _complete_stats(path: Path) -> FileStats | None:
    """Stats of a complete, indexed MCAP file that reads whole; None otherwise.

    A file with an intact summary can still hold a damaged chunk or attachment, which
    the reader refuses, suggesting ``collector recover``: such a file is rebuilt.
    """
    try:
        with open(path, "rb") as stream:
            stream.seek(-8, os.SEEK_END)
            if stream.read(8) != MAGIC:
                return None
    except OSError:  # shorter than 8 bytes, unreadable
        return None
    try:
        file = McapFile(path)
        try:
            file.check()
        finally:
            file.close()
    except BagError:  # damaged or cut: not complete
        return None
    summary = file.summary
    if summary.statistics is None:
        return None
    stats = FileStats()
    for channel in summary.channels.values():
        schema = summary.schemas.get(channel.schema_id)
        stats.topics.setdefault(channel.topic, (schema.name if schema else "", dict(channel.metadata)))
        stats.counts.setdefault(channel.topic, 0)
    for channel_id, count in summary.statistics.channel_message_counts.items():
        channel = summary.channels.get(channel_id)
        if channel is not None:
            stats.counts[channel.topic] = stats.counts.get(channel.topic, 0) + count
    if summary.statistics.message_count:
        stats.start_ns = summary.statistics.message_start_time
        stats.end_ns = summary.statistics.message_end_time
    return stats


def _metadata_fits(bag_dir: Path, mcaps: list[Path]) -> bool:
    """Whether ``metadata.yaml`` reads and lists exactly the bag's MCAP files."""
    try:
        metadata = read_metadata(bag_dir)
    except BagError:
        return False
    listed = sorted(Path(name).name for name in metadata.relative_file_paths)
    return metadata.storage_identifier == "mcap" and listed == sorted(p.name for p in mcaps)


def _bag_metadata(files: list[tuple[Path, FileStats]]) -> BagMetadata:
    topics: dict[str, tuple[str, dict[str, str]]] = {}
    counts: dict[str, int] = {}
    for _path, stats in files:
        for topic, info in stats.topics.items():
            topics.setdefault(topic, info)
        for topic, count in stats.counts.items():
            counts[topic] = counts.get(topic, 0) + count
    records = []
    for topic, (msgtype, channel_meta) in topics.items():
        try:
            qos = parse_qos_profiles(channel_meta.get("offered_qos_profiles"))
        except BagError:
            qos = []
        records.append(TopicRecord(
            name=topic, msgtype=msgtype, message_count=counts.get(topic, 0), offered_qos_profiles=qos,
            type_description_hash=channel_meta.get("topic_type_hash", ""),
        ))
    starts = [s.start_ns for _, s in files if s.start_ns is not None]
    ends = [s.end_ns for _, s in files if s.end_ns is not None]
    start = min(starts) if starts else 0
    return BagMetadata(
        starting_time_ns=start,
        duration_ns=(max(ends) - start) if ends else 0,
        message_count=sum(counts.values()),
        topics=records,
        relative_file_paths=[p.name for p, _ in files],
        files=[
            FileRecord(
                path=p.name,
                starting_time_ns=s.start_ns or 0,
                duration_ns=(s.end_ns - s.start_ns) if s.start_ns is not None else 0,
                message_count=s.message_count,
            )
            for p, s in files
        ],
        ros_distro=os.environ.get("ROS_DISTRO", ""),
    )


def recover_bag(path: Path) -> RecoverResult:
    """Make the bag directory ``path`` complete again after its writer was killed.

    Incomplete MCAP files are rebuilt from their complete records (originals kept as
    ``<file>.orig``); complete files are left alone; ``metadata.yaml`` is written (an
    existing one is kept as ``metadata.yaml.orig``). A bag that is complete already (and
    whose ``metadata.yaml`` reads and lists exactly its MCAP files) is not changed at all.

    Raises:
        BagError: ``path`` is not a bag directory (no ``.mcap`` files), an MCAP file has
            no readable MCAP header, a ``.orig`` file to be created exists already, or
            the chunk compression is unsupported.
    """
    bag_dir = Path(path)
    if not bag_dir.is_dir():
        raise BagError(f"{bag_dir} is not a bag directory" if bag_dir.exists() else f"{bag_dir} does not exist")
    mcaps = sorted(bag_dir.glob("*.mcap"), key=natural_key)
    if not mcaps:
        raise BagError(f"{bag_dir} holds no .mcap files: not a bag directory")
    metadata_path = bag_dir / METADATA_FILENAME
    complete = {p: _complete_stats(p) for p in mcaps}
    broken = [p for p in mcaps if complete[p] is None]
    if not broken and metadata_path.exists() and _metadata_fits(bag_dir, mcaps):
        stats_list = [(p, complete[p]) for p in mcaps]
        return RecoverResult(
            path=bag_dir, already_complete=True, metadata_written=False,
            files=[FileRecovery(path=p, original=None, complete=True, messages=s.message_count) for p, s in stats_list],
            topic_counts=_bag_metadata(stats_list).topic_counts(),
        )
    for p in broken:
        orig = p.with_name(p.name + ORIG_SUFFIX)
        if orig.exists():
            raise BagError(f"{orig} exists already, not overwriting; move it away to recover {p.name}")
    metadata_orig = metadata_path.with_name(METADATA_FILENAME + ORIG_SUFFIX)
    if metadata_path.exists() and metadata_orig.exists():
        raise BagError(f"{metadata_orig} exists already, not overwriting")

    salvagers: dict[Path, Salvager] = {}
    try:
        for p in broken:
            salvager = Salvager(p)
            salvagers[p] = salvager
            salvager.scan()
        stats_list = [(p, complete[p] or salvagers[p].stats) for p in mcaps]
        metadata = _bag_metadata(stats_list)
        for salvager in salvagers.values():
            salvager.finish(metadata.serialized())
    except BaseException:
        for salvager in salvagers.values():
            salvager.abort()
        raise

    files = []
    for p in mcaps:
        salvager = salvagers.get(p)
        if salvager is None:
            files.append(FileRecovery(path=p, original=None, complete=True, messages=complete[p].message_count))
            continue
        orig = p.with_name(p.name + ORIG_SUFFIX)
        os.rename(p, orig)
        os.replace(salvager.tmp_path, p)
        files.append(FileRecovery(
            path=p, original=orig, complete=False, messages=salvager.messages,
            chunks_kept=salvager.chunks_kept, chunks_damaged=salvager.chunks_damaged,
            orphan_messages=salvager.orphans, tail_bytes_dropped=salvager.tail_dropped,
        ))
    if metadata_path.exists():
        os.rename(metadata_path, metadata_orig)
    fsync_dir(bag_dir)
    write_metadata(bag_dir, metadata)
    return RecoverResult(
        path=bag_dir,
        already_complete=False,
        metadata_written=True,
        files=files,
        topic_counts=metadata.topic_counts(),
        messages_recovered=sum(s.messages for s in salvagers.values()),
        tail_bytes_dropped=sum(s.tail_dropped for s in salvagers.values()),
    )
