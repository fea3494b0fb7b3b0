"""numba kernels of :mod:`ik.fused_kernel` (imported only when a compiled solver is built).

Every function is defined at module level so that numba's on-disk cache (``cache=True``)
finds it again in a new process (closures are re-keyed per process and recompiled).
"""

import math

import numba
import numpy as np

eps = float(np.finfo(float).eps)
prec2 = eps ** (1.0 / 3.0)  # pinocchio TaylorSeriesExpansion<double>::precision<2>()
prec3 = eps ** (1.0 / 4.0)  # precision<3>()

njit = numba.njit(cache=True, fastmath=False, nogil=True, error_model="numpy")  # IEEE division, as C++

@njit
def fk(q, jparent, jaxis, jR, jp, oR, op):
    """Joint placements (oR, op) of the chain; joint 0 is the universe."""
    oR[0, :, :] = 0.0
    oR[0, 0, 0] = oR[0, 1, 1] = oR[0, 2, 2] = 1.0
    op[0, :] = 0.0
    L = np.empty((3, 3))
    lp = np.empty(3)
    for j in range(1, jparent.shape[0]):
        a = jaxis[j]
        x = q[j - 1]
        if a == 3:  # prismatic z: (jR, jR e_z x + jp)
            for r in range(3):
                for c in range(3):
                    L[r, c] = jR[j, r, c]
                lp[r] = jR[j, r, 2] * x + jp[j, r]
        else:  # revolute about axis a: (jR Ra(x), jp)
            s = math.sin(x)
            co = math.cos(x)
            for r in range(3):
                r0, r1, r2 = jR[j, r, 0], jR[j, r, 1], jR[j, r, 2]
                if a == 0:
                    L[r, 0] = r0
                    L[r, 1] = r1 * co + r2 * s
                    L[r, 2] = -r1 * s + r2 * co
                elif a == 1:
                    L[r, 0] = r0 * co - r2 * s
                    L[r, 1] = r1
                    L[r, 2] = r0 * s + r2 * co
                else:
                    L[r, 0] = r0 * co + r1 * s
                    L[r, 1] = -r0 * s + r1 * co
                    L[r, 2] = r2
                lp[r] = jp[j, r]
        p = jparent[j]
        if p == 0:
            oR[j] = L
            op[j] = lp
        else:
            for r in range(3):
                for c in range(3):
                    oR[j, r, c] = oR[p, r, 0] * L[0, c] + oR[p, r, 1] * L[1, c] + oR[p, r, 2] * L[2, c]
                op[j, r] = oR[p, r, 0] * lp[0] + oR[p, r, 1] * lp[1] + oR[p, r, 2] * lp[2] + op[p, r]

@njit
def frame(oR, op, j, fR, fp, R, p):
    """Placement (R, p) of a frame on joint j with placement (fR, fp) in it."""
    for r in range(3):
        for c in range(3):
            R[r, c] = oR[j, r, 0] * fR[0, c] + oR[j, r, 1] * fR[1, c] + oR[j, r, 2] * fR[2, c]
        p[r] = oR[j, r, 0] * fp[0] + oR[j, r, 1] * fp[1] + oR[j, r, 2] * fp[2] + op[j, r]

@njit
def joint_jacobian(oR, op, jaxis, J):
    """Joint Jacobian columns in the world frame (pinocchio computeJointJacobians): (6, nv)."""
    for j in range(1, jaxis.shape[0]):
        v = j - 1
        a = jaxis[j]
        if a == 3:
            for r in range(3):
                J[r, v] = oR[j, r, 2]
                J[3 + r, v] = 0.0
        else:
            w0, w1, w2 = oR[j, 0, a], oR[j, 1, a], oR[j, 2, a]
            p0, p1, p2 = op[j, 0], op[j, 1], op[j, 2]
            J[0, v] = p1 * w2 - p2 * w1
            J[1, v] = p2 * w0 - p0 * w2
            J[2, v] = p0 * w1 - p1 * w0
            J[3, v] = w0
            J[4, v] = w1
            J[5, v] = w2

@njit
def frame_jacobian(J, sup, j, R, p, local, out):
    """Frame Jacobian (6, nv): LOCAL (local=True) or LOCAL_WORLD_ALIGNED, columns of j's support."""
    nv = J.shape[1]
    for v in range(nv):
        if not sup[j, v]:
            for r in range(6):
                out[r, v] = 0.0
            continue
        w0, w1, w2 = J[3, v], J[4, v], J[5, v]
        # velocity of the frame origin: v_o + w x p
        l0 = J[0, v] + w1 * p[2] - w2 * p[1]
        l1 = J[1, v] + w2 * p[0] - w0 * p[2]
        l2 = J[2, v] + w0 * p[1] - w1 * p[0]
        if local:
            out[0, v] = R[0, 0] * l0 + R[1, 0] * l1 + R[2, 0] * l2
            out[1, v] = R[0, 1] * l0 + R[1, 1] * l1 + R[2, 1] * l2
            out[2, v] = R[0, 2] * l0 + R[1, 2] * l1 + R[2, 2] * l2
            out[3, v] = R[0, 0] * w0 + R[1, 0] * w1 + R[2, 0] * w2
            out[4, v] = R[0, 1] * w0 + R[1, 1] * w1 + R[2, 1] * w2
            out[5, v] = R[0, 2] * w0 + R[1, 2] * w1 + R[2, 2] * w2
        else:
            out[0, v] = l0
            out[1, v] = l1
            out[2, v] = l2
            out[3, v] = w0
            out[4, v] = w1
            out[5, v] = w2

