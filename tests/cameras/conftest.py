"""Fixtures of the camera tests: the scripted OpenXR runtime (with swapchains) and its frame dump."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# The headset view renders through EGL; PyOpenGL picks its platform at first import.
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("MUJOCO_GL", "egl")

from tests.inputs.conftest import _release_runtime, xr_manifest  # noqa: F401  (fixture re-used)
from tests.inputs.xr_runtime.build import runtime_env


@pytest.fixture
def xr_view_runtime(xr_manifest: Path, tmp_path: Path,  # noqa: F811
                    monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Path]]:
    """``xr_view_runtime(script_text)`` points the loader at the runtime; returns the frame-dump path."""

    def use(text: str) -> Path:
        script = tmp_path / "script.txt"
        script.write_text(text)
        for key, value in runtime_env(xr_manifest, script).items():
            monkeypatch.setenv(key, value)
        dump = tmp_path / "submitted.ppm"
        monkeypatch.setenv("PSI_XR_FRAME_DUMP", str(dump))
        return dump

    yield use
    _release_runtime()


def read_ppm(path: Path):
    """(H, W, 3) uint8 of a binary PPM (P6, maxval 255) as the scripted runtime writes it."""
    import numpy as np

    data = path.read_bytes()
    parts = data.split(b"\n", 3)
    if parts[0] != b"P6" or parts[2] != b"255":
        raise ValueError(f"{path} is not a P6 PPM with maxval 255")
    w, h = (int(v) for v in parts[1].split())
    return np.frombuffer(parts[3], dtype=np.uint8, count=w * h * 3).reshape(h, w, 3)


def read_meta(path: Path) -> dict[str, list[str]]:
    """The runtime's sidecar (``submitted.ppm.txt``): key -> the values on its line."""
    out = {}
    for line in Path(f"{path}.txt").read_text().splitlines():
        key, *values = line.split()
        out[key] = values
    return out
