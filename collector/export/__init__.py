"""Export synchronised episodes to training datasets (LeRobot v3.0, HDF5 ALOHA/ACT, ...).

Export consumes :class:`collector.sync.SyncResult` and never reaches into sync's
internals. One mapping from a rig and a sync result to named per-frame features
(:mod:`collector.export.features`) is shared by every format; images stream from the
bag frame by frame (:mod:`collector.export.frames`); formats implement one writer
interface (:mod:`collector.export.base`: ``prepare_part`` anywhere, ``commit`` on the
writer) and are found by name, writer and validator, in one registry
(:mod:`collector.export.registry`): ``lerobot`` (:mod:`collector.export.lerobot`) and
``hdf5`` (:mod:`collector.export.hdf5`, :mod:`collector.export.hdf5_validate`).
:func:`collector.export.run.export_episodes` is what ``collector export`` runs (sync,
workers or Ray, in-order commits); :func:`collector.export.validate.validate_dataset`
is ``collector validate``. By hand::

    from collector.export.registry import get_writer
    from collector.export.features import feature_plan
    from collector.sync import synchronize, episode_rig
    from collector.episode import read_episode_info

    rig = episode_rig(episode)
    with get_writer("hdf5")(out, plan=feature_plan(rig), fps=rig.fps, options={}) as writer:
        writer.add_episode(episode, synchronize(episode), read_episode_info(episode))

Heavy libraries (h5py, PIL, PyAV) are imported by the writer that needs them, when used.
"""