@njit
def quat_to_rot(x, y, z, w, R):
    """Eigen's Quaternion::toRotationMatrix."""
    tx, ty, tz = 2.0 * x, 2.0 * y, 2.0 * z
    twx, twy, twz = tx * w, ty * w, tz * w
    txx, txy, txz = tx * x, ty * x, tz * x
    tyy, tyz, tzz = ty * y, tz * y, tz * z
    R[0, 0] = 1.0 - (tyy + tzz)
    R[0, 1] = txy - twz
    R[0, 2] = txz + twy
    R[1, 0] = txy + twz
    R[1, 1] = 1.0 - (txx + tzz)
    R[1, 2] = tyz - twx
    R[2, 0] = txz - twy
    R[2, 1] = tyz + twx
    R[2, 2] = 1.0 - (txx + tyy)

@njit
def theta_axis(i0, val, Rn, out):
    """pinocchio internal::compute_theta_axis; returns the angle, the unit axis in out."""
    i1 = (i0 + 1) % 3
    i2 = (i0 + 2) % 3
    s = math.sqrt(val + eps + eps * eps) * (1.0 if Rn[i2, i1] >= Rn[i1, i2] else -1.0)
    out[i0] = s / 2.0
    out[i1] = 1.0 / (2.0 * s) * (Rn[i1, i0] + Rn[i0, i1])
    out[i2] = 1.0 / (2.0 * s) * (Rn[i2, i0] + Rn[i0, i2])
    w = 1.0 / (2.0 * s) * (Rn[i2, i1] - Rn[i1, i2])
    n = math.sqrt(out[0] * out[0] + out[1] * out[1] + out[2] * out[2])
    angle = 2.0 * math.atan2(n, w)
    out[0] /= n
    out[1] /= n
    out[2] /= n
    return angle

@njit
def log3(R, w):
    """pinocchio log3: angle-axis vector into w, returns theta."""
    Rn = np.empty((3, 3))
    n0 = math.sqrt(R[0, 0] ** 2 + R[1, 0] ** 2 + R[2, 0] ** 2)
    n1 = math.sqrt(R[0, 1] ** 2 + R[1, 1] ** 2 + R[2, 1] ** 2)
    for r in range(3):
        Rn[r, 0] = R[r, 0] / n0
        Rn[r, 1] = R[r, 1] / n1
    Rn[0, 2] = Rn[1, 0] * Rn[2, 1] - Rn[2, 0] * Rn[1, 1]
    Rn[1, 2] = Rn[2, 0] * Rn[0, 1] - Rn[0, 0] * Rn[2, 1]
    Rn[2, 2] = Rn[0, 0] * Rn[1, 1] - Rn[1, 0] * Rn[0, 1]
    c0 = Rn[1, 1] * Rn[2, 2] - Rn[2, 1] * Rn[1, 2]
    c1 = Rn[2, 1] * Rn[0, 2] - Rn[0, 1] * Rn[2, 2]
    c2 = Rn[0, 1] * Rn[1, 2] - Rn[1, 1] * Rn[0, 2]
    Rn[0, 0], Rn[1, 0], Rn[2, 0] = c0, c1, c2
    tr = Rn[0, 0] + Rn[1, 1] + Rn[2, 2]
    cos_value = (tr - 1.0) / 2.0
    acos_expansion = math.sqrt(2.0 * (1.0 - cos_value) + eps * eps)
    if tr <= 3.0 - prec2:
        if tr >= -1.0 + prec2:
            theta_nominal = math.acos(cos_value)
        else:
            theta_nominal = math.pi - acos_expansion
    else:
        theta_nominal = acos_expansion
    if cos_value >= -1.0 + prec2:
        a0 = 0.5 * (Rn[2, 1] - Rn[1, 2])
        a1 = 0.5 * (Rn[0, 2] - Rn[2, 0])
        a2 = 0.5 * (Rn[1, 0] - Rn[0, 1])
        if theta_nominal >= prec2:
            t = theta_nominal / math.sin(theta_nominal)
        else:
            n2 = a0 * a0 + a1 * a1 + a2 * a2
            t = 1.0 + n2 / 6.0 + n2 * n2 * 3.0 / 40.0
        w[0], w[1], w[2] = t * a0, t * a1, t * a2
        return theta_nominal
    v0 = 2.0 * Rn[0, 0] - tr + 1.0
    v1 = 2.0 * Rn[1, 1] - tr + 1.0
    v2 = 2.0 * Rn[2, 2] - tr + 1.0
    if v0 >= v1:
        i, v = (0, v0) if v0 >= v2 else (2, v2)
    else:
        i, v = (1, v1) if v1 >= v2 else (2, v2)
    th = theta_axis(i, v, Rn, w)
    w[0] *= th
    w[1] *= th
    w[2] *= th
    return th

@njit
def add_half_skew(M, v):
    """M += skew(v) / 2 (the 3x3 cross-product matrix of v, halved)."""
    M[0, 1] -= 0.5 * v[2]
    M[0, 2] += 0.5 * v[1]
    M[1, 0] += 0.5 * v[2]
    M[1, 2] -= 0.5 * v[0]
    M[2, 0] -= 0.5 * v[1]
    M[2, 1] += 0.5 * v[0]

