"""The sessions ``psi-teleop serve`` and ``psi-teleop console`` can run in their own process.

``none``: no session (the server only browses a dataset). ``sim``: the MuJoCo simulation
driven by the scripted operator through the real teleop loop, in real time on its own
thread, recording into ``--dataset`` — what an operator sees with a robot, without one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from teleop.exceptions import ConfigError

if TYPE_CHECKING:
    from teleop.status import SessionControl

log = logging.getLogger(__name__)

#: Session kinds, what ``--session`` accepts.
SESSION_KINDS = ("none", "sim")
#: Where a simulated session records when no dataset is given.
DEFAULT_SIM_DATASET = Path("data/sim-session")


@contextlib.contextmanager
def open_session(kind: str, dataset: Path | None = None, task: str = "pick_place",
                 cameras: tuple[str, ...] = ("head",)) -> Iterator["SessionControl | None"]:
    """Yield a running session of ``kind`` (None for ``none``); closes it on exit.

    Raises:
        ConfigError: unknown ``kind``.
    """
    if kind not in SESSION_KINDS:
        raise ConfigError(f"session kind '{kind}' is unknown; valid: {', '.join(SESSION_KINDS)}")
    if kind == "none":
        yield None
        return
    session = _sim_session(dataset or DEFAULT_SIM_DATASET, task, cameras)
    try:
        yield session
    finally:
        session.close()


def _sim_session(dataset: Path, task: str, cameras: tuple[str, ...]) -> "SessionControl":
    """A real-time simulated session (loop thread started), recording into ``dataset``."""
    from calibration import CalibrationProfile, OperatorToRobot
    from ik import HandRetargeter, HandRetargeterConfig, UpperBodyIK, UpperBodyIKConfig
    from recorder import DatasetWriter
    from teleop.inputs.scripted import ScriptedConfig, ScriptedOperator
    from teleop.locomotion import LocomotionChannel, LocomotionConfig
    from teleop.loop import LoopConfig, TeleopLoop
    from teleop.robot.sim import SimBackend, SimConfig
    from teleop.safety import SafetyConfig, SafetyFilter
    from teleop.session import TeleopSession

    profile = CalibrationProfile(name="scripted")
    mapping = OperatorToRobot(profile)
    loop_cfg = LoopConfig(lockstep=False, cameras=cameras)
    sim_cfg = SimConfig(task=task, cameras=cameras)
    backend = SimBackend(sim_cfg)
    backend.start()
    sim = backend.sim
    writer = DatasetWriter(dataset, record_hz=loop_cfg.record_hz,
                           camera_shapes={c: sim_cfg.camera_size for c in cameras})
    operator = ScriptedOperator(sim, mapping, clock=lambda: sim.time, config=ScriptedConfig(task=task))
    loop = TeleopLoop(operator, backend, mapping, UpperBodyIK(UpperBodyIKConfig()),
                      {side: HandRetargeter(side, HandRetargeterConfig()) for side in ("left", "right")},
                      SafetyFilter(SafetyConfig()), locomotion=LocomotionChannel(LocomotionConfig()),
                      config=loop_cfg, clock=lambda: sim.time)
    session = TeleopSession(loop, writer, task=task, instruction=sim.task.instruction, operator="scripted",
                            calibration=profile.to_dict(), profile_name=profile.name)
    loop.start()
    session.run_in_thread()
    log.info("simulated session running: task %s, recording into %s", task, dataset)
    return session
