"""Read-outs over sampled futures: contacts, falls, breaks, final positions, goal predicates.

Every function takes predicted object states (position 3, quaternion wxyz 4, linear and angular
velocity 3 + 3, world frame) with any leading dimensions (plans, samples, steps) and the
scene's ``ObjectSpec`` per row, and is vectorised over all of them: a probability is the share
of samples in which the event happens. The events mirror the simulator's own definitions:

- **support and goals**: ``foretell.envs.support_from_poses`` (``support_matrix``'s rule with
  touching read from geometry: validated 100% equal to the simulator's contacts on 828 settled
  BlockStack states, docs/worldmodel.md), and the goal predicates of
  ``foretell.envs.blockstack.goals.evaluate`` vectorised over samples;
- **stable**: every object below the env's stillness thresholds (``STILL_LINEAR_SPEED``,
  ``STILL_ANGULAR_SPEED`` of ``envs.sim.physics``);
- **fall** (``envs.sim.tabletop``): a drop of more than the object's half-height (at least
  1.5 cm) below its reference height, or an upright non-ball tipped on its side
  (``up_alignment`` from above 0.7 to below 0.3);
- **contact**: each object approximated by its enclosing upright cylinder (``radius_xy``,
  ``half_height``, the clearance geometry of the envs and of ``ocp``'s baselines); contact when
  the two cylinders come within ``tolerance`` (so a sphere or a tilted box is over-covered);
- **break** (``envs.sim.passive``): a fragile object breaks when the impulse other objects
  deliver within 20 ms exceeds its ``fragility`` (N s); from states, the impulse is estimated
  as its mass times the change of its horizontal velocity between consecutive predicted steps
  (the table's push is vertical, so it is left out; a coarse estimate at 40 ms steps).

``foretell.envs`` is imported inside the functions that need it, so that importing
``foretell.worldmodel`` (and loading a model) does not load MuJoCo.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

FALL_MARGIN_MIN = 0.015  # m, smallest drop that counts as a fall (envs.sim.tabletop)
UPRIGHT, TOPPLED = 0.7, 0.3  # up_alignment above: upright; below: on its side (envs.sim.tabletop)
CONTACT_TOLERANCE = 0.005  # m, gap between enclosing cylinders that still counts as contact


def as_numpy(states: torch.Tensor | np.ndarray) -> np.ndarray:
    """float64 numpy view of states (a torch tensor is moved to the CPU)."""
    if isinstance(states, torch.Tensor):
        return states.detach().to("cpu", torch.float64).numpy()
    return np.asarray(states, dtype=np.float64)


def _check_states(states: np.ndarray, objects: Sequence, min_dims: int = 2) -> None:
    if states.ndim < min_dims or states.shape[-1] != 13 or states.shape[-2] != len(objects):
        raise ValueError(f"states must be (..., N={len(objects)}, 13) with at least {min_dims} dims, "
                         f"got {states.shape}")


def _index(names: Sequence[str], name: str) -> int:
    if name not in names:
        raise ValueError(f"unknown object {name!r}; valid names: {list(names)}")
    return list(names).index(name)


# ---------------------------------------------------------------- support, goals, stability
def support(states: torch.Tensor | np.ndarray, objects: Sequence, mask: np.ndarray | None = None,
            tolerance: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Support relations of states ``(..., N, 13)``: ``on (..., N, N)``, ``on_table (..., N)``.
    ``tolerance``: the touching gap in metres (None: ``support_from_poses``'s 5 mm, right for
    simulated states; predicted states may need more, chosen on validation data)."""
    from foretell.envs import support_from_poses

    states = as_numpy(states)
    _check_states(states, objects)
    if tolerance is None:
        return support_from_poses(states[..., :7], list(objects), mask)
    return support_from_poses(states[..., :7], list(objects), mask, tolerance=tolerance)


def tower_heights(on: np.ndarray, on_table: np.ndarray) -> np.ndarray:
    """Tallest chain of ``on`` relations based on the table, per scene: ``on (..., N, N)``,
    ``on_table (..., N)`` -> ``(...,)`` int (``goals.tower_height`` vectorised)."""
    return object_heights(on, on_table).max(axis=-1, initial=0)


