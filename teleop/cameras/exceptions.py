"""Exceptions of the camera sources and the headset view (all derive from PsiTeleopError)."""

from __future__ import annotations

from teleop.exceptions import PsiTeleopError


class CameraError(PsiTeleopError):
    """A camera cannot be opened or configured; the message names the camera and the fix."""


class CameraNotFoundError(CameraError):
    """The configured device (index, serial, host) is not there."""


class HeadsetViewError(PsiTeleopError):
    """The headset view cannot render or submit frames (no EGL, no swapchain, no passthrough)."""
