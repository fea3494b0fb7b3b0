"""The calibration profiles on disk, as the server and the console list and select them.

Profiles are files ``<name>.json`` (what ``calibration.CalibrationProfile.save`` writes) or
``<name>.yaml`` / ``<name>.yml`` (the same fields, hand-written) in one directory. Listing
validates each file with :class:`calibration.CalibrationProfile`, so the operator sees a
broken profile and why before selecting it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ui.exceptions import ProfileNotFoundError

#: File suffixes a profile may have, in the order a name is looked up.
PROFILE_SUFFIXES = (".json", ".yaml", ".yml")


@dataclass(frozen=True)
class ProfileInfo:
    """One profile file.

    Attributes:
        name: the file stem, what :meth:`SessionControl.select_calibration` takes.
        path: the file.
        valid: the file parses and passes ``CalibrationProfile`` validation.
        error: why it is not valid ("" when it is).
        modified: file modification time, seconds since the epoch [s].
    """

    name: str
    path: Path
    valid: bool
    error: str
    modified: float  # [s] since the epoch


def _load(path: Path) -> dict:
    text = path.read_text()
    if path.suffix == ".json":
        return json.loads(text)
    import yaml

    return yaml.safe_load(text)


def check_profile(path: Path) -> str:
    """Why the profile at ``path`` is unusable, or "" if it loads and validates."""
    from calibration import CalibrationError, CalibrationProfile

    try:
        data = _load(path)
    except Exception as exc:  # noqa: BLE001 - JSON/YAML parse errors of many kinds
        return f"cannot parse {path.name}: {exc}"
    if not isinstance(data, dict):
        return f"{path.name} must hold a mapping of profile fields, found {type(data).__name__}"
    try:
        CalibrationProfile.from_dict(data)
    except CalibrationError as exc:
        return str(exc)
    return ""


class ProfileDirectory:
    """The calibration profiles in ``directory`` (which may not exist yet: then none)."""

    def __init__(self, directory: str | os.PathLike[str]):
        self.directory = Path(directory).expanduser()

    def list(self) -> list[ProfileInfo]:
        """Every profile file, sorted by name (a name present with two suffixes is listed once)."""
        if not self.directory.is_dir():
            return []
        seen: dict[str, ProfileInfo] = {}
        for suffix in PROFILE_SUFFIXES:
            for path in sorted(self.directory.glob(f"*{suffix}")):
                if path.stem in seen or not path.is_file():
                    continue
                error = check_profile(path)
                seen[path.stem] = ProfileInfo(path.stem, path, not error, error, path.stat().st_mtime)
        return [seen[k] for k in sorted(seen)]

    def names(self) -> list[str]:
        return [p.name for p in self.list()]

    def load(self, name: str):
        """The :class:`calibration.CalibrationProfile` called ``name`` (JSON or YAML).

        Raises:
            ProfileNotFoundError: no such file. calibration.CalibrationError: it does not validate.
        """
        from calibration import CalibrationError, CalibrationProfile

        info = self.find(name)
        if not info.valid:
            raise CalibrationError(f"calibration profile '{name}' is not usable: {info.error}")
        return CalibrationProfile.from_dict(_load(info.path))

    def find(self, name: str) -> ProfileInfo:
        """The profile called ``name``.

        Raises:
            ProfileNotFoundError: no such file (the message lists the profiles there).
        """
        for info in self.list():
            if info.name == name:
                return info
        names = ", ".join(self.names()) or "none"
        raise ProfileNotFoundError(
            f"no calibration profile '{name}' in {self.directory}; profiles: {names}. "
            "Make one with `psi-teleop calibrate --name NAME`"
        )
