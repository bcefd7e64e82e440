"""Inverse kinematics by damped least squares on MuJoCo's site Jacobians.

:class:`SiteIK` moves a site (a gripper's tool centre point) to a position and,
optionally, an orientation, using a chosen set of joints (an arm, optionally the
waist). It works on its own scratch ``MjData`` so the simulation is never touched,
and is warm-started from the last solution for smooth trajectories.
"""

from __future__ import annotations

import numpy as np

from collector.sim.errors import SimError


class SiteIK:
    """IK for one site over ``joints`` (hinge/slide joint names of the model).

    Args:
        model: the MjModel.
        site: the site name.
        joints: the joints IK may move (others stay as in the start state).
        damping: Levenberg-Marquardt damping (m, rad).
        rotation_weight: weight of orientation error against position error (m per rad).
    """

    def __init__(self, model, site: str, joints: list[str], *, damping: float = 0.02, rotation_weight: float = 0.3):
        import mujoco

        self.mujoco = mujoco
        self.model = model
        self.site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, site)
        if self.site < 0:
            raise SimError(f"IK: the model has no site {site!r}")
        ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in joints]
        missing = [j for j, i in zip(joints, ids) if i < 0]
        if missing:
            raise SimError(f"IK: the model has no joint {missing[0]!r}")
        self.joints = list(joints)
        self.qpos = np.array([model.jnt_qposadr[i] for i in ids])
        self.dofs = np.array([model.jnt_dofadr[i] for i in ids])
        self.low = np.array([model.jnt_range[i][0] for i in ids])
        self.high = np.array([model.jnt_range[i][1] for i in ids])
        self.damping = damping
        self.rotation_weight = rotation_weight
        self.scratch = mujoco.MjData(model)
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))

    def site_pose(self, qpos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position, 3x3 rotation) of the site for a full ``qpos``."""
        data = self.scratch
        data.qpos[:] = qpos
        self.mujoco.mj_kinematics(self.model, data)
        return data.site_xpos[self.site].copy(), data.site_xmat[self.site].reshape(3, 3).copy()

    def solve(self, qpos: np.ndarray, position: np.ndarray, rotation: np.ndarray | None = None, *,
              iterations: int = 40, tolerance: float = 5e-4) -> tuple[np.ndarray, float]:
        """Joint values (for :attr:`joints`) that bring the site to the target, starting
        from the full state ``qpos``; returns (values, final error in m + weighted rad)."""
        mujoco, model, data = self.mujoco, self.model, self.scratch
        data.qpos[:] = qpos
        q = data.qpos[self.qpos].copy()
        error_norm = np.inf
        target_quat = np.empty(4)
        if rotation is not None:
            mujoco.mju_mat2Quat(target_quat, np.ascontiguousarray(rotation, dtype=np.float64).reshape(9))
        current_quat, inverse, difference, rotation_error = np.empty(4), np.empty(4), np.empty(4), np.empty(3)
        for _ in range(iterations):
            data.qpos[self.qpos] = q
            mujoco.mj_kinematics(model, data)
            mujoco.mj_comPos(model, data)
            position_error = position - data.site_xpos[self.site]
            if rotation is not None:
                mujoco.mju_mat2Quat(current_quat, data.site_xmat[self.site])
                mujoco.mju_negQuat(inverse, current_quat)
                mujoco.mju_mulQuat(difference, target_quat, inverse)
                mujoco.mju_quat2Vel(rotation_error, difference, 1.0)
                error = np.concatenate([position_error, self.rotation_weight * rotation_error])
            else:
                error = position_error
            error_norm = float(np.linalg.norm(error))
            if error_norm < tolerance:
                break
            mujoco.mj_jacSite(model, data, self._jacp, self._jacr, self.site)
            jacobian = self._jacp[:, self.dofs]
            if rotation is not None:
                jacobian = np.vstack([jacobian, self.rotation_weight * self._jacr[:, self.dofs]])
            gram = jacobian @ jacobian.T + (self.damping ** 2) * np.eye(jacobian.shape[0])
            step = jacobian.T @ np.linalg.solve(gram, error)
            q = np.clip(q + step, self.low, self.high)
        return q, error_norm
