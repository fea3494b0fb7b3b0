"""CameraRig: the session's cameras by name, read without blocking by the loop, the recorder and the views.

How a session wires it (real-time; in lock-step simulation the loop renders itself)::

    tap = SimStateTap(sim.model)                        # simulated cameras only
    rig = open_rig([parse_camera("head=sim")], sim=sim, tap=tap)
    rig.start()
    # every tick, on the loop thread (after the physics step):  tap.publish_sim(sim)
    # every record row:    TickRecord(..., cameras=rig.snapshot(now))
    # SessionControl.latest_frame(name) -> rig.latest_frame(name)
    # DatasetWriter(camera_shapes=rig.shapes())
    rig.stop()                                          # in the session's finally
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np

from teleop import clock
from teleop.cameras.config import CameraConfig, CameraKind
from teleop.cameras.exceptions import CameraError
from teleop.cameras.source import CameraFrame, CameraHealth, CameraSource
from teleop.exceptions import ConfigError


def make_source(config: CameraConfig, sim=None, tap=None) -> CameraSource:
    """The source for ``config``; simulated cameras need the ``sim`` (MujocoSim) and its ``tap``."""
    kind = config.kind
    if kind is CameraKind.SIM:
        from teleop.cameras.sim import SimCameraSource

        if sim is None or tap is None:
            raise CameraError(f"camera '{config.name}' is simulated: pass the MujocoSim and its SimStateTap "
                              "(or choose a hardware camera kind)")
        return SimCameraSource.from_sim(config, sim, tap)
    if kind is CameraKind.UVC:
        from teleop.cameras.uvc import UVCCameraSource

        return UVCCameraSource(config)
    if kind is CameraKind.REALSENSE:
        from teleop.cameras.realsense import RealSenseCameraSource

        return RealSenseCameraSource(config)
    from teleop.cameras.teleimager import TeleimagerCameraSource

    return TeleimagerCameraSource(config)


class CameraRig:
    """Named camera sources, started and stopped together."""

    def __init__(self, sources: Sequence[CameraSource]):
        names = [s.name for s in sources]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"camera name(s) {dup} configured twice; every camera needs its own name")
        self.sources: dict[str, CameraSource] = {s.name: s for s in sources}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.sources)

    def start(self, wait: bool = False) -> None:
        """Start every capture thread; ``wait``: until each has a frame (raises the first failure)."""
        for s in self.sources.values():
            s.start()
        if wait:
            for s in self.sources.values():
                s.start(wait=True)

    def stop(self) -> None:
        for s in self.sources.values():
            s.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __getitem__(self, name: str) -> CameraSource:
        try:
            return self.sources[name]
        except KeyError:
            raise CameraError(f"no camera '{name}'; cameras: {', '.join(self.sources) or 'none'}") from None

    def snapshot(self, now: float | None = None) -> dict[str, tuple[np.ndarray, float] | None]:
        """``{name: (RGB frame, acquisition stamp [s]) or None}`` for ``TickRecord.cameras``.

        None (the recorder marks the row invalid for that camera) when the camera has no
        frame younger than its ``stale_after_s`` at ``now``. Never blocks.
        """
        now = clock.now() if now is None else now
        out: dict[str, tuple[np.ndarray, float] | None] = {}
        for name, s in self.sources.items():
            f = s.fresh(now)
            out[name] = None if f is None else (f.image, f.stamp)
        return out

    def latest_frame(self, name: str) -> tuple[np.ndarray, float] | None:
        """The newest image and its stamp [s] (what ``SessionControl.latest_frame`` returns), or None."""
        s = self.sources.get(name)
        f = None if s is None else s.latest()
        return None if f is None else (f.image, f.stamp)

    def latest(self, name: str) -> CameraFrame | None:
        return self[name].latest()

    def health(self, now: float | None = None) -> tuple[CameraHealth, ...]:
        now = clock.now() if now is None else now
        return tuple(s.health(now) for s in self.sources.values())

    def shapes(self) -> dict[str, tuple[int, int]]:
        """(height, width) [px] of each camera's frames, for ``DatasetWriter(camera_shapes=...)``.

        Simulated cameras know their size; a hardware camera that has delivered a frame
        reports its real size, one that has not its configured ``size``.
        """
        out = {}
        for name, s in self.sources.items():
            f = s.latest()
            if f is not None:
                out[name] = tuple(f.image.shape[:2])
            else:
                out[name] = tuple(getattr(s, "size", s.config.size))
        return out


def open_rig(configs: Sequence[CameraConfig], sim=None, tap=None) -> CameraRig:
    """A :class:`CameraRig` of :func:`make_source` for each config (not started)."""
    return CameraRig([make_source(c, sim=sim, tap=tap) for c in configs])
