"""predict-ocp-v0: object-contact prediction from an observed prefix, and its non-learned baselines.

The benchmark shows a model the first frames of a passive-scenario episode and asks for
``p(contact(agent, patient))`` within the horizon. Where to stop showing is the whole question:
a fixed prefix either contains the contact (the label leaks) or, in fast families, drops the
contact episodes and leaves a lopsided label. So the prefix is cut per episode (``cut_dataset``):

- a **contact** episode, whose first agent-patient contact is recorded in frame ``k`` (its
  ``events`` entry; the contact began after frame ``k - 1``), is observed up to frame
  ``k - lead``: a fixed ``lead`` (frames of 40 ms) before the contact, never including it;
- a **no-contact** episode is observed up to a frame drawn from the cut frames of the same
  dataset's contact episodes, with a generator keyed by the benchmark seed and the episode's
  own seed, so both classes share one distribution of cut times and the prefix length says
  nothing about the label (``cut_time_auroc`` measures what is left of it);
- a contact episode whose cut would leave fewer than ``min_prefix`` observed frames is
  **excluded** (reason ``"early_contact"``) and counted: it cannot be asked without showing
  the answer.

Baselines on the same episodes and cuts: majority class (the family's space-A training rate),
constant-velocity extrapolation, a logistic regression on the visible state at the cut (the
first-frame classifier of ``foretell.envs.measure.first_frame`` moved to the cut), and the
simulator re-run from the true state at the cut with every mass, friction and restitution at the
middle of the space's range (the reference ceiling). ``evaluate_baselines`` returns them all as
JSON per family and overall; ``python -m foretell.worldmodel.ocp`` runs the measurements in
docs/ocp.md.
"""

from __future__ import annotations

import argparse
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from foretell.data import EpisodeFile, read_meta
from foretell.metrics import auroc, binary_metrics

MIN_PREFIX = 3  # observed frames at least: the fewest that show an acceleration (two velocity differences)
LEAD = 2  # frames between the cut and the first contact; chosen on space-A validation seeds (docs/ocp.md)
METRICS = ("accuracy", "auroc", "ece", "brier")
BASELINES = ("majority", "constant_velocity", "first_frame", "cut_classifier", "simulator")
_REQUIRED = {"obs/state": "per-frame object states (generate with --obs-keys state,...)",
             "obs/object_mask": "object rows (generate with --obs-keys ...,object_mask)",
             "events": "per-frame contact events", "json/outcome": "agent and patient names",
             "json/objects": "object specs (sizes, shapes)"}


@dataclass
class EpisodeCut:
    """Where one episode's observed prefix ends (frames ``0..cut`` inclusive) and why."""

    path: str
    env_id: str
    space: str
    env_seed: int
    label: bool
    contact_frame: int | None  # first frame whose events hold the agent-patient contact
    cut: int | None  # last observed frame; None when excluded
    excluded: str | None = None  # "early_contact", or None when kept

    @property
    def family(self) -> str:
        return self.env_id.split("/")[-1].removesuffix("-v0")


def first_contact_frame(events: Sequence[str], agent: str, patient: str) -> int | None:
    """Index of the first frame whose JSON event list holds a contact between ``agent`` and
    ``patient`` (either order), or None when they never touch."""
    pair = {agent, patient}
    for frame, raw in enumerate(events):
        if any(e.get("type") == "contact" and {e.get("a"), e.get("b")} == pair for e in json.loads(raw)):
            return frame
    return None


def _check_episode(ef: EpisodeFile) -> None:
    """``ValueError`` naming every key the benchmark needs that the episode file lacks."""
    h5 = ef.h5
    missing = [f"{k} ({why})" for k, why in _REQUIRED.items() if k not in h5]
    if missing:
        raise ValueError(f"{ef.path} cannot be cut for predict-ocp-v0: missing {', '.join(missing)}")


