"""Programmatic MuJoCo scene builder (``mujoco.MjSpec``): table, lights, cameras, objects, gripper.

Contact model, chosen for stacking (and why):
- 2 ms timestep, Newton solver, *elliptic* friction cones with ``impratio=10``: elliptic cones
  model Coulomb friction without the pyramid's anisotropy, and a high impratio makes static
  friction hold instead of creeping, so a stable tower stays put for seconds.
- ``condim=4`` (sliding + torsional friction) on flat-faced objects so towers do not spin;
  ``condim=6`` on balls with 2 mm rolling friction: with less, a ball resting centred on a
  flat top creeps off it (constraint softness), and a pushed ball would roll for metres.
- Per-geom ``solref=(0.02, zeta)`` where the damping ratio zeta encodes restitution
  (``restitution_to_dampratio``); timeconst 0.02 s stays well above 2x the timestep (MuJoCo's
  stability rule). ``solimp=(0.95, 0.99, 0.001)`` makes contacts stiff: with MuJoCo's default
  (0.9, 0.95) a heavy ball on a five-cube tower sank the top cube's edge as it rolled, tilting
  the top towards it, and rolled off a tower that real rigid blocks would hold.
- The gripper is a mocap body, which moves kinematically; objects attach to it through weld
  equality constraints that are switched on at grasp (one per object, all off at start).
  A weld makes grasping deterministic and reliable, so failures come from placement physics,
  not from finger contact noise. Its solref (0.01, 1) is stiffer than contacts so a carried
  object sags < 2 mm.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import mujoco
import numpy as np

from .cameras import scene_cameras
from .properties import COLORS, SHAPES, restitution_to_dampratio

TABLE_HALF = 0.35
"""Half-width of the table top where interventions may put objects (metres)."""
WORKSPACE_HALF = 0.22
"""Objects start, and may be placed, within |x|, |y| <= WORKSPACE_HALF."""
VISIBLE_TABLE_HALF = 4.0
"""Half-width of the drawn table plane. The collision plane is unbounded, so the drawn one reaches past
every camera ray's meeting with it: objects that roll far still sit on a visible surface, and no pixel
shows the black void (it filled the top quarter of the old front camera's frames)."""
CAMERA_POSES = scene_cameras(WORKSPACE_HALF)
"""The ``front`` and ``top`` cameras, fitted to the workspace and the tallest tower (``envs.sim.cameras``)."""
PUSHER_RADIUS = 0.012
WELD_SOLREF = (0.01, 1.0)
# A frozen object (a ramp, a "freeze" intervention) must not give under a load: the stiffest
# weld the 2 ms step allows (timeconst = 2 x timestep) with near-hard impedance.
FREEZE_SOLREF = (0.004, 1.0)
FREEZE_SOLIMP = (0.99, 0.999, 0.001, 0.5, 2.0)
# Added inertia (kg, kg m^2) on a frozen object's free joint: a hit that would move it by
# centimetres moves it by microns, and the weld corrects what drift remains. (A jointless
# static body would be exact, but every object must own a free joint; see ``Scene``.)
FROZEN_ARMATURE = 1e3
CONTACT_TIMECONST = 0.02
CONTACT_SOLIMP = (0.95, 0.99, 0.001, 0.5, 2.0)
ROLLING_FRICTION = 1e-3  # m; below ~5e-4 a resting ball creeps off a flat top (soft-constraint drift)
TORSIONAL_FRICTION = 5e-3


@dataclass
class ObjectSpec:
    """One object of a scene, in the shared vocabulary (DESIGN.md).

    ``size`` holds half-extents by shape: cube (s,), cylinder and glass (radius, half_height),
    ball (radius,), plate (half_width, half_thickness), domino (half_thickness, half_width,
    half_height), ramp (half_length, half_width, half_thickness; tilted through ``quat``).
    A ramp is scenery: always frozen (welded where it is built) and never touches the table.
    """

    name: str
    shape: str
    color: str
    size: tuple[float, ...]  # half-extents: see the class docstring
    mass: float
    friction: float
    restitution: float
    fragile: bool = False
    fragility: float = 0.0  # impulse (N*s) above which a fragile object breaks
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    yaw: float = 0.0
    frozen: bool = False  # held in place by a weld to the world (the "freeze" intervention)
    quat: tuple[float, float, float, float] | None = None  # full orientation; overrides yaw when set

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"shape must be one of {SHAPES}, got shape={self.shape!r}")
        if self.color not in COLORS:
            raise ValueError(f"color must be one of {sorted(COLORS)}, got color={self.color!r}")
        if self.mass <= 0:
            raise ValueError(f"mass must be > 0, got mass={self.mass}")
        if self.friction <= 0:
            raise ValueError(f"friction must be > 0, got friction={self.friction}")
        if len(self.size) != _SIZE_LEN[self.shape]:
            raise ValueError(f"a {self.shape} takes {_SIZE_LEN[self.shape]} half-extents, got size={self.size}")
        if self.shape == "ramp":
            self.frozen = True

    @property
    def half_height(self) -> float:
        """Half of the object's height when upright."""
        if self.shape in ("domino", "ramp"):
            return self.size[2]
        return self.size[1] if self.shape in ("cylinder", "plate", "glass") else self.size[0]

    @property
    def footprint(self) -> float:
        """Half-width of the object's flat top/bottom (0 for a ball: it has no flat face)."""
        return 0.0 if self.shape == "ball" else self.size[0]

    @property
    def radius_xy(self) -> float:
        """Radius of the smallest vertical cylinder around the object (for clearance checks)."""
        s = self.size[0]
        if self.shape in ("domino", "ramp"):
            return float(np.hypot(self.size[0], self.size[1]))
        return s * np.sqrt(2.0) if self.shape in ("cube", "plate") else s

    def to_dict(self) -> dict:
        return asdict(self)

    def property_vector(self) -> np.ndarray:
        """Static properties ``(P,)``: shape one-hot (7), half-extents xyz (3), mass, friction,
        restitution, fragile."""
        one_hot = np.zeros(len(SHAPES))
        one_hot[SHAPES.index(self.shape)] = 1.0
        return np.concatenate([one_hot, self.half_extents(), [self.mass, self.friction, self.restitution,
                                                                float(self.fragile)]])

    def half_extents(self) -> np.ndarray:
        """Half-extents ``(3,)`` along the object's own x, y, z axes."""
        if self.shape in ("domino", "ramp"):
            return np.array(self.size, dtype=float)
        return np.array([self.size[0], self.size[0], self.half_height])