@njit
def jlog3(theta, w, A):
    st = math.sin(theta)
    ct = math.cos(theta)
    st_1mct = st / (1.0 - ct)
    if theta < prec3:
        alpha = 1.0 / 12.0 + theta * theta / 720.0
        diag = 0.5 * (2.0 - theta * theta / 6.0)
    else:
        alpha = 1.0 / (theta * theta) - st_1mct / (2.0 * theta)
        diag = 0.5 * (theta * st_1mct)
    for r in range(3):
        for c in range(3):
            A[r, c] = alpha * w[r] * w[c]
        A[r, r] += diag
    add_half_skew(A, w)

@njit
def log6(R, p, out):
    """pinocchio log6 (SE3 form): out = (linear, angular)."""
    a0 = 0.5 * (R[2, 1] - R[1, 2])
    a1 = 0.5 * (R[0, 2] - R[2, 0])
    a2 = 0.5 * (R[1, 0] - R[0, 1])
    t2 = a0 * a0 + a1 * a1 + a2 * a2
    tr = R[0, 0] + R[1, 1] + R[2, 2]
    w = np.empty(3)
    theta = log3(R, w)
    st = math.sin(theta)
    ct = math.cos(theta)
    if tr >= 3.0 - prec2:
        alpha = 1.0 - t2 / 12.0 - t2 * t2 / 720.0
        beta = 1.0 / 12.0 + t2 / 720.0
    else:
        alpha = theta * st / (2.0 * (1.0 - ct))
        beta = 1.0 / (theta * theta) - st / (2.0 * theta * (1.0 - ct))
    wp = w[0] * p[0] + w[1] * p[1] + w[2] * p[2]
    c0 = w[1] * p[2] - w[2] * p[1]
    c1 = w[2] * p[0] - w[0] * p[2]
    c2 = w[0] * p[1] - w[1] * p[0]
    out[0] = alpha * p[0] - 0.5 * c0 + (beta * wp) * w[0]
    out[1] = alpha * p[1] - 0.5 * c1 + (beta * wp) * w[1]
    out[2] = alpha * p[2] - 0.5 * c2 + (beta * wp) * w[2]
    out[3], out[4], out[5] = w[0], w[1], w[2]

@njit
def jlog6(R, p, out):
    """pinocchio Jlog6 (6, 6) into out."""
    w = np.empty(3)
    t = log3(R, w)
    A = np.empty((3, 3))
    jlog3(t, w, A)
    t2 = t * t
    tinv = 1.0 / t
    t2inv = tinv * tinv
    st = math.sin(t)
    ct = math.cos(t)
    inv_2_2ct = 1.0 / (2.0 * (1.0 - ct))
    if t < prec3:
        beta = 1.0 / 12.0 + t2 / 720.0
        bdot = 1.0 / 360.0
    else:
        beta = t2inv - st * tinv * inv_2_2ct
        bdot = -2.0 * t2inv * t2inv + (1.0 + st * tinv) * t2inv * inv_2_2ct
    wTp = w[0] * p[0] + w[1] * p[1] + w[2] * p[2]
    C = np.empty((3, 3))
    k = t2 * bdot + 2.0 * beta
    for r in range(3):
        v3 = (bdot * wTp) * w[r] - k * p[r]
        for c in range(3):
            C[r, c] = v3 * w[c]
    for r in range(3):
        for c in range(3):
            C[r, c] += beta * w[r] * p[c]
        C[r, r] += wTp * beta
    add_half_skew(C, p)
    for r in range(3):
        for c in range(3):
            out[r, c] = A[r, c]
            out[3 + r, 3 + c] = A[r, c]
            out[3 + r, c] = 0.0
            out[r, 3 + c] = C[r, 0] * A[0, c] + C[r, 1] * A[1, c] + C[r, 2] * A[2, c]

@njit
def closest_points(p0, p1, q0, q1, pa, pb):
    """ik.capsule_barrier._closest_points."""
    d10, d11, d12 = p1[0] - p0[0], p1[1] - p0[1], p1[2] - p0[2]
    d20, d21, d22 = q1[0] - q0[0], q1[1] - q0[1], q1[2] - q0[2]
    r0, r1, r2 = p0[0] - q0[0], p0[1] - q0[1], p0[2] - q0[2]
    a = d10 * d10 + d11 * d11 + d12 * d12
    e = d20 * d20 + d21 * d21 + d22 * d22
    f = d20 * r0 + d21 * r1 + d22 * r2
    tiny = 1e-12
    if a <= tiny and e <= tiny:
        s, t = 0.0, 0.0
    elif a <= tiny:
        s, t = 0.0, min(max(f / e, 0.0), 1.0)
    else:
        c = d10 * r0 + d11 * r1 + d12 * r2
        if e <= tiny:
            s, t = min(max(-c / a, 0.0), 1.0), 0.0
        else:
            b = d10 * d20 + d11 * d21 + d12 * d22
            denom = a * e - b * b
            s = min(max((b * f - c * e) / denom, 0.0), 1.0) if denom > tiny else 0.0
            t = (b * s + f) / e
            if t < 0.0:
                s, t = min(max(-c / a, 0.0), 1.0), 0.0
            elif t > 1.0:
                s, t = min(max((b - c) / a, 0.0), 1.0), 1.0
    pa[0], pa[1], pa[2] = p0[0] + s * d10, p0[1] + s * d11, p0[2] + s * d12
    pb[0], pb[1], pb[2] = q0[0] + t * d20, q0[1] + t * d21, q0[2] + t * d22