def _contact_cut(path: Path, lead: int, min_prefix: int) -> EpisodeCut:
    """Pass one: the episode's label, contact frame and, for contact episodes, the cut."""
    with EpisodeFile(path) as ef:
        _check_episode(ef)
        attrs, outcome = ef.attrs, ef.json("outcome")
        if ef.attrs.get("policy") not in (None, "auto", "passive") or "agent" not in outcome:
            raise ValueError(f"{path} is not a passive scenario episode (outcome {sorted(outcome)}); "
                             f"predict-ocp-v0 needs foretell/<Scenario>-v0 datasets")
        frame = first_contact_frame(ef.strings("events"), outcome["agent"], outcome["patient"])
    label = bool(attrs["label"])
    if label != (frame is not None):
        raise ValueError(f"{path}: label {label} disagrees with its events (first contact frame {frame})")
    cut, excluded = None, None
    if frame is not None:
        cut = frame - lead
        if cut + 1 < min_prefix:
            cut, excluded = None, "early_contact"
    return EpisodeCut(str(path), attrs["env_id"], attrs["space"], int(attrs["env_seed"]), label, frame, cut, excluded)


def cut_dataset(path: str | Path, lead: int | Mapping[str, int] = LEAD, min_prefix: int = MIN_PREFIX, seed: int = 0,
                reference_cuts: Sequence[int] | None = None) -> list[EpisodeCut]:
    """Cut every episode of one scenario dataset (one env, one space) by the rule above.

    Args:
        path: dataset directory made by ``foretell generate`` with ``state`` and ``object_mask``.
        lead: frames between the cut and the first agent-patient contact (>= 1, so a cut never
            shows the contact), or a lead per family (``{"Collide": 8, ...}``).
        min_prefix: fewest observed frames (>= 1); contact episodes that would show fewer are excluded.
        seed: benchmark seed; a no-contact episode's cut depends on it and on the episode's seed only.
        reference_cuts: cut frames no-contact episodes draw from (default: this dataset's contact cuts).

    Raises:
        ValueError: bad arguments, a file missing what the rule needs (named), a dataset mixing
            envs or spaces, or no contact episode to take no-contact cut times from.
    """
    root = Path(path)
    meta = read_meta(root)  # refuses an unknown schema
    if isinstance(lead, Mapping):
        family = meta.config.tasks[0].env_id.split("/")[-1].removesuffix("-v0")
        if family not in lead:
            raise ValueError(f"no lead for {family} ({root}); leads given for {sorted(lead)}")
        lead = lead[family]
    if lead < 1:
        raise ValueError(f"lead must be >= 1 frame (a cut must stop before the contact), got lead={lead}")
    if min_prefix < 1:
        raise ValueError(f"min_prefix must be >= 1 frame, got min_prefix={min_prefix}")
    files = sorted((root / "episodes").glob("ep_*.h5"))
    if not files:
        raise ValueError(f"{root} holds no episodes")
    cuts = [_contact_cut(f, lead, min_prefix) for f in files]
    kinds = {(c.env_id, c.space) for c in cuts}
    if len(kinds) != 1:
        raise ValueError(f"{root} mixes envs/spaces {sorted(kinds)}; cut one scenario and space per dataset")
    pool = np.array(sorted(c.cut for c in cuts if c.cut is not None) if reference_cuts is None else reference_cuts)
    if any(not c.label for c in cuts) and pool.size == 0:
        raise ValueError(f"{root}: no contact episode survives lead={lead}, min_prefix={min_prefix}, so there are "
                         f"no cut times to give its no-contact episodes; pass reference_cuts")
    for c in cuts:
        if not c.label:
            c.cut = int(np.random.default_rng([seed, c.env_seed]).choice(pool))
    return cuts


def label_table(cuts: Sequence[EpisodeCut]) -> dict:
    """Episodes, exclusions (by reason), label rate before and after the cut, cut-time AUROC."""
    kept = [c for c in cuts if c.excluded is None]
    reasons: dict[str, int] = {}
    for c in cuts:
        if c.excluded:
            reasons[c.excluded] = reasons.get(c.excluded, 0) + 1
    frames = [c.cut for c in kept]
    return {"episodes": len(cuts), "kept": len(kept), "excluded": reasons,
            "excluded_share": 1 - len(kept) / len(cuts), "label_rate_before": float(np.mean([c.label for c in cuts])),
            "label_rate": float(np.mean([c.label for c in kept])) if kept else float("nan"),
            "cut_frame_mean": float(np.mean(frames)) if kept else float("nan"),
            "cut_time_auroc": cut_time_auroc(kept)}


