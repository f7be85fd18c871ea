"""Property spaces: every randomised quantity has a train range (space A) and a disjoint
held-out range (space B), as in CausalWorld. "Zero-shot" always means space B.

Lengths are metres (half-extents, as MuJoCo sizes are), masses kilograms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHAPES: tuple[str, ...] = ("cube", "cylinder", "ball", "plate", "glass", "ramp", "domino")
"""The shape vocabulary shared by every env (DESIGN.md); one-hot order of ``properties``."""

COLORS: dict[str, tuple[float, float, float]] = {
    # space A palette
    "red": (0.85, 0.12, 0.12),
    "green": (0.15, 0.7, 0.2),
    "blue": (0.15, 0.3, 0.9),
    "yellow": (0.95, 0.85, 0.1),
    "purple": (0.55, 0.2, 0.75),
    "white": (0.92, 0.92, 0.92),
    # space B palette
    "orange": (1.0, 0.5, 0.05),
    "cyan": (0.1, 0.8, 0.85),
    "pink": (1.0, 0.45, 0.7),
    "brown": (0.5, 0.3, 0.12),
    "gray": (0.5, 0.5, 0.5),
    "lime": (0.6, 0.95, 0.2),
}

Range = tuple[float, float]


@dataclass(frozen=True)
class PropertySpace:
    """Ranges for one space. Every field is a closed interval ``(low, high)`` unless noted.

    Attributes:
        name: "A" (train) or "B" (held-out).
        colors: colour words this space may use (disjoint between spaces).
        count: inclusive range of object counts.
        mass: object mass.
        friction: sliding friction coefficient.
        restitution: coefficient of restitution, mapped to the contact damping ratio.
        cube_half: cube half-edge.
        cylinder_radius, cylinder_half_height: upright cylinder dimensions.
        ball_radius: ball radius.
        plate_half: plate half-width (square plate); thickness is fixed (``PLATE_HALF_THICKNESS``).
        domino_half_height: domino half-height; its thickness and width scale with it
            (``DOMINO_ASPECT``).
    """

    name: str
    colors: tuple[str, ...]
    count: tuple[int, int]
    mass: Range
    friction: Range
    restitution: Range
    cube_half: Range
    cylinder_radius: Range
    cylinder_half_height: Range
    ball_radius: Range
    plate_half: Range
    domino_half_height: Range

    def uniform(self, rng: np.random.Generator, field: str) -> float:
        low, high = getattr(self, field)
        return float(rng.uniform(low, high))

    def bounds(self, field: str) -> Range:
        return getattr(self, field)


PLATE_HALF_THICKNESS = 0.008
DOMINO_ASPECT = (0.15, 0.5, 1.0)
"""A domino's half-extents (thickness, width, height) as fractions of its half-height."""

SPACE_A = PropertySpace(
    name="A",
    colors=("red", "green", "blue", "yellow", "purple", "white"),
    count=(2, 4),
    mass=(0.05, 0.25),
    friction=(0.6, 0.9),
    restitution=(0.0, 0.06),
    cube_half=(0.020, 0.028),
    cylinder_radius=(0.020, 0.026),
    cylinder_half_height=(0.018, 0.026),
    ball_radius=(0.020, 0.026),
    plate_half=(0.040, 0.048),
    domino_half_height=(0.038, 0.046),
)

SPACE_B = PropertySpace(
    name="B",
    colors=("orange", "cyan", "pink", "brown", "gray", "lime"),
    count=(5, 6),
    mass=(0.30, 0.60),
    friction=(0.95, 1.2),
    restitution=(0.08, 0.14),
    cube_half=(0.030, 0.036),
    cylinder_radius=(0.028, 0.033),
    cylinder_half_height=(0.028, 0.034),
    ball_radius=(0.028, 0.033),
    plate_half=(0.050, 0.058),
    domino_half_height=(0.050, 0.058),
)

SPACES: dict[str, PropertySpace] = {"A": SPACE_A, "B": SPACE_B}


def get_space(name: str) -> PropertySpace:
    """Return property space ``"A"`` or ``"B"``; raise ``ValueError`` otherwise."""
    try:
        return SPACES[name]
    except KeyError:
        raise ValueError(f"unknown property space {name!r}; expected one of {sorted(SPACES)}") from None


def restitution_to_dampratio(restitution: float) -> float:
    """Damping ratio of MuJoCo's contact spring giving this coefficient of restitution.

    A damped harmonic contact returns with speed ratio e = exp(-zeta*pi/sqrt(1-zeta^2));
    inverting gives zeta = -ln(e)/sqrt(pi^2 + ln(e)^2). e -> 0 maps to critical damping (1).
    """
    if not 0.0 <= restitution < 1.0:
        raise ValueError(f"restitution must be in [0, 1), got restitution={restitution}")
    if restitution < 1e-3:
        return 1.0
    log_e = np.log(restitution)
    return float(-log_e / np.sqrt(np.pi**2 + log_e**2))
