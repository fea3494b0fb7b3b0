"""Build the scripted OpenXR runtime (``scripted_runtime.c``) and point the loader at it.

The runtime is compiled with the machine's ``gcc`` against the OpenXR headers of Debian's
``libopenxr-dev`` (the loader-negotiation structs are declared in the C file itself), into
a directory the caller owns. :func:`runtime_env` returns the two environment variables
that select it: ``XR_RUNTIME_JSON`` (the manifest the real loader reads) and
``PSI_XR_SCRIPT`` (the script the runtime plays back).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).with_name("scripted_runtime.c")
#: Where the headers come from, for the skip/failure message.
HEADER = Path("/usr/include/openxr/openxr.h")
APT_PACKAGES = ("gcc", "libopenxr-dev")


class RuntimeBuildError(RuntimeError):
    """gcc or the OpenXR headers are missing, or the C source does not compile."""


def missing_tools() -> str:
    """Why the runtime cannot be built here ('' if it can)."""
    if shutil.which("gcc") is None:
        return "gcc is not installed (apt-get install -y gcc)"
    if not HEADER.exists():
        return f"{HEADER} is missing (apt-get install -y libopenxr-dev)"
    return ""


def build_runtime(out_dir: Path) -> Path:
    """Compile the runtime into ``out_dir`` and write its manifest; return the manifest path."""
    why = missing_tools()
    if why:
        raise RuntimeBuildError(f"cannot build the scripted OpenXR runtime: {why}")
    out_dir.mkdir(parents=True, exist_ok=True)
    lib = out_dir / "libpsi_scripted_xr.so"
    cmd = ["gcc", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-fvisibility=hidden",
           "-pthread", "-o", str(lib), str(SOURCE), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeBuildError(f"gcc failed ({' '.join(cmd)}):\n{proc.stderr}")
    manifest = out_dir / "psi_scripted_runtime.json"
    manifest.write_text(json.dumps({
        "file_format_version": "1.0.0",
        "runtime": {"name": "psi-teleop scripted runtime", "library_path": str(lib.resolve())},
    }, indent=2))
    return manifest


def runtime_env(manifest: Path, script: Path) -> dict[str, str]:
    """The environment variables that make the OpenXR loader run ``script`` on this runtime."""
    return {"XR_RUNTIME_JSON": str(manifest), "PSI_XR_SCRIPT": str(script)}
