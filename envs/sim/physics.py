"""Named physics read-outs on a compiled ``Scene`` (dm_control ``Physics``-style accessors).

All functions are vectorised over objects and contacts; none loops in Python over them.
"""

from __future__ import annotations

import mujoco
import numpy as np

from .scene import Scene

STILL_LINEAR_SPEED = 0.01
"""m/s under which an object counts as still (resting contact jitter here is < 1e-3 m/s)."""
STILL_ANGULAR_SPEED = 0.1
"""rad/s under which an object counts as still."""
_STILL_SQUARED = np.array([STILL_LINEAR_SPEED**2, STILL_ANGULAR_SPEED**2])
STATE_DIM = 13
STATE_FIELDS: tuple[str, ...] = ("x", "y", "z", "qw", "qx", "qy", "qz", "vx", "vy", "vz", "wx", "wy", "wz")


def quat_rotate(quat: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """Rotate vectors by unit quaternions (w, x, y, z). quat (..., 4), vec (..., 3) -> (..., 3)."""
    w, xyz = quat[..., :1], quat[..., 1:]
    t = 2.0 * _cross(xyz, vec)
    return vec + w * t + _cross(xyz, t)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # np.cross spends most of its time normalising axes; this is 5x faster for (..., 3) inputs.
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)


def object_poses(scene: Scene, data: mujoco.MjData) -> np.ndarray:
    """Per-object position and quaternion ``(N, 7)``: a read-only view (cheaper than ``object_states``)."""
    poses = data.qpos.reshape(-1, 7)
    poses.flags.writeable = False
    return poses


def object_states(scene: Scene, data: mujoco.MjData) -> np.ndarray:
    """Per-object state ``(N, 13)``: position, quaternion, linear and angular velocity (world frame)."""
    qpos = data.qpos.reshape(-1, 7)  # (N, 7)
    qvel = data.qvel.reshape(-1, 6)  # (N, 6); free-joint angvel is body-local
    ang_world = quat_rotate(qpos[:, 3:7], qvel[:, 3:6])
    return np.concatenate([qpos, qvel[:, :3], ang_world], axis=1)


def is_still(scene: Scene, data: mujoco.MjData) -> bool:
    """True when every object is below the linear and angular stillness thresholds."""
    v = data.qvel.reshape(-1, 2, 3)  # (N, linear|angular, xyz)
    return bool((np.einsum("ijk,ijk->ij", v, v) < _STILL_SQUARED).all())


def up_alignment(quat: np.ndarray) -> np.ndarray:
    """z-component of each body's local z axis in world frame ``(N,)``: 1 upright, 0 on its side."""
    x, y = quat[..., 1], quat[..., 2]
    return 1.0 - 2.0 * (x * x + y * y)


def contact_forces(scene: Scene, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray]:
    """Active contacts between objects, the table and the pusher.

    Returns:
        pairs: ``(K, 2)`` int, object index of each side (-1 table, -2 gripper/pusher), sorted so
            ``pairs[:, 0] <= pairs[:, 1]``.
        normal_force: ``(K,)`` normal force in newtons (elliptic cones store it first in efc_force).
    """
    n = data.ncon
    if n == 0:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0)
    contact = data.contact
    pairs = np.sort(scene.geom_to_object[contact.geom[:n]], axis=1)  # (n, 2)
    adr = contact.efc_address[:n]
    active = adr >= 0
    return pairs[active], data.efc_force[adr[active]]


def contact_matrix(scene: Scene, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray]:
    """Which objects touch: ``touch (N, N)`` symmetric bool, ``on_table (N,)`` bool."""
    n = scene.n_objects
    pairs, force = contact_forces(scene, data)
    touch = np.zeros((n, n), dtype=bool)
    table = np.zeros(n, dtype=bool)
    both = (pairs[:, 0] >= 0) & (force > 1e-6)
    touch[pairs[both, 0], pairs[both, 1]] = True
    touch |= touch.T
    with_table = (pairs[:, 0] == -1) & (pairs[:, 1] >= 0) & (force > 1e-6)
    table[pairs[with_table, 1]] = True
    return touch, table


def support_matrix(scene: Scene, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray]:
    """Resting relations: ``on (N, N)`` with ``on[a, b]`` = a rests on b; ``on_table (N,)``.

    a rests on b when they touch, a's centre is above b's top half, a's centre lies over b's
    horizontal extent (within b's footprint radius plus 1 cm), and a does not touch the table:
    as in Blocksworld, an object is on the table or on other objects, never both. (A plate
    leaning on a ball with its rim on the table rests on the table, not on the ball.)
    """
    pos = object_poses(scene, data)[:, :3]
    touch, on_table = contact_matrix(scene, data)
    half_h = scene.half_heights
    reach = scene.radii_xy + 0.01
    dz = pos[:, None, 2] - pos[None, :, 2]  # (N, N): z_a - z_b
    dxy = np.linalg.norm(pos[:, None, :2] - pos[None, :, :2], axis=-1)
    above = dz > 0.5 * (half_h[:, None] + half_h[None, :])
    over = dxy < reach[None, :]
    on = touch & above & over & ~on_table[:, None]
    np.fill_diagonal(on, False)
    return on, on_table