def cut_time_auroc(cuts: Sequence[EpisodeCut]) -> float:
    """AUROC of the cut frame alone as a score for the label (0.5: the cut time says nothing)."""
    kept = [c for c in cuts if c.cut is not None]
    return auroc([c.cut for c in kept], [c.label for c in kept]) if kept else float("nan")


# ---------------------------------------------------------------------------- what the prefix shows
def _episode_view(cut: EpisodeCut) -> dict:
    """States ``(T, 6, 13)``, times ``(T,)``, mask ``(N,)``, object specs and agent/patient rows."""
    from foretell.envs.sim.scene import ObjectSpec

    with EpisodeFile(cut.path) as ef:
        state, mask = ef.frames("state"), ef.frames("object_mask")[0].astype(bool)
        times = ef.times() if ef.times() is not None else np.arange(len(state)) / ef.attrs["fps"]  # schema 1: no obs/time
        names, outcome = ef.attrs["object_names"], ef.json("outcome")
        objects = {o["name"]: ObjectSpec(**o) for o in ef.json("objects")}
    specs = [objects[n] for n in names]
    return {"state": state, "time": times, "mask": mask[: len(names)], "specs": specs, "names": names,
            "agent": names.index(outcome["agent"]), "patient": names.index(outcome["patient"])}


def cut_features(view: dict, cut: int) -> np.ndarray:
    """What the prefix shows at its last frame ``(F,)``: per object (agent, patient, then the rest
    by distance to the agent, zero-padded to 6) position, quaternion, linear and angular velocity,
    half-extents and shape one-hot; then the agent-patient offset, distance, relative velocity and
    closing speed, and the cut time. Not masses, frictions or restitutions: no frame shows them."""
    from foretell.envs.sim.properties import SHAPES

    s, specs = view["state"][cut], view["specs"]  # (6, 13)
    a, p = view["agent"], view["patient"]
    rest = sorted((k for k in range(len(specs)) if k not in (a, p)), key=lambda k: np.linalg.norm(s[k, :3] - s[a, :3]))
    rows = np.zeros((6, 13 + 3 + len(SHAPES)))
    for r, k in enumerate([a, p, *rest]):
        rows[r] = [*s[k], *specs[k].half_extents(), *(np.array(SHAPES) == specs[k].shape)]
    offset, rel_v = s[p, :3] - s[a, :3], s[p, 7:10] - s[a, 7:10]
    dist = np.linalg.norm(offset)
    closing = -float(offset @ rel_v) / max(dist, 1e-9)
    return np.concatenate([rows.ravel(), offset, [dist], rel_v, [closing, view["time"][cut]]])


def first_frame_features(view: dict) -> np.ndarray:
    """What the first frame shows ``(F,)``, as ``foretell.envs.measure.first_frame`` defines it:
    agent, patient, then the others by distance to the agent, each as position, half-extents,
    shape one-hot and yaw (sin, cos), zero-padded to 6 objects; plus the agent-patient offset and
    distance. No velocities: a still frame does not show them."""
    from foretell.envs.sim.properties import SHAPES

    s, specs = view["state"][0], view["specs"]  # (N, 13)
    a, p = view["agent"], view["patient"]
    rest = sorted((k for k in range(len(specs)) if k not in (a, p)), key=lambda k: np.linalg.norm(s[k, :3] - s[a, :3]))
    w, x, y, z = s[:, 3:7].T
    yaw = np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))  # (N,)
    rows = np.zeros((6, 3 + 3 + len(SHAPES) + 2))
    for r, k in enumerate([a, p, *rest]):
        rows[r] = [*s[k, :3], *specs[k].half_extents(), *(np.array(SHAPES) == specs[k].shape), np.sin(yaw[k]),
                   np.cos(yaw[k])]
    offset = s[p, :3] - s[a, :3]
    return np.concatenate([rows.ravel(), offset, [np.linalg.norm(offset)]])


