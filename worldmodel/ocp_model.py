"""predict-ocp-v0 for learned object models: the world model's (and the regressor's) column.

From each kept episode's observed prefix (``ocp.cut_dataset``) the model sees the last K states
before the cut and rolls forward to the end of the episode (the label window): it samples S
futures of H steps, then feeds every sample's own last K predicted states back as the next
history, chunk after chunk, until the last frame. Read-outs over the S sampled futures:

- ``p(contact)``: the share of samples in which agent and patient touch at some future frame,
  judged by ``ocp.shapes_touch`` on the predicted positions *and orientations* (a ball is its
  sphere, every other shape its oriented box of the object's half-extents; a cylinder is exact
  against a ball and its square prism against anything else). The approximation has its own
  ceiling, measured by applying it to the true future (``readout_on_truth`` in the results):
  frames are 40 ms apart, so a bounce that begins and ends between two frames can be missed, and
  prisms are wider than cylinders at the corners.
- final-position error: the distance between the mean of the samples' final positions and the
  true final positions of the movable objects (``ocp._final_error``, the baselines' measure).

What the model is told about the objects (``properties``): ``visible`` (default) gives shape and
size, which a frame shows, and sets mass, friction and restitution to the model's training mean
(normalised value 0: the prior, no test-time knowledge); ``all`` gives the true values (a
privileged variant); ``none`` flags properties unknown (the path ``property_dropout`` trains).

A prefix shorter than K frames (a cut before frame K - 1) is padded backwards from the first
frame at its own velocity: the scene "as it was moving at t = 0".

``evaluate_predict`` runs the whole benchmark (model, regressor and every baseline on the same
kept episodes) and ``compare_video`` renders an episode's truth beside sampled futures
(``foretell eval predict`` and ``foretell worldmodel show``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from foretell.data import read_meta

from . import ocp
from .calibration import apply_maps, cross_validate, fit_family_maps
from .object_diffusion import ObjectDiffusionModel

PROPERTY_MODES = ("visible", "all", "none")
HIDDEN_PROPERTIES = ("mass", "friction", "restitution")  # what no frame shows (ocp.cut_features leaves them out too)
METRIC_KEYS = ("accuracy", "auroc", "ece", "brier", "position_error")


def check_passive_model(model: ObjectDiffusionModel, where: str) -> None:
    """``ValueError`` unless ``model`` predicts passive scenes with the dataset properties' width."""
    from foretell.envs.sim.scene import PROPERTY_NAMES

    cfg = model.config
    if cfg.action_kind != "none":
        raise ValueError(f"{where} is a model of {cfg.action_kind!r}-action scenes (trained on BlockStack data); "
                         "predict-ocp-v0 needs a model of passive scenario datasets (action kind 'none')")
    if cfg.property_dim != len(PROPERTY_NAMES):
        raise ValueError(f"{where} takes {cfg.property_dim} properties per object; scenario datasets store "
                         f"{len(PROPERTY_NAMES)} ({', '.join(PROPERTY_NAMES)})")


def _property_rows(view: dict, n: int, mode: str, prior: np.ndarray) -> np.ndarray:
    """Per-object properties ``(N, P)`` of one episode (zero rows beyond its objects)."""
    from foretell.envs.sim.scene import PROPERTY_NAMES

    rows = np.zeros((n, len(PROPERTY_NAMES)), np.float32)
    rows[: len(view["specs"])] = np.stack([o.property_vector() for o in view["specs"]])
    if mode == "visible":
        hidden = [PROPERTY_NAMES.index(k) for k in HIDDEN_PROPERTIES]
        rows[: len(view["specs"]), hidden] = prior[hidden]
    return rows


