"""Test-wide set-up.

``teleop.robot`` picks MuJoCo's headless OpenGL backend (EGL) when there is no display; it
must run before any test module imports ``mujoco``, which fixes the backend at import.
"""

import teleop.robot  # noqa: F401
