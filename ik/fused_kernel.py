"""Compiled (numba) per-tick work of :class:`ik.upper_body.UpperBodyIK`'s ``FUSED`` backend.

The pure-Python fused path spends its tick in ~120 small pinocchio/numpy calls of 1–3 µs each.
These kernels do the same arithmetic in two compiled calls per tick:

* :func:`assemble`: forward kinematics of the 18-DoF chain, frame placements and Jacobians of
  the task frames, the task errors (``log6``/``log3``) and their Jacobians (``Jlog6``), the
  weighted stacked system (``H``, ``f``), the position/velocity bounds, and the capsule
  barrier (distances, active pairs, rows);
* :func:`finish`: the velocity/position clip of the QP step, the barrier backtracking, and the
  wrist/head errors of the diagnostics.

The model is not re-described here: joint placements, axes, frame placements and capsules are
exported once from the pinocchio model (:class:`CompiledModel`). ``log3``, ``log6``, ``Jlog3``
and ``Jlog6`` follow pinocchio's formulas and Taylor branches (``spatial/log.hxx``), so the step
equals the Python path's to rounding (``tests/ik/test_upper_body.py`` checks ≤ 1e-9).

numba is imported only by :func:`load` (when a solver is built), never by ``import ik``;
compiled code is cached on disk (``cache=True``), so the compile happens once per machine.
"""

from __future__ import annotations

import numpy as np

_KERNELS = None


def load():
    """The compiled kernels ``(stage, tick_assemble, tick_finish)``, or ``None`` if numba is not installed."""
    global _KERNELS
    if _KERNELS is None:
        try:
            from ik import _fused_numba as k
        except ImportError:  # numba not installed
            _KERNELS = False
        else:
            _KERNELS = (k.stage, k.tick_assemble, k.tick_finish)
    return _KERNELS or None




