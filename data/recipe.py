"""YAML recipes: one file that mixes several scenarios and tasks into one dataset.

Example (``docs/data.md`` has more)::

    name: mixed-physics
    split: train          # train | test
    space: A              # A | B
    seed: 0
    image_size: 64
    obs_keys: [rgb, depth, segmentation, state, properties, object_mask]
    tasks:
      - env: foretell/Collide-v0
        episodes: 300
        total_effect: true
      - env: foretell/BlockStackLowLevel-v0
        episodes: 50
        policy: noisy_expert
        noise: 0.1
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .schema import DatasetConfig, TaskSpec

_TOP_KEYS = {"name", "split", "space", "seed", "image_size", "camera", "obs_keys", "tasks"}
_TASK_KEYS = {"env", "episodes", "policy", "noise", "max_steps", "qa", "total_effect"}


class RecipeError(ValueError):
    """A recipe file that cannot be turned into a ``DatasetConfig``; the message says where."""


def _task(raw: Any, where: str) -> TaskSpec:
    if not isinstance(raw, dict):
        raise RecipeError(f"{where}: a task must be a mapping with at least 'env' and 'episodes', got {raw!r}")
    unknown = sorted(set(raw) - _TASK_KEYS)
    if unknown:
        raise RecipeError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(_TASK_KEYS)}")
    for required in ("env", "episodes"):
        if required not in raw:
            raise RecipeError(f"{where}: missing required key {required!r}")
    fields = {k: v for k, v in raw.items() if k != "env"}
    try:
        spec = TaskSpec(env_id=raw["env"], **fields)
        spec.check_env()  # a recipe is written to be generated: check it against the env registry now
        return spec
    except (TypeError, ValueError) as exc:
        raise RecipeError(f"{where}: {exc}") from exc


def recipe_config(raw: Any, source: str = "recipe", overrides: dict[str, Any] | None = None) -> DatasetConfig:
    """Validate a parsed recipe (a mapping) into a ``DatasetConfig``; ``overrides`` win over the file."""
    if not isinstance(raw, dict):
        raise RecipeError(f"{source}: the recipe must be a mapping with a 'tasks' list, got {type(raw).__name__}")
    raw = {**raw, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise RecipeError(f"{source}: unknown key(s) {unknown}; valid keys: {sorted(_TOP_KEYS)}")
    tasks = raw.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise RecipeError(f"{source}: 'tasks' must be a non-empty list of tasks")
    specs = tuple(_task(t, f"{source}: tasks[{k}]") for k, t in enumerate(tasks))
    rest = {k: v for k, v in raw.items() if k != "tasks"}
    if "obs_keys" in rest:
        if not isinstance(rest["obs_keys"], list):
            raise RecipeError(f"{source}: 'obs_keys' must be a list, got {rest['obs_keys']!r}")
        rest["obs_keys"] = tuple(rest["obs_keys"])
    try:
        return DatasetConfig(tasks=specs, **rest)
    except (TypeError, ValueError) as exc:
        raise RecipeError(f"{source}: {exc}") from exc


def load_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> DatasetConfig:
    """Read a YAML recipe file into a ``DatasetConfig`` (clear ``RecipeError`` on any mistake)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise RecipeError(f"recipe {path} not found") from exc
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path}: not valid YAML: {exc}") from exc
    return recipe_config(raw, str(path), overrides)


def command_config(env_id: str | None, recipe: str | Path | None, resume_from: Path | None = None,
                   **options: Any) -> DatasetConfig:
    """The ``DatasetConfig`` of a ``foretell generate`` command line.

    Exactly one of ``env_id`` and ``recipe`` names what to generate; with neither, and
    ``resume_from`` holding a dataset, its stored config is resumed. ``options`` (``episodes``,
    ``split``, ``space``, ``seed``, ``image_size``, ``obs_keys``, ``camera``, ``policy``, ``noise``,
    ``max_steps``, ``qa``, ``total_effect``) left as None take the recipe's or the defaults.
    """
    from .schema import read_meta

    top = {k: options.get(k) for k in ("split", "space", "seed", "image_size", "camera", "obs_keys")}
    if top["obs_keys"] is not None:
        top["obs_keys"] = list(top["obs_keys"])
    task_opts = {k: options.get(k) for k in ("policy", "noise", "max_steps", "qa", "total_effect")}
    if env_id and recipe:
        raise RecipeError("give either an ENV_ID or --recipe, not both")
    if recipe:
        if options.get("episodes") is not None or any(v not in (None, False) for v in task_opts.values()):
            raise RecipeError("with --recipe, set episodes, policy, noise, max_steps, qa and total_effect per "
                              "task in the recipe file")
        return load_recipe(recipe, overrides=top)
    if env_id:
        task = {"env": env_id, "episodes": options.get("episodes") or 100,
                **{k: v for k, v in task_opts.items() if v is not None}}
        return recipe_config({"tasks": [task], "name": env_id.split("/")[-1]}, "command line", top)
    if resume_from is not None and (resume_from / "meta.json").exists():
        return read_meta(resume_from).config
    raise RecipeError("name an ENV_ID or a --recipe (or --resume an existing --out dataset)")
