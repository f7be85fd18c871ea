"""The LLM's side of ``llm+cem`` on puzzles-v0: the puzzle in words, the action schema, parsing.

The LLM proposes K actions for one puzzle as JSON in physical units (angles in degrees, lengths
in metres, speeds in m/s: the units ``envs.puzzles`` documents), decoded under a JSON schema
built from the family's action names and ranges (``action_schema``), so with a constraining
backend every sample parses. ``parse_action`` still checks every completion (another backend,
a replayed file): it returns the normalised action or a reason, and never executes model text.
The prompt is few-shot: the family's train-template tasks with their stored, verified solutions
(``envs.puzzles.tasks``), then the puzzle to solve.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from foretell.envs.puzzles.core import PuzzleFamily, PuzzleTask

ANGLES = ("yaw", "elevation", "bearing")  # action names in radians; the LLM reads and writes degrees
UNITS = {"yaw": "degrees from the layout heading", "elevation": "degrees above the table",
         "bearing": "degrees around the structure, from the +x axis", "speed": "m/s", "height": "m above the table",
         "x": "m", "y": "m", "clearance": "m above whatever is below"}
EXAMPLES = 2  # few-shot puzzles of the same family in every prompt
HEADER = "Physics puzzles on a table (x forward, y left, z up, metres). Each answer is one action as JSON.\n\n"


def _key(name: str) -> str:
    return f"{name}_deg" if name in ANGLES else name


def _physical_ranges(family: PuzzleFamily) -> dict[str, tuple[float, float]]:
    """The JSON key of each action dimension and its range in the LLM's units."""
    out = {}
    for name, low, high in zip(family.action_names, family.action_low, family.action_high, strict=True):
        scale = 180.0 / math.pi if name in ANGLES else 1.0
        out[_key(name)] = (round(low * scale, 4), round(high * scale, 4))
    return out


def action_schema(family: PuzzleFamily) -> dict:
    """JSON schema of one action of ``family``: every dimension a number within its range."""
    props = {key: {"type": "number", "minimum": low, "maximum": high}
             for key, (low, high) in _physical_ranges(family).items()}
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


@dataclass
class ActionCheck:
    """A parsed completion: ``action`` (normalised, ``(A,)``) when valid, else None and ``reason``."""

    action: np.ndarray | None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.action is not None


def parse_action(text: str, family: PuzzleFamily) -> ActionCheck:
    """Parse one LLM completion into a normalised action of ``family``, or reject it with a reason."""
    if not isinstance(text, str):
        return ActionCheck(None, f"expected text, got {type(text).__name__}")
    start = text.find("{")
    if start < 0:
        return ActionCheck(None, f"no JSON object in {text[:60]!r}")
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError as error:
        return ActionCheck(None, f"not valid JSON ({error.msg} at character {error.pos})")
    if not isinstance(value, dict):
        return ActionCheck(None, f"expected a JSON object, got {type(value).__name__}")
    ranges = _physical_ranges(family)
    missing, unknown = [k for k in ranges if k not in value], sorted(set(value) - set(ranges))
    if missing or unknown:
        return ActionCheck(None, f"keys must be {list(ranges)}; missing {missing}, unknown {unknown}")
    physical = []
    for name, (key, (low, high)) in zip(family.action_names, ranges.items(), strict=True):
        x = value[key]
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            return ActionCheck(None, f"{key} must be a finite number, got {x!r}")
        if not low <= x <= high:
            return ActionCheck(None, f"{key}={x} is outside [{low}, {high}]")
        physical.append(math.radians(x) if name in ANGLES else float(x))
    low, high = np.asarray(family.action_low), np.asarray(family.action_high)
    action = np.clip(2.0 * (np.asarray(physical) - low) / (high - low) - 1.0, -1.0, 1.0)
    return ActionCheck(action)


