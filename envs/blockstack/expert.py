"""Privileged scripted expert for BlockStack, and its evaluation.

The expert reads the simulator state (objects, support relations, goal) and follows physical
rules: nothing can rest on a ball, so a tower holds at most one ball, on top; supports are
ordered by footprint (widest at the bottom), then by mass (heaviest lower), which keeps the
centre of mass low and leaves the most margin under each placement. It re-plans from the
observed state after every skill, so a tower that falls is rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..sim import physics
from ..sim.scene import WORKSPACE_HALF, ObjectSpec
from .goals import Goal, goal_feasibility
from .skills import APPROACH_GAP, PLACE_CLEARANCE


def tower_order(objects: list[ObjectSpec], candidates: list[int], height: int) -> list[int]:
    """Choose ``height`` objects and order them bottom to top by physical rules."""
    supports = [i for i in candidates if objects[i].shape != "ball"]
    balls = [i for i in candidates if objects[i].shape == "ball"]
    supports.sort(key=lambda i: (-objects[i].footprint, -objects[i].mass, objects[i].name))
    chosen = supports[:height]
    if len(chosen) < height and balls:
        chosen.append(min(balls, key=lambda i: objects[i].name))
    return chosen


@dataclass
class _Structure:
    chain: list[int]  # bottom -> top; chain[0] must rest on the table
    clear: list[int]
    on_table: list[int]


class BlockStackExpert:
    """Scripted planner with privileged state. Call ``act(env)`` for the next named action."""

    def __init__(self, env) -> None:
        self.env = env.unwrapped

    def _structure(self, goal: Goal, objects: list[ObjectSpec]) -> _Structure:
        names = [o.name for o in objects]
        index = {n: i for i, n in enumerate(names)}
        clear = [index[p.args[0]] for p in goal.predicates if p.name == "clear"]
        on_table = [index[p.args[0]] for p in goal.predicates if p.name == "on_table"]
        below = {index[p.args[0]]: index[p.args[1]] for p in goal.predicates if p.name == "on"}
        chain: list[int] = []
        if below:
            bottoms = [b for b in below.values() if b not in below]
            cur = bottoms[0]
            chain = [cur]
            above = {v: k for k, v in below.items()}
            while cur in above:
                cur = above[cur]
                chain.append(cur)
        heights = [p.args[0] for p in goal.predicates if p.name == "tower_height"]
        if heights:
            chain = tower_order(objects, list(range(len(objects))), heights[0])
        return _Structure(chain, clear, on_table)

    def act(self) -> dict:
        env = self.env
        objects, names, goal = env.objects, env.object_names, env.goal
        feasible, _ = goal_feasibility(goal.predicates, objects)
        if not feasible:
            return {"skill": "declare_infeasible"}
        tt = env.tabletop
        on, on_table = physics.support_matrix(tt.scene, tt.data)
        target = self._structure(goal, objects)
        chain = target.chain

        def topmost_above(i: int) -> int | None:
            """The highest object in the pile resting on ``i`` (None if ``i`` is clear)."""
            above = np.flatnonzero(on[:, i])
            if len(above) == 0:
                return None
            j = int(above[0])
            while on[:, j].any():
                j = int(np.flatnonzero(on[:, j])[0])
            return j

        def to_free_spot(i: int) -> dict:
            x, y = self._free_spot(i, chain)
            return {"skill": "pick_place", "object": names[i], "target": "table", "dx": x, "dy": y}

        # 1. Clear wrong objects off chain members, then put the base on the table.
        for pos, member in enumerate(chain):
            above = np.flatnonzero(on[:, member])
            wanted = chain[pos + 1] if pos + 1 < len(chain) else None
            if any(int(a) != wanted for a in above) or (wanted is not None and len(above) and not self._chain_ok(
                    on, on_table, chain, pos + 1)):
                blocker = topmost_above(member)
                if blocker is not None and blocker not in chain[: pos + 1]:
                    return to_free_spot(blocker)
        if chain and not on_table[chain[0]]:
            blocker = topmost_above(chain[0])
            return to_free_spot(blocker if blocker is not None else chain[0])
        # 2. Build the chain bottom-up.
        for pos in range(1, len(chain)):
            if not on[chain[pos], chain[pos - 1]]:
                blocker = topmost_above(chain[pos])
                if blocker is not None:
                    return to_free_spot(blocker)
                return {"skill": "pick_place", "object": names[chain[pos]], "target": names[chain[pos - 1]],
                        "dx": 0.0, "dy": 0.0}
        # 3. Other predicates.
        for i in target.clear:
            blocker = topmost_above(i)
            if blocker is not None:
                return to_free_spot(blocker)
        for i in target.on_table:
            if not on_table[i]:
                blocker = topmost_above(i)
                return to_free_spot(blocker if blocker is not None else i)
        # Everything holds but the episode did not end: the scene was not still; nudge by re-placing
        # the top of the chain (a cheap way to let it settle again).
        top = chain[-1] if len(chain) > 1 else 0
        support = chain[-2] if len(chain) > 1 else None
        if support is None:
            return to_free_spot(top)
        return {"skill": "pick_place", "object": names[top], "target": names[support], "dx": 0.0, "dy": 0.0}

    @staticmethod
    def _chain_ok(on: np.ndarray, on_table: np.ndarray, chain: list[int], upto: int) -> bool:
        return bool(on_table[chain[0]]) and all(on[chain[k], chain[k - 1]] for k in range(1, upto + 1))

    def _free_spot(self, moving: int, chain: list[int]) -> tuple[float, float]:
        """Table point farthest (in clearance) from every other object."""
        tt = self.env.tabletop
        states = physics.object_states(tt.scene, tt.data)
        radii = np.array([o.radius_xy for o in tt.scene.objects])
        others = np.array([i for i in range(len(radii)) if i != moving])
        grid = np.linspace(-WORKSPACE_HALF + 0.04, WORKSPACE_HALF - 0.04, 15)
        gx, gy = np.meshgrid(grid, grid, indexing="ij")
        points = np.stack([gx.ravel(), gy.ravel()], axis=1)  # (G, 2)
        dist = np.linalg.norm(points[:, None, :] - states[others, None, :2].transpose(1, 0, 2), axis=-1)
        clearance = (dist - radii[others][None, :]).min(axis=1)
        best = points[int(np.argmax(clearance))]
        return float(best[0]), float(best[1])


class LowLevelExpert:
    """Scripted end-effector policy for ``BlockStackLowLevel-v0``: the same plans as
    ``BlockStackExpert``, executed as waypoints with gripper deltas and grip commands.

    Call ``act()`` each step for a ``(4,)`` action. After each placement it waits until the
    scene is still, then asks the high-level expert for the next move. On an infeasible goal it
    holds still (the low-level env has no declare action).

    It also notices when something other than its own actions moved the gripper or changed
    what it holds (a perturbation, ``PerturbedExpert``), and recovers from where things are:
    pushed off course while carrying, it climbs to its safe height and re-approaches the
    placement from above (so the carried object is not dragged through a tower); holding
    nothing where it should (a missed grasp or a drop), or something it should not, it lets go,
    waits for the scene to settle and re-plans from the observed state. ``recoveries`` logs
    each one: ``{"time": s, "kind": "dropped" | "missed_grasp" | "unplanned_grasp" |
    "pushed_off_course", "object": name}``.
    """

    APPROACH = 0.3  # fraction of the full delta per step near grasp and placement (7.5 cm/s)
    # The gripper further than this from where the expert's last action put it was moved by
    # something else (the mocap gripper follows commands exactly, so 3 mm is far above rounding).
    DISTURBANCE = 3e-3

    def __init__(self, env) -> None:
        self.env = env.unwrapped
        self.planner = BlockStackExpert(env)
        self._queue: list[tuple[str, np.ndarray | None, float]] = []
        self._carry = -1  # the object the plan picks (index), -1 between plans
        self._carrying = False  # between the plan's grasp and its release
        self._place: tuple[np.ndarray, float, float] | None = None  # place xy, z_place, z_safe
        self._expected: np.ndarray | None = None  # where the last action put the gripper
        self._grasped_last = False  # the last action was the plan's grasp
        self.recoveries: list[dict] = []

    def act(self) -> np.ndarray:
        action = self._recover() if self._expected is not None else None
        if action is None:
            action = self._next()
        self._grasped_last = action[3] > 0 and self._carrying and self.env.tabletop.held < 0
        self._expect(action)
        return action

    def _next(self) -> np.ndarray:
        from .low_level import MAX_DELTA

        tt = self.env.tabletop
        while True:
            if not self._queue:
                self._plan()
            if not self._queue:
                return np.zeros(4, dtype=np.float32)
            kind, target, speed = self._queue[0]
            grip = 1.0 if tt.held >= 0 else -1.0
            if kind == "move" or kind == "guarded":
                delta = target - tt.gripper_pos
                touched = kind == "guarded" and tt.held >= 0 and self._held_touches()
                if np.linalg.norm(delta) < 1e-4 or touched:
                    self._queue.pop(0)
                    continue
                step = np.clip(delta / MAX_DELTA, -speed, speed)
                return np.array([*step, grip], dtype=np.float32)
            self._queue.pop(0)
            if kind == "grasp":
                self._carrying = True
                return np.array([0.0, 0.0, 0.0, 1.0], dtype=np.float32)
            if kind == "release":
                self._carrying = False
                return np.array([0.0, 0.0, 0.0, -1.0], dtype=np.float32)
            if kind == "wait":
                if not physics.is_still(tt.scene, tt.data):
                    self._queue.insert(0, ("wait", None, 0.0))
                return np.array([0.0, 0.0, 0.0, grip], dtype=np.float32)

    def _expect(self, action: np.ndarray) -> None:
        """Remember where ``action`` puts the gripper (as the env moves it: clipped to its box)."""
        from .low_level import GRIPPER_HIGH, GRIPPER_LOW, MAX_DELTA

        step = np.clip(action[:3].astype(np.float64), -1.0, 1.0) * MAX_DELTA
        self._expected = np.clip(self.env.tabletop.gripper_pos + step, GRIPPER_LOW, GRIPPER_HIGH)

    def _recover(self) -> np.ndarray | None:
        """React to a gripper moved or a hold changed by something else; an action, or None to
        carry on with the (possibly rebuilt) queue."""
        tt = self.env.tabletop
        wanted = self._carry if self._carrying else -1
        if tt.held != wanted:
            if tt.held == self._carry >= 0 and any(kind == "grasp" for kind, _, _ in self._queue):
                while self._queue.pop(0)[0] != "grasp":  # it already holds what it was going to pick
                    pass
                self._carrying = True
                return None
            missed = tt.held < 0 and self._carrying
            kind = ("missed_grasp" if self._grasped_last else "dropped") if missed else "unplanned_grasp"
            self._log(kind, self._carry if missed else tt.held)
            self._carry, self._carrying, self._place = -1, False, None
            self._queue = [("wait", None, 0.0)]  # let what fell settle before re-planning
            return np.array([0.0, 0.0, 0.0, -1.0], dtype=np.float32) if tt.held >= 0 else None
        # Pushed off course: carrying, climb and re-approach from above; empty-handed, the next
        # waypoint is reached in a straight line from here (the gripper itself touches nothing).
        pushed = np.linalg.norm(tt.gripper_pos - self._expected) > self.DISTURBANCE
        if pushed and self._carrying and self._place is not None:
            self._log("pushed_off_course", self._carry)
            self._queue = self._placement(*self._place, here=tt.gripper_pos)
        return None

    def _log(self, kind: str, obj: int) -> None:
        name = self.env.object_names[obj] if obj >= 0 else None
        self.recoveries.append({"time": float(self.env.tabletop.time), "kind": kind, "object": name})

    def _held_touches(self) -> bool:
        tt = self.env.tabletop
        touch, on_table = physics.contact_matrix(tt.scene, tt.data)
        return bool(touch[tt.held].any() or on_table[tt.held])

    def _placement(self, place_xy: np.ndarray, z_place: float, z_safe: float,
                   here: np.ndarray) -> list[tuple[str, np.ndarray | None, float]]:
        """Waypoints that carry the held object from ``here`` (up first) onto its placement."""
        return [
            ("move", np.array([here[0], here[1], max(here[2], z_safe)]), 1.0),
            ("move", np.array([*place_xy, z_safe]), 1.0),
            ("guarded", np.array([*place_xy, z_place + APPROACH_GAP]), 1.0),
            ("guarded", np.array([*place_xy, z_place - 0.01]), self.APPROACH),
            ("release", None, 0.0),
            ("move", np.array([*place_xy, z_place + 0.05]), 1.0),
            ("wait", None, 0.0),
        ]

    def _plan(self) -> None:
        self._carry, self._carrying, self._place = -1, False, None
        if self.env._goal_truth()[0]:
            return  # the goal holds: keep still until the env has seen 1 s of stillness
        action = self.planner.act()
        if action["skill"] != "pick_place":
            return
        tt = self.env.tabletop
        names = self.env.object_names
        obj = names.index(action["object"])
        states = physics.object_states(tt.scene, tt.data)
        tops = physics.top_heights(tt.scene, tt.data)
        half_h = tt.scene.objects[obj].half_height
        z_safe = max(0.12, float(tops.max()) + 2 * half_h + 0.04)
        here, grasp_xy = tt.gripper_pos, states[obj, :2]
        if action["target"] == "table":
            place_xy, support_top = np.array([action["dx"], action["dy"]]), 0.0
        else:
            target = names.index(action["target"])
            place_xy = states[target, :2] + (action["dx"], action["dy"])
            support_top = float(tops[target])
        z_place = support_top + 2 * half_h + PLACE_CLEARANCE
        self._carry, self._place = obj, (place_xy, z_place, z_safe)
        self._queue = [
            ("move", np.array([here[0], here[1], max(here[2], z_safe)]), 1.0),
            ("move", np.array([*grasp_xy, z_safe]), 1.0),
            ("move", np.array([*grasp_xy, tops[obj] + APPROACH_GAP]), 1.0),
            ("move", np.array([*grasp_xy, tops[obj]]), self.APPROACH),
            ("grasp", None, 0.0),
            ("move", np.array([*grasp_xy, z_safe]), 1.0),
            *self._placement(place_xy, z_place, z_safe, here=np.array([*place_xy, z_safe]))[1:],
        ]


class PerturbedExpert:
    """``LowLevelExpert`` under held random perturbations: demonstrations with mistakes in them.

    A world model or policy trained on clean demonstrations never sees a dropped block or a
    gripper off its path, nor how to get back. Independent per-step noise cannot show that:
    the expert is closed-loop and undoes a millimetre of jitter on the next step. So the
    perturbation is held, as in exploration with temporally extended random actions: for a
    stretch of steps (geometric, mean ``HOLD_STEPS``, 0.4 s) a random action replaces the
    expert's: a uniformly random gripper velocity and a random grip (open or closed), kept for
    the whole stretch. That can swing the carried object into a tower, or open the gripper and
    drop it; the expert then recovers from the state it finds (``LowLevelExpert.recoveries``).

    Stretches start so that on average a share ``noise`` of all steps is perturbed (start
    probability ``noise / (HOLD_STEPS * (1 - noise))``, capped at 1, so that from ``noise``
    0.91 on about 10 steps in 11 are), the same meaning ``noise`` has at high level: the chance
    that an action is not the expert's.

    Args:
        env: a ``BlockStackLowLevel-v0`` env (wrapped or not), already reset.
        noise: share of perturbed steps, in [0, 1].
        rng: the only source of the perturbations' randomness.
    """

    HOLD_STEPS = 10

    def __init__(self, env, noise: float, rng: np.random.Generator) -> None:
        if not 0.0 <= noise <= 1.0:
            raise ValueError(f"noise must be in [0, 1], got noise={noise}")
        self.expert = LowLevelExpert(env)
        self.noise, self.rng = noise, rng
        self._start = 1.0 if noise >= 1.0 else min(1.0, noise / (self.HOLD_STEPS * (1.0 - noise)))
        self._held: np.ndarray | None = None  # (4,) the random action being held, None: the expert acts
        self.perturbed_steps = 0

    def act(self) -> np.ndarray:
        switch = self.rng.random()  # one draw per step, whichever state, so streams stay aligned
        if self._held is None and switch < self._start:
            self._held = np.array([*self.rng.uniform(-1.0, 1.0, 3), self.rng.choice((-1.0, 1.0))],
                                  dtype=np.float32)
        elif self._held is not None and switch < 1.0 / self.HOLD_STEPS:
            self._held = None
        if self._held is None:
            return self.expert.act()
        self.perturbed_steps += 1
        return self._held.copy()