def _history(view: dict, cut: int, k: int) -> np.ndarray:
    """The last ``k`` observed states ``(K, N, 13)`` ending at frame ``cut``; frames before 0 are
    the first frame moved back along its own velocity."""
    state, times = view["state"], view["time"]
    frames = np.arange(cut - k + 1, cut + 1)  # (K,)
    hist = state[np.maximum(frames, 0)].copy()  # (K, N, 13)
    dt = float(times[1] - times[0]) if len(times) > 1 else 0.04
    back = np.minimum(frames, 0)[:, None, None] * dt  # (K, 1, 1) seconds, <= 0
    hist[..., :3] = hist[..., :3] + back * state[0, :, 7:10]
    return hist


def prefix_inputs(model: ObjectDiffusionModel, views: Sequence[dict], cuts: Sequence[int],
                  properties: str = "visible") -> dict[str, torch.Tensor | None]:
    """The model's inputs for kept episodes: ``history (B, K, N, 13)``, ``properties (B, N, P)``
    or None, ``mask (B, N)``."""
    if properties not in PROPERTY_MODES:
        raise ValueError(f"properties must be one of {list(PROPERTY_MODES)}, got {properties!r}")
    cfg = model.config
    n = max(len(v["specs"]) for v in views)  # stored rows past an episode's objects are padding
    hist = np.zeros((len(views), cfg.history, n, 13), np.float32)
    mask = np.zeros((len(views), n), bool)
    for b, (view, cut) in enumerate(zip(views, cuts, strict=True)):
        rows = len(view["specs"])
        hist[b, :, :rows] = _history(view, cut, cfg.history)[:, :rows]
        mask[b, :rows] = view["mask"][:rows]
    props = None
    if properties != "none":
        prior = np.asarray((cfg.stats or {}).get("property_mean", [0.0] * cfg.property_dim), np.float32)
        props = torch.from_numpy(np.stack([_property_rows(v, n, properties, prior) for v in views]))
    return {"history": torch.from_numpy(hist), "properties": props, "mask": torch.from_numpy(mask)}


@torch.no_grad()
def rollout(model: ObjectDiffusionModel, history: torch.Tensor, properties: torch.Tensor | None,
            mask: torch.Tensor, frames: int, num_samples: int, generator: torch.Generator,
            num_steps: int = 4) -> torch.Tensor:
    """S futures of ``frames`` steps ``(B, S, L, N, 13)`` by chaining horizon chunks: chunk c+1
    conditions on chunk c's last K states of the same sample. A deterministic model (the
    regressor) is rolled once, ``S = 1``."""
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got frames={frames}")
    cfg = model.config
    b, k, n, _ = history.shape
    s = 1 if getattr(model, "deterministic", False) else num_samples
    chunk = model.sample(history, properties, mask, None, s, num_steps, generator)  # (B, S, H, N, 13)
    parts = [chunk.cpu()]
    props = None if properties is None else properties.repeat_interleave(s, dim=0)  # (B*S, N, P)
    rows_mask = mask.repeat_interleave(s, dim=0)  # (B*S, N)
    seen = torch.cat([history[:, None].expand(b, s, k, n, 13), parts[0]], dim=2)  # (B, S, K + H, N, 13)
    while sum(p.shape[2] for p in parts) < frames:
        last = seen[:, :, -k:].reshape(b * s, k, n, 13)  # (B*S, K, N, 13)
        chunk = model.sample(last, props, rows_mask, None, 1, num_steps, generator)  # (B*S, 1, H, N, 13)
        chunk = chunk.view(b, s, cfg.horizon, n, 13).cpu()
        parts.append(chunk)
        seen = torch.cat([seen[:, :, -k:], chunk], dim=2)
    return torch.cat(parts, dim=2)[:, :, :frames]


