"""Fixtures for the input tests: the scripted OpenXR runtime, built once per session."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.inputs.xr_runtime.build import build_runtime, missing_tools, runtime_env


@pytest.fixture(scope="session")
def xr_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The manifest of the freshly compiled scripted runtime."""
    pytest.importorskip("xr", reason="pyopenxr (extra 'openxr') is not installed")
    why = missing_tools()
    if why:
        pytest.skip(f"scripted OpenXR runtime cannot be built: {why}")
    return build_runtime(tmp_path_factory.mktemp("xr_runtime"))


@pytest.fixture
def xr_script(xr_manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Path]]:
    """``xr_script(text)`` writes a runtime script and points the OpenXR loader at it."""

    def use(text: str) -> Path:
        script = tmp_path / "script.txt"
        script.write_text(text)
        for key, value in runtime_env(xr_manifest, script).items():
            monkeypatch.setenv(key, value)
        return script

    yield use
    _release_runtime()


def _release_runtime() -> None:
    """Make the loader unload the runtime, so the next test's script is read afresh.

    The OpenXR loader keeps a runtime loaded, with the extension list it reported cached,
    from the first ``xrEnumerateInstanceExtensionProperties`` until an instance is destroyed;
    a test whose start fails before creating an instance would leave that state behind.
    """
    import xr

    try:
        xr.destroy_instance(xr.create_instance(xr.InstanceCreateInfo()))
    except xr.XrException:
        pass