def action_json(family: PuzzleFamily, action: np.ndarray) -> str:
    """A normalised action as the JSON the LLM writes (physical units, rounded)."""
    physical = family.physical(action)
    out = {}
    for name, x in zip(family.action_names, physical, strict=True):
        out[_key(name)] = round(math.degrees(x), 1) if name in ANGLES else round(float(x), 3)
    return json.dumps(out)


def describe_puzzle(family: PuzzleFamily, task: PuzzleTask) -> str:
    """The puzzle in words: instruction, objects and where they are, the goal, the action's terms."""
    lines = [f"Puzzle: {task.instruction}"]
    objects = "; ".join(f"{o.name} ({o.shape}{', fixed' if o.frozen else ''}) at "
                        f"({o.pos[0]:.3f}, {o.pos[1]:.3f}, {o.pos[2]:.3f})" for o in task.objects)
    lines.append(f"Objects: {objects}.")
    goal = task.goal
    if goal.zone is not None:
        lines.append(f"Green zone: centre ({goal.zone.pos[0]:.3f}, {goal.zone.pos[1]:.3f}), "
                     f"half-size {goal.zone.half_size[0]:.3f}.")
    if "heading" in task.extra:
        heading = task.extra["heading"]
        lines.append(f"Layout heading: {math.degrees(math.atan2(heading[1], heading[0])):.0f} degrees.")
    if "pivot" in task.extra:
        lines.append(f"Structure centre: ({task.extra['pivot'][0]:.3f}, {task.extra['pivot'][1]:.3f}); "
                     "the ball starts at the bearing and flies towards the centre.")
    ranges = _physical_ranges(family)
    terms = ", ".join(f"{key} in [{low:g}, {high:g}] {UNITS[name]}"
                      for name, (key, (low, high)) in zip(family.action_names, ranges.items(), strict=True))
    lines.append(f"Action: {terms}.")
    return "\n".join(lines)


def few_shot(family: PuzzleFamily, exclude: str | None = None, count: int = EXAMPLES) -> list[tuple[PuzzleTask, str]]:
    """Up to ``count`` train-template tasks of ``family`` with their stored solutions as answers
    (one per template, then the next task of each), never the task ``exclude``."""
    from foretell.envs.puzzles.tasks import TASKS

    train = [t for t in family.templates if t.split == "train"]
    out = []
    for k in range(max(len(TASKS[t.name]) for t in train)):
        for template in train:
            entries = TASKS[template.name]
            if k < len(entries) and len(out) < count:
                task = family.make_task(template.name, entries[k]["seed"])
                if task.task_id != exclude:
                    out.append((task, action_json(family, np.asarray(entries[k]["solution"]))))
    return out


def puzzle_prompt(family: PuzzleFamily, task: PuzzleTask) -> str:
    """The few-shot completion prompt; the model continues after the last ``Answer:``."""
    shots = "".join(f"{describe_puzzle(family, t)}\nAnswer: {answer}\n\n" for t, answer in few_shot(family, task.task_id))
    return f"{HEADER}{shots}{describe_puzzle(family, task)}\nAnswer:"


@dataclass
class LLMProposer:
    """K actions per puzzle from an LLM backend (``propose`` of ``WorldModelPuzzleAgent``)."""

    llm: object
    config: object

    def __call__(self, family: PuzzleFamily, task: PuzzleTask, seed: int) -> tuple[np.ndarray, dict]:
        cfg = self.config
        texts = self.llm.complete(puzzle_prompt(family, task), n=cfg.llm_candidates, temperature=cfg.llm_temperature,
                                  max_tokens=cfg.llm_max_tokens, stop=["\n"], json_schema=action_schema(family),
                                  seed=seed)
        checks = [parse_action(t, family) for t in texts]
        valid = [c.action for c in checks if c.ok]
        actions = np.stack(valid) if valid else np.zeros((0, family.action_dim))
        return actions, {"llm_valid": len(valid), "llm_rejections": [c.reason for c in checks if not c.ok],
                         "llm_actions": [action_json(family, a) for a in actions]}