def episode_predictions(model: ObjectDiffusionModel, cuts: Sequence[ocp.EpisodeCut], num_samples: int = 16,
                        num_steps: int = 4, seed: int = 0, properties: str = "visible", batch_size: int = 32,
                        views: Sequence[dict] | None = None) -> dict[str, list[float]]:
    """``p(contact)`` and final-position error (m) of every kept episode of ``cuts`` (one dataset).

    Episodes go through the model ``batch_size`` at a time (each with its S samples), grouped by
    object count so that little padding is computed; every random draw comes from one generator
    seeded with ``seed``. Returns ``{"probs", "errors"}`` in the order of the kept episodes.
    """
    if num_samples < 1 or num_steps < 1 or batch_size < 1:
        raise ValueError(f"num_samples, num_steps and batch_size must be >= 1, got {num_samples}, {num_steps}, "
                         f"{batch_size}")
    kept = ocp._kept(cuts)
    views = [ocp._episode_view(c) for c in kept] if views is None else views
    _check_fps(model, views)
    generator = torch.Generator().manual_seed(seed)
    order = np.argsort([len(v["specs"]) for v in views], kind="stable")
    probs, errors = np.zeros(len(kept)), np.zeros(len(kept))
    for start in range(0, len(kept), batch_size):
        index = order[start:start + batch_size]
        part, part_views = [kept[i] for i in index], [views[i] for i in index]
        inputs = prefix_inputs(model, part_views, [c.cut for c in part], properties)
        lengths = [v["state"].shape[0] - 1 - c.cut for c, v in zip(part, part_views, strict=True)]
        futures = rollout(model, inputs["history"], inputs["properties"], inputs["mask"], max(lengths),
                          num_samples, generator, num_steps).numpy()  # (B, S, L, N, 13)
        for i, future, view, length in zip(index, futures, part_views, lengths, strict=True):
            a, p, n = view["agent"], view["patient"], len(view["specs"])
            touch = ocp.shapes_touch(view["specs"][a], view["specs"][p], future[:, :length, a],
                                     future[:, :length, p])  # (S, L)
            probs[i] = touch.any(axis=1).mean()
            errors[i] = ocp._final_error(view, future[:, length - 1, :n, :3].mean(axis=0))
    return {"probs": probs.tolist(), "errors": errors.tolist()}


def _check_fps(model: ObjectDiffusionModel, views: Sequence[dict]) -> None:
    dts = {round(float(v["time"][1] - v["time"][0]), 6) for v in views if len(v["time"]) > 1}
    if any(abs(dt * model.config.fps - 1) > 1e-3 for dt in dts):
        raise ValueError(f"the model was trained at {model.config.fps} fps; these episodes step {sorted(dts)} s")


def truth_readout(cuts: Sequence[ocp.EpisodeCut], views: Sequence[dict]) -> list[float]:
    """The contact read-out applied to each kept episode's *true* future (0 or 1): the ceiling
    the read-out itself sets on any model scored through it."""
    out = []
    for c, view in zip(ocp._kept(cuts), views, strict=True):
        a, p, s = view["agent"], view["patient"], view["state"]
        out.append(float(ocp.shapes_touch(view["specs"][a], view["specs"][p], s[c.cut + 1:, a],
                                          s[c.cut + 1:, p]).any()))
    return out


# ---------------------------------------------------------------------------- the benchmark
def _metrics(probs: Sequence[float], labels: Sequence[bool], errors: Sequence[float] | None) -> dict:
    from foretell.metrics import binary_metrics

    scores = binary_metrics(np.asarray(probs, float), np.asarray(labels, bool))
    out = {k: (None if np.isnan(scores[k]) else float(scores[k])) for k in ("accuracy", "auroc", "ece", "brier")}
    out["position_error"] = float(np.mean(errors)) if errors else None
    return {**out, "n": len(labels)}


