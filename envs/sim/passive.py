"""Passive simulation shared by the scenario envs and their counterfactual rollouts.

``PassiveSim`` advances a scene one 40 ms frame at a time, records contacts for the direct
causal graph every 2 ms physics step, and shatters fragile objects: when the impulse other
objects deliver to a fragile object within ``IMPACT_WINDOW`` steps (20 ms, about one soft
impact) exceeds its ``fragility``, the object is replaced by ``SHARDS`` pieces that fly apart.
Everything is reported per *recorded* object (the objects the scene started with): a broken
object's pieces all belong to it, and its state is their mean.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import mujoco
import networkx as nx
import numpy as np

from . import physics
from .ground_truth import ContactRecorder, but_for_graph
from .scene import Marker, ObjectSpec, build_scene

FRAME_SUBSTEPS = 20  # 20 x 2 ms = 40 ms per frame (25 fps)
IMPACT_WINDOW = 10  # physics steps summed when judging a break (20 ms)
SHARDS_PER_LAYER = 4
SHARD_SPEED = 0.35  # m/s outward
PARK = np.array([0.0, 0.0, 3.0])  # the (unused) gripper waits far above the camera frustum


@dataclass
class Rollout:
    """A headless simulation: positions ``(T+1, N, 3)`` per frame (per step for BlockStack), broken
    flags ``(N,)``, contacts."""

    names: list[str]
    positions: np.ndarray
    broken: np.ndarray
    recorder: ContactRecorder | None  # None where contacts are not recorded per physics step (BlockStack)
    events: list = dataclasses.field(default_factory=list)  # per step, where the env reports events

    def touched(self, a: str, b: str) -> bool:
        i, j = self.names.index(a), self.names.index(b)
        return bool(self.recorder.t_first[i, j] >= 0)


class PassiveSim:
    """A scene in motion with contact recording and breakable objects."""

    def __init__(self, objects: list[ObjectSpec], velocities: dict[str, np.ndarray], image_size: int = 128,
                 markers: tuple[Marker, ...] = ()) -> None:
        self.markers = tuple(markers)
        # The recorded objects' current specs: the one source of truth for their properties
        # (interventions update them); poses are those at the start.
        self.objects = [dataclasses.replace(o) for o in objects]
        self.names0 = [o.name for o in objects]
        n = len(objects)
        self.image_size = image_size
        self.recorder = ContactRecorder(self.objects)
        self.owner = np.arange(n)  # scene object index -> recorded object index
        self.broken = np.zeros(n, dtype=bool)
        self.events: list[dict] = []
        self._window = np.zeros((IMPACT_WINDOW, n, n))
        self.build(objects, {k: np.asarray(v, dtype=float) for k, v in velocities.items()}, time=0.0)

    def build(self, objects: list[ObjectSpec], velocities: dict[str, np.ndarray], time: float) -> None:
        """(Re)build the scene from ``objects`` at their ``pos``/``quat`` with ``velocities`` by name."""
        self.scene = build_scene(objects, image_size=self.image_size, markers=self.markers)
        self.data = mujoco.MjData(self.scene.model)
        self.data.mocap_pos[self.scene.gripper_mocap] = PARK
        qvel = self.data.qvel.reshape(-1, 6)
        for i, name in enumerate(self.scene.names):
            if name in velocities:
                qvel[i, : len(velocities[name])] = velocities[name]
            if objects[i].frozen:
                qvel[i] = 0.0
        self.data.time = time
        mujoco.mj_forward(self.scene.model, self.data)
        self._update_owner()

    def adopt(self, scene, data) -> None:
        """Continue from a scene rebuilt by an intervention: objects may have new properties, be
        frozen or be gone (their rows stay, ``present`` turns False). The break rule, the
        contact recorder and every read-out use the new properties from now on."""
        self.scene, self.data = scene, data
        self.owner = np.array([self._owner_of(n) for n in scene.names], dtype=int)
        for obj in scene.objects:
            if "_shard" not in obj.name:
                k = self.names0.index(obj.name)
                self.objects[k] = dataclasses.replace(obj, pos=self.objects[k].pos, quat=self.objects[k].quat)
        self.recorder.update_objects(self.objects)
        self._update_owner()

    @property
    def present(self) -> np.ndarray:
        """``(N,)`` bool: recorded objects still in the scene (whole or in pieces)."""
        return np.bincount(self.owner, minlength=len(self.names0)) > 0

    def _update_owner(self) -> None:
        to_object = self.scene.geom_to_object
        owner = self.owner if len(self.owner) else np.zeros(1, dtype=int)
        self.geom_owner = np.where(to_object >= 0, owner[np.maximum(to_object, 0)], to_object)
        self._one_to_one = np.array_equal(self.owner, np.arange(len(self.names0)))

    def _owner_of(self, name: str) -> int:
        base = name.split("_shard")[0]
        return self.names0.index(base)

    # ------------------------------------------------------------------ read-outs
    def states(self) -> np.ndarray:
        """Per recorded object state ``(N, 13)``; a broken object's is the mean of its pieces."""
        states = physics.object_states(self.scene, self.data)
        if self._one_to_one:
            return states
        out = np.zeros((len(self.names0), states.shape[1]))
        np.add.at(out, self.owner, states)
        counts = np.bincount(self.owner, minlength=len(self.names0))
        out /= np.maximum(counts, 1)[:, None]
        first = np.array([np.flatnonzero(self.owner == k)[0] if counts[k] else 0 for k in range(len(self.names0))])
        out[:, 3:7] = states[first, 3:7]
        return out

    def positions(self) -> np.ndarray:
        return self.states()[:, :3]

    # ------------------------------------------------------------------ stepping
    def step_frame(self) -> list[dict]:
        """Advance one frame; return the break events it produced."""
        dt = self.scene.model.opt.timestep
        fragile = np.array([o.fragile for o in self.objects])
        thresholds = np.array([o.fragility for o in self.objects])
        new_events = []
        for _ in range(FRAME_SUBSTEPS):
            mujoco.mj_step(self.scene.model, self.data)
            if not self._one_to_one:
                states = self.states()
                pos, vel = states[:, :3], states[:, 7:10]
            else:  # one scene object per recorded object: read the joints directly
                pos, vel = self.data.qpos.reshape(-1, 7)[:, :3], self.data.qvel.reshape(-1, 6)[:, :3]
            step_impulse = self.recorder.record(self.data, dt, self.geom_owner, pos, vel)
            self._window[self.recorder.steps % IMPACT_WINDOW] = step_impulse
            if fragile.any():
                impact = self._window.sum(axis=0)  # (N, N): [u, k] impulse u delivered to k
                breaking = np.flatnonzero(fragile & ~self.broken & (impact.sum(axis=0) > thresholds))
                for k in breaking:
                    striker = int(np.argmax(impact[:, k]))
                    new_events.append(self._shatter(int(k), striker, float(impact[:, k].sum())))
        self.events.extend(new_events)
        return new_events

    def _shatter(self, k: int, striker: int, impulse: float) -> dict:
        glass = self.objects[k]
        index = int(np.flatnonzero(self.owner == k)[0])
        qpos, qvel = self.data.qpos.reshape(-1, 7), self.data.qvel.reshape(-1, 6)
        centre, velocity = qpos[index, :3].copy(), qvel[index, :3].copy()
        current = {n: dataclasses.replace(o, pos=tuple(qpos[i, :3]), quat=tuple(qpos[i, 3:]))
                   for i, (n, o) in enumerate(zip(self.scene.names, self.scene.objects, strict=True))}
        velocities = {n: qvel[i].copy() for i, n in enumerate(self.scene.names)}
        del current[glass.name], velocities[glass.name]
        radius, half_h = glass.size[0], glass.half_height
        half = 0.3 * radius
        shards = []
        for layer, dz in enumerate((-0.5 * half_h, 0.5 * half_h)):
            for q in range(SHARDS_PER_LAYER):
                angle = 2 * np.pi * (q + 0.5 * layer) / SHARDS_PER_LAYER
                out = np.array([np.cos(angle), np.sin(angle), 0.0])
                name = f"{glass.name}_shard{layer * SHARDS_PER_LAYER + q}"
                shards.append(ObjectSpec(
                    name=name, shape="cube", color=glass.color, size=(half,),
                    mass=glass.mass / (2 * SHARDS_PER_LAYER), friction=glass.friction, restitution=glass.restitution,
                    pos=tuple(centre + 0.5 * radius * out + (0.0, 0.0, dz)), yaw=float(angle)))
                velocities[name] = np.concatenate([velocity + SHARD_SPEED * out + (0.0, 0.0, 0.3), np.zeros(3)])
        objects = [*current.values(), *shards]
        self.owner = np.array([self._owner_of(o.name) for o in objects])
        self.broken[k] = True
        self.recorder.breaks.append((striker, k, self.recorder.steps, impulse))
        self.build(objects, velocities, time=self.data.time)
        return {"type": "break", "object": glass.name, "by": self.names0[striker], "t": float(self.data.time),
                "impulse": impulse}

    # ------------------------------------------------------------------ snapshots
    def get_state(self) -> dict:
        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        physics_state = np.empty(mujoco.mj_stateSize(self.scene.model, spec))
        mujoco.mj_getState(self.scene.model, self.data, physics_state, spec)
        return {"objects": [dataclasses.replace(o) for o in self.scene.objects], "physics": physics_state,
                "recorded": [dataclasses.replace(o) for o in self.objects],
                "owner": self.owner.copy(), "broken": self.broken.copy(), "window": self._window.copy(),
                "recorder": self.recorder.snapshot(), "events": list(self.events)}

    def set_state(self, state: dict) -> None:
        if [o.to_dict() for o in state["objects"]] != [o.to_dict() for o in self.scene.objects]:
            self.owner = state["owner"].copy()
            self.build([dataclasses.replace(o) for o in state["objects"]], {}, time=0.0)
        mujoco.mj_setState(self.scene.model, self.data, state["physics"], mujoco.mjtState.mjSTATE_INTEGRATION)
        mujoco.mj_forward(self.scene.model, self.data)
        self.owner, self.broken = state["owner"].copy(), state["broken"].copy()
        self.objects = [dataclasses.replace(o) for o in state["recorded"]]
        self._update_owner()
        self._window = state["window"].copy()
        self.recorder.restore(state["recorder"])
        self.events = list(state["events"])


