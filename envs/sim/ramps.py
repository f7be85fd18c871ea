"""Ramps: scenery that sets a ball rolling (Roll, ChainReaction, PuzzleDrop).

A ramp is a frozen ``ramp``-shaped box (``scene``) tilted by ``slope`` about its width and
turned by ``yaw``; its top face meets the table at the foot.
"""

from __future__ import annotations

import numpy as np

from .scene import ObjectSpec

RAMP_HALF = (0.09, 0.035, 0.008)  # half-length, half-width, half-thickness
RAMP_MASS = 1.0  # kg; a frozen object's weld and armature hold it still under any load


def ramp_quat(yaw: float, slope: float) -> tuple[float, float, float, float]:
    """Orientation of a ramp heading down along ``yaw`` at ``slope`` radians: yaw, then pitch."""
    qy = np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])
    qp = np.array([np.cos(slope / 2), 0.0, np.sin(slope / 2), 0.0])
    w1, x1, y1, z1 = qy
    w2, x2, y2, z2 = qp
    return (float(w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2), float(w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2),
            float(w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2), float(w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2))


def make_ramp(color: str, foot_xy: np.ndarray, yaw: float, slope: float, friction: float) -> ObjectSpec:
    """A ramp whose top face meets the table at ``foot_xy`` and rises against ``yaw``."""
    half_l, _, half_t = RAMP_HALF
    heading = np.array([np.cos(yaw), np.sin(yaw)])
    # the low top edge, at local (+L, 0, +T), sits on the table at the foot
    along = half_l * np.cos(slope) + half_t * np.sin(slope)
    centre_xy = foot_xy - along * heading
    centre_z = half_l * np.sin(slope) - half_t * np.cos(slope)
    return ObjectSpec(name=f"{color}_ramp", shape="ramp", color=color, size=RAMP_HALF, mass=RAMP_MASS,
                      friction=friction, restitution=0.0, pos=(float(centre_xy[0]), float(centre_xy[1]), centre_z),
                      quat=ramp_quat(yaw, slope))


def ball_on_ramp(ball: ObjectSpec, ramp: ObjectSpec, yaw: float, slope: float, from_top: float = 0.02) -> None:
    """Put ``ball`` at rest on ``ramp``'s top face, ``from_top`` metres below its upper edge."""
    half_l, _, half_t = ramp.size
    heading = np.array([np.cos(yaw), np.sin(yaw), 0.0])
    down = np.cos(slope) * heading + np.array([0.0, 0.0, -np.sin(slope)])  # along the face, downhill
    normal = np.sin(slope) * heading + np.array([0.0, 0.0, np.cos(slope)])
    centre = np.asarray(ramp.pos)
    ball.pos = tuple(float(x) for x in centre + (-half_l + from_top) * down + (half_t + ball.size[0] + 5e-4) * normal)
