"""Many lock-step episodes: seeds ``seed .. seed + N - 1``, here or in worker processes.

Each worker builds its own MuJoCo world (and EGL context); episodes are independent,
so the result does not depend on the number of workers. Progress: a bar over the
episodes (and the sim seconds of the one in work when single-process).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from collector.sim.collect import SimEpisode, collect_episode
from collector.sim.errors import SimError


def _one(job: tuple) -> SimEpisode:
    station, task, out, seed, camera_size, language, start_ns = job
    return collect_episode(station, task, out=Path(out), seed=seed, camera_size=camera_size, language=language,
                           start_ns=start_ns)


def collect_episodes(station: str, task: str, *, episodes: int, out: Path, seed: int = 0, workers: int = 1,
                     camera_size: tuple[int, int] | None = None, language: str = "en",
                     start_ns: int | None = None, show_progress: bool = True) -> list[SimEpisode]:
    """Collect ``episodes`` episodes of ``task`` into ``out`` (see the module doc).

    ``start_ns``: the first episode's stamp origin; episode ``i`` starts 1 h after
    episode ``i - 1`` (fixed given ``start_ns``, so collections are reproducible).

    Raises:
        SimError: bad arguments, an unknown station or task (checked before any work).
    """
    from collector.sim.catalog import load_station

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SimError(f"workers={workers!r} is not a positive integer")
    load_station(station).task(task)  # fail before starting processes
    import time

    origin = time.time_ns() if start_ns is None else int(start_ns)
    jobs = [(station, task, str(out), seed + i, camera_size, language, origin + i * 3_600_000_000_000)
            for i in range(episodes)]
    from rich.progress import Progress

    results: list[SimEpisode] = []
    with Progress(disable=not show_progress, transient=False) as progress:
        bar = progress.add_task(f"{station}/{task}", total=episodes)
        if workers == 1 or episodes == 1:
            for job in jobs:
                results.append(_one(job))
                progress.advance(bar)
        else:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                for result in pool.map(_one, jobs):
                    results.append(result)
                    progress.advance(bar)
    return results
