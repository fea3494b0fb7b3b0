"""Robot backends: the G1 + Dex3-1 embodiment, the MuJoCo simulation, the DDS link, lower-body controllers."""

import os as _os

# MuJoCo picks its OpenGL backend when it is first imported: on a machine without a display,
# render offscreen through EGL (Mesa renders on the CPU) unless the user chose otherwise.
if not _os.environ.get("DISPLAY") and not _os.environ.get("WAYLAND_DISPLAY"):
    _os.environ.setdefault("MUJOCO_GL", "egl")
