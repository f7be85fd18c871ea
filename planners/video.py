"""What the planner imagined beside what happened: the episode video of ``foretell plan --video``.

For a planner with a world model, every executed step is shown twice, side by side: on the left
the real scene while the arm executes it (MuJoCo, every 40 ms), on the right the scene the world
model imagined that step would leave (one sample of the chosen plan, imagined from the state the
decision saw, rendered by setting each object's predicted pose into the same MuJoCo scene and
camera). Variants without a world model get the real frames alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np

from foretell.envs.sim.render import caption_frames

IMAGINED_TINT = np.array([1.0, 0.93, 0.8])
"""Imagined panels are tinted warm, so a still frame says which side is which."""


def render_states(env, states: np.ndarray) -> list[np.ndarray]:
    """Frames of ``env``'s scene with its objects posed as in each of ``states (T, N, 13)`` (rows
    in ``object_names``; rows of absent objects are ignored), from the env's own camera. The scene
    is restored afterwards."""
    base = env.unwrapped
    tt = base.tabletop
    rows = [list(base.object_names).index(n) for n in tt.scene.names]
    snapshot = base.get_state()
    frames = []
    try:
        for state in np.asarray(states, dtype=float):
            quat = state[rows, 3:7]
            norm = np.linalg.norm(quat, axis=1, keepdims=True)
            qpos = tt.data.qpos.reshape(-1, 7)
            qpos[:, :3] = state[rows, :3]
            qpos[:, 3:] = np.where(norm > 1e-6, quat / np.maximum(norm, 1e-6), (1.0, 0.0, 0.0, 0.0))
            mujoco.mj_kinematics(tt.model, tt.data)
            mujoco.mj_camlight(tt.model, tt.data)  # cameras and lights follow the poses
            frames.append(base.snapshot_frame())
    finally:
        base.set_state(snapshot)
    return frames


@dataclass
class EpisodeVideo:
    """Collects an episode's steps: which real frames each took, and what was imagined for it.

    ``frames`` is the list the env appends real frames to (``record_frames``); ``compose`` turns
    it, in place, into the episode's video.
    """

    frames: list
    steps: list[tuple[int, int, str, np.ndarray | None]] = field(default_factory=list)
    _imagined: list[np.ndarray] = field(default_factory=list)

    def decided(self, env, verifier, plan: list[dict]) -> None:
        """A plan was chosen: keep what ``verifier`` imagines each of its steps leaves (if it
        imagines at all: ``verifier.imagine_states``)."""
        acting = [a for a in plan if a.get("skill") == "pick_place" or a.get("skill") == "push"]
        imagine = getattr(verifier, "imagine_states", None)
        self._imagined = render_states(env, imagine(env, acting)) if imagine is not None and acting else []

    def executed(self, start: int, label: str, index: int) -> None:
        """Step ``index`` of the chosen plan (``label``) took the real frames from ``start`` on."""
        imagined = self._imagined[index] if index < len(self._imagined) else None
        self.steps.append((start, len(self.frames), label, imagined))

    def compose(self) -> None:
        """Replace the real frames by real | imagined panels, captioned with each step (only when
        something was imagined; otherwise the real frames stay as they are)."""
        if not any(imagined is not None for *_, imagined in self.steps):
            return
        out = []
        for start, end, label, imagined in self.steps:
            real = self.frames[start:end]
            if not real:
                continue
            side = imagined if imagined is not None else np.full_like(real[0], 40)
            side = caption_frames([(side * IMAGINED_TINT).astype(np.uint8)],
                                  "imagined" if imagined is not None else "nothing imagined")[0]
            for frame in caption_frames(real, f"real: {label}"):
                out.append(np.concatenate([frame, side], axis=1))
        self.frames[:] = out