_SIZE_LEN = {"cube": 1, "ball": 1, "cylinder": 2, "glass": 2, "plate": 2, "domino": 3, "ramp": 3}


@dataclass(frozen=True)
class Marker:
    """A flat, visual-only patch on the table (a goal zone, a start line): it never collides.

    Attributes:
        name: unique geom name.
        pos: (x, y) centre on the table.
        half_size: (half_x, half_y) extent.
        color: a colour word from ``COLORS`` or an RGBA tuple.
    """

    name: str
    pos: tuple[float, float]
    half_size: tuple[float, float]
    color: str | tuple[float, float, float, float] = "green"

    @property
    def rgba(self) -> list[float]:
        return [*COLORS[self.color], 0.6] if isinstance(self.color, str) else list(self.color)

    def contains(self, xy: np.ndarray) -> np.ndarray:
        """Which of the points ``(..., 2)`` lie inside the patch."""
        d = np.abs(np.asarray(xy)[..., :2] - np.asarray(self.pos))
        return np.all(d <= np.asarray(self.half_size), axis=-1)


PROPERTY_NAMES: tuple[str, ...] = (*(f"shape_{s}" for s in SHAPES), "half_x", "half_y", "half_z", "mass",
                                   "friction", "restitution", "fragile")


@dataclass
class Scene:
    """A compiled scene: model plus the index maps env code needs (all arrays are numpy)."""

    model: mujoco.MjModel
    objects: list[ObjectSpec]
    body_ids: np.ndarray  # (N,) body id of each object
    qpos_adr: np.ndarray  # (N,) start of each object's free-joint qpos (7 numbers)
    qvel_adr: np.ndarray  # (N,) start of each object's free-joint qvel (6 numbers)
    weld_ids: np.ndarray  # (N,) equality id of the gripper->object weld
    geom_to_object: np.ndarray  # (ngeom,) object index of each geom; -1 table, -2 gripper/other
    table_geom: int
    pusher_geom: int
    gripper_mocap: int
    names: list[str] = field(default_factory=list)
    markers: tuple[Marker, ...] = ()

    def __post_init__(self) -> None:
        # Per-object constants, cached once because physics read-outs run every control tick.
        self.half_heights = np.array([o.half_height for o in self.objects])
        self.half_extents = np.stack([o.half_extents() for o in self.objects])
        self.radii_xy = np.array([o.radius_xy for o in self.objects])
        self.is_ball = np.array([o.shape == "ball" for o in self.objects])
        # Objects' free joints are the model's only joints, in object order, so data.qpos reshapes
        # to (N, 7) and data.qvel to (N, 6) without gathering (physics read-outs rely on this).
        n = len(self.objects)
        if self.model.nq != 7 * n or self.model.nv != 6 * n or not np.array_equal(self.qpos_adr, 7 * np.arange(n)):
            raise ValueError("scene objects must own the model's only (free) joints, in object order")

    @property
    def n_objects(self) -> int:
        return len(self.objects)


