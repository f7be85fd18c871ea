"""Simulation core shared by the table-top envs: stepping, grasping, pushing, events, snapshots."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import mujoco
import numpy as np

from . import physics
from .scene import Scene

CONTROL_SUBSTEPS = 20
"""Physics steps per control tick (20 x 2 ms = 40 ms): mocap targets, events and video frames
update once per tick. 40 ms keeps the per-tick Python work (events, guards) small next to the
physics (see docs/benchmarks.md) while the gripper moves at most 2 cm a tick."""
CONTACT_IMPULSE_MIN = 1e-4
"""N*s below which a touching pair is not reported as a contact event."""


@dataclass
class _Tracker:
    """Per-step accumulators for events (reset at the start of each env step)."""

    impulse: np.ndarray  # (N+2, N+2): index 0 gripper/pusher, 1 table, i+2 object i
    peak: np.ndarray
    t_first: np.ndarray
    touching0: np.ndarray  # pairs touching when the step began
    fall_z: np.ndarray  # (N,) height below which an object has fallen
    can_topple: np.ndarray  # (N,) upright non-balls at the reference, which topple if tipped on their side
    fall_margin: np.ndarray  # (N,) drop that counts as a fall
    fell: np.ndarray  # (N,) bool, fall already reported this step
    events: list


class TableTop:
    """A compiled ``Scene`` in motion: a mocap gripper that can weld-grasp objects or push them.

    Time advances only through ``tick``; every tick records contacts, falls and an optional frame.
    """

    def __init__(self, scene: Scene, data: mujoco.MjData | None = None) -> None:
        self.scene = scene
        self.model = scene.model
        self.data = mujoco.MjData(self.model) if data is None else data
        self.held = -1
        self.frame_callback: Callable[[], None] | None = None
        self.frame_every = 1  # ticks between frames when recording (25 fps at 40 ms ticks)
        self._ticks = 0
        self.tick_seconds = CONTROL_SUBSTEPS * self.model.opt.timestep
        mujoco.mj_forward(self.model, self.data)
        self.begin_step()

    # ------------------------------------------------------------------ time

    @property
    def time(self) -> float:
        return self.data.time

    def tick(self) -> None:
        """Advance one control tick and record what happened."""
        mujoco.mj_step(self.model, self.data, nstep=CONTROL_SUBSTEPS)
        self._ticks += 1
        self._record()
        if self.frame_callback is not None and self._ticks % self.frame_every == 0:
            self.frame_callback()

    # ------------------------------------------------------------------ gripper
    @property
    def gripper_pos(self) -> np.ndarray:
        return self.data.mocap_pos[self.scene.gripper_mocap].copy()

    def set_gripper(self, pos: np.ndarray) -> None:
        self.data.mocap_pos[self.scene.gripper_mocap] = pos
        self.data.mocap_quat[self.scene.gripper_mocap] = (1.0, 0.0, 0.0, 0.0)

    def grasp(self, index: int) -> None:
        """Weld object ``index`` below the gripper, upright, keeping its current yaw."""
        if self.held >= 0:
            self.release()
        states = physics.object_states(self.scene, self.data)
        x_axis = physics.quat_rotate(states[index, 3:7], np.array([1.0, 0.0, 0.0]))
        yaw = np.arctan2(x_axis[1], x_axis[0])
        weld = self.scene.weld_ids[index]
        self.model.eq_data[weld, :] = 0.0
        self.model.eq_data[weld, 3:6] = (0.0, 0.0, -self.scene.objects[index].half_height)
        self.model.eq_data[weld, 6:10] = (np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2))
        self.model.eq_data[weld, 10] = 1.0  # torquescale
        self.data.eq_active[weld] = 1
        self.held = index
        self._tracker.events.append({"type": "grasp", "object": self.scene.names[index], "t": self.time})

    def release(self) -> None:
        if self.held < 0:
            return
        self.data.eq_active[self.scene.weld_ids[self.held]] = 0
        self._tracker.events.append({"type": "release", "object": self.scene.names[self.held], "t": self.time})
        self._set_fall_reference(self.held)  # judge its falls from where it was let go
        self.held = -1

    def set_pusher(self, active: bool) -> None:
        """Switch the pusher sphere's collisions on (push skill) or off."""
        g, body = self.scene.pusher_geom, self.model.geom_bodyid[self.scene.pusher_geom]
        flag = 1 if active else 0
        self.model.geom_contype[g] = self.model.geom_conaffinity[g] = flag
        # The broad phase filters on body-level masks (the OR over the body's geoms) first.
        self.model.body_contype[body] = self.model.body_conaffinity[body] = flag

    # ------------------------------------------------------------------ events
    def begin_step(self) -> None:
        """Reset the per-step event accumulators."""
        n = self.scene.n_objects + 2
        self._tracker = _Tracker(
            impulse=np.zeros((n, n)), peak=np.zeros((n, n)), t_first=np.full((n, n), np.nan),
            touching0=self._touching_pairs(), fall_z=np.zeros(n - 2), can_topple=np.zeros(n - 2, dtype=bool),
            fall_margin=np.maximum(self.scene.half_heights, 0.015), fell=np.zeros(n - 2, dtype=bool), events=[])
        for k in range(n - 2):
            self._set_fall_reference(k)

    def _set_fall_reference(self, k: int) -> None:
        """Judge object ``k``'s falls from where it is now: a drop of more than its half-height
        (at least 1.5 cm), or tipping from upright to on its side."""
        tr = self._tracker
        pose = self.data.qpos[7 * k: 7 * k + 7]
        tr.fall_z[k] = pose[2] - tr.fall_margin[k]
        tr.can_topple[k] = (not self.scene.is_ball[k]) and physics.up_alignment(pose[3:7]) > 0.7

    def _touching_pairs(self) -> np.ndarray:
        n = self.scene.n_objects + 2
        pairs, force = physics.contact_forces(self.scene, self.data)
        touching = np.zeros((n, n), dtype=bool)
        touching[pairs[:, 0] + 2, pairs[:, 1] + 2] = force > 0
        return touching

    def _record(self) -> None:
        tr, data = self._tracker, self.data
        n = data.ncon
        if n:
            # Forces are sampled once per tick; impulse = force x tick duration (documented approximation).
            adr = data.contact.efc_address[:n]
            active = adr >= 0
            sides = self.scene.geom_to_object[data.contact.geom[:n][active]] + 2  # (k, 2)
            size = len(tr.impulse)
            flat = sides.min(axis=1) * size + sides.max(axis=1)
            tick_force = np.bincount(flat, weights=data.efc_force[adr[active]], minlength=size * size)
            tick_force = tick_force.reshape(size, size)
            tr.impulse += tick_force * self.tick_seconds
            np.maximum(tr.peak, tick_force, out=tr.peak)
            fresh = (tick_force > 0) & np.isnan(tr.t_first)
            if fresh.any():
                tr.t_first[fresh] = data.time
        poses = data.qpos.reshape(-1, 7)  # objects own the only joints (see Scene)
        x, y = poses[:, 4], poses[:, 5]
        dropped = poses[:, 2] < tr.fall_z
        toppled = tr.can_topple & (1.0 - 2.0 * (x * x + y * y) < 0.3)
        new = (dropped | toppled) & ~tr.fell
        if self.held >= 0:
            new[self.held] = False
        for k in np.flatnonzero(new):
            tr.fell[k] = True
            tr.events.append({"type": "fall", "object": self.scene.names[k], "t": self.time,
                              "drop": float(tr.fall_z[k] + tr.fall_margin[k] - poses[k, 2]),
                              "toppled": bool(toppled[k])})

    def step_events(self) -> list[dict]:
        """Events since ``begin_step``: grasps, releases, falls, then contacts (with impulses)."""
        tr = self._tracker
        labels = ["gripper", "table", *self.scene.names]
        contacts = []
        for i, j in zip(*np.nonzero(tr.impulse >= CONTACT_IMPULSE_MIN), strict=True):
            contacts.append({"type": "contact", "a": labels[i], "b": labels[j], "t": float(tr.t_first[i, j]),
                             "impulse": float(tr.impulse[i, j]), "peak_force": float(tr.peak[i, j]),
                             "new": not bool(tr.touching0[i, j])})
        contacts.sort(key=lambda e: (e["t"], e["a"], e["b"]))
        return sorted(tr.events, key=lambda e: e["t"]) + contacts

    # ------------------------------------------------------------------ settling
    def settle(self, window: float = 1.0, timeout: float = 5.0) -> tuple[bool, float]:
        """Simulate until every object has been still for ``window`` seconds, or ``timeout``.

        Returns:
            (stable, seconds simulated).
        """
        still_ticks, needed = 0, int(round(window / self.tick_seconds))
        start = self.time
        while still_ticks < needed:
            if self.time - start >= timeout:
                return False, self.time - start
            self.tick()
            still_ticks = still_ticks + 1 if physics.is_still(self.scene, self.data) else 0
        return True, self.time - start

    # ------------------------------------------------------------------ snapshots
    def fingerprint(self) -> str:
        """Identity of the scene, so a snapshot is never restored into a different one."""
        desc = repr([(o.name, o.shape, o.size, o.mass, o.friction, o.restitution) for o in self.scene.objects])
        return hashlib.sha256(desc.encode()).hexdigest()[:16]

    def get_state(self) -> dict:
        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        physics_state = np.empty(mujoco.mj_stateSize(self.model, spec))
        mujoco.mj_getState(self.model, self.data, physics_state, spec)
        return {"physics": physics_state, "held": self.held, "weld": self.model.eq_data[self.scene.weld_ids].copy(),
                "pusher": bool(self.model.geom_contype[self.scene.pusher_geom]), "ticks": self._ticks,
                "fingerprint": self.fingerprint()}

    def set_state(self, state: dict) -> None:
        if state.get("fingerprint") != self.fingerprint():
            raise ValueError("state snapshot belongs to a different scene (fingerprint mismatch); "
                             "reset the env with the snapshot's seed first")
        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        expected = mujoco.mj_stateSize(self.model, spec)
        if state["physics"].shape != (expected,):
            raise ValueError(f"physics state has shape {state['physics'].shape}, expected ({expected},)")
        mujoco.mj_setState(self.model, self.data, np.asarray(state["physics"], dtype=np.float64), spec)
        self.model.eq_data[self.scene.weld_ids] = state["weld"]
        self.held = int(state["held"])
        self.set_pusher(bool(state["pusher"]))
        self._ticks = int(state["ticks"])
        mujoco.mj_forward(self.model, self.data)
        self.begin_step()

    def carry_over(self, old: TableTop) -> None:
        """Continue ``old``'s episode in this rebuilt scene (an intervention): the grasp (the same
        weld pose, if the held object is still there), the pusher, the tick count and the frame
        recorder carry over by name."""
        self.frame_callback, self.frame_every, self._ticks = old.frame_callback, old.frame_every, old._ticks
        self.set_pusher(bool(old.model.geom_contype[old.scene.pusher_geom]))
        if old.held >= 0 and old.scene.names[old.held] in self.scene.names:
            index = self.scene.names.index(old.scene.names[old.held])
            weld = self.scene.weld_ids[index]
            self.model.eq_data[weld] = old.model.eq_data[old.scene.weld_ids[old.held]]
            self.data.eq_active[weld] = 1
            self.held = index
            mujoco.mj_forward(self.model, self.data)