@njit
def capsule_axis(oR, op, cap_joint, cap_R, cap_p, cap_ends, i, R, p, e0, e1):
    """Placement (R, p) of capsule i's frame and its axis end points e0, e1 (world)."""
    frame(oR, op, cap_joint[i], cap_R[i], cap_p[i], R, p)
    for r in range(3):
        e0[r] = R[r, 0] * cap_ends[i, 0, 0] + R[r, 1] * cap_ends[i, 0, 1] + R[r, 2] * cap_ends[i, 0, 2] + p[r]
        e1[r] = R[r, 0] * cap_ends[i, 1, 0] + R[r, 1] * cap_ends[i, 1, 1] + R[r, 2] * cap_ends[i, 1, 2] + p[r]

@njit
def pair_margin(oR, op, cap_joint, cap_R, cap_p, cap_ends, ia, ib, pa, pb, Ra, pra, Rb, prb):
    """Closest points pa, pb of capsules ia, ib (frames in Ra, pra, Rb, prb); returns their distance."""
    a0 = np.empty(3)
    a1 = np.empty(3)
    b0 = np.empty(3)
    b1 = np.empty(3)
    capsule_axis(oR, op, cap_joint, cap_R, cap_p, cap_ends, ia, Ra, pra, a0, a1)
    capsule_axis(oR, op, cap_joint, cap_R, cap_p, cap_ends, ib, Rb, prb, b0, b1)
    closest_points(a0, a1, b0, b1, pa, pb)
    return math.sqrt((pa[0] - pb[0]) ** 2 + (pa[1] - pb[1]) ** 2 + (pa[2] - pb[2]) ** 2)

