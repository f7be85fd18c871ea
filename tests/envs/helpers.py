"""Hand-built scenes for physics edge cases."""

from foretell.envs.sim.scene import ObjectSpec


def cube(name: str, color: str, x: float, y: float, z: float | None = None, half: float = 0.025,
         mass: float = 0.1) -> ObjectSpec:
    return ObjectSpec(name=name, shape="cube", color=color, size=(half,), mass=mass, friction=0.8,
                      restitution=0.0, pos=(x, y, half + 1e-3 if z is None else z))


def ball(name: str, color: str, x: float, y: float, radius: float = 0.025) -> ObjectSpec:
    return ObjectSpec(name=name, shape="ball", color=color, size=(radius,), mass=0.1, friction=0.8,
                      restitution=0.0, pos=(x, y, radius + 1e-3))


def plate(name: str, color: str, x: float, y: float, half: float = 0.045) -> ObjectSpec:
    return ObjectSpec(name=name, shape="plate", color=color, size=(half, 0.008), mass=0.05, friction=0.8,
                      restitution=0.0, pos=(x, y, 0.009))