def object_heights(on: np.ndarray, on_table: np.ndarray) -> np.ndarray:
    """Each object's height in the tallest chain of ``on`` relations under it that reaches the
    table (1: on the table; 0: in no such chain), per scene: ``(..., N, N)``, ``(..., N)`` ->
    ``(..., N)`` int."""
    n = on_table.shape[-1]
    height = on_table.astype(np.int64)  # (..., N)
    for _ in range(n):  # relax: height[a] = max(height[a], height[b] + 1) for a on b with height[b] > 0
        stacked = np.where(on & (height[..., None, :] > 0), height[..., None, :] + 1, 0).max(axis=-1, initial=0)
        new = np.maximum(height, stacked)
        if np.array_equal(new, height):
            break
        height = new
    return height


def predicates(goal) -> list:
    """A goal as a list of ``Predicate``: a ``Goal``, or predicate objects or strings."""
    from foretell.envs import Predicate

    preds = getattr(goal, "predicates", goal)
    if isinstance(preds, str):
        preds = [preds]
    out = [p if isinstance(p, Predicate) else Predicate.parse(p) for p in preds]
    if not out:
        raise ValueError("a goal needs at least one predicate")
    return out


def goal_truth(goal, names: Sequence[str], on: np.ndarray, on_table: np.ndarray) -> np.ndarray:
    """Does every predicate of ``goal`` hold, per scene? ``on (..., N, N)``, ``on_table (..., N)``
    -> ``(...,)`` bool (``goals.evaluate`` vectorised; unknown names raise ``ValueError``)."""
    truth = np.ones(on_table.shape[:-1], dtype=bool)
    for p in predicates(goal):
        if p.name == "on":
            value = on[..., _index(names, p.args[0]), _index(names, p.args[1])]
        elif p.name == "on_table":
            value = on_table[..., _index(names, p.args[0])]
        elif p.name == "clear":
            value = ~on[..., :, _index(names, p.args[0])].any(axis=-1)
        else:
            value = tower_heights(on, on_table) >= p.args[0]
        truth &= value
    return truth


