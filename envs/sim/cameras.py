"""Where the cameras stand: posed so that the workspace, with the tallest tower on it, fills the image.

Every env renders from two fixed cameras, ``front`` and ``top``. Each is placed by computation,
not by hand: the *framing box* is every point an object can occupy while an episode is worth
watching (the workspace where objects start or are placed, widened by the largest object's
half-width, from the table up to the top of the tallest tower: six of the largest space-B cubes),
and each camera, with a fixed viewing direction and field of view, moves as close to that box as
it can while every corner of the box still projects inside the image with a margin.

For a camera of fixed orientation, "corner q projects inside the image" is linear in the camera
position p: ``|right . (q - p)| <= t * forward . (q - p)`` with ``t = (1 - margin) tan(fovy / 2)``
(the same for ``up``). So the closest position solves in closed form, one image axis at a time:
the binding axis is filled edge to edge (less the margin) and the other is centred.

``CAMERA_VERSION`` names this placement; datasets record it (``docs/data.md``), because frames
rendered from other poses are not the same observations.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from .properties import SPACES

CAMERA_VERSION = 2
"""1: the hand-placed cameras (until 2026-11-29); 2: cameras fitted to ``framing_box()``."""
TOWER_LEVELS = 6
"""The most objects a BlockStack scene holds (space B), so the tallest tower any env can build."""
FRAMING_MARGIN = 0.04
"""Fraction of the half-image left free around the framing box: a pixel's slack for MSAA and rounding at 64 px."""
FOVY = 20.0
"""Vertical (and, for square images, horizontal) field of view, degrees. A long lens from ~2 m: the
tall framing box then projects nearly as it would orthographically, so the far tower tops do not
push the camera back; at 45 degrees an object on the table covers ~35% fewer pixels (front) and
~40% fewer (top), measured as mean (focal / depth)^2 over the workspace."""
FRONT_PITCH = 35.0
"""Degrees below horizontal that the front camera looks (the old hand-placed camera's ~34): sides
of objects and the order of a stack stay visible; steeper pitches shrink objects (45: 8% fewer pixels)."""


@dataclass(frozen=True)
class CameraPose:
    """A fixed camera: ``pos`` (3,), ``xyaxes`` (6,) its image right and up axes in world
    coordinates (MuJoCo's convention; it looks along ``-(right x up)``), ``fovy`` in degrees."""

    name: str
    pos: tuple[float, float, float]
    xyaxes: tuple[float, ...]
    fovy: float


def tallest_tower() -> float:
    """Height (m) of the tallest tower an env can build: ``TOWER_LEVELS`` of the tallest object of any space."""
    tallest = max(max(2 * s.cube_half[1], 2 * s.cylinder_half_height[1], 2 * s.ball_radius[1])
                  for s in SPACES.values())
    return TOWER_LEVELS * tallest


def framing_box(workspace_half: float) -> np.ndarray:
    """Corners ``(8, 3)`` of the box the cameras must show: ``|x|, |y| <= workspace_half`` plus the
    largest object's half-width (an object centred at the workspace edge), ``0 <= z <= tallest_tower()``."""
    widest = max(max(s.cube_half[1], s.cylinder_radius[1], s.ball_radius[1]) for s in SPACES.values())
    half = workspace_half + widest
    return np.array([[x, y, z] for x in (-half, half) for y in (-half, half) for z in (0.0, tallest_tower())])


def fit_camera(name: str, corners: np.ndarray, right: np.ndarray, up: np.ndarray, fovy: float = FOVY,
               margin: float = FRAMING_MARGIN) -> CameraPose:
    """The closest pose, looking along ``-(right x up)``, from which all ``corners`` ``(K, 3)`` project
    inside a square image with ``margin`` of the half-image to spare (see the module docstring)."""
    right, up = right / np.linalg.norm(right), up / np.linalg.norm(up)
    forward = np.cross(up, right)  # MuJoCo cameras look along -z = -(x cross y)
    t = (1.0 - margin) * np.tan(np.radians(fovy) / 2)
    qf = corners @ forward
    # Position p = a right + b up + c forward. Along one axis with coordinates qa, the constraints
    # |qa - a| <= t (qf - c) hold for some a exactly when c <= (min(qa + t qf) - max(qa - t qf)) / 2t.
    along = [corners @ right, corners @ up]
    c = min((np.min(qa + t * qf) - np.max(qa - t * qf)) / (2 * t) for qa in along)
    # At that c each axis allows an interval of offsets; the middle centres the box on the slack axis.
    a, b = ((np.max(qa - t * (qf - c)) + np.min(qa + t * (qf - c))) / 2 for qa in along)
    pos = a * right + b * up + c * forward
    return CameraPose(name, tuple(float(v) for v in pos), tuple(float(v) for v in (*right, *up)), fovy)


def scene_cameras(workspace_half: float) -> tuple[CameraPose, CameraPose]:
    """The ``front`` camera (from +x, looking at the workspace ``FRONT_PITCH`` degrees down, +y to its
    right) and the ``top`` camera (straight down, +y to its right, +x down the image)."""
    corners = framing_box(workspace_half)
    pitch = np.radians(FRONT_PITCH)
    front = fit_camera("front", corners, right=np.array([0.0, 1.0, 0.0]),
                       up=np.array([-np.sin(pitch), 0.0, np.cos(pitch)]))
    top = fit_camera("top", corners, right=np.array([0.0, 1.0, 0.0]), up=np.array([-1.0, 0.0, 0.0]))
    return front, top


def project(model: mujoco.MjModel, data: mujoco.MjData, camera: str, points: np.ndarray, size: int) -> np.ndarray:
    """Pixel coordinates ``(K, 2)`` (column, row; the image spans ``[0, size)``) of world ``points``
    ``(K, 3)`` seen from ``camera`` in a ``size`` x ``size`` render; NaN for points behind the camera.
    Uses the camera pose in ``data`` (after ``mj_forward`` or a step)."""
    cam = model.camera(camera).id
    rot = data.cam_xmat[cam].reshape(3, 3)  # columns: the camera's x (right), y (up), z (backwards)
    local = (np.asarray(points, dtype=float) - data.cam_xpos[cam]) @ rot  # (K, 3) in camera axes
    depth = -local[:, 2]
    focal = size / 2 / np.tan(np.radians(model.cam_fovy[cam]) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = np.stack([size / 2 + focal * local[:, 0] / depth, size / 2 - focal * local[:, 1] / depth], axis=1)
    uv[depth <= 0] = np.nan
    return uv
