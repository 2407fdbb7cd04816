"""Bundle adjustment of a camera rig on points seen by several cameras: board corners or a person's keypoints.

Unknowns: the extrinsics of every camera but one (the gauge, held fixed), optionally one
focal-length scale and k1 per camera, and the 3D points. Residuals are confidence-weighted
reprojection errors in pixels (the full OpenCV distortion model), minimised by
``scipy.optimize.least_squares`` (method "trf", LSMR trust-region solver) over the camera
parameters, with the points eliminated by variable projection (:class:`_Reduced`: the analytic
Jacobian as sparse matrices, the points re-solved for every camera update). Outliers are
annealed: after each round the observations whose error exceeds a shrinking threshold are left
out of the next one and the others re-weighted by the robust loss (soft_l1, huber or cauchy).

The reconstruction is defined up to scale by the images alone; the metric scale comes from
the board's square size or from the subject's height (``mv3d.triangulate.limbs.estimate_height``), and is
applied about the gauge camera, whose pose stays as given.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import least_squares
from scipy.sparse.linalg import LinearOperator

from mv3d.camera import Camera, CameraRig
from mv3d.errors import InputError
from mv3d.geometry import distort, distortion_jacobian, sym3_inverse, sym3_matvec
from mv3d.skeleton import MV3D23
from mv3d.triangulate.algebraic import triangulate_dlt
from mv3d.triangulate.limbs import estimate_height

log = logging.getLogger(__name__)


def _skew(v: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 3, 3) cross-product matrices."""
    z = np.zeros(v.shape[:-1])
    x, y, w = v[..., 0], v[..., 1], v[..., 2]
    return np.stack([np.stack([z, -w, y], -1), np.stack([w, z, -x], -1), np.stack([-y, x, z], -1)], -2)