def _add_object(spec: mujoco.MjSpec, obj: ObjectSpec) -> None:
    quat = np.array(obj.quat if obj.quat is not None else [np.cos(obj.yaw / 2), 0.0, 0.0, np.sin(obj.yaw / 2)])
    body = spec.worldbody.add_body(name=obj.name, pos=list(obj.pos), quat=list(quat))
    joint = body.add_freejoint(name=f"{obj.name}_free")
    if obj.frozen:  # immovable in practice: no weight to carry, and a huge inertia (see FROZEN_ARMATURE)
        body.gravcomp = 1.0
        joint.armature = FROZEN_ARMATURE
    rgba = [*COLORS[obj.color], 1.0]
    common = dict(name=f"{obj.name}_geom", rgba=rgba, mass=obj.mass,
                  solref=[CONTACT_TIMECONST, restitution_to_dampratio(obj.restitution)], solimp=list(CONTACT_SOLIMP))
    if obj.shape == "ball":
        body.add_geom(type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[obj.size[0], 0, 0], condim=6,
                      friction=[obj.friction, TORSIONAL_FRICTION, ROLLING_FRICTION], **common)
    elif obj.shape == "cylinder":
        body.add_geom(type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[obj.size[0], obj.size[1], 0], condim=4,
                      friction=[obj.friction, TORSIONAL_FRICTION, ROLLING_FRICTION], **common)
    elif obj.shape in ("cube", "plate", "domino", "ramp"):
        body.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=list(obj.half_extents()), condim=4,
                      friction=[obj.friction, TORSIONAL_FRICTION, ROLLING_FRICTION], **common)
    elif obj.shape == "glass":  # a translucent upright cylinder; breaking is the simulation's job
        common["rgba"] = [*COLORS[obj.color], 0.55]
        body.add_geom(type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[obj.size[0], obj.size[1], 0], condim=4,
                      friction=[obj.friction, TORSIONAL_FRICTION, ROLLING_FRICTION], **common)
    else:
        raise ValueError(f"shape {obj.shape!r} is not buildable by the scene builder")


