"""Start `psi-teleop sim --dds` as a separate process for the cross-process DDS tests and benchmark."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

#: DDS domain and interface of the test simulator (a real G1 uses domain 0).
DOMAIN = 1
INTERFACE = "lo"


def start_sim(log_path: Path, extra: tuple[str, ...] = ()) -> subprocess.Popen:
    """Launch the DDS simulator; its output goes to ``log_path`` (read it when a test fails)."""
    log = open(log_path, "wb")  # noqa: SIM115 - handed to the child, closed by the OS with it
    return subprocess.Popen(
        [sys.executable, "-m", "teleop.cli", "sim", "--dds", "--domain", str(DOMAIN), "--interface", INTERFACE, *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def stop_sim(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Ask the simulator to stop (SIGTERM), kill it if it does not within ``timeout`` [s]."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