def _so3(omega: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation exp([w]) (C, 3, 3) and left Jacobian J_l(w) (C, 3, 3) of rotation vectors (C, 3)."""
    theta = np.linalg.norm(omega, axis=-1)[:, None, None]
    W = _skew(omega)
    W2 = W @ W
    small = theta < 1e-8
    th = np.where(small, 1.0, theta)
    a = np.where(small, 1.0, np.sin(th) / th)
    b = np.where(small, 0.5, (1 - np.cos(th)) / th ** 2)
    c = np.where(small, 1.0 / 6.0, (th - np.sin(th)) / th ** 3)
    eye = np.eye(3)[None]
    return eye + a * W + b * W2, eye + b * W + c * W2


@dataclass
class BundleResult:
    """rig: refined cameras (metric); points: (P, 3) metres (NaN where not reconstructed);
    inliers: (C, P) observations used in the last round; error_before / error_after: (C,)
    median reprojection error (px) of each camera's observations with the initial / final rig;
    scale: the factor applied to reach metric units; seconds: optimisation time."""

    rig: CameraRig
    points: np.ndarray
    inliers: np.ndarray
    error_before: np.ndarray
    error_after: np.ndarray
    scale: float = 1.0
    seconds: float = 0.0
    history: list[str] = field(default_factory=list)


class _Reduced:
    """Reprojection residuals as a function of the camera parameters only (variable projection).

    For given cameras every point is re-estimated by Gauss-Newton steps (3x3 systems, all
    points at once), and the Jacobian is the camera Jacobian with the point directions projected
    out, ``(I - J_p (J_p^T J_p)^-1 J_p^T) J_c`` — the Schur complement of the full bundle
    problem — given to least_squares as a LinearOperator over sparse J_c and J_p. Because the
    points are optimal, the gradient equals the full problem's, so the optimum is the full
    bundle optimum, while the trust-region solver only sees a few dozen camera parameters.
    Observations must be grouped by camera (cam_idx sorted).
    """

    def __init__(self, rig: CameraRig, cam_idx, pt_idx, uv, sw, X0, gauge, refine_focal, refine_k1):
        if np.any(np.diff(cam_idx) < 0):
            raise ValueError("observations must be sorted by camera")
        self.rig, self.C = rig, len(rig)
        self.cam, self.pt, self.uv, self.sw = cam_idx, pt_idx, uv, sw
        bounds = np.searchsorted(cam_idx, np.arange(self.C + 1))
        self.slices = [slice(bounds[c], bounds[c + 1]) for c in range(self.C)]
        self.P, self.O = len(X0), len(cam_idx)
        self.X = X0.copy()
        self.K, self.dist, self.R0 = rig.K.copy(), rig.dist.copy(), rig.R.copy()
        self.refine_focal, self.refine_k1 = refine_focal, refine_k1
        nc = 6 + refine_focal + refine_k1
        cols = -np.ones((self.C, nc), int)
        n = 0
        for c in range(self.C):
            for j in range(nc):
                if not (c == gauge and j < 6):
                    cols[c, j] = n
                    n += 1
        self.cam_cols, self.n_params = cols, n
        # fixed sparsity of J_c (2O x n) and J_p (2O x 3P)
        row_cols = np.repeat(cols[cam_idx], 2, axis=0)  # (2O, nc)
        self.c_keep = row_cols >= 0
        self.c_indices = row_cols[self.c_keep]
        self.c_indptr = np.concatenate([[0], np.cumsum(self.c_keep.sum(1))])
        self.p_indices = np.repeat(3 * pt_idx[:, None] + np.arange(3), 2, axis=0).ravel()
        self.p_indptr = np.arange(0, 6 * self.O + 1, 3)
        self._key = None

    # --- parameters ---------------------------------------------------------------
    def x0(self) -> np.ndarray:
        x = np.zeros(self.n_params)
        mask = self.cam_cols[:, 3:6] >= 0
        x[self.cam_cols[:, 3:6][mask]] = self.rig.t[mask]
        return x

    def _params(self, x: np.ndarray) -> np.ndarray:
        cams = np.zeros(self.cam_cols.shape)
        mask = self.cam_cols >= 0
        cams[mask] = x[self.cam_cols[mask]]
        return cams

    def cameras(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """R (C, 3, 3), t (C, 3), K (C, 3, 3), dist (C, 5) at parameters x."""
        cams = self._params(x)
        expw, _ = _so3(cams[:, :3])
        t = np.where(self.cam_cols[:, 3:6] >= 0, cams[:, 3:6], self.rig.t)
        K, dist = self.K.copy(), self.dist.copy()
        if self.refine_focal:
            K[:, 0, 0] *= 1 + cams[:, 6]
            K[:, 1, 1] *= 1 + cams[:, 6]
        if self.refine_k1:
            dist[:, 0] += cams[:, -1]
        return expw @ self.R0, t, K, dist

    # --- model ----------------------------------------------------------------------
    def _to_camera(self, R: np.ndarray, t: np.ndarray, X: np.ndarray) -> np.ndarray:
        Xo = X[self.pt]
        out = np.empty_like(Xo)
        for c, sl in enumerate(self.slices):
            out[sl] = Xo[sl] @ R[c].T + t[c]
        return out

    def _per_camera(self, values: np.ndarray) -> np.ndarray:
        """Per-camera rows (C, k) expanded to observations (O, k)."""
        return np.repeat(values, [sl.stop - sl.start for sl in self.slices], axis=0)

    def _residual(self, cams, X: np.ndarray, jacobian: bool):
        R, t, K, dist = cams
        Xc = self._to_camera(R, t, X)
        z = Xc[:, 2]
        xy = Xc[:, :2] / z[:, None]
        d = self._per_camera(dist)
        xyd = distort(xy, d)
        f = self._per_camera(np.stack([K[:, 0, 0], K[:, 1, 1]], 1))
        r = (xyd * f + self._per_camera(K[:, :2, 2]) - self.uv) * self.sw[:, None]
        if not jacobian:
            return r
        J = distortion_jacobian(xy, d)  # (O, 2, 2)
        fs = f * self.sw[:, None]
        inv_z = 1 / z
        A = np.empty((self.O, 2, 3))  # d r / d Xc = diag(f sw) Jd Jn
        for k in range(2):
            A[:, k, 0] = J[:, k, 0] * inv_z
            A[:, k, 1] = J[:, k, 1] * inv_z
            A[:, k, 2] = -(J[:, k, 0] * xy[:, 0] + J[:, k, 1] * xy[:, 1]) * inv_z
            A[:, k] *= fs[:, k:k + 1]
        return r, A, Xc, xy, xyd, f

    def _rotate_rows(self, A: np.ndarray, M: np.ndarray) -> np.ndarray:
        """A (O, 2, 3) @ M[camera] (C, 3, 3) -> (O, 2, 3)."""
        out = np.empty_like(A)
        for c, sl in enumerate(self.slices):
            out[sl] = (A[sl].reshape(-1, 3) @ M[c]).reshape(-1, 2, 3)
        return out

    def _point_systems(self, A_p: np.ndarray, r: np.ndarray | None):
        """Per-point H = sum J_p^T J_p as packed inverses (P, 6), and g = sum J_p^T r (P, 3)."""
        a0, a1 = A_p[:, 0], A_p[:, 1]
        H = np.stack([a0[:, i] * a0[:, j] + a1[:, i] * a1[:, j] for i, j in
                      ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))], 1)
        Hinv = sym3_inverse(np.stack([np.bincount(self.pt, H[:, k], minlength=self.P) for k in range(6)], 1))
        if r is None:
            return Hinv, None
        g = a0 * r[:, :1] + a1 * r[:, 1:]
        return Hinv, np.stack([np.bincount(self.pt, g[:, k], minlength=self.P) for k in range(3)], 1)

    def solve_points(self, x: np.ndarray, iterations: int = 3) -> None:
        """Gauss-Newton on every point for the cameras at x (warm start from the last points);
        a point keeps its previous value when a step would raise its cost."""
        cams = self.cameras(x)
        X, cost = self.X, None
        for _ in range(iterations):
            r, A, *_ = self._residual(cams, X, True)
            if cost is None:
                cost = np.bincount(self.pt, (r * r).sum(1), minlength=self.P)
            Hinv, gp = self._point_systems(self._rotate_rows(A, cams[0]), r)
            X_new = X - sym3_matvec(Hinv, gp)
            r_new = self._residual(cams, X_new, False)
            with np.errstate(invalid="ignore"):
                cost_new = np.bincount(self.pt, (r_new * r_new).sum(1), minlength=self.P)
                better = np.isfinite(cost_new) & (cost_new <= cost)
            X = np.where(better[:, None], X_new, X)
            cost = np.where(better, cost_new, cost)
        self.X = X

    def _state(self, x: np.ndarray):
        key = x.tobytes()
        if key != self._key:
            self.solve_points(x)
            self._lin = self._residual(self.cameras(x), self.X, True)
            self._key = key
        return self._lin

    def residuals(self, x: np.ndarray) -> np.ndarray:
        return self._state(x)[0].ravel()

    def jacobian(self, x: np.ndarray, *_):
        r, A, Xc, xy, xyd, f = self._state(x)
        R, t, K, _ = self.cameras(x)
        _, Jl = _so3(self._params(x)[:, :3])
        # d Xc / d omega = -[Xc - t]x J_l, so d r / d omega = (v x a) J_l for each row a of A, v = Xc - t
        v = Xc - self._per_camera(t)
        blocks = [self._rotate_rows(np.cross(v[:, None, :], A), Jl), A]
        if self.refine_focal:
            f0 = self._per_camera(np.stack([self.K[:, 0, 0], self.K[:, 1, 1]], 1))
            blocks.append((f0 * xyd * self.sw[:, None])[:, :, None])
        if self.refine_k1:
            r2 = (xy ** 2).sum(1, keepdims=True)
            blocks.append((f * xy * r2 * self.sw[:, None])[:, :, None])
        Jc_dense = np.concatenate(blocks, axis=2).reshape(2 * self.O, -1)
        Jc = sp.csr_matrix((Jc_dense[self.c_keep], self.c_indices, self.c_indptr), shape=(2 * self.O, self.n_params))
        A_p = self._rotate_rows(A, R)
        Jp = sp.csr_matrix((A_p.ravel(), self.p_indices, self.p_indptr), shape=(2 * self.O, 3 * self.P))
        JcT, JpT = Jc.T.tocsr(), Jp.T.tocsr()
        Hinv, _ = self._point_systems(A_p, None)

        def project_out(s: np.ndarray) -> np.ndarray:  # (I - J_p H^-1 J_p^T) s, symmetric
            y = sym3_matvec(Hinv, (JpT @ s).reshape(-1, 3))
            return s - Jp @ y.ravel()

        return LinearOperator((2 * self.O, self.n_params), dtype=float,
                              matvec=lambda w: project_out(Jc @ np.ravel(w)),
                              rmatvec=lambda u: JcT @ project_out(np.ravel(u)))


def _robust_weights(err: np.ndarray, loss: str, f_scale: float) -> np.ndarray:
    """IRLS weights rho'(e^2 / f_scale^2) (O,) of reprojection errors err (O,) px for a robust loss."""
    z = (err / f_scale) ** 2
    if loss == "soft_l1":
        return 1 / np.sqrt(1 + z)
    if loss == "huber":
        return np.where(z <= 1, 1.0, 1 / np.sqrt(np.maximum(z, 1)))
    if loss == "cauchy":
        return 1 / (1 + z)
    if loss == "linear":
        return np.ones_like(err)
    raise InputError(f"unknown robust loss {loss!r}; use soft_l1, huber, cauchy or linear")


def _per_camera_median(err: np.ndarray, cam: np.ndarray, C: int) -> np.ndarray:
    return np.array([np.median(err[cam == c]) if np.any(cam == c) else np.nan for c in range(C)])


def _triangulate(rig: CameraRig, obs: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Initial points (P, 3) by DLT (mv3d.triangulate.algebraic)."""
    kp = np.concatenate([obs, w[..., None]], axis=-1)
    kp[w <= 0, :2] = np.nan
    X, _, _ = triangulate_dlt(rig, kp)
    return X


def bundle_adjust(rig: CameraRig, observations: np.ndarray, weights: np.ndarray | None = None,
                  points: np.ndarray | None = None, gauge: int | str = 0, refine_focal: bool = False,
                  refine_k1: bool = False, loss: str = "soft_l1", f_scale: float = 2.0,
                  thresholds: tuple[float, ...] = (30.0, 12.0, 6.0), max_nfev: int = 40) -> BundleResult:
    """Refine ``rig`` (all extrinsics but the gauge camera's; optionally focal scale and k1) and the points.

    observations: (C, P, 2) pixels, NaN where unseen; weights: (C, P) >= 0 (confidences; 1 if None);
    points: (P, 3) initial points (DLT triangulation if None); gauge: camera held fixed;
    loss, f_scale: robust loss and its scale in px, applied as iteratively re-weighted least squares
    between rounds (weights rho'(e^2 / f_scale^2)), each round a plain weighted least_squares that
    Gauss-Newton solves in a few steps; thresholds: px, the outlier threshold of each round after the
    first (round 0 uses every observation). Focal length and k1 trade off against the camera's
    distance when the points span little depth (a person 3-5 m away): refine them only with
    points spread through the volume, and check the result.
    The scale is not fixed here: see :func:`rescale`. Returns a BundleResult (scale 1).
    """
    t_start = time.perf_counter()
    obs = np.asarray(observations, dtype=float)
    C, P = obs.shape[:2]
    if C != len(rig):
        raise InputError(f"observations are for {C} cameras but the rig has {len(rig)} ({', '.join(rig.names)})")
    w = np.ones((C, P)) if weights is None else np.asarray(weights, dtype=float).copy()
    w[~np.isfinite(obs).all(-1)] = 0
    gauge_i = rig.names.index(gauge) if isinstance(gauge, str) else int(gauge)
    seen = (w > 0).sum(0)
    if (seen >= 2).sum() < 6:
        raise InputError(f"only {(seen >= 2).sum()} points are seen by two or more cameras; bundle adjustment needs "
                         "points (board corners or keypoints) seen by several cameras at the same time")
    per_cam = ((w > 0) & (seen >= 2)[None]).sum(1)
    lonely = [rig.names[c] for c in range(C) if per_cam[c] < 6]
    if lonely:
        raise InputError(f"camera(s) {', '.join(lonely)} share fewer than 6 points with the other cameras; "
                         "they cannot be placed — check that the same board/person is visible and synchronised")
    X0 = _triangulate(rig, obs, w) if points is None else np.asarray(points, dtype=float).copy()
    valid_pt = (seen >= 2) & np.isfinite(X0).all(1)
    cam_idx, pt_idx = np.nonzero((w > 0) & valid_pt[None])
    uv_all = obs[cam_idx, pt_idx]
    sw_all = np.sqrt(w[cam_idx, pt_idx])
    X = X0.copy()

    def errors_of(current: CameraRig, X: np.ndarray) -> np.ndarray:
        uv = current.project(X)[cam_idx, pt_idx]
        return np.linalg.norm(uv - uv_all, axis=1)

    err = errors_of(rig, X)
    before = _per_camera_median(err, cam_idx, C)
    history = [f"initial: median {np.median(err):.2f} px over {len(err)} observations"]
    current = rig
    active = np.ones(len(cam_idx), bool)
    robust = np.ones(len(cam_idx))
    for rnd, thr in enumerate((np.inf,) + tuple(thresholds)):
        if rnd > 0:
            # annealing: drop what is above this round's threshold, re-weight the rest by the robust loss
            active = err < thr
            robust = _robust_weights(err, loss, f_scale)
        counts = np.bincount(pt_idx[active], minlength=P)  # a point needs two observations in the round
        active &= counts[pt_idx] >= 2
        pts = np.flatnonzero(np.bincount(pt_idx[active], minlength=P) > 0)
        remap = -np.ones(P, int)
        remap[pts] = np.arange(len(pts))
        prob = _Reduced(current, cam_idx[active], remap[pt_idx[active]], uv_all[active],
                        sw_all[active] * np.sqrt(robust[active]), X[pts], gauge_i, refine_focal, refine_k1)
        sol = least_squares(prob.residuals, prob.x0(), jac=prob.jacobian, method="trf", tr_solver="lsmr",
                            max_nfev=max_nfev, xtol=1e-10, ftol=1e-9)
        prob.residuals(sol.x)  # points at the solution
        R, t, K, dist = prob.cameras(sol.x)
        current = CameraRig([Camera(cam.name, cam.size, K[c], dist[c], R[c], t[c]) for c, cam in enumerate(rig)],
                            rig.R_to_opensim)
        X = np.full((P, 3), np.nan)
        X[pts] = prob.X
        err = errors_of(current, X)
        history.append(f"round {rnd} (threshold {thr:g} px, {active.sum()} observations): median "
                       f"{np.nanmedian(err):.2f} px, {sol.nfev} evaluations")
        log.info(history[-1])
    inliers = np.zeros((C, P), bool)
    inliers[cam_idx[active], pt_idx[active]] = True
    after = _per_camera_median(np.where(np.isfinite(err), err, np.inf), cam_idx, C)
    return BundleResult(current, X, inliers, before, after, 1.0, time.perf_counter() - t_start, history)


def rescale(result: BundleResult, scale: float, gauge: int | str = 0) -> BundleResult:
    """The same reconstruction scaled by ``scale`` about the gauge camera's centre (its pose unchanged)."""
    rig = result.rig
    g = rig.names.index(gauge) if isinstance(gauge, str) else int(gauge)
    origin = rig[g].center
    cams = [Camera(c.name, c.size, c.K, c.dist, c.R, -c.R @ (origin + scale * (c.center - origin))) for c in rig]
    pts = origin + scale * (result.points - origin)
    return BundleResult(CameraRig(cams, rig.R_to_opensim), pts, result.inliers, result.error_before,
                        result.error_after, result.scale * scale, result.seconds, result.history)


def calibrate_from_keypoints(rig: CameraRig, keypoints: np.ndarray, height: float | None, joint_names=None,
                             min_confidence: float = 0.3, gauge: int | str = 0, **kwargs) -> BundleResult:
    """Refine a rig with a person's 2D keypoints (C, F, J, 3) over a trial; metric scale from ``height`` (m).

    The person is the calibration pattern: every (frame, joint) is a point. The result's scale
    makes the reconstructed subject's height (``mv3d.triangulate.limbs.estimate_height``) equal ``height``; with
    height None the initial rig's scale is kept (mean distance of the cameras to the gauge camera).
    """
    names = list(joint_names or MV3D23)
    kp = np.asarray(keypoints, dtype=float)
    if kp.ndim != 4 or kp.shape[-1] != 3 or kp.shape[0] != len(rig) or kp.shape[2] != len(names):
        raise InputError(f"keypoints must be (C={len(rig)}, F, J={len(names)}, 3), got {kp.shape}")
    C, F, J, _ = kp.shape
    conf = np.where(kp[..., 2] >= min_confidence, kp[..., 2], 0.0)
    res = bundle_adjust(rig, kp[..., :2].reshape(C, F * J, 2), conf.reshape(C, F * J), gauge=gauge, **kwargs)
    if height is None:
        return rescale(res, keep_scale(rig, res.rig, gauge), gauge)
    h = estimate_height(res.points.reshape(F, J, 3), names)
    return rescale(res, height / h, gauge)


def keep_scale(initial: CameraRig, refined: CameraRig, gauge: int | str = 0) -> float:
    """Factor that gives ``refined`` the mean camera-to-gauge distance of ``initial``."""
    g = initial.names.index(gauge) if isinstance(gauge, str) else int(gauge)
    d0 = np.linalg.norm(initial.centers - initial.centers[g], axis=1).sum()
    d1 = np.linalg.norm(refined.centers - refined.centers[g], axis=1).sum()
    return float(d0 / d1)


def calibrate_from_board(rig: CameraRig, corners: np.ndarray, square_size: float, cols: int, rows: int,
                         gauge: int | str = 0, **kwargs) -> BundleResult:
    """Refine a rig with board corners (C, V, N, 2) seen in V frames (NaN where not detected).

    Metric scale from the median distance between neighbouring reconstructed corners = square_size (m).
    """
    c = np.asarray(corners, dtype=float)
    C, V, N, _ = c.shape
    if N != cols * rows:
        raise InputError(f"corners hold {N} points per view but the board has {cols}x{rows} = {cols * rows}")
    res = bundle_adjust(rig, c.reshape(C, V * N, 2), gauge=gauge, **kwargs)
    g = res.points.reshape(V, rows, cols, 3)
    d = np.concatenate([np.linalg.norm(np.diff(g, axis=1), axis=-1).ravel(),
                        np.linalg.norm(np.diff(g, axis=2), axis=-1).ravel()])
    d = d[np.isfinite(d)]
    return rescale(res, square_size / float(np.median(d)), gauge)
