"""Parsing command-line and config spellings into Enums, with errors that list the valid values."""

from __future__ import annotations

import enum
from typing import TypeVar

from teleop.exceptions import ConfigError

E = TypeVar("E", bound=enum.Enum)


def parse_enum(cls: type[E], value: E | str, what: str, error: type[Exception] = ConfigError) -> E:
    """``cls`` member from itself or its value's spelling (case-insensitive, blanks stripped).

    Raises:
        error: ``value`` is not a valid spelling; the message names ``what`` and the valid values.
    """
    if isinstance(value, cls):
        return value
    try:
        return cls(str(value).strip().lower())
    except ValueError:
        valid = ", ".join(str(k.value) for k in cls)
        raise error(f"unknown {what} '{value}'; valid {what.split()[-1]}s: {valid}") from None