CONTACT_MARGIN = 0.0025  # m: two shapes this close count as touching. Frames are 40 ms apart, so a
# contact that begins and ends between two frames (a bounce) leaves its shapes a few mm apart in both.
# Chosen on the space-A validation seeds (lead datasets): applied to the true futures, 0 / 2.5 / 5 mm
# match the label in 94% / 95% / 94% of episodes (mean over the seven families; docs/ocp.md).


def quat_matrix(quat: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` of quaternions ``(..., 4)`` (wxyz, any norm > 0)."""
    q = quat / np.maximum(np.linalg.norm(quat, axis=-1, keepdims=True), 1e-12)
    w, x, y, z = np.moveaxis(q, -1, 0)
    rows = [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]
    return np.stack(rows, axis=-1).reshape(*quat.shape[:-1], 3, 3)


def _boxes_overlap(ca: np.ndarray, rot_a: np.ndarray, half_a: np.ndarray, cb: np.ndarray, rot_b: np.ndarray,
                   half_b: np.ndarray) -> np.ndarray:
    """Do oriented boxes overlap? Centres ``(..., 3)``, rotations ``(..., 3, 3)`` (columns: the
    box axes in the world), half-extents ``(..., 3)`` -> ``(...)`` bool. The separating-axis test
    over the 15 candidate axes (Gottschalk et al. 1996), vectorised over leading dimensions."""
    r = np.swapaxes(rot_a, -1, -2) @ rot_b  # (..., 3, 3): B's axes in A's frame
    t = (np.swapaxes(rot_a, -1, -2) @ (cb - ca)[..., None])[..., 0]  # (..., 3): B's centre in A's frame
    abs_r = np.abs(r) + 1e-9  # parallel edges make a cross axis vanish; the epsilon keeps the test sound
    ha, hb = half_a[..., :, None], half_b[..., None, :]  # (..., 3, 1), (..., 1, 3)
    sep_a = np.abs(t) > half_a + (abs_r * hb).sum(-1)  # (..., 3): A's face axes
    sep_b = np.abs((t[..., :, None] * r).sum(-2)) > (abs_r * ha).sum(-2) + half_b  # (..., 3): B's face axes
    i1, i2 = [1, 2, 0], [2, 0, 1]  # (i + 1, i + 2) mod 3
    # Axis A_i x B_j for every (i, j) at once: rows i, columns j of (..., 3, 3) arrays.
    lhs = np.abs(t[..., i2, None] * r[..., i1, :] - t[..., i1, None] * r[..., i2, :])
    rhs = (half_a[..., i1, None] * abs_r[..., i2, :] + half_a[..., i2, None] * abs_r[..., i1, :]
           + half_b[..., None, i1] * abs_r[..., :, i2] + half_b[..., None, i2] * abs_r[..., :, i1])
    return ~(sep_a.any(-1) | sep_b.any(-1) | (lhs > rhs).any((-2, -1)))


def _sphere_box_overlap(centre: np.ndarray, radius: float, cb: np.ndarray, rot_b: np.ndarray,
                        half_b: np.ndarray) -> np.ndarray:
    """Does a sphere touch an oriented box? ``(..., 3)`` centres, ``(..., 3, 3)`` rotation -> ``(...)``."""
    local = (np.swapaxes(rot_b, -1, -2) @ (centre - cb)[..., None])[..., 0]  # (..., 3) in the box frame
    nearest = np.clip(local, -half_b, half_b)
    return np.linalg.norm(local - nearest, axis=-1) < radius


def _sphere_cylinder_overlap(centre: np.ndarray, radius: float, cb: np.ndarray, rot_b: np.ndarray,
                             cyl_radius: float, half_height: float) -> np.ndarray:
    """Does a sphere touch an oriented cylinder (axis: its own z)? ``(..., 3)`` centres,
    ``(..., 3, 3)`` rotation -> ``(...)``. Exact: the nearest point of the solid cylinder is the
    sphere centre clamped radially to ``cyl_radius`` and axially to ``half_height``."""
    local = (np.swapaxes(rot_b, -1, -2) @ (centre - cb)[..., None])[..., 0]  # (..., 3) in the cylinder frame
    radial = np.linalg.norm(local[..., :2], axis=-1, keepdims=True)  # (..., 1)
    nearest_xy = local[..., :2] * np.minimum(1.0, cyl_radius / np.maximum(radial, 1e-12))  # (..., 2)
    nearest = np.concatenate([nearest_xy, np.clip(local[..., 2:], -half_height, half_height)], axis=-1)
    return np.linalg.norm(local - nearest, axis=-1) < radius


def shapes_touch(spec_a, spec_b, state_a: np.ndarray, state_b: np.ndarray, margin: float = CONTACT_MARGIN) -> np.ndarray:
    """Are two objects within ``margin`` of each other, per row of states ``(..., 13)`` (position,
    quaternion wxyz, ...)? -> ``(...)`` bool.

    Geometry (``ObjectSpec``): a ball is its sphere; a cylinder or glass is its cylinder against a
    ball (exact) and its square prism against any other shape (up to 0.41 r too wide at the
    corners); every other shape is its oriented box of half-extents ``half_extents()`` (exact for
    cubes, plates, dominoes and ramps). The prism against a ball read contacts where a ball passes
    or stops diagonally off a glass, up to 10 mm away: on the true futures of the space-A
    validation sets it matched the label in 94% of GlassBreak episodes against 99% for the exact
    test. The orientation is what a toppling domino needs: its centre stays far from the next one
    while its top reaches it.
    """
    ball_a, ball_b = spec_a.shape == "ball", spec_b.shape == "ball"
    pos_a, pos_b = state_a[..., :3], state_b[..., :3]
    if ball_a and ball_b:
        return np.linalg.norm(pos_a - pos_b, axis=-1) < spec_a.size[0] + spec_b.size[0] + margin
    if ball_a or ball_b:
        (sphere, s_pos), (other, o_state) = ((spec_a, pos_a), (spec_b, state_b)) if ball_a else \
            ((spec_b, pos_b), (spec_a, state_a))
        rot = quat_matrix(o_state[..., 3:7])
        if other.shape in ("cylinder", "glass"):
            return _sphere_cylinder_overlap(s_pos, sphere.size[0] + margin, o_state[..., :3], rot, other.size[0],
                                            other.size[1])
        return _sphere_box_overlap(s_pos, sphere.size[0] + margin, o_state[..., :3], rot, other.half_extents())
    return _boxes_overlap(pos_a, quat_matrix(state_a[..., 3:7]), spec_a.half_extents() + margin, pos_b,
                          quat_matrix(state_b[..., 3:7]), spec_b.half_extents())


def constant_velocity(view: dict, cut: int) -> tuple[bool, np.ndarray]:
    """Extrapolate every object's position at the cut with its velocity there (no object sinks
    below resting on the table; orientations held) to the last frame. Returns (contact
    predicted, final positions ``(N, 3)``): contact when agent and patient touch
    (``shapes_touch``) at any future frame."""
    s, specs = view["state"], view["specs"]
    n = len(specs)
    steps = (view["time"][cut + 1:] - view["time"][cut])[:, None, None]  # (H, 1, 1) seconds ahead
    future = np.repeat(s[cut:cut + 1, :n], len(steps), axis=0)  # (H, N, 13)
    future[..., :3] = s[cut, :n, :3] + steps * s[cut, :n, 7:10]
    rest = np.array([o.half_height for o in specs])
    future[..., 2] = np.maximum(future[..., 2], np.minimum(rest, s[cut, :n, 2]))
    a, p = view["agent"], view["patient"]
    contact = bool(shapes_touch(specs[a], specs[p], future[:, a], future[:, p]).any()) if len(steps) else False
    return contact, future[-1, :, :3] if len(steps) else s[cut, :n, :3]


class SimulatorCeiling:
    """The simulator re-run from the true state at the cut, every mass, friction and restitution
    at the middle of the space's range: it knows the geometry and the motion so far exactly and
    only the hidden properties are guessed, so it is the reference ceiling, not a fair rival.

    The episode is replayed from its seed (scenario episodes depend on nothing else) to the cut,
    checked against the stored state there, then branched with ``counterfactual(changes, state=...)``.
    """

    def __init__(self) -> None:
        self._envs: dict[tuple, object] = {}

    def _env(self, env_id: str, space: str, horizon: int):
        key = (env_id, space, horizon)
        if key not in self._envs:
            import gymnasium as gym

            import foretell.envs  # noqa: F401  (registers the envs)

            self._envs[key] = gym.make(env_id, space=space, obs_keys=("state",), horizon=horizon)
        return self._envs[key]

    def predict(self, cut: EpisodeCut, view: dict) -> tuple[bool, np.ndarray]:
        """(contact predicted, final positions ``(N, 3)``) of one kept episode."""
        env = self._env(cut.env_id, cut.space, view["state"].shape[0] - 1)
        u = env.unwrapped
        env.reset(seed=cut.env_seed)
        for _ in range(cut.cut):
            env.step(0)
        n = len(view["specs"])
        if not np.allclose(u.sim.states()[:, :3], view["state"][cut.cut, :n, :3], atol=1e-6):
            raise ValueError(f"{cut.path}: replaying seed {cut.env_seed} does not reproduce the stored state at "
                             f"frame {cut.cut} (another foretell/MuJoCo version?)")
        changes = {}
        for obj, broken in zip(u.objects, u.sim.broken, strict=True):
            if not obj.frozen and not broken:
                for prop in ("mass", "friction", "restitution"):
                    changes[f"{obj.name}.{prop}"] = float(np.mean(u.space.bounds(prop)))
        rollout = u.counterfactual(changes, state=u.get_state())
        return rollout.touched(u.agent_name, u.patient_name), rollout.positions[-1]

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs.clear()


def _movable(view: dict) -> np.ndarray:
    return np.array([m and not o.frozen for m, o in zip(view["mask"], view["specs"], strict=True)])


def _final_error(view: dict, final: np.ndarray) -> float:
    """Mean distance (m) between predicted and true final positions of the movable objects."""
    keep = _movable(view)
    truth = view["state"][-1, : len(keep), :3]
    return float(np.linalg.norm(final[keep] - truth[keep], axis=-1).mean())


def _kept(cuts: Sequence[EpisodeCut]) -> list[EpisodeCut]:
    return [c for c in cuts if c.excluded is None]


def fit_cut_classifier(cuts: Sequence[EpisodeCut], seed: int = 0, first_frame: bool = False):
    """Standardised L2 logistic regression (C=1) on ``cut_features`` of kept episodes (with
    ``first_frame``: on ``first_frame_features``, the first-frame classifier); None when the
    training labels hold one class (then the family's rate is the only guess)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    kept = _kept(cuts)
    y = np.array([c.label for c in kept])
    if y.all() or not y.any():
        return None
    views = [_episode_view(c) for c in kept]
    x = np.stack([first_frame_features(v) if first_frame else cut_features(v, c.cut) for c, v in zip(kept, views,
                                                                                                     strict=True)])
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=seed)).fit(x, y)


def _scores(probs: Sequence[float], labels: Sequence[bool], errors: Sequence[float] | None = None) -> dict:
    out = {k: v for k, v in binary_metrics(np.asarray(probs, float), np.asarray(labels, bool)).items() if k in METRICS}
    out["final_position_error"] = float(np.mean(errors)) if errors else None
    out["episodes"] = len(labels)
    return out


def predict_family(train: Sequence[EpisodeCut], test: Sequence[EpisodeCut], seed: int = 0,
                   simulator: SimulatorCeiling | None = None, views: Sequence[dict] | None = None) -> dict[str, dict]:
    """Every baseline's per-episode predictions on one family's kept test episodes: for each
    baseline ``{"probs": [...], "errors": [...] or None}``, plus ``"labels"``. ``views`` are the
    kept test episodes' ``_episode_view``s when the caller has read them already."""
    test = _kept(test)
    views = [_episode_view(c) for c in test] if views is None else views
    rate = float(np.mean([c.label for c in _kept(train)]))
    model, first = fit_cut_classifier(train, seed), fit_cut_classifier(train, seed, first_frame=True)
    out = {"labels": [c.label for c in test], "majority": {"probs": [rate] * len(test), "errors": None},
           "constant_velocity": {"probs": [], "errors": []}, "cut_classifier": {"probs": [], "errors": None}}
    out["first_frame"] = {"probs": [rate] * len(test) if first is None else
                          first.predict_proba(np.stack([first_frame_features(v) for v in views]))[:, 1].tolist(),
                          "errors": None}
    if simulator is not None:
        out["simulator"] = {"probs": [], "errors": []}
    for c, view in zip(test, views, strict=True):
        contact, final = constant_velocity(view, c.cut)
        out["constant_velocity"]["probs"].append(float(contact))
        out["constant_velocity"]["errors"].append(_final_error(view, final))
        p = rate if model is None else float(model.predict_proba(cut_features(view, c.cut)[None])[0, 1])
        out["cut_classifier"]["probs"].append(p)
        if simulator is not None:
            contact, final = simulator.predict(c, view)
            out["simulator"]["probs"].append(float(contact))
            out["simulator"]["errors"].append(_final_error(view, final))
    return out


def evaluate_baselines(train_dirs: Sequence[str | Path], test_dirs: Sequence[str | Path],
                       lead: int | Mapping[str, int] = LEAD,
                       min_prefix: int = MIN_PREFIX, seed: int = 0, simulator: bool = True) -> dict:
    """predict-ocp-v0 for the non-learned baselines, per family and overall (JSON-ready).

    Args:
        train_dirs: space-A training datasets, one per family (majority rate, cut classifier).
        test_dirs: test datasets, one per family and space (each scored separately by space).
        lead, min_prefix, seed: the prefix rule (``cut_dataset``).
        simulator: also run the simulator ceiling (one replay per test episode: the slow part).

    Returns:
        ``{"config", "label_rates": {space: {family: label_table}}, "results": {space: {family |
        "overall": {baseline: metrics}}}}``; metrics are accuracy, AUROC, ECE (15 bins), Brier,
        final-position error (m; None for methods that predict no positions) and episodes.

    Raises:
        ValueError: a test family without a training dataset, or any ``cut_dataset`` error.
    """
    train = {}
    for d in train_dirs:
        cuts = cut_dataset(d, lead, min_prefix, seed)
        train[cuts[0].family] = cuts
    sim = SimulatorCeiling() if simulator else None
    rates: dict[str, dict] = {}
    pooled: dict[str, dict] = {}
    results: dict[str, dict] = {}
    try:
        for d in test_dirs:
            cuts = cut_dataset(d, lead, min_prefix, seed)
            family, space = cuts[0].family, cuts[0].space
            if family not in train:
                raise ValueError(f"no training dataset for {family} (test {d}); train families: {sorted(train)}")
            rates.setdefault(space, {})[family] = label_table(cuts)
            preds = predict_family(train[family], cuts, seed, sim)
            space_pool = pooled.setdefault(space, {})
            results.setdefault(space, {})[family] = {}
            for name in (b for b in BASELINES if b in preds):
                results[space][family][name] = _scores(preds[name]["probs"], preds["labels"], preds[name]["errors"])
                pool = space_pool.setdefault(name, {"probs": [], "labels": [], "errors": []})
                pool["probs"] += preds[name]["probs"]
                pool["labels"] += preds["labels"]
                pool["errors"] += preds[name]["errors"] or []
    finally:
        if sim is not None:
            sim.close()
    for space, by_name in pooled.items():
        results[space]["overall"] = {name: _scores(v["probs"], v["labels"], v["errors"]) for name, v in by_name.items()}
    return {"config": {"benchmark": "predict-ocp-v0", "lead": lead, "min_prefix": min_prefix, "seed": seed,
                       "train": [str(d) for d in train_dirs], "test": [str(d) for d in test_dirs]},
            "label_rates": rates, "results": results}


def choose_lead(val_dirs: Sequence[str | Path], leads: Sequence[int] = tuple(range(1, 11)),
                min_prefix: int = MIN_PREFIX, band: tuple[float, float] = (0.35, 0.65)) -> dict:
    """The largest lead (the hardest question) for which every family's label rate after the cut
    stays within ``band`` on the given validation datasets (space A, never test seeds), and the
    largest such lead family by family.

    Returns ``{"lead": chosen or None, "per_family": {family: lead or None}, "table": {lead:
    {family: label_table}}}``.
    """
    table = {}
    for lead in leads:
        table[lead] = {}
        for d in val_dirs:
            cuts = cut_dataset(d, lead, min_prefix)
            table[lead][cuts[0].family] = label_table(cuts)
    def fits(r: dict) -> bool:
        return band[0] <= r["label_rate"] <= band[1]

    ok = [lead for lead in leads if all(fits(r) for r in table[lead].values())]
    families = table[leads[0]] if leads else {}
    per_family = {f: max((lead for lead in leads if fits(table[lead][f])), default=None) for f in families}
    return {"lead": max(ok) if ok else None, "per_family": per_family, "band": list(band), "table": table}


def markdown(result: dict) -> str:
    """The label-rate and baseline tables of an ``evaluate_baselines`` result, as docs/ocp.md shows them."""
    def num(v):
        return "n/a" if v is None else f"{v:.3f}"

    lines = ["| space | family | episodes | excluded (early contact) | label rate before -> after cut | "
             "mean cut frame | cut-time AUROC |", "|---|---|---|---|---|---|---|"]
    for space, fams in result["label_rates"].items():
        for fam, t in fams.items():
            lines.append(f"| {space} | {fam} | {t['episodes']} | {t['episodes'] - t['kept']} "
                         f"({t['excluded_share']:.0%}) | {t['label_rate_before']:.2f} -> **{t['label_rate']:.2f}** | "
                         f"{t['cut_frame_mean']:.1f} | {t['cut_time_auroc']:.2f} |")
    lines += ["", "| space | family | baseline | n | accuracy | AUROC | ECE | Brier | final-pos. error (m) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for space, fams in result["results"].items():
        for fam, by_name in fams.items():
            for name, m in by_name.items():
                lines.append(f"| {space} | {fam} | {name} | {m['episodes']} | {num(m['accuracy'])} | "
                             f"{num(m['auroc'])} | {num(m['ece'])} | {num(m['brier'])} | "
                             f"{num(m['final_position_error'])} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m foretell.worldmodel.ocp lead VAL...`` or ``... eval --train A... --test T...``."""
    parser = argparse.ArgumentParser(prog="python -m foretell.worldmodel.ocp", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    lead_p = sub.add_parser("lead", help="choose the lead on space-A validation datasets")
    lead_p.add_argument("val", nargs="+")
    eval_p = sub.add_parser("eval", help="label rates and baselines on test datasets")
    eval_p.add_argument("--train", nargs="+", required=True)
    eval_p.add_argument("--test", nargs="+", required=True)
    eval_p.add_argument("--lead", type=int, default=LEAD)
    eval_p.add_argument("--seed", type=int, default=0)
    eval_p.add_argument("--no-simulator", action="store_true")
    for p in (lead_p, eval_p):
        p.add_argument("--min-prefix", type=int, default=MIN_PREFIX)
        p.add_argument("--out", help="write the JSON here too")
    eval_p.add_argument("--markdown", action="store_true", help="print the docs/ocp.md tables, not JSON")
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if args.command == "lead":
            result = choose_lead(args.val, min_prefix=args.min_prefix)
        else:
            result = evaluate_baselines(args.train, args.test, args.lead, args.min_prefix, args.seed,
                                        simulator=not args.no_simulator)
    text = json.dumps(result, indent=1, default=lambda o: asdict(o) if hasattr(o, "__dataclass_fields__") else str(o))
    if args.out:
        Path(args.out).write_text(text)
    print(markdown(result) if getattr(args, "markdown", False) else text)


if __name__ == "__main__":
    main()