@njit
def assemble(q, dt, m_i, m_f, t_i, t_f, tgt, chan_live, c_i, c_f, w, A, E, H, f, upper, lower, Ab, bJ, bh,
             bactive):
    """Build the QP of one tick at ``q``; returns (number of active barrier pairs, smallest margin).

    m_i/m_f: model ints (jparent, jaxis, support) and floats (jR, jp) as a tuple;
    t_i/t_f: task ints (kind, joint, rs, re, r0, chan) and floats (fR, fp);
    tgt: (n_channels, 7) filtered targets (p, quat xyzw); chan_live: bool per channel;
    c_i/c_f: capsule data; w: (row_w, row_ws, row_lm, h_diag, f_post, q_post, g_q_max, g_q_min,
    vdt, scalars=[damping, limit gain, d_min, act_d]).
    """
    jparent, jaxis, sup = m_i
    jR, jp = m_f
    kind, tjoint, trs, tre, tr0, tchan = t_i
    tfR, tfp = t_f
    row_w, row_ws, row_lm, h_diag, f_post, q_post, g_q_max, g_q_min, vdt, sc = w
    nj = jparent.shape[0]
    nv = q.shape[0]
    oR = np.empty((nj, 3, 3))
    op = np.empty((nj, 3))
    fk(q, jparent, jaxis, jR, jp, oR, op)
    J = np.empty((6, nv))
    joint_jacobian(oR, op, jaxis, J)
    R = np.empty((3, 3))
    p = np.empty(3)
    RT = np.empty((3, 3))
    Rbt = np.empty((3, 3))
    pbt = np.empty(3)
    Rinv = np.empty((3, 3))
    pinv = np.empty(3)
    e6 = np.empty(6)
    Jl = np.empty((6, 6))
    Jf = np.empty((6, nv))
    for k in range(kind.shape[0]):
        r0 = tr0[k]
        rs, re = trs[k], tre[k]
        n = re - rs
        c = tchan[k]
        if not chan_live[c]:
            for r in range(n):
                E[r0 + r] = 0.0
                for v in range(nv):
                    A[r0 + r, v] = 0.0
            continue
        j = tjoint[k]
        frame(oR, op, j, tfR[k], tfp[k], R, p)
        if kind[k] == 0:  # FrameTask: e = log6(T_b^-1 T_t), rows Jlog6(T_t^-1 T_b) J_local
            quat_to_rot(tgt[c, 3], tgt[c, 4], tgt[c, 5], tgt[c, 6], RT)
            for a in range(3):
                for b in range(3):
                    Rbt[a, b] = R[0, a] * RT[0, b] + R[1, a] * RT[1, b] + R[2, a] * RT[2, b]
                pbt[a] = (R[0, a] * (tgt[c, 0] - p[0]) + R[1, a] * (tgt[c, 1] - p[1])
                          + R[2, a] * (tgt[c, 2] - p[2]))
            log6(Rbt, pbt, e6)
            for a in range(3):
                for b in range(3):
                    Rinv[a, b] = Rbt[b, a]
            for a in range(3):
                pinv[a] = -(Rinv[a, 0] * pbt[0] + Rinv[a, 1] * pbt[1] + Rinv[a, 2] * pbt[2])
            jlog6(Rinv, pinv, Jl)
            frame_jacobian(J, sup, j, R, p, True, Jf)
            for r in range(n):
                E[r0 + r] = e6[rs + r]
                for v in range(nv):
                    acc = 0.0
                    for i in range(6):
                        acc += Jl[rs + r, i] * Jf[i, v]
                    A[r0 + r, v] = acc
        else:  # world-axis position task
            frame_jacobian(J, sup, j, R, p, False, Jf)
            for r in range(n):
                E[r0 + r] = p[rs + r] - tgt[c, rs + r]
                for v in range(nv):
                    A[r0 + r, v] = Jf[rs + r, v]
    # weighted system: H = Aw^T Aw + diag(h_diag + mu), f = f_post (q - q_post) + Aw^T (w e)
    m = A.shape[0]
    Aw = np.empty((m, nv))
    we = np.empty(m)
    mu = 0.0
    for r in range(m):
        we[r] = E[r] * row_w[r]
        mu += row_lm[r] * we[r] * we[r]
        for v in range(nv):
            Aw[r, v] = A[r, v] * row_ws[r]
    mu += sc[0]
    for a in range(nv):
        for b in range(a, nv):
            acc = 0.0
            for r in range(m):
                acc += Aw[r, a] * Aw[r, b]
            H[a, b] = acc
            H[b, a] = acc
        H[a, a] += h_diag[a] + mu
        acc = 0.0
        for r in range(m):
            acc += Aw[r, a] * we[r]
        f[a] = f_post[a] * (q[a] - q_post[a]) + acc
    # bounds: gain (q_lim - q), velocity
    g = sc[1]
    for v in range(nv):
        gq = g * q[v]
        ub = min(g_q_max[v] - gq, vdt[v])
        lb = max(g_q_min[v] - gq, -vdt[v])
        upper[v] = ub
        lower[v] = min(lb, ub)
    # capsule barrier (no pairs without one)
    cap_joint, cen_joint, pair_a, pair_b = c_i
    cap_R, cap_p, cap_ends, cen_p, bound_sum, radius_sum, bgain = c_f
    d_min, act_d = sc[2], sc[3]
    ncap = cap_joint.shape[0]
    cen = np.empty((ncap, 3))
    for i in range(ncap):
        jj = cen_joint[i]
        for r in range(3):
            cen[i, r] = oR[jj, r, 0] * cen_p[i, 0] + oR[jj, r, 1] * cen_p[i, 1] + oR[jj, r, 2] * cen_p[i, 2] + op[jj, r]
    npairs = pair_a.shape[0]
    nb = 0
    hmin = math.inf
    pa = np.empty(3)
    pb = np.empty(3)
    Ra = np.empty((3, 3))
    pra = np.empty(3)
    Rb = np.empty((3, 3))
    prb = np.empty(3)
    w6 = np.empty(6)
    for jp_ in range(npairs):
        ia, ib = pair_a[jp_], pair_b[jp_]
        d = math.sqrt((cen[ia, 0] - cen[ib, 0]) ** 2 + (cen[ia, 1] - cen[ib, 1]) ** 2
                      + (cen[ia, 2] - cen[ib, 2]) ** 2) - bound_sum[jp_]
        for v in range(nv):
            bJ[jp_, v] = 0.0
        if not d < act_d:
            bactive[jp_] = False
            bh[jp_] = max(act_d, d)
        else:
            bactive[jp_] = True
            dist = pair_margin(oR, op, cap_joint, cap_R, cap_p, cap_ends, ia, ib, pa, pb, Ra, pra, Rb, prb)
            dx, dy, dz = pa[0] - pb[0], pa[1] - pb[1], pa[2] - pb[2]
            if dist > 1e-9:
                n0, n1, n2 = dx / dist, dy / dist, dz / dist
            else:
                n0, n1, n2 = 0.0, 0.0, 1.0
            bh[jp_] = dist - radius_sum[jp_] - d_min
            for side in range(2):
                if side == 0:
                    i, sign, Rc, pc, pt = ia, 1.0, Ra, pra, pa
                else:
                    i, sign, Rc, pc, pt = ib, -1.0, Rb, prb, pb
                frame_jacobian(J, sup, cap_joint[i], Rc, pc, False, Jf)
                r0_, r1_, r2_ = pt[0] - pc[0], pt[1] - pc[1], pt[2] - pc[2]
                s0, s1, s2 = sign * n0, sign * n1, sign * n2
                w6[0], w6[1], w6[2] = s0, s1, s2
                w6[3] = r1_ * s2 - r2_ * s1
                w6[4] = r2_ * s0 - r0_ * s2
                w6[5] = r0_ * s1 - r1_ * s0
                for v in range(nv):
                    acc = 0.0
                    for r in range(6):
                        acc += w6[r] * Jf[r, v]
                    bJ[jp_, v] += acc
            for v in range(nv):
                Ab[nb, v] = bJ[jp_, v]
            lower[nv + nb] = -bgain[jp_] * bh[jp_] * dt
            nb += 1
        hmin = min(hmin, bh[jp_])
    return nb, hmin

@njit
def margins_ok(q, m_i, m_f, c_i, c_f, d_min, bactive, floor):
    jparent, jaxis, _ = m_i
    jR, jp = m_f
    cap_joint, _, pair_a, pair_b = c_i
    cap_R, cap_p, cap_ends, _, _, radius_sum, _ = c_f
    nj = jparent.shape[0]
    oR = np.empty((nj, 3, 3))
    op = np.empty((nj, 3))
    fk(q, jparent, jaxis, jR, jp, oR, op)
    pa = np.empty(3)
    pb = np.empty(3)
    Ra = np.empty((3, 3))
    pra = np.empty(3)
    Rb = np.empty((3, 3))
    prb = np.empty(3)
    for j in range(pair_a.shape[0]):
        if bactive[j]:
            dist = pair_margin(oR, op, cap_joint, cap_R, cap_p, cap_ends, pair_a[j], pair_b[j], pa, pb, Ra, pra,
                               Rb, prb)
            if not dist - radius_sum[j] - d_min >= floor[j]:
                return False
    return True

