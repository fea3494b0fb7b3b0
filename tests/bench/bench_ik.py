"""Benchmark of the ``ik`` package: ``python -m tests.bench ik [--quick]``.

Everything runs in one process on the same generated data:

1. **Upper-body IK, all targets active** (both wrists, head, waist, both elbows) on smooth
   random reachable trajectories (:class:`ik.trajectories.UpperBodyTrajectory`, 100 Hz):
   time per tick, wrist position/orientation error against the target, limit checks.
   Measured without target smoothing (the solver alone) and with the default One-Euro
   smoothing (what the teleop loop runs).
2. **Baselines**: xr_teleoperate's CasADi + IPOPT arm IK (:class:`tests.bench.ik_baselines.CasadiArmIK`),
   with its current solver options and with those of its earlier versions,
   on the same wrist targets, the torso given.
3. **Adversarial targets**: NaN/inf, teleports, far-unreachable, non-rotations, singular
   (straight-arm) and random garbage poses: NaNs, limit violations and per-tick jumps counted.
4. **Smoothing**: 2 mm white noise on every target position; joint jerk (third difference)
   and lag (best time shift against the noise-free solution) with and without One-Euro.
5. **Hand retargeting**: :class:`ik.HandRetargeter` vs ``dex-retargeting``'s ``VectorOptimizer``
   on the same synthetic human hand frames (:class:`ik.human_hand.HandMotionGenerator`),
   same five vectors, no pinch substitution and no output filter on either side.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from tests.bench.stats import print_table, summarize

DT = 0.01  # [s], the teleop loop period


def _wrist_errors(ik, sol, targets) -> tuple[float, float]:
    """Largest wrist position [m] and orientation [rad] error of a solution over both wrists."""
    fk = ik.forward(sol.arm_q, sol.torso_rpy, sol.torso_height)
    pos, rot = 0.0, 0.0
    for side, T in (("left", targets.T_base_left_wrist), ("right", targets.T_base_right_wrist)):
        W = fk[f"{side}_wrist"]
        pos = max(pos, float(np.linalg.norm(W[:3, 3] - T[:3, 3])))
        c = (np.trace(T[:3, :3].T @ W[:3, :3]) - 1.0) / 2.0
        rot = max(rot, float(np.arccos(np.clip(c, -1.0, 1.0))))
    return pos, rot


def _within_limits(ik, sol, tol: float = 1e-9) -> bool:
    q = np.concatenate([[sol.torso_height], sol.torso_rpy[[2, 0, 1]], sol.arm_q])
    return bool(np.all(q >= ik.q_min - tol) and np.all(q <= ik.q_max + tol))


def _bench_upper_body(quick: bool, figures: dict) -> list:
    from ik import UpperBodyIK, UpperBodyIKConfig
    from ik.trajectories import UpperBodyTrajectory
    from tests.bench.ik_baselines import LEGACY_OPTIONS, CasadiArmIK

    n_traj, duration = (1, 3.0) if quick else (5, 20.0)
    ik = UpperBodyIK(UpperBodyIKConfig(filter=None))
    ik_filtered = UpperBodyIK()
    times, times_f, pos_err, rot_err, reachable = [], [], [], [], []
    cpu = {"ours": [], "filtered": [], "casadi": [], "casadi_process": []}
    limit_violations = 0
    trajectories = []
    for seed in range(n_traj):
        samples = UpperBodyTrajectory(ik, seed=seed).samples(duration, DT)
        trajectories.append(samples)
        for solver, tlist in ((ik, times), (ik_filtered, times_f)):
            s0 = samples[0]
            solver.reset(s0.arm_q, s0.torso_rpy, s0.torso_height)
            for s in samples:
                c0 = time.thread_time()
                sol = solver.solve(s.targets, DT)
                cpu["ours" if solver is ik else "filtered"].append(time.thread_time() - c0)
                tlist.append(sol.info.solve_time_s)
                if solver is ik:
                    p, r = _wrist_errors(ik, sol, s.targets)
                    pos_err.append(p)
                    rot_err.append(r)
                    # "reachable": the generating pose keeps the collision margin (else the barrier
                    # rightly refuses the exact answer)
                    d = min(ik.collision_distances(s.arm_q, s.torso_rpy, s.torso_height).values())
                    reachable.append(d >= ik.config.collision_margin + 0.005)
                limit_violations += not _within_limits(solver, sol)
    pos_err = np.array(pos_err)
    rot_err = np.array(rot_err)
    reachable = np.array(reachable)
    t_ours = summarize(times)
    t_filt = summarize(times_f)

    # Baselines on a subset (IPOPT is slow), same wrist targets: xr_teleoperate's arm IK with its
    # current solver options, and with the options of its earlier versions.
    n_base = 60 if quick else 600
    samples = trajectories[0][:n_base]

    def run_baseline(options):
        base = CasadiArmIK(ik, options)
        wall, thread_cpu, process_cpu, pos, rot = [], [], [], [], []
        base.reset(samples[0].arm_q)
        for s in samples:
            t0, c0, p0 = time.perf_counter(), time.thread_time(), time.process_time()
            arm_q = base.solve(s.targets.T_base_left_wrist, s.targets.T_base_right_wrist, s.torso_rpy, s.torso_height)
            wall.append(time.perf_counter() - t0)
            thread_cpu.append(time.thread_time() - c0)
            # CPU time of the whole process: equal to the thread's if IPOPT (or its linear solver,
            # or BLAS) does its work on the calling thread only, so thread CPU time compares fairly
            process_cpu.append(time.process_time() - p0)

            class _Sol:  # the baseline's answer with the true torso, for the same error function
                pass

            sol = _Sol()
            sol.arm_q, sol.torso_rpy, sol.torso_height = arm_q, s.torso_rpy, s.torso_height
            p, r = _wrist_errors(ik, sol, s.targets)
            pos.append(p)
            rot.append(r)
        return summarize(wall), thread_cpu, process_cpu, np.array(pos), np.array(rot)

    t_base, cpu["casadi"], cpu["casadi_process"], base_pos, base_rot = run_baseline(None)
    t_legacy, cpu_legacy, _, legacy_pos, legacy_rot = run_baseline(LEGACY_OPTIONS)
    ours_pos_same = pos_err[:len(samples)]
    ok = reachable
    figures.update({
        "ik_compiled": float(ik.compiled),  # 1: numba kernels (ik/fused_kernel.py), 0: the Python fused path
        "ik_median_ms": t_ours["median"], "ik_p99_ms": t_ours["p99"], "ik_max_ms": t_ours["max"],
        "ik_filtered_median_ms": t_filt["median"], "ik_filtered_p99_ms": t_filt["p99"],
        "ik_wrist_pos_err_median_mm": float(np.median(pos_err[ok]) * 1e3),
        "ik_wrist_pos_err_p99_mm": float(np.percentile(pos_err[ok], 99) * 1e3),
        "ik_wrist_pos_err_max_mm": float(pos_err[ok].max() * 1e3),
        "ik_wrist_rot_err_p99_deg": float(np.degrees(np.percentile(rot_err[ok], 99))),
        "ik_wrist_rot_err_max_deg": float(np.degrees(rot_err[ok].max())),
        "ik_reachable_fraction": float(ok.mean()),
        "ik_limit_violations": float(limit_violations),
        "baseline_casadi_median_ms": t_base["median"], "baseline_casadi_p99_ms": t_base["p99"],
        "baseline_wrist_pos_err_median_mm": float(np.median(base_pos) * 1e3),
        "baseline_wrist_pos_err_p99_mm": float(np.percentile(base_pos, 99) * 1e3),
        "baseline_wrist_pos_err_max_mm": float(np.max(base_pos) * 1e3),
        "baseline_wrist_rot_err_max_deg": float(np.degrees(np.max(base_rot))),
        "ours_same_ticks_pos_err_median_mm": float(np.median(ours_pos_same) * 1e3),
        "speedup_vs_casadi_median": t_base["median"] / t_ours["median"],
        # CPU time of the calling thread (insensitive to other processes on a shared machine)
        "ik_cpu_median_ms": float(np.median(cpu["ours"]) * 1e3),
        "ik_cpu_p99_ms": float(np.percentile(cpu["ours"], 99) * 1e3),
        "ik_filtered_cpu_median_ms": float(np.median(cpu["filtered"]) * 1e3),
        "baseline_casadi_cpu_median_ms": float(np.median(cpu["casadi"]) * 1e3),
        "baseline_casadi_process_cpu_median_ms": float(np.median(cpu["casadi_process"]) * 1e3),
        "speedup_vs_casadi_cpu_median": float(np.median(cpu["casadi"]) / np.median(cpu["ours"])),
        "baseline_legacy_median_ms": t_legacy["median"], "baseline_legacy_p99_ms": t_legacy["p99"],
        "baseline_legacy_cpu_median_ms": float(np.median(cpu_legacy) * 1e3),
        "baseline_legacy_wrist_pos_err_max_mm": float(np.max(legacy_pos) * 1e3),
        "speedup_vs_legacy_median": t_legacy["median"] / t_ours["median"],
        "speedup_vs_legacy_cpu_median": float(np.median(cpu_legacy) / np.median(cpu["ours"])),
    })
    return [
        ("upper-body IK (ours, solver)", f"{t_ours['median']:.3f}", f"{t_ours['p99']:.3f}",
         f"{figures['ik_wrist_pos_err_p99_mm']:.3f} / {figures['ik_wrist_pos_err_max_mm']:.3f}",
         f"{figures['ik_wrist_rot_err_max_deg']:.3f}", t_ours["n"]),
        ("upper-body IK (ours, + One-Euro)", f"{t_filt['median']:.3f}", f"{t_filt['p99']:.3f}", "-", "-", t_filt["n"]),
        ("CasADi+IPOPT arm IK (xr_teleoperate cost and options)", f"{t_base['median']:.3f}", f"{t_base['p99']:.3f}",
         f"{np.percentile(base_pos, 99) * 1e3:.3f} / {np.max(base_pos) * 1e3:.3f}",
         f"{figures['baseline_wrist_rot_err_max_deg']:.3f}", t_base["n"]),
        ("same, earlier options (max_iter 50, tol 1e-6)", f"{t_legacy['median']:.3f}", f"{t_legacy['p99']:.3f}",
         f"{np.percentile(legacy_pos, 99) * 1e3:.3f} / {np.max(legacy_pos) * 1e3:.3f}",
         f"{np.degrees(np.max(legacy_rot)):.3f}", t_legacy["n"]),
    ]


def _adversarial_targets(ik, rng: np.random.Generator, n: int):
    """A stream of bad targets: each kind for a stretch of ticks, mixed with good ones."""
    from ik import UpperBodyTargets

    fk = ik.forward(ik.q_posture[4:], np.zeros(3), 0.75)
    good = UpperBodyTargets(T_base_left_wrist=fk["left_wrist"], T_base_right_wrist=fk["right_wrist"],
                            T_base_head=fk["head"], R_base_waist=np.eye(3),
                            p_base_left_elbow=fk["left_elbow"][:3, 3], p_base_right_elbow=fk["right_elbow"][:3, 3])

    def pose(p, R=None):
        T = np.eye(4)
        T[:3, 3] = p
        if R is not None:
            T[:3, :3] = R
        return T

    kinds = ["nan", "inf", "teleport", "far", "singular", "non_rotation", "garbage", "zero_matrix", "good"]
    for k in range(n):
        kind = kinds[(k // 25) % len(kinds)]
        t = UpperBodyTargets(**{f: getattr(good, f) for f in good.__dataclass_fields__})
        if kind == "nan":
            T = good.T_base_left_wrist.copy()
            T[0, 3] = np.nan
            t.T_base_left_wrist = T
            t.p_base_right_elbow = np.array([np.nan, 0.0, 1.0])
        elif kind == "inf":
            T = good.T_base_head.copy()
            T[2, 3] = np.inf
            t.T_base_head = T
            t.R_base_waist = np.full((3, 3), np.inf)
        elif kind == "teleport":
            t.T_base_left_wrist = pose(rng.uniform(-2, 2, 3))
            t.T_base_right_wrist = pose(rng.uniform(-2, 2, 3))
        elif kind == "far":
            t.T_base_left_wrist = pose([3.0, 2.0, 2.5])
            t.T_base_right_wrist = pose([-3.0, -2.0, -1.0])
            t.T_base_head = pose([0.0, 0.0, 3.0])
        elif kind == "singular":  # arms straight out: fully stretched, Jacobian loses rank
            t.T_base_left_wrist = pose([0.0, 0.75, 1.08])
            t.T_base_right_wrist = pose([0.0, -0.75, 1.08])
        elif kind == "non_rotation":
            t.T_base_left_wrist = pose([0.3, 0.2, 0.9], np.diag([1.0, 1.0, -1.0]))
            t.R_base_waist = 3.0 * np.eye(3)
        elif kind == "garbage":
            t.T_base_left_wrist = rng.normal(size=(4, 4)) * 1e3
            t.T_base_right_wrist = rng.normal(size=(4, 4))
            t.T_base_head = rng.normal(size=(4, 4))
        elif kind == "zero_matrix":
            t.T_base_left_wrist = np.zeros((4, 4))
            t.R_base_waist = np.zeros((3, 3))
        yield t


def _bench_adversarial(quick: bool, figures: dict) -> None:
    from ik import UpperBodyIK

    ik = UpperBodyIK()
    rng = np.random.default_rng(7)
    n = 450 if quick else 4500
    nan, violations, over_speed, failed = 0, 0, 0, 0
    q_prev = ik.q
    for targets in _adversarial_targets(ik, rng, n):
        sol = ik.solve(targets, DT)
        q = ik.q
        nan += not (np.all(np.isfinite(sol.arm_q)) and np.all(np.isfinite(sol.torso_rpy))
                    and np.isfinite(sol.torso_height))
        violations += not _within_limits(ik, sol)
        over_speed += bool(np.any(np.abs(q - q_prev) > ik.v_max * DT + 1e-12))
        failed += sol.info.qp_failed
        q_prev = q
    figures.update({"adversarial_ticks": float(n), "adversarial_nan": float(nan),
                    "adversarial_limit_violations": float(violations),
                    "adversarial_velocity_violations": float(over_speed), "adversarial_qp_failures": float(failed)})


def _lag_ticks(q: np.ndarray, q_ref: np.ndarray, max_shift: float = 6.0) -> float:
    """Shift s [ticks] (0.05 resolution) minimising ``|q(t) - q_ref(t - s)|``, by linear interpolation."""
    t = np.arange(q.shape[0], dtype=float)
    best, best_s = np.inf, 0.0
    inner = slice(10, q.shape[0] - 10)
    for s in np.arange(-2.0, max_shift + 1e-9, 0.05):
        shifted = np.stack([np.interp(t - s, t, q_ref[:, j]) for j in range(q.shape[1])], axis=1)
        err = float(np.sum((q[inner] - shifted[inner]) ** 2))
        if err < best:
            best, best_s = err, s
    return best_s


def _bench_smoothing(quick: bool, figures: dict) -> list:
    from ik import UpperBodyIK, UpperBodyIKConfig, UpperBodyTargets
    from ik.trajectories import UpperBodyTrajectory

    duration = 3.0 if quick else 20.0
    raw = UpperBodyIK(UpperBodyIKConfig(filter=None))
    filt = UpperBodyIK()
    rng = np.random.default_rng(3)
    samples = UpperBodyTrajectory(raw, seed=11).samples(duration, DT)
    noisy = []
    for s in samples:
        t = s.targets
        n = UpperBodyTargets(**{f: (None if getattr(t, f) is None else np.array(getattr(t, f), copy=True))
                                for f in t.__dataclass_fields__})
        for name in ("T_base_left_wrist", "T_base_right_wrist", "T_base_head"):
            getattr(n, name)[:3, 3] += rng.normal(scale=0.002, size=3)
        n.p_base_left_elbow += rng.normal(scale=0.002, size=3)
        n.p_base_right_elbow += rng.normal(scale=0.002, size=3)
        noisy.append(n)

    def run(ik, targets):
        s0 = samples[0]
        ik.reset(s0.arm_q, s0.torso_rpy, s0.torso_height)
        return np.array([ik.solve(t, DT).arm_q for t in targets])

    q_ref = run(raw, [s.targets for s in samples])
    q_raw = run(raw, noisy)
    q_filt = run(filt, noisy)
    skip = 50  # let the filter settle after reset

    def jerk(q):
        return float(np.sqrt(np.mean(np.diff(q[skip:], n=3, axis=0) ** 2)))

    j_ref, j_raw, j_filt = jerk(q_ref), jerk(q_raw), jerk(q_filt)
    lag_raw = _lag_ticks(q_raw[skip:], q_ref[skip:])
    lag_filt = _lag_ticks(q_filt[skip:], q_ref[skip:])
    figures.update({
        "smoothing_jerk_raw_rad_per_tick3": j_raw, "smoothing_jerk_filtered_rad_per_tick3": j_filt,
        "smoothing_jerk_clean_rad_per_tick3": j_ref, "smoothing_jerk_reduction": j_raw / j_filt,
        "smoothing_lag_raw_ticks": lag_raw, "smoothing_lag_filtered_ticks": lag_filt,
        "smoothing_added_lag_ticks": lag_filt - lag_raw,
        "smoothing_rms_err_raw_deg": float(np.degrees(np.sqrt(np.mean((q_raw - q_ref)[skip:] ** 2)))),
        "smoothing_rms_err_filtered_deg": float(np.degrees(np.sqrt(np.mean((q_filt - q_ref)[skip:] ** 2)))),
    })
    return [
        ("no smoothing", f"{j_raw:.2e}", f"{lag_raw:.2f}", f"{figures['smoothing_rms_err_raw_deg']:.3f}"),
        ("One-Euro (lag-compensated)", f"{j_filt:.2e}", f"{lag_filt:.2f}",
         f"{figures['smoothing_rms_err_filtered_deg']:.3f}"),
        ("noise-free reference", f"{j_ref:.2e}", "0.00", "0.000"),
    ]


def _bench_hand(quick: bool, figures: dict) -> list:
    from ik import HandRetargeter, HandRetargeterConfig
    from ik.human_hand import HandMotionGenerator

    n = 150 if quick else 3000
    rows = []
    # Same objective on both sides: no pinch substitution, no output filter.
    cfg = HandRetargeterConfig(filter=None, pinch_enter_distance=0.0, pinch_exit_distance=1e-9)
    ours_t, ours_e, dex_t, dex_e, ours_c, dex_c = [], [], [], [], [], []
    dex_status = "ok"
    try:
        import dex_retargeting.optimizer  # noqa: F401  (imports torch, which dex-retargeting does not declare)

        from tests.bench.ik_baselines import dex3_urdf, dex_retargeting_vector_optimizer
    except ImportError as exc:
        dex_status = f"dex-retargeting unavailable: {exc}"
    with tempfile.TemporaryDirectory() as tmp:
        for side in ("left", "right"):
            hr = HandRetargeter(side, cfg)
            gen = HandMotionGenerator(side, seed=5 if side == "left" else 6)
            frames = [gen.sample(k * DT) for k in range(n)]
            opt = None
            if dex_status == "ok":
                opt = dex_retargeting_vector_optimizer(hr, dex3_urdf(hr, Path(tmp)))
            q_dex = np.clip(np.zeros(7), hr.q_min, hr.q_max)
            R = hr._R_wrist_frame
            for x in frames:
                t0, c0 = time.perf_counter(), time.thread_time()
                q = hr.solve(x, DT)
                ours_t.append(time.perf_counter() - t0)
                ours_c.append(time.thread_time() - c0)
                ours_e.append(float(hr.vector_error(x, q).mean()))
                if opt is not None:
                    t0, c0 = time.perf_counter(), time.thread_time()
                    human = hr.human_vectors(x)  # the same wrist-relative vectors, in the URDF root frame
                    q_dex = opt.retarget(human @ R.T, np.array([]), q_dex)
                    dex_t.append(time.perf_counter() - t0)
                    dex_c.append(time.thread_time() - c0)
                    q_dex = np.clip(np.asarray(q_dex, dtype=float), hr.q_min, hr.q_max)  # SLSQP may step 1e-3 out
                    dex_e.append(float(hr.vector_error(x, q_dex).mean()))
    t_ours = summarize(ours_t)
    figures.update({"hand_median_ms": t_ours["median"], "hand_p99_ms": t_ours["p99"],
                    "hand_cpu_median_ms": float(np.median(ours_c) * 1e3),
                    "hand_cpu_p99_ms": float(np.percentile(ours_c, 99) * 1e3),
                    "hand_vector_err_mean_mm": float(np.mean(ours_e) * 1e3)})
    rows.append(("HandRetargeter (ours)", f"{t_ours['median']:.3f}", f"{t_ours['p99']:.3f}",
                 f"{np.mean(ours_e) * 1e3:.2f}", t_ours["n"]))
    if dex_t:
        t_dex = summarize(dex_t)
        figures.update({"dex_retargeting_median_ms": t_dex["median"], "dex_retargeting_p99_ms": t_dex["p99"],
                        "dex_retargeting_vector_err_mean_mm": float(np.mean(dex_e) * 1e3),
                        "hand_speedup_vs_dex_retargeting_median": t_dex["median"] / t_ours["median"],
                        "dex_retargeting_cpu_median_ms": float(np.median(dex_c) * 1e3),
                        "hand_speedup_vs_dex_retargeting_cpu_median": float(np.median(dex_c) / np.median(ours_c))})
        rows.append(("dex-retargeting VectorOptimizer", f"{t_dex['median']:.3f}", f"{t_dex['p99']:.3f}",
                     f"{np.mean(dex_e) * 1e3:.2f}", t_dex["n"]))
    else:
        rows.append((dex_status, "-", "-", "-", 0))

    # Pinch: thumb-to-finger distance on the robot when the person pinches (pinch handling on).
    from ik.human_hand import HumanHandPose, hand_joints

    gaps = []
    for side in ("left", "right"):
        hr = HandRetargeter(side, HandRetargeterConfig(filter=None))
        for finger, k in (("index", 3), ("middle", 4)):
            hr.reset()
            x = hand_joints(side, HumanHandPose(curl=np.array([0.45, 0.45, 0.8, 0.8]), thumb_opposition=0.6,
                                                pinch=1.0, pinch_finger=finger))
            for _ in range(10):
                q = hr.solve(x, DT)
            gaps.append(float(np.linalg.norm(hr.robot_vectors(q)[k])))
    figures["pinch_robot_tip_gap_max_mm"] = float(np.max(gaps) * 1e3)
    return rows


def run(quick: bool = False) -> dict[str, float]:
    import os

    figures: dict[str, float] = {"load_average_1min_start": os.getloadavg()[0]}
    ik_rows = _bench_upper_body(quick, figures)
    print_table("Upper-body IK, all targets active (time per tick [ms]; wrist error on reachable targets)",
                ik_rows, ("solver", "median ms", "p99 ms", "pos err p99 / max [mm]", "rot err max [deg]", "n"))
    print("upper-body IK path: " + ("compiled kernels (numba)" if figures["ik_compiled"] else
                                    "Python fused (numba not installed)"))
    print(f"CPU time per tick (thread): ours {figures['ik_cpu_median_ms']:.3f} ms median, "
          f"{figures['ik_cpu_p99_ms']:.3f} ms p99; CasADi {figures['baseline_casadi_cpu_median_ms']:.3f} ms median "
          f"({figures['speedup_vs_casadi_cpu_median']:.1f}x; CasADi process CPU "
          f"{figures['baseline_casadi_process_cpu_median_ms']:.3f} ms: no work on other threads if equal); "
          f"earlier options {figures['baseline_legacy_cpu_median_ms']:.3f} ms "
          f"({figures['speedup_vs_legacy_cpu_median']:.1f}x)")
    print(f"speed-up vs CasADi at the median: {figures['speedup_vs_casadi_median']:.1f}x; "
          f"limit violations: {figures['ik_limit_violations']:.0f}; "
          f"reachable fraction: {figures['ik_reachable_fraction']:.3f}")
    _bench_adversarial(quick, figures)
    print(f"adversarial: {figures['adversarial_ticks']:.0f} ticks, NaN {figures['adversarial_nan']:.0f}, "
          f"limit violations {figures['adversarial_limit_violations']:.0f}, "
          f"velocity violations {figures['adversarial_velocity_violations']:.0f}, "
          f"QP failures (pose held) {figures['adversarial_qp_failures']:.0f}")
    smooth_rows = _bench_smoothing(quick, figures)
    print_table("Smoothing, 2 mm white noise on target positions (arm joints)", smooth_rows,
                ("targets", "RMS jerk [rad/tick^3]", "lag [ticks]", "RMS error vs noise-free [deg]"))
    print(f"jerk reduction {figures['smoothing_jerk_reduction']:.1f}x, added lag "
          f"{figures['smoothing_added_lag_ticks']:.2f} ticks")
    hand_rows = _bench_hand(quick, figures)
    print_table("Dex3-1 hand retargeting (per hand, same frames, same vectors)", hand_rows,
                ("solver", "median ms", "p99 ms", "mean vector error [mm]", "n"))
    print(f"hand CPU time (thread): ours {figures['hand_cpu_median_ms']:.3f} ms median, "
          f"{figures['hand_cpu_p99_ms']:.3f} ms p99")
    if "hand_speedup_vs_dex_retargeting_cpu_median" in figures:
        print(f"hand speed-up vs dex-retargeting in CPU time: {figures['hand_speedup_vs_dex_retargeting_cpu_median']:.1f}x")
    if "hand_speedup_vs_dex_retargeting_median" in figures:
        print(f"hand speed-up vs dex-retargeting at the median: {figures['hand_speedup_vs_dex_retargeting_median']:.1f}x")
    print(f"pinch: largest robot thumb-finger tip gap {figures['pinch_robot_tip_gap_max_mm']:.1f} mm")
    figures["load_average_1min_end"] = os.getloadavg()[0]
    print(f"machine load average (1 min): {figures['load_average_1min_start']:.1f} at the start, "
          f"{figures['load_average_1min_end']:.1f} at the end, on {os.cpu_count()} CPUs")
    return figures
