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
BASELINES = ("majority", "constant_velocity", "cut_classifier", "simulator")
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


def _overlap(specs: list, i: int, j: int, pos_i: np.ndarray, pos_j: np.ndarray) -> np.ndarray:
    """Do objects i and j overlap (per row of positions ``(H, 3)``)? Each is its enclosing upright
    cylinder (``ObjectSpec.radius_xy``, ``half_height``): the env's own clearance geometry."""
    horizontal = np.linalg.norm(pos_i[:, :2] - pos_j[:, :2], axis=-1) < specs[i].radius_xy + specs[j].radius_xy
    vertical = np.abs(pos_i[:, 2] - pos_j[:, 2]) < specs[i].half_height + specs[j].half_height
    return horizontal & vertical


def constant_velocity(view: dict, cut: int) -> tuple[bool, np.ndarray]:
    """Extrapolate every object's position at the cut with its velocity there (no object sinks
    below resting on the table) to the last frame. Returns (contact predicted, final positions
    ``(N, 3)``): contact when agent and patient overlap at any future frame."""
    s, specs = view["state"], view["specs"]
    n = len(specs)
    steps = (view["time"][cut + 1:] - view["time"][cut])[:, None, None]  # (H, 1, 1) seconds ahead
    future = s[cut, :n, :3] + steps * s[cut, :n, 7:10]  # (H, N, 3)
    rest = np.array([o.half_height for o in specs])
    future[..., 2] = np.maximum(future[..., 2], np.minimum(rest, s[cut, :n, 2]))
    a, p = view["agent"], view["patient"]
    contact = bool(_overlap(specs, a, p, future[:, a], future[:, p]).any()) if len(steps) else False
    return contact, future[-1] if len(steps) else s[cut, :n, :3]


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


def fit_cut_classifier(cuts: Sequence[EpisodeCut], seed: int = 0):
    """Standardised L2 logistic regression (C=1) on ``cut_features`` of kept episodes; None when
    the training labels hold one class (then the family's rate is the only guess)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    kept = _kept(cuts)
    y = np.array([c.label for c in kept])
    if y.all() or not y.any():
        return None
    x = np.stack([cut_features(_episode_view(c), c.cut) for c in kept])
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=seed)).fit(x, y)


def _scores(probs: Sequence[float], labels: Sequence[bool], errors: Sequence[float] | None = None) -> dict:
    out = {k: v for k, v in binary_metrics(np.asarray(probs, float), np.asarray(labels, bool)).items() if k in METRICS}
    out["final_position_error"] = float(np.mean(errors)) if errors else None
    out["episodes"] = len(labels)
    return out


def predict_family(train: Sequence[EpisodeCut], test: Sequence[EpisodeCut], seed: int = 0,
                   simulator: SimulatorCeiling | None = None) -> dict[str, dict]:
    """Every baseline's per-episode predictions on one family's kept test episodes: for each
    baseline ``{"probs": [...], "errors": [...] or None}``, plus ``"labels"``."""
    test = _kept(test)
    rate = float(np.mean([c.label for c in _kept(train)]))
    model = fit_cut_classifier(train, seed)
    out = {"labels": [c.label for c in test], "majority": {"probs": [rate] * len(test), "errors": None},
           "constant_velocity": {"probs": [], "errors": []}, "cut_classifier": {"probs": [], "errors": None}}
    if simulator is not None:
        out["simulator"] = {"probs": [], "errors": []}
    for c in test:
        view = _episode_view(c)
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