@njit
def finish(q, dq, step_ok, vdt, q_min, q_max, m_i, m_f, c_i, c_f, d_min, nb, bactive, bh, e_i, e_f, tgt,
           chan_live, q_out, err):
    """Clip the step, backtrack against the barrier, and fill q_out; err = (pos_l, pos_r, rot_l, rot_r, head_z)."""
    nv = q.shape[0]
    for v in range(nv):
        s = max(min(dq[v], vdt[v]), -vdt[v]) + q[v]
        q_out[v] = max(min(s, q_max[v]), q_min[v])
    if not step_ok:
        q_out[:] = q
    elif nb > 0:
        floor = np.empty(bh.shape[0])
        for j in range(bh.shape[0]):
            floor[j] = min(bh[j], 0.0) - 1e-3
        step = q_out - q
        cand = np.empty(nv)
        accepted = False
        for scale in (1.0, 0.5, 0.25, 0.125):
            if scale == 1.0:
                cand[:] = q_out
            else:
                for v in range(nv):
                    cand[v] = q[v] + scale * step[v]
            if margins_ok(cand, m_i, m_f, c_i, c_f, d_min, bactive, floor):
                accepted = True
                break
        if accepted:
            q_out[:] = cand
        else:
            q_out[:] = q
    # diagnostics at the accepted pose
    jparent, jaxis, _ = m_i
    jR, jp = m_f
    e_joint, e_chan = e_i
    e_R, e_p = e_f
    nj = jparent.shape[0]
    oR = np.empty((nj, 3, 3))
    op = np.empty((nj, 3))
    fk(q_out, jparent, jaxis, jR, jp, oR, op)
    R = np.empty((3, 3))
    p = np.empty(3)
    RT = np.empty((3, 3))
    for i in range(5):
        err[i] = math.nan
    for i in range(3):  # left wrist, right wrist, head height
        c = e_chan[i]
        if not chan_live[c]:
            continue
        frame(oR, op, e_joint[i], e_R[i], e_p[i], R, p)
        if i < 2:
            quat_to_rot(tgt[c, 3], tgt[c, 4], tgt[c, 5], tgt[c, 6], RT)
            err[i] = math.sqrt((p[0] - tgt[c, 0]) ** 2 + (p[1] - tgt[c, 1]) ** 2 + (p[2] - tgt[c, 2]) ** 2)
            acc = 0.0
            for a in range(3):
                for b in range(3):
                    acc += R[a, b] * RT[a, b]
            cos = (acc - 1.0) / 2.0
            err[2 + i] = math.acos(min(1.0, max(-1.0, cos)))
        else:
            err[4] = p[2] - tgt[c, 2]



# ---------------------------------------------------------------- packed entry points
# The kernels below take a handful of flat buffers instead of ~45 arrays (numba unboxes every
# array argument, ~0.15 µs each): F (constant floats), I (constant ints), W (float work and
# outputs, persistent), WI (int work, persistent) and hdr, one row (offset, d0, d1, d2) per slot.
# Slot numbers are fixed by SLOTS (ik.fused_kernel builds the buffers in this order).
SLOTS = (
    # F
    "jR", "jp", "tfR", "tfp", "eR", "ep", "cap_R", "cap_p", "cap_ends", "cen_p", "bound_sum", "radius_sum",
    "bgain", "row_w", "row_ws", "row_lm", "h_diag", "f_post", "q_post", "g_q_max", "g_q_min", "q_min", "q_max",
    "sc", "max_jump2",
    # I
    "jparent", "jaxis", "sup", "kind", "tjoint", "trs", "tre", "tr0", "tchan", "e_joint", "e_chan", "cap_joint",
    "cen_joint", "pair_a", "pair_b", "ch_kind", "ch_has_p", "ch_has_r", "ch_hold", "ch_off", "ch_size",
    # W
    "H", "f", "upper", "lower", "Ab", "bJ", "bh", "A", "E", "tgt", "err", "x", "last", "vdt",
    # WI
    "valid", "jumps", "usable",
)
(JR, JP, TFR, TFP, ER, EP, CAP_R, CAP_P, CAP_ENDS, CEN_P, BOUND_SUM, RADIUS_SUM, BGAIN, ROW_W, ROW_WS, ROW_LM,
 H_DIAG, F_POST, Q_POST, G_Q_MAX, G_Q_MIN, Q_MIN, Q_MAX, SC, MAX_JUMP2,
 JPARENT, JAXIS, SUP, KIND, TJOINT, TRS, TRE, TR0, TCHAN, E_JOINT, E_CHAN, CAP_JOINT, CEN_JOINT, PAIR_A, PAIR_B,
 CH_KIND, CH_HAS_P, CH_HAS_R, CH_HOLD, CH_OFF, CH_SIZE,
 W_H, W_F, W_UPPER, W_LOWER, W_AB, W_BJ, W_BH, W_A, W_E, W_TGT, W_ERR, W_X, W_LAST, W_VDT,
 WI_VALID, WI_JUMPS, WI_USABLE) = range(len(SLOTS))


@njit
def v1(buf, hdr, k):
    o = hdr[k, 0]
    return buf[o:o + hdr[k, 1]]


