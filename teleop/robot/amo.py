"""AMO (Adaptive Motion Optimization, OpenTeleVision/AMO) as a :class:`LowerBodyPolicy`.

AMO is a learned whole-body controller for the G1: at 50 Hz it maps the measured state and
a command (walk velocity, heading, torso height and orientation) to PD targets for the 12
leg and 3 waist joints. This adapter rebuilds the observation of AMO's reference script
``play_amo.py`` exactly, from our :class:`RobotState`, and maps our 8-value lower-body
command onto AMO's commands. The weights are the user's (not redistributable here):
``amo_jit.pt`` (policy), ``adapter_jit.pt`` (torso adapter), ``adapter_norm_stats.pt``.

AMO's joints (23, :data:`AMO_JOINTS`): legs 12, waist 3 (yaw, roll, pitch), and per arm
shoulder pitch/roll/yaw + elbow (8, observed, not commanded). Mapped to MODEL_JOINTS by name.

Commands (AMO's ``commands[0..6]``) from our :class:`g1.LowerBodyCommand`::

    c = [vx, target_yaw, vy, torso_height - 0.75, torso_yaw, torso_pitch, torso_roll]

(``vyaw`` is not an AMO input: the locomotion channel already integrated it into ``target_yaw``.)

Observation at each 50 Hz step (1043 values = 93 + 17 + 3 + 10·93)::

    adapter_in  (12) = [0.75 + c3, c4, c5, c6, q_arm(8)]            normalized (x - μ_in)/(σ_in + 1e-8)
    adapter_out (15) = adapter(adapter_in) · σ_out + μ_out
    proprio (93) = [0.25·ω_imu (3), roll, pitch (2), sin Δψ, cos Δψ (2), q - q_default (23),
                    0.05·dq (23), last_action (23), sin 2π·phase (2), adapter_out (15)]
    demo (17)    = [q_arm (8), vx, vy, 0, torso_yaw, torso_pitch, torso_roll, h, h, h],  h = 0.75 + c3
    priv (3)     = 0
    history      = the previous 10 proprio frames (oldest first)

with ``Δψ = wrap(yaw - target_yaw)``, forced to 0 while standing (|vx| < 0.1, decided on
the previous step, as in the reference). The reference also builds a copy of the joint
velocities with the ankle and waist roll/pitch entries zeroed but feeds the unmodified
velocities to the network; we feed what it feeds. The policy also receives the last 25 proprio
frames *including* the current one (2325 values). Its 15 raw outputs ``a`` are clipped to
±40; the targets are ``q_default[:15] + 0.25·a`` with AMO's gains; ``last_action`` becomes
``[a, (q_arm - q_default_arm)/0.25]``. The gait phase of each foot advances by
``1.3 Hz · 0.02 s`` per step, snaps to [0.25, 0.25] when standing near mid-stance and to
[0.25, 0.75] when walking starts from there.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from teleop.exceptions import ConfigError, MissingExtraError
from teleop.robot import g1
from teleop.robot.exceptions import PolicyWeightsError
from teleop.robot.lower_body import LOWER_BODY_JOINTS, LowerBodyPolicy, LowerBodyTargets

#: The three files AMO needs, looked for in the weights directory.
AMO_WEIGHT_FILES = ("amo_jit.pt", "adapter_jit.pt", "adapter_norm_stats.pt")
#: Where users get them.
AMO_SOURCE = "https://github.com/OpenTeleVision/AMO"

#: AMO's 23 observed joints, in its order: legs, waist (yaw, roll, pitch), then per arm
#: shoulder pitch, roll, yaw, elbow. The first 15 are the ones it commands.
AMO_JOINTS: tuple[str, ...] = (
    g1.LEG_JOINTS
    + ("waist_yaw_joint", "waist_roll_joint", "waist_pitch_joint")
    + tuple(f"{side}_{j}_joint" for side in ("left", "right") for j in ("shoulder_pitch", "shoulder_roll", "shoulder_yaw", "elbow"))
)
N_DOF = 23
N_ACT = 15
N_ARM = 8
#: Sizes of AMO's observation parts.
N_PROPRIO = 3 + 2 + 2 + 3 * N_DOF + 2 + N_ACT  # 93
N_DEMO = N_ARM + 3 + 3 + 3  # 17
N_PRIV = 3
HISTORY_LEN = 10
EXTRA_HISTORY_LEN = 25
OBS_DIM = N_PROPRIO + N_DEMO + N_PRIV + HISTORY_LEN * N_PROPRIO  # 1043
N_ADAPTER_IN = 4 + N_ARM  # 12

#: AMO's default joint positions [rad] (AMO_JOINTS order).
AMO_DEFAULT_Q = np.array(
    [-0.1, 0.0, 0.0, 0.3, -0.2, 0.0,
     -0.1, 0.0, 0.0, 0.3, -0.2, 0.0,
     0.0, 0.0, 0.0,
     0.5, 0.0, 0.2, 0.3,
     0.5, 0.0, -0.2, 0.3]
)
#: AMO's PD gains for its 15 commanded joints [N m/rad], [N m s/rad].
AMO_KP = np.array([150, 150, 150, 300, 80, 20, 150, 150, 150, 300, 80, 20, 400, 400, 400], dtype=float)
AMO_KD = np.array([2, 2, 2, 4, 2, 1, 2, 2, 2, 4, 2, 1, 15, 15, 15], dtype=float)
ACTION_SCALE = 0.25  # raw action -> [rad]
ACTION_CLIP = 40.0  # raw action magnitude limit
ANG_VEL_SCALE = 0.25
DOF_VEL_SCALE = 0.05
GAIT_FREQ_HZ = 1.3
CONTROL_DT = 0.02  # [s] (50 Hz)
STAND_VX = 0.1  # [m/s] below this |vx| AMO stands in place
REFERENCE_HEIGHT = 0.75  # [m] AMO's nominal pelvis height

# Our LOWER_BODY_JOINTS order must be AMO's first 15 joints (checked once, here, by name).
if tuple(LOWER_BODY_JOINTS) != AMO_JOINTS[:N_ACT]:  # pragma: no cover - guards a future edit of lower_body.py
    raise ConfigError(f"LOWER_BODY_JOINTS {LOWER_BODY_JOINTS} no longer match AMO's commanded joints {AMO_JOINTS[:N_ACT]}")


def amo_commands(cmd: g1.LowerBodyCommand) -> np.ndarray:
    """AMO's 7 commands ``[vx, target_yaw, vy, height offset, torso yaw, pitch, roll]`` from our command."""
    roll, pitch, yaw = cmd.torso_rpy
    return np.array([cmd.vx, cmd.target_yaw, cmd.vy, cmd.torso_height - REFERENCE_HEIGHT, yaw, pitch, roll])