def method_scores(by_env: dict[str, dict], label_rates: dict[str, dict]) -> dict:
    """One method's metrics pooled over every episode, ``per_env`` and ``per_space``, from its
    per-episode ``{"Family/space": {"probs", "errors" or None, "labels"}}``."""
    per_env = {key: {**_metrics(r["probs"], r["labels"], r["errors"]),
                     "label_rate": label_rates[key]["label_rate"], "excluded": label_rates[key]["excluded"]}
               for key, r in by_env.items()}
    pools: dict[str, dict[str, list]] = {}
    for key, r in by_env.items():
        for pool in (pools.setdefault("overall", {}), pools.setdefault(key.split("/")[1], {})):
            for field in ("probs", "labels", "errors"):
                pool.setdefault(field, []).extend(r[field] or [])
    pooled = {k: _metrics(p["probs"], p["labels"], p["errors"]) for k, p in pools.items()}
    return {**pooled.pop("overall"), "per_env": per_env, "per_space": pooled}


def _test_dirs(data_dirs: Sequence[str | Path]) -> list[Path]:
    if not data_dirs:
        raise ValueError("no test dataset given; pass --data DIR (a scenario family's test split)")
    for d in data_dirs:
        split = read_meta(d).config.split  # FileNotFoundError / SchemaError for a folder that is no dataset
        if split != "test":
            raise ValueError(f"--data {d} is the {split!r} split; predict-ocp-v0 scores test splits only "
                             "(foretell generate ... --split test)")
    return [Path(d) for d in data_dirs]


def _family_of(path: str | Path) -> str:
    return read_meta(path).config.tasks[0].env_id.split("/")[-1].removesuffix("-v0")


def _load_models(model_run, regressor_run, device: str):
    from .checkpoint import load
    from .regressor import ObjectRegressorModel, load_model

    model = load(model_run, device=device, kind="object")
    check_passive_model(model, str(model_run))
    regressor = None
    if regressor_run is not None:
        regressor = load_model(regressor_run, device=device)
        if not isinstance(regressor, ObjectRegressorModel):
            raise ValueError(f"--regressor {regressor_run} holds a {type(regressor).__name__}, not a regressor "
                             "(train one with foretell train world --kind regressor)")
        check_passive_model(regressor, str(regressor_run))
    return model, regressor


