"""DDS transport defaults for recording high-bandwidth streams on one host.

Fast DDS's default shared-memory segment is 512 KB, so every VGA image
(0.6-0.9 MB) goes over UDP loopback instead. Measured here with the Bao'an
rig (4 cameras + ~2,100 small messages/s), that loses fragments, and the
reliable repairs then hold back *every* topic of the participant: receive
times out of order and up to ~1 s late, samples lost from full histories.
With a large segment (``config/fastdds_large_data.xml``, 512 MB: room for
half a second of history of four cameras at several times their rate) the
same load arrives in order within ~4 ms. Publishers need it as much as the
recorder: the segment belongs to the writer. It is a sparse file in
/dev/shm: memory is used only as buffers are touched, but /dev/shm must be
large enough (Docker's default of 64 MB is not).
"""

from __future__ import annotations

import os

from collector.paths import data_path

PROFILE_ENV = "FASTDDS_DEFAULT_PROFILES_FILE"


def transport_profile() -> str:
    """Path of the shipped Fast DDS profile with a large shared-memory segment."""
    return str(data_path("config", "fastdds_large_data.xml"))


def apply_transport_defaults(environ: dict | None = None) -> dict:
    """Point Fast DDS at the shipped profile unless the user chose a profile or another RMW.

    Must run before ``rclpy.init()`` (Fast DDS reads it when the participant
    is created). Mutates and returns ``environ`` (default ``os.environ``).
    """
    env = os.environ if environ is None else environ
    rmw = env.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    if rmw.startswith("rmw_fastrtps") and not env.get(PROFILE_ENV) and not env.get("FASTDDS_BUILTIN_TRANSPORTS"):
        env[PROFILE_ENV] = transport_profile()
    return env