def quat_to_rpy_wxyz(quat_wxyz: np.ndarray) -> np.ndarray:
    """Roll, pitch, yaw [rad] (intrinsic z-y'-x'' Euler angles) of a wxyz quaternion; pitch clamps at ±π/2."""
    w, x, y, z = (float(v) for v in quat_wxyz)
    roll = np.arctan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
    s = 2.0 * (w * y - z * x)
    pitch = np.copysign(np.pi / 2.0, s) if abs(s) >= 1.0 else np.arcsin(s)
    yaw = np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    return np.array([roll, pitch, yaw])


@dataclass(frozen=True)
class NormStats:
    """The adapter's input/output normalization (12 inputs, 15 outputs)."""

    input_mean: np.ndarray
    input_std: np.ndarray
    output_mean: np.ndarray
    output_std: np.ndarray

    def __post_init__(self) -> None:
        for name, n in (("input_mean", N_ADAPTER_IN), ("input_std", N_ADAPTER_IN), ("output_mean", N_ACT), ("output_std", N_ACT)):
            v = np.asarray(getattr(self, name))
            if v.shape != (n,):
                raise PolicyWeightsError((), f"adapter_norm_stats.pt: {name} has shape {v.shape}, AMO's adapter needs ({n},)")


class AmoObservation:
    """AMO's observation builder and its histories (pure numpy; the networks are called outside).

    Usage per 50 Hz step: ``x = adapter_input(c, q_amo)`` → run the adapter →
    ``obs, extra = build(...)`` → run the policy → ``targets = finish(raw, q_amo)``.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Zero histories, zero last action, both feet at phase 0.25, standing."""
        self.proprio_history: collections.deque[np.ndarray] = collections.deque(
            [np.zeros(N_PROPRIO) for _ in range(HISTORY_LEN)], maxlen=HISTORY_LEN
        )
        self.extra_history: collections.deque[np.ndarray] = collections.deque(
            [np.zeros(N_PROPRIO) for _ in range(EXTRA_HISTORY_LEN)], maxlen=EXTRA_HISTORY_LEN
        )
        self.last_action = np.zeros(N_DOF)
        self.gait_phase = np.array([0.25, 0.25])
        self.standing = True

    @staticmethod
    def adapter_input(c: np.ndarray, q_amo: np.ndarray) -> np.ndarray:
        """(12,) un-normalized adapter input ``[0.75 + c3, c4, c5, c6, q_arm(8)]``."""
        return np.concatenate([[REFERENCE_HEIGHT + c[3], c[4], c[5], c[6]], q_amo[N_ACT:]])

    def build(
        self, c: np.ndarray, q_amo: np.ndarray, dq_amo: np.ndarray, quat_wxyz: np.ndarray, gyro: np.ndarray,
        adapter_out: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The policy's two inputs: ``obs`` (1043,) and ``extra_history`` (25·93,); updates the histories.

        Args:
            c: (7,) AMO commands (:func:`amo_commands`).
            q_amo, dq_amo: (23,) joint positions [rad] / velocities [rad/s] in AMO_JOINTS order.
            quat_wxyz: pelvis IMU orientation; gyro: (3,) pelvis angular velocity [rad/s].
            adapter_out: (15,) de-normalized adapter output.
        """
        rpy = quat_to_rpy_wxyz(quat_wxyz)
        dyaw = 0.0 if self.standing else float(np.remainder(rpy[2] - c[1] + np.pi, 2.0 * np.pi) - np.pi)
        proprio = np.concatenate([
            np.asarray(gyro, dtype=float) * ANG_VEL_SCALE,
            rpy[:2],
            [np.sin(dyaw), np.cos(dyaw)],
            q_amo - AMO_DEFAULT_Q,
            dq_amo * DOF_VEL_SCALE,
            self.last_action,
            np.sin(2.0 * np.pi * self.gait_phase),
            adapter_out,
        ])
        h = REFERENCE_HEIGHT + c[3]
        demo = np.concatenate([q_amo[N_ACT:], [c[0], c[2], 0.0, c[4], c[5], c[6], h, h, h]])
        self.standing = bool(abs(c[0]) < STAND_VX)
        history = np.concatenate(list(self.proprio_history))
        obs = np.concatenate([proprio, demo, np.zeros(N_PRIV), history])
        self.proprio_history.append(proprio)
        self.extra_history.append(proprio)
        extra = np.concatenate(list(self.extra_history))
        return obs, extra

    def finish(self, raw_action: np.ndarray, q_amo: np.ndarray) -> np.ndarray:
        """Clip the raw action, remember it, advance the gait phase; return the 15 PD targets [rad]."""
        raw = np.clip(np.asarray(raw_action, dtype=float).reshape(N_ACT), -ACTION_CLIP, ACTION_CLIP)
        self.last_action = np.concatenate([raw, (q_amo[N_ACT:] - AMO_DEFAULT_Q[N_ACT:]) / ACTION_SCALE])
        g = np.remainder(self.gait_phase + CONTROL_DT * GAIT_FREQ_HZ, 1.0)
        near = np.abs(g - 0.25) < 0.05
        if self.standing and near.any():
            g = np.array([0.25, 0.25])
        if not self.standing and near.all():
            g = np.array([0.25, 0.75])
        self.gait_phase = g
        return AMO_DEFAULT_Q[:N_ACT] + ACTION_SCALE * raw


def _torch():
    try:
        import torch
    except ImportError as exc:
        raise MissingExtraError("torch", "policies", "The AMO lower-body controller") from exc
    return torch


def _load_norm_stats(path: Path) -> NormStats:
    """Load AMO's numpy-array dict with torch's restricted unpickler (numpy arrays allow-listed, no code)."""
    torch = _torch()
    try:
        from numpy._core import multiarray as np_multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray as np_multiarray  # type: ignore[no-redef]
    allowed = [
        (np_multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
        (np_multiarray._reconstruct, "numpy._core.multiarray._reconstruct"),
        np.ndarray,
        np.dtype,
        type(np.dtype(np.float64)),
        type(np.dtype(np.float32)),
    ]
    with torch.serialization.safe_globals(allowed):
        raw = torch.load(str(path), map_location="cpu", weights_only=True)
    try:
        return NormStats(*(np.asarray(raw[k], dtype=float).reshape(-1) for k in ("input_mean", "input_std", "output_mean", "output_std")))
    except (KeyError, TypeError) as exc:
        raise PolicyWeightsError(
            (), f"{path} is not AMO's adapter_norm_stats.pt (needs input_mean, input_std, output_mean, output_std): {exc}"
        ) from exc


class AmoPolicy(LowerBodyPolicy):
    """AMO behind the :class:`LowerBodyPolicy` interface (50 Hz, legs + waist targets with AMO's gains).

    Build it with :meth:`from_directory` (the user's weight files) or directly from loaded
    modules (tests use TorchScript modules of the same shapes).

    Args:
        policy: callable ``policy(obs (1, 1043), extra_history (1, 2325)) -> (1, 15)`` (TorchScript).
        adapter: callable ``adapter(x (1, 12)) -> (1, 15)``.
        norm_stats: the adapter's normalization.
        device: torch device of both modules.
    """

    rate_hz = 50.0

    def __init__(self, policy: Any, adapter: Any, norm_stats: NormStats, device: str = "cpu"):
        self._torch = _torch()
        self.policy = policy
        self.adapter = adapter
        self.norm = norm_stats
        self.device = device
        self.obs = AmoObservation()
        self._amo_idx = g1.load_embodiment().indices(AMO_JOINTS)
        self.last_obs: np.ndarray | None = None  # for logging / tests

    @classmethod
    def from_directory(cls, weights_dir: str | Path, device: str = "cpu") -> "AmoPolicy":
        """Load ``amo_jit.pt``, ``adapter_jit.pt``, ``adapter_norm_stats.pt`` from ``weights_dir``.

        Raises:
            PolicyWeightsError: a file is missing (the message says where to get it) or unreadable.
            MissingExtraError: torch is not installed (``pip install 'psi-teleop[policies]'``).
        """
        d = Path(weights_dir).expanduser()
        missing = tuple(f for f in AMO_WEIGHT_FILES if not (d / f).is_file())
        if missing:
            raise PolicyWeightsError(
                missing,
                f"AMO weight file(s) {', '.join(missing)} not found in {d}. Download amo_jit.pt, adapter_jit.pt and "
                f"adapter_norm_stats.pt from {AMO_SOURCE} (repository root) and put all three in {d}, "
                "or pass --amo-dir pointing at the folder that holds them",
            )
        torch = _torch()
        try:
            policy = torch.jit.load(str(d / "amo_jit.pt"), map_location=device)
            adapter = torch.jit.load(str(d / "adapter_jit.pt"), map_location=device)
        except RuntimeError as exc:
            raise PolicyWeightsError((), f"cannot load AMO's TorchScript files from {d}: {exc}") from exc
        policy.eval()
        adapter.eval()
        return cls(policy, adapter, _load_norm_stats(d / "adapter_norm_stats.pt"), device)

    def reset(self, state: Any) -> None:
        """Clear histories and the gait phase (call when AMO takes over the legs)."""
        self.obs.reset()

    def _run(self, module: Any, *xs: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.no_grad():
            ts = [torch.as_tensor(x, dtype=torch.float32, device=self.device).reshape(1, -1) for x in xs]
            return module(*ts).detach().cpu().numpy().reshape(-1).astype(float)

    def step(self, cmd: g1.LowerBodyCommand, state: Any) -> LowerBodyTargets:
        """One 50 Hz step: observation from ``state`` (a RobotState), AMO's targets for legs + waist."""
        c = amo_commands(cmd)
        q = np.asarray(state.q, dtype=float)[self._amo_idx]
        dq = np.asarray(state.dq, dtype=float)[self._amo_idx]
        n = self.norm
        x = (self.obs.adapter_input(c, q) - n.input_mean) / (n.input_std + 1e-8)
        adapter_out = self._run(self.adapter, x) * n.output_std + n.output_mean
        obs, extra = self.obs.build(c, q, dq, state.base_quat, state.imu_gyro, adapter_out)
        self.last_obs = obs
        raw = self._run(self.policy, obs, extra)
        if raw.shape != (N_ACT,):
            raise PolicyWeightsError((), f"AMO's policy returned {raw.shape[0]} values, expected {N_ACT}; wrong amo_jit.pt?")
        q_target = self.obs.finish(raw, q)
        return LowerBodyTargets(q_target, AMO_KP.copy(), AMO_KD.copy())


__all__ = [
    "AMO_JOINTS",
    "AMO_WEIGHT_FILES",
    "AmoObservation",
    "AmoPolicy",
    "NormStats",
    "amo_commands",
    "quat_to_rpy_wxyz",
]
