"""BlockStackLowLevel: the BlockStack scenes and goals under continuous end-effector control.

``foretell/BlockStackLowLevel-v0``, for learned policies and action-conditioned world models.

Action: ``Box(-1, 1, (4,))``: gripper displacement (dx, dy, dz) scaled by ``MAX_DELTA`` (1 cm)
per 40 ms control step, and grip (> 0 closes, <= 0 opens). Closing grasps the object whose top
centre is within ``GRASP_RADIUS`` of the gripper (a weld, as in BlockStack-v0); opening
releases it. The gripper stays in the box |x|, |y| <= 0.3 m, 0.01 <= z <= 0.5 m.

Observation: as BlockStack-v0 plus ``gripper`` (4,): position and 1.0 while holding.

Success: goal predicates hold, nothing is held, and every object has been still for >= 1 s
(``info["still_time"]``; the settle timer is part of ``get_state``). Truncated after 1000 steps. Infeasible goals can never succeed here (there is no declare action);
``info["feasible"]`` tells. Reward 1 on success (terminates), else 0.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from ..sim import physics
from .env import SETTLE_WINDOW, BlockStackEnv

MAX_DELTA = 0.01
GRASP_RADIUS = 0.015
TICKS_PER_STEP = 1
GRIPPER_LOW = np.array([-0.3, -0.3, 0.01])
GRIPPER_HIGH = np.array([0.3, 0.3, 0.5])


class BlockStackLowLevelEnv(BlockStackEnv):
    __doc__ = __doc__

    action_kind = "vector"

    def __init__(self, max_steps: int = 1000, **kwargs) -> None:
        super().__init__(max_steps=max_steps, **kwargs)
        self.observation_space = spaces.Dict({**self.observation_space.spaces,
                                              "gripper": spaces.Box(-np.inf, np.inf, (4,), np.float64)})

    def _make_action_space(self) -> spaces.Space:
        return spaces.Box(-1.0, 1.0, (4,), np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self._still_time = 0.0
        obs, info = super().reset(seed=seed, options=options)
        info["still_time"] = 0.0
        obs["gripper"] = self._gripper_obs()
        return obs, info

    def step(self, action):
        if self.tabletop is None:
            raise RuntimeError("call reset() before step()")
        raw = np.asarray(action, dtype=np.float64)
        if raw.shape != (4,) or not np.all(np.isfinite(raw)):
            raise ValueError(f"action must be 4 finite numbers, got {action!r}")
        action = np.clip(raw, -1.0, 1.0)
        self._actions.append(action.copy())
        tt = self.tabletop
        tt.begin_step()
        tt.set_gripper(np.clip(tt.gripper_pos + action[:3] * MAX_DELTA, GRIPPER_LOW, GRIPPER_HIGH))
        if action[3] > 0 and tt.held < 0:
            target = self._graspable()
            if target >= 0:
                tt.grasp(target)
        elif action[3] <= 0 and tt.held >= 0:
            tt.release()
        for _ in range(TICKS_PER_STEP):
            tt.tick()
            still = tt.held < 0 and physics.is_still(tt.scene, tt.data)
            self._still_time = self._still_time + tt.tick_seconds if still else 0.0
        satisfied, _ = self._goal_truth()
        stable = self._still_time >= SETTLE_WINDOW - 1e-9
        success = bool(self.goal.feasible and satisfied and stable)
        truncated = self._count_step(success)
        info = self._info(stable=stable, success=success, skill=None)
        info["still_time"] = self._still_time
        obs = self._observation()
        obs["gripper"] = self._gripper_obs()
        return obs, float(success), success, truncated, info

    def _get_state(self) -> dict:
        return {**super()._get_state(), "still_time": self._still_time}

    def _set_state(self, state: dict) -> None:
        super()._set_state(state)
        self._still_time = float(state["still_time"])

    def _graspable(self) -> int:
        """Index of the object whose top centre is nearest the gripper within reach, or -1."""
        tt = self.tabletop
        states = physics.object_states(tt.scene, tt.data)
        tops = np.column_stack([states[:, :2], physics.top_heights(tt.scene, tt.data)])
        dist = np.linalg.norm(tops - tt.gripper_pos, axis=1)
        best = int(np.argmin(dist))
        return best if dist[best] <= GRASP_RADIUS else -1

    def _gripper_obs(self) -> np.ndarray:
        tt = self.tabletop
        return np.array([*tt.gripper_pos, float(tt.held >= 0)])