@njit
def v2(buf, hdr, k):
    o = hdr[k, 0]
    n0, n1 = hdr[k, 1], hdr[k, 2]
    return buf[o:o + n0 * n1].reshape((n0, n1))


@njit
def v3(buf, hdr, k):
    o = hdr[k, 0]
    n0, n1, n2 = hdr[k, 1], hdr[k, 2], hdr[k, 3]
    return buf[o:o + n0 * n1 * n2].reshape((n0, n1, n2))


@njit
def rotation_to_quat(M, tol, out):
    """ik.upper_body._rotation_to_quat_wxyz on M[:3, :3]: (w, x, y, z) into out; False if rejected."""
    m00, m01, m02 = M[0, 0], M[0, 1], M[0, 2]
    m10, m11, m12 = M[1, 0], M[1, 1], M[1, 2]
    m20, m21, m22 = M[2, 0], M[2, 1], M[2, 2]
    if not math.isfinite(m00 + m01 + m02 + m10 + m11 + m12 + m20 + m21 + m22):
        return False
    t = m00 + m11 + m22
    if t > 0.0:
        t = math.sqrt(t + 1.0)
        w = 0.5 * t
        t = 0.5 / t
        x, y, z = (m21 - m12) * t, (m02 - m20) * t, (m10 - m01) * t
    elif m11 > m00 and m11 >= m22:
        t = math.sqrt(m11 - m22 - m00 + 1.0)
        y = 0.5 * t
        t = 0.5 / t
        w, z, x = (m02 - m20) * t, (m21 + m12) * t, (m01 + m10) * t
    elif m22 > m00 and m22 > m11:
        t = math.sqrt(m22 - m00 - m11 + 1.0)
        z = 0.5 * t
        t = 0.5 / t
        w, x, y = (m10 - m01) * t, (m02 + m20) * t, (m12 + m21) * t
    else:
        t = math.sqrt(m00 - m11 - m22 + 1.0)
        x = 0.5 * t
        t = 0.5 / t
        w, y, z = (m21 - m12) * t, (m10 + m01) * t, (m20 + m02) * t
    n = math.sqrt(x * x + y * y + z * z + w * w)
    if not 0.5 < n < 1.5:
        return False
    w, x, y, z = w / n, x / n, y / n, z / n
    tx, ty, tz = 2.0 * x, 2.0 * y, 2.0 * z
    twx, twy, twz = tx * w, ty * w, tz * w
    txx, txy, txz = tx * x, ty * x, tz * x
    tyy, tyz, tzz = ty * y, tz * y, tz * z
    err = max(abs(1.0 - (tyy + tzz) - m00), abs(txy - twz - m01), abs(txz + twy - m02),
              abs(txy + twz - m10), abs(1.0 - (txx + tzz) - m11), abs(tyz - twx - m12),
              abs(txz - twy - m20), abs(tyz + twx - m21), abs(1.0 - (txx + tyy) - m22))
    if not err <= tol:
        return False
    out[0], out[1], out[2], out[3] = w, x, y, z
    return True


@njit
def stage(raw, present, tol, F, I, W, WI, hdr):
    """_TargetChannel.stage for every channel: validated samples (or the last good ones) into W[x].

    raw: (n_channels, 4, 4) samples as given (pose: 4x4; rotation: [:3, :3]; position: [0, :3]).
    Returns bit masks (rejected, restarted) over the channels.
    """
    ch_kind, has_p, has_r = v1(I, hdr, CH_KIND), v1(I, hdr, CH_HAS_P), v1(I, hdr, CH_HAS_R)
    hold, off, size = v1(I, hdr, CH_HOLD), v1(I, hdr, CH_OFF), v1(I, hdr, CH_SIZE)
    max_jump2 = v1(F, hdr, MAX_JUMP2)
    last = v2(W, hdr, W_LAST)
    x = v1(W, hdr, W_X)
    valid, jumps, usable = v1(WI, hdr, WI_VALID), v1(WI, hdr, WI_JUMPS), v1(WI, hdr, WI_USABLE)
    sample = np.empty(7)
    quat = np.empty(4)
    rejected = 0
    restarted = 0
    for i in range(ch_kind.shape[0]):
        if not present[i]:
            valid[i] = 0
            jumps[i] = 0
            usable[i] = 0
            continue
        ok = True
        n = 0
        if has_p[i]:
            if ch_kind[i] == 0:
                p0, p1, p2 = raw[i, 0, 3], raw[i, 1, 3], raw[i, 2, 3]
            else:
                p0, p1, p2 = raw[i, 0, 0], raw[i, 0, 1], raw[i, 0, 2]
            if not math.isfinite(p0 + p1 + p2):
                ok = False
            else:
                sample[0], sample[1], sample[2] = p0, p1, p2
                n = 3
        if has_r[i] and ok:
            if not rotation_to_quat(raw[i], tol, quat):
                ok = False
            else:
                dot = quat[0] * last[i, n] + quat[1] * last[i, n + 1] + quat[2] * last[i, n + 2] + quat[3] * last[i, n + 3]
                if valid[i] and dot < 0.0:  # same hemisphere as the last sample
                    quat[0], quat[1], quat[2], quat[3] = -quat[0], -quat[1], -quat[2], -quat[3]
                for k in range(4):
                    sample[n + k] = quat[k]
                n += 4
        if ok and valid[i] and has_p[i] and hold[i] > 0:
            dx, dy, dz = sample[0] - last[i, 0], sample[1] - last[i, 1], sample[2] - last[i, 2]
            if dx * dx + dy * dy + dz * dz > max_jump2[i] and jumps[i] < hold[i]:
                jumps[i] += 1
                ok = False
            else:
                jumps[i] = 0
        o, s = off[i], size[i]
        if not ok:
            rejected |= 1 << i
            if not valid[i]:
                usable[i] = 0
                continue
            for k in range(s):
                x[o + k] = last[i, k]
            usable[i] = 1
            continue
        if not valid[i]:
            restarted |= 1 << i
        for k in range(s):
            last[i, k] = sample[k]
            x[o + k] = sample[k]
        valid[i] = 1
        usable[i] = 1
    return rejected, restarted


