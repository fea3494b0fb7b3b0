"""WindowLoader: training windows read and decoded by worker processes (DataLoader-style, no torch).

    loader = WindowLoader("data/demo", samples=[("episode_000003", 120), ...], camera="head",
                          action_steps=30, batch_size=32, workers=2)
    for batch in loader:          # in the order of ``samples``
        batch["state"]            # (B, state_steps, Ds) float32: rows row-state_steps+1 .. row
        batch["action"]           # (B, action_steps, Da) float32: rows row .. row+action_steps-1
        batch["action_valid"]     # (B, action_steps) bool: False past the episode's end (repeats the last action)
        batch["frames"]           # (B, H, W, 3) uint8: the camera's frame of ``row`` (zeros: no frame)
        batch["episode"], batch["row"]
    loader.close()

Each worker opens the dataset read-only and keeps its own chunk cache (reads are
chunk-aligned, see :class:`recorder.reader.EpisodeReader`), decodes only the frame each
sample needs, straight into a batch slot in shared memory (``/dev/shm``), and returns the
slot's number; the parent copies the batch out, so nothing big is pickled. JPEG decoding
is the bulk of the work and runs in parallel in the workers (one per core).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing import Pipe
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

import numpy as np

from recorder.exceptions import RecorderError
from recorder.ring import SHM_PREFIX, map_shared

#: How long the parent waits for a batch before it checks its workers are alive [s].
_POLL_S = 1.0


@dataclass(frozen=True)
class _Spec:
    location: str
    batch_size: int
    state_steps: int
    action_steps: int
    state_dim: int
    action_dim: int
    camera: str | None
    height: int
    width: int
    fast_decode: bool

    def blocks(self) -> list[tuple[str, tuple[int, ...], str]]:
        b = self.batch_size
        out = [
            ("state", (b, self.state_steps, self.state_dim), "float32"),
            ("action", (b, self.action_steps, self.action_dim), "float32"),
            ("action_valid", (b, self.action_steps), "bool"),
        ]
        if self.camera is not None:
            out.append(("frames", (b, self.height, self.width, 3), "uint8"))
        return out

    def slot_bytes(self) -> int:
        total = 0
        for _, shape, dtype in self.blocks():
            total += (int(np.prod(shape)) * np.dtype(dtype).itemsize + 63) // 64 * 64
        return total

    def views(self, buffer, slot: int) -> dict[str, np.ndarray]:
        pos = slot * self.slot_bytes()
        out = {}
        for key, shape, dtype in self.blocks():
            out[key] = np.ndarray(shape, dtype=dtype, buffer=buffer, offset=pos)
            pos += (int(np.prod(shape)) * np.dtype(dtype).itemsize + 63) // 64 * 64
        return out


def _fill(spec: _Spec, readers: dict, dataset, views: dict[str, np.ndarray],
          samples: Sequence[tuple[str, int]]) -> None:
    s_steps, a_steps = spec.state_steps, spec.action_steps
    for b, (episode_id, row) in enumerate(samples):
        r = readers.get(episode_id)
        if r is None:
            r = readers[episode_id] = dataset.episode(episode_id)
        n = r.n_rows
        if not 0 <= row < n:
            raise RecorderError(f"sample row {row} is outside episode {episode_id} (0..{n - 1})")
        lo = row - s_steps + 1
        state = r.read("state", max(0, lo), row + 1)
        dst = views["state"][b]
        dst[s_steps - len(state):] = state
        dst[: s_steps - len(state)] = state[0]  # before the first row: repeat it
        action = r.read("action", row, row + a_steps)
        dst = views["action"][b]
        k = len(action)
        dst[:k] = action
        dst[k:] = action[-1]
        views["action_valid"][b, :k] = True
        views["action_valid"][b, k:] = False
        if spec.camera is not None:
            r.frame(spec.camera, row, fast=spec.fast_decode, out=views["frames"][b])


def _worker(fd: int) -> int:
    """Worker process (``python -m recorder.loader FD``): spec first, then ``(batch_no, slot, samples)``
    in and ``(batch_no, slot, error)`` out; None or EOF stops it."""
    import signal
    from multiprocessing.connection import Connection

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    from recorder.reader import Dataset

    conn = Connection(fd)
    try:
        spec, shm_name, n_slots = conn.recv()
    except (EOFError, OSError):
        return 0
    mm, _ = map_shared(shm_name, spec.slot_bytes() * n_slots, create=False)
    slots = [spec.views(mm, i) for i in range(n_slots)]
    open_error = ""
    try:
        dataset = Dataset.open(spec.location, read_only=True)
    except Exception as exc:  # noqa: BLE001 - reported with the first batch
        dataset, open_error = None, f"{type(exc).__name__}: {exc}"
    readers: dict = {}
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return 0
        if task is None:
            return 0
        batch_no, slot, samples = task
        try:
            if dataset is None:
                raise RecorderError(open_error)
            _fill(spec, readers, dataset, slots[slot], samples)
            conn.send((batch_no, slot, None, time.process_time()))
        except Exception as exc:  # noqa: BLE001 - re-raised in the parent with the worker's traceback
            conn.send((batch_no, slot, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}", 0.0))


class WindowLoader:
    """Batches of (state window, action chunk, one decoded frame) read by ``workers`` processes.

    Args:
        location: the dataset (a path or a URL another process can open).
        samples: ``(episode_id, row)`` pairs, in the order batches should come (shuffle them
            beforehand for training).
        camera: the camera to decode (None: no frames).
        state_steps / action_steps: rows of state up to ``row`` / of action from ``row``.
        batch_size: samples per batch (the last batch may be smaller).
        workers: worker processes (0: read in this process, for debugging).
        fast_decode: libjpeg-turbo's fast IDCT/upsampling (see ``EpisodeReader.frame``).
        prefetch: batches in flight per worker.
    """

    def __init__(self, location: Any, samples: Sequence[tuple[str, int]], camera: str | None = None,
                 state_steps: int = 1, action_steps: int = 30, batch_size: int = 32, workers: int = 2,
                 fast_decode: bool = True, prefetch: int = 4):
        from recorder.reader import Dataset

        if batch_size < 1 or state_steps < 1 or action_steps < 1 or workers < 0 or prefetch < 1:
            raise RecorderError("batch_size, state_steps, action_steps and prefetch must be >= 1, workers >= 0")
        self.samples = [(str(e), int(r)) for e, r in samples]
        if not self.samples:
            raise RecorderError("WindowLoader needs at least one (episode_id, row) sample")
        self._dataset = Dataset.open(location, read_only=True)
        first = self._dataset.episode(self.samples[0][0])
        height = width = 0
        if camera is not None:
            if camera not in first.cameras:
                raise RecorderError(f"episode {first.episode_id} has no camera '{camera}'; cameras: {first.cameras}")
            shape = first.attrs["cameras"][camera]
            height, width = int(shape["height"]), int(shape["width"])
        self.spec = _Spec(str(location), batch_size, state_steps, action_steps,
                          int(first.array("state").shape[1]), int(first.array("action").shape[1]),
                          camera, height, width, fast_decode)
        self.workers = workers
        self.prefetch = prefetch
        self._procs: list = []
        self._mm = None
        self._path = None
        self._readers: dict = {}
        #: CPU time each worker process has used so far [s] (as of its last batch).
        self.worker_cpu_s: list[float] = []

    def __len__(self) -> int:
        return (len(self.samples) + self.spec.batch_size - 1) // self.spec.batch_size

    def _batches(self) -> list[list[tuple[str, int]]]:
        b = self.spec.batch_size
        return [self.samples[i:i + b] for i in range(0, len(self.samples), b)]

    def _out(self, views: dict[str, np.ndarray], batch: list[tuple[str, int]]) -> dict[str, Any]:
        n = len(batch)
        out = {k: v[:n].copy() for k, v in views.items()}
        out["episode"] = [e for e, _ in batch]
        out["row"] = np.array([r for _, r in batch])
        return out

    def __iter__(self) -> Iterator[dict[str, Any]]:
        batches = self._batches()
        if self.workers == 0:
            buf = bytearray(self.spec.slot_bytes())
            views = self.spec.views(buf, 0)
            for batch in batches:
                _fill(self.spec, self._readers, self._dataset, views, batch)
                yield self._out(views, batch)
            return
        self._start()
        try:
            yield from self._run(batches)
        finally:
            self.close()

    def _start(self) -> None:
        n_slots = self.workers * self.prefetch
        name = f"{SHM_PREFIX}{os.getpid()}-0-loader{id(self)}"
        self._mm, self._path = map_shared(name, self.spec.slot_bytes() * n_slots, create=True)
        self._slots = [self.spec.views(self._mm, i) for i in range(n_slots)]
        root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self._conns = []
        self.worker_cpu_s = [0.0] * self.workers
        for _ in range(self.workers):
            mine, theirs = Pipe(duplex=True)
            try:
                self._procs.append(subprocess.Popen(
                    [sys.executable, "-m", "recorder.loader", str(theirs.fileno())], pass_fds=(theirs.fileno(),),
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env,
                ))
            finally:
                theirs.close()
            mine.send((self.spec, name, n_slots))
            self._conns.append(mine)

    def _run(self, batches: list) -> Iterator[dict[str, Any]]:
        free = list(range(len(self._slots)))
        sent = 0
        done: dict[int, int] = {}
        busy = [0] * self.workers  # batches in flight per worker: the next one goes to the least busy
        for want in range(len(batches)):
            while free and sent < len(batches):
                slot = free.pop()
                w = busy.index(min(busy))
                self._conns[w].send((sent, slot, batches[sent]))
                busy[w] += 1
                sent += 1
            while want not in done:
                ready = wait(self._conns, timeout=_POLL_S)
                if not ready:
                    dead = [p for p in self._procs if p.poll() is not None]
                    if dead:
                        raise RecorderError(
                            f"loader worker (pid {dead[0].pid}) died with exit code {dead[0].returncode}"
                        )
                    continue
                for conn in ready:
                    try:
                        batch_no, slot, error, cpu = conn.recv()
                    except (EOFError, OSError):
                        proc = self._procs[self._conns.index(conn)]
                        raise RecorderError(f"loader worker (pid {proc.pid}) died "
                                            f"(exit code {proc.wait(timeout=5)})") from None
                    if error is not None:
                        raise RecorderError(f"loader worker failed on batch {batch_no}: {error}")
                    w = self._conns.index(conn)
                    busy[w] -= 1
                    self.worker_cpu_s[w] = cpu
                    done[batch_no] = slot
            slot = done.pop(want)
            out = self._out(self._slots[slot], batches[want])
            free.append(slot)
            yield out

    def close(self) -> None:
        """Stop the workers and free the shared memory (also done at the end of an iteration)."""
        for conn in getattr(self, "_conns", []):
            try:
                conn.send(None)
            except OSError:
                pass
        for p in self._procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for conn in getattr(self, "_conns", []):
            conn.close()
        self._conns = []
        self._procs = []
        self._slots = []
        if self._mm is not None:
            try:
                self._mm.close()
            except BufferError:
                pass
            self._mm = None
        if self._path is not None:
            try:
                self._path.unlink()
            except FileNotFoundError:
                pass
            self._path = None

    def __enter__(self) -> "WindowLoader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


if __name__ == "__main__":
    sys.exit(_worker(int(sys.argv[1])))
