"""Fixtures of the UI tests: a synthetic dataset, a scripted session, a live server on a free port.

Qt runs offscreen (no display needed); screenshots go to tests/_artifacts/ui/.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from tests.ui.synthetic import ScriptedSession, write_dataset  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[1] / "_artifacts" / "ui"


@pytest.fixture(autouse=True)
def _quiet_vlen_dtype_warning():
    """pytest resets warning filters per test; re-apply the recorder's one deliberate filter."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"The data type \(VariableLengthBytes\(\)\) does not have a Zarr V3")
        yield


@pytest.fixture(scope="session")
def dataset_template(tmp_path_factory) -> Path:
    """A 6-episode dataset written once per test run (copy it before changing it)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"The data type \(VariableLengthBytes\(\)\)")
        return write_dataset(tmp_path_factory.mktemp("template") / "ds", episodes=6, rows=90)


@pytest.fixture
def dataset(dataset_template, tmp_path) -> Path:
    """A private copy of the template dataset."""
    import shutil

    return Path(shutil.copytree(dataset_template, tmp_path / "ds"))


@pytest.fixture
def session() -> ScriptedSession:
    return ScriptedSession()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
