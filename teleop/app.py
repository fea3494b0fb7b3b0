"""Assembling a teleop session from options: the one place that wires input, calibration, IK, safety, robot and recorder.

Used by ``psi-teleop teleop``, ``psi-teleop demo`` and the session server (``psi-teleop serve
--session ...``), so every entry point drives the robot through the same pipeline.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Callable

from teleop import clock as process_clock
from teleop.exceptions import ConfigError

log = logging.getLogger(__name__)

INPUT_KINDS = ("scripted", "replay", "openxr", "pico")
ROBOT_KINDS = ("sim", "dds")
LOCOMOTION_SOURCES = ("controllers", "remote", "keyboard")


@dataclass(frozen=True)
class SessionOptions:
    """Everything needed to build a session; validated here, logged once and saved with every episode.

    Attributes:
        input: operator input (:data:`INPUT_KINDS`).
        robot: robot backend (:data:`ROBOT_KINDS`).
        task: simulated task (sim only; None = an empty floor) and the task name recorded with episodes.
        seed: simulation seed.
        dataset: where episodes are recorded (None: no recording).
        profile: calibration profile name or JSON path (None: the default body, with a warning).
        profiles_dir: where named profiles live (None: ``calibration.store.profiles_dir()``).
        episode: for ``replay``: ``DATASET:EPISODE``.
        speed: replay speed factor; replay_loop: replay forward and backward without end.
        rate_hz: loop rate [Hz]; record_hz: recording rate [Hz].
        lockstep: simulation only: run on simulation time as fast as possible (demo, tests).
        cameras: cameras to record: simulated camera names (``head``) rendered in the loop in
            lock-step, or ``NAME=SPEC`` strings (``head=sim``, ``head=uvc:0``, ``head=realsense``,
            ``head=teleimager:192.168.123.164``) captured by their own threads in real time.
        domain, interface, amo_dir: DDS link options (see docs/robot_link.md).
        locomotion: where walking commands come from (:data:`LOCOMOTION_SOURCES`).
        headset_view: show the ``head`` camera in the OpenXR headset (real time only); with
            ``input="openxr"`` the input and the view share one OpenXR session.
    """

    input: str = "scripted"
    robot: str = "sim"
    task: str | None = "pick_place"
    seed: int = 0
    dataset: str | None = None
    profile: str | None = None
    profiles_dir: str | None = None
    episode: str | None = None
    speed: float = 1.0
    replay_loop: bool = False
    rate_hz: float = 100.0
    record_hz: float = 30.0
    lockstep: bool = False
    cameras: tuple[str, ...] = ()
    camera_hz: float = 10.0
    domain: int = 0
    interface: str | None = None
    amo_dir: str | None = None
    locomotion: str = "controllers"
    operator: str = field(default="")
    headset_view: bool = False

    def __post_init__(self) -> None:
        if self.input not in INPUT_KINDS:
            raise ConfigError(f"unknown input '{self.input}'; choose from {', '.join(INPUT_KINDS)}")
        if self.robot not in ROBOT_KINDS:
            raise ConfigError(f"unknown robot '{self.robot}'; choose from {', '.join(ROBOT_KINDS)}")
        if self.input == "scripted" and self.robot != "sim":
            raise ConfigError("the scripted operator watches the simulation: use --robot sim with --input scripted")
        if self.input == "replay" and not self.episode:
            raise ConfigError("--input replay needs --episode DATASET:EPISODE (e.g. data/demo:episode_000000)")
        if self.lockstep and self.robot != "sim":
            raise ConfigError("lock-step runs only with the simulation (--robot sim)")
        if self.headset_view and self.lockstep:
            raise ConfigError("the headset view runs in real time only (not in lock-step simulation)")
        if self.headset_view and "head" not in (c.partition("=")[0] for c in self.cameras):
            raise ConfigError("--headset-view shows the head camera: add --camera head (simulated) or "
                              "--camera head=uvc:0 / head=realsense / head=teleimager:HOST")
        if self.locomotion not in LOCOMOTION_SOURCES:
            raise ConfigError(f"unknown locomotion source '{self.locomotion}'; choose from {', '.join(LOCOMOTION_SOURCES)}")


def load_mapping(profile: str | None, profiles_dir: str | None = None):
    """The calibration map of ``profile`` (a name in the profile directory or a JSON path)."""
    from calibration import CalibrationProfile, OperatorToRobot

    if profile is None:
        log.warning("no calibration profile given: using a default 1.75 m operator; run `psi-teleop calibrate` "
                    "for your own body size")
        p = CalibrationProfile(name="default")
        return OperatorToRobot(p), p
    from calibration.store import load_profile

    p = load_profile(profile, profiles_dir)
    return OperatorToRobot(p), p


def sim_camera_names(cameras: tuple[str, ...]) -> tuple[str, ...]:
    """Names of the simulated cameras among ``head`` / ``head=sim`` / ``head=uvc:0`` specs."""
    return tuple(c.partition("=")[0] for c in cameras if "=" not in c or c.partition("=")[2] == "sim")


def make_backend(opts: SessionOptions):
    if opts.robot == "sim":
        from teleop.robot.sim import SimBackend, SimConfig

        return SimBackend(SimConfig(task=opts.task, seed=opts.seed, cameras=sim_camera_names(opts.cameras)))
    from teleop.robot.dds import make_dds_backend

    return make_dds_backend(domain=opts.domain, interface=opts.interface, amo_dir=opts.amo_dir)


def make_input(opts: SessionOptions, backend, mapping, clock: Callable[[], float], xr_session=None):
    if opts.input == "scripted":
        from teleop.inputs.scripted import ScriptedConfig, ScriptedOperator

        return ScriptedOperator(backend.sim, mapping, clock=clock, config=ScriptedConfig(task=opts.task, seed=opts.seed))
    if opts.input == "replay":
        from teleop.inputs.replay import ReplayConfig, ReplaySource

        return ReplaySource(ReplayConfig.parse(opts.episode, speed=opts.speed, loop=opts.replay_loop), clock=clock)
    from teleop.inputs.base import make_source

    if opts.input == "openxr" and xr_session is not None:
        return make_source(opts.input, session=xr_session)  # one OpenXR session with the headset view
    return make_source(opts.input)


def _camera_rig(opts: SessionOptions, backend):
    """The camera rig of a real-time session (None in lock-step, where the loop renders)."""
    if opts.lockstep or not opts.cameras:
        return None, None
    from teleop.cameras import SimStateTap, open_rig, parse_camera
    from teleop.cameras.config import CameraKind

    configs = [parse_camera(c if "=" in c else f"{c}=sim") for c in opts.cameras]
    sim = getattr(backend, "sim", None)
    uses_sim = any(c.kind is CameraKind.SIM for c in configs)
    if uses_sim and sim is None:
        raise ConfigError("simulated cameras need --robot sim; on a real robot use uvc, realsense or teleimager cameras")
    tap = SimStateTap(sim.model) if uses_sim else None
    rig = open_rig(configs, sim=sim, tap=tap)
    rig.start()
    return rig, tap


def build_session(opts: SessionOptions, ik=None, hands=None):
    """A ready-to-start :class:`teleop.session.TeleopSession` (robot started, loop not yet started).

    ``ik`` and ``hands`` may be passed in to reuse solvers across sessions (the demo does).
    """
    from ik import HandRetargeter, HandRetargeterConfig, UpperBodyIK, UpperBodyIKConfig
    from teleop.locomotion import LocomotionChannel, LocomotionConfig, make_stick_source
    from teleop.loop import LoopConfig, TeleopLoop
    from teleop.safety import SafetyConfig, SafetyFilter
    from teleop.session import TeleopSession

    if not opts.lockstep:  # before any device thread exists: they inherit it (see teleop.realtime)
        from teleop import realtime

        realtime.raise_niceness()
    mapping, profile = load_mapping(opts.profile, opts.profiles_dir)
    backend = make_backend(opts)
    backend.start()
    clock = (lambda: backend.sim.time) if opts.lockstep else process_clock.now
    xr_session = None
    if opts.headset_view:
        from teleop.inputs.openxr_session import OpenXRSession

        xr_session = OpenXRSession()
    source = make_input(opts, backend, mapping, clock, xr_session)
    loop_cfg = LoopConfig(rate_hz=opts.rate_hz, record_hz=opts.record_hz, lockstep=opts.lockstep,
                          cameras=sim_camera_names(opts.cameras) if opts.lockstep else (), camera_hz=opts.camera_hz)
    ik = ik or UpperBodyIK(UpperBodyIKConfig())
    hands = hands or {side: HandRetargeter(side, HandRetargeterConfig()) for side in ("left", "right")}
    sticks = None if opts.locomotion == "controllers" else make_stick_source(
        opts.locomotion, domain=opts.domain, interface=opts.interface)
    rig, tap = _camera_rig(opts, backend)
    view, status_of = None, []
    if opts.headset_view:
        from teleop.inputs.openxr_view import HeadsetView

        view = HeadsetView(rig["head"].latest, lambda: status_of[0]() if status_of else None, session=xr_session)
        view.start()  # opens the (graphics) session; an OpenXR input joins it when the loop starts
    loop = TeleopLoop(source, backend, mapping, ik, hands, SafetyFilter(SafetyConfig()),
                      locomotion=LocomotionChannel(LocomotionConfig(), source=sticks), config=loop_cfg, clock=clock,
                      cameras=rig, sim_tap=tap)
    writer = None
    if opts.dataset is not None:
        from recorder import DatasetWriter

        shapes = {}
        if rig is not None:
            shapes = rig.shapes()
        elif opts.robot == "sim" and loop_cfg.cameras:
            shapes = {c: backend.sim.config.camera_size for c in loop_cfg.cameras}
        writer = DatasetWriter(opts.dataset, record_hz=opts.record_hz, camera_shapes=shapes)
    task = opts.task or ""
    instruction = backend.sim.task.instruction if opts.robot == "sim" and backend.sim.task else ""
    session = TeleopSession(loop, writer, task=task, instruction=instruction, operator=opts.operator or opts.input,
                            calibration=profile.to_dict(), config=asdict(opts), profile_name=profile.name,
                            headset_view=view)
    session.profile_loader = lambda name: load_mapping(name, opts.profiles_dir)[0]
    status_of.append(session.status)
    log.info("session: input %s, robot %s, task %s, profile %s, %s", opts.input, opts.robot, task, profile.name,
             f"recording into {opts.dataset}" if opts.dataset else "not recording")
    return session