def evaluate_predict(model_run: str | Path, data_dirs: Sequence[str | Path],
                     train_dirs: Sequence[str | Path] | None = None, regressor_run: str | Path | None = None,
                     num_samples: int = 16, num_steps: int = 4, seed: int = 0, properties: str = "visible",
                     simulator: bool = True, lead: int = ocp.LEAD, min_prefix: int = ocp.MIN_PREFIX,
                     batch_size: int = 32, device: str = "cpu",
                     progress: Callable[[Iterable], Iterable] | None = None,
                     calibration_dirs: Sequence[str | Path] = ()) -> dict:
    """predict-ocp-v0: the world model, the regressor and every baseline on the same kept episodes.

    Args:
        model_run: the object world model's run (``foretell train world``).
        data_dirs: test datasets, one scenario family and space each.
        train_dirs: space-A training datasets for the majority rate and the classifiers (default:
            the datasets the model was trained on, from its ``train_config.json``).
        regressor_run: a ``--kind regressor`` run, scored as one more column.
        num_samples, num_steps: S sampled futures per episode, sampler steps per chunk.
        seed: the prefix rule's and the samplers' seed.
        properties: ``visible``, ``all`` or ``none`` (module docstring).
        simulator: also run the simulator ceiling (one replay per episode).
        lead, min_prefix: the prefix rule (``ocp.cut_dataset``).
        batch_size: episodes per model call (each with its S samples).
        device: where the models run.
        progress: wraps the loop over datasets (a progress bar).
        calibration_dirs: validation datasets (not test splits, no episode seed shared with the
            training or test data) on which Platt maps of the model's p(contact) are fitted per
            family (``calibration``); the calibrated model becomes one more column.

    Returns:
        ``{accuracy, auroc, ece, brier, position_error, n, per_env, per_space, baselines: {name:
        the same keys}, label_rates, config}``: the world model's metrics pooled over every kept
        episode; ``per_env`` is keyed ``Family/space`` and adds ``label_rate`` and ``excluded``.
        With ``calibration_dirs``, ``baselines["calibrated"]`` (the same model, probabilities
        mapped) and ``calibration``: ``maps`` (``{family or "pooled": map}``) and
        ``cross_validation`` (``calibration.cross_validate`` on the validation episodes).

    Raises:
        ValueError: a dataset that is not a test split or lacks a key the rule needs, a model of
            another kind (actions, a regressor as ``model_run``), a family without training data,
            a calibration dataset that is a test split or shares episode seeds with train or test.
    """
    from .train import TrainConfig

    tests = _test_dirs(data_dirs)
    model, regressor = _load_models(model_run, regressor_run, device)
    if train_dirs is None:
        try:
            train_dirs = TrainConfig.from_run(model_run).data
        except ValueError as exc:
            raise ValueError(f"{model_run} is not a training run, so its training data is unknown; pass --train DIR "
                             "(space-A training datasets) for the majority and classifier baselines") from exc
    test_cuts = [ocp.cut_dataset(d, lead, min_prefix, seed) for d in tests]
    families = {cuts[0].family for cuts in test_cuts}
    train = {}
    for d in train_dirs:
        if _family_of(d) in families:
            cuts = ocp.cut_dataset(d, lead, min_prefix, seed)
            train[cuts[0].family] = cuts
    if families - set(train):
        raise ValueError(f"no training dataset for {sorted(families - set(train))} among {list(train_dirs)}; "
                         "pass --train DIR for each tested family")
    kwargs = dict(num_samples=num_samples, num_steps=num_steps, seed=seed, properties=properties,
                  batch_size=batch_size)
    maps, checked = (_fit_calibration(model, calibration_dirs, [*test_cuts, *train.values()], lead, min_prefix,
                                      kwargs) if calibration_dirs else (None, None))
    sim = ocp.SimulatorCeiling() if simulator else None
    records: dict[str, dict[str, dict]] = {}  # method -> Family/space -> probs, errors, labels
    label_rates: dict[str, dict] = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # sklearn's and h5py's chatter on every call
            for cuts in (progress(test_cuts) if progress else test_cuts):
                key = f"{cuts[0].family}/{cuts[0].space}"
                label_rates[key] = ocp.label_table(cuts)
                views = [ocp._episode_view(c) for c in ocp._kept(cuts)]
                preds = ocp.predict_family(train[cuts[0].family], cuts, seed, sim, views)
                labels = preds.pop("labels")
                preds["model"] = episode_predictions(model, cuts, views=views, **kwargs)
                if maps is not None:
                    preds["calibrated"] = {**preds["model"],
                                           "probs": apply_maps(maps, cuts[0].family, preds["model"]["probs"])}
                if regressor is not None:
                    preds["regressor"] = episode_predictions(regressor, cuts, views=views, **kwargs)
                preds["readout_on_truth"] = {"probs": truth_readout(cuts, views), "errors": None}
                for name, pred in preds.items():
                    records.setdefault(name, {})[key] = {**pred, "labels": labels}
    finally:
        if sim is not None:
            sim.close()

    baselines = [b for b in ("calibrated", "regressor", *ocp.BASELINES, "readout_on_truth") if b in records]
    calibration = {} if maps is None else {"calibration": {"maps": {k: m.to_json() for k, m in maps.items()},
                                                           "cross_validation": checked}}
    return {**method_scores(records["model"], label_rates), **calibration,
            "baselines": {name: method_scores(records[name], label_rates) for name in baselines},
            "label_rates": label_rates,
            "config": {"benchmark": "predict-ocp-v0", "model": str(model_run),
                       "regressor": None if regressor_run is None else str(regressor_run),
                       "data": [str(d) for d in tests], "train": [str(d) for d in train_dirs],
                       "calibration_data": [str(d) for d in calibration_dirs],
                       "num_samples": num_samples, "num_steps": num_steps, "seed": seed, "properties": properties,
                       "lead": lead, "min_prefix": min_prefix, "contact_margin_m": ocp.CONTACT_MARGIN,
                       "simulator": simulator}}