@njit
def _model(F, I, hdr):
    m_i = (v1(I, hdr, JPARENT), v1(I, hdr, JAXIS), v2(I, hdr, SUP))
    m_f = (v3(F, hdr, JR), v2(F, hdr, JP))
    c_i = (v1(I, hdr, CAP_JOINT), v1(I, hdr, CEN_JOINT), v1(I, hdr, PAIR_A), v1(I, hdr, PAIR_B))
    c_f = (v3(F, hdr, CAP_R), v2(F, hdr, CAP_P), v3(F, hdr, CAP_ENDS), v2(F, hdr, CEN_P), v1(F, hdr, BOUND_SUM),
           v1(F, hdr, RADIUS_SUM), v1(F, hdr, BGAIN))
    return m_i, m_f, c_i, c_f


@njit
def tick_assemble(xf, q, dt, F, I, W, WI, hdr, bactive):
    """_TargetChannel.read of the staged channels from the filtered stack xf, then :func:`assemble`.

    Returns (number of active barrier pairs, smallest margin)."""
    has_p, has_r, off = v1(I, hdr, CH_HAS_P), v1(I, hdr, CH_HAS_R), v1(I, hdr, CH_OFF)
    usable = v1(WI, hdr, WI_USABLE)
    last = v2(W, hdr, W_LAST)
    tgt = v2(W, hdr, W_TGT)
    nch = usable.shape[0]
    live = np.empty(nch, dtype=np.bool_)
    for i in range(nch):
        live[i] = usable[i] != 0
        if not live[i]:
            continue
        o = off[i]
        if has_p[i]:
            tgt[i, 0], tgt[i, 1], tgt[i, 2] = xf[o], xf[o + 1], xf[o + 2]
            j = 3
        else:
            tgt[i, 0] = tgt[i, 1] = tgt[i, 2] = 0.0
            j = 0
        if has_r[i]:
            w, x, y, z = xf[o + j], xf[o + j + 1], xf[o + j + 2], xf[o + j + 3]
            n2 = w * w + x * x + y * y + z * z
            if not n2 > 1e-12:
                w, x, y, z = last[i, j], last[i, j + 1], last[i, j + 2], last[i, j + 3]
                n2 = w * w + x * x + y * y + z * z
            n = math.sqrt(n2)
            tgt[i, 3], tgt[i, 4], tgt[i, 5], tgt[i, 6] = x / n, y / n, z / n, w / n
    m_i, m_f, c_i, c_f = _model(F, I, hdr)
    t_i = (v1(I, hdr, KIND), v1(I, hdr, TJOINT), v1(I, hdr, TRS), v1(I, hdr, TRE), v1(I, hdr, TR0),
           v1(I, hdr, TCHAN))
    t_f = (v3(F, hdr, TFR), v2(F, hdr, TFP))
    w = (v1(F, hdr, ROW_W), v1(F, hdr, ROW_WS), v1(F, hdr, ROW_LM), v1(F, hdr, H_DIAG), v1(F, hdr, F_POST),
         v1(F, hdr, Q_POST), v1(F, hdr, G_Q_MAX), v1(F, hdr, G_Q_MIN), v1(W, hdr, W_VDT), v1(F, hdr, SC))
    return assemble(q, dt, m_i, m_f, t_i, t_f, tgt, live, c_i, c_f, w, v2(W, hdr, W_A), v1(W, hdr, W_E),
                    v2(W, hdr, W_H), v1(W, hdr, W_F), v1(W, hdr, W_UPPER), v1(W, hdr, W_LOWER), v2(W, hdr, W_AB),
                    v2(W, hdr, W_BJ), v1(W, hdr, W_BH), bactive)


@njit
def tick_finish(q, dq, step_ok, nb, F, I, W, WI, hdr, bactive, q_out):
    """:func:`finish` on the packed buffers (errors into W[err])."""
    usable = v1(WI, hdr, WI_USABLE)
    live = np.empty(usable.shape[0], dtype=np.bool_)
    for i in range(usable.shape[0]):
        live[i] = usable[i] != 0
    m_i, m_f, c_i, c_f = _model(F, I, hdr)
    e_i = (v1(I, hdr, E_JOINT), v1(I, hdr, E_CHAN))
    e_f = (v3(F, hdr, ER), v2(F, hdr, EP))
    finish(q, dq, step_ok, v1(W, hdr, W_VDT), v1(F, hdr, Q_MIN), v1(F, hdr, Q_MAX), m_i, m_f, c_i, c_f,
           v1(F, hdr, SC)[2], nb, bactive, v1(W, hdr, W_BH), e_i, e_f, v2(W, hdr, W_TGT), live, q_out,
           v1(W, hdr, W_ERR))