def simulate(objects: list[ObjectSpec], velocities: dict[str, np.ndarray], frames: int,
             markers: tuple[Marker, ...] = ()) -> Rollout:
    """Simulate ``frames`` frames from ``objects``' poses plus initial ``velocities`` (no rendering)."""
    sim = PassiveSim(objects, velocities, markers=markers)
    positions = np.empty((frames + 1, len(objects), 3))
    positions[0] = sim.positions()
    for f in range(frames):
        sim.step_frame()
        positions[f + 1] = sim.positions()
    return Rollout(sim.names0, positions, sim.broken.copy(), sim.recorder)


def total_effect(factual: Rollout, objects: list[ObjectSpec], velocities: dict[str, np.ndarray],
                 frames: int) -> tuple[nx.DiGraph, dict[str, Rollout]]:
    """But-for total-effect graph of the rollout ``factual`` of ``objects``: one re-simulation
    without each object (``ground_truth.but_for_graph``). Also returns those rollouts by name."""
    rollouts: dict[str, Rollout] = {}

    def without(name: str) -> tuple[np.ndarray, np.ndarray]:
        rollouts[name] = rollout = simulate([o for o in objects if o.name != name],
                                            {k: v for k, v in velocities.items() if k != name}, frames)
        positions, broken = factual.positions.copy(), factual.broken.copy()
        keep = [factual.names.index(n) for n in rollout.names]
        positions[:, keep], broken[keep] = rollout.positions, rollout.broken
        return positions, broken

    graph = but_for_graph(factual.names, factual.positions, without, factual_broken=factual.broken)
    return graph, rollouts