def _fit_calibration(model: ObjectDiffusionModel, dirs: Sequence[str | Path],
                     other_cuts: Sequence[Sequence[ocp.EpisodeCut]], lead, min_prefix: int,
                     kwargs: dict) -> tuple[dict, dict]:
    """Platt maps of the model's p(contact) per family from validation datasets ``dirs``, and
    their cross-validated check on those same episodes."""
    taken = {(c.family, c.env_seed) for cuts in other_cuts for c in cuts}
    records: dict[str, dict[str, list]] = {}
    for d in dirs:
        if read_meta(d).config.split == "test":
            raise ValueError(f"--calibrate {d} is a test split; calibrate on validation seeds "
                             "(foretell generate ... --split train --seed K, K unlike the training data's)")
        cuts = ocp.cut_dataset(d, lead, min_prefix, kwargs["seed"])
        shared = sum((c.family, c.env_seed) in taken for c in cuts)
        if shared:
            raise ValueError(f"--calibrate {d} shares {shared} episode seeds with the training or test data; "
                             "generate validation episodes with another --seed")
        pred = episode_predictions(model, cuts, **kwargs)
        r = records.setdefault(cuts[0].family, {"probs": [], "labels": []})
        r["probs"] += pred["probs"]
        r["labels"] += [c.label for c in ocp._kept(cuts)]
    return fit_family_maps(records, kwargs["num_samples"]), cross_validate(records, kwargs["num_samples"],
                                                                           seed=kwargs["seed"])


