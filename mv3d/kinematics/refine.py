"""Damped Gauss-Newton polish of an IK pose on the same weighted marker cost as OpenSim's IK.

OpenSim's assembler stops early on weakly observed coordinates: on noise-free markers of
the built-in model it leaves e.g. ``mtp_angle`` 3-5 deg and ``pro_sup`` up to 7 deg from the
truth, and more iterations (``track`` again, a smaller ``accuracy``) barely move it. This
refinement starts from the assembler's pose and minimizes

    sum_i w_i |x_i(q) - m_i|^2 + sum_c w_c (q_c - v_c)^2 + sum_c p_c (q_c - n_c)^2

(the last term: per-frame priors that ``mv3d.kinematics.observability`` sets on coordinates
the markers do not determine) with the analytic marker Jacobian from Simbody's system Jacobian (one call per
iteration), respecting clamped coordinate ranges and locked coordinates. It applies to
models without enforced kinematic constraints (coupler constraints are left to OpenSim).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from mv3d.kinematics._osim import opensim
from mv3d.kinematics.forward import coordinate_q_indices


def coordinate_u_indices(model: Any, state: Any) -> dict[str, int]:
    """Index of each coordinate's speed in the state's U vector (probed once)."""
    out: dict[str, int] = {}
    base = state.getU().to_numpy().copy()
    for coord in model.getCoordinateSet():
        coord.setSpeedValue(state, 1.0)
        diff = np.flatnonzero(np.abs(state.getU().to_numpy() - base) > 1e-12)
        coord.setSpeedValue(state, 0.0)
        if len(diff) != 1:
            raise RuntimeError(f"cannot locate coordinate {coord.getName()} in the state's U vector")
        out[coord.getName()] = int(diff[0])
    return out


def has_enforced_constraints(model: Any) -> bool:
    """True when the model has an enforced kinematic constraint (then refinement is skipped)."""
    return any(c.get_isEnforced() for c in model.getConstraintSet())


class MarkerRefiner:
    """Polishes IK poses of ``model`` for the given markers, weights and coordinate tasks."""

    def __init__(self, model: Any, state: Any, marker_names: list[str], weights: dict[str, float],
                 coordinate_tasks: dict[str, tuple[float, float | None]] | None = None) -> None:
        self.osim = opensim()
        self.model = model
        coords = list(model.getCoordinateSet())
        self.q_idx = coordinate_q_indices(model, state)
        self.u_idx = coordinate_u_indices(model, state)
        self.free = [c for c in coords if not c.getLocked(state)]
        self.qi = np.array([self.q_idx[c.getName()] for c in self.free])
        self.ui = np.array([self.u_idx[c.getName()] for c in self.free])
        self.lo = np.array([c.getRangeMin() if c.getClamped(state) else -np.inf for c in self.free])
        self.hi = np.array([c.getRangeMax() if c.getClamped(state) else np.inf for c in self.free])
        mset = model.getMarkerSet()
        self.markers = [mset.get(n) for n in marker_names]
        self.sqrt_w = np.sqrt(np.array([weights[n] for n in marker_names], dtype=float))
        bodies = [self.osim.PhysicalFrame.safeDownCast(m.getParentFrame()).findBaseFrame() for m in self.markers]
        self.mobod = np.array([self.osim.PhysicalFrame.safeDownCast(b).getMobilizedBodyIndex() for b in bodies])
        self.bodies = bodies
        names = [c.getName() for c in self.free]
        tasks = coordinate_tasks or {}
        self.task_cols = np.array([names.index(n) for n in tasks if n in names], dtype=int)
        self.task_sqrt_w = np.sqrt(np.array([tasks[n][0] for n in tasks if n in names], dtype=float))
        self.task_value = np.array([tasks[n][1] for n in tasks if n in names], dtype=float)
        self.prior_sqrt_w = np.zeros(len(self.free))
        self.prior_value = np.zeros(len(self.free))
        self.J = self.osim.Matrix()

    def set_priors(self, weights: np.ndarray, values: np.ndarray) -> None:
        """Per-frame priors p_c (q_c - n_c)^2 on the free coordinates; weights, values (n_free,)."""
        self.prior_sqrt_w = np.sqrt(np.asarray(weights, dtype=float))
        self.prior_value = np.asarray(values, dtype=float)

    def marker_jacobian(self, state: Any, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unweighted marker Jacobian (3 M', n_free) at the state's pose and the weights (M',) of the
        markers valid in ``targets`` (M, 3)."""
        valid = np.isfinite(targets).all(axis=1)
        self.model.realizePosition(state)
        x = np.array([m.getLocationInGround(state).to_numpy() for m in self.markers])
        jm = self._marker_rows(state, x)[valid]
        return jm.reshape(-1, len(self.qi)), (self.sqrt_w[valid] ** 2)

    def _residual(self, state: Any, targets: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.model.realizePosition(state)
        x = np.array([m.getLocationInGround(state).to_numpy() for m in self.markers])
        r = (self.sqrt_w[valid, None] * (x[valid] - targets[valid])).ravel()
        q = state.getQ().to_numpy()[self.qi]
        rc = self.task_sqrt_w * (q[self.task_cols] - self.task_value) if len(self.task_cols) else np.zeros(0)
        return np.concatenate([r, rc, self.prior_sqrt_w * (q - self.prior_value)]), x

    def _marker_rows(self, state: Any, x: np.ndarray) -> np.ndarray:
        """d(marker position)/dq of every marker, (M, 3, n_free), unweighted; x (M, 3) marker positions."""
        self.model.getMatterSubsystem().calcSystemJacobian(state, self.J)
        full = self.J.to_numpy()[:, self.ui]                       # (6 * n_mobod, n_free)
        origins = np.array([b.getPositionInGround(state).to_numpy() for b in self.bodies])
        r = x - origins                                            # (M, 3) body origin -> marker
        rows = self.mobod[:, None] * 6
        ang = full[rows + np.arange(3)]                            # (M, 3, n)
        lin = full[rows + 3 + np.arange(3)]
        return lin - np.cross(r[:, :, None], ang, axis=1)         # v + w x r

    def _jacobian(self, state: Any, x: np.ndarray, valid: np.ndarray) -> np.ndarray:
        jm = (self.sqrt_w[:, None, None] * self._marker_rows(state, x))[valid].reshape(-1, len(self.qi))
        jc = np.zeros((len(self.task_cols), len(self.qi)))
        jc[np.arange(len(self.task_cols)), self.task_cols] = self.task_sqrt_w
        return np.vstack([jm, jc, np.diag(self.prior_sqrt_w)])

    def refine(self, state: Any, targets: np.ndarray, max_iter: int = 20, tol: float = 1e-10) -> float:
        """Polish the pose in ``state`` (Q updated in place) toward targets (M, 3) (NaN = missing).

        Returns the final weighted cost.
        """
        valid = np.isfinite(targets).all(axis=1)
        if valid.sum() < 3:
            return float("nan")
        res, x = self._residual(state, targets, valid)
        cost = float(res @ res)
        lam = 1e-6
        for _ in range(max_iter):
            jac = self._jacobian(state, x, valid)
            g = jac.T @ res
            h = jac.T @ jac
            q_all = state.getQ().to_numpy().copy()
            # coordinates held at a range limit by the gradient stay there; the others are solved
            # for without them (a clipped full step would stop short of the constrained optimum)
            q = q_all[self.qi]
            free = ~(((q <= self.lo) & (g > 0)) | ((q >= self.hi) & (g < 0)))
            hf, gf = h[np.ix_(free, free)], g[free]
            improved = False
            for _ in range(8):
                step = np.zeros(len(q))
                step[free] = np.linalg.solve(hf + lam * (np.diag(np.diag(hf)) + 1e-9 * np.eye(len(hf))), -gf)
                q_new = q_all.copy()
                q_new[self.qi] = np.clip(q_all[self.qi] + step, self.lo, self.hi)
                state.setQ(self.osim.Vector.createFromMat(q_new))
                res_new, x_new = self._residual(state, targets, valid)
                cost_new = float(res_new @ res_new)
                if cost_new <= cost:
                    improved = True
                    lam = max(lam / 10, 1e-12)
                    break
                lam *= 10
            if not improved:
                state.setQ(self.osim.Vector.createFromMat(q_all))
                self.model.realizePosition(state)
                break
            done = cost - cost_new <= tol * max(cost, 1e-30) or np.abs(step).max() < 1e-10
            res, x, cost = res_new, x_new, cost_new
            if done:
                break
        return cost
