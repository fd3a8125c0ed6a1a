"""Import mujoco before anything else in robo_meta.envs (see ``_import_mujoco``)."""

from __future__ import annotations

import os


def _import_mujoco() -> None:
    """Import mujoco even where ``MUJOCO_GL`` names a backend this machine cannot load.

    MuJoCo loads its GL backend when first imported, so a bad ``MUJOCO_GL`` would break every
    robo_meta command at import time. Simulation needs no GL: import with GL disabled, then
    restore the variable, so only rendering (``robo-meta demo``) reports the problem, in one
    line.
    """
    try:
        import mujoco  # noqa: F401
    except Exception:
        backend = os.environ.get("MUJOCO_GL")
        if backend is None:
            raise
        os.environ["MUJOCO_GL"] = "disable"
        try:
            import mujoco  # noqa: F401
        finally:
            os.environ["MUJOCO_GL"] = backend


_import_mujoco()