class CompiledModel:
    """The model, tasks, capsules and target channels of one solver, packed for the kernels.

    Constant arrays are exported once from the pinocchio model (joint placements and axes,
    frame placements, capsules) and the solver's own tables; ``F``/``I`` hold them, ``W``/``WI``
    the persistent work arrays and outputs; :attr:`views` maps each slot name to its numpy view.
    """

    def __init__(self, model, task_specs: list[tuple], info_frames: list[tuple[int, int]], barrier,
                 channels: list[tuple[int, bool, bool, int, int, int]], floats: dict[str, np.ndarray]):
        """``task_specs``: per task (is_frame, frame id, rows slice or None, r0, r1, channel index);
        ``info_frames``: (frame id, channel index) of the left wrist, right wrist and head (diagnostics);
        ``barrier``: a :class:`ik.capsule_barrier.CapsuleCollisionBarrier` or ``None``;
        ``channels``: per target channel (kind 0 pose / 1 rotation / 2 position, has position,
        has rotation, hold ticks, offset, size); ``floats``: the solver's per-row and per-joint
        constants (row_w, row_ws, row_lm, h_diag, f_post, q_post, g_q_max, g_q_min, q_min, q_max,
        sc, max_jump2)."""
        from ik import _fused_numba as k

        nj, nv = model.njoints, model.nv
        a: dict[str, np.ndarray] = {}
        jparent = np.array([model.parents[j] for j in range(nj)], dtype=np.int64)
        jaxis = np.zeros(nj, dtype=np.int64)
        jR = np.zeros((nj, 3, 3))
        jp = np.zeros((nj, 3))
        names = {"JointModelRX": 0, "JointModelRY": 1, "JointModelRZ": 2, "JointModelPZ": 3}
        for j in range(1, nj):
            short = model.joints[j].shortname()
            if short not in names or model.idx_qs[j] != j - 1 or model.idx_vs[j] != j - 1:
                raise ValueError(f"compiled IK kernel: unsupported joint {model.names[j]} ({short})")
            jaxis[j] = names[short]
            jR[j] = model.jointPlacements[j].rotation
            jp[j] = model.jointPlacements[j].translation
        sup = np.zeros((nj, nv), dtype=np.int64)
        for j in range(1, nj):
            m = j
            while m > 0:
                sup[j, m - 1] = 1
                m = jparent[m]
        a.update(jparent=jparent, jaxis=jaxis, sup=sup, jR=jR, jp=jp)
        frames = [model.frames[spec[1]] for spec in task_specs]
        a["kind"] = np.array([0 if spec[0] else 1 for spec in task_specs], dtype=np.int64)
        a["tjoint"] = np.array([fr.parentJoint for fr in frames], dtype=np.int64)
        a["tfR"] = np.array([fr.placement.rotation for fr in frames]).reshape(-1, 3, 3)
        a["tfp"] = np.array([fr.placement.translation for fr in frames]).reshape(-1, 3)
        a["trs"] = np.array([0 if rows is None else rows.start for _, _, rows, _, _, _ in task_specs], dtype=np.int64)
        a["tre"] = a["trs"] + np.array([r1 - r0 for _, _, _, r0, r1, _ in task_specs], dtype=np.int64)
        a["tr0"] = np.array([spec[3] for spec in task_specs], dtype=np.int64)
        a["tchan"] = np.array([spec[5] for spec in task_specs], dtype=np.int64)
        frames = [model.frames[fid] for fid, _ in info_frames]
        a["e_joint"] = np.array([fr.parentJoint for fr in frames], dtype=np.int64)
        a["e_chan"] = np.array([c for _, c in info_frames], dtype=np.int64)
        a["eR"] = np.array([fr.placement.rotation for fr in frames])
        a["ep"] = np.array([fr.placement.translation for fr in frames])
        ncap = len(barrier._frame_ids) if barrier is not None else 0
        pairs = barrier._pairs if barrier is not None else []
        caps = [model.frames[fid] for fid in barrier._frame_ids] if ncap else []
        cens = [model.frames[fid] for fid in barrier._centre_fids] if ncap else []
        a["cap_joint"] = np.array([fr.parentJoint for fr in caps], dtype=np.int64)
        a["cen_joint"] = np.array([fr.parentJoint for fr in cens], dtype=np.int64)
        a["cap_R"] = np.array([fr.placement.rotation for fr in caps]).reshape(ncap, 3, 3)
        a["cap_p"] = np.array([fr.placement.translation for fr in caps]).reshape(ncap, 3)
        a["cen_p"] = np.array([fr.placement.translation for fr in cens]).reshape(ncap, 3)
        a["cap_ends"] = np.array(barrier._local_ends if ncap else [], dtype=float).reshape(ncap, 2, 3)
        a["pair_a"] = np.array([p for p, _ in pairs], dtype=np.int64)
        a["pair_b"] = np.array([p for _, p in pairs], dtype=np.int64)
        a["bound_sum"] = np.array(barrier._bound_sum if ncap else [], dtype=float)
        a["radius_sum"] = np.array(barrier._radius_sum if ncap else [], dtype=float)
        a["bgain"] = np.asarray(barrier.gain if ncap else [], dtype=float).reshape(-1) * np.ones(len(pairs))
        for name, col in (("ch_kind", 0), ("ch_has_p", 1), ("ch_has_r", 2), ("ch_hold", 3), ("ch_off", 4),
                          ("ch_size", 5)):
            a[name] = np.array([int(c[col]) for c in channels], dtype=np.int64)
        a.update(floats)
        npairs, nch = len(pairs), len(channels)
        m = len(a["row_w"])
        work = {"H": (nv, nv), "f": (nv,), "upper": (nv + npairs,), "lower": (nv + npairs,), "Ab": (npairs, nv),
                "bJ": (npairs, nv), "bh": (npairs,), "A": (m, nv), "E": (m,), "tgt": (nch, 7), "err": (5,),
                "x": (int(a["ch_off"][-1] + a["ch_size"][-1]),), "last": (nch, 7), "vdt": (nv,)}
        iwork = {"valid": (nch,), "jumps": (nch,), "usable": (nch,)}
        hdr = np.zeros((len(k.SLOTS), 4), dtype=np.int64)
        sizes = {"F": 0, "I": 0, "W": 0, "WI": 0}
        where = {}
        for slot, name in enumerate(k.SLOTS):
            if name in work:
                buf, shape = "W", work[name]
            elif name in iwork:
                buf, shape = "WI", iwork[name]
            else:
                arr = a[name]
                buf, shape = ("I" if arr.dtype.kind == "i" else "F"), arr.shape
            n = int(np.prod(shape))
            hdr[slot, 0] = sizes[buf]
            hdr[slot, 1:1 + len(shape)] = shape
            where[name] = (buf, sizes[buf], n, shape)
            sizes[buf] += n
        self.F = np.zeros(sizes["F"])
        self.I = np.zeros(sizes["I"], dtype=np.int64)
        self.W = np.zeros(sizes["W"])
        self.WI = np.zeros(sizes["WI"], dtype=np.int64)
        self.hdr = hdr
        bufs = {"F": self.F, "I": self.I, "W": self.W, "WI": self.WI}
        self.views: dict[str, np.ndarray] = {}
        for name, (buf, o, n, shape) in where.items():
            view = bufs[buf][o:o + n].reshape(shape)
            if name in a:
                view[...] = a[name]
            self.views[name] = view
        self.views["upper"][:] = 1e30
        self.n_pairs = npairs
