"""Where calibration profiles live on disk, and listing / loading / saving them by name.

The directory is, in order: an explicit ``directory`` argument (the CLI's ``--profiles
DIR``), the environment variable ``PSI_TELEOP_CALIBRATION_DIR``, or
``~/.config/psi-teleop/calibration``. A profile is ``<dir>/<name>.json``; saving over an
existing profile first moves the old file to ``<dir>/history/<name>-<created>.json`` so an
earlier calibration is never lost silently.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from calibration.exceptions import CalibrationError
from calibration.profile import CalibrationProfile

#: Environment variable overriding the profile directory.
ENV_DIR = "PSI_TELEOP_CALIBRATION_DIR"
#: Default profile directory.
DEFAULT_DIR = Path("~/.config/psi-teleop/calibration")


def profiles_dir(directory: Path | str | None = None) -> Path:
    """The profile directory to use (see the module docstring); not created here."""
    if directory is not None:
        return Path(directory).expanduser()
    env = os.environ.get(ENV_DIR, "").strip()
    return Path(env).expanduser() if env else DEFAULT_DIR.expanduser()


@dataclass(frozen=True)
class ProfileEntry:
    """One file in the profile directory, as ``psi-teleop calibrate --list`` shows it.

    Attributes:
        name: profile name (file stem).
        path: the file.
        profile: the loaded profile, or ``None`` if it did not validate.
        error: why it did not validate (empty if it did).
    """

    name: str
    path: Path
    profile: CalibrationProfile | None
    error: str = ""


def list_profiles(directory: Path | str | None = None) -> list[ProfileEntry]:
    """Every ``*.json`` profile in the directory, sorted by name; invalid files are listed with their error."""
    d = profiles_dir(directory)
    if not d.is_dir():
        return []
    out = []
    for path in sorted(d.glob("*.json")):
        try:
            out.append(ProfileEntry(path.stem, path, CalibrationProfile.load(path)))
        except CalibrationError as exc:
            out.append(ProfileEntry(path.stem, path, None, str(exc)))
    return out


def load_profile(name: str, directory: Path | str | None = None) -> CalibrationProfile:
    """Load the profile ``name`` (a name in the directory, or a path to a ``.json`` file)."""
    candidate = Path(name).expanduser()
    if candidate.suffix == ".json" and candidate.is_file():
        return CalibrationProfile.load(candidate)
    d = profiles_dir(directory)
    path = d / f"{name}.json"
    if not path.is_file():
        known = ", ".join(e.name for e in list_profiles(d)) or "none"
        raise CalibrationError(
            f"no calibration profile '{name}' in {d} (profiles there: {known}); run "
            f"`psi-teleop calibrate --name {name}` or pass --profiles DIR"
        )
    return CalibrationProfile.load(path)


def save_profile(profile: CalibrationProfile, directory: Path | str | None = None) -> Path:
    """Save ``profile`` as ``<dir>/<name>.json``, moving an existing one to ``history/`` first."""
    d = profiles_dir(directory)
    path = d / f"{profile.name}.json"
    if path.is_file():
        try:
            old_created = json.loads(path.read_text()).get("created", "") or "undated"
        except (OSError, json.JSONDecodeError):
            old_created = "unreadable"
        stamp = "".join(c if c.isalnum() else "-" for c in str(old_created))
        hist = d / "history"
        hist.mkdir(parents=True, exist_ok=True)
        target = hist / f"{profile.name}-{stamp}.json"
        k = 1
        while target.exists():
            target = hist / f"{profile.name}-{stamp}-{k}.json"
            k += 1
        path.replace(target)
    return profile.save(d)
