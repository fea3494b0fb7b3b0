"""The integration tests reuse the scripted OpenXR runtime fixtures of the input tests."""

from tests.inputs.conftest import xr_manifest, xr_script  # noqa: F401  (pytest fixtures)
