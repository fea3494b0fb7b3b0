"""``kill -9`` trials: a child process records episodes at real-time pace until it is killed.

    python -m tests.recorder.crash_child DATASET PROGRESS_FILE SEED     # the child (runs until killed)

:func:`run_kill_trials` starts the child (the "teleop process"; it starts the recorder's
writer process), kills at a random moment, in turn: the teleop process, the writer
process, or both at once, with SIGKILL; and repeats. Then it runs recovery and checks that
every episode finished before a kill is valid and that each interrupted one was recovered
to within ``max_loss_s`` of the last row the child had appended. The test suite runs a few
trials, the benchmark twenty.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_LINE = 96  # fixed width of the progress record, overwritten in place each row


def child(path: str, progress_file: str, seed: int) -> None:
    from recorder import DatasetWriter
    from teleop import clock
    from tests.recorder.conftest import HZ, RowMaker

    from recorder import StorageError

    rng = np.random.default_rng(seed)
    fd = os.open(progress_file, os.O_RDWR | os.O_CREAT, 0o644)
    ds = DatasetWriter(path, record_hz=HZ, camera_shapes={"head": (48, 64)}, flush_interval_s=0.5)
    pid = ds.writer_pid or os.getpid()

    def report(eid: str, k: int, state: str) -> None:
        os.pwrite(fd, f"{eid} {k} {k / HZ:.6f} {state} {pid}".ljust(_LINE).encode(), 0)

    while True:
        ep = ds.start_episode(task="crash_test", operator=f"seed{seed}")
        n = int(rng.integers(15, 100))  # 0.5 to 3.3 s episodes
        start = clock.now()
        maker = RowMaker(t0=start)
        last = 0
        try:
            for k in range(n):
                clock.sleep_until(start + k / HZ)
                ep.append(maker.row(k))
                last = k
                report(ep.episode_id, k, "recording")
            ep.finish(success=True)
        except StorageError:  # the writer process was killed: say so and wait to be killed too
            report(ep.episode_id, last, "writer_died")
            while True:
                time.sleep(1.0)
        report(ep.episode_id, n - 1, "finished")


@dataclass
class KillTrials:
    """Outcome of :func:`run_kill_trials`.

    Attributes:
        kills: trials (each kills the teleop process, the writer process or both);
        interrupted: episodes left ``recording`` by them.
        earlier_valid / earlier_total: episodes finished before a kill that validate.
        loss_s: per interrupted episode, last appended row time minus last recovered row time [s].
        loss_by_mode: the same, per kill mode ("teleop", "writer", "both").
        failures: what went wrong, in words (empty when everything held).
    """

    kills: int = 0
    interrupted: int = 0
    earlier_valid: int = 0
    earlier_total: int = 0
    loss_s: list[float] = field(default_factory=list)
    loss_by_mode: dict[str, list[float]] = field(default_factory=dict)
    #: teleop-process kills whose writer process then wrote every row it had (``writer_exit`` noted), or
    #: finished the episode (the kill came between its last row and the end of ``finish``)
    fully_written: int = 0
    interrupted_detail: list[tuple] = field(default_factory=list)  # (episode, kill mode, rows kept, note)
    failures: list[str] = field(default_factory=list)


KILL_MODES = ("teleop", "writer", "both")


def _wait_gone(pid: int, timeout: float) -> bool:
    from recorder.ring import pid_alive

    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def run_kill_trials(path: Path, n_kills: int, seed: int = 0, min_s: float = 1.5, max_s: float = 4.5,
                    max_loss_s: float = 1.0) -> KillTrials:
    from recorder import Dataset, EpisodeStatus
    from recorder.recover import recover_dataset
    from recorder.validate import validate_dataset

    rng = np.random.default_rng(seed)
    out = KillTrials()
    last_data: dict[str, float] = {}
    progress = path.with_suffix(".progress")
    repo = Path(__file__).resolve().parents[2]
    mode_of: dict[str, str] = {}
    for trial in range(n_kills):
        mode = KILL_MODES[trial % len(KILL_MODES)]
        progress.write_bytes(b"")
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.recorder.crash_child", str(path), str(progress), str(seed * 1000 + trial)],
            cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        writer_pid = 0
        try:
            deadline = time.monotonic() + 60.0
            while not progress.read_bytes().strip():  # wait for its first row
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"crash child exited early: {proc.stderr.read().decode()[-2000:]}")
                time.sleep(0.05)
            time.sleep(float(rng.uniform(min_s, max_s)))
            writer_pid = int(progress.read_bytes().decode().split()[4])
            if mode == "writer" and writer_pid != proc.pid:
                os.kill(writer_pid, signal.SIGKILL)
                deadline = time.monotonic() + 10.0  # the teleop side notices and says so
                while b"writer_died" not in progress.read_bytes() and time.monotonic() < deadline:
                    time.sleep(0.02)
                if b"writer_died" not in progress.read_bytes():
                    out.failures.append(f"trial {trial}: the teleop process did not notice its writer's death")
            elif mode == "both" and writer_pid != proc.pid:
                os.kill(writer_pid, signal.SIGKILL)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            proc.stderr.close()
        if writer_pid and not _wait_gone(writer_pid, 30.0):  # after "teleop": it writes what it has, then exits
            out.failures.append(f"trial {trial}: writer process {writer_pid} still runs 30 s after its teleop process died")
        out.kills += 1
        eid, _, t_last, state = progress.read_bytes().decode().split()[:4]
        if state in ("recording", "writer_died"):
            last_data[eid] = float(t_last)
            mode_of[eid] = mode
        # recover right away, as an operator would before recording again
        for r in recover_dataset(Dataset.open(path)):
            if r.episode_id not in last_data:
                out.failures.append(f"{r.episode_id} was interrupted but the child had not reported it")
    ds = Dataset.open(path)
    report = {e.episode_id: e for e in validate_dataset(ds).episodes}
    for info in ds.episodes(include_deleted=True):
        if info.episode_id in last_data:
            out.interrupted += 1
            kept = info.duration_s if info.n_rows else -1.0 / 30.0
            loss = last_data[info.episode_id] - kept
            out.loss_s.append(loss)
            out.loss_by_mode.setdefault(mode_of[info.episode_id], []).append(loss)
            if mode_of[info.episode_id] == "teleop":
                out.fully_written += bool(info.attrs.get("writer_exit")) or info.status is EpisodeStatus.COMPLETE
            out.interrupted_detail.append((info.episode_id, mode_of[info.episode_id], info.n_rows,
                                           info.attrs.get("writer_exit") or info.attrs.get("recovery_note")
                                           or info.attrs.get("discard_reason")))
            if info.status not in (EpisodeStatus.RECOVERED, EpisodeStatus.DISCARDED, EpisodeStatus.COMPLETE):
                out.failures.append(f"{info.episode_id} is {info.status.value} after recovery")
            if loss > max_loss_s:
                out.failures.append(f"{info.episode_id}: recovered to {kept:.2f} s, last data at "
                                    f"{last_data[info.episode_id]:.2f} s (lost {loss:.2f} s > {max_loss_s} s)")
            if not report[info.episode_id].ok:
                out.failures.append(f"{info.episode_id} (recovered): {report[info.episode_id].problems}")
        else:
            out.earlier_total += 1
            if report[info.episode_id].ok and info.status is EpisodeStatus.COMPLETE:
                out.earlier_valid += 1
            else:
                out.failures.append(f"{info.episode_id} ({info.status.value}): {report[info.episode_id].problems}")
    return out


if __name__ == "__main__":
    child(sys.argv[1], sys.argv[2], int(sys.argv[3]))