def still(states: torch.Tensor | np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Is every object below the env's stillness thresholds? ``(..., N, 13)`` -> ``(...,)`` bool."""
    from foretell.envs.sim.physics import STILL_ANGULAR_SPEED, STILL_LINEAR_SPEED

    states = as_numpy(states)
    slow = (np.linalg.norm(states[..., 7:10], axis=-1) < STILL_LINEAR_SPEED) & (
        np.linalg.norm(states[..., 10:13], axis=-1) < STILL_ANGULAR_SPEED)  # (..., N)
    if mask is not None:
        slow |= ~np.broadcast_to(np.asarray(mask, dtype=bool), slow.shape)
    return slow.all(axis=-1)


def goal_stable(states: torch.Tensor | np.ndarray, goal, objects: Sequence, mask: np.ndarray | None = None,
                tolerance: float | None = None) -> np.ndarray:
    """Goal holds and the scene is still, per state ``(..., N, 13)`` -> ``(...,)`` bool
    (``tolerance``: see ``support``)."""
    states = as_numpy(states)
    on, on_table = support(states, objects, mask, tolerance)
    return goal_truth(goal, [o.name for o in objects], on, on_table) & still(states, mask)


def p_goal_stable(states: torch.Tensor | np.ndarray, goal, objects: Sequence, mask: np.ndarray | None = None,
                  tolerance: float | None = None) -> np.ndarray:
    """p(goal holds and the scene is stable) over samples: final states ``(..., S, N, 13)`` -> ``(...,)``."""
    return goal_stable(states, goal, objects, mask, tolerance).mean(axis=-1)


# ---------------------------------------------------------------- events over time
def contacts(states: torch.Tensor | np.ndarray, objects: Sequence, tolerance: float = CONTACT_TOLERANCE
             ) -> np.ndarray:
    """Which pairs come into contact at any step: ``(..., T, N, 13)`` -> ``(..., N, N)`` bool
    (symmetric, diagonal False), with each object as its enclosing upright cylinder."""
    states = as_numpy(states)
    _check_states(states, objects, 3)
    radius = np.array([o.radius_xy for o in objects])
    half_h = np.array([o.half_height for o in objects])
    pos = states[..., :3]
    gap_xy = np.linalg.norm(pos[..., :, None, :2] - pos[..., None, :, :2], axis=-1) - (radius[:, None] + radius)
    gap_z = np.abs(pos[..., :, None, 2] - pos[..., None, :, 2]) - (half_h[:, None] + half_h)
    touch = (np.maximum(gap_xy, gap_z) < tolerance).any(axis=-3)  # (..., N, N)
    return touch & ~np.eye(len(objects), dtype=bool)


def p_contact(states: torch.Tensor | np.ndarray, objects: Sequence, a: str, b: str,
              tolerance: float = CONTACT_TOLERANCE) -> np.ndarray:
    """p(contact(a, b)) at any step, over samples: ``(..., S, T, N, 13)`` -> ``(...,)``."""
    names = [o.name for o in objects]
    i, j = _index(names, a), _index(names, b)
    return contacts(states, objects, tolerance)[..., i, j].mean(axis=-1)


def _up_alignment(quat: np.ndarray) -> np.ndarray:
    return 1.0 - 2.0 * (quat[..., 1] ** 2 + quat[..., 2] ** 2)


def falls(states: torch.Tensor | np.ndarray, objects: Sequence, reference: torch.Tensor | np.ndarray,
          reference_z: np.ndarray | None = None) -> np.ndarray:
    """Which objects fall at any step (``envs.sim.tabletop``'s rule): states ``(..., T, N, 13)``,
    the states falls are judged from ``reference (..., N, 13)`` (broadcast over the leading
    dimensions) -> ``(..., N)`` bool. ``reference_z`` ``(..., N)`` overrides the reference height
    (an object a skill placed is judged from where it was put down, as the env does at release)."""
    states, reference = as_numpy(states), as_numpy(reference)
    _check_states(states, objects, 3)
    half_h = np.array([o.half_height for o in objects])
    is_ball = np.array([o.shape == "ball" for o in objects])
    z0 = reference[..., 2] if reference_z is None else np.asarray(reference_z, dtype=float)
    fall_z = z0 - np.maximum(half_h, FALL_MARGIN_MIN)  # (..., N)
    can_topple = ~is_ball & (_up_alignment(reference[..., 3:7]) > UPRIGHT)
    dropped = (states[..., 2] < fall_z[..., None, :]).any(axis=-2)
    toppled = (_up_alignment(states[..., 3:7]) < TOPPLED).any(axis=-2) & can_topple
    return dropped | toppled


def breaks(states: torch.Tensor | np.ndarray, objects: Sequence, reference: torch.Tensor | np.ndarray
           ) -> np.ndarray:
    """Which fragile objects break (impulse estimate in the module docstring): states
    ``(..., T, N, 13)``, the state before them ``reference (..., N, 13)`` -> ``(..., N)`` bool."""
    states, reference = as_numpy(states), as_numpy(reference)
    _check_states(states, objects, 3)
    fragile = np.array([o.fragile for o in objects])
    threshold = np.array([o.fragility if o.fragile else np.inf for o in objects])
    mass = np.array([o.mass for o in objects])
    ref = np.broadcast_to(reference[..., None, :, 7:9], (*states.shape[:-3], 1, *states.shape[-2:-1], 2))
    velocity = np.concatenate([ref, states[..., 7:9]], axis=-3)  # (..., T + 1, N, 2) horizontal
    impulse = mass * np.linalg.norm(np.diff(velocity, axis=-3), axis=-1).max(axis=-2)  # (..., N)
    return fragile & (impulse > threshold)


def final_positions(states: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over samples of the last step's positions:
    ``(..., S, T, N, 13)`` -> ``(..., N, 3)`` each."""
    states = as_numpy(states)
    if states.ndim < 4 or states.shape[-1] != 13:
        raise ValueError(f"states must be (..., S, T, N, 13), got {states.shape}")
    last = states[..., -1, :, :3]  # (..., S, N, 3)
    return last.mean(axis=-3), last.std(axis=-3)
