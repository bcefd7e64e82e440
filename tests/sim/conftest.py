"""MuJoCo renders offscreen through EGL here (GLFW needs a display, OSMesa is absent).
The backend is chosen when mujoco is first imported, so set it before any test imports it."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