def build_scene(objects: list[ObjectSpec], image_size: int = 128, markers: tuple[Marker, ...] = ()) -> Scene:
    """Compile a table-top scene holding ``objects`` and a mocap gripper.

    Args:
        objects: object specs with unique names; ``pos`` is the body's initial centre.
        image_size: largest render size the offscreen buffer must hold.
        markers: visual-only patches drawn on the table (goal zones).
    """
    names = [o.name for o in objects]
    if len(set(names)) != len(names):
        raise ValueError(f"object names must be unique, got {names}")
    spec = mujoco.MjSpec()
    spec.modelname = "foretell_scene"
    spec.option.timestep = 0.002
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = 10.0
    spec.visual.global_.offwidth = max(640, image_size)
    spec.visual.global_.offheight = max(480, image_size)
    spec.visual.quality.shadowsize = 2048

    world = spec.worldbody
    world.add_geom(name="table", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[VISIBLE_TABLE_HALF, VISIBLE_TABLE_HALF, 0.1],
                   rgba=[0.72, 0.6, 0.45, 1.0], friction=[0.8, TORSIONAL_FRICTION, ROLLING_FRICTION], condim=4)
    world.add_light(name="key", pos=[0.3, -0.3, 1.2], dir=[-0.25, 0.25, -1.0], diffuse=[0.8, 0.8, 0.8],
                    castshadow=True)
    world.add_light(name="fill", pos=[-0.4, 0.4, 1.0], dir=[0.4, -0.4, -1.0], diffuse=[0.35, 0.35, 0.35],
                    castshadow=False)
    for camera in CAMERA_POSES:
        world.add_camera(name=camera.name, pos=list(camera.pos), xyaxes=list(camera.xyaxes), fovy=camera.fovy)

    gripper = world.add_body(name="gripper", mocap=True, pos=[0.0, 0.0, 0.35])
    gripper.add_geom(name="gripper_palm", type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.012, 0.03, 0.006],
                     pos=[0, 0, 0.012], rgba=[0.25, 0.25, 0.28, 1.0], contype=0, conaffinity=0, mass=0.01)
    for side in (-1, 1):
        gripper.add_geom(name=f"gripper_finger_{'l' if side < 0 else 'r'}", type=mujoco.mjtGeom.mjGEOM_BOX,
                         size=[0.006, 0.004, 0.014], pos=[0, side * 0.026, 0.0], rgba=[0.3, 0.3, 0.33, 1.0],
                         contype=0, conaffinity=0, mass=0.01)
    # The pusher only collides while a push skill runs (its contype is switched on then).
    gripper.add_geom(name="pusher", type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[PUSHER_RADIUS, 0, 0],
                     pos=[0, 0, 0], rgba=[0.3, 0.3, 0.33, 0.0], contype=0, conaffinity=0, condim=3, mass=0.01)

    for marker in markers:
        world.add_geom(name=f"marker_{marker.name}", type=mujoco.mjtGeom.mjGEOM_BOX, contype=0, conaffinity=0,
                       size=[*marker.half_size, 0.0005], pos=[*marker.pos, 0.0005], rgba=marker.rgba)
    for obj in objects:
        _add_object(spec, obj)
        if obj.shape == "ramp":  # scenery sunk into the table: contacts with the table would fight its weld
            spec.add_exclude(bodyname1="world", bodyname2=obj.name)
    for obj in objects:
        weld = spec.add_equality(type=mujoco.mjtEq.mjEQ_WELD, name=f"grasp_{obj.name}", name1="gripper",
                                 name2=obj.name, objtype=mujoco.mjtObj.mjOBJ_BODY)
        weld.active = False
        weld.solref = list(WELD_SOLREF)
        if obj.frozen:  # weld to the world at the built pose (zero relpose means "as at qpos0")
            freeze = spec.add_equality(type=mujoco.mjtEq.mjEQ_WELD, name=f"freeze_{obj.name}", name1=obj.name,
                                       objtype=mujoco.mjtObj.mjOBJ_BODY)
            freeze.solref, freeze.solimp = list(FREEZE_SOLREF), list(FREEZE_SOLIMP)

    model = spec.compile()
    body_ids = np.array([model.body(o.name).id for o in objects], dtype=np.int64)
    joint_ids = np.array([model.joint(f"{o.name}_free").id for o in objects], dtype=np.int64)
    geom_to_object = np.full(model.ngeom, -2, dtype=np.int64)
    geom_to_object[model.geom("table").id] = -1
    for i, o in enumerate(objects):
        geom_to_object[model.geom(f"{o.name}_geom").id] = i
    return Scene(
        model=model,
        objects=list(objects),
        body_ids=body_ids,
        qpos_adr=model.jnt_qposadr[joint_ids].astype(np.int64),
        qvel_adr=model.jnt_dofadr[joint_ids].astype(np.int64),
        weld_ids=np.array([model.equality(f"grasp_{o.name}").id for o in objects], dtype=np.int64),
        geom_to_object=geom_to_object,
        table_geom=model.geom("table").id,
        pusher_geom=model.geom("pusher").id,
        gripper_mocap=int(model.body("gripper").mocapid[0]),
        names=names,
        markers=tuple(markers),
    )
