"""Which optional streams an export writes: decided once, before any episode is prepared.

An optional stream (``required: false`` in the rig, outside the state and action) that
published nothing in an episode, as an IMU that was not plugged in, is written there
as zeros with its validity column ``time.<stream>.valid`` false
(:mod:`collector.export.features`). A stream that published nothing in *any* episode
of the export is left out of the dataset, with a warning. Appending, the dataset
decides: a stream it has features for keeps them (zeros and validity false where the
new episodes lack it); one it has none for stays out, with a warning when a new
episode has it.

Whether an episode has a stream comes from its ``episode.json`` message counts (the
recorder's, recounted by ``collector recover``), so no bag is opened here: a stream it
does not list was not recorded. An ``episode.json`` that counts no stream at all (an
episode another tool wrote) has every stream: sync then finds what is there, and an
episode without messages gets zeros all the same.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

from collector.episode import EpisodeInfo
from collector.export.features import FeaturePlan, feature_plan, optional_streams
from collector.rig import Rig


def published(info: EpisodeInfo, stream: str) -> bool:
    """Whether ``stream`` has a message in the episode of ``info`` (see the module doc)."""
    if not info.streams:
        return True
    stats = info.streams.get(stream)
    return stats is not None and stats.count > 0


def plan_streams(rig: Rig, infos: Sequence[EpisodeInfo], *, streams: Iterable[str] | None = None,
                 existing: Collection[str] | None = None, out: Path | str = "the dataset"
                 ) -> tuple[FeaturePlan, list[str]]:
    """The feature plan of an export of the episodes of ``infos``, and one warning line
    per optional stream it leaves out (see the module doc).

    Args:
        rig: the rig profile of the episodes.
        infos: the episodes' ``episode.json``.
        streams: only these rig streams (default all).
        existing: the feature keys of the dataset appended to (None: a new dataset).
        out: the dataset, as the warnings name it.

    Raises:
        RigError: ``streams`` names a stream the rig does not have.
        ExportError: two features would get the same key.
    """
    full = feature_plan(rig, streams=streams)
    leave_out, warnings = [], []
    for name in optional_streams(rig):
        keys = [f.key for f in full if f.streams == (name,)]
        if not keys:
            continue  # not among ``streams``
        having = sum(published(info, name) for info in infos)
        if existing is not None and not set(existing) & set(keys):
            leave_out.append(name)
            if having:
                warnings.append(f"stream {name!r}: {out} has no features for it, so what it recorded in {having} of "
                                f"{len(infos)} episode(s) is left out (export into a new folder to keep it)")
        elif existing is None and not having:
            leave_out.append(name)
            warnings.append(f"stream {name!r} published nothing in any of the {len(infos)} episode(s): its "
                            f"features are left out of {out} ({', '.join(keys)})")
    return feature_plan(rig, streams=streams, leave_out=leave_out), warnings