def top_heights(scene: Scene, data: mujoco.MjData) -> np.ndarray:
    """Highest point of each object ``(N,)`` from its axis-aligned bounding box in world frame."""
    poses = object_poses(scene, data)
    half = scene.half_extents  # (N, 3)
    w, x, y, z = poses[:, 3], poses[:, 4], poses[:, 5], poses[:, 6]
    # z-components of the body's local x, y, z axes in world frame (third row of the rotation matrix)
    axes_z = np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=1)
    vertical = np.sum(np.abs(axes_z) * half, axis=1)  # (N,)
    vertical = np.where(scene.is_ball, half[:, 0], vertical)
    return poses[:, 2] + vertical


SUPPORT_GAP_TOLERANCE = 0.005
"""m: a vertical gap (or overlap) below this between a's bottom and b's top counts as touching
in ``support_from_poses``; settled contacts here sit within about 1 mm (stiff solimp)."""


def _vertical_half_extents(quat: np.ndarray, objects: list) -> np.ndarray:
    """Half of each object's vertical extent in the world ``(..., N)`` for orientations ``quat``
    ``(..., N, 4)`` (wxyz): exact for boxes (cubes, plates, dominoes, ramps), cylinders and balls."""
    half = np.stack([o.half_extents() for o in objects])  # (N, 3)
    w, x, y, z = (quat[..., k] for k in range(4))
    # z-components of the body's local x, y, z axes in world frame (third row of the rotation matrix)
    axes_z = np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1)  # (..., N, 3)
    box = np.sum(np.abs(axes_z) * half, axis=-1)  # (..., N)
    cz = np.clip(np.abs(axes_z[..., 2]), 0.0, 1.0)  # |cos| of the tilt of the body's axis
    cylinder = half[:, 0] * np.sqrt(1.0 - cz * cz) + half[:, 2] * cz  # a disc's rim plus the axis
    shape = np.array([o.shape for o in objects])
    out = np.where(np.isin(shape, ("cylinder", "glass")), cylinder, box)
    return np.where(shape == "ball", half[:, 0], out)


def support_from_poses(poses: np.ndarray, objects: list, mask: np.ndarray | None = None,
                       tolerance: float = SUPPORT_GAP_TOLERANCE) -> tuple[np.ndarray, np.ndarray]:
    """``support_matrix``'s rule on poses alone (no simulator): for predicted or perceived states.

    a rests on b when a's lowest point is within ``tolerance`` of b's highest point (touching,
    inferred from geometry instead of MuJoCo contacts), a's centre is above b's top half and lies
    over b's footprint (b's footprint radius plus 1 cm), and a is not on the table, exactly as
    ``support_matrix``; a is on the table when its lowest point is within ``tolerance`` of the
    table top (z = 0). (For the last condition of ``on`` the table gap is at most
    ``SUPPORT_GAP_TOLERANCE``, whatever ``tolerance`` is.)

    Args:
        poses: ``(..., N, 7)`` or full states ``(..., N, 13)``: position and quaternion (wxyz) first.
        objects: ``ObjectSpec`` per row (N), for the geometry.
        mask: ``(..., N)`` or ``(N,)`` bool, which rows are objects (absent rows take part in no
            relation); None means all.
        tolerance: gap in metres that still counts as touching.

    Returns:
        ``on (..., N, N)`` bool, ``on[..., a, b]`` = a rests on b; ``on_table (..., N)`` bool.
    """
    poses = np.asarray(poses, dtype=float)
    n = len(objects)
    if poses.ndim < 2 or poses.shape[-2] != n or poses.shape[-1] < 7:
        raise ValueError(f"poses must be (..., N={n}, 7 or 13) for {n} objects, got {poses.shape}")
    if tolerance <= 0:
        raise ValueError(f"tolerance must be > 0, got tolerance={tolerance}")
    pos = poses[..., :3]
    vertical = _vertical_half_extents(poses[..., 3:7], objects)  # (..., N)
    bottom, top = pos[..., 2] - vertical, pos[..., 2] + vertical
    half_h = np.array([o.half_height for o in objects])
    reach = np.array([o.radius_xy for o in objects]) + 0.01
    touch = np.abs(bottom[..., :, None] - top[..., None, :]) < tolerance  # (..., N, N)
    dz = pos[..., :, None, 2] - pos[..., None, :, 2]
    dxy = np.linalg.norm(pos[..., :, None, :2] - pos[..., None, :, :2], axis=-1)
    on_table = bottom < tolerance
    # on the table, so on nothing: judged at most at the settled contact gap, since a looser
    # ``tolerance`` for predicted states (2 cm) would reach an object lying on a plate (1.2-1.6 cm up)
    grounded = bottom < min(tolerance, SUPPORT_GAP_TOLERANCE)
    on = touch & (dz > 0.5 * (half_h[:, None] + half_h[None, :])) & (dxy < reach) & ~grounded[..., :, None]
    on &= ~np.eye(n, dtype=bool)
    if mask is not None:
        keep = np.broadcast_to(np.asarray(mask, dtype=bool), on_table.shape)
        on &= keep[..., :, None] & keep[..., None, :]
        on_table &= keep
    return on, on_table
