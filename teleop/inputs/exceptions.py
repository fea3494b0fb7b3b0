"""Errors of the operator input devices.

All derive from :class:`teleop.exceptions.InputDeviceError`; each message says what the
operator does next (start a runtime, pair a tracker, pick another ``--input``).
"""

from __future__ import annotations

from teleop.exceptions import InputDeviceError

#: The sentence every "no device" message ends with, so an operator without a rig always
#: learns how to run anyway.
FALLBACK_HINT = "To run without a headset, use --input scripted."


class RuntimeUnavailableError(InputDeviceError):
    """No device runtime answers (no OpenXR runtime active, no PICO PC service)."""


class MissingExtensionError(InputDeviceError):
    """The runtime lacks an extension the configuration asks for.

    Attributes:
        extension: the missing OpenXR extension name.
        available: the extensions the runtime offers.
    """

    def __init__(self, extension: str, available: tuple[str, ...], message: str):
        self.extension = extension
        self.available = available
        super().__init__(message)


class TrackerRoleMissingError(InputDeviceError):
    """A body part the configuration requires has no tracker assigned to its role.

    Attributes:
        missing: the device role paths (or names) that are not present.
        present: the ones the runtime does report.
    """

    def __init__(self, missing: tuple[str, ...], present: tuple[str, ...], message: str):
        self.missing = missing
        self.present = present
        super().__init__(message)


class SessionLostError(InputDeviceError):
    """The runtime ended the session (or the instance) while it was running."""
