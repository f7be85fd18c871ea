"""Object states <-> the features the object diffusion model sees and predicts.

A stored state row is position (3), quaternion wxyz (4), linear velocity (3), angular velocity
(3). The model works relative to the last observed state of each object, so a scene is the same
problem wherever it sits on the table: positions become displacements from the last observed
position and orientations become the rotation since then, written in the 6-D form of Zhou et
al. (2019), the first two columns of the rotation matrix, because it is continuous (a quaternion
has two signs for one rotation and a network cannot pick the sign smoothly). Velocities stay as
they are: they are already independent of where the object is.

Everything is vectorised over leading dimensions; shapes in the docstrings use ``...`` for them.
"""

from __future__ import annotations

import torch

STATE_DIM = 13
"""Stored state width: position 3, quaternion 4 (wxyz), linear velocity 3, angular velocity 3."""
FEATURE_DIM = 15
"""Per-object, per-step feature width: displacement 3, relative rotation 6, velocities 3 + 3."""
ANCHOR_DIM = 9
"""Per-object anchor: the last observed absolute position 3 and orientation (6-D) 6."""


def quat_to_matrix(quat: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``(..., 3, 3)`` of quaternions ``(..., 4)`` (wxyz, any norm > 0)."""
    q = quat / quat.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    w, x, y, z = q.unbind(-1)
    rows = [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]
    return torch.stack(rows, dim=-1).reshape(*quat.shape[:-1], 3, 3)  # (..., 3, 3)


def matrix_to_quat(matrix: torch.Tensor) -> torch.Tensor:
    """Unit quaternions ``(..., 4)`` (wxyz, w >= 0) of rotation matrices ``(..., 3, 3)``.

    Shepperd's method: take the largest of the four squared components to divide by, so the
    result stays accurate for every rotation (the naive w-first formula fails near 180 degrees).
    """
    m = matrix
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    squares = torch.stack([1 + trace, 1 + 2 * m[..., 0, 0] - trace, 1 + 2 * m[..., 1, 1] - trace,
                           1 + 2 * m[..., 2, 2] - trace], dim=-1)  # (..., 4): 4 w^2, 4 x^2, 4 y^2, 4 z^2
    # Each row: the quaternion times 4 * (its component k), computed from off-diagonal sums.
    candidates = torch.stack([
        torch.stack([squares[..., 0], m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                     m[..., 1, 0] - m[..., 0, 1]], dim=-1),
        torch.stack([m[..., 2, 1] - m[..., 1, 2], squares[..., 1], m[..., 1, 0] + m[..., 0, 1],
                     m[..., 0, 2] + m[..., 2, 0]], dim=-1),
        torch.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] + m[..., 0, 1], squares[..., 2],
                     m[..., 2, 1] + m[..., 1, 2]], dim=-1),
        torch.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 2, 1] + m[..., 1, 2],
                     squares[..., 3]], dim=-1),
    ], dim=-2)  # (..., 4 candidates, 4)
    best = squares.argmax(dim=-1)  # (...)
    quat = torch.gather(candidates, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    quat = quat / quat.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return torch.where(quat[..., :1] < 0, -quat, quat)


def matrix_to_rot6d(matrix: torch.Tensor) -> torch.Tensor:
    """The 6-D rotation form ``(..., 6)``: the matrix's first two columns, stacked."""
    return torch.cat([matrix[..., :, 0], matrix[..., :, 1]], dim=-1)


def rot6d_to_matrix(rot6d: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``(..., 3, 3)`` from 6-D forms ``(..., 6)`` by Gram-Schmidt (any input,
    not only exact rotations, maps to a valid rotation: what a sampled prediction needs)."""
    a, b = rot6d[..., :3], rot6d[..., 3:]
    c0 = torch.nn.functional.normalize(a, dim=-1, eps=1e-8)
    c1 = torch.nn.functional.normalize(b - (c0 * b).sum(-1, keepdim=True) * c0, dim=-1, eps=1e-8)
    c2 = torch.cross(c0, c1, dim=-1)
    return torch.stack([c0, c1, c2], dim=-1)  # (..., 3, 3): columns c0, c1, c2


def _safe_quat(quat: torch.Tensor) -> torch.Tensor:
    """Padded object rows are all zero: give them the identity so no NaN enters the features."""
    identity = torch.zeros_like(quat)
    identity[..., 0] = 1.0
    return torch.where(quat.norm(dim=-1, keepdim=True) > 1e-9, quat, identity)


def relative_features(states: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """Features ``(..., T, N, 15)`` of states ``(..., T, N, 13)`` relative to ``last`` ``(..., N, 13)``:
    displacement from the last position, rotation since the last orientation (R_t R_last^T, in
    6-D), linear and angular velocity."""
    rot_last = quat_to_matrix(_safe_quat(last[..., 3:7]))[..., None, :, :, :]  # (..., 1, N, 3, 3)
    rot = quat_to_matrix(_safe_quat(states[..., 3:7]))  # (..., T, N, 3, 3)
    relative = rot @ rot_last.transpose(-1, -2)  # (..., T, N, 3, 3)
    displacement = states[..., :3] - last[..., None, :, :3]  # (..., T, N, 3)
    return torch.cat([displacement, matrix_to_rot6d(relative), states[..., 7:13]], dim=-1)


def constant_velocity_displacement(last: torch.Tensor, horizon: int, fps: float) -> torch.Tensor:
    """Where constant velocity carries each object in each of ``horizon`` future frames at
    ``fps``: ``(B, N, 13)`` last states -> ``(B, H, N, 3)`` displacements from the last position."""
    times = torch.arange(1, horizon + 1, dtype=last.dtype, device=last.device) / fps  # (H,)
    return last[:, None, :, 7:10] * times[:, None, None]


def anchor_features(last: torch.Tensor) -> torch.Tensor:
    """Where each object is: ``(..., N, 9)`` = last absolute position and orientation (6-D)."""
    rot = quat_to_matrix(_safe_quat(last[..., 3:7]))
    return torch.cat([last[..., :3], matrix_to_rot6d(rot)], dim=-1)


def states_from_features(features: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """Invert ``relative_features``: world-frame states ``(..., T, N, 13)`` from features
    ``(..., T, N, 15)`` and the last observed states ``(..., N, 13)``. Quaternion signs follow the
    last observed quaternion (dot product >= 0), so a trajectory does not flip sign."""
    last_quat = _safe_quat(last[..., 3:7])
    rot_last = quat_to_matrix(last_quat)[..., None, :, :, :]  # (..., 1, N, 3, 3)
    rot = rot6d_to_matrix(features[..., 3:9]) @ rot_last  # (..., T, N, 3, 3)
    quat = matrix_to_quat(rot)  # (..., T, N, 4)
    same_side = (quat * last_quat[..., None, :, :]).sum(-1, keepdim=True) >= 0
    quat = torch.where(same_side, quat, -quat)
    position = last[..., None, :, :3] + features[..., :3]
    return torch.cat([position, quat, features[..., 9:15]], dim=-1)