def markdown(result: dict) -> str:
    """An ``evaluate_predict`` result as the docs/results.md table: one row per method and
    Family/space, then per space pooled."""
    def num(v):
        return "n/a" if v is None else f"{v:.3f}"

    methods = {"model": result, **result["baselines"]}
    lines = ["| data | method | n | accuracy | AUROC | ECE | Brier | final-pos. error (m) |",
             "|---|---|---|---|---|---|---|---|"]
    keys = [*result["per_env"], *(f"{s} (pooled)" for s in result["per_space"])]
    for key in keys:
        for name, m in methods.items():
            row = m["per_env"][key] if key in m["per_env"] else m["per_space"][key.split()[0]]
            lines.append(f"| {key} | {name} | {row['n']} | {num(row['accuracy'])} | {num(row['auroc'])} | "
                         f"{num(row['ece'])} | {num(row['brier'])} | {num(row['position_error'])} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- the comparison video
def _episode_cut(data_dir: str | Path, episode: int, lead: int, min_prefix: int, seed: int) -> ocp.EpisodeCut:
    from foretell.data.schema import episode_name

    cuts = ocp.cut_dataset(data_dir, lead, min_prefix, seed)
    by_name = {Path(c.path).name: c for c in cuts}
    name = episode_name(episode) if episode >= 0 else None
    if name not in by_name:
        raise ValueError(f"--episode {episode} is not in {data_dir}; it holds episodes {sorted(by_name)[0]} .. "
                         f"{sorted(by_name)[-1]} (indices from 0)")
    cut = by_name[name]
    if cut.excluded:
        raise ValueError(f"episode {episode} of {data_dir} is excluded from predict-ocp-v0 ({cut.excluded}: the "
                         f"contact comes in frame {cut.contact_frame}, before {min_prefix} frames could be shown); "
                         "pick another --episode")
    return cut


def _label(frame: np.ndarray, lines: Sequence[str], colour: tuple[int, int, int]) -> np.ndarray:
    import cv2

    frame = frame.copy()
    scale = frame.shape[1] / 400
    for k, line in enumerate(lines):
        cv2.putText(frame, line, (4, int((k + 1) * 30 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1,
                    cv2.LINE_AA)
    return frame


def compare_video(model_run: str | Path, data_dir: str | Path, episode: int, out: str | Path, num_samples: int = 4,
                  seed: int = 0, size: int = 160, num_steps: int = 4, properties: str = "visible",
                  lead: int = ocp.LEAD, min_prefix: int = ocp.MIN_PREFIX, camera: str = "front") -> dict:
    """Render episode ``episode`` of ``data_dir`` beside ``num_samples`` futures the model samples
    from its predict-ocp-v0 prefix: a grid video ``(truth | sample 1 | ...)``, written atomically.

    The scene is rebuilt from the episode's stored objects (``json/objects``) and every panel's
    frame is the stored (truth) or predicted pose of every object set into MuJoCo and rendered;
    until the cut all panels show the observed truth. A broken glass is drawn whole at the mean
    of its pieces (what ``obs/state`` stores). Returns a summary: cut, label, each sample's
    contact and ``p_contact``.
    """
    import mujoco

    from foretell.envs.sim.passive import PARK
    from foretell.envs.sim.render import SceneRenderer, write_video
    from foretell.envs.sim.scene import build_scene

    from .regressor import load_model

    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got num_samples={num_samples}")
    model = load_model(model_run)
    check_passive_model(model, str(model_run))
    cut = _episode_cut(data_dir, episode, lead, min_prefix, seed)
    view = ocp._episode_view(cut)
    _check_fps(model, [view])
    inputs = prefix_inputs(model, [view], [cut.cut], properties)
    length = view["state"].shape[0] - 1 - cut.cut
    future = rollout(model, inputs["history"], inputs["properties"], inputs["mask"], length, num_samples,
                     torch.Generator().manual_seed(seed), num_steps)[0].numpy()  # (S', L, N, 13)
    future = np.broadcast_to(future, (num_samples, *future.shape[1:]))  # a regressor's one rollout, S times
    specs, a, p = view["specs"], view["agent"], view["patient"]
    n = len(specs)
    touched = ocp.shapes_touch(specs[a], specs[p], future[:, :, a], future[:, :, p]).any(axis=1)  # (S,)
    truth = view["state"][:, :n]  # (T, N, 13)
    scene = build_scene(specs, image_size=size)
    data = mujoco.MjData(scene.model)
    data.mocap_pos[scene.gripper_mocap] = PARK
    renderer = SceneRenderer(scene.model, size, scene.geom_to_object)

    def draw(state: np.ndarray) -> np.ndarray:  # (N, 13) -> (size, size, 3)
        qpos = data.qpos.reshape(n, 7)
        qpos[:, :3], qpos[:, 3:] = state[:, :3], state[:, 3:7]
        mujoco.mj_kinematics(scene.model, data)
        mujoco.mj_camlight(scene.model, data)  # cameras and lights follow the poses (mj_kinematics leaves them)
        return renderer.rgb(data, camera)

    frames = []
    try:
        for t in range(len(truth)):
            observed = t <= cut.cut
            panels = [_label(draw(truth[t]), ["truth", f"contact: {'yes' if cut.label else 'no'}",
                                              "observed" if observed else f"t={t}"], (255, 255, 255))]
            for k in range(num_samples):
                state = truth[t] if observed else future[k, t - cut.cut - 1, :n]
                panels.append(_label(draw(state), [f"sample {k + 1}", f"contact: {'yes' if touched[k] else 'no'}",
                                                   "observed" if observed else "predicted"],
                                     (255, 255, 255) if observed else (255, 220, 120)))
            frames.append(np.concatenate(panels, axis=1))
    finally:
        renderer.close()
    path = write_video(np.stack(frames), out, fps=int(round(model.config.fps)))
    return {"out": str(path), "episode": episode, "env_id": cut.env_id, "space": cut.space, "cut": cut.cut,
            "label": cut.label, "contact_frame": cut.contact_frame, "samples": num_samples,
            "sample_contacts": [bool(x) for x in touched], "p_contact": float(touched.mean()),
            "frames": len(frames), "size": [int(frames[0].shape[0]), int(frames[0].shape[1])]}
